package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// Nested transactions. database/sql lets (*sql.Conn).BeginTx be called while
// a transaction of the same connection is open and hands the call to the
// driver again; aiodb turns it into a SAVEPOINT. One txStack per connection
// holds the levels: level 0 is the backend's own transaction, level n ≥ 1 is
// SAVEPOINT sp_k with k counted per top-level transaction, never reused.
//
// Rules (README "Nested transactions"): inner Commit is RELEASE SAVEPOINT;
// inner Rollback is ROLLBACK TO SAVEPOINT then RELEASE SAVEPOINT; committing
// a level with open children rolls it back and returns ErrNestedTxOpen; a
// level already ended by its parent sends no SQL and returns ErrTxDone; a
// failed ROLLBACK TO poisons the transaction so its Commit rolls back and
// returns ErrTxRolledBack. Errors at depth ≥ 1 are never driver.ErrBadConn,
// which would deadlock database/sql's Conn.close against the open outer Tx.

// savepointTimeout bounds one savepoint statement. They run under a fresh
// context: driver.Tx's Commit and Rollback have none, and database/sql calls
// Rollback after the transaction's context is already cancelled.
const savepointTimeout = 30 * time.Second

// txStack is the transaction state of one connection.
type txStack struct {
	c        *conn
	b        *bconn    // the node the transaction began on; it never moves
	root     driver.Tx // the backend transaction
	iso      driver.IsolationLevel
	open     []*txLevel // open levels; open[0] is the top level
	seq      int        // the last savepoint number used
	poisoned error      // set when a ROLLBACK TO failed
}

// txLevel is the driver.Tx of one level. Its methods run under
// database/sql's lock on the driver connection.
type txLevel struct {
	st       *txStack
	depth    int
	name     string // savepoint name; "" at depth 0
	readOnly bool
	done     bool
}

var _ driver.Tx = (*txLevel)(nil)

// BeginTx starts the top-level transaction on the node the context routes
// to, or, when one is already open, a savepoint inside it.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.tx != nil {
		return c.tx.nest(opts)
	}
	b, err := c.routeBegin(ctx, opts)
	if err != nil {
		return nil, err
	}
	t, err := b.begin(ctx, opts)
	if err != nil {
		return nil, c.c.router.done(b, err)
	}
	c.tx = &txStack{c: c, b: b, root: t, iso: opts.Isolation}
	top := &txLevel{st: c.tx, readOnly: opts.ReadOnly}
	c.tx.open = []*txLevel{top}
	return top, nil
}

// depth is the depth of the innermost open level.
func (st *txStack) depth() int { return len(st.open) - 1 }

// nest opens a savepoint level. Options that cannot hold inside the running
// transaction are refused before any SQL is sent.
func (st *txStack) nest(opts driver.TxOptions) (driver.Tx, error) {
	prof := st.c.c.prof
	if !prof.savepoints {
		return nil, fmt.Errorf("%w: this backend profile has no savepoints (set aiodb_odbc_dialect)", ErrNestedTxOptions)
	}
	if st.poisoned != nil {
		return nil, fmt.Errorf("%w: the transaction must be rolled back: %v", ErrTxRolledBack, st.poisoned)
	}
	if opts.Isolation != 0 && opts.Isolation != st.iso {
		return nil, fmt.Errorf("%w: isolation level %d inside a running transaction", ErrNestedTxOptions, opts.Isolation)
	}
	parent := st.open[st.depth()]
	scopeRO := opts.ReadOnly && !parent.readOnly
	if scopeRO && !prof.scopedReadOnly {
		return nil, fmt.Errorf("%w: read-only nested transaction inside a read-write one (only PostgreSQL can scope it)", ErrNestedTxOptions)
	}
	st.seq++
	lv := &txLevel{st: st, depth: len(st.open), name: fmt.Sprintf("sp_%d", st.seq), readOnly: parent.readOnly || opts.ReadOnly}
	if err := st.run("SAVEPOINT " + lv.name); err != nil {
		return nil, err
	}
	st.open = append(st.open, lv)
	if scopeRO {
		if err := st.run("SET TRANSACTION READ ONLY"); err != nil {
			return nil, errors.Join(err, lv.Rollback())
		}
	}
	return lv, nil
}

// run sends one savepoint statement. An ErrBadConn from the backend is
// reported without being wrapped (database/sql must not see it at depth ≥ 1);
// the backend connection is then marked broken, so IsValid drops it.
func (st *txStack) run(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), savepointTimeout)
	defer cancel()
	_, err := st.b.exec(ctx, sql, nil)
	if err == nil {
		return nil
	}
	if errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("aiodb: %s: connection lost (%v)", sql, err)
	}
	return fmt.Errorf("aiodb: %s: %w", sql, err)
}

// Commit commits the top level or releases a savepoint.
func (lv *txLevel) Commit() error {
	st := lv.st
	switch {
	case lv.done:
		return fmt.Errorf("%w: commit of %s", ErrTxDone, lv)
	case lv.depth < st.depth():
		child := st.open[lv.depth+1]
		return errors.Join(fmt.Errorf("%w: commit of %s while %s is open: rolled back", ErrNestedTxOpen, lv, child), lv.rollback())
	case lv.depth == 0:
		return st.commitTop()
	}
	if err := st.run("RELEASE SAVEPOINT " + lv.name); err != nil {
		// PostgreSQL refuses RELEASE after an error inside the savepoint
		// (25P02); undo the level so the parent stays usable.
		return errors.Join(fmt.Errorf("%w: %s could not be released", ErrTxRolledBack, lv), err, lv.rollback())
	}
	st.pop(lv)
	return nil
}

// Rollback rolls back the top level or rolls back to a savepoint.
func (lv *txLevel) Rollback() error {
	if lv.done {
		return fmt.Errorf("%w: rollback of %s", ErrTxDone, lv)
	}
	return lv.rollback()
}

// rollback undoes lv and every level above it.
func (lv *txLevel) rollback() error {
	st := lv.st
	if lv.depth == 0 {
		st.end()
		return st.root.Rollback()
	}
	st.pop(lv)
	if err := st.run("ROLLBACK TO SAVEPOINT " + lv.name); err != nil {
		// The level's work is still there; the top level must not commit it.
		st.poisoned = err
		return err
	}
	return st.run("RELEASE SAVEPOINT " + lv.name)
}

// commitTop commits the backend transaction, or rolls it back if poisoned.
func (st *txStack) commitTop() error {
	st.end()
	if st.poisoned != nil {
		return errors.Join(fmt.Errorf("%w: a nested rollback failed earlier", ErrTxRolledBack), st.poisoned, st.root.Rollback())
	}
	return st.root.Commit()
}

// pop marks lv and the levels above it ended.
func (st *txStack) pop(lv *txLevel) {
	for _, l := range st.open[lv.depth:] {
		l.done = true
	}
	st.open = st.open[:lv.depth]
}

// end marks every level ended and detaches the stack from the connection.
func (st *txStack) end() {
	st.pop(st.open[0])
	st.c.tx = nil
}

// String names the level in messages: "transaction" or "savepoint sp_3".
func (lv *txLevel) String() string {
	if lv.depth == 0 {
		return "transaction"
	}
	return "savepoint " + lv.name
}

// guard refuses statements that would desynchronise an open transaction:
// raw transaction control on every backend and, on MySQL/MariaDB inside a
// savepoint, statements that implicitly commit.
func (st *txStack) guard(query string) error {
	info := st.c.c.classify(query)
	if info.txControl {
		return fmt.Errorf("%w: %s while aiodb manages a transaction; use BeginTx, Commit and Rollback", ErrTxControl, info.kind)
	}
	if info.implicitCommit && st.depth() > 0 && st.c.c.prof.syntax.dialect == MySQL {
		return fmt.Errorf("%w: %s inside %s would commit the transaction and drop every savepoint", ErrImplicitCommit, info.kind, st.open[st.depth()])
	}
	return nil
}
