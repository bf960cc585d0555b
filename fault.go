package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"
)

// What a failed statement means. A backend error is read once into a
// dbError (the SQLSTATE, the native error number and the database whose
// rules say what they mean: postgres.go, mysql.go, sqlite.go, and for ODBC
// the dialect of the server behind it); errors that no server raised are
// link failures or the caller's own.

// dbError is what aiodb reads of an error a database server raised.
type dbError struct {
	flavor Dialect // whose rules apply: the server behind an ODBC driver, or ODBC for "ansi"
	state  string  // SQLSTATE, "" when the driver does not say
	number int     // MySQL error number, SQLite extended result code, ODBC native error
	fatal  bool    // PostgreSQL: the server ends the session (FATAL, PANIC)
	msg    string
}

// odbcErrorOf reads an alexbrainman/odbc error; set by backend_odbc.go.
var odbcErrorOf func(err error) (dbError, bool)

// dbErrorOf reads the server error in err's chain, if there is one. flavor
// is the server behind an ODBC connection.
func dbErrorOf(err error, flavor Dialect) (dbError, bool) {
	if e, ok := pgErrorOf(err); ok {
		return e, true
	}
	if e, ok := mysqlErrorOf(err); ok {
		return e, true
	}
	if e, ok := sqliteErrorOf(err); ok {
		return e, true
	}
	if odbcErrorOf != nil {
		if e, ok := odbcErrorOf(err); ok {
			e.flavor = flavor
			return e, true
		}
	}
	return dbError{}, false
}

// nodeFailure reports whether the server says the node or the session
// failed (shut down, killed, refusing connections), as opposed to the
// statement.
func (e dbError) nodeFailure() bool {
	switch e.flavor {
	case PostgreSQL:
		return pgNodeFailure(e)
	case MySQL:
		return mysqlNodeFailure(e)
	case SQLite:
		return false // a local file: nothing to fail over from
	}
	return e.classIs("08") // SQL standard: connection exception
}

// readOnly reports whether the server refused a write because the session,
// transaction or server is read-only.
func (e dbError) readOnly() bool {
	switch e.flavor {
	case PostgreSQL:
		return e.state == "25006"
	case MySQL:
		return mysqlReadOnly(e)
	case SQLite:
		return e.number&0xff == sqliteReadOnly
	}
	return e.state == "25006"
}

// txEnded says whether the error ended the whole server transaction the
// statement ran in. check, when not "", is a query whose non-zero answer
// on the same session decides (a server setting).
func (e dbError) txEnded() (ended bool, check string) {
	switch e.flavor {
	case MySQL:
		return mysqlTxEnded(e)
	case PostgreSQL, SQLite:
		// PostgreSQL aborts to the savepoint (ROLLBACK TO recovers);
		// SQLite's own rollbacks are seen by its rollback hook.
		return false, ""
	}
	return e.classIs("40"), "" // SQL standard: transaction rollback
}

func (e dbError) classIs(class string) bool { return len(e.state) == 5 && e.state[:2] == class }

// linkFailure reports whether err, which no server raised, means that the
// connection to the server broke or could not be made.
func linkFailure(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne) || mysqlLinkFailure(err) || pgLinkFailure(err)
}

// nodeFailure reports whether err, returned by a statement on b, means that
// b's node or session failed (refused, reset, shut down, unreachable), as
// opposed to the server refusing or failing the statement itself.
func nodeFailure(b *bconn, err error) bool {
	if err == nil || err == driver.ErrSkip || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if e, ok := dbErrorOf(err, b.flavor()); ok {
		return e.nodeFailure()
	}
	return linkFailure(err) || b.broken || !b.valid()
}

// readOnlyRefusal reports whether the server refused a write because the
// session, transaction or server is read-only.
func readOnlyRefusal(b *bconn, err error) bool {
	e, ok := dbErrorOf(err, b.flavor())
	return ok && e.readOnly()
}

// serverError reports whether err is a statement error from a server that
// answered, as opposed to a node that could not.
func serverError(err error) bool {
	_, ok := dbErrorOf(err, ODBC)
	return ok
}
