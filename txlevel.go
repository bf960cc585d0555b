package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
)

// txLevel is the driver.Tx of one level.
type txLevel struct {
	st        *txStack
	ctx       context.Context // the BeginTx context: once done, database/sql rolls the level back
	depth     int
	release   string // "RELEASE SAVEPOINT <name>" (releaseSQL); "" at depth 0
	readOnly  bool
	done      bool // ended: committed, rolled back, or discarded with a parent
	expired   bool // rolled back by aiodb because its context was done
	endCalled bool // database/sql has called Commit or Rollback
}

var _ driver.Tx = (*txLevel)(nil)

// endErr is the last step of Commit and Rollback: errors at depth ≥ 1, and
// at depth 0 while another *sql.Tx of the connection is open, lose their
// driver.ErrBadConn identity.
func (lv *txLevel) endErr(err error) error {
	if lv.depth > 0 || len(lv.st.handles) > 0 {
		return notBadConn(err)
	}
	return err
}

// Commit commits the top level or releases a savepoint.
func (lv *txLevel) Commit() error {
	c := lv.st.conn
	start := c.track(ReasonTransaction)
	lv.st.markEnded(lv)
	err := lv.commit()
	if err == nil && lv.depth == 0 && !lv.readOnly {
		c.noteWrite(lv.ctx, lv.st.b) // read-your-writes
	}
	err = lv.endErr(err)
	c.observe(lv.ctx, OpCommit, "", "", nil, lv.st.b, nil, start, err) // hook.go
	return err
}

func (lv *txLevel) commit() error {
	st := lv.st
	if lv.done {
		if lv.expired {
			return fmt.Errorf("%w: %s was rolled back when its context ended (%v)", ErrTxRolledBack, lv, context.Cause(lv.ctx))
		}
		return fmt.Errorf("%w: commit of %s", ErrTxDone, lv)
	}
	if st.lost != nil {
		lv.rollback()
		return fmt.Errorf("%w: %w", ErrTxRolledBack, st.lostErr("commit of "+lv.String()))
	}
	reapErr := st.rollbackExpired(lv.depth + 1)
	switch {
	case lv.depth < st.depth():
		child := st.open[lv.depth+1]
		return errors.Join(fmt.Errorf("%w: commit of %s while %s is open: rolled back", ErrNestedTxOpen, lv, child), reapErr, lv.rollback())
	case lv.depth == 0:
		return errors.Join(reapErr, st.commitTop())
	}
	if err := st.run(context.Background(), lv.release); err != nil {
		// PostgreSQL refuses RELEASE after an error inside the savepoint
		// (25P02); undo the level so the parent stays usable.
		return errors.Join(fmt.Errorf("%w: %s could not be released", ErrTxRolledBack, lv), err, reapErr, lv.rollback())
	}
	st.pop(lv)
	return reapErr
}

// Rollback rolls back the top level or rolls back to a savepoint. A level
// aiodb already rolled back because its context was done reports success.
func (lv *txLevel) Rollback() error {
	c := lv.st.conn
	start := c.track(ReasonTransaction)
	err := lv.rollbackLevel()
	c.observe(lv.ctx, OpRollback, "", "", nil, lv.st.b, nil, start, err) // hook.go
	return err
}

// rollbackLevel is Rollback.
func (lv *txLevel) rollbackLevel() error {
	lv.st.markEnded(lv)
	if lv.done {
		if lv.expired {
			return nil
		}
		return fmt.Errorf("%w: rollback of %s", ErrTxDone, lv)
	}
	return lv.endErr(lv.rollback())
}

// rollback undoes lv and every level above it. In a transaction the
// server has ended there is nothing to undo: it sends no savepoint
// statement, and the backend's Rollback of the top level only lets the
// backend driver forget the transaction (its error does not matter).
func (lv *txLevel) rollback() error {
	st := lv.st
	if lv.depth == 0 {
		st.end()
		err := st.b.recordBadConn(st.root.Rollback())
		if st.lost != nil {
			return nil
		}
		return err
	}
	st.pop(lv)
	if st.lost != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), savepointTimeout)
	defer cancel()
	if err := st.run(ctx, "ROLLBACK TO SAVEPOINT "+lv.name()); err != nil {
		// The level's work is still there; the top level must not commit it.
		st.poisoned = err
		return err
	}
	return st.run(ctx, lv.release)
}

// String names the level in messages: "transaction" or "savepoint sp_3".
func (lv *txLevel) String() string {
	if lv.depth == 0 {
		return "transaction"
	}
	return "savepoint " + lv.name()
}

// name is the level's savepoint name; "" at depth 0.
func (lv *txLevel) name() string {
	if lv.depth == 0 {
		return ""
	}
	return lv.release[nameAt:]
}
