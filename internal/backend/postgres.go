package backend

import (
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// PostgreSQL's rules: what its errors mean to routing and transactions.

// pgErrorOf reads a *pgconn.PgError.
func pgErrorOf(err error) (Error, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return Error{}, false
	}
	return Error{Flavor: sqltext.PostgreSQL, State: pe.Code, Fatal: pe.Severity == "FATAL" || pe.Severity == "PANIC", Msg: pe.Message}, true
}

// pgNodeFailure: the server ends the session (FATAL: shutdown, terminated
// backend, …), a connection exception (class 08), operator intervention
// (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
// …) or too many connections (53300).
func pgNodeFailure(e Error) bool {
	return e.Fatal || e.ClassIs("08") || strings.HasPrefix(e.State, "57P") || e.State == "53300"
}

// pgLinkFailure: pgconn says the failure happened before anything was sent
// (a dial that failed, a closed connection).
func pgLinkFailure(err error) bool { return pgconn.SafeToRetry(err) }

// pgChecker is pgx's argument checker, which accepts every value (pgx
// encodes them itself) and reads nothing of its connection: a connection
// that has not dialled yet checks its arguments with it.
var pgChecker driver.NamedValueChecker = (*stdlib.Conn)(nil)

// Replication positions for read-your-writes: the WAL insert position after
// a write (at or past its commit record) and a standby's replayed position.
const (
	pgWritePos    = "SELECT pg_current_wal_insert_lsn()::text"
	pgReplayedPos = "SELECT pg_last_wal_replay_lsn()::text"
	pgPrimaryPos  = "SELECT pg_current_wal_flush_lsn()::text"
)
