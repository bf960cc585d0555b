package ormtest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aiodb/aiodb"
	"github.com/aiodb/aiodb/ormtest/liteq"
	"github.com/aiodb/aiodb/ormtest/myq"
	"github.com/aiodb/aiodb/ormtest/pgq"
)

// authorStore is what the block test needs from each sqlc package; the
// adapters below bind it to pgq, myq and liteq made for one executor.
type authorStore struct {
	create func(ctx context.Context, id int64, name string) error
	get    func(ctx context.Context, id int64) (string, error)
	ids    func(ctx context.Context) ([]int64, error)
	del    func(ctx context.Context, id int64) error
}

// generated lists the sqlc packages, each bound to an executor.
var generated = []struct {
	name  string
	store func(e aiodb.Executor) authorStore
}{
	{"pgq", func(e aiodb.Executor) authorStore {
		q := pgq.New(e)
		return authorStore{
			create: func(ctx context.Context, id int64, name string) error {
				_, err := q.CreateAuthor(ctx, pgq.CreateAuthorParams{ID: id, Name: name}) // INSERT ... RETURNING
				return err
			},
			get: func(ctx context.Context, id int64) (string, error) {
				a, err := q.GetAuthor(ctx, id)
				return a.Name, err
			},
			ids: func(ctx context.Context) ([]int64, error) {
				list, err := q.ListAuthors(ctx)
				var ids []int64
				for _, a := range list {
					ids = append(ids, a.ID)
				}
				return ids, err
			},
			del: q.DeleteAuthor,
		}
	}},
	{"myq", func(e aiodb.Executor) authorStore {
		q := myq.New(e)
		return authorStore{
			create: func(ctx context.Context, id int64, name string) error {
				_, err := q.CreateAuthor(ctx, myq.CreateAuthorParams{ID: id, Name: name})
				return err
			},
			get: func(ctx context.Context, id int64) (string, error) {
				a, err := q.GetAuthor(ctx, id)
				return a.Name, err
			},
			ids: func(ctx context.Context) ([]int64, error) {
				list, err := q.ListAuthorsByIDs(ctx, []int64{1, 2, 3, 4}) // sqlc.slice
				var ids []int64
				for _, a := range list {
					ids = append(ids, a.ID)
				}
				return ids, err
			},
			del: q.DeleteAuthor,
		}
	}},
	{"liteq", func(e aiodb.Executor) authorStore {
		q := liteq.New(e)
		return authorStore{
			create: func(ctx context.Context, id int64, name string) error {
				_, err := q.CreateAuthor(ctx, liteq.CreateAuthorParams{ID: id, Name: name}) // INSERT ... RETURNING
				return err
			},
			get: func(ctx context.Context, id int64) (string, error) {
				a, err := q.GetAuthor(ctx, id)
				return a.Name, err
			},
			ids: func(ctx context.Context) ([]int64, error) {
				list, err := q.ListAuthorsByIDs(ctx, []int64{1, 2, 3, 4}) // sqlc.slice
				var ids []int64
				for _, a := range list {
					ids = append(ids, a.ID)
				}
				return ids, err
			},
			del: q.DeleteAuthor,
		}
	}},
}

// TestSqlcGeneratedInBlocks runs the code sqlc generated for each engine
// on every backend through aiodb.Querier inside Transaction blocks (a
// nested one being a savepoint) and a Replica block (reads pass, writes
// are refused with ErrReadOnly before they are sent).
func TestSqlcGeneratedInBlocks(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		adb := openHelpers(t, tg)
		mustExec(t, adb.DB(), ctx, authorsSchema)
		for _, g := range generated {
			t.Run(g.name, func(t *testing.T) {
				store := func(ctx context.Context) authorStore { return g.store(aiodb.Querier(ctx, adb)) }
				err := adb.Transaction(ctx, func(ctx context.Context) error {
					for _, id := range []int64{1, 2} {
						if err := store(ctx).create(ctx, id, g.name); err != nil {
							return err
						}
					}
					// A nested block is a savepoint: its rollback undoes only its row.
					err := adb.Transaction(ctx, func(ctx context.Context) error {
						if err := store(ctx).create(ctx, 3, "rolled back"); err != nil {
							return err
						}
						if ids, err := store(ctx).ids(ctx); err != nil || !reflect.DeepEqual(ids, []int64{1, 2, 3}) {
							t.Errorf("inside the nested block: %v, %v", ids, err)
						}
						return aiodb.ErrRollback
					})
					if err != nil {
						return err
					}
					ids, err := store(ctx).ids(ctx)
					if err == nil && !reflect.DeepEqual(ids, []int64{1, 2}) {
						t.Errorf("after the nested rollback: %v", ids)
					}
					return err
				})
				if err != nil {
					t.Fatalf("Transaction: %v", err)
				}
				err = adb.Replica(ctx, func(ctx context.Context) error {
					s := store(ctx)
					if ids, err := s.ids(ctx); err != nil || !reflect.DeepEqual(ids, []int64{1, 2}) {
						t.Errorf("read in the Replica block: %v, %v", ids, err)
					}
					if name, err := s.get(ctx, 2); err != nil || name != g.name {
						t.Errorf("GetAuthor in the Replica block: %q, %v", name, err)
					}
					if err := s.create(ctx, 4, "refused"); !errors.Is(err, aiodb.ErrReadOnly) {
						t.Errorf("CreateAuthor in the Replica block: %v, want ErrReadOnly", err)
					}
					if err := s.del(ctx, 1); !errors.Is(err, aiodb.ErrReadOnly) {
						t.Errorf("DeleteAuthor in the Replica block: %v, want ErrReadOnly", err)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("Replica: %v", err)
				}
				for _, id := range []int64{1, 2} {
					if err := store(ctx).del(ctx, id); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	})
}
