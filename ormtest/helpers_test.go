package ormtest

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/uptrace/bun"
	"gorm.io/gorm"

	"github.com/aiodb/aiodb"
	"github.com/aiodb/aiodb/ormtest/pgq"
)

func openHelpers(t *testing.T, tg *target) *aiodb.DB {
	t.Helper()
	adb, err := aiodb.Open(tg.dsn)
	if err != nil {
		t.Fatalf("aiodb.Open: %v", err)
	}
	t.Cleanup(func() { adb.Close() })
	return adb
}

func authorIDs(t *testing.T, ctx context.Context, q *pgq.Queries) []int64 {
	t.Helper()
	list, err := q.ListAuthors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	return ids
}

// TestQuerierSqlc: aiodb.Querier(ctx, db) given to sqlc's New inside
// db.Transaction blocks runs the generated code inside the current block,
// nested blocks being savepoints.
func TestQuerierSqlc(t *testing.T) {
	errInner := errors.New("inner fails")
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		adb := openHelpers(t, tg)
		mustExec(t, adb.DB(), ctx, authorsSchema)
		create := func(ctx context.Context, id int64) error {
			_, err := pgq.New(aiodb.Querier(ctx, adb)).CreateAuthor(ctx, pgq.CreateAuthorParams{ID: id, Name: "a" + string(rune('0'+id))})
			return err
		}

		if _, ok := aiodb.Querier(ctx, adb).(*sql.DB); !ok {
			t.Fatalf("Querier outside a block is %T, want *sql.DB", aiodb.Querier(ctx, adb))
		}
		var leaked aiodb.Executor
		err := adb.Transaction(ctx, func(ctx context.Context) error {
			ex := aiodb.Querier(ctx, adb)
			if _, ok := ex.(*sql.Tx); !ok {
				t.Errorf("Querier in a Transaction block is %T, want *sql.Tx", ex)
			}
			leaked = ex
			if err := create(ctx, 1); err != nil {
				return err
			}
			// The pool does not see the block's uncommitted row; the block does.
			if _, err := pgq.New(adb.DB()).GetAuthor(ctx, 1); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("uncommitted row seen outside the block: %v", err)
			}
			err := adb.Transaction(ctx, func(ctx context.Context) error {
				if err := create(ctx, 2); err != nil {
					return err
				}
				if got := authorIDs(t, ctx, pgq.New(aiodb.Querier(ctx, adb))); !reflect.DeepEqual(got, []int64{1, 2}) {
					t.Errorf("inside the nested block: %v", got)
				}
				return errInner
			})
			if !errors.Is(err, errInner) {
				t.Errorf("nested Transaction: %v, want errInner", err)
			}
			if err := adb.Transaction(ctx, func(ctx context.Context) error { return create(ctx, 3) }); err != nil {
				return err
			}
			if got := authorIDs(t, ctx, pgq.New(aiodb.Querier(ctx, adb))); !reflect.DeepEqual(got, []int64{1, 3}) {
				t.Errorf("after the nested blocks: %v, want [1 3]", got)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Transaction: %v", err)
		}
		if got := authorIDs(t, ctx, pgq.New(adb.DB())); !reflect.DeepEqual(got, []int64{1, 3}) {
			t.Fatalf("committed: %v, want [1 3]", got)
		}
		if _, err := pgq.New(leaked).GetAuthor(ctx, 1); err == nil {
			t.Fatal("the block's *sql.Tx still works after the block")
		}
		err = adb.Transaction(ctx, func(ctx context.Context) error {
			q := pgq.New(aiodb.Querier(ctx, adb))
			if err := q.DeleteAuthor(ctx, 1); err != nil {
				return err
			}
			return aiodb.ErrRollback
		})
		if err != nil {
			t.Fatalf("Transaction returning ErrRollback: %v", err)
		}
		if got := authorIDs(t, ctx, pgq.New(adb.DB())); !reflect.DeepEqual(got, []int64{1, 3}) {
			t.Fatalf("after ErrRollback: %v, want [1 3]", got)
		}
		var blockCtx context.Context
		adb.Transaction(ctx, func(ctx context.Context) error { blockCtx = ctx; return nil })
		if _, err := pgq.New(aiodb.Querier(blockCtx, adb)).GetAuthor(ctx, 1); !errors.Is(err, aiodb.ErrBlockDone) {
			t.Fatalf("Querier of an ended block: %v, want aiodb.ErrBlockDone", err)
		}
	})
}

// TestQuerierORMs: the block's executor serves sqlx, bun and GORM too, so
// code that nests aiodb Transaction blocks can run all three inside them,
// each nested block being an aiodb savepoint (no aiodb_raw_savepoints
// needed: the ORMs never write SAVEPOINT themselves here).
func TestQuerierORMs(t *testing.T) {
	errInner := errors.New("inner fails")
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		adb := openHelpers(t, tg)
		gdb, _ := openGorm(t, tg, adb.DB(), gormOpts{})
		if err := gdb.WithContext(ctx).AutoMigrate(&gormProduct{}); err != nil {
			t.Fatal(err)
		}
		bdb := bun.NewDB(adb.DB(), bunDialect(tg.kind))
		// gormIn binds GORM to the block of ctx, as gorm.DB.Begin binds it to
		// the *sql.Tx it starts.
		gormIn := func(ctx context.Context) *gorm.DB {
			s := gdb.Session(&gorm.Session{NewDB: true, Context: ctx})
			s.Statement.ConnPool = aiodb.Querier(ctx, adb)
			return s
		}

		err := adb.Transaction(ctx, func(ctx context.Context) error {
			if err := gormIn(ctx).Create(&gormProduct{Code: "gorm-outer"}).Error; err != nil {
				return err
			}
			if _, err := bdb.NewInsert().Conn(aiodb.Querier(ctx, adb)).Model(&map[string]any{"code": "bun-outer"}).TableExpr("gorm_products").Exec(ctx); err != nil {
				return err
			}
			err := adb.Transaction(ctx, func(ctx context.Context) error {
				if err := gormIn(ctx).Create(&gormProduct{Code: "gorm-inner"}).Error; err != nil {
					return err
				}
				return errInner
			})
			if !errors.Is(err, errInner) {
				return err
			}
			// sqlx on the block's transaction.
			stx := &sqlx.Tx{Tx: aiodb.Querier(ctx, adb).(*sql.Tx), Mapper: sqlx.NewDb(adb.DB(), aiodb.DriverName).Mapper}
			var codes []string
			if err := stx.SelectContext(ctx, &codes, "SELECT code FROM gorm_products ORDER BY code"); err != nil {
				return err
			}
			if want := []string{"bun-outer", "gorm-outer"}; !reflect.DeepEqual(codes, want) {
				t.Errorf("sqlx inside the block reads %q, want %q", codes, want)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Transaction: %v", err)
		}
		var codes []string
		if err := gdb.WithContext(ctx).Model(&gormProduct{}).Order("code").Pluck("code", &codes).Error; err != nil {
			t.Fatal(err)
		}
		if want := []string{"bun-outer", "gorm-outer"}; !reflect.DeepEqual(codes, want) {
			t.Fatalf("committed %q, want %q", codes, want)
		}
	})
}
