package aiodb

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// openDB opens b with Open and closes it when the test ends, after checking
// that the pool still answers and that no connection is left in use.
func openDB(t testing.TB, b server, opts ...Option) *DB {
	t.Helper()
	db, err := Open(b.dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := db.DB().Stats().InUse; n != 0 {
			t.Errorf("%d connections still in use after the test", n)
		}
		if v, err := FetchVal[int64](context.Background(), db, "SELECT 1"); err != nil || v != 1 {
			t.Errorf("pool unusable after the test: %v", err)
		}
		db.Close()
	})
	return db
}

// users creates a scratch table (name, n) filled with ann=1, bob=2, cid=3.
func users(t testing.TB, b server, db *DB) string {
	t.Helper()
	tbl := b.table(t, db.DB(), "name VARCHAR(20) NOT NULL, n INTEGER")
	err := db.ExecuteMany(context.Background(), "INSERT INTO "+tbl+" (name, n) VALUES ($1, $2)",
		[]any{"ann", 1}, []any{"bob", 2}, []any{"cid", 3})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// names returns column name of every record.
func names(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Get("name").(string))
	}
	return out
}

func TestFetchHelpers(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := users(t, b, db)

		recs, err := db.FetchAll(ctx, "SELECT (2 * $1) AS res", 2)
		if err != nil || len(recs) != 1 || !recs[0].Equal(4) || recs[0].Get("res") != int64(4) || recs[0].At(0) != int64(4) {
			t.Fatalf("FetchAll $1: %v %v", recs, err)
		}
		recs, err = db.FetchAll(ctx, "SELECT name, n FROM "+tbl+" WHERE n >= %s ORDER BY n", 2)
		if err != nil || !slices.Equal(names(recs), []string{"bob", "cid"}) || !recs[1].Equal("cid", 3) {
			t.Fatalf("FetchAll %%s: %v %v", recs, err)
		}
		recs, err = db.FetchMany(ctx, 2, "SELECT name FROM "+tbl+" ORDER BY n")
		if err != nil || !slices.Equal(names(recs), []string{"ann", "bob"}) {
			t.Fatalf("FetchMany: %v %v", recs, err)
		}
		if recs, err = db.FetchMany(ctx, 0, "SELECT nonsense"); recs != nil || err != nil {
			t.Fatalf("FetchMany(0): %v %v", recs, err)
		}
		rec, err := db.FetchOne(ctx, "SELECT name, n FROM "+tbl+" WHERE name = ?", "bob")
		if err != nil || !rec.Equal("bob", 2) {
			t.Fatalf("FetchOne: %v %v", rec, err)
		}
		if _, err := db.FetchOne(ctx, "SELECT name FROM "+tbl+" WHERE n > $1", 9); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("FetchOne of nothing: %v, want sql.ErrNoRows", err)
		}
		if recs, err := db.FetchAll(ctx, "SELECT name FROM "+tbl+" WHERE n > $1", 9); len(recs) != 0 || err != nil {
			t.Fatalf("FetchAll of nothing: %v %v", recs, err)
		}

		res, err := db.Execute(ctx, "UPDATE "+tbl+" SET n = n + 10 WHERE n > $1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 2 {
			t.Errorf("RowsAffected %d %v, want 2", n, err)
		}
		if _, err := db.Execute(ctx, "SELEKT nonsense"); err == nil {
			t.Error("Execute of nonsense succeeded")
		}
	})
}

func TestFetchVal(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := users(t, b, db)
		q := "SELECT name, n FROM " + tbl + " WHERE n = $1"
		if v, err := FetchVal[int64](ctx, db, "SELECT 2 * $1", 2); err != nil || v != 4 {
			t.Errorf("FetchVal[int64] = %v, %v", v, err)
		}
		if v, err := FetchVal[string](ctx, db, q, 2); err != nil || v != "bob" {
			t.Errorf("FetchVal[string] = %q, %v", v, err)
		}
		if v, err := FetchValAt[int](ctx, db, 1, q, 2); err != nil || v != 2 {
			t.Errorf("FetchValAt[int](1) = %v, %v", v, err)
		}
		if v, err := FetchValNamed[float64](ctx, db, "n", q, 3); err != nil || v != 3 {
			t.Errorf("FetchValNamed[float64](n) = %v, %v", v, err)
		}
		if v, err := FetchValNamed[any](ctx, db, "name", q, 3); err != nil || v != "cid" {
			t.Errorf("FetchValNamed[any](name) = %#v, %v, want the normalised string", v, err)
		}
		if v, err := FetchVal[any](ctx, db, "SELECT n FROM "+tbl+" WHERE name = $1", "ann"); err != nil || v != int64(1) {
			t.Errorf("FetchVal[any] = %#v, %v, want int64(1)", v, err)
		}
		if _, err := FetchVal[int64](ctx, db, q, 9); !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("FetchVal of no row: %v, want sql.ErrNoRows", err)
		}
		if _, err := FetchValAt[int64](ctx, db, 2, q, 1); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("FetchValAt(2) of 2 columns: %v", err)
		}
		if _, err := FetchValNamed[int64](ctx, db, "missing", q, 1); err == nil || !strings.Contains(err.Error(), `no column "missing"`) {
			t.Errorf("FetchValNamed(missing): %v", err)
		}
		// Duplicate names: the first column of that name, as Record.Get.
		dup := "SELECT 1 AS x, 2 AS x, 3 AS y, 4 AS x"
		if v, err := FetchValNamed[int64](ctx, db, "x", dup); err != nil || v != 1 {
			t.Errorf("FetchValNamed[int64](x) of duplicate columns = %v, %v, want the first, 1", v, err)
		}
		if v, err := FetchValNamed[any](ctx, db, "x", dup); err != nil || v != int64(1) {
			t.Errorf("FetchValNamed[any](x) of duplicate columns = %#v, %v, want the first, int64(1)", v, err)
		}
		null := "SELECT NULL AS x, 1 AS y"
		if _, err := FetchVal[int64](ctx, db, null); err == nil {
			t.Error("FetchVal[int64] of NULL succeeded")
		}
		if v, err := FetchVal[*int64](ctx, db, null); err != nil || v != nil {
			t.Errorf("FetchVal[*int64] of NULL = %v, %v", v, err)
		}
		if v, err := FetchVal[sql.NullString](ctx, db, null); err != nil || v.Valid {
			t.Errorf("FetchVal[sql.NullString] of NULL = %v, %v", v, err)
		}
		if v, err := FetchVal[any](ctx, db, null); err != nil || v != nil {
			t.Errorf("FetchVal[any] of NULL = %v, %v", v, err)
		}
	})
}

func TestExecuteMany(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := b.table(t, db.DB(), "id INTEGER PRIMARY KEY, name VARCHAR(20)")
		count := func() int64 {
			t.Helper()
			n, err := FetchVal[int64](ctx, db, "SELECT count(*) FROM "+tbl)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		ins := "INSERT INTO " + tbl + " (id, name) VALUES (%s, %s)"
		if err := db.ExecuteMany(ctx, ins, []any{1, "ann"}, []any{2, "bob"}); err != nil {
			t.Fatal(err)
		}
		if err := db.ExecuteMany(ctx, ins); err != nil || count() != 2 {
			t.Fatalf("ExecuteMany with no argument list: %v", err)
		}
		// Outside a transaction the lists run in one: a failure undoes all.
		err := db.ExecuteMany(ctx, ins, []any{3, "cid"}, []any{1, "dup"})
		if err == nil || !strings.Contains(err.Error(), "argument list 1") {
			t.Fatalf("duplicate key: %v", err)
		}
		if n := count(); n != 2 {
			t.Errorf("%d rows after a failed ExecuteMany, want 2 (all or nothing)", n)
		}
		// Inside one, they are part of it.
		err = db.Transaction(ctx, func(ctx context.Context) error {
			if err := db.ExecuteMany(ctx, ins, []any{3, "cid"}, []any{4, "dan"}); err != nil {
				return err
			}
			if n := count(); n != 2 {
				t.Errorf("rows visible outside the transaction: %d", n)
			}
			return ErrRollback
		})
		if err != nil || count() != 2 {
			t.Errorf("ExecuteMany in a rolled back transaction: %v, %d rows", err, count())
		}
		if err := db.Replica(ctx, func(ctx context.Context) error {
			return db.ExecuteMany(ctx, ins, []any{5, "eve"})
		}); !errors.Is(err, ErrReadOnly) {
			t.Errorf("ExecuteMany in a Replica block: %v, want ErrReadOnly", err)
		}
	})
}

func TestIterate(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := users(t, b, db)
		var got []string
		for rec, err := range db.Iterate(ctx, "SELECT name FROM "+tbl+" WHERE n > $1 ORDER BY n", 0) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec.Get("name").(string))
		}
		if !slices.Equal(got, []string{"ann", "bob", "cid"}) {
			t.Errorf("Iterate: %v", got)
		}

		t.Run("early break frees the connection", func(t *testing.T) {
			for rec, err := range db.Iterate(ctx, "SELECT name FROM "+tbl+" ORDER BY n") {
				if err != nil || rec.Get("name") != "ann" {
					t.Fatal(rec, err)
				}
				if db.DB().Stats().InUse != 1 {
					t.Error("no connection in use while iterating")
				}
				break
			}
			if n := db.DB().Stats().InUse; n != 0 {
				t.Errorf("%d connections in use after break", n)
			}
		})

		t.Run("query error", func(t *testing.T) {
			var errs []error
			for rec, err := range db.Iterate(ctx, "SELECT nonsense FROM "+tbl) {
				if rec.Len() != 0 {
					t.Errorf("record with an error: %v", rec)
				}
				errs = append(errs, err)
			}
			if len(errs) != 1 || errs[0] == nil {
				t.Errorf("want one error, got %v", errs)
			}
		})

		t.Run("mid-stream error is the last element", func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var n int
			var last error
			for _, err := range db.Iterate(ctx, longQuery[b.dialect]) {
				if err != nil {
					last = err
					continue
				}
				if n++; n == 2 {
					cancel()
					// database/sql closes the rows asynchronously; give it
					// the time to, or buffered rows would still arrive.
					time.Sleep(100 * time.Millisecond)
				}
			}
			if n < 2 || last == nil {
				t.Errorf("%d rows, final error %v; want the cancellation after 2 rows", n, last)
			}
		})

		if q := failingQuery[b.dialect]; q != "" {
			t.Run("server error mid-stream", func(t *testing.T) {
				var rows int
				var last error
				for _, err := range db.Iterate(ctx, q) {
					if err != nil {
						last = err
					} else if last != nil {
						t.Error("a row after the error")
					} else {
						rows++
					}
				}
				if last == nil {
					t.Errorf("no error after %d rows", rows)
				}
				t.Logf("%d rows, then %v", rows, last)
			})
		}
	})
}

// longQuery streams many rows (cancelled while streaming).
var longQuery = map[Dialect]string{
	PostgreSQL: "SELECT g FROM generate_series(1, 10000000) g",
	ODBC:       "SELECT g FROM generate_series(1, 100000) g",
	MySQL:      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000000) SELECT x FROM c",
	SQLite:     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c",
}

// failingQuery fails on its third row, on the server.
var failingQuery = map[Dialect]string{
	PostgreSQL: "SELECT 1 / (3 - g) FROM generate_series(1, 5) g",
	SQLite:     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5) SELECT json(CASE WHEN x = 3 THEN 'bad' ELSE x END) FROM c",
}

func TestRecordsByIndexAndName(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		rec, err := db.FetchOne(ctx, "SELECT 1 AS a, 'x' AS b, NULL AS c, 2 AS a")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Len() != 4 || !slices.Equal(rec.Columns(), []string{"a", "b", "c", "a"}) {
			t.Errorf("Len %d Columns %v", rec.Len(), rec.Columns())
		}
		if rec.At(0) != int64(1) || rec.At(1) != "x" || rec.At(2) != nil || rec.Get("a") != int64(1) || rec.Get("b") != "x" {
			t.Errorf("values %v", rec)
		}
		if v, ok := rec.Lookup("c"); v != nil || !ok {
			t.Errorf("Lookup of a NULL column: %v, %v", v, ok)
		}
		if v, ok := rec.Lookup("zz"); v != nil || ok {
			t.Errorf("Lookup of a missing column: %v, %v", v, ok)
		}
		var a int
		var s string
		var c *string
		var a2 any
		if err := rec.Scan(&a, &s, &c, &a2); err != nil || a != 1 || s != "x" || c != nil || a2 != int64(2) {
			t.Errorf("Scan: %v %v %v %v %v", err, a, s, c, a2)
		}
		if got := rec.String(); got != `(a=1, b="x", c=NULL, a=2)` {
			t.Errorf("String() = %s", got)
		}
	})
}

func TestCancelledContext(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := db.Execute(ctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
			t.Errorf("Execute: %v", err)
		}
		if _, err := db.FetchAll(ctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
			t.Errorf("FetchAll: %v", err)
		}
		if _, err := FetchVal[int](ctx, db, "SELECT 1"); !errors.Is(err, context.Canceled) {
			t.Errorf("FetchVal: %v", err)
		}
		for _, err := range db.Iterate(ctx, "SELECT 1") {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Iterate: %v", err)
			}
		}
		for name, block := range blocks(db) {
			if err := block(ctx, func(ctx context.Context) error {
				if name != "Replica" { // the only block that acquires nothing
					t.Errorf("%s ran its function with a cancelled context", name)
				}
				_, err := db.FetchAll(ctx, "SELECT 1")
				return err
			}); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", name, err)
			}
		}

		// Cancelled in the middle of a transaction: it is rolled back and
		// the connection goes back to the pool.
		tbl := b.table(t, db.DB(), "n INTEGER")
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := db.Transaction(ctx, func(tctx context.Context) error {
			if _, err := db.Execute(tctx, "INSERT INTO "+tbl+" (n) VALUES (1)"); err != nil {
				return err
			}
			cancel()
			_, err := db.Execute(tctx, "INSERT INTO "+tbl+" (n) VALUES (2)")
			return err
		})
		if err == nil {
			t.Fatal("Transaction whose context was cancelled succeeded")
		}
		if n, err := FetchVal[int64](context.Background(), db, "SELECT count(*) FROM "+tbl); err != nil || n != 0 {
			t.Errorf("%d rows after the cancelled transaction (%v), want 0", n, err)
		}
	})
}

// blocks returns db's three block kinds by name.
func blocks(db *DB) map[string]func(context.Context, func(context.Context) error) error {
	return map[string]func(context.Context, func(context.Context) error) error{
		"Connection": func(ctx context.Context, fn func(context.Context) error) error {
			return db.Connection(ctx, fn)
		},
		"Transaction": func(ctx context.Context, fn func(context.Context) error) error {
			return db.Transaction(ctx, fn)
		},
		"Replica": db.Replica,
	}
}
