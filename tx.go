package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiodb/aiodb/internal/backend"
)

// Nested transactions. database/sql lets (*sql.Conn).BeginTx be called while
// a transaction of the same connection is open and hands the call to the
// driver again; aiodb turns it into a SAVEPOINT. One txStack per connection
// holds the levels: level 0 is the backend's own transaction, level n ≥ 1 is
// SAVEPOINT sp_k with k counted per top-level transaction, never reused.
//
// Rules (docs/transactions.md):
//   - inner Commit is RELEASE SAVEPOINT; if that fails (PostgreSQL after an
//     error inside the level), the level is rolled back and Commit returns
//     ErrTxRolledBack;
//   - inner Rollback is ROLLBACK TO SAVEPOINT then RELEASE SAVEPOINT; a failed
//     ROLLBACK TO poisons the transaction: its Commit rolls back and returns
//     ErrTxRolledBack;
//   - committing a level with open children rolls it back and returns
//     ErrNestedTxOpen; a level already ended by its parent sends no SQL and
//     returns ErrTxDone;
//   - a level whose BeginTx context is done counts as rolled back from then
//     on: database/sql rolls it back from its awaitDone goroutine, at a moment
//     nothing orders with the other levels' statements, so aiodb rolls it
//     back itself before the next statement, BeginTx or Commit on the
//     connection, and the enclosing levels carry on where the program expects;
//   - once the top level has ended, the connection refuses statements and
//     BeginTx (ErrTxDone) while a nested *sql.Tx of it is still open with a
//     live context: they would run outside any transaction and autocommit;
//   - errors at depth ≥ 1, and at depth 0 while another *sql.Tx of the
//     connection is open, are never driver.ErrBadConn: database/sql would
//     close the *sql.Conn, which waits for every open *sql.Tx of it, forever
//     when the goroutine that must end them is the one waiting.
//
// The savepoint statements are the same on every backend that has them
// (backend.Profile.Savepoints): PostgreSQL, MySQL/MariaDB, SQLite, and ODBC whose
// aiodb_odbc_dialect names one of these; an "ansi" ODBC profile refuses
// nesting (ErrNestedTxOptions). Only PostgreSQL can scope a read-only level
// (backend.Profile.ScopedReadOnly).
//
// database/sql serialises every call on one driver connection (its
// driverConn lock), including the Commit and Rollback its awaitDone
// goroutines make, so the stack needs no lock of its own.

// savepointTimeout bounds one statement that undoes a level (ROLLBACK TO,
// and the RELEASE after it). They run under a fresh context: driver.Tx's
// Rollback has none, and database/sql calls Rollback after the
// transaction's context is already cancelled. SAVEPOINT runs under its
// BeginTx context and the RELEASE of a Commit under none, as the backend
// drivers send BEGIN and COMMIT: a context with a deadline costs a timer and,
// in the drivers, a watcher per statement.
const savepointTimeout = 30 * time.Second

// releaseSQL returns "RELEASE SAVEPOINT sp_<seq>": its tail from "SAVEPOINT"
// is the statement that opens the level and its tail from "sp_" the
// savepoint's name, so one string serves all three. The first ones are
// made once, so a transaction nested a few levels deep allocates none.
func releaseSQL(seq int) string {
	if seq < len(releaseSQLs) {
		return releaseSQLs[seq]
	}
	return "RELEASE SAVEPOINT sp_" + strconv.Itoa(seq)
}

var releaseSQLs = func() (a [32]string) {
	for i := range a {
		a[i] = "RELEASE SAVEPOINT sp_" + strconv.Itoa(i)
	}
	return a
}()

// Offsets into releaseSQL's string.
const (
	savepointAt = len("RELEASE ")
	nameAt      = len("RELEASE SAVEPOINT ")
)

// txStack is the transaction state of one connection.
type txStack struct {
	conn     *conn
	b        *bconn    // the node the transaction began on; it never moves
	root     driver.Tx // the backend transaction
	iso      driver.IsolationLevel
	open     []*txLevel // open levels; open[0] is the top level
	seq      int        // the last savepoint number used
	poisoned error      // set when a ROLLBACK TO failed
	// lost is the error with which the server ended the transaction under
	// aiodb (a deadlock victim, a lost connection, …): from then on nothing
	// of the stack is sent, Commit fails and Rollback succeeds.
	lost error
	// rollbacksAt is the SQLite connection's rollback count at BEGIN.
	rollbacksAt int64
	// handles are the levels handed to database/sql whose Commit or Rollback
	// it has not called yet. Each *sql.Tx holds a read lock on its *sql.Conn
	// until then.
	handles []*txLevel
	// ended is set when the top level ended while handles remained; the
	// stack stays attached to the connection until none of them is live.
	ended bool
	// bufs back open and handles for the first levels (fewer allocations).
	openBuf, handleBuf [3]*txLevel
}

// depth is the depth of the innermost open level.
func (st *txStack) depth() int { return len(st.open) - 1 }

// endedErr is the refusal of a connection whose transaction has ended while
// database/sql still holds levels of it.
func (st *txStack) endedErr() error {
	var names []string
	for _, lv := range st.handles {
		if lv.ctx.Err() == nil {
			names = append(names, lv.String())
		}
	}
	return fmt.Errorf("%w: the transaction has ended but its %s is still open; Commit or Rollback it first (no SQL is sent)", ErrTxDone, strings.Join(names, ", "))
}

// nest opens a savepoint level. Options that cannot hold inside the running
// transaction are refused before any SQL is sent.
func (st *txStack) nest(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	prof := st.conn.connector.prof
	switch {
	case st.ended:
		return nil, st.endedErr()
	case st.lost != nil:
		return nil, st.lostErr("BeginTx")
	case !prof.Savepoints:
		return nil, fmt.Errorf("%w: this backend profile has no savepoints (set aiodb_odbc_dialect)", ErrNestedTxOptions)
	case st.poisoned != nil:
		return nil, fmt.Errorf("%w: the transaction must be rolled back: %v", ErrTxRolledBack, st.poisoned)
	case opts.Isolation != 0 && opts.Isolation != st.iso:
		return nil, fmt.Errorf("%w: isolation level %d inside a running transaction", ErrNestedTxOptions, opts.Isolation)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := st.rollbackExpired(1); err != nil {
		return nil, err
	}
	parent := st.open[st.depth()]
	scopeRO := opts.ReadOnly && !parent.readOnly
	if scopeRO && !prof.ScopedReadOnly {
		return nil, fmt.Errorf("%w: read-only nested transaction inside a read-write one (only PostgreSQL can scope it)", ErrNestedTxOptions)
	}
	st.seq++
	lv := &txLevel{st: st, ctx: ctx, depth: len(st.open), release: releaseSQL(st.seq), readOnly: parent.readOnly || opts.ReadOnly}
	if err := st.run(ctx, lv.release[savepointAt:]); err != nil {
		return nil, err
	}
	st.open = append(st.open, lv)
	if scopeRO {
		if err := st.run(ctx, "SET TRANSACTION READ ONLY"); err != nil {
			return nil, errors.Join(err, lv.rollback())
		}
	}
	st.handles = append(st.handles, lv)
	return lv, nil
}

// run sends one savepoint statement under ctx, without arguments (the text
// protocol; MySQL cannot prepare SAVEPOINT). An ErrBadConn from the backend
// is reported without its identity (see notBadConn); the backend connection
// is marked broken, so IsValid drops it.
func (st *txStack) run(ctx context.Context, sql string) error {
	err := st.b.execSQL(ctx, sql)
	if err == nil {
		return nil
	}
	if e, ok := backend.MySQLErrorOf(err); ok && e.Number == backend.MyErrNoSuchSavepoint {
		// Only aiodb names savepoints here: the server ended the transaction.
		err = fmt.Errorf("%w: %w: %s: the server has no such savepoint, so the transaction was ended under aiodb (a statement that implicitly committed, or a deadlock rollback): %w", ErrTxAborted, ErrImplicitCommit, sql, err)
		st.lost = err
		return err
	}
	st.check(err)
	if errors.Is(err, driver.ErrBadConn) {
		return notBadConn(fmt.Errorf("%s: %w", sql, err))
	}
	return fmt.Errorf("aiodb: %s: %w", sql, err)
}

// check records that err, the error of a statement of the transaction,
// ended the server transaction: the connection broke (the server rolls
// the transaction back), SQLite rolled it back on its own, or the server's
// rules say so (a MySQL deadlock victim).
func (st *txStack) check(err error) {
	if err == nil || err == driver.ErrSkip || st.lost != nil {
		return
	}
	if st.endedBy(err) {
		st.lost = err
		st.conn.connector.router.debug("transaction lost", "node", st.b.node.URL, "err", st.b.node.redact(err))
	}
}

// endedBy reports whether err ended the server transaction. A session that
// broke or that the server ended is also marked broken, so that the pool
// replaces the connection once the transaction is over.
func (st *txStack) endedBy(err error) bool {
	b := st.b
	if b.rollbacks != nil {
		// SQLite has no link to lose: its rollback hook sees every
		// transaction it ends. (modernc calls a connection invalid while an
		// interrupted statement's flag is up, though the transaction goes on.)
		return b.rollbacks.Load() != st.rollbacksAt
	}
	if b.broken || !b.valid() || nodeFailure(b, err) {
		b.broken = true
		return true
	}
	e, isDB := backend.ErrorOf(err, b.flavor())
	if !isDB {
		return false
	}
	ended, check := e.TxEnded()
	if check != "" {
		ended = b.node.setting(b, check)
	}
	return ended
}

// lostErr is the refusal of what (a statement, BeginTx, a Commit) in a
// transaction the server has ended. It wraps the server's error, unless
// that is driver.ErrBadConn, which database/sql must not see here.
func (st *txStack) lostErr(what string) error {
	if errors.Is(st.lost, driver.ErrBadConn) {
		return fmt.Errorf("%w: %s: the connection was lost inside the transaction (%v)", ErrTxAborted, what, st.lost)
	}
	return fmt.Errorf("%w: %s: the server ended the transaction: %w", ErrTxAborted, what, st.lost)
}

// rollbackExpired rolls back the outermost open level at depth ≥ from whose BeginTx
// context is done, with every level above it: database/sql is about to
// roll it back anyway. Rolling back the top level ends the transaction, which
// the error returned reports.
func (st *txStack) rollbackExpired(from int) error {
	for _, lv := range st.open[min(from, len(st.open)):] {
		if lv.ctx.Err() == nil {
			continue
		}
		lv.expired = true
		err := lv.rollback()
		if lv.depth == 0 {
			return errors.Join(fmt.Errorf("%w: its context is done (%v)", ErrTxRolledBack, context.Cause(lv.ctx)), err)
		}
		if err != nil {
			return fmt.Errorf("roll back %s, whose context is done: %w", lv, err)
		}
		return nil
	}
	return nil
}

// markEnded records that database/sql has called Commit or Rollback of lv,
// which releases its *sql.Tx's hold on the *sql.Conn.
func (st *txStack) markEnded(lv *txLevel) {
	if lv.endCalled {
		return
	}
	lv.endCalled = true
	st.handles = slices.DeleteFunc(st.handles, func(h *txLevel) bool { return h == lv })
	if st.ended && len(st.handles) == 0 {
		st.detach()
	}
}

// commitTop commits the backend transaction, or rolls it back if poisoned.
func (st *txStack) commitTop() error {
	st.end()
	if st.poisoned != nil {
		return errors.Join(fmt.Errorf("%w: a nested rollback failed earlier", ErrTxRolledBack), st.poisoned, st.b.recordBadConn(st.root.Rollback()))
	}
	err := st.b.recordBadConn(st.root.Commit())
	if err != nil && nodeFailure(st.b, err) {
		// Sent, but the answer was lost: it may have committed.
		err = fmt.Errorf("%w: the connection to %s broke during COMMIT: %w", ErrOutcomeUnknown, st.b.node.URL, err)
	}
	return err
}

// pop marks lv and the levels above it ended.
func (st *txStack) pop(lv *txLevel) {
	for _, l := range st.open[lv.depth:] {
		l.done = true
	}
	st.open = st.open[:lv.depth]
}

// end marks every level ended. The stack is detached from the connection,
// or, while database/sql still holds a nested level of it, marked ended.
func (st *txStack) end() {
	st.pop(st.open[0])
	if len(st.handles) == 0 {
		st.detach()
	} else {
		st.ended = true
	}
}

// detach makes the connection forget the stack.
func (st *txStack) detach() {
	if st.conn.tx == st {
		st.conn.tx = nil
	}
}

// guard runs before every statement while the connection manages a
// transaction. It refuses statements that would desynchronise the stack:
// any statement once the transaction has ended under a still open nested
// *sql.Tx, raw transaction control on every backend and, on MySQL/MariaDB
// inside a savepoint, statements that implicitly commit. It rolls back the
// levels whose context is done first (see rollbackExpired).
func (st *txStack) guard(query string) error {
	if st.ended {
		return st.endedErr()
	}
	if st.lost != nil {
		return st.lostErr("statement refused, nothing sent")
	}
	info := st.conn.connector.classify(query)
	if info.TxControl && !st.rawSavepoint(info.Kind, query) {
		return fmt.Errorf("%w: %s while aiodb manages a transaction; use BeginTx, Commit and Rollback", ErrTxControl, info.Kind)
	}
	if err := st.rollbackExpired(0); err != nil {
		return notBadConn(err)
	}
	if info.ImplicitCommit && st.depth() > 0 && st.conn.connector.prof.ImplicitCommits {
		return fmt.Errorf("%w: %s inside %s would commit the transaction and drop every savepoint", ErrImplicitCommit, info.Kind, st.open[st.depth()])
	}
	return nil
}

// rawSavepoint reports whether a SAVEPOINT, RELEASE or ROLLBACK TO statement
// of the application's own may pass: only with aiodb_raw_savepoints=allow,
// only while aiodb has no savepoint open (so the two stacks cannot
// interleave) and only for a name aiodb does not generate (sp_N). GORM and
// bun nest transactions this way.
func (st *txStack) rawSavepoint(kind, query string) bool {
	if !st.conn.connector.cfg.Settings.RawSavepoints || st.depth() > 0 {
		return false
	}
	switch kind {
	case "SAVEPOINT", "RELEASE", "RELEASE SAVEPOINT", "ROLLBACK TO", "ROLLBACK TO SAVEPOINT":
	default:
		return false
	}
	f := strings.Fields(strings.TrimRight(query, "; \t\r\n"))
	name := strings.ToLower(strings.Trim(f[len(f)-1], "\"`[]"))
	return !isOwnSavepoint(name)
}

// isOwnSavepoint reports whether a (lower-case) savepoint name is one aiodb
// can generate: sp_ and a counter value, without leading zeros. bun's
// SP_<28 hex digits> can be all decimal, but never that short.
func isOwnSavepoint(name string) bool {
	digits, ok := strings.CutPrefix(name, "sp_")
	if !ok || digits == "" || len(digits) > 19 || digits[0] == '0' {
		return false
	}
	return strings.Trim(digits, "0123456789") == ""
}
