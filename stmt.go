package aiodb

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// stmt is a statement prepared on one backend connection (the node its
// query was routed to). Arguments are mapped through the statement's rewrite.
type stmt struct {
	conn     *conn
	b        *bconn
	si       driver.Stmt
	rw       *sqltext.Rewrite // nil when the query was prepared verbatim
	query    string           // the caller's query, for the transaction guard
	native   string           // the query as prepared on the backend
	readOnly bool             // prepared in a replica context: Exec is refused
	reason   Reason           // why the router sent the prepare to b, for hooks
}

var (
	_ driver.Stmt              = (*stmt)(nil)
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
)

// Close closes the backend statement.
func (s *stmt) Close() error { return s.si.Close() }

// NumInput is the number of arguments the caller's query takes, which
// differs from the backend statement's when $N placeholders are reused or
// reordered for a ? backend.
func (s *stmt) NumInput() int {
	if s.rw == nil {
		return s.si.NumInput()
	}
	return s.rw.NumInput
}

// CheckNamedValue asks the backend statement's checker, then the backend
// connection's; database/sql would consult only the first it finds on the
// wrapper, so the wrapper must fall back itself.
func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ck, ok := s.si.(driver.NamedValueChecker); ok {
		return ck.CheckNamedValue(nv)
	}
	if s.b.checker != nil {
		return s.b.checker.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (s *stmt) args(args []driver.NamedValue) ([]driver.NamedValue, error) {
	if s.rw == nil {
		return args, nil
	}
	return s.rw.Args(args)
}

// ExecContext runs the statement; in a replica context it is refused.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	start := s.conn.track(s.reason)
	r, b, err := s.exec(ctx, args)
	s.conn.observe(ctx, OpStmtExec, s.query, s.native, args, b, r, start, err)
	return r, err
}

// exec runs the statement and returns the connection it was sent on (nil
// when it was refused first).
func (s *stmt) exec(ctx context.Context, args []driver.NamedValue) (driver.Result, *bconn, error) {
	if s.readOnly {
		return nil, nil, fmt.Errorf("%w: Exec of a statement prepared in a replica context", ErrReadOnly)
	}
	if err := s.conn.txGuard(s.query); err != nil {
		return nil, nil, err
	}
	nargs, err := s.args(args)
	if err != nil {
		return nil, nil, err
	}
	r, err := stmtExec(ctx, s.si, nargs)
	s.conn.txCheck(s.b, err)
	if old := s.b.node; s.conn.refusedWrite(ctx, s.b, err) { // the primary moved: send it there, once
		if nb, perr := s.conn.primaryConn(ctx); perr == nil && s.move(ctx, nb) == nil {
			s.conn.rt.retried(old, err)
			r, err = stmtExec(ctx, s.si, nargs)
		}
	}
	err = s.conn.primaryLost(ctx, s.b, err, true)
	if err == nil && s.conn.tx == nil && s.b == s.conn.primary {
		s.conn.noteWrite(ctx, s.b) // read-your-writes
	}
	return r, s.b, s.conn.hideBadConn(s.conn.connector.router.recordOutcome(s.b, s.b.recordBadConn(err)))
}

// QueryContext runs the statement and returns the backend's rows. A read
// on a read-only session outside a transaction whose node fails before
// answering (or before its first row) runs once more on another node,
// where the statement is prepared again and then stays.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	start := s.conn.track(s.reason)
	rows, b, err := s.queryRows(ctx, args)
	s.conn.observe(ctx, OpStmtQuery, s.query, s.native, args, b, nil, start, err)
	return rows, err
}

// queryRows runs the statement and returns its rows and the connection
// that served them (nil when it was refused first).
func (s *stmt) queryRows(ctx context.Context, args []driver.NamedValue) (driver.Rows, *bconn, error) {
	if err := s.conn.txGuard(s.query); err != nil {
		return nil, nil, err
	}
	nargs, err := s.args(args)
	if err != nil {
		return nil, nil, err
	}
	run := func(b *bconn) (driver.Rows, error) {
		if err := s.move(ctx, b); err != nil {
			return nil, err
		}
		rows, err := stmtQuery(ctx, s.si, nargs)
		return rows, b.recordBadConn(err)
	}
	rows, b, err := retryOnce(ctx, s.conn, s.b, run)
	s.conn.txCheck(b, err)
	if err != nil {
		return nil, b, s.conn.hideBadConn(s.conn.connector.router.recordOutcome(b, err))
	}
	return s.conn.readRows(ctx, b, rows, run), b, nil
}

// move prepares the statement again on b, unless it is there already, and
// closes it where it was: its node failed, or stopped being the primary.
func (s *stmt) move(ctx context.Context, b *bconn) error {
	if b == s.b {
		return nil
	}
	si, err := b.prepare(ctx, s.native)
	if err != nil {
		return err
	}
	s.si.Close()
	s.b, s.si = b, si
	return nil
}

// Exec is never called by database/sql (ExecContext exists); it is there
// because driver.Stmt requires it.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), valuesToNamed(args))
}

// Query is never called by database/sql (QueryContext exists); it is there
// because driver.Stmt requires it.
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), valuesToNamed(args))
}

func valuesToNamed(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}
