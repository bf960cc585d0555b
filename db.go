package aiodb

import (
	"database/sql"
	"log/slog"
	"time"

	"github.com/aiodb/aiodb/internal/backend"
)

// DB is a pool of connections opened with aiodb, with the helpers of the
// Python library aio-databases: Execute, ExecuteMany, FetchAll, FetchMany,
// FetchOne, FetchVal, Iterate, and Connection, Transaction and Replica
// blocks that carry their connection in a context.Context.
//
// Every helper runs on the connection or transaction that its ctx carries
// from an enclosing block; without one it takes a connection from the pool
// for the one call. The pool is an ordinary *sql.DB ([DB.DB]), so the same
// connections also serve database/sql code, sqlc, sqlx or an ORM.
//
// A DB is safe for concurrent use. It logs nothing itself except the
// redacted DSN when it opens (see [Open]); statements are logged by the driver at debug
// level when a logger is given ([Logger]).
type DB struct {
	sql     *sql.DB
	c       *connector
	dialect Dialect        // the dialect whose column types Records decode
	loc     *time.Location // MySQL: the location DATETIME text is read in
}

// Option configures Open and NewConnector. Options are named after what they
// set (Logger, Hooks, MaxOpen…); a With… function derives a context
// (WithReplica, WithPrimary, WithReadYourWrites), as context.With… do.
type Option func(*openOptions)

type openOptions struct {
	log              *slog.Logger
	logArgs          bool
	hooks            []Hook
	maxOpen, maxIdle *int
}

// Logger sends aiodb's log to l: the redacted DSN at info level when the
// DB opens (and a note when it has no replicas), every statement at debug level (operation, query text, node,
// route reason, retries, duration, number of arguments, rows affected, error), replica health at warn level.
// The statement log is a [Hook].
// Passwords are never logged; argument values only with [LogArgs].
func Logger(l *slog.Logger) Option { return func(o *openOptions) { o.log = l } }

// LogArgs adds argument values to the statement log of [Logger].
// They may hold personal data or secrets: use it for debugging only.
func LogArgs() Option { return func(o *openOptions) { o.logArgs = true } }

// MaxOpen caps the number of open connections (sql.DB.SetMaxOpenConns);
// it overrides the DSN's aiodb_maxsize.
func MaxOpen(n int) Option { return func(o *openOptions) { o.maxOpen = &n } }

// MaxIdle sets how many idle connections the pool keeps
// (sql.DB.SetMaxIdleConns); it overrides the DSN's aiodb_minsize.
func MaxIdle(n int) Option { return func(o *openOptions) { o.maxIdle = &n } }

// Open parses dsn (see [ParseDSN]) and returns a DB over the aiodb driver.
// Like sql.Open it connects lazily: the first statement dials the primary.
// The pool takes its sizes from the DSN (aiodb_maxsize, aiodb_minsize), then
// from the options, which win. Errors wrap [ErrBadDSN].
//
// With [Logger], Open logs the redacted DSN at info level and, when the
// DSN names no replica, a second info line saying that Replica blocks and
// [WithReplica] contexts read from a read-only session on the primary: a DSN
// that lost its replicas by mistake does not go unnoticed.
func Open(dsn string, opts ...Option) (*DB, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	c, err := newConnector(cfg)
	if err != nil {
		return nil, err
	}
	o := openOptionsOf(opts)
	c.apply(o)
	db := newDB(sql.OpenDB(c), c)
	cfg.ApplyPool(db.sql)
	if o.maxOpen != nil {
		db.sql.SetMaxOpenConns(*o.maxOpen)
	}
	if o.maxIdle != nil {
		db.sql.SetMaxIdleConns(*o.maxIdle)
	}
	if o.log != nil {
		o.log.Info("aiodb: open", "dsn", cfg.String(), "dialect", cfg.Dialect.String(), "replicas", len(cfg.Replicas))
		if len(cfg.Replicas) == 0 {
			o.log.Info("aiodb: no replicas in the DSN: Replica blocks and WithReplica read from a read-only session on the primary")
		}
	}
	return db, nil
}

// openOptionsOf applies opts.
func openOptionsOf(opts []Option) openOptions {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// apply gives c the logger and hooks of o.
func (c *connector) apply(o openOptions) {
	c.log = o.log
	if o.log != nil {
		c.addHooks(logHook{log: o.log, args: o.logArgs})
	}
	if len(o.hooks) > 0 {
		c.addHooks(o.hooks...)
	}
}

// newDB wraps db, opened on a connector of cfg.
func newDB(db *sql.DB, c *connector) *DB {
	return &DB{sql: db, c: c, dialect: c.cfg.Dialect, loc: backend.Location(c.cfg.Dialect, c.cfg.Primary.backend)}
}

// FromDB returns a DB, with its helpers, over db, which must have been
// opened with aiodb (sql.Open("aiodb", …) or sql.OpenDB of a connector from
// [NewConnector]). The DB shares db's pool: closing either closes both.
func FromDB(db *sql.DB) (*DB, error) {
	c, err := connectorOf(db, "FromDB")
	if err != nil {
		return nil, err
	}
	return newDB(db, c), nil
}

// Stats reports every node of the DB's pool (see [Stats]).
func (db *DB) Stats() ([]NodeStats, error) { return Stats(db.sql) }

// DB returns the underlying *sql.DB: the pool the helpers use. Statements
// sent through it directly do not see the blocks of a context; use
// [Querier] for code that must run inside the current block. Inside a
// Transaction block on SQLite, a write through DB waits for the block's own
// lock and fails with SQLITE_BUSY: use the block's ctx (see [DB.Transaction]).
func (db *DB) DB() *sql.DB { return db.sql }

// Close closes the pool (sql.DB.Close): idle connections are closed at once,
// connections in use when they are returned. It stops the background replica
// health checks.
func (db *DB) Close() error { return db.sql.Close() }
