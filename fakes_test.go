package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/aiodb/aiodb/internal/backend"
)

// Test doubles shared by the unit tests: rtNode, a fake server whose nodes
// can go down, break their sessions or fail their rows on demand, and the
// clusters built on it and on go-sqlmock.

var (
	_ driver.QueryerContext     = (*rtConn)(nil)
	_ driver.ExecerContext      = (*rtConn)(nil)
	_ driver.ConnBeginTx        = (*rtConn)(nil)
	_ driver.ConnPrepareContext = (*rtConn)(nil)
	_ driver.Validator          = (*rtConn)(nil)
)

// rtNode is one fake server. Every query answers one row, the node's name.
type rtNode struct {
	name string

	mu       sync.Mutex
	down     bool // Connect fails, open sessions fail their next statement
	gen      int  // sessions opened before a restart (gen bump) are broken
	log      []string
	opened   int
	closed   int
	failRows int  // the next failRows queries fail in their first Next
	failLate int  // the next failLate queries fail in the Next after their row
	skipArgs bool // answer driver.ErrSkip to Exec/Query with arguments (like go-sql-driver/mysql)
}

func (f *rtNode) Connect(ctx context.Context) (driver.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, fmt.Errorf("dial %s: connection refused", f.name)
	}
	f.opened++
	return &rtConn{f: f, gen: f.gen}, nil
}

func (f *rtNode) Driver() driver.Driver { return nil }

// clearLog forgets the statements seen so far (for long benchmarks).
func (f *rtNode) clearLog() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = f.log[:0]
}

func (f *rtNode) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	f.gen++
}

// restart breaks every open session, as a server restart does.
func (f *rtNode) restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
}

func (f *rtNode) statements() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// count returns how many statements equal to q the node received.
func (f *rtNode) count(q string) int {
	n := 0
	for _, s := range f.statements() {
		if s == q {
			n++
		}
	}
	return n
}

type rtConn struct {
	f      *rtNode
	gen    int
	closed bool
}

// use records q, or fails when the node is down or restarted since the
// session opened.
func (c *rtConn) use(q string, nargs int) error {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.closed {
		return driver.ErrBadConn
	}
	if f.down || c.gen != f.gen {
		c.closed = true
		return io.ErrUnexpectedEOF
	}
	if f.skipArgs && nargs > 0 {
		return driver.ErrSkip
	}
	f.log = append(f.log, q)
	return nil
}

func (c *rtConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.use(q, len(args)); err != nil {
		return nil, err
	}
	c.f.mu.Lock()
	fail, late := c.f.failRows > 0, c.f.failRows == 0 && c.f.failLate > 0
	if fail {
		c.f.failRows--
	}
	if late {
		c.f.failLate--
	}
	c.f.mu.Unlock()
	return &rtRows{c: c, val: c.f.name, fail: fail, late: late}, nil
}

func (c *rtConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.use(q, len(args)); err != nil {
		return nil, err
	}
	return driver.RowsAffected(0), nil
}

func (c *rtConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if err := c.use("PREPARE "+q, 0); err != nil {
		return nil, err
	}
	return &rtStmt{c: c, q: q}, nil
}

func (c *rtConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *rtConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	q := "BEGIN"
	if opts.ReadOnly {
		q = "BEGIN READ ONLY"
	}
	if err := c.use(q, 0); err != nil {
		return nil, err
	}
	return rtTx{c}, nil
}

func (c *rtConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *rtConn) IsValid() bool { return !c.closed }

func (c *rtConn) Close() error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if !c.closed || c.gen >= 0 {
		c.f.closed++
	}
	c.closed = true
	c.gen = -1
	return nil
}

type rtTx struct{ c *rtConn }

func (t rtTx) Commit() error { return t.c.use("COMMIT", 0) }

func (t rtTx) Rollback() error { return t.c.use("ROLLBACK", 0) }

type rtStmt struct {
	c *rtConn
	q string
}

func (s *rtStmt) Close() error { return nil }

func (s *rtStmt) NumInput() int { return -1 }

func (s *rtStmt) Exec(args []driver.Value) (driver.Result, error) {
	if err := s.c.use("EXECUTE "+s.q, 0); err != nil {
		return nil, err
	}
	return driver.RowsAffected(0), nil
}

func (s *rtStmt) Query(args []driver.Value) (driver.Rows, error) {
	if err := s.c.use("EXECUTE "+s.q, 0); err != nil {
		return nil, err
	}
	return &rtRows{c: s.c, val: s.c.f.name}, nil
}

type rtRows struct {
	c    *rtConn
	val  string
	done bool
	fail bool // fail before the row
	late bool // fail after the row, instead of io.EOF
}

func (r *rtRows) Columns() []string { return []string{"node"} }

func (r *rtRows) Close() error { return nil }

func (r *rtRows) Next(dest []driver.Value) error {
	if r.fail || r.done && r.late {
		r.c.closed = true
		return io.ErrUnexpectedEOF
	}
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = r.val
	return nil
}

// rtCluster is an aiodb *sql.DB over fake nodes: the primary, then replicas.
type rtCluster struct {
	db    *sql.DB
	c     *connector
	nodes []*rtNode // [0] is the primary
	// probeErr, when set for a node (by name), fails its probes; lag is its
	// measured lag.
	mu       sync.Mutex
	probeErr map[string]error
	lag      map[string]time.Duration
}

// rtFakeCluster opens dsn (its URLs name the nodes by host) with every node a
// rtNode and the checker's probe asking the fakes. opts tune the
// connector before the first statement.
func rtFakeCluster(t *testing.T, dsn string, opts ...func(*connector)) *rtCluster {
	t.Helper()
	cfg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cl := &rtCluster{probeErr: map[string]error{}, lag: map[string]time.Duration{}}
	c, err := newConnectorWith(cfg, func(n Node, _ string) (driver.Connector, error) {
		f := &rtNode{name: rtHost(n.URL)}
		cl.nodes = append(cl.nodes, f) // in DSN order: the primary first
		return f, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cl.c = c
	c.router.probeFunc = func(ctx context.Context, n *node) (time.Duration, bool, error) {
		f := cl.node(rtHost(n.URL))
		f.mu.Lock()
		down := f.down
		f.mu.Unlock()
		if down {
			return 0, false, fmt.Errorf("dial %s: connection refused", f.name)
		}
		cl.mu.Lock()
		defer cl.mu.Unlock()
		if err := cl.probeErr[f.name]; err != nil {
			return 0, false, err
		}
		return cl.lag[f.name], true, nil
	}
	for _, o := range opts {
		o(c)
	}
	cl.db = sql.OpenDB(c)
	t.Cleanup(func() { cl.db.Close() })
	return cl
}

func (cl *rtCluster) node(name string) *rtNode {
	for _, f := range cl.nodes {
		if f.name == name {
			return f
		}
	}
	panic("no node " + name)
}

func (cl *rtCluster) setLag(name string, d time.Duration) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.lag[name] = d
}

func rtHost(url string) string {
	_, rest, _ := strings.Cut(url, "://")
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host, path, _ := strings.Cut(rest, "/")
	if host == "" { // sqlite:///name: the node is named by its path
		host, _, _ = strings.Cut(path, "?")
		host = strings.TrimSuffix(host, ".db")
	}
	return host
}

// rtRead runs a read with ctx and returns the name of the node that answered.
func rtRead(ctx context.Context, db *sql.DB) (string, error) {
	var name string
	err := db.QueryRowContext(ctx, "SELECT node").Scan(&name)
	return name, err
}

var rtBG = context.Background()

// rtFast makes back-off and the health interval short.
func rtFast(c *connector) {
	c.cfg.Settings.HealthInterval = 20 * time.Millisecond
	c.router.minBackoff = 50 * time.Millisecond
	c.router.maxBackoff = 400 * time.Millisecond
}

// rtEventually polls cond until it holds or d passes.
func rtEventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rtMockCluster opens dsn with a separate sqlmock behind the primary and
// each replica (in DSN order), the checker's probes answering "up, no lag".
func rtMockCluster(t *testing.T, dsn string) (*sql.DB, []sqlmock.Sqlmock) {
	t.Helper()
	cfg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var mocks []sqlmock.Sqlmock
	var mdbs []*sql.DB
	c, err := newConnectorWith(cfg, func(Node, string) (driver.Connector, error) { // in DSN order
		name := fmt.Sprintf("router-%s-%d", t.Name(), tableSeq.Add(1))
		mdb, mock, err := sqlmock.NewWithDSN(name, sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
		if err != nil {
			return nil, err
		}
		mocks, mdbs = append(mocks, mock), append(mdbs, mdb)
		return backend.DSNConnector{DSN: name, Drv: mdb.Driver()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.router.probeFunc = func(context.Context, *node) (time.Duration, bool, error) { return 0, true, nil }
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		db.Close()
		for i, mdb := range mdbs {
			mdb.Close()
			if err := mocks[i].ExpectationsWereMet(); err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		}
	})
	return db, mocks
}

const rtPGReadOnly = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"

func rtRow(name string) *sqlmock.Rows { return sqlmock.NewRows([]string{"n"}).AddRow(name) }

func rtScan(t *testing.T, ctx context.Context, db *sql.DB, q string, args ...any) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(ctx, q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}
