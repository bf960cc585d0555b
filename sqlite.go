package aiodb

import (
	"errors"
	"sync/atomic"

	"modernc.org/sqlite"
)

// SQLite's rules: what its errors mean to routing and transactions.

// sqliteReadOnly is SQLITE_READONLY, the primary code of its extended codes.
const sqliteReadOnly = 8

// sqliteSchema is SQLITE_SCHEMA: the schema changed under a prepared
// statement. SQLite prepares the statement again itself (sqlite3_prepare_v2)
// and reports this only when that keeps failing.
const sqliteSchema = 17

// sqliteErrorOf reads a *sqlite.Error.
func sqliteErrorOf(err error) (dbError, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return dbError{}, false
	}
	return dbError{flavor: SQLite, number: se.Code(), msg: se.Error()}, true
}

// sqliteRollbackHook is modernc's connection method that registers a
// function SQLite calls whenever a transaction is rolled back, also when
// SQLite does it on its own after an error (SQLITE_FULL, SQLITE_IOERR,
// SQLITE_NOMEM, SQLITE_BUSY, an interrupted write): how aiodb learns that
// a transaction is gone. ROLLBACK TO does not call it.
type sqliteRollbackHook interface {
	RegisterRollbackHook(sqlite.RollbackHookFn)
}

// watchRollbacks makes b record the rollbacks of its SQLite connection.
func (b *bconn) watchRollbacks() {
	if h, ok := b.Conn.(sqliteRollbackHook); ok {
		b.rollbacks = new(atomic.Int64)
		h.RegisterRollbackHook(func() { b.rollbacks.Add(1) })
	}
}
