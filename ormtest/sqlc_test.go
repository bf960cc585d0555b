package ormtest

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"

	"github.com/aiodb/aiodb"
	"github.com/aiodb/aiodb/ormtest/myq"
	"github.com/aiodb/aiodb/ormtest/pgq"
)

func ns(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

// pgScenario runs every pgq query once and leaves the table empty.
func pgScenario(t *testing.T, ctx context.Context, q *pgq.Queries) {
	t.Helper()
	a, err := q.CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 1, Name: "Brian Kernighan", Bio: ns(tricky)})
	if err != nil {
		t.Fatalf("CreateAuthor (INSERT … RETURNING): %v", err)
	}
	if want := (pgq.Author{ID: 1, Name: "Brian Kernighan", Bio: ns(tricky)}); a != want {
		t.Fatalf("CreateAuthor returned %+v, want %+v", a, want)
	}
	if _, err := q.CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 2, Name: tricky}); err != nil {
		t.Fatalf("CreateAuthor: %v", err)
	}
	got, err := q.GetAuthor(ctx, 2)
	if err != nil || got != (pgq.Author{ID: 2, Name: tricky}) {
		t.Fatalf("GetAuthor(2) = %+v, %v", got, err)
	}
	list, err := q.ListAuthors(ctx)
	if err != nil {
		t.Fatalf("ListAuthors: %v", err)
	}
	if want := []pgq.Author{{ID: 1, Name: "Brian Kernighan", Bio: ns(tricky)}, {ID: 2, Name: tricky}}; !reflect.DeepEqual(list, want) {
		t.Fatalf("ListAuthors = %+v, want %+v", list, want)
	}
	// $1 used twice: aiodb repeats the argument for ? backends.
	if n, err := q.CountAuthorsNamedOrBio(ctx, tricky); err != nil || n != 2 {
		t.Fatalf("CountAuthorsNamedOrBio = %d, %v; want 2", n, err)
	}
	// SET bio = $2 WHERE id = $1: arguments out of order.
	if n, err := q.UpdateAuthorBio(ctx, pgq.UpdateAuthorBioParams{ID: 2, Bio: ns("C, Unix")}); err != nil || n != 1 {
		t.Fatalf("UpdateAuthorBio = %d, %v; want 1", n, err)
	}
	if got, err := q.GetAuthor(ctx, 2); err != nil || got.Bio != ns("C, Unix") {
		t.Fatalf("after UpdateAuthorBio: %+v, %v", got, err)
	}
	for _, id := range []int64{1, 2} {
		if err := q.DeleteAuthor(ctx, id); err != nil {
			t.Fatalf("DeleteAuthor(%d): %v", id, err)
		}
	}
	if list, err := q.ListAuthors(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListAuthors after delete = %+v, %v", list, err)
	}
}

// myScenario runs every myq query once and leaves the table empty.
func myScenario(t *testing.T, ctx context.Context, q *myq.Queries) {
	t.Helper()
	for i, name := range []string{"Ken Thompson", tricky, "Dennis Ritchie"} {
		res, err := q.CreateAuthor(ctx, myq.CreateAuthorParams{ID: int64(i + 1), Name: name, Bio: ns(tricky)})
		if err != nil {
			t.Fatalf("CreateAuthor: %v", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("CreateAuthor RowsAffected = %d, %v", n, err)
		}
	}
	if got, err := q.GetAuthor(ctx, 2); err != nil || got != (myq.Author{ID: 2, Name: tricky, Bio: ns(tricky)}) {
		t.Fatalf("GetAuthor(2) = %+v, %v", got, err)
	}
	list, err := q.ListAuthorsByIDs(ctx, []int64{3, 1})
	if err != nil {
		t.Fatalf("ListAuthorsByIDs (sqlc.slice): %v", err)
	}
	if len(list) != 2 || list[0].Name != "Ken Thompson" || list[1].Name != "Dennis Ritchie" {
		t.Fatalf("ListAuthorsByIDs = %+v", list)
	}
	if list, err := q.ListAuthorsByIDs(ctx, nil); err != nil || len(list) != 0 {
		t.Fatalf("ListAuthorsByIDs(nil) = %+v, %v", list, err)
	}
	if n, err := q.UpdateAuthorBio(ctx, myq.UpdateAuthorBioParams{Bio: sql.NullString{}, ID: 3}); err != nil || n != 1 {
		t.Fatalf("UpdateAuthorBio = %d, %v", n, err)
	}
	if got, err := q.GetAuthor(ctx, 3); err != nil || got.Bio.Valid {
		t.Fatalf("after UpdateAuthorBio: %+v, %v", got, err)
	}
	for id := int64(1); id <= 3; id++ {
		if err := q.DeleteAuthor(ctx, id); err != nil {
			t.Fatalf("DeleteAuthor(%d): %v", id, err)
		}
	}
	if _, err := q.GetAuthor(ctx, 1); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("GetAuthor after delete: %v, want sql.ErrNoRows", err)
	}
}

// TestSqlcPostgresStyle runs sqlc's postgresql-engine code ($1, $2; reused
// and out-of-order parameters; INSERT … RETURNING) on *sql.DB, *sql.Tx,
// *sql.Conn and nested transactions of a *sql.Conn, on every backend.
func TestSqlcPostgresStyle(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		db := tg.db
		mustExec(t, db, ctx, pgq.Schema)

		t.Run("DB", func(t *testing.T) { pgScenario(t, ctx, pgq.New(db)) })

		t.Run("Tx", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			pgScenario(t, ctx, pgq.New(db).WithTx(tx))
			if _, err := pgq.New(db).WithTx(tx).CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 10, Name: "kept"}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if a, err := pgq.New(db).GetAuthor(ctx, 10); err != nil || a.Name != "kept" {
				t.Fatalf("after Commit: %+v, %v", a, err)
			}
			if err := pgq.New(db).DeleteAuthor(ctx, 10); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("TxRollback", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pgq.New(db).WithTx(tx).CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 11, Name: "gone"}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if _, err := pgq.New(db).GetAuthor(ctx, 11); !errors.Is(err, sql.ErrNoRows) {
				t.Fatalf("after Rollback: %v, want sql.ErrNoRows", err)
			}
		})

		t.Run("Conn", func(t *testing.T) {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			pgScenario(t, ctx, pgq.New(conn))
		})

		t.Run("ConnNestedTx", func(t *testing.T) { nestedConnTx(t, ctx, db) })

		t.Run("ReadOnlyContext", func(t *testing.T) {
			q := pgq.New(db)
			if _, err := q.CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 20, Name: "ro"}); err != nil {
				t.Fatal(err)
			}
			rctx := aiodb.WithReplica(ctx)
			if a, err := q.GetAuthor(rctx, 20); err != nil || a.Name != "ro" {
				t.Fatalf("GetAuthor in a WithReplica context: %+v, %v", a, err)
			}
			err := q.DeleteAuthor(rctx, 20)
			if !errors.Is(err, aiodb.ErrReadOnly) {
				t.Fatalf("DeleteAuthor in a WithReplica context: %v, want aiodb.ErrReadOnly", err)
			}
			// INSERT … RETURNING goes through QueryRowContext: still a write.
			_, err = q.CreateAuthor(rctx, pgq.CreateAuthorParams{ID: 21, Name: "no"})
			if !errors.Is(err, aiodb.ErrReadOnly) {
				t.Fatalf("CreateAuthor (INSERT … RETURNING via QueryRow) in a WithReplica context: %v, want aiodb.ErrReadOnly", err)
			}
			if err := q.DeleteAuthor(ctx, 20); err != nil {
				t.Fatal(err)
			}
		})

		if tg.kind == postgresKind {
			t.Run("RawDriver", func(t *testing.T) { pgScenario(t, ctx, pgq.New(tg.raw(t))) })
		}
	})
}

// nestedConnTx: database/sql hands a second (*sql.Conn).BeginTx on a
// connection with an open transaction to the driver; aiodb makes it a
// SAVEPOINT. Generated code runs unchanged on every level.
func nestedConnTx(t *testing.T, ctx context.Context, db *sql.DB) {
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := pgq.New(conn)
	outer, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Rollback()
	if _, err := q.WithTx(outer).CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 31, Name: "outer"}); err != nil {
		t.Fatal(err)
	}

	inner, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("nested BeginTx on *sql.Conn: %v", err)
	}
	if _, err := q.WithTx(inner).CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 32, Name: "rolled back"}); err != nil {
		t.Fatal(err)
	}
	if err := inner.Rollback(); err != nil {
		t.Fatalf("inner Rollback: %v", err)
	}
	if _, err := q.WithTx(outer).GetAuthor(ctx, 32); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("row of the rolled-back savepoint: %v, want sql.ErrNoRows", err)
	}

	inner2, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.WithTx(inner2).CreateAuthor(ctx, pgq.CreateAuthorParams{ID: 33, Name: "released"}); err != nil {
		t.Fatal(err)
	}
	if err := inner2.Commit(); err != nil {
		t.Fatalf("inner Commit: %v", err)
	}
	if err := outer.Commit(); err != nil {
		t.Fatalf("outer Commit: %v", err)
	}
	list, err := pgq.New(db).ListAuthors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []pgq.Author{{ID: 31, Name: "outer"}, {ID: 33, Name: "released"}}; !reflect.DeepEqual(list, want) {
		t.Fatalf("after nested transactions: %+v, want %+v", list, want)
	}
	for _, id := range []int64{31, 33} {
		if err := pgq.New(db).DeleteAuthor(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSqlcMySQLStyle runs sqlc's mysql-engine code (?, prepared statements
// re-bound with tx.StmtContext, sqlc.slice) on every backend.
func TestSqlcMySQLStyle(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		db := tg.db
		mustExec(t, db, ctx, pgq.Schema)

		t.Run("DB", func(t *testing.T) { myScenario(t, ctx, myq.New(db)) })

		t.Run("PreparedDB", func(t *testing.T) {
			q, err := myq.Prepare(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			myScenario(t, ctx, q)
		})

		t.Run("PreparedWithTx", func(t *testing.T) {
			q, err := myq.Prepare(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			myScenario(t, ctx, q.WithTx(tx))
			if _, err := q.WithTx(tx).CreateAuthor(ctx, myq.CreateAuthorParams{ID: 7, Name: "rolled back"}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if _, err := q.GetAuthor(ctx, 7); !errors.Is(err, sql.ErrNoRows) {
				t.Fatalf("after Rollback: %v, want sql.ErrNoRows", err)
			}
		})

		t.Run("PreparedConn", func(t *testing.T) {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			q, err := myq.Prepare(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			myScenario(t, ctx, q)
		})

		if tg.kind != postgresKind {
			t.Run("RawDriver", func(t *testing.T) {
				q, err := myq.Prepare(ctx, tg.raw(t))
				if err != nil {
					t.Fatal(err)
				}
				defer q.Close()
				myScenario(t, ctx, q)
			})
		}
	})
}
