package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// profile is what aiodb knows about the SQL a backend speaks.
type profile struct {
	syntax   sqltext.Syntax    // how the server lexes SQL
	bind     sqltext.BindStyle // the driver's native placeholders
	readOnly string            // makes a session read-only; "" when the server has no such setting
	// state returns one row: whether the server is read-only (NULL when it
	// cannot say) and its version. CheckTopology runs it; "" when the
	// server has no such query.
	state string
	// savepoints says whether nested transactions are supported, and
	// scopedReadOnly whether SET TRANSACTION READ ONLY can be scoped to one.
	savepoints, scopedReadOnly bool
	// pgxOptions says leading arguments may be pgx options (QueryExecMode,
	// QueryResultFormats[ByOID], QueryRewriter such as pgx.NamedArgs), which
	// pgx consumes before binding and so are not placeholders.
	pgxOptions bool
	// checker checks arguments without a connection, when the backend
	// driver's checker needs none (pgx); nil otherwise.
	checker driver.NamedValueChecker
	// writePos returns the primary's replication position after a write on
	// the same session, and replayedPos a replica's replayed position
	// (consistency.go); "" without replication positions.
	writePos, replayedPos string
}

// options counts the leading backend-option arguments and reports whether
// one of them rewrites the query itself.
func (p profile) options(args []driver.NamedValue) (lead int, rewriter bool) {
	if !p.pgxOptions {
		return 0, false
	}
	for _, a := range args {
		switch a.Value.(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
		case pgx.QueryRewriter:
			rewriter = true
		default:
			return lead, rewriter
		}
		lead++
	}
	return lead, rewriter
}

// profileFor returns the profile of a DSN's backend.
func profileFor(cfg *Config) profile {
	o := cfg.Options
	switch cfg.Dialect {
	case PostgreSQL:
		return profile{syntax: sqltext.Syntax{Dialect: PostgreSQL}, bind: sqltext.BindDollar, pgxOptions: true, checker: pgChecker,
			readOnly: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", savepoints: true, scopedReadOnly: true,
			state:    "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool, 'PostgreSQL ' || current_setting('server_version')",
			writePos: pgWritePos, replayedPos: pgReplayedPos}
	case MySQL:
		return profile{syntax: sqltext.Syntax{Dialect: MySQL, NoBackslashEscapes: o.NoBackslashEscapes, ANSIQuotes: o.ANSIQuotes},
			bind: sqltext.BindQuestion, readOnly: "SET SESSION TRANSACTION READ ONLY", savepoints: true,
			state:    "SELECT @@global.read_only, @@version",
			writePos: mysqlWritePos, replayedPos: mysqlReplayedPos}
	case SQLite:
		return profile{syntax: sqltext.Syntax{Dialect: SQLite}, bind: sqltext.BindQuestionN, readOnly: "PRAGMA query_only = ON", savepoints: true,
			state: "SELECT NULL, 'SQLite ' || sqlite_version()"}
	}
	// ODBC: lex as the server behind it does, bind with ?.
	if o.ODBCDialect == ODBC {
		return profile{syntax: sqltext.Syntax{Dialect: ODBC}, bind: sqltext.BindQuestion}
	}
	p := profileFor(&Config{Dialect: o.ODBCDialect, Options: o})
	p.bind, p.pgxOptions, p.checker = sqltext.BindQuestion, false, nil
	p.writePos, p.replayedPos = "", "" // the node URLs say nothing of replication behind ODBC
	return p
}

// odbcDriver is alexbrainman/odbc's driver when the package is built with
// -tags odbc (backend_odbc.go), and nil otherwise.
var odbcDriver driver.Driver

// dsnConnector connects a driver that has no Connector of its own.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.drv.Open(c.dsn)
}

func (c dsnConnector) Driver() driver.Driver { return c.drv }

// backendConnector makes the backend driver's connector for one node.
// memDB names the shared in-memory SQLite database of an empty SQLite path.
func backendConnector(d Dialect, n Node, memDB string) (driver.Connector, error) {
	switch d {
	case PostgreSQL:
		cc, err := pgx.ParseConfig(n.backend)
		if err != nil {
			return nil, n.scrub(err)
		}
		return stdlib.GetConnector(*cc), nil
	case MySQL:
		mc, err := parseMySQLDSN(n.backend)
		if err != nil {
			return nil, n.scrub(err)
		}
		return mysql.NewConnector(mc)
	case SQLite:
		dsn := n.backend
		if dsn[0] == '?' {
			// The memdb VFS shares one database between the connections that name it.
			dsn = "file:/" + memDB + "?vfs=memdb&" + dsn[1:]
		}
		c, err := sqlite.NewConnector(dsn)
		if err != nil {
			return nil, n.scrub(err)
		}
		return c, nil
	}
	if odbcDriver == nil {
		return nil, fmt.Errorf("%w: %s: the ODBC backend is not in this build; build with -tags odbc (needs cgo and unixODBC: apt-get install unixodbc-dev)", ErrBadDSN, n.URL)
	}
	return dsnConnector{n.backend, odbcDriver}, nil
}

// parseMySQLDSN is mysql.ParseDSN with its panic (on the parameter strict,
// removed from go-sql-driver) returned as an error.
func parseMySQLDSN(dsn string) (cfg *mysql.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return mysql.ParseDSN(dsn)
}

// scrub turns a backend's DSN parse error into an ErrBadDSN error that
// cannot show the password: backend parsers quote what they were given.
func (n Node) scrub(err error) error {
	msg := err.Error()
	if n.secret != "" {
		msg = strings.ReplaceAll(msg, n.secret, "xxxxx")
	}
	return fmt.Errorf("%w: %s: %s", ErrBadDSN, n.URL, msg)
}

// bconn is one physical backend connection with its optional interfaces
// looked up once. Its methods adapt drivers that only have the legacy
// interfaces the way database/sql's ctxutil.go does.
type bconn struct {
	driver.Conn
	node *node

	execer    driver.ExecerContext
	queryer   driver.QueryerContext
	preparer  driver.ConnPrepareContext
	beginner  driver.ConnBeginTx
	checker   driver.NamedValueChecker
	resetter  driver.SessionResetter
	validator driver.Validator
	pinger    driver.Pinger
	// broken is set when the backend reported driver.ErrBadConn.
	broken bool
	// readOnly is set on the read-only sessions aiodb opens (replicas, the
	// primary's read-only session): only there is a server's read-only
	// refusal reported as ErrReadOnly.
	readOnly bool
	// rollbacks counts the transactions SQLite rolled back on this
	// connection (sqlite.go); nil on other backends.
	rollbacks *atomic.Int64
	peek      *socketPeek // conncheck.go; made on first use
	// stmts caches the statements with arguments the session ran
	// (stmtcache.go); nil when the node keeps none.
	stmts *stmtCache
}

func newBconn(c driver.Conn, n *node) *bconn {
	b := &bconn{Conn: c, node: n}
	if n != nil && n.stmtCache > 0 && cachingDriver(n.backend.Driver()) {
		b.stmts = &stmtCache{max: n.stmtCache}
	}
	b.execer, _ = c.(driver.ExecerContext)
	b.queryer, _ = c.(driver.QueryerContext)
	b.preparer, _ = c.(driver.ConnPrepareContext)
	b.beginner, _ = c.(driver.ConnBeginTx)
	b.checker, _ = c.(driver.NamedValueChecker)
	b.resetter, _ = c.(driver.SessionResetter)
	b.validator, _ = c.(driver.Validator)
	b.pinger, _ = c.(driver.Pinger)
	b.watchRollbacks()
	return b
}

// flavor is the SQL dialect of the server behind b, whose rules say what
// its errors mean; ODBC (generic) when unknown.
func (b *bconn) flavor() Dialect {
	if b.node == nil {
		return ODBC
	}
	return b.node.flavor
}

// note records a backend error that condemns the connection.
func (b *bconn) note(err error) error {
	if err != nil && errors.Is(err, driver.ErrBadConn) {
		b.broken = true
	}
	return err
}

// Close closes the session's cached statements, then the session.
func (b *bconn) Close() error {
	if b.stmts != nil {
		b.stmts.clear()
	}
	return b.Conn.Close()
}

// exec runs a statement; one with arguments through the session's
// statement cache when it has one.
func (b *bconn) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 && b.stmts != nil {
		if r, ok, err := b.execCached(ctx, query, args); ok {
			return r, err
		}
	}
	if b.execer != nil {
		r, err := b.execer.ExecContext(ctx, query, args)
		return r, b.note(err)
	}
	//lint:ignore SA1019 legacy drivers (odbc) have only Execer
	if e, ok := b.Conn.(driver.Execer); ok {
		r, err := legacy(ctx, args, func(v []driver.Value) (driver.Result, error) { return e.Exec(query, v) })
		return r, b.note(err)
	}
	return nil, driver.ErrSkip
}

// execSQL runs a statement without arguments (transaction control, session
// settings), through a prepared statement when the driver has no Exec of
// its own (odbc).
func (b *bconn) execSQL(ctx context.Context, sql string) error {
	_, err := b.exec(ctx, sql, nil)
	if err != driver.ErrSkip {
		return err
	}
	s, err := b.prepare(ctx, sql)
	if err != nil {
		return err
	}
	defer s.Close()
	if se, ok := s.(driver.StmtExecContext); ok {
		_, err = se.ExecContext(ctx, nil)
	} else {
		_, err = legacy(ctx, nil, s.Exec) //lint:ignore SA1019 legacy drivers
	}
	return b.note(err)
}

// query runs a query; one with arguments through the session's statement
// cache when it has one.
func (b *bconn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 && b.stmts != nil {
		if rows, ok, err := b.queryCached(ctx, query, args); ok {
			return rows, err
		}
	}
	if b.queryer != nil {
		r, err := b.queryer.QueryContext(ctx, query, args)
		return r, b.note(err)
	}
	//lint:ignore SA1019 legacy drivers have only Queryer
	if q, ok := b.Conn.(driver.Queryer); ok {
		r, err := legacy(ctx, args, func(v []driver.Value) (driver.Rows, error) { return q.Query(query, v) })
		return r, b.note(err)
	}
	return nil, driver.ErrSkip
}

func (b *bconn) prepare(ctx context.Context, query string) (driver.Stmt, error) {
	if b.preparer != nil {
		s, err := b.preparer.PrepareContext(ctx, query)
		return s, b.note(err)
	}
	s, err := b.Conn.Prepare(query)
	if err == nil && ctx.Err() != nil {
		s.Close()
		return nil, ctx.Err()
	}
	return s, b.note(err)
}

func (b *bconn) begin(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b.beginner != nil {
		t, err := b.beginner.BeginTx(ctx, opts)
		return t, b.note(err)
	}
	// ctxutil.go: a legacy driver cannot honour options, so refuse them.
	if opts.Isolation != driver.IsolationLevel(0) {
		return nil, errors.New("sql: driver does not support non-default isolation level")
	}
	if opts.ReadOnly {
		return nil, errors.New("sql: driver does not support read-only transactions")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := b.Conn.Begin() //lint:ignore SA1019 legacy drivers have only Begin
	return t, b.note(err)
}

func (b *bconn) ping(ctx context.Context) error {
	if b.pinger == nil {
		return nil
	}
	return b.note(b.pinger.Ping(ctx))
}

func (b *bconn) reset(ctx context.Context) error {
	if b.broken || b.serverClosed() {
		return driver.ErrBadConn
	}
	if b.resetter == nil {
		return nil
	}
	return b.note(b.resetter.ResetSession(ctx))
}

func (b *bconn) valid() bool {
	if b.broken {
		return false
	}
	if b.validator != nil {
		return b.validator.IsValid()
	}
	if pc, ok := b.Conn.(*stdlib.Conn); ok {
		return !pc.Conn().IsClosed()
	}
	return true
}

// namedValuesToValues is database/sql's conversion for legacy drivers,
// which cannot take named arguments.
func namedValuesToValues(named []driver.NamedValue) ([]driver.Value, error) {
	args := make([]driver.Value, len(named))
	for n, param := range named {
		if len(param.Name) > 0 {
			return nil, errors.New("sql: driver does not support the use of Named Parameters")
		}
		args[n] = param.Value
	}
	return args, nil
}
