package backend

import (
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"modernc.org/sqlite"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// SQLite's rules: what its errors mean to routing and transactions.

// SQLiteReadOnly is SQLITE_READONLY, the primary code of its extended codes.
const SQLiteReadOnly = 8

// SQLiteSchema is SQLITE_SCHEMA: the schema changed under a prepared
// statement. SQLite prepares the statement again itself (sqlite3_prepare_v2)
// and reports this only when that keeps failing.
const SQLiteSchema = 17

// SQLiteErrorOf reads a *sqlite.Error.
func SQLiteErrorOf(err error) (Error, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return Error{}, false
	}
	return Error{Flavor: sqltext.SQLite, Number: se.Code(), Msg: se.Error()}, true
}

// sqliteRollbackHook is modernc's connection method that registers a
// function SQLite calls whenever a transaction is rolled back, also when
// SQLite does it on its own after an error (SQLITE_FULL, SQLITE_IOERR,
// SQLITE_NOMEM, SQLITE_BUSY, an interrupted write): how aiodb learns that
// a transaction is gone. ROLLBACK TO does not call it.
type sqliteRollbackHook interface {
	RegisterRollbackHook(sqlite.RollbackHookFn)
}

// WatchRollbacks makes c, when it is a SQLite connection, count its
// rollbacks, and returns the counter; nil on other backends.
func WatchRollbacks(c driver.Conn) *atomic.Int64 {
	h, ok := c.(sqliteRollbackHook)
	if !ok {
		return nil
	}
	n := new(atomic.Int64)
	h.RegisterRollbackHook(func() { n.Add(1) })
	return n
}
