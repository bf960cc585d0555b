package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/aiodb/aiodb/internal/backend"
)

// The statement cache. go-sql-driver/mysql (without interpolateParams)
// answers a statement with arguments by preparing it, running it and
// closing it: three round trips. modernc prepares and finalizes every
// statement. Each backend session of MySQL/MariaDB and SQLite therefore
// keeps the statements it ran, keyed by their native text, and runs them
// again through the prepared statement: one round trip, the server still
// binding the values. On MySQL only statements with arguments are kept
// (one without goes as text in one round trip); on SQLite every statement,
// the savepoints aiodb sends included, but not one-off text without
// arguments longer than maxArglessText. The cache is bounded (least recently
// used first out), belongs to one session (a new session starts empty, so a
// statement of a session that died is never reused), and is closed with it.
// A statement the server calls stale is prepared again once; a session that
// failed drops its cache. Statements the program prepares itself are never
// cached: they are the program's to close.

// defaultStmtCache is how many statements a session keeps when the DSN does
// not say (aiodb_stmt_cache). 255 sessions of 64 statements stay under
// MySQL's default max_prepared_stmt_count of 16382.
const defaultStmtCache = 64

// maxArglessText is the longest statement without arguments a SQLite
// session caches: longer ones are most often generated once (a bulk INSERT
// with its values written in), and would hold their text until evicted.
const maxArglessText = 4 << 10

// stmtCacheSize is the number of statements a session on n keeps: the
// DSN's aiodb_stmt_cache on MySQL/MariaDB and SQLite, 0 (no cache) on the
// other backends and on a MySQL node with interpolateParams=true, whose
// statements already take one round trip.
func stmtCacheSize(cfg *Config, n Node) int {
	if backend.CachesStatements(cfg.Dialect, n.backend) {
		return cfg.Settings.StmtCache
	}
	return 0
}

// stmtCache is one session's prepared statements, most recently used first.
// database/sql serialises calls on a session, so it needs no lock.
type stmtCache struct {
	max        int
	argless    bool                   // statements without arguments are kept too (SQLite)
	m          map[string]*cachedStmt // made on first use
	head, tail *cachedStmt
}

// cachedStmt is one prepared statement of a stmtCache.
type cachedStmt struct {
	text       string // the native query, its key
	si         driver.Stmt
	execer     driver.StmtExecContext  // both set: backend.CachingDriver admits only
	queryer    driver.StmtQueryContext // drivers whose statements have them
	prev, next *cachedStmt
	// rows are the statement's open rows: the statement is busy while
	// rows.Rows is set. Kept here, so a query allocates no wrapper.
	rows cachedRows
	// dropped is set when the statement left the cache while busy: it is
	// closed when its rows are.
	dropped bool
}

// keeps reports whether query, run with args, goes through the cache; c
// may be nil (no cache).
func (c *stmtCache) keeps(query string, args []driver.NamedValue) bool {
	return c != nil && (len(args) > 0 || c.argless && len(query) <= maxArglessText)
}

// get returns the statement of query, marking it most recently used; nil
// when the cache has none.
func (c *stmtCache) get(query string) *cachedStmt {
	s := c.m[query]
	if s != nil && s != c.head {
		c.unlink(s)
		c.push(s)
	}
	return s
}

// add caches si, prepared from query, making room first.
func (c *stmtCache) add(query string, si driver.Stmt) *cachedStmt {
	for len(c.m) >= c.max && c.evict() {
	}
	s := &cachedStmt{text: query, si: si}
	s.execer, _ = si.(driver.StmtExecContext)
	s.queryer, _ = si.(driver.StmtQueryContext)
	s.rows.s = s
	if c.m == nil {
		c.m = make(map[string]*cachedStmt, min(c.max, 16))
	}
	c.m[query] = s
	c.push(s)
	return s
}

// evict drops the least recently used statement; false when there is none.
func (c *stmtCache) evict() bool {
	if c.tail == nil {
		return false
	}
	c.drop(c.tail)
	return true
}

// drop removes s from the cache and closes it, or, while its rows are open,
// leaves it to them to close.
func (c *stmtCache) drop(s *cachedStmt) {
	c.unlink(s)
	delete(c.m, s.text)
	if s.rows.Rows != nil {
		s.dropped = true
		return
	}
	s.si.Close() // nothing to do about a failure: the statement is gone either way
}

// clear drops every statement.
func (c *stmtCache) clear() {
	for c.evict() {
	}
}

func (c *stmtCache) push(s *cachedStmt) {
	s.prev, s.next = nil, c.head
	if c.head != nil {
		c.head.prev = s
	}
	c.head = s
	if c.tail == nil {
		c.tail = s
	}
}

func (c *stmtCache) unlink(s *cachedStmt) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		c.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		c.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

// cachedRows are the open rows of a cached statement.
type cachedRows struct {
	fwdRows
	s *cachedStmt
}

// Close closes the backend rows and frees the statement for the next
// query, or closes it when it left the cache meanwhile.
func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.Rows = nil
	if r.s.dropped {
		return errors.Join(err, r.s.si.Close())
	}
	return err
}

// stmt returns the cached statement of query, preparing it if needed; nil
// (and no error) when the session cannot use its cache now: it broke, or
// the statement is busy with open rows of an earlier query. When the server
// has reached its limit of prepared statements (MySQL's
// max_prepared_stmt_count) the least recently used statement is closed
// and the statement prepared once more.
func (b *bconn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if b.broken {
		b.stmts.clear()
		return nil, nil
	}
	if s := b.stmts.get(query); s != nil {
		if s.rows.Rows != nil {
			return nil, nil
		}
		return s, nil
	}
	si, err := b.prepare(ctx, query)
	if err != nil && b.tooManyStmts(err) && b.stmts.evict() {
		si, err = b.prepare(ctx, query)
	}
	if err != nil {
		return nil, err
	}
	return b.stmts.add(query, si), nil
}

// tooManyStmts reports whether the server refused to prepare a statement
// because it holds as many as it allows.
func (b *bconn) tooManyStmts(err error) bool {
	e, ok := backend.MySQLErrorOf(err)
	return ok && e.Number == backend.MyErrMaxPreparedStmts
}

// staleStmt reports whether err says that s no longer matches the schema
// (the server wants it prepared again) or is unknown to the server; s is
// then dropped from the cache.
func (b *bconn) staleStmt(s *cachedStmt, err error) bool {
	stale := false
	if e, ok := backend.MySQLErrorOf(err); ok {
		stale = e.Number == backend.MyErrNeedReprepare || e.Number == backend.MyErrUnknownStmt
	} else if e, ok := backend.SQLiteErrorOf(err); ok {
		stale = e.Number&0xff == backend.SQLiteSchema
	}
	if stale && b.stmts.m[s.text] == s {
		b.stmts.drop(s)
	}
	return stale
}

// failedStmt handles the error of a cached statement: when the session
// failed, its statements are dropped, never to be used again.
func (b *bconn) failedStmt(err error) error {
	err = b.recordBadConn(err)
	if err != nil && (b.broken || backend.LinkFailure(err) || !b.valid()) {
		b.stmts.clear()
	}
	return err
}

// execCached runs query through the session's cached statement; ok is
// false when the cache could not serve it (see stmt).
func (b *bconn) execCached(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, bool, error) {
	return runCached(ctx, b, query, func(s *cachedStmt) (driver.Result, error) { return s.execer.ExecContext(ctx, args) })
}

// queryCached is execCached for a query. The rows keep the statement busy
// until they are closed.
func (b *bconn) queryCached(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, bool, error) {
	return runCached(ctx, b, query, func(s *cachedStmt) (driver.Rows, error) {
		rows, err := s.queryer.QueryContext(ctx, args)
		if err != nil {
			return nil, err
		}
		s.rows.Rows = rows
		return &s.rows, nil
	})
}

// runCached runs query on b's cached statement with run, preparing it again
// once when the server calls it stale; ok is false when the cache could not
// serve it (see stmt).
func runCached[T any](ctx context.Context, b *bconn, query string, run func(*cachedStmt) (T, error)) (v T, ok bool, err error) {
	for retried := false; ; retried = true {
		s, err := b.stmt(ctx, query)
		if s == nil {
			return v, err != nil, b.recordBadConn(err)
		}
		v, err = run(s)
		if err != nil && b.staleStmt(s, err) && !retried {
			continue
		}
		return v, true, b.failedStmt(err)
	}
}
