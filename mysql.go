package aiodb

import (
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// MySQL's and MariaDB's rules: what their errors mean to routing and
// transactions.

// MySQL/MariaDB error numbers aiodb acts on.
const (
	myErrLockWaitTimeout  = 1205 // ER_LOCK_WAIT_TIMEOUT
	myErrDeadlock         = 1213 // ER_LOCK_DEADLOCK
	myErrOptionPrevents   = 1290 // ER_OPTION_PREVENTS_STATEMENT: --read-only, or another option
	myErrNoSuchSavepoint  = 1305 // ER_SP_DOES_NOT_EXIST
	myErrReadOnlyTx       = 1792 // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	myErrReadOnlyMode     = 1836 // ER_READ_ONLY_MODE
	myErrUnknownSysVar    = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE
	myErrTooManyConns     = 1040
	myErrServerShutdown   = 1053
	myErrAbortedConn      = 1152
	myErrNetReadError     = 1158
	myErrNetReadInterrupt = 1159
	myErrNetWriteError    = 1160
	myErrNetWriteInterrup = 1161
	myErrConnKilled       = 1927
	myErrUnknownStmt      = 1243 // ER_UNKNOWN_STMT_HANDLER: the server has no such prepared statement
	myErrMaxPreparedStmts = 1461 // ER_MAX_PREPARED_STMT_COUNT_REACHED
	myErrNeedReprepare    = 1615 // ER_NEED_REPREPARE: a table changed under a prepared statement
)

// mysqlErrorOf reads a *mysql.MySQLError.
func mysqlErrorOf(err error) (dbError, bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return dbError{}, false
	}
	return dbError{flavor: MySQL, state: string(me.SQLState[:]), number: int(me.Number), msg: me.Message}, true
}

// mysqlNodeFailure: too many connections, server shutdown, an aborted or
// broken connection, a killed connection.
func mysqlNodeFailure(e dbError) bool {
	switch e.number {
	case myErrTooManyConns, myErrServerShutdown, myErrAbortedConn, myErrNetReadError, myErrNetReadInterrupt,
		myErrNetWriteError, myErrNetWriteInterrup, myErrConnKilled:
		return true
	}
	return false
}

// mysqlReadOnly: a read-only transaction, read-only mode, or --read-only
// (1290 is also raised for other options, such as --secure-file-priv).
func mysqlReadOnly(e dbError) bool {
	switch e.number {
	case myErrReadOnlyTx, myErrReadOnlyMode:
		return true
	case myErrOptionPrevents:
		m := strings.ToLower(e.msg)
		return strings.Contains(m, "read-only") || strings.Contains(m, "read_only")
	}
	return false
}

// mysqlTxEnded: InnoDB rolls a deadlock victim's whole transaction back,
// and a lock wait timeout's when innodb_rollback_on_timeout is on (it
// otherwise undoes the statement only).
func mysqlTxEnded(e dbError) (bool, string) {
	switch e.number {
	case myErrDeadlock:
		return true, ""
	case myErrLockWaitTimeout:
		return false, "SELECT @@innodb_rollback_on_timeout"
	}
	return false, ""
}

// mysqlLinkFailure: go-sql-driver's error for a connection that broke
// mid-statement.
func mysqlLinkFailure(err error) bool { return errors.Is(err, mysql.ErrInvalidConn) }

// Replication positions for read-your-writes (MariaDB GTIDs, no privilege
// needed): the GTID of the session's last transaction, and a replica's
// current position. A replica is waited for with MASTER_GTID_WAIT.
const (
	mysqlWritePos    = "SELECT @@last_gtid"
	mysqlReplayedPos = "SELECT @@gtid_current_pos"
)
