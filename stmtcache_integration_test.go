package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiodb/aiodb/internal/testserver"
)

// The statement cache and the nested-transaction statements on the real
// MariaDB/MySQL. The server's per-session counters (SHOW SESSION STATUS)
// say which statements a session sent.

// sessionStatus reads the session counters named by names on sc.
func sessionStatus(t *testing.T, sc *sql.Conn, names ...string) map[string]int {
	t.Helper()
	rows, err := sc.QueryContext(rtBG, "SHOW SESSION STATUS WHERE Variable_name IN ('"+strings.Join(names, "','")+"')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var k string
		var v int
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// delta runs f on sc and returns how the session counters changed, less
// the one SHOW the second reading counts itself.
func delta(t *testing.T, sc *sql.Conn, f func(), names ...string) map[string]int {
	t.Helper()
	a := sessionStatus(t, sc, names...)
	f()
	b := sessionStatus(t, sc, names...)
	for k := range b {
		b[k] -= a[k]
	}
	if _, ok := b["Questions"]; ok {
		b["Questions"]--
	}
	return b
}

// mysqlCached opens the MySQL test server through aiodb with extra
// options, a table aiodb_sc…(id, v) of three rows, and one *sql.Conn.
func mysqlCached(t *testing.T, opts string) (*sql.DB, *sql.Conn, *conn, string) {
	t.Helper()
	be := serverBackend(t, envMySQL)
	sep := map[bool]string{false: "?", true: "&"}[strings.Contains(be.dsn, "?")]
	dsn := be.dsn
	if opts != "" {
		dsn += sep + opts
	}
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tbl := be.table(t, db, "id INT PRIMARY KEY, v VARCHAR(10)")
	if _, err := db.Exec("INSERT INTO " + tbl + " VALUES (1, 'one'), (2, 'two'), (3, 'three')"); err != nil {
		t.Fatal(err)
	}
	sc, err := db.Conn(rtBG)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	var c *conn
	sc.Raw(func(dc any) error { c = dc.(*conn); return nil })
	return db, sc, c, tbl
}

var stmtCounters = []string{"Com_stmt_prepare", "Com_stmt_execute", "Com_stmt_close", "Questions"}

// TestMySQLStmtCacheRoundTrips: a statement with arguments costs one
// round trip once cached, and the bound keeps the least recently used out.
func TestMySQLStmtCacheRoundTrips(t *testing.T) {
	_, sc, c, tbl := mysqlCached(t, "aiodb_stmt_cache=2")
	q := func(i int) string { return fmt.Sprintf("SELECT v FROM %s WHERE id = ? AND %d = %d", tbl, i, i) }
	run := func(i, id int, want string) {
		t.Helper()
		var v string
		if err := sc.QueryRowContext(rtBG, q(i), id).Scan(&v); err != nil || v != want {
			t.Fatalf("query %d: %q, %v", i, v, err)
		}
	}
	d := delta(t, sc, func() { run(1, 1, "one"); run(1, 2, "two"); run(1, 3, "three") }, stmtCounters...)
	if d["Com_stmt_prepare"] != 1 || d["Com_stmt_execute"] != 3 || d["Com_stmt_close"] != 0 || d["Questions"] != 3 {
		t.Errorf("one statement three times: %v, want 1 prepare, 3 executions", d)
	}
	d = delta(t, sc, func() { run(2, 1, "one"); run(3, 2, "two"); run(1, 3, "three") }, stmtCounters...)
	if d["Com_stmt_prepare"] != 3 || d["Com_stmt_close"] != 2 {
		t.Errorf("queries 2, 3, 1 under a bound of 2: %v, want 3 prepares and 2 closes (3 evicts 1, then 1 evicts 2)", d)
	}
	want := []string{q(1), q(3)}
	if got := cachedTexts(c.primary.stmts); !slices.Equal(got, want) {
		t.Errorf("cache %q, want %q", got, want)
	}

	// Explicitly prepared statements are the program's own.
	st, err := sc.PrepareContext(rtBG, q(4))
	if err != nil {
		t.Fatal(err)
	}
	d = delta(t, sc, func() {
		var v string
		if err := st.QueryRowContext(rtBG, 1).Scan(&v); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}, stmtCounters...)
	if d["Com_stmt_close"] != 1 || !slices.Equal(cachedTexts(c.primary.stmts), want) {
		t.Errorf("explicit Prepare: %v, cache %q", d, cachedTexts(c.primary.stmts))
	}
}

// TestMySQLStmtCacheOff: with aiodb_stmt_cache=0 aiodb prepares, executes
// and closes every statement with arguments, as go-sql-driver does.
func TestMySQLStmtCacheOff(t *testing.T) {
	_, sc, c, tbl := mysqlCached(t, "aiodb_stmt_cache=0")
	d := delta(t, sc, func() {
		for id := 1; id <= 3; id++ {
			if _, err := sc.ExecContext(rtBG, "UPDATE "+tbl+" SET v = v WHERE id = ?", id); err != nil {
				t.Fatal(err)
			}
		}
	}, stmtCounters...)
	if d["Com_stmt_prepare"] != 3 || d["Com_stmt_execute"] != 3 || d["Com_stmt_close"] != 3 || c.primary.stmts != nil {
		t.Errorf("cache off: %v, want 3 prepares, executions and closes", d)
	}
}

// TestMySQLStmtCacheSchemaChange: ALTER TABLE between two executions of a
// cached statement: the second sees the new column and the changed type.
func TestMySQLStmtCacheSchemaChange(t *testing.T) {
	_, sc, _, tbl := mysqlCached(t, "")
	q := "SELECT * FROM " + tbl + " WHERE id = ?"
	read := func() []any {
		t.Helper()
		rows, err := sc.QueryContext(rtBG, q, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !rows.Next() {
			t.Fatal("no row", rows.Err())
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		return vals
	}
	if got := fmt.Sprint(read()); got != "[2 two]" {
		t.Fatalf("before ALTER: %s", got)
	}
	if _, err := sc.ExecContext(rtBG, "ALTER TABLE "+tbl+" ADD COLUMN w INT NOT NULL DEFAULT 7"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(read()); got != "[2 two 7]" {
		t.Errorf("after ADD COLUMN: %s, want [2 two 7]", got)
	}
	if _, err := sc.ExecContext(rtBG, "ALTER TABLE "+tbl+" DROP COLUMN v, MODIFY w VARCHAR(5)"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(read()); got != "[2 7]" {
		t.Errorf("after DROP/MODIFY: %s, want [2 7]", got)
	}
}

// TestMySQLStmtCacheClosedWithConnection: closing a connection closes its
// statements: the client forgets them and the server's count of prepared
// statements falls by as many.
func TestMySQLStmtCacheClosedWithConnection(t *testing.T) {
	const n = 40
	db, sc, c, tbl := mysqlCached(t, fmt.Sprintf("aiodb_stmt_cache=%d", n))
	for i := range n {
		var v string
		if err := sc.QueryRowContext(rtBG, fmt.Sprintf("SELECT v FROM %s WHERE id = ? AND %d = %d", tbl, i, i), 1).Scan(&v); err != nil {
			t.Fatal(err)
		}
	}
	cache := c.primary.stmts
	if len(cache.m) != n {
		t.Fatalf("%d statements cached, want %d", len(cache.m), n)
	}
	global := func() int {
		var name string
		var v int
		if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'").Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := global()
	sc.Raw(func(any) error { return driver.ErrBadConn }) // database/sql closes the connection
	if len(cache.m) != 0 || cache.head != nil {
		t.Errorf("closed connection still caches %d statements", len(cache.m))
	}
	// Other sessions prepare statements too: wait for a reading at least n
	// below the one before (each of them only adds to it).
	deadline := time.Now().Add(5 * time.Second)
	for after := global(); after > before-n; after = global() {
		if time.Now().After(deadline) {
			t.Fatalf("Prepared_stmt_count %d before closing a connection with %d statements, %d after", before, n, after)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMySQLStmtCacheMaxPrepared lowers the server's max_prepared_stmt_count
// to just above what it holds: once the limit is reached (1461), the cache
// gives back its least recently used statement and prepares again.
func TestMySQLStmtCacheMaxPrepared(t *testing.T) {
	db, sc, _, tbl := mysqlCached(t, "aiodb_stmt_cache=10")
	testserver.Lock(t, testserver.MySQLGlobals, true)
	var orig, held int
	var name string
	if err := db.QueryRow("SELECT @@GLOBAL.max_prepared_stmt_count").Scan(&orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(fmt.Sprintf("SET GLOBAL max_prepared_stmt_count = %d", orig)); err != nil {
			t.Errorf("restore max_prepared_stmt_count = %d: %v", orig, err)
		}
	})
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'").Scan(&name, &held); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("SET GLOBAL max_prepared_stmt_count = %d", held+2)); err != nil {
		t.Fatal(err)
	}
	d := delta(t, sc, func() {
		for i := range 5 {
			var v string
			err := sc.QueryRowContext(rtBG, fmt.Sprintf("SELECT v FROM %s WHERE id = ? AND %d = %d", tbl, i, i), 1).Scan(&v)
			if err != nil || v != "one" {
				t.Fatalf("statement %d under the lowered limit: %q, %v", i, v, err)
			}
		}
	}, stmtCounters...)
	if _, err := db.Exec(fmt.Sprintf("SET GLOBAL max_prepared_stmt_count = %d", orig)); err != nil {
		t.Fatal(err)
	}
	// Each statement past the second made room by closing one.
	if d["Com_stmt_close"] < 3 {
		t.Errorf("5 statements under a limit of 2 free slots: %v, want at least 3 closes", d)
	}
}

// TestMySQLStmtCacheKilledConnection: the session behind a cached
// statement is killed. The *sql.Conn fails like the raw driver's, its cache
// is dropped, and the pool's next session (whose statement ids start
// again from 1) prepares its own: every query reads its own rows.
func TestMySQLStmtCacheKilledConnection(t *testing.T) {
	db, sc, c, tbl := mysqlCached(t, "")
	q1 := "SELECT v FROM " + tbl + " WHERE id = ?"
	q2 := "SELECT id FROM " + tbl + " WHERE v = ?"
	var v string
	var id int
	if err := sc.QueryRowContext(rtBG, q1, 1).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if err := sc.QueryRowContext(rtBG, q2, "two").Scan(&id); err != nil {
		t.Fatal(err)
	}
	var cid int
	if err := sc.QueryRowContext(rtBG, "SELECT CONNECTION_ID()").Scan(&cid); err != nil {
		t.Fatal(err)
	}
	old := c.primary
	if _, err := db.Exec(fmt.Sprintf("KILL CONNECTION %d", cid)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := sc.QueryRowContext(rtBG, q1, 1).Scan(&v); err == nil {
			t.Fatalf("attempt %d on the killed session succeeded (%q)", i, v)
		}
	}
	if old.stmts.head != nil {
		t.Errorf("the killed session still caches %q", cachedTexts(old.stmts))
	}
	sc.Close()
	db.SetMaxIdleConns(0) // a new session for what follows
	db.SetMaxIdleConns(2)
	for range 3 {
		if err := db.QueryRow(q2, "three").Scan(&id); err != nil || id != 3 {
			t.Fatalf("new session, q2: %d, %v", id, err)
		}
		if err := db.QueryRow(q1, 2).Scan(&v); err != nil || v != "two" {
			t.Fatalf("new session, q1: %q, %v", v, err)
		}
	}
}

// TestMySQLNestedTxStatements: a savepoint level costs one statement at
// BeginTx and one at Commit: aiodb's three-level transaction sends what a
// program sending SAVEPOINT and RELEASE itself sends.
func TestMySQLNestedTxStatements(t *testing.T) {
	_, sc, _, tbl := mysqlCached(t, "")
	rawDB, err := sql.Open("mysql", serverBackend(t, envMySQL).rawDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer rawDB.Close()
	rawConn, err := rawDB.Conn(rtBG)
	if err != nil {
		t.Fatal(err)
	}
	defer rawConn.Close()
	ins := "INSERT INTO " + tbl + " (id, v) VALUES (FLOOR(RAND() * 1e9) + 10, 'n')"
	names := []string{"Questions", "Com_begin", "Com_commit", "Com_savepoint", "Com_release_savepoint", "Com_insert"}
	got := map[bool]map[string]int{}
	for raw, c := range map[bool]*sql.Conn{true: rawConn, false: sc} {
		got[raw] = delta(t, c, func() {
			if err := nestedTx(context.Background(), c, ins, map[bool]nesting{true: nestByHand, false: nestBeginTx}[raw]); err != nil {
				t.Fatal(err)
			}
		}, names...)
	}
	for _, k := range names {
		if got[true][k] != got[false][k] {
			t.Errorf("%s: aiodb %d, by hand %d (aiodb %v, by hand %v)", k, got[false][k], got[true][k], got[false], got[true])
		}
	}
	if got[false]["Com_savepoint"] != 2 || got[false]["Com_release_savepoint"] != 2 || got[false]["Questions"] != 9 {
		t.Errorf("aiodb sent %v, want 2 SAVEPOINT, 2 RELEASE, 9 statements in all", got[false])
	}
}
