package aiodb

import (
	"context"
	"database/sql/driver"
	"fmt"
)

// stmt is a statement prepared on one backend connection (the node its
// query was routed to). Arguments are mapped through the statement's rewrite.
type stmt struct {
	c        *conn
	b        *bconn
	si       driver.Stmt
	rw       *rewrite // nil when the query was prepared verbatim
	query    string   // the caller's query, for the transaction guard
	native   string   // the query as prepared on the backend
	readOnly bool     // prepared in a replica context: Exec is refused
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
	return s.rw.numInput
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
	return s.rw.args(args)
}

// ExecContext runs the statement; in a replica context it is refused.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if s.readOnly {
		return nil, fmt.Errorf("%w: Exec of a statement prepared in a replica context", ErrReadOnly)
	}
	if err := s.c.txGuard(s.query); err != nil {
		return nil, err
	}
	nargs, err := s.args(args)
	if err != nil {
		return nil, err
	}
	start := s.c.c.since()
	exec := func() (driver.Result, error) {
		if se, ok := s.si.(driver.StmtExecContext); ok {
			return se.ExecContext(ctx, nargs)
		}
		return legacy(ctx, nargs, s.si.Exec) //lint:ignore SA1019 legacy drivers
	}
	r, err := exec()
	s.c.txCheck(s.b, err)
	if s.c.refusedWrite(ctx, s.b, err) { // the primary moved: send it there, once
		if nb, perr := s.c.primaryConn(ctx); perr == nil && s.move(ctx, nb) == nil {
			r, err = exec()
		}
	}
	err = s.c.primaryLost(ctx, s.b, err, true)
	if err == nil && s.c.tx == nil && s.b == s.c.primary {
		s.c.noteWrite(ctx, s.b) // consistency.go: read-your-writes
	}
	err = s.c.shield(s.c.c.router.done(s.b, s.b.note(err)))
	s.c.c.logStmt(ctx, "stmt.exec", s.query, args, s.b, start, err)
	return r, err
}

// QueryContext runs the statement and returns the backend's rows. A read
// on a read-only session outside a transaction whose node fails before
// answering (or before its first row) runs once more on another node,
// where the statement is prepared again and then stays.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.txGuard(s.query); err != nil {
		return nil, err
	}
	nargs, err := s.args(args)
	if err != nil {
		return nil, err
	}
	start := s.c.c.since()
	run := func(b *bconn) (driver.Rows, error) {
		if err := s.move(ctx, b); err != nil {
			return nil, err
		}
		if sq, ok := s.si.(driver.StmtQueryContext); ok {
			rows, err := sq.QueryContext(ctx, nargs)
			return rows, b.note(err)
		}
		rows, err := legacy(ctx, nargs, s.si.Query) //lint:ignore SA1019 legacy drivers
		return rows, b.note(err)
	}
	rows, b, err := retryOnce(ctx, s.c, s.b, run)
	s.c.txCheck(b, err)
	if err != nil {
		err = s.c.shield(s.c.c.router.done(b, err))
	}
	s.c.c.logStmt(ctx, "stmt.query", s.query, args, b, start, err)
	if err != nil {
		return nil, err
	}
	return s.c.readRows(ctx, b, rows, run), nil
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
