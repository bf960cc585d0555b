package aiodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// connID identifies the connection ctx's statements run on: the server's
// id for it (pg_backend_pid(), connection_id()) or, on SQLite, a random id
// kept in a temporary table, which only that connection sees.
func connID(t testing.TB, ctx context.Context, db *DB, b server) string {
	t.Helper()
	var q string
	switch b.dialect {
	case PostgreSQL, ODBC:
		q = "SELECT pg_backend_pid()"
	case MySQL:
		q = "SELECT connection_id()"
	default:
		for _, s := range []string{
			"CREATE TEMP TABLE IF NOT EXISTS aiodb_conn_id (id TEXT)",
			"INSERT INTO aiodb_conn_id SELECT hex(randomblob(8)) WHERE NOT EXISTS (SELECT 1 FROM aiodb_conn_id)",
		} {
			if _, err := db.Execute(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		q = "SELECT id FROM aiodb_conn_id"
	}
	id, err := FetchVal[string](ctx, db, q)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// rowNames returns the names in tbl, sorted.
func rowNames(t testing.TB, db *DB, tbl string) []string {
	t.Helper()
	recs, err := db.FetchAll(context.Background(), "SELECT name FROM "+tbl+" ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	return names(recs)
}

// inserter returns a function that inserts a name into tbl with ctx.
func inserter(t testing.TB, db *DB, tbl string) func(ctx context.Context, name string) {
	return func(ctx context.Context, name string) {
		t.Helper()
		if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" (name) VALUES ($1)", name); err != nil {
			t.Fatalf("insert %s: %v", name, err)
		}
	}
}

func TestConnectionBlock(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		err := db.Connection(ctx, func(ctx context.Context) error {
			id := connID(t, ctx, db, b)
			if connID(t, ctx, db, b) != id {
				t.Error("two statements of one Connection block ran on different connections")
			}
			if _, ok := Querier(ctx, db).(*sql.Conn); !ok {
				t.Errorf("Querier in a Connection block is %T", Querier(ctx, db))
			}
			if db.DB().Stats().InUse != 1 {
				t.Errorf("%d connections in use, want the block's one", db.DB().Stats().InUse)
			}
			db.Connection(ctx, func(ctx context.Context) error {
				if connID(t, ctx, db, b) == id {
					t.Error("a nested Connection block reused the connection")
				}
				return db.Connection(ctx, func(ctx context.Context) error {
					if connID(t, ctx, db, b) == id {
						t.Error("Reuse took the outer block's connection, not the current one")
					}
					return nil
				}, Reuse())
			})
			db.Connection(ctx, func(ctx context.Context) error {
				if connID(t, ctx, db, b) != id {
					t.Error("a nested Connection block with Reuse took a new connection")
				}
				return nil
			}, Reuse())
			db.Transaction(ctx, func(ctx context.Context) error {
				if connID(t, ctx, db, b) != id {
					t.Error("a Transaction block inside a Connection block took a new connection")
				}
				return nil
			})
			if _, err := db.FetchAll(ctx, "SELECT 1"); err != nil {
				t.Errorf("the connection after nested blocks: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Connection(ctx, func(context.Context) error { return nil }, Reuse()); err != nil {
			t.Errorf("Reuse outside any block: %v", err)
		}
		want := errors.New("from fn")
		if err := db.Connection(ctx, func(context.Context) error { return want }); err != want {
			t.Errorf("Connection returned %v, want fn's error", err)
		}
	})
}

func TestTransactionBlock(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := b.table(t, db.DB(), "name VARCHAR(20)")
		insert := inserter(t, db, tbl)
		boom := errors.New("boom")
		for _, c := range []struct {
			name string
			ret  error
			want error
			kept bool
		}{
			{"commit", nil, nil, true},
			{"error", boom, boom, false},
			{"rollback", ErrRollback, nil, false},
			{"wrapped rollback", fmt.Errorf("changed my mind: %w", ErrRollback), nil, false},
		} {
			err := db.Transaction(ctx, func(ctx context.Context) error {
				if _, ok := Querier(ctx, db).(*sql.Tx); !ok {
					t.Errorf("Querier in a Transaction block is %T", Querier(ctx, db))
				}
				insert(ctx, c.name)
				return c.ret
			})
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Errorf("%s: Transaction returned %v, want %v", c.name, err, c.want)
			}
			if got := slices.Contains(rowNames(t, db, tbl), c.name); got != c.kept {
				t.Errorf("%s: row kept %v, want %v", c.name, got, c.kept)
			}
		}

		t.Run("panic", func(t *testing.T) {
			defer func() {
				if p := recover(); p != "bang" {
					t.Errorf("recovered %v, want the block's panic", p)
				}
				if slices.Contains(rowNames(t, db, tbl), "panic") {
					t.Error("the panicking transaction was committed")
				}
			}()
			db.Transaction(ctx, func(ctx context.Context) error {
				insert(ctx, "panic")
				panic("bang")
			})
		})
	})
}

func TestNestedTransactions(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := b.table(t, db.DB(), "name VARCHAR(20)")
		insert := inserter(t, db, tbl)
		var outerID string
		sameConn := func(ctx context.Context, level string) {
			if b.dialect != SQLite { // SQLite's id is a table, which rollbacks undo
				if id := connID(t, ctx, db, b); id != outerID {
					t.Errorf("%s ran on connection %s, the outer transaction on %s", level, id, outerID)
				}
			}
		}
		err := db.Transaction(ctx, func(ctx context.Context) error {
			if b.dialect != SQLite {
				outerID = connID(t, ctx, db, b)
			}
			insert(ctx, "outer")
			err := db.Transaction(ctx, func(ctx context.Context) error {
				sameConn(ctx, "a nested transaction")
				insert(ctx, "inner rolled back")
				return ErrRollback
			})
			if err != nil {
				t.Errorf("inner rollback: %v", err)
			}
			if err := db.Transaction(ctx, func(ctx context.Context) error {
				insert(ctx, "inner committed")
				return db.Transaction(ctx, func(ctx context.Context) error {
					sameConn(ctx, "a third level")
					insert(ctx, "third rolled back")
					return ErrRollback
				})
			}); err != nil {
				t.Errorf("inner commit: %v", err)
			}
			// A failed statement inside a savepoint: rolling the level back
			// makes the transaction usable again (PostgreSQL aborts it).
			err = db.Transaction(ctx, func(ctx context.Context) error {
				insert(ctx, "inner failed")
				_, err := db.Execute(ctx, "INSERT INTO no_such_table VALUES (1)")
				return err
			})
			if err == nil {
				t.Error("the failing inner transaction succeeded")
			}
			func() { // a panic in a nested block, recovered by the outer function
				defer func() { recover() }()
				db.Transaction(ctx, func(ctx context.Context) error {
					insert(ctx, "inner panicked")
					panic("inner")
				})
			}()
			insert(ctx, "outer again")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rowNames(t, db, tbl), []string{"inner committed", "outer", "outer again"}; !slices.Equal(got, want) {
			t.Errorf("rows %q, want %q", got, want)
		}

		// A nested level of a read-only transaction is read-only.
		err = db.Transaction(ctx, func(ctx context.Context) error {
			return db.Transaction(ctx, func(ctx context.Context) error {
				_, err := db.Execute(ctx, "INSERT INTO "+tbl+" (name) VALUES ('x')")
				return err
			})
		}, ReadOnly())
		if b.dialect == PostgreSQL || b.dialect == MySQL {
			// The program's own read-only transaction: the server's error as it is.
			if errors.Is(err, ErrReadOnly) || !readOnlyRefusal(&bconn{}, err) {
				t.Errorf("insert in a nested level of a read-only transaction: %v, want the server's refusal", err)
			}
		}
		// An inner level that committed is undone by the outer rollback.
		err = db.Transaction(ctx, func(ctx context.Context) error {
			db.Transaction(ctx, func(ctx context.Context) error {
				insert(ctx, "committed inner")
				return nil
			})
			return ErrRollback
		})
		if err != nil || slices.Contains(rowNames(t, db, tbl), "committed inner") {
			t.Errorf("outer rollback did not undo the committed inner level (%v)", err)
		}
	})
}

func TestIndependentTransaction(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := b.table(t, db.DB(), "name VARCHAR(20)")
		insert := inserter(t, db, tbl)
		err := db.Transaction(ctx, func(ctx context.Context) error {
			outer := connID(t, ctx, db, b)
			err := db.Transaction(ctx, func(ctx context.Context) error {
				if connID(t, ctx, db, b) == outer {
					t.Error("an Independent transaction ran on the outer transaction's connection")
				}
				insert(ctx, "independent")
				return nil
			}, Independent())
			if err != nil {
				t.Error(err)
			}
			insert(ctx, "outer")
			return ErrRollback
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := rowNames(t, db, tbl); !slices.Equal(got, []string{"independent"}) {
			t.Errorf("rows %q, want only the independent transaction's", got)
		}
	})
}

func TestTransactionOptions(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := b.table(t, db.DB(), "name VARCHAR(20)")
		err := db.Transaction(ctx, func(ctx context.Context) error {
			_, err := db.Execute(ctx, "INSERT INTO "+tbl+" (name) VALUES ('x')")
			return err
		}, ReadOnly())
		switch {
		case b.dialect == SQLite:
			t.Logf("write in a read-only transaction on SQLite: %v (modernc does not enforce ReadOnly)", err)
		case b.dialect == ODBC:
			// alexbrainman/odbc has only Begin: database/sql refuses ReadOnly.
			if err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("read-only transaction on ODBC: %v, want database/sql's refusal", err)
			}
		case errors.Is(err, ErrReadOnly) || !readOnlyRefusal(&bconn{}, err):
			t.Errorf("write in a read-only transaction: %v, want the server's refusal, unwrapped", err)
		}
		level := sql.LevelSerializable
		if b.dialect == ODBC {
			level = sql.LevelDefault
		}
		err = db.Transaction(ctx, func(ctx context.Context) error {
			_, err := db.FetchAll(ctx, "SELECT name FROM "+tbl)
			return err
		}, TxOptions(&sql.TxOptions{Isolation: level}))
		if err != nil {
			t.Errorf("serializable transaction: %v", err)
		}
		err = db.Transaction(ctx, func(ctx context.Context) error {
			return db.Transaction(ctx, func(context.Context) error { return nil },
				TxOptions(&sql.TxOptions{Isolation: sql.LevelReadUncommitted}))
		})
		if !errors.Is(err, ErrNestedTxOptions) {
			t.Errorf("nested transaction with an isolation level: %v, want ErrNestedTxOptions", err)
		}
	})
}

func TestReplicaBlock(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := users(t, b, db)
		ins := "INSERT INTO " + tbl + " (name, n) VALUES ($1, $2)"
		err := db.Replica(ctx, func(ctx context.Context) error {
			if _, err := db.Execute(ctx, ins, "x", 9); !errors.Is(err, ErrReadOnly) {
				t.Errorf("Execute: %v, want ErrReadOnly", err)
			}
			if err := db.ExecuteMany(ctx, ins, []any{"x", 9}); !errors.Is(err, ErrReadOnly) {
				t.Errorf("ExecuteMany: %v, want ErrReadOnly", err)
			}
			if b.dialect != MySQL {
				if _, err := db.FetchAll(ctx, ins+" RETURNING n", "x", 9); !errors.Is(err, ErrReadOnly) {
					t.Errorf("INSERT … RETURNING through FetchAll: %v, want ErrReadOnly", err)
				}
			}
			if recs, err := db.FetchAll(ctx, "SELECT name FROM "+tbl+" ORDER BY n"); err != nil || len(recs) != 3 {
				t.Errorf("FetchAll: %v %v", recs, err)
			}
			if n, err := FetchVal[int64](ctx, db, "SELECT count(*) FROM "+tbl); err != nil || n != 3 {
				t.Errorf("FetchVal: %v %v", n, err)
			}
			for _, err := range db.Iterate(ctx, "SELECT name FROM "+tbl) {
				if err != nil {
					t.Errorf("Iterate: %v", err)
				}
			}
			if err := db.Transaction(ctx, func(context.Context) error { return nil }); !errors.Is(err, ErrReadOnly) {
				t.Errorf("read-write Transaction: %v, want ErrReadOnly", err)
			}
			if err := db.Transaction(ctx, func(ctx context.Context) error {
				_, err := db.FetchOne(ctx, "SELECT name FROM "+tbl)
				return err
			}, ReadOnly()); err != nil && b.dialect != ODBC { // ODBC: no ReadOnly, see TestTransactionOptions
				t.Errorf("read-only Transaction: %v", err)
			}
			if err := db.Connection(ctx, func(ctx context.Context) error {
				_, err := db.Execute(ctx, ins, "from connection", 4)
				return err
			}); err != nil {
				t.Errorf("write in a Connection block inside the Replica block: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// Inside a Connection block, a Replica block keeps its connection;
		// a Connection block with Reuse inside that runs on the primary.
		err = db.Connection(ctx, func(ctx context.Context) error {
			conn := Querier(ctx, db)
			return db.Replica(ctx, func(ctx context.Context) error {
				if Querier(ctx, db) != conn {
					t.Error("a Replica block left the enclosing Connection block's connection")
				}
				if _, err := db.Execute(ctx, ins, "x", 9); !errors.Is(err, ErrReadOnly) {
					t.Errorf("Execute: %v, want ErrReadOnly", err)
				}
				return db.Connection(ctx, func(ctx context.Context) error {
					_, err := db.Execute(ctx, ins, "reused", 5)
					return err
				}, Reuse())
			})
		})
		if err != nil {
			t.Fatal(err)
		}

		// Inside a transaction, a Replica block reads the transaction's own
		// rows and may not write.
		err = db.Transaction(ctx, func(ctx context.Context) error {
			if _, err := db.Execute(ctx, ins, "uncommitted", 6); err != nil {
				return err
			}
			err := db.Replica(ctx, func(ctx context.Context) error {
				if _, err := db.Execute(ctx, ins, "x", 9); !errors.Is(err, ErrReadOnly) {
					t.Errorf("Execute: %v, want ErrReadOnly", err)
				}
				_, err := db.FetchOne(ctx, "SELECT n FROM "+tbl+" WHERE name = 'uncommitted'")
				return err
			})
			if err != nil {
				t.Errorf("reading the transaction's row in a Replica block: %v", err)
			}
			return ErrRollback
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := rowNames(t, db, tbl); !slices.Equal(got, []string{"ann", "bob", "cid", "from connection", "reused"}) {
			t.Errorf("rows %q", got)
		}
	})
}

// TestReplicaServers runs Replica blocks with real replicas. Another test may
// stop a replica at any time, so the block may fall back to the primary:
// the test asserts read-only-ness, and that a write on the primary becomes
// visible in the block, and logs whether a replica answered.
func TestReplicaServers(t *testing.T) {
	ctx := context.Background()
	for _, env := range []string{"AIODB_TEST_POSTGRES_REPLICAS", "AIODB_TEST_MYSQL_REPLICAS"} {
		t.Run(env, func(t *testing.T) {
			b := serverBackend(t, env)
			db := openDB(t, b)
			tbl := b.table(t, db.DB(), "name VARCHAR(20)")
			roQuery, replicaQuery := "SHOW transaction_read_only", "SELECT pg_is_in_recovery()"
			if b.dialect == MySQL {
				roQuery, replicaQuery = "SELECT @@session.tx_read_only", "SELECT @@global.read_only"
			}
			if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" (name) VALUES ('written')"); err != nil {
				t.Fatal(err)
			}
			err := db.Replica(ctx, func(ctx context.Context) error {
				if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" (name) VALUES ('x')"); !errors.Is(err, ErrReadOnly) {
					t.Errorf("Execute: %v, want ErrReadOnly", err)
				}
				onReplica := 0
				for range 4 {
					ro, err := FetchVal[string](ctx, db, roQuery)
					if err != nil {
						return err
					}
					if ro != "on" && ro != "1" {
						t.Errorf("%s = %s in a Replica block", roQuery, ro)
					}
					if r, err := FetchVal[bool](ctx, db, replicaQuery); err == nil && r {
						onReplica++
					}
				}
				t.Logf("%d of 4 reads ran on a replica (the others fell back to the primary)", onReplica)
				deadline := time.Now().Add(10 * time.Second)
				for {
					n, err := FetchVal[int64](ctx, db, "SELECT count(*) FROM "+tbl)
					if err == nil && n == 1 {
						return nil
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("the primary's row is not visible after 10s: %d rows, %v", n, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBlockDone(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		for name, block := range blocks(db) {
			var leaked context.Context
			var q Executor
			if err := block(context.Background(), func(ctx context.Context) error {
				leaked, q = ctx, Querier(ctx, db)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			uses := map[string]error{
				"ExecuteMany": db.ExecuteMany(leaked, "SELECT 1", []any{}),
				"Connection":  db.Connection(leaked, func(context.Context) error { return nil }),
				"Reuse":       db.Connection(leaked, func(context.Context) error { return nil }, Reuse()),
				"Transaction": db.Transaction(leaked, func(context.Context) error { return nil }),
				"Replica":     db.Replica(leaked, func(context.Context) error { return nil }),
			}
			_, uses["Execute"] = db.Execute(leaked, "SELECT 1")
			_, uses["FetchAll"] = db.FetchAll(leaked, "SELECT 1")
			_, uses["FetchOne"] = db.FetchOne(leaked, "SELECT 1")
			_, uses["FetchVal"] = FetchVal[int](leaked, db, "SELECT 1")
			for _, err := range db.Iterate(leaked, "SELECT 1") {
				uses["Iterate"] = err
			}
			after := Querier(leaked, db)
			_, uses["Querier.ExecContext"] = after.ExecContext(context.Background(), "SELECT 1")
			_, uses["Querier.QueryContext"] = after.QueryContext(context.Background(), "SELECT 1")
			_, uses["Querier.PrepareContext"] = after.PrepareContext(context.Background(), "SELECT 1")
			uses["Querier.QueryRowContext"] = after.QueryRowContext(context.Background(), "SELECT 1").Scan(new(int))
			for use, err := range uses {
				if !errors.Is(err, ErrBlockDone) {
					t.Errorf("%s: %s with the ended block's context: %v, want ErrBlockDone", name, use, err)
				}
			}
			if !errors.Is(leaked.Err(), context.Canceled) || !errors.Is(context.Cause(leaked), ErrBlockDone) {
				t.Errorf("%s: the ended block's context: Err %v, Cause %v", name, leaked.Err(), context.Cause(leaked))
			}
			// A Querier kept from inside the block fails the database/sql way.
			err := q.QueryRowContext(context.Background(), "SELECT 1").Scan(new(int))
			switch name {
			case "Connection":
				if !errors.Is(err, sql.ErrConnDone) {
					t.Errorf("the block's *sql.Conn after the block: %v, want sql.ErrConnDone", err)
				}
			case "Transaction":
				if !errors.Is(err, sql.ErrTxDone) {
					t.Errorf("the block's *sql.Tx after the block: %v, want sql.ErrTxDone", err)
				}
			}
		}
	})
}

// dbtx is sqlc's generated DBTX interface.
type dbtx interface {
	ExecContext(context.Context, string, ...interface{}) (sql.Result, error)
	PrepareContext(context.Context, string) (*sql.Stmt, error)
	QueryContext(context.Context, string, ...interface{}) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...interface{}) *sql.Row
}

func TestQuerier(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		tbl := b.table(t, db.DB(), "name VARCHAR(20)")
		if q := Querier(ctx, db); q != Executor(db.DB()) {
			t.Errorf("Querier outside blocks is %T, want the pool", q)
		}
		// Code written against sqlc's DBTX runs inside the block.
		addUser := func(ctx context.Context, q dbtx, name string) error {
			st, err := q.PrepareContext(ctx, "INSERT INTO "+tbl+" (name) VALUES ($1)")
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = st.ExecContext(ctx, name)
			return err
		}
		countUsers := func(ctx context.Context, q dbtx) (n int) {
			if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		err := db.Transaction(ctx, func(ctx context.Context) error {
			q := Querier(ctx, db)
			if err := addUser(ctx, q, "ann"); err != nil {
				return err
			}
			if n := countUsers(ctx, q); n != 1 {
				t.Errorf("the transaction sees %d rows", n)
			}
			return ErrRollback
		})
		if err != nil || countUsers(ctx, Querier(ctx, db)) != 0 {
			t.Errorf("generated-style code did not run in the rolled back transaction (%v)", err)
		}
	})
}

// TestTwoDBs nests blocks of two DBs: each DB finds its own block.
func TestTwoDBs(t *testing.T) {
	ctx := context.Background()
	db1, db2 := openDB(t, sqliteBackend(t)), openDB(t, sqliteBackend(t))
	err := db1.Transaction(ctx, func(ctx context.Context) error {
		tx1 := Querier(ctx, db1)
		return db2.Connection(ctx, func(ctx context.Context) error {
			if Querier(ctx, db1) != tx1 {
				t.Error("db1 lost its transaction inside db2's block")
			}
			if _, ok := Querier(ctx, db2).(*sql.Conn); !ok {
				t.Errorf("db2's Querier is %T", Querier(ctx, db2))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTwoDBsReplicaPins: each DB's Replica block reads from its own
// replicas, also when the blocks of two DBs nest.
func TestTwoDBsReplicaPins(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(primary, replica string) *DB {
		for _, f := range []string{primary, replica} {
			raw, err := sql.Open("sqlite", filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('" + f + "')"); err != nil {
				t.Fatal(err)
			}
			raw.Close()
		}
		db, err := Open("sqlite:///" + filepath.Join(dir, primary) + " sqlite:///" + filepath.Join(dir, replica))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db1, db2 := open("a.db", "b.db"), open("c.db", "d.db")
	read := func(ctx context.Context, db *DB) string {
		t.Helper()
		v, err := FetchVal[string](ctx, db, "SELECT v FROM t")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	err := db1.Replica(ctx, func(ctx context.Context) error {
		if v := read(ctx, db1); v != "b.db" {
			t.Errorf("db1's Replica block read %s", v)
		}
		if v := read(WithReplica(ctx), db2); v != "d.db" {
			t.Errorf("db2 read %s inside db1's Replica block, want its own replica d.db", v)
		}
		return db2.Replica(ctx, func(ctx context.Context) error {
			if v := read(ctx, db2); v != "d.db" {
				t.Errorf("db2's Replica block inside db1's read %s", v)
			}
			if v := read(ctx, db1); v != "b.db" {
				t.Errorf("db1 read %s inside db2's Replica block", v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBlockPanics(t *testing.T) {
	db := openDB(t, sqliteBackend(t))
	for name, block := range blocks(db) {
		var leaked context.Context
		func() {
			defer func() {
				if p := recover(); p != name {
					t.Errorf("%s: recovered %v", name, p)
				}
			}()
			block(context.Background(), func(ctx context.Context) error {
				leaked = ctx
				if _, err := db.FetchAll(ctx, "SELECT 1"); err != nil {
					t.Error(err)
				}
				panic(name)
			})
		}()
		if n := db.DB().Stats().InUse; n != 0 {
			t.Errorf("%s: %d connections in use after a panic", name, n)
		}
		if _, err := db.FetchAll(leaked, "SELECT 1"); !errors.Is(err, ErrBlockDone) {
			t.Errorf("%s: context after a panic: %v, want ErrBlockDone", name, err)
		}
	}
}

// TestServerKillsConnections: after the server kills the pool's connections,
// the next helper call outside a block runs on a fresh one; inside a block,
// the error is returned and the dead connection never serves again.
func TestServerKillsConnections(t *testing.T) {
	ctx := context.Background()
	for _, env := range []string{envPostgres, envMySQL} {
		t.Run(env, func(t *testing.T) {
			b := serverBackend(t, env)
			db := openDB(t, b)
			killer := b.openRaw(t)
			kill := func(ids ...string) {
				t.Helper()
				kill, alive := "KILL %s", "SELECT count(*) FROM information_schema.processlist WHERE id = %s"
				if b.dialect == PostgreSQL {
					kill, alive = "SELECT pg_terminate_backend(%s)", "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
				}
				for _, id := range ids {
					if _, err := killer.Exec(fmt.Sprintf(kill, id)); err != nil {
						t.Fatal(err)
					}
					// Gone from the server's list: MariaDB has closed the
					// socket by then; a PostgreSQL backend closes it when its
					// process exits, so wait for that too. On loopback the
					// EOF is in the client's socket when close returns.
					for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
						var n int
						err := killer.QueryRow(fmt.Sprintf(alive, id)).Scan(&n)
						gone := err == nil && n == 0
						if gone && b.dialect == PostgreSQL {
							pid, _ := strconv.Atoi(id)
							gone = syscall.Kill(pid, 0) == syscall.ESRCH
						}
						if gone {
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("connection %s still alive 10 s after the kill (%v)", id, err)
						}
					}
				}
			}
			// Two idle connections in the pool, both ours.
			var ids []string
			db.Connection(ctx, func(ctx context.Context) error {
				ids = append(ids, connID(t, ctx, db, b))
				return db.Connection(ctx, func(ctx context.Context) error {
					ids = append(ids, connID(t, ctx, db, b))
					return nil
				})
			})
			// Use them once more: pgx pings a connection before reuse only
			// if it was idle for a second, and these were just used.
			db.Connection(ctx, func(ctx context.Context) error {
				connID(t, ctx, db, b)
				return db.Connection(ctx, func(ctx context.Context) error {
					connID(t, ctx, db, b)
					return nil
				})
			})
			kill(ids...)
			for i := range 3 {
				id, err := FetchVal[string](ctx, db, map[Dialect]string{PostgreSQL: "SELECT pg_backend_pid()::text", MySQL: "SELECT connection_id()"}[b.dialect])
				if err != nil {
					t.Fatalf("helper call %d after the kill: %v", i, err)
				}
				if slices.Contains(ids, id) {
					t.Fatalf("helper call %d ran on killed connection %s", i, id)
				}
			}

			for name, block := range map[string]func(context.Context, func(context.Context) error) error{
				"Connection":  func(ctx context.Context, fn func(context.Context) error) error { return db.Connection(ctx, fn) },
				"Transaction": func(ctx context.Context, fn func(context.Context) error) error { return db.Transaction(ctx, fn) },
			} {
				var dead string
				err := block(ctx, func(ctx context.Context) error {
					dead = connID(t, ctx, db, b)
					kill(dead)
					_, err := db.FetchAll(ctx, "SELECT 1")
					if err == nil {
						t.Errorf("%s: a statement on the killed connection succeeded", name)
					}
					if _, err2 := db.FetchAll(ctx, "SELECT 1"); err2 == nil {
						t.Errorf("%s: the block moved to another connection after the kill", name)
					}
					return err
				})
				if err == nil {
					t.Errorf("%s: the block's error was lost", name)
				}
				t.Logf("%s: %v", name, err)
				for range 3 {
					if id := connID(t, ctx, db, b); id == dead {
						t.Errorf("%s: the killed connection went back to the pool", name)
					}
				}
			}
		})
	}
}
