package aiodb

import (
	"database/sql/driver"
	"io"
	"reflect"
)

// roRows are rows read on a read-only session. Next reports a server-side
// read-only refusal (raised while rows stream, e.g. by nextval() on a
// PostgreSQL standby) as ErrReadOnly, and, for a query run outside a
// transaction, re-runs the query once on another node when the session's
// node fails before the first row (a standby shut down between answering
// the query and sending its rows). Every optional Rows interface is
// forwarded; where the backend rows lack one, the method answers exactly
// what database/sql assumes for a driver without it, so ColumnTypes and
// NextResultSet behave as on the raw driver.
type roRows struct {
	fwdRows
	r *router
	b *bconn
	// rerun runs the query again elsewhere after failed's node failed
	// with err; nil when the rows may not move (a transaction) or already
	// moved once.
	rerun   func(failed *bconn, err error) (driver.Rows, *bconn, error)
	started bool // a row, or the end of the rows, reached the caller
	closed  bool // Rows is closed (a failed re-run leaves the first rows closed)
}

// fwdRows wraps backend rows and forwards every optional Rows interface;
// where the backend rows lack one, the method answers exactly what
// database/sql assumes for a driver without it.
type fwdRows struct {
	driver.Rows
}

var (
	_ driver.RowsNextResultSet              = fwdRows{}
	_ driver.RowsColumnTypeScanType         = fwdRows{}
	_ driver.RowsColumnTypeDatabaseTypeName = fwdRows{}
	_ driver.RowsColumnTypeLength           = fwdRows{}
	_ driver.RowsColumnTypeNullable         = fwdRows{}
	_ driver.RowsColumnTypePrecisionScale   = fwdRows{}
)

// Next reads the next row.
func (r *roRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err == nil || err == io.EOF {
		r.started = true
		return err
	}
	if rerun := r.rerun; rerun != nil && !r.started && nodeFailure(r.b, err) {
		r.rerun = nil
		r.Close()
		rows, nb, rerr := rerun(r.b, err)
		switch {
		case rerr != nil:
			return rerr
		case rows == nil: // not retried: the caller's context is done, …
		case len(rows.Columns()) != len(dest):
			rows.Close() // another shape on the other node: give up
		default:
			r.Rows, r.b, r.closed = rows, nb, false
			return r.Next(dest)
		}
	}
	return r.r.recordOutcome(r.b, err)
}

// Close closes the backend rows once.
func (r *roRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.Rows.Close()
}

// NextResultSet forwards to the backend rows; io.EOF without the interface.
func (r *roRows) NextResultSet() error {
	r.rerun = nil // the first result set reached the caller
	return r.fwdRows.NextResultSet()
}

// HasNextResultSet forwards to the backend rows; false without the interface.
func (r fwdRows) HasNextResultSet() bool {
	n, ok := r.Rows.(driver.RowsNextResultSet)
	return ok && n.HasNextResultSet()
}

// NextResultSet forwards to the backend rows; io.EOF without the interface.
func (r fwdRows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return io.EOF
}

var anyType = reflect.TypeFor[any]()

// ColumnTypeScanType forwards; database/sql's default is the type of any.
func (r fwdRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return anyType
}

// ColumnTypeDatabaseTypeName forwards; "" without the interface.
func (r fwdRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

// ColumnTypeLength forwards; not ok without the interface.
func (r fwdRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

// ColumnTypeNullable forwards; not ok without the interface.
func (r fwdRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

// ColumnTypePrecisionScale forwards; not ok without the interface.
func (r fwdRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

// closeHookRows are a write's rows (INSERT … RETURNING outside a
// transaction), which commits when they are read: closed runs once they
// are closed, to record the replication position (consistency.go).
type closeHookRows struct {
	fwdRows
	closed func()
}

// Close closes the backend rows, then runs closed.
func (r *closeHookRows) Close() error {
	err := r.Rows.Close()
	if f := r.closed; f != nil && err == nil {
		r.closed = nil
		f()
	}
	return err
}
