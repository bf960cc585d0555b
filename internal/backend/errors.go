package backend

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// What a failed statement means. A backend error is read once into an
// Error (the SQLSTATE, the native error number and the database whose
// rules say what they mean: postgres.go, mysql.go, sqlite.go, and for ODBC
// the dialect of the server behind it); errors that no server raised are
// link failures or the caller's own.

// Error is what aiodb reads of an error a database server raised.
type Error struct {
	Flavor sqltext.Dialect // whose rules apply: the server behind an ODBC driver, or ODBC for "ansi"
	State  string          // SQLSTATE, "" when the driver does not say
	Number int             // MySQL error number, SQLite extended result code, ODBC native error
	Fatal  bool            // PostgreSQL: the server ends the session (FATAL, PANIC)
	Msg    string
}

// odbcErrorOf reads an alexbrainman/odbc error; set by odbc.go.
var odbcErrorOf func(err error) (Error, bool)

// ErrorOf reads the server error in err's chain, if there is one. flavor
// is the server behind an ODBC connection.
func ErrorOf(err error, flavor sqltext.Dialect) (Error, bool) {
	if e, ok := pgErrorOf(err); ok {
		return e, true
	}
	if e, ok := MySQLErrorOf(err); ok {
		return e, true
	}
	if e, ok := SQLiteErrorOf(err); ok {
		return e, true
	}
	if odbcErrorOf != nil {
		if e, ok := odbcErrorOf(err); ok {
			e.Flavor = flavor
			return e, true
		}
	}
	return Error{}, false
}

// NodeFailure reports whether the server says the node or the session
// failed (shut down, killed, refusing connections), as opposed to the
// statement.
func (e Error) NodeFailure() bool {
	switch e.Flavor {
	case sqltext.PostgreSQL:
		return pgNodeFailure(e)
	case sqltext.MySQL:
		return mysqlNodeFailure(e)
	case sqltext.SQLite:
		return false // a local file: nothing to fail over from
	}
	return e.ClassIs("08") // SQL standard: connection exception
}

// ReadOnly reports whether the server refused a write because the session,
// transaction or server is read-only.
func (e Error) ReadOnly() bool {
	switch e.Flavor {
	case sqltext.PostgreSQL:
		return e.State == "25006"
	case sqltext.MySQL:
		return mysqlReadOnly(e)
	case sqltext.SQLite:
		return e.Number&0xff == SQLiteReadOnly
	}
	return e.State == "25006"
}

// TxEnded says whether the error ended the whole server transaction the
// statement ran in. check, when not "", is a query whose non-zero answer
// on the same session decides (a server setting).
func (e Error) TxEnded() (ended bool, check string) {
	switch e.Flavor {
	case sqltext.MySQL:
		return mysqlTxEnded(e)
	case sqltext.PostgreSQL, sqltext.SQLite:
		// PostgreSQL aborts to the savepoint (ROLLBACK TO recovers);
		// SQLite's own rollbacks are seen by its rollback hook.
		return false, ""
	}
	return e.ClassIs("40"), "" // SQL standard: transaction rollback
}

// ClassIs reports whether the SQLSTATE is of class (its first two characters).
func (e Error) ClassIs(class string) bool { return len(e.State) == 5 && e.State[:2] == class }

// LinkFailure reports whether err, which no server raised, means that the
// connection to the server broke or could not be made.
func LinkFailure(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne) || mysqlLinkFailure(err) || pgLinkFailure(err)
}

// ServerError reports whether err is a statement error from a server that
// answered, as opposed to a node that could not.
func ServerError(err error) bool {
	_, ok := ErrorOf(err, sqltext.ODBC)
	return ok
}

// Code is the error code an event reports: the SQLSTATE on PostgreSQL (and
// ODBC when the driver gives one), the error number otherwise.
func (e Error) Code() string {
	if e.State != "" && e.Flavor != sqltext.MySQL {
		return e.State
	}
	return strconv.Itoa(e.Number)
}
