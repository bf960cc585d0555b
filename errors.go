package aiodb

import (
	"errors"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// Errors aiodb returns. Each is a sentinel for one failure mode; the errors
// actually returned wrap it with context, so test them with errors.Is. Errors
// that come from a backend driver are wrapped too, so errors.As still reaches
// *pgconn.PgError, *mysql.MySQLError or *sqlite.Error.
var (
	// ErrBadDSN is wrapped by every error from ParseDSN, NewConnector and
	// sql.Open("aiodb", …): empty, malformed, unknown scheme, mixed dialects,
	// unknown or invalid aiodb option, an aio-databases pool option (maxsize,
	// minsize) without the aiodb_ prefix, or an odbc:// DSN in a build without
	// the odbc tag.
	ErrBadDSN = errors.New("aiodb: bad DSN")

	// ErrPlaceholder is wrapped by every placeholder rewriting error: count
	// mismatch, unused argument, $0, mixed styles, a lone %, a literal ? that
	// the backend cannot express, an unterminated literal, identifier, comment
	// or dollar quote. The error is a *PlaceholderError carrying the byte offset.
	ErrPlaceholder = sqltext.ErrPlaceholder

	// ErrReadOnly is wrapped by every read-only refusal: a write attempted in a
	// replica context (refused before anything is sent) and a write refused by
	// a read-only server session.
	ErrReadOnly = errors.New("aiodb: read-only")

	// ErrNoReplica is returned when a statement must run on a replica, none is
	// usable and the DSN forbids falling back to the primary.
	ErrNoReplica = errors.New("aiodb: no replica available")

	// ErrPrimaryDown is wrapped by the error of a statement, Ping or BeginTx
	// that needs the primary while there is none to use: its connection
	// failed, now or less than a back-off period ago (the error then names
	// the last failure), or, with replicas in the DSN, no node reports
	// itself writable (every server read-only, or down). Reads in a replica
	// context do not need the primary and go on. The primary is dialled
	// again once the back-off has passed, and the health checker follows
	// the servers' roles, so writes work again when a primary is back (the
	// old one, or a promoted replica), on the same *sql.DB. With
	// aiodb_primary_wait, while the health checker finds no writable node, a
	// statement waits for one instead, at most that long and never past its
	// context's deadline; a primary whose dial failed is not waited for.
	ErrPrimaryDown = errors.New("aiodb: primary unavailable")

	// ErrSplitBrain is wrapped by the error of a write while more than one
	// node of the DSN reports itself writable: aiodb refuses to guess which
	// one is the primary, sends nothing, and logs at error level.
	ErrSplitBrain = errors.New("aiodb: more than one writable node")

	// ErrOutcomeUnknown is wrapped by the error of a write, or of a Commit,
	// whose connection was lost after it was sent: it may or may not have
	// taken effect. aiodb never re-sends it. (A write the server refused as
	// read-only in autocommit, or that failed before it was sent, is
	// re-sent once to the new primary instead.)
	ErrOutcomeUnknown = errors.New("aiodb: outcome unknown")

	// ErrNestedTxOpen is returned by Commit of a transaction level that still
	// has an open nested level. The level (and its children) was rolled back.
	ErrNestedTxOpen = errors.New("aiodb: nested transaction still open")

	// ErrNestedTxOptions is returned by a nested BeginTx whose options cannot
	// be honoured inside a running transaction (an isolation level other than
	// the default or the top level's, read-only where the backend cannot scope
	// it, or any nesting on an ODBC profile without savepoints). No SQL is sent.
	ErrNestedTxOptions = errors.New("aiodb: options not supported on a nested transaction")

	// ErrTxDone is returned by Commit or Rollback of a transaction level that
	// was already ended by an enclosing level. No SQL is sent. It is also
	// returned for statements and BeginTx on a *sql.Conn whose transaction
	// has ended while a nested *sql.Tx of it is still open: they would run
	// outside any transaction. Commit or Rollback that *sql.Tx first.
	ErrTxDone = errors.New("aiodb: transaction level already ended")

	// ErrTxRolledBack is returned by a Commit that could not commit and rolled
	// back instead: a nested level whose RELEASE failed, or a top level whose
	// transaction was poisoned by a failed ROLLBACK TO SAVEPOINT. It is also
	// returned by the statement that finds the transaction's context done
	// (aiodb then rolls it back, as database/sql is about to).
	ErrTxRolledBack = errors.New("aiodb: transaction rolled back instead of committed")

	// ErrTxAborted is wrapped by every error of a transaction the server has
	// ended under aiodb: a MySQL/MariaDB deadlock victim or lock wait timeout
	// with innodb_rollback_on_timeout (InnoDB rolls the whole transaction
	// back), a savepoint the server no longer knows, a connection lost inside
	// the transaction, an SQLite statement error after which SQLite rolled
	// the transaction back. The statement that met the failure returns the
	// server's error as it is; from then on every statement and nested
	// BeginTx of the transaction fails with ErrTxAborted (wrapping that
	// error) without being sent, so nothing can run in autocommit, Commit of
	// every level fails with it (and ErrTxRolledBack), and Rollback of every
	// level succeeds: nothing is left to undo. The connection is then usable
	// again, or replaced by the pool when the link broke.
	ErrTxAborted = errors.New("aiodb: transaction aborted by the server")

	// ErrImplicitCommit is returned on MySQL/MariaDB for a statement that would
	// implicitly commit (DDL, START TRANSACTION, LOCK TABLES, …) while a nested
	// transaction level is open. It is refused before it is sent. It is also
	// wrapped when the server no longer knows a savepoint (error 1305): the
	// transaction was ended under aiodb, e.g. by DDL at depth 0.
	ErrImplicitCommit = errors.New("aiodb: statement would implicitly commit")

	// ErrTxControl is returned for a raw BEGIN, COMMIT, ROLLBACK, SAVEPOINT or
	// RELEASE statement sent while aiodb manages a transaction on the
	// connection; it would desynchronise the savepoint stack.
	ErrTxControl = errors.New("aiodb: transaction control statement refused")

	// ErrRollback may be returned by the function given to DB.Transaction to
	// roll the transaction back on purpose; Transaction then returns nil.
	ErrRollback = errors.New("aiodb: rollback requested")

	// ErrBlockDone is returned when a context carrying a Connection,
	// Transaction or Replica block is used after that block has returned.
	ErrBlockDone = errors.New("aiodb: block already ended")
)

// PlaceholderError describes a placeholder rewriting failure, found before
// anything is sent to the server; errors.Is(err, ErrPlaceholder) holds. Its
// Offset is the byte offset in the source query where the problem was found,
// or -1 when the error is about the arguments as a whole (their number, or a
// sql.Named argument); its message names the problem and never contains
// argument values.
type PlaceholderError = sqltext.PlaceholderError
