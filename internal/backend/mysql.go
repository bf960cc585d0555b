package backend

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// MySQL's and MariaDB's rules: what their errors mean to routing and
// transactions.

// MySQL/MariaDB error numbers aiodb acts on (the server's ER_ names).
const (
	MyErrLockWaitTimeout  = 1205 // ER_LOCK_WAIT_TIMEOUT
	MyErrDeadlock         = 1213 // ER_LOCK_DEADLOCK
	MyErrOptionPrevents   = 1290 // ER_OPTION_PREVENTS_STATEMENT: --read-only, or another option
	MyErrNoSuchSavepoint  = 1305 // ER_SP_DOES_NOT_EXIST
	MyErrReadOnlyTx       = 1792 // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	MyErrReadOnlyMode     = 1836 // ER_READ_ONLY_MODE
	MyErrUnknownSysVar    = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE
	MyErrTooManyConns     = 1040
	MyErrServerShutdown   = 1053
	MyErrAbortedConn      = 1152
	MyErrNetReadError     = 1158
	MyErrNetReadInterrupt = 1159
	MyErrNetWriteError    = 1160
	MyErrNetWriteInterrup = 1161
	MyErrConnKilled       = 1927
	MyErrUnknownStmt      = 1243 // ER_UNKNOWN_STMT_HANDLER: the server has no such prepared statement
	MyErrMaxPreparedStmts = 1461 // ER_MAX_PREPARED_STMT_COUNT_REACHED
	MyErrNeedReprepare    = 1615 // ER_NEED_REPREPARE: a table changed under a prepared statement
	MyErrParse            = 1064 // ER_PARSE_ERROR
	MyErrDBAccessDenied   = 1044 // ER_DBACCESS_DENIED_ERROR
	MyErrAccessDenied     = 1045 // ER_ACCESS_DENIED_ERROR
	MyErrSpecificAccess   = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR: a privilege is missing
)

// MySQLErrorOf reads a *mysql.MySQLError.
func MySQLErrorOf(err error) (Error, bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return Error{}, false
	}
	return Error{Flavor: sqltext.MySQL, State: string(me.SQLState[:]), Number: int(me.Number), Msg: me.Message}, true
}

// mysqlNodeFailure: too many connections, server shutdown, an aborted or
// broken connection, a killed connection.
func mysqlNodeFailure(e Error) bool {
	switch e.Number {
	case MyErrTooManyConns, MyErrServerShutdown, MyErrAbortedConn, MyErrNetReadError, MyErrNetReadInterrupt,
		MyErrNetWriteError, MyErrNetWriteInterrup, MyErrConnKilled:
		return true
	}
	return false
}

// mysqlReadOnly: a read-only transaction, read-only mode, or --read-only
// (1290 is also raised for other options, such as --secure-file-priv).
func mysqlReadOnly(e Error) bool {
	switch e.Number {
	case MyErrReadOnlyTx, MyErrReadOnlyMode:
		return true
	case MyErrOptionPrevents:
		m := strings.ToLower(e.Msg)
		return strings.Contains(m, "read-only") || strings.Contains(m, "read_only")
	}
	return false
}

// mysqlTxEnded: InnoDB rolls a deadlock victim's whole transaction back,
// and a lock wait timeout's when innodb_rollback_on_timeout is on (it
// otherwise undoes the statement only).
func mysqlTxEnded(e Error) (bool, string) {
	switch e.Number {
	case MyErrDeadlock:
		return true, ""
	case MyErrLockWaitTimeout:
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
	mysqlPrimaryPos  = "SELECT @@gtid_binlog_pos"
)

// GTIDWait is MariaDB's statement that waits, at most wait, until the
// server has applied the GTID position pos: its one column is 0 then, -1
// when the wait ran out.
func GTIDWait(pos string, wait time.Duration) string {
	return fmt.Sprintf("SELECT MASTER_GTID_WAIT('%s', %.3f)", pos, wait.Seconds())
}
