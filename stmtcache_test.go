package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/aiodb/aiodb/internal/backend"
)

// cacheServer is a fake backend session whose statements the cache tests
// script: how many the server holds at most, and the errors the next
// executions return.
type cacheServer struct {
	limit    int      // prepared statements the server allows; 0: no limit
	open     []string // the statements prepared and not closed
	prepares int
	execErrs []error // returned by the next executions, in order
}

func (s *cacheServer) Prepare(q string) (driver.Stmt, error) {
	if s.limit > 0 && len(s.open) >= s.limit {
		return nil, &mysql.MySQLError{Number: backend.MyErrMaxPreparedStmts, Message: "Can't create more than max_prepared_stmt_count statements"}
	}
	s.prepares++
	s.open = append(s.open, q)
	return &cacheStmt{s: s, q: q}, nil
}
func (s *cacheServer) Close() error              { return nil }
func (s *cacheServer) Begin() (driver.Tx, error) { return nil, errors.New("no transactions") }

type cacheStmt struct {
	s *cacheServer
	q string
}

func (st *cacheStmt) Close() error {
	i := slices.Index(st.s.open, st.q)
	st.s.open = slices.Delete(st.s.open, i, i+1)
	return nil
}
func (st *cacheStmt) NumInput() int                              { return -1 }
func (st *cacheStmt) Exec([]driver.Value) (driver.Result, error) { return nil, errors.New("legacy") }
func (st *cacheStmt) Query([]driver.Value) (driver.Rows, error)  { return nil, errors.New("legacy") }
func (st *cacheStmt) QueryContext(context.Context, []driver.NamedValue) (driver.Rows, error) {
	return nil, errors.New("not scripted")
}
func (st *cacheStmt) ExecContext(context.Context, []driver.NamedValue) (driver.Result, error) {
	if len(st.s.execErrs) > 0 {
		err := st.s.execErrs[0]
		st.s.execErrs = st.s.execErrs[1:]
		return nil, err
	}
	return driver.RowsAffected(1), nil
}

// cacheSession is a session on the fake server with a cache of size.
func cacheSession(srv *cacheServer, size int) *bconn {
	b := newBconn(srv, nil)
	b.stmts = &stmtCache{max: size}
	return b
}

func cachedTexts(c *stmtCache) []string {
	var q []string
	for s := c.head; s != nil; s = s.next {
		q = append(q, s.text)
	}
	return q
}

var oneArg = []driver.NamedValue{{Ordinal: 1, Value: int64(1)}}

func TestStmtCacheLRU(t *testing.T) {
	srv := &cacheServer{}
	b := cacheSession(srv, 2)
	for _, q := range []string{"q1", "q2", "q1", "q3", "q1"} {
		if _, err := b.exec(rtBG, q, oneArg); err != nil {
			t.Fatal(err)
		}
	}
	// q2, the least recently used, made room for q3.
	if got := cachedTexts(b.stmts); !slices.Equal(got, []string{"q1", "q3"}) || srv.prepares != 3 || !slices.Equal(srv.open, []string{"q1", "q3"}) {
		t.Errorf("cache %q, server holds %q after %d prepares; want [q1 q3], 3 prepares", got, srv.open, srv.prepares)
	}
	if err := b.Close(); err != nil || len(srv.open) != 0 || b.stmts.head != nil {
		t.Errorf("after Close: %v, server still holds %q", err, srv.open)
	}
}

// TestStmtCacheTooManyStatements: a server at its max_prepared_stmt_count
// (1461) gets the least recently used statement back, and the prepare is
// tried once more.
func TestStmtCacheTooManyStatements(t *testing.T) {
	srv := &cacheServer{limit: 2}
	b := cacheSession(srv, 10)
	for _, q := range []string{"q1", "q2", "q3", "q4"} {
		if _, err := b.exec(rtBG, q, oneArg); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got := cachedTexts(b.stmts); !slices.Equal(got, []string{"q4", "q3"}) {
		t.Errorf("cache %q, want [q4 q3]", got)
	}
	// With nothing to give back, the server's error is the statement's.
	full := &cacheServer{limit: 1}
	other := cacheSession(full, 10)
	full.open = []string{"another session's"}
	_, err := other.exec(rtBG, "q1", oneArg)
	if e, ok := backend.MySQLErrorOf(err); !ok || e.Number != backend.MyErrMaxPreparedStmts {
		t.Errorf("server full: %v, want error 1461", err)
	}
}

// TestStmtCacheStale: a statement the server calls stale (1615 after a
// schema change, 1243 when it lost it) is prepared again and run once more.
func TestStmtCacheStale(t *testing.T) {
	for _, num := range []uint16{backend.MyErrNeedReprepare, backend.MyErrUnknownStmt} {
		srv := &cacheServer{}
		b := cacheSession(srv, 4)
		if _, err := b.exec(rtBG, "q1", oneArg); err != nil {
			t.Fatal(err)
		}
		srv.execErrs = []error{&mysql.MySQLError{Number: num, Message: "stale"}}
		if _, err := b.exec(rtBG, "q1", oneArg); err != nil {
			t.Fatalf("%d: %v", num, err)
		}
		if srv.prepares != 2 || len(srv.open) != 1 {
			t.Errorf("%d: %d prepares, server holds %q; want the statement prepared again and the stale one closed", num, srv.prepares, srv.open)
		}
		// Stale twice in a row: the error is returned, the statement dropped.
		srv.execErrs = []error{&mysql.MySQLError{Number: num}, &mysql.MySQLError{Number: num}}
		if _, err := b.exec(rtBG, "q1", oneArg); err == nil || len(srv.open) != 0 {
			t.Errorf("%d twice: %v, server holds %q", num, err, srv.open)
		}
	}
}

// TestStmtCacheBrokenSession: once a session failed, its statements are
// never used again (nor is the cache refilled).
func TestStmtCacheBrokenSession(t *testing.T) {
	for _, fail := range []error{driver.ErrBadConn, mysql.ErrInvalidConn, io.ErrUnexpectedEOF} {
		srv := &cacheServer{}
		b := cacheSession(srv, 4)
		if _, err := b.exec(rtBG, "q1", oneArg); err != nil {
			t.Fatal(err)
		}
		srv.execErrs = []error{fail}
		if _, err := b.exec(rtBG, "q1", oneArg); !errors.Is(err, fail) {
			t.Fatalf("%v: got %v", fail, err)
		}
		if b.stmts.head != nil {
			t.Errorf("%v: the failed session still caches %q", fail, cachedTexts(b.stmts))
		}
	}
	srv := &cacheServer{}
	b := cacheSession(srv, 4)
	b.broken = true
	if _, err := b.exec(rtBG, "q1", oneArg); err != driver.ErrSkip || srv.prepares != 0 {
		t.Errorf("broken session: %v after %d prepares; want the uncached path (ErrSkip here)", err, srv.prepares)
	}
}

// openCached opens an in-memory SQLite database through aiodb with extra
// options, and one *sql.Conn of it with its aiodb connection.
func openCached(t *testing.T, opts string) (*sql.DB, *sql.Conn, *conn) {
	t.Helper()
	db, err := sql.Open(DriverName, "sqlite:///:memory:"+opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sc, err := db.Conn(rtBG)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	var c *conn
	sc.Raw(func(dc any) error { c = dc.(*conn); return nil })
	if _, err := sc.ExecContext(rtBG, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ExecContext(rtBG, "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')"); err != nil {
		t.Fatal(err)
	}
	return db, sc, c
}

func TestStmtCacheSQLite(t *testing.T) {
	_, sc, c := openCached(t, "")
	if c.primary.stmts == nil || c.primary.stmts.max != defaultStmtCache {
		t.Fatalf("SQLite session cache %+v, want %d statements", c.primary.stmts, defaultStmtCache)
	}
	var v string
	for range 3 {
		if err := sc.QueryRowContext(rtBG, "SELECT v FROM t WHERE id = $1", 2).Scan(&v); err != nil || v != "two" {
			t.Fatal(v, err)
		}
	}
	if got := cachedTexts(c.primary.stmts); len(got) == 0 || got[0] != "SELECT v FROM t WHERE id = ?1" ||
		slices.Index(got[1:], got[0]) >= 0 {
		t.Errorf("cache %q, want the rewritten query once, most recent first", got)
	}

	// The same statement again while its rows are open: the second query
	// runs without the cache, and both read their own rows.
	r1, err := sc.QueryContext(rtBG, "SELECT v FROM t WHERE id >= $1 ORDER BY id", 1)
	if err != nil {
		t.Fatal(err)
	}
	r1.Next()
	r2, err := sc.QueryContext(rtBG, "SELECT v FROM t WHERE id >= $1 ORDER BY id", 3)
	if err != nil {
		t.Fatal(err)
	}
	got := func(r *sql.Rows, first string) []string {
		vals := []string{first}
		for r.Next() {
			var s string
			r.Scan(&s)
			vals = append(vals, s)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		return vals
	}
	var first string
	r1.Scan(&first)
	r2.Next()
	var first2 string
	r2.Scan(&first2)
	if a, b := got(r2, first2), got(r1, first); !slices.Equal(a, []string{"three"}) || !slices.Equal(b, []string{"one", "two", "three"}) {
		t.Errorf("two open rows of one statement: %q and %q", b, a)
	}

	// Schema change between two executions: the statement sees the new column.
	q := "SELECT * FROM t WHERE id = $1"
	cols := func() []string {
		rows, err := sc.QueryContext(rtBG, q, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, _ := rows.Columns()
		return c
	}
	before := cols()
	if _, err := sc.ExecContext(rtBG, "ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7"); err != nil {
		t.Fatal(err)
	}
	if after := cols(); len(before) != 2 || len(after) != 3 {
		t.Errorf("columns before ALTER %q, after %q", before, after)
	}
	var w int
	if err := sc.QueryRowContext(rtBG, "SELECT w FROM t WHERE id = $1", 1).Scan(&w); err != nil || w != 7 {
		t.Errorf("after ALTER: %d, %v", w, err)
	}
}

// TestStmtCacheDroppedWhileBusy: a statement evicted while its rows are
// open is closed when they are, and its rows read to the end.
func TestStmtCacheDroppedWhileBusy(t *testing.T) {
	_, sc, c := openCached(t, "?aiodb_stmt_cache=1")
	rows, err := sc.QueryContext(rtBG, "SELECT v FROM t WHERE id >= $1 ORDER BY id", 1)
	if err != nil {
		t.Fatal(err)
	}
	busy := c.primary.stmts.head
	var v string
	if err := sc.QueryRowContext(rtBG, "SELECT v FROM t WHERE id = $1", 3).Scan(&v); err != nil || v != "three" {
		t.Fatal(v, err)
	}
	if !busy.dropped || c.primary.stmts.head == busy {
		t.Fatal("the busy statement was not evicted")
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Close(); err != nil || n != 3 {
		t.Errorf("rows of the evicted statement: %d, %v", n, err)
	}
}

func TestStmtCacheOff(t *testing.T) {
	_, sc, c := openCached(t, "?aiodb_stmt_cache=0")
	var v string
	if err := sc.QueryRowContext(rtBG, "SELECT v FROM t WHERE id = $1", 1).Scan(&v); err != nil || v != "one" {
		t.Fatal(v, err)
	}
	if c.primary.stmts != nil {
		t.Error("aiodb_stmt_cache=0: the session caches statements")
	}
	for _, dsn := range []string{"sqlite:///:memory:?aiodb_stmt_cache=-1", "postgres://u@h/db?aiodb_stmt_cache=10", "sqlite:///:memory:?aiodb_stmt_cache=x"} {
		if _, err := ParseDSN(dsn); !errors.Is(err, ErrBadDSN) {
			t.Errorf("%s: %v, want ErrBadDSN", dsn, err)
		}
	}
}

// TestStmtCacheExplicitPrepare: a statement the program prepares is its
// own, never the cache's.
func TestStmtCacheExplicitPrepare(t *testing.T) {
	_, sc, c := openCached(t, "")
	before := cachedTexts(c.primary.stmts)
	st, err := sc.PrepareContext(rtBG, "SELECT v FROM t WHERE id = $1")
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := st.QueryRowContext(rtBG, 1).Scan(&v); err != nil || v != "one" {
		t.Fatal(v, err)
	}
	st.Close()
	if after := cachedTexts(c.primary.stmts); !slices.Equal(after, before) {
		t.Errorf("an explicit Prepare changed the cache: %q, was %q", after, before)
	}
}

// TestStmtCacheArgless: a session that keeps statements without arguments
// (SQLite's rule) caches them, except long one-off text; one that does not
// (MySQL's: such a statement goes as text in one round trip) never
// prepares them.
func TestStmtCacheArgless(t *testing.T) {
	long := "SELECT '" + strings.Repeat("x", maxArglessText) + "'"
	for _, argless := range []bool{false, true} {
		srv := &cacheServer{}
		b := cacheSession(srv, 4)
		b.stmts.argless = argless
		for _, q := range []string{"q1", "q1", long} {
			b.exec(rtBG, q, nil)
		}
		want := map[bool][]string{true: {"q1"}}[argless]
		if got := cachedTexts(b.stmts); !slices.Equal(got, want) || srv.prepares != len(want) {
			t.Errorf("argless=%v: cache %q after %d prepares, want %q", argless, got, srv.prepares, want)
		}
	}
}

// TestStmtCacheSQLiteArgless: SQLite runs the statements without arguments
// aiodb sends (savepoints) and the program's through its cache; a script
// of several statements runs whole every time.
func TestStmtCacheSQLiteArgless(t *testing.T) {
	_, sc, c := openCached(t, "")
	tx, err := sc.BeginTx(rtBG, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		inner, err := sc.BeginTx(rtBG, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inner.ExecContext(rtBG, "UPDATE t SET v = v || '+' WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		if err := inner.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := cachedTexts(c.primary.stmts)
	for _, q := range []string{"SAVEPOINT sp_1", "RELEASE SAVEPOINT sp_1", "SAVEPOINT sp_2", "UPDATE t SET v = v || '+' WHERE id = 1"} {
		if !slices.Contains(got, q) {
			t.Errorf("%q not cached: %q", q, got)
		}
	}
	script := "INSERT INTO t (v) VALUES ('a'); INSERT INTO t (v) VALUES ('b')"
	for range 2 {
		if _, err := sc.ExecContext(rtBG, script); err != nil {
			t.Fatal(err)
		}
	}
	var v string
	var n int
	if err := sc.QueryRowContext(rtBG, "SELECT (SELECT v FROM t WHERE id = 1), (SELECT count(*) FROM t)").Scan(&v, &n); err != nil || v != "one++" || n != 7 {
		t.Errorf("after two nested levels and a script run twice: %q, %d rows, %v; want one++, 7", v, n, err)
	}
}
