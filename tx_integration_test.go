package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Integration tests of nested transactions against real servers: a table of
// scenarios (S1…S30; S4 is the three-level commit S5 refers to) and the
// failure modes around it. Every scenario runs on its own table and its own
// *sql.Conn and checks the final table state through the backend driver
// opened directly on the same server (backend.openRaw), so through another
// connection. The exact statement sequences are checked by tx_test.go.

// psqlODBCNested are the psqlODBC settings nested transactions need. By
// default psqlODBC rolls back failed statements itself, inside a savepoint
// of its own that it creates before each statement: rolling back to it
// destroys every savepoint created since, so aiodb's RELEASE and ROLLBACK
// TO fail (the transaction is then rolled back: fail closed, see
// TestNestedPsqlODBCDefaults). Protocol=7.4-0 turns that off and
// UseServerSidePrepare=0 avoids its "prepared statement already exists"
// errors after a statement failed in an aborted transaction.
const psqlODBCNested = "protocol=7.4-0&useserversideprepare=0"

// nestedBackend is one backend under test with the two pools the tests use.
type nestedBackend struct {
	b server
	// flavor is the SQL the server behind b speaks: b.dialect, or for
	// ODBC the DSN's aiodb_odbc_dialect. PostgreSQL aborts the whole
	// transaction on an error; MySQL and SQLite only the statement.
	flavor Dialect
	db     *sql.DB // aiodb
	raw    *sql.DB // the backend driver, for final states
}

// nestedSetup prepares b for the nested transaction tests: a busy timeout
// for the raw SQLite driver (a second connection that writes waits for the
// transaction instead of failing with SQLITE_BUSY; aiodb sets one itself)
// and the psqlODBC settings above.
func nestedSetup(t *testing.T, b server) *nestedBackend {
	t.Helper()
	nb := &nestedBackend{flavor: b.dialect}
	switch b.name {
	case "sqlite":
		b.rawDSN += "?_pragma=busy_timeout(5000)"
	case "odbc":
		cfg, err := ParseDSN(b.dsn)
		if err != nil {
			t.Fatal(err)
		}
		nb.flavor = cfg.Settings.ODBCDialect
		if nb.flavor == PostgreSQL {
			b.dsn += map[bool]string{true: "&", false: "?"}[strings.Contains(b.dsn, "?")] + psqlODBCNested
			if cfg, err = ParseDSN(b.dsn); err != nil {
				t.Fatal(err)
			}
			b.rawDSN = cfg.Primary.backend
		}
	}
	nb.b = b
	nb.db = b.open(t)
	nb.raw = b.openRaw(t)
	return nb
}

// pg reports whether the server follows PostgreSQL's transaction rules.
func (nb *nestedBackend) pg() bool { return nb.flavor == PostgreSQL }

// nestedEnv is one scenario's world: a table t(x INT PRIMARY KEY) and a
// *sql.Conn to nest transactions on.
type nestedEnv struct {
	*testing.T
	*nestedBackend
	c   *sql.Conn
	tbl string
	txs []*sql.Tx // every Tx begun, rolled back when the scenario ends
}

var background = context.Background()

// env makes a scenario's table and connection. When the scenario ends,
// every Tx it began is rolled back (a no-op for the ended ones) and the
// *sql.Conn closed, within 5s: Conn.Close waits for open Txs.
func (nb *nestedBackend) env(t *testing.T) *nestedEnv {
	t.Helper()
	e := &nestedEnv{T: t, nestedBackend: nb}
	e.tbl = nb.b.table(t, nb.db, "x INT PRIMARY KEY")
	c, err := nb.db.Conn(background)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	t.Cleanup(func() {
		for _, tx := range slices.Backward(e.txs) {
			tx.Rollback()
		}
		within(t, 5*time.Second, "Conn.Close", func() error { e.c.Close(); return nil })
	})
	return e
}

// within runs f and fails the test if it does not return within d, with
// the stacks of every goroutine (a deadlock report).
func within(t testing.TB, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%s still blocked after %v (deadlock?)\n%s", what, d, buf)
		return nil
	}
}

// beginCtx begins a transaction (nested when one is open) or fails the test.
func (e *nestedEnv) beginCtx(ctx context.Context, opts *sql.TxOptions) *sql.Tx {
	e.Helper()
	tx, err := e.c.BeginTx(ctx, opts)
	if err != nil {
		e.Fatalf("BeginTx: %v", err)
	}
	e.txs = append(e.txs, tx)
	return tx
}

func (e *nestedEnv) begin() *sql.Tx {
	e.Helper()
	return e.beginCtx(background, nil)
}

// execer is what a statement can be sent through: a *sql.Tx, the *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insert inserts x into the scenario's table through via.
func (e *nestedEnv) insert(via execer, x int) error {
	_, err := via.ExecContext(background, "INSERT INTO "+e.tbl+" (x) VALUES (?)", x)
	return err
}

// ins inserts each x through via or fails the test.
func (e *nestedEnv) ins(via execer, xs ...int) {
	e.Helper()
	for _, x := range xs {
		if err := e.insert(via, x); err != nil {
			e.Fatalf("insert %d: %v", x, err)
		}
	}
}

// ok fails the test when err is not nil.
func (e *nestedEnv) ok(what string, err error) {
	e.Helper()
	if err != nil {
		e.Fatalf("%s: %v", what, err)
	}
}

// fails checks that err is an error, is each of want, and is not
// driver.ErrBadConn (database/sql would deadlock closing the *sql.Conn: see notBadConn).
func (e *nestedEnv) fails(what string, err error, want ...error) {
	e.Helper()
	if err == nil {
		e.Fatalf("%s succeeded; want an error", what)
	}
	if errors.Is(err, driver.ErrBadConn) {
		e.Fatalf("%s: %v is driver.ErrBadConn", what, err)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			e.Fatalf("%s: %v; want %v", what, err, w)
		}
	}
}

// serverReadOnly checks that err is the server's own read-only refusal,
// unwrapped: aiodb adds ErrReadOnly only on the read-only sessions it
// opens, not in the program's own read-only transaction.
func (e *nestedEnv) serverReadOnly(what string, err error) {
	e.Helper()
	e.fails(what, err)
	if errors.Is(err, ErrReadOnly) || !readOnlyRefusal(&bconn{node: &node{flavor: e.flavor}}, err) {
		e.Fatalf("%s: %v; want the server's read-only refusal, unwrapped", what, err)
	}
}

// rows reads the table through the raw driver, in order.
func (e *nestedEnv) rows() []int {
	e.Helper()
	rs, err := e.raw.Query("SELECT x FROM " + e.tbl + " ORDER BY x")
	if err != nil {
		e.Fatal(err)
	}
	defer rs.Close()
	out := []int{}
	for rs.Next() {
		var x int
		if err := rs.Scan(&x); err != nil {
			e.Fatal(err)
		}
		out = append(out, x)
	}
	if err := rs.Err(); err != nil {
		e.Fatal(err)
	}
	return out
}

// want checks the table's final state.
func (e *nestedEnv) want(xs ...int) {
	e.Helper()
	if xs == nil {
		xs = []int{}
	}
	if got := e.rows(); !slices.Equal(got, xs) {
		e.Errorf("final table %v, want %v", got, xs)
	}
}

// rawExec runs a statement on the backend connection under the *sql.Conn,
// bypassing aiodb (its guard refuses savepoint statements).
func (e *nestedEnv) rawExec(q string) error {
	return e.c.Raw(func(dc any) error {
		bc := dc.(interface{ Unwrap() driver.Conn }).Unwrap()
		if ex, ok := bc.(driver.ExecerContext); ok {
			_, err := ex.ExecContext(background, q, nil)
			if err != driver.ErrSkip {
				return err
			}
		}
		s, err := bc.Prepare(q)
		if err != nil {
			return err
		}
		defer s.Close()
		_, err = s.Exec(nil) //lint:ignore SA1019 the legacy interface every driver has
		return err
	})
}

// noSavepoints checks that the server holds none of the named savepoints
// any more: RELEASE of each must fail. The probe runs inside a savepoint
// of its own, so that PostgreSQL's aborted state is undone.
func (e *nestedEnv) noSavepoints(names ...string) {
	e.Helper()
	for _, n := range names {
		e.ok("probe", e.rawExec("SAVEPOINT aiodb_probe"))
		if e.rawExec("RELEASE SAVEPOINT "+n) == nil {
			e.Fatalf("savepoint %s is still on the server", n)
		}
		e.ok("probe", e.rawExec("ROLLBACK TO SAVEPOINT aiodb_probe"))
		e.ok("probe", e.rawExec("RELEASE SAVEPOINT aiodb_probe"))
	}
}

// nestedScenario is one row of the scenario table.
type nestedScenario struct {
	id   string
	doc  string
	skip func(nb *nestedBackend) string // why the row does not apply; "" when it does
	run  func(e *nestedEnv)             // the steps; it checks the final state itself
}

// nestedScenarios is the scenario table. The SQL each row sends is in
// tx_test.go; here the servers' answers and the final table state count.
var nestedScenarios = []nestedScenario{
	{id: "S1", doc: "inner commit, outer commit", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2)
	}},
	{id: "S2", doc: "inner rollback, outer commit", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		e.ok("T2.Rollback", t2.Rollback())
		e.ok("T1.Commit", t1.Commit())
		e.want(1)
	}},
	{id: "S3", doc: "an inner commit does not survive the outer rollback", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Rollback", t1.Rollback())
		e.want()
	}},
	{id: "S4", doc: "three levels, all committed", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		t3 := e.begin()
		e.ins(t3, 3)
		e.ok("T3.Commit", t3.Commit())
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2, 3)
	}},
	{id: "S5", doc: "as S4 with the innermost rolled back", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		t3 := e.begin()
		e.ins(t3, 3)
		e.ok("T3.Rollback", t3.Rollback())
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2)
	}},
	{id: "S6", doc: "sibling levels: sp_1 then sp_2, never reused", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		e.ok("T2.Commit", t2.Commit())
		t2b := e.begin()
		e.ins(t2b, 3)
		e.noSavepoints("sp_1") // released; sp_2 is the open one
		e.ok("T2'.Rollback", t2b.Rollback())
		e.noSavepoints("sp_1", "sp_2")
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2)
	}},
	{id: "S7", doc: "an error inside a level; rolling the level back recovers PostgreSQL's aborted transaction", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.fails("duplicate insert", e.insert(t2, 1))
		if err := e.insert(t2, 3); e.pg() {
			e.fails("insert after an error (PostgreSQL: 25P02)", err)
		} else {
			e.ok("insert after an error", err)
		}
		e.ok("T2.Rollback", t2.Rollback())
		e.ins(t1, 4)
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 4)
	}},
	{id: "S9", doc: "an error at the top level: PostgreSQL's Commit fails", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		e.fails("duplicate insert", e.insert(t1, 1))
		err := t1.Commit()
		switch {
		case !e.pg():
			e.ok("T1.Commit", err)
			e.want(1)
		case e.b.name == "odbc":
			// psqlODBC's SQLEndTran reports success although the server
			// answered COMMIT with ROLLBACK; aiodb cannot see the tag.
			e.Logf("odbc: Commit of an aborted PostgreSQL transaction returned %v", err)
			e.want()
		default:
			e.fails("T1.Commit of an aborted transaction", err)
			e.want()
		}
	}},
	{id: "S10", doc: "BeginTx in an aborted PostgreSQL transaction: a prompt plain error, no hang", run: func(e *nestedEnv) {
		e.ins(e.db, 9)
		t1 := e.begin()
		e.fails("duplicate insert", e.insert(t1, 9))
		var t2 *sql.Tx
		err := within(e, time.Second, "nested BeginTx", func() (err error) {
			t2, err = e.c.BeginTx(background, nil)
			return err
		})
		if e.pg() {
			e.fails("nested BeginTx in an aborted transaction", err)
		} else {
			e.ok("nested BeginTx", err)
			e.txs = append(e.txs, t2)
			e.ins(t2, 2)
			e.ok("T2.Commit", t2.Commit())
		}
		e.ok("T1.Rollback", t1.Rollback())
		var one int
		e.ok("the *sql.Conn after the rollback", e.c.QueryRowContext(background, "SELECT 1").Scan(&one))
		e.want(9)
	}},
	{id: "S11", doc: "DDL inside a level: transactional on PostgreSQL and SQLite, refused before it is sent on MySQL", run: func(e *nestedEnv) {
		z := e.tbl + "_z"
		e.Cleanup(func() { e.raw.Exec("DROP TABLE IF EXISTS " + z) })
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		_, err := t2.Exec("CREATE TABLE " + z + " (y INT)")
		if e.flavor == MySQL {
			e.fails("CREATE TABLE inside a savepoint", err, ErrImplicitCommit)
			for _, q := range []string{
				"ALTER TABLE " + e.tbl + " ADD COLUMN w INT", "CREATE INDEX " + z + "_i ON " + e.tbl + " (x)",
				"TRUNCATE TABLE " + e.tbl, "RENAME TABLE " + e.tbl + " TO " + z, "DROP TABLE " + e.tbl,
				"LOCK TABLES " + e.tbl + " WRITE", "SET autocommit = 1",
				"UNLOCK TABLES", // commits only with tables locked; refused anyway (internal/sqltext/classify.go)
			} {
				_, err := t2.Exec(q)
				e.fails(q+" inside a savepoint", err, ErrImplicitCommit)
			}
			e.ins(t2, 3) // the level is still usable
		} else {
			e.ok("CREATE TABLE inside a savepoint", err)
		}
		e.ok("T2.Rollback", t2.Rollback())
		e.ok("T1.Commit", t1.Commit())
		e.want(1)
		var n int
		if err := e.raw.QueryRow("SELECT COUNT(*) FROM " + z).Scan(&n); err == nil {
			e.Errorf("table %s exists after the rollback of the level that created it", z)
		}
	}},
	{id: "S12", doc: "TEMPORARY tables inside a level: allowed everywhere (no implicit commit on MySQL)", run: func(e *nestedEnv) {
		tt := e.tbl + "_tt"
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		_, err := t2.Exec("CREATE TEMPORARY TABLE " + tt + " (y INT)")
		e.ok("CREATE TEMPORARY TABLE inside a savepoint", err)
		_, err = t2.Exec("INSERT INTO " + tt + " (y) VALUES (1)")
		e.ok("insert into the temporary table", err)
		if e.flavor == MySQL {
			_, err = t2.Exec("DROP TEMPORARY TABLE " + tt)
			e.ok("DROP TEMPORARY TABLE inside a savepoint", err)
		}
		e.ok("T2.Rollback", t2.Rollback())
		e.ins(t1, 3)
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 3)
		e.c.ExecContext(background, "DROP TABLE IF EXISTS "+tt) // MySQL keeps it per session
	}},
	{id: "S14", doc: "outer rollback while the inner is open: the orphan sends no SQL and the connection refuses statements until it ends", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		e.ok("T1.Rollback", t1.Rollback())
		// Outside the transaction these would autocommit.
		e.fails("insert through the orphan", e.insert(t2, 3), ErrTxDone)
		e.fails("insert through the *sql.Conn", e.insert(e.c, 4), ErrTxDone)
		e.fails("BeginTx", func() error { _, err := e.c.BeginTx(background, nil); return err }(), ErrTxDone)
		e.fails("T2.Commit", t2.Commit(), ErrTxDone)
		e.fails("T2.Rollback after Commit", t2.Rollback(), sql.ErrTxDone)
		var one int
		e.ok("the *sql.Conn once the orphan ended", e.c.QueryRowContext(background, "SELECT 1").Scan(&one))
		e.want()
	}},
	{id: "S17", doc: "a nested isolation level is refused before any SQL; the default and the top level's own are accepted", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		_, err := e.c.BeginTx(background, &sql.TxOptions{Isolation: sql.LevelSerializable})
		e.fails("nested BeginTx(Serializable)", err, ErrNestedTxOptions)
		t2 := e.beginCtx(background, &sql.TxOptions{Isolation: sql.LevelDefault})
		e.ins(t2, 2)
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2)
		if e.b.name == "odbc" {
			return // alexbrainman/odbc has only Begin: no isolation at the top level either
		}
		t1 = e.beginCtx(background, &sql.TxOptions{Isolation: sql.LevelSerializable})
		t2 = e.beginCtx(background, &sql.TxOptions{Isolation: sql.LevelSerializable})
		_, err = e.c.BeginTx(background, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		e.fails("nested BeginTx(ReadCommitted) in a serializable transaction", err, ErrNestedTxOptions)
		e.ins(t2, 3)
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2, 3)
	}},
	{id: "S18", doc: "a read-only level inside a read-write one: scoped SET TRANSACTION READ ONLY on PostgreSQL, refused elsewhere", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2, err := e.c.BeginTx(background, &sql.TxOptions{ReadOnly: true})
		if e.pg() {
			e.ok("nested read-only BeginTx", err)
			e.txs = append(e.txs, t2)
			// The program's own read-only level: the server's error, as it is.
			e.serverReadOnly("insert in the read-only level (25006)", e.insert(t2, 2))
			e.ok("T2.Rollback", t2.Rollback())
		} else {
			e.fails("nested read-only BeginTx", err, ErrNestedTxOptions)
		}
		e.ins(t1, 3) // read-write again
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 3)
	}},
	{id: "S19", doc: "inside a read-only transaction a nested level inherits read-only", skip: func(nb *nestedBackend) string {
		if nb.b.name == "odbc" {
			return "alexbrainman/odbc has only Begin, so database/sql refuses a read-only top level"
		}
		return ""
	}, run: func(e *nestedEnv) {
		e.ins(e.db, 1)
		t1 := e.beginCtx(background, &sql.TxOptions{ReadOnly: true})
		t2 := e.begin()                                              // ReadOnly: false inherits
		t3 := e.beginCtx(background, &sql.TxOptions{ReadOnly: true}) // read-only in read-only: a plain savepoint
		e.ok("T3.Commit", t3.Commit())
		err := e.insert(t2, 2)
		if e.flavor == SQLite {
			// modernc.org/sqlite ignores TxOptions.ReadOnly (BEGIN either way),
			// so nothing is read-only to inherit.
			e.ok("insert in a read-only transaction on SQLite", err)
			e.ok("T2.Commit", t2.Commit())
			e.ok("T1.Commit", t1.Commit())
			e.want(1, 2)
			return
		}
		e.serverReadOnly("insert in a level nested in a read-only transaction (25006 / 1792)", err)
		e.ok("T2.Rollback", t2.Rollback())
		e.ok("T1.Commit", t1.Commit())
		e.want(1)
	}},
	{id: "S20", doc: "a second Commit or Rollback of a level is database/sql's ErrTxDone", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		e.ok("T2.Commit", t2.Commit())
		e.fails("second T2.Commit", t2.Commit(), sql.ErrTxDone)
		e.fails("T2.Rollback after Commit", t2.Rollback(), sql.ErrTxDone)
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2)
	}},
	{id: "S22", doc: "statements run in the innermost open level, whichever handle sends them", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t1, 2)  // through the outer *sql.Tx: inside sp_1
		e.ins(e.c, 3) // through the *sql.Conn: inside sp_1 too
		e.ok("T2.Rollback", t2.Rollback())
		e.ok("T1.Commit", t1.Commit())
		e.want(1)
	}},
	{id: "S23", doc: "Conn.Close waits until every Tx on it has ended", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		closed := make(chan error, 1)
		go func() { closed <- e.c.Close() }()
		time.Sleep(200 * time.Millisecond)
		select {
		case err := <-closed:
			e.Fatalf("Conn.Close returned (%v) while two Txs were open", err)
		default:
		}
		e.fails("Exec on a closing *sql.Conn", e.insert(e.c, 3), sql.ErrConnDone)
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		e.ok("Conn.Close", within(e, 5*time.Second, "Conn.Close", func() error { return <-closed }))
		e.want(1, 2)
	}},
	{id: "S25", doc: "rows left open across savepoint operations: a clean error, never a silent commit", run: func(e *nestedEnv) {
		e.ins(e.db, 100, 101)
		// Whether the backend can run a statement while rows are open:
		// pgx cannot ("conn busy", the connection stays sound);
		// go-sql-driver/mysql sends it and loses the protocol ("commands
		// out of sync"), which breaks the connection; SQLite can, and
		// psqlODBC reads every row at once.
		shares := e.flavor == SQLite || e.b.name == "odbc"
		query := func(t1 *sql.Tx) *sql.Rows {
			e.Helper()
			rs, err := t1.Query("SELECT x FROM " + e.tbl + " ORDER BY x")
			e.ok("query", err)
			rs.Next()
			return rs
		}

		// BeginTx with rows open.
		t1 := e.begin()
		e.ins(t1, 1)
		rs := query(t1)
		t2, err := e.c.BeginTx(background, nil)
		if shares {
			e.ok("BeginTx with rows open", err)
			e.ok("T2.Rollback", t2.Rollback())
		} else {
			e.fails("BeginTx with rows open", err)
			e.Logf("BeginTx with rows open: %v", err)
		}
		if err := rs.Close(); err != nil {
			e.Logf("rows.Close: %v", err)
		}
		if err := t1.Commit(); err != nil { // nothing was lost: committing is fine, failing too
			e.fails("T1.Commit", err)
			e.Logf("T1.Commit: %v", err)
		}
		part1 := e.rows()

		// Commit of a level with rows open, on a new connection.
		e.c.Close()
		e.c, err = e.db.Conn(background)
		e.ok("Conn", err)
		t1 = e.begin()
		e.ins(t1, 2)
		t2 = e.begin()
		e.ins(t2, 3)
		rs = query(t1)
		err = t2.Commit()
		if cerr := rs.Close(); cerr != nil {
			e.Logf("rows.Close: %v", cerr)
		}
		if shares {
			e.ok("T2.Commit with rows open", err)
			e.ok("T1.Commit", t1.Commit())
			e.want(1, 2, 3, 100, 101)
			return
		}
		// RELEASE failed, then ROLLBACK TO failed: the transaction is
		// poisoned and its Commit rolls back.
		e.fails("T2.Commit with rows open", err, ErrTxRolledBack)
		e.Logf("T2.Commit with rows open: %v", err)
		e.fails("T1.Commit of the poisoned transaction", t1.Commit(), ErrTxRolledBack)
		e.c.Close() // a broken connection goes, and the server rolls back
		e.want(part1...)
	}},
	{id: "S27", doc: "raw transaction control statements are refused while aiodb manages a transaction", run: func(e *nestedEnv) {
		// Prepared before the transaction, executed inside it.
		commit, perr := e.c.PrepareContext(background, "COMMIT")
		if perr == nil {
			defer commit.Close()
		}
		t1 := e.begin()
		e.ins(t1, 1)
		for _, q := range []string{"COMMIT", "ROLLBACK", "BEGIN", "SAVEPOINT x"} {
			_, err := t1.Exec(q)
			e.fails(q+" at depth 0", err, ErrTxControl)
		}
		t2 := e.begin()
		e.ins(t2, 2)
		for _, q := range []string{"COMMIT", "END", "ROLLBACK", "ROLLBACK TO SAVEPOINT sp_1", "RELEASE SAVEPOINT sp_1", "SAVEPOINT x", "BEGIN", "START TRANSACTION"} {
			for name, via := range map[string]execer{"the inner Tx": t2, "the outer Tx": t1, "the *sql.Conn": e.c} {
				_, err := via.ExecContext(background, q)
				e.fails(q+" through "+name, err, ErrTxControl)
			}
		}
		if perr == nil {
			_, err := commit.ExecContext(background)
			e.fails("prepared COMMIT", err, ErrTxControl)
		} else {
			e.Logf("preparing COMMIT: %v", perr)
		}
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2)
	}},
	{id: "S28", doc: "the outermost level is a real BEGIN: another connection sees nothing until the top level commits, and its writes wait rather than fail", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		e.ok("T2.Commit", t2.Commit())
		e.want() // RELEASE did not commit (SQLite commits a RELEASE of a transaction-starting savepoint)
		wrote := make(chan error, 1)
		ins := "INSERT INTO " + e.tbl + " (x) VALUES (?)"
		if e.b.raw == "pgx" {
			ins = "INSERT INTO " + e.tbl + " (x) VALUES ($1)"
		}
		go func() { _, err := e.raw.Exec(ins, 3); wrote <- err }() // SQLite: waits on busy_timeout
		time.Sleep(50 * time.Millisecond)
		e.ok("T1.Commit", t1.Commit())
		e.ok("the other connection's insert", within(e, 5*time.Second, "the other connection's insert", func() error { return <-wrote }))
		e.want(1, 2, 3)
	}},
	{id: "S29", doc: "SET LOCAL survives RELEASE and is undone by ROLLBACK TO", skip: func(nb *nestedBackend) string {
		if !nb.pg() {
			return "SET LOCAL is PostgreSQL's"
		}
		return ""
	}, run: func(e *nestedEnv) {
		show := func(via *sql.Tx, want string) {
			e.Helper()
			var got string
			e.ok("SHOW", via.QueryRow("SHOW statement_timeout").Scan(&got))
			if got != want {
				e.Errorf("statement_timeout %q, want %q", got, want)
			}
		}
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		_, err := t2.Exec("SET LOCAL statement_timeout = '5s'")
		e.ok("SET LOCAL", err)
		e.ok("T2.Commit", t2.Commit())
		show(t1, "5s")
		t3 := e.begin()
		_, err = t3.Exec("SET LOCAL statement_timeout = '7s'")
		e.ok("SET LOCAL", err)
		show(t3, "7s")
		e.ok("T3.Rollback", t3.Rollback())
		show(t1, "5s")
		e.ok("T1.Commit", t1.Commit())
		e.want(1)
	}},
	{id: "S30", doc: "1,000 sequential levels in one transaction, every one released on the server", run: func(e *nestedEnv) {
		t1 := e.begin()
		var want []int
		for i := 1; i <= 1000; i++ {
			t2 := e.begin()
			e.ins(t2, i)
			if i%2 == 0 {
				e.ok("Commit", t2.Commit())
				want = append(want, i)
			} else {
				e.ok("Rollback", t2.Rollback())
			}
		}
		e.txs = e.txs[:1]
		e.noSavepoints("sp_1", "sp_2", "sp_500", "sp_999", "sp_1000")
		e.ok("T1.Commit", t1.Commit())
		e.want(want...)
	}},
	{id: "S30deep", doc: "70 levels deep (past PostgreSQL's 64 cached subtransactions), unwound with mixed commit and rollback", run: func(e *nestedEnv) {
		t1 := e.begin()
		e.ins(t1, 0)
		levels := []*sql.Tx{t1}
		for d := 1; d <= 70; d++ {
			tx := e.begin()
			e.ins(tx, d)
			levels = append(levels, tx)
		}
		for d := 70; d >= 1; d-- {
			if d == 36 {
				e.ok(fmt.Sprintf("level %d Rollback", d), levels[d].Rollback())
			} else {
				e.ok(fmt.Sprintf("level %d Commit", d), levels[d].Commit())
			}
		}
		e.noSavepoints("sp_1", "sp_35", "sp_36", "sp_37", "sp_70")
		e.ok("T1.Commit", t1.Commit())
		want := make([]int, 36)
		for i := range want {
			want[i] = i
		}
		e.want(want...) // 0…35: 37…70 were released into 36, which rolled back
	}},
}

// TestNestedScenarios runs the scenario table on every backend.
func TestNestedScenarios(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		nb := nestedSetup(t, b)
		for _, sc := range nestedScenarios {
			t.Run(sc.id, func(t *testing.T) {
				if sc.skip != nil {
					if why := sc.skip(nb); why != "" {
						t.Skipf("%s does not apply to %s: %s", sc.id, b.name, why)
					}
				}
				sc.run(nb.env(t))
			})
		}
	})
}

// TestNestedThreeLevels mixes commit and rollback over three levels and
// siblings.
func TestNestedThreeLevels(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		e := nestedSetup(t, b).env(t)
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		t3 := e.begin()
		e.ins(t3, 3)
		e.ok("T3.Rollback", t3.Rollback())
		t3 = e.begin()
		e.ins(t3, 4)
		e.ok("T3'.Commit", t3.Commit())
		e.ok("T2.Commit", t2.Commit())
		t2 = e.begin()
		e.ins(t2, 5)
		t3 = e.begin()
		e.ins(t3, 6)
		e.ok("T3''.Commit", t3.Commit())
		e.ok("T2'.Rollback", t2.Rollback()) // takes 6 with it
		t2 = e.begin()
		e.ins(t2, 7)
		t3 = e.begin()
		e.ins(t3, 8)
		e.fails("T2''.Commit with T3 open", t2.Commit(), ErrNestedTxOpen) // fail closed: 7 and 8 rolled back
		e.fails("orphaned T3.Commit", t3.Commit(), ErrTxDone)
		e.ins(t1, 9)
		e.ok("T1.Commit", t1.Commit())
		e.want(1, 2, 4, 9)
	})
}

// TestNestedErrorInsideLevel: after an error inside a level, Commit of
// the level fails on PostgreSQL (RELEASE in an aborted transaction), rolls
// the level back and leaves the transaction usable; MySQL and SQLite only
// lost the failed statement.
func TestNestedErrorInsideLevel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		nb := nestedSetup(t, b)
		e := nb.env(t)
		t1 := e.begin()
		e.ins(t1, 1)
		t2 := e.begin()
		e.ins(t2, 2)
		t3 := e.begin()
		e.fails("duplicate insert", e.insert(t3, 1))
		err := e.insert(t3, 3)
		if nb.pg() {
			e.fails("insert in the aborted level", err)
			e.fails("T3.Commit", t3.Commit(), ErrTxRolledBack)
		} else {
			e.ok("insert after a failed statement", err)
			e.ok("T3.Commit", t3.Commit())
		}
		e.ins(t2, 4) // usable again
		e.ok("T2.Commit", t2.Commit())
		e.ok("T1.Commit", t1.Commit())
		if nb.pg() {
			e.want(1, 2, 4)
		} else {
			e.want(1, 2, 3, 4)
		}
	})
}

// TestNestedInnerContextCancelled: the context of a nested level ends
// while the outer level carries on. The level counts as rolled back from
// then on, whatever the moment database/sql's awaitDone goroutine gets to
// it: the outer level's next statement and its Commit do not land in, or
// fail on, the dead savepoint, and the *sql.Conn stays usable.
func TestNestedInnerContextCancelled(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		e := nestedSetup(t, b).env(t)
		var want []int
		for i := range 20 {
			t1 := e.begin()
			e.ins(t1, 10*i+1)
			ctx, cancel := context.WithCancel(background)
			t2 := e.beginCtx(ctx, nil)
			e.ins(t2, 10*i+2)
			cancel()
			want = append(want, 10*i+1)
			if i%2 == 0 { // a statement of the outer level right away
				e.ins(t1, 10*i+3)
				want = append(want, 10*i+3)
			}
			e.fails("T2.Commit after its context ended", t2.Commit())
			e.ok("T1.Commit", t1.Commit())
			e.ins(e.c, 10*i+4) // the *sql.Conn stays usable
			want = append(want, 10*i+4)
			e.txs = e.txs[:0]
		}
		slices.Sort(want)
		e.want(want...)
	})
}

// TestNestedCancelOuterRace cancels the outer level's context while the
// inner level is open and busy, 50 times with random timing and three
// kinds of inner context (the same, a child, an independent one). It must
// neither deadlock nor panic (run it with -race), every call must return
// promptly, no Commit or Rollback of the inner level may return
// driver.ErrBadConn, and nothing may be committed.
func TestNestedCancelOuterRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		nb := nestedSetup(t, b)
		e := nb.env(t)
		noBadConn := func(what string, err error) {
			if errors.Is(err, driver.ErrBadConn) {
				t.Errorf("%s: %v is driver.ErrBadConn", what, err)
			}
		}
		for i := range 50 {
			within(t, 10*time.Second, fmt.Sprintf("iteration %d", i), func() error {
				c, err := nb.db.Conn(background)
				if err != nil {
					return err
				}
				defer c.Close()
				ctx, cancel := context.WithCancel(background)
				defer cancel()
				t1, err := c.BeginTx(ctx, nil)
				if err != nil {
					t.Errorf("iteration %d: BeginTx: %v", i, err)
					return nil
				}
				child, cancelChild := context.WithCancel(ctx)
				defer cancelChild()
				inner := [...]context.Context{ctx, child, background}[i%3]
				t2, err := c.BeginTx(inner, nil)
				if err != nil {
					t.Errorf("iteration %d: nested BeginTx: %v", i, err)
					t1.Rollback()
					return nil
				}
				t1.Exec("INSERT INTO "+e.tbl+" (x) VALUES (?)", 10*i+1)
				var wg sync.WaitGroup
				wg.Add(2)
				go func() {
					defer wg.Done()
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					cancel()
				}()
				go func() {
					defer wg.Done()
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					// Its error does not matter: database/sql does not close
					// the *sql.Conn on a *sql.Tx statement's ErrBadConn.
					t2.ExecContext(inner, "INSERT INTO "+e.tbl+" (x) VALUES (?)", 10*i+2)
					if i%2 == 0 {
						noBadConn("T2.Commit", t2.Commit())
					} else {
						noBadConn("T2.Rollback", t2.Rollback())
					}
				}()
				wg.Wait()
				if err := t1.Commit(); err == nil {
					t.Errorf("iteration %d: T1.Commit after its context was cancelled succeeded", i)
				}
				t2.Rollback() // ends it if the goroutine could not
				return nil
			})
		}
		e.want()
		var one int
		if err := nb.db.QueryRow("SELECT 1").Scan(&one); err != nil {
			t.Errorf("pool after the races: %v", err)
		}
	})
}

// TestNestedBadConnDuringRelease kills the server session while a nested
// level is open. Every savepoint operation must then return within a
// second, never with driver.ErrBadConn (which would deadlock database/sql
// against the open outer Tx), nothing may be committed, and the pool must
// recover. In the first case RELEASE reads the server's FATAL; in the
// others a statement has already found the connection dead, so the
// transaction is lost: Commit and BeginTx fail with ErrTxAborted unsent,
// Rollback succeeds.
func TestNestedBadConnDuringRelease(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		nb := nestedSetup(t, b)
		var idQuery, kill, alive string
		switch nb.flavor {
		case PostgreSQL:
			idQuery, kill, alive = "SELECT pg_backend_pid()", "SELECT pg_terminate_backend(%d)", "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %d"
		case MySQL:
			idQuery, kill, alive = "SELECT CONNECTION_ID()", "KILL CONNECTION %d", "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d"
		default:
			t.Skipf("%s has no server session to kill; tx_test.go injects the fault with go-sqlmock", b.name)
		}
		cases := []struct {
			name     string
			dead     bool                   // a statement finds the connection dead first
			rollback bool                   // the operation is a Rollback
			step     func(t2 *sql.Tx) error // the savepoint operation under test
			outerEnd func(t1 *sql.Tx) error // how the outer level ends
		}{
			{"RELEASE meets the kill", false, false, (*sql.Tx).Commit, (*sql.Tx).Commit},
			{"RELEASE on a dead connection", true, false, (*sql.Tx).Commit, (*sql.Tx).Commit},
			{"ROLLBACK TO on a dead connection", true, true, (*sql.Tx).Rollback, (*sql.Tx).Commit},
			{"SAVEPOINT on a dead connection", true, false, nil, (*sql.Tx).Rollback},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := nb.env(t)
				t1 := e.begin()
				e.ins(t1, 1)
				t2 := e.begin()
				e.ins(t2, 2)
				var id int64
				e.ok("session id", t2.QueryRow(idQuery).Scan(&id))
				_, err := nb.raw.Exec(fmt.Sprintf(kill, id))
				e.ok("kill the session", err)
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					var n int
					e.ok("session gone?", nb.raw.QueryRow(fmt.Sprintf(alive, id)).Scan(&n))
					if n == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the killed session is still there after 5s")
					}
				}
				if tc.dead {
					e.fails("a statement on the killed session", e.insert(t2, 3))
				}
				start := time.Now()
				if tc.step != nil {
					err = within(t, time.Second, "the savepoint operation", func() error { return tc.step(t2) })
				} else {
					err = within(t, time.Second, "nested BeginTx", func() error { _, err := e.c.BeginTx(background, nil); return err })
				}
				t.Logf("after %v: %v", time.Since(start), err)
				switch {
				case !tc.dead:
					e.fails("the savepoint operation that meets the kill", err)
				case tc.rollback:
					// The statement found the transaction lost: nothing to undo.
					e.ok("ROLLBACK TO of a lost transaction", err)
				default:
					// Refused unsent, as every Commit and BeginTx of a lost transaction.
					e.fails("the savepoint operation of a lost transaction", err, ErrTxAborted)
				}
				if tc.step == nil {
					e.ok("T2.Rollback of a lost transaction", within(t, time.Second, "T2.Rollback", t2.Rollback))
				}
				err = within(t, time.Second, "the outer end", func() error { return tc.outerEnd(t1) })
				t.Logf("outer end: %v", err)
				within(t, time.Second, "Conn.Close", e.c.Close)
				e.want()
				// The pool recovers: a fresh connection nests again.
				e.c, err = nb.db.Conn(background)
				e.ok("a new connection", err)
				t1 = e.begin()
				t2 = e.begin()
				e.ins(t2, 4)
				e.ok("T2.Commit", t2.Commit())
				e.ok("T1.Commit", t1.Commit())
				e.want(4)
			})
		}
	})
}

// TestNestedImplicitCommitDetected: DDL at depth 0 is the program's call on
// MySQL (as with the raw driver) and implicitly commits; the savepoint
// opened afterwards does not exist on the server, so its end fails with
// ErrImplicitCommit and the transaction's Commit reports that it did not
// commit as one unit.
func TestNestedImplicitCommitDetected(t *testing.T) {
	nb := nestedSetup(t, serverBackend(t, envMySQL))
	e := nb.env(t)
	z := e.tbl + "_z"
	t.Cleanup(func() { nb.raw.Exec("DROP TABLE IF EXISTS " + z) })
	t1 := e.begin()
	e.ins(t1, 1)
	_, err := t1.Exec("CREATE TABLE " + z + " (y INT)")
	e.ok("CREATE TABLE at depth 0", err)
	t2 := e.begin()
	e.ins(t2, 2) // autocommits: the transaction is gone
	e.fails("T2.Rollback", t2.Rollback(), ErrImplicitCommit)
	e.fails("T1.Commit", t1.Commit(), ErrTxRolledBack, ErrImplicitCommit)
	e.want(1, 2)
}

// TestNestedPsqlODBCDefaults documents psqlODBC with its default statement
// rollback: an error inside a level destroys aiodb's savepoints, and aiodb
// then rolls the whole transaction back (fail closed, never a partial
// commit). Top-level errors only lose the statement.
//
// It runs on the data source of AIODB_TEST_ODBC without the settings of
// psqlODBCNested (which that DSN normally carries).
func TestNestedPsqlODBCDefaults(t *testing.T) {
	b := serverBackend(t, envODBC)
	cfg, err := ParseDSN(b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Settings.ODBCDialect != PostgreSQL {
		const why = envODBC + " is not psqlODBC (aiodb_odbc_dialect=postgres)"
		if os.Getenv("CI") != "" {
			t.Fatal(why + ": CI provides psqlODBC, so this test must run (see scripts/test.sh)")
		}
		t.Skip(why)
	}
	b.dsn = withoutODBCSettings(t, b.dsn, psqlODBCNested)
	if cfg, err = ParseDSN(b.dsn); err != nil {
		t.Fatal(err)
	}
	b.rawDSN = cfg.Primary.backend
	nb := &nestedBackend{b: b, flavor: PostgreSQL, db: b.open(t), raw: b.openRaw(t)}
	e := nb.env(t)
	t1 := e.begin()
	e.ins(t1, 1)
	t2 := e.begin()
	e.fails("duplicate insert", e.insert(t2, 1))
	e.ins(t2, 2) // psqlODBC rolled back to its own savepoint, older than sp_1
	e.fails("T2.Commit", t2.Commit(), ErrTxRolledBack)
	e.fails("T1.Commit", t1.Commit(), ErrTxRolledBack)
	e.want()
}

// withoutODBCSettings returns the odbc:// DSN without the connection
// attributes named in settings (a query string; names match case-insensitively,
// as ODBC's do).
func withoutODBCSettings(t *testing.T, dsn, settings string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	drop, err := url.ParseQuery(settings)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k := range q {
		for d := range drop {
			if strings.EqualFold(k, d) {
				q.Del(k)
			}
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
