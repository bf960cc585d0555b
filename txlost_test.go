package aiodb

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"
)

// TestTxLostLockWaitTimeout: a MySQL lock wait timeout ends the whole
// transaction only when the server runs with innodb_rollback_on_timeout;
// aiodb asks the server once per node and, when it is on, refuses the rest
// of the stack unsent: only the backend's ROLLBACK follows.
func TestTxLostLockWaitTimeout(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[on], func(t *testing.T) {
			c, mock := nestedConn(t, myMock)
			timeout := &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}
			mock.ExpectBegin()
			mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
			mock.ExpectExec("UPDATE t SET v = 1").WillReturnError(timeout)
			mock.ExpectQuery("SELECT @@innodb_rollback_on_timeout").WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow(map[bool]int{false: 0, true: 1}[on]))
			if on {
				mock.ExpectRollback()
			} else {
				mock.ExpectExec("UPDATE t SET v = 2").WillReturnResult(ok0)
				mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnResult(ok0)
				mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
				mock.ExpectCommit()
			}
			t1 := begin(t, c)
			t2 := begin(t, c)
			if _, err := t2.Exec("UPDATE t SET v = 1"); err != timeout {
				t.Fatalf("the statement that timed out: %v, want the server's error unchanged", err)
			}
			_, err := t2.Exec("UPDATE t SET v = 2")
			if on != errors.Is(err, ErrTxAborted) {
				t.Fatalf("next statement: %v (rollback_on_timeout %v)", err, on)
			}
			if on && !errors.Is(err, timeout) {
				t.Errorf("ErrTxAborted does not wrap the server's error: %v", err)
			}
			if err := t2.Rollback(); err != nil {
				t.Fatalf("T2.Rollback: %v", err)
			}
			err = t1.Commit()
			if on != errors.Is(err, ErrTxAborted) || on != errors.Is(err, ErrTxRolledBack) {
				t.Fatalf("T1.Commit: %v (rollback_on_timeout %v)", err, on)
			}
		})
	}
}

// TestTxLostDeadlockSendsNothing: after a deadlock (InnoDB rolled the
// transaction back), statements, prepares and nested BeginTx of the stack
// are refused without reaching the backend.
func TestTxLostDeadlockSendsNothing(t *testing.T) {
	c, mock := nestedConn(t, myMock)
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	mock.ExpectBegin()
	mock.ExpectExec("UPDATE t SET v = 1").WillReturnError(deadlock)
	mock.ExpectRollback()
	t1 := begin(t, c)
	if _, err := t1.Exec("UPDATE t SET v = 1"); err != deadlock {
		t.Fatalf("deadlock: %v", err)
	}
	if _, err := t1.Exec("INSERT INTO t VALUES (1)"); !errors.Is(err, ErrTxAborted) {
		t.Errorf("Exec after the deadlock: %v", err)
	}
	if _, err := t1.Query("SELECT 1"); !errors.Is(err, ErrTxAborted) {
		t.Errorf("Query after the deadlock: %v", err)
	}
	if _, err := t1.Prepare("INSERT INTO t VALUES (?)"); !errors.Is(err, ErrTxAborted) {
		t.Errorf("Prepare after the deadlock: %v", err)
	}
	if _, err := c.BeginTx(t.Context(), nil); !errors.Is(err, ErrTxAborted) {
		t.Errorf("nested BeginTx after the deadlock: %v", err)
	}
	if err := t1.Rollback(); err != nil {
		t.Errorf("Rollback of a lost transaction: %v", err)
	}
}

// TestTxLostNotByDeadline: a statement whose own context expired does not
// end the transaction (context.DeadlineExceeded is a net.Error, which reads
// as a lost link, and modernc calls the connection invalid while the
// interrupt is pending): SQLite keeps the transaction after an interrupted
// read, and the next statements and the commit run, as through modernc
// directly.
func TestTxLostNotByDeadline(t *testing.T) {
	db := openDB(t, sqliteBackend(t))
	ctx := context.Background()
	tbl := sqliteBackend(t).table(t, db.DB(), "v INT")
	err := db.Transaction(ctx, func(ctx context.Context) error {
		if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" VALUES (1)"); err != nil {
			return err
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		slow := "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s) SELECT count(*) FROM s"
		if _, err := FetchVal[int64](short, db, slow); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the endless read: %v, want context.DeadlineExceeded", err)
		}
		_, err := db.Execute(ctx, "INSERT INTO "+tbl+" VALUES (2)")
		return err
	})
	if err != nil {
		t.Fatalf("transaction after a read whose context expired: %v", err)
	}
	if n, err := FetchVal[int64](ctx, db, "SELECT count(*) FROM "+tbl); err != nil || n != 2 {
		t.Errorf("%d rows committed (%v), want 2", n, err)
	}
}
