package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"github.com/aiodb/aiodb/internal/backend"
)

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
	// broken is set when the backend reported driver.ErrBadConn, or the
	// primary session's link failed (conn.primaryLost).
	broken bool
	// readOnly is set on the read-only sessions aiodb opens (replicas, the
	// primary's read-only session): only there is a server's read-only
	// refusal reported as ErrReadOnly.
	readOnly bool
	// rollbacks counts the transactions SQLite rolled back on this
	// connection (backend.WatchRollbacks); nil on other backends.
	rollbacks *atomic.Int64
	idle      backend.IdleCheck
	// stmts caches the statements the session ran (stmtcache.go); nil
	// when the node keeps none.
	stmts *stmtCache
}

func newBconn(c driver.Conn, n *node) *bconn {
	b := &bconn{Conn: c, node: n}
	if n != nil && n.stmtCache > 0 {
		if caching, argless := backend.CachingDriver(n.backend.Driver()); caching {
			b.stmts = &stmtCache{max: n.stmtCache, argless: argless}
		}
	}
	b.execer, _ = c.(driver.ExecerContext)
	b.queryer, _ = c.(driver.QueryerContext)
	b.preparer, _ = c.(driver.ConnPrepareContext)
	b.beginner, _ = c.(driver.ConnBeginTx)
	b.checker, _ = c.(driver.NamedValueChecker)
	b.resetter, _ = c.(driver.SessionResetter)
	b.validator, _ = c.(driver.Validator)
	b.pinger, _ = c.(driver.Pinger)
	b.rollbacks = backend.WatchRollbacks(c)
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

// recordBadConn records a backend error that condemns the connection.
func (b *bconn) recordBadConn(err error) error {
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

// exec runs a statement, through the session's statement cache when it
// keeps this one.
func (b *bconn) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if b.stmts.keeps(query, args) {
		if r, ok, err := b.execCached(ctx, query, args); ok {
			return r, err
		}
	}
	if b.execer != nil {
		r, err := b.execer.ExecContext(ctx, query, args)
		return r, b.recordBadConn(err)
	}
	//lint:ignore SA1019 legacy drivers (odbc) have only Execer
	if e, ok := b.Conn.(driver.Execer); ok {
		r, err := legacy(ctx, args, func(v []driver.Value) (driver.Result, error) { return e.Exec(query, v) })
		return r, b.recordBadConn(err)
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
	_, err = stmtExec(ctx, s, nil)
	return b.recordBadConn(err)
}

// query runs a query, through the session's statement cache when it keeps
// this one.
func (b *bconn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if b.stmts.keeps(query, args) {
		if rows, ok, err := b.queryCached(ctx, query, args); ok {
			return rows, err
		}
	}
	if b.queryer != nil {
		r, err := b.queryer.QueryContext(ctx, query, args)
		return r, b.recordBadConn(err)
	}
	//lint:ignore SA1019 legacy drivers have only Queryer
	if q, ok := b.Conn.(driver.Queryer); ok {
		r, err := legacy(ctx, args, func(v []driver.Value) (driver.Rows, error) { return q.Query(query, v) })
		return r, b.recordBadConn(err)
	}
	return nil, driver.ErrSkip
}

func (b *bconn) prepare(ctx context.Context, query string) (driver.Stmt, error) {
	if b.preparer != nil {
		s, err := b.preparer.PrepareContext(ctx, query)
		return s, b.recordBadConn(err)
	}
	s, err := b.Conn.Prepare(query)
	if err == nil && ctx.Err() != nil {
		s.Close()
		return nil, ctx.Err()
	}
	return s, b.recordBadConn(err)
}

func (b *bconn) begin(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b.beginner != nil {
		t, err := b.beginner.BeginTx(ctx, opts)
		return t, b.recordBadConn(err)
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
	return t, b.recordBadConn(err)
}

func (b *bconn) ping(ctx context.Context) error {
	if b.pinger == nil {
		return nil
	}
	return b.recordBadConn(b.pinger.Ping(ctx))
}

func (b *bconn) reset(ctx context.Context) error {
	if b.broken || b.serverClosed() {
		return driver.ErrBadConn
	}
	if b.resetter == nil {
		return nil
	}
	return b.recordBadConn(b.resetter.ResetSession(ctx))
}

func (b *bconn) valid() bool {
	if b.broken {
		return false
	}
	if b.validator != nil {
		return b.validator.IsValid()
	}
	return !backend.Closed(b.Conn)
}

// serverClosed reports whether the server closed b while it was idle
// (backend.IdleCheck.ServerClosed).
func (b *bconn) serverClosed() bool { return b.idle.ServerClosed(b.Conn) }

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

// nodeFailure reports whether err, returned by a statement on b, means that
// b's node or session failed (refused, reset, shut down, unreachable), as
// opposed to the server refusing or failing the statement itself.
func nodeFailure(b *bconn, err error) bool {
	if err == nil || err == driver.ErrSkip || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if e, ok := backend.ErrorOf(err, b.flavor()); ok {
		return e.NodeFailure()
	}
	return backend.LinkFailure(err) || b.broken || !b.valid()
}

// readOnlyRefusal reports whether the server refused a write because the
// session, transaction or server is read-only.
func readOnlyRefusal(b *bconn, err error) bool {
	e, ok := backend.ErrorOf(err, b.flavor())
	return ok && e.ReadOnly()
}

// stmtExec runs a prepared statement, through its legacy Exec when the
// driver has no ExecContext.
func stmtExec(ctx context.Context, si driver.Stmt, args []driver.NamedValue) (driver.Result, error) {
	if se, ok := si.(driver.StmtExecContext); ok {
		return se.ExecContext(ctx, args)
	}
	return legacy(ctx, args, si.Exec) //lint:ignore SA1019 legacy drivers
}

// stmtQuery runs a prepared query, through its legacy Query when the driver
// has no QueryContext.
func stmtQuery(ctx context.Context, si driver.Stmt, args []driver.NamedValue) (driver.Rows, error) {
	if sq, ok := si.(driver.StmtQueryContext); ok {
		return sq.QueryContext(ctx, args)
	}
	return legacy(ctx, args, si.Query) //lint:ignore SA1019 legacy drivers
}

// legacy runs a legacy Stmt method the way database/sql's ctxutil does.
func legacy[T any](ctx context.Context, args []driver.NamedValue, call func([]driver.Value) (T, error)) (T, error) {
	var zero T
	vals, err := namedValuesToValues(args)
	if err != nil {
		return zero, err
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	return call(vals)
}
