// Package aiodb is a Go database/sql driver that puts PostgreSQL (pgx),
// MySQL/MariaDB (go-sql-driver/mysql), SQLite (modernc.org/sqlite, pure Go,
// the embedded default) and ODBC (alexbrainman/odbc, build tag odbc) behind
// one driver name, "aiodb", and adds what those drivers lack: a multi-URL DSN
// with read replicas, placeholder rewriting ($1, ? and %s on every backend),
// per-statement replica routing with read-only enforcement, and nested
// transactions on SAVEPOINTs. On top of it sit helpers in the spirit of the
// Python library aio-databases.
//
//	db, err := sql.Open("aiodb", "postgres://app:secret@primary/shop postgres://app:secret@replica/shop")
//
// The README and the docs directory of the repository explain the DSN,
// placeholders, replicas, nested transactions and the helpers; [Open]
// returns a [DB] with the helpers.
//
// # Driver contract
//
// The driver implements [driver.DriverContext]; the DSN is parsed once per
// *sql.DB (see [ParseDSN] for its grammar). Its connector implements
// [io.Closer], so sql.DB.Close stops background health checks.
//
// Every connection implements [driver.ExecerContext], [driver.QueryerContext],
// [driver.ConnPrepareContext], [driver.ConnBeginTx], [driver.Pinger],
// [driver.NamedValueChecker], [driver.SessionResetter] and [driver.Validator].
// Each forwards to the backend connection when it has the interface and
// otherwise behaves exactly as database/sql would without it: Exec and Query
// return [driver.ErrSkip] (unwrapped) so database/sql prepares instead,
// CheckNamedValue returns driver.ErrSkip so the default converter runs, legacy
// Begin/Exec/Query are adapted as database/sql's own ctxutil does, Ping of a
// backend without Pinger succeeds. IsValid and ResetSession also report a
// connection whose transaction state aiodb cannot vouch for. Rows and
// results are the backend's own values, so ColumnTypes, NextResultSet and
// driver extensions such as mysql.Result behave as on the raw driver. Rows
// are wrapped (every optional interface forwarded) only where aiodb needs
// to see them: read on a read-only session, to report server-side read-only
// refusals as [ErrReadOnly] and to re-run a read whose node fails before
// its first row; from the statement cache, which keeps their statement until
// they close; and a write's rows under read-your-writes, which record the
// replication position once closed. A connection returned by sql.Conn.Raw
// implements Unwrap() driver.Conn, which returns the primary backend
// connection, opening it if needed (nil when the primary cannot be reached).
//
// Errors wrap one of the sentinels in errors.go and keep backend errors
// reachable with errors.As. aiodb never returns driver.ErrBadConn where
// database/sql could deadlock or retry unsafely.
package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/aiodb/aiodb/internal/sqltext"

	"github.com/aiodb/aiodb/internal/backend"
)

// DriverName is the name under which the driver registers itself.
const DriverName = "aiodb"

func init() {
	sql.Register(DriverName, Driver{})
}

// Driver is the aiodb driver. Its zero value is ready to use; database/sql
// has it registered as "aiodb". The Driver that a *sql.DB's Driver method
// returns also knows that DB's connector, which is how Stats finds it.
type Driver struct {
	c *connector
}

// connectorOf returns the connector of db, which what (a function's name,
// for the error) needs opened with aiodb.
func connectorOf(db *sql.DB, what string) (*connector, error) {
	d, ok := db.Driver().(Driver)
	if !ok || d.c == nil {
		return nil, fmt.Errorf("aiodb: %s of a *sql.DB whose driver is %T, not aiodb's", what, db.Driver())
	}
	return d.c, nil
}

var (
	_ driver.Driver        = Driver{}
	_ driver.DriverContext = Driver{}
)

// Open opens one connection; database/sql uses OpenConnector instead.
func (d Driver) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	defer c.(*connector).Close()
	return c.Connect(context.Background())
}

// OpenConnector parses dsn once and returns a connector for it.
func (Driver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return newConnector(cfg)
}

// NewConnector returns a connector for sql.OpenDB from a parsed DSN (see
// [ParseDSN]), with the same options as [Open]: a logger and hooks. The
// pool-size options ([MaxOpen], [MaxIdle]) set a *sql.DB, which a
// connector does not have: give them to [Config.ApplyPool]'s *sql.DB
// yourself, or use Open. Errors wrap ErrBadDSN.
func NewConnector(cfg *Config, opts ...Option) (driver.Connector, error) {
	c, err := newConnector(cfg)
	if err != nil {
		return nil, err
	}
	c.apply(openOptionsOf(opts))
	return c, nil
}

// connector is the parsed DSN and the state every connection of one *sql.DB
// shares: backend connectors, the rewrite cache, replica health.
type connector struct {
	cfg      *Config
	prof     backend.Profile
	primary  *node
	replicas []*node
	// checker is the backend connections' argument checker (nil inside
	// when they have none), from the profile or from the first connection
	// opened, on any node: it depends on the driver alone, not the session.
	// nil until it is known.
	checker atomic.Pointer[driver.NamedValueChecker]
	written watermark // the newest primary position recorded after a write (consistency.go)
	cache   *sqltext.RewriteCache
	classes *sqltext.Cache[sqltext.StmtInfo]
	router  *router
	log     *slog.Logger // nil: no logging (log.go)
	// hooks observe every statement (hook.go); nil when there are none.
	hooks atomic.Pointer[[]Hook]

	// memKeeper holds the shared in-memory SQLite database open while the
	// *sql.DB lives, even when the pool has no idle connection.
	memMu     sync.Mutex
	memKeeper driver.Conn
}

var memDBCounter atomic.Uint64

// profileFor returns the profile of a DSN's backend.
func profileFor(cfg *Config) backend.Profile {
	o := cfg.Settings
	return backend.ProfileFor(cfg.Dialect, backend.Settings{NoBackslashEscapes: o.NoBackslashEscapes, ANSIQuotes: o.ANSIQuotes, ODBCDialect: o.ODBCDialect})
}

// queryCacheSize is how many statement texts a connector keeps the rewrite
// and the classification of.
const queryCacheSize = 1024

// connectFunc makes the backend connector of one node of a DSN; memDB
// names the shared in-memory SQLite database.
type connectFunc func(n Node, memDB string) (driver.Connector, error)

// newConnector makes the connector of cfg, whose nodes reach their servers
// through the backend package.
func newConnector(cfg *Config) (*connector, error) {
	return newConnectorWith(cfg, func(n Node, memDB string) (driver.Connector, error) {
		return backend.Connector(cfg.Dialect, n.backend, memDB)
	})
}

// newConnectorWith makes the connector of cfg, whose nodes reach their
// servers through connect (tests give fakes here).
func newConnectorWith(cfg *Config, connect connectFunc) (*connector, error) {
	c := &connector{cfg: cfg, prof: profileFor(cfg)}
	if c.prof.Checker != nil {
		c.checker.Store(&c.prof.Checker)
	}
	memDB := fmt.Sprintf("aiodb-%d-%d", os.Getpid(), memDBCounter.Add(1))
	mk := func(n Node, primary bool) (*node, error) {
		bc, err := connect(n, memDB)
		if errors.Is(err, backend.ErrNoODBC) {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadDSN, n.URL, err)
		} else if err != nil {
			return nil, n.scrub(err)
		}
		nd := &node{Node: n, primary: primary, flavor: c.prof.Syntax.Dialect, backend: bc, stmtCache: stmtCacheSize(cfg, n)}
		nd.host, nd.port, nd.database = address(cfg.Dialect, n.URL)
		return nd, nil
	}
	var err error
	if c.primary, err = mk(cfg.Primary, true); err != nil {
		return nil, err
	}
	for _, r := range cfg.Replicas {
		n, err := mk(r, false)
		if err != nil {
			return nil, err
		}
		c.replicas = append(c.replicas, n)
	}
	c.cache = sqltext.NewRewriteCache(c.prof.Syntax, c.prof.Bind, queryCacheSize)
	c.classes = sqltext.NewCache(queryCacheSize, func(q string) sqltext.StmtInfo { return sqltext.Classify(q, c.prof.Syntax) })
	c.router = newRouter(c)
	return c, nil
}

// Connect returns a new aiodb connection. It dials nothing: the primary
// session is opened by the first statement that needs the primary, and a
// replica session by the first statement routed to that replica, so a
// connection that only serves replica reads works while the primary is
// down.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := c.keepMemDB(ctx); err != nil {
		return nil, err
	}
	return &conn{connector: c}, nil
}

// newBconn wraps raw, a backend connection to n, and keeps its argument
// checker, or that it has none, for the connections that have opened none
// yet: the checker depends on the backend driver alone, not on the session.
func (c *connector) newBconn(raw driver.Conn, n *node) *bconn {
	b := newBconn(raw, n)
	if c.checker.Load() == nil {
		ck := b.checker
		c.checker.CompareAndSwap(nil, &ck)
	}
	return b
}

// keepMemDB opens the keeper connection of an in-memory SQLite database.
func (c *connector) keepMemDB(ctx context.Context) error {
	if !backend.SharedMemDB(c.cfg.Dialect, c.cfg.Primary.backend) {
		return nil
	}
	c.memMu.Lock()
	defer c.memMu.Unlock()
	if c.memKeeper != nil {
		return nil
	}
	k, err := c.primary.backend.Connect(ctx)
	if err != nil {
		return c.primary.connectError(err)
	}
	c.memKeeper = k
	return nil
}

// Driver returns the aiodb driver.
func (c *connector) Driver() driver.Driver { return Driver{c: c} }

// Close stops background checks and drops the in-memory SQLite database;
// sql.DB.Close calls it.
func (c *connector) Close() error {
	c.router.close()
	c.memMu.Lock()
	defer c.memMu.Unlock()
	if c.memKeeper != nil {
		err := c.memKeeper.Close()
		c.memKeeper = nil
		return err
	}
	return nil
}

// classify classifies a statement with the backend's SQL syntax (cached).
func (c *connector) classify(query string) sqltext.StmtInfo { return c.classes.Get(query) }

// rewrite maps a query and its arguments to the backend's native form. A
// query without arguments is returned verbatim (unless its backend would
// misread its placeholders: sqltext.RewriteCache.Argless), and so is one whose pgx
// options include a QueryRewriter (pgx.NamedArgs), which owns the text.
func (c *connector) rewrite(query string, args []driver.NamedValue) (string, []driver.NamedValue, error) {
	lead, rewriter := c.prof.Options(args)
	if len(args) == lead || rewriter {
		if len(args) == 0 && c.prof.Bind != sqltext.BindDollar {
			if err := c.cache.Argless(query); err != nil {
				return "", nil, err
			}
		}
		return query, args, nil
	}
	rw, err := c.cache.Get(query)
	if err != nil {
		return "", nil, err
	}
	nargs, err := bindArgs(rw, args, lead)
	return rw.Query, nargs, err
}

// bindArgs maps args through rw, keeping the first lead arguments (backend
// options) in front, untouched and uncounted.
func bindArgs(rw *sqltext.Rewrite, args []driver.NamedValue, lead int) ([]driver.NamedValue, error) {
	if lead == 0 {
		return rw.Args(args)
	}
	nargs, err := rw.Args(args[lead:])
	if err != nil || (len(nargs) > 0 && &nargs[0] == &args[lead]) {
		return args, err
	}
	return append(args[:lead:lead], nargs...), nil
}
