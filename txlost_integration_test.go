package aiodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Transactions the server ends under aiodb. A MySQL/MariaDB deadlock victim
// loses its whole transaction (InnoDB rolls it back, savepoints included),
// and the session is back in autocommit: a later statement of the program's
// "transaction" would commit at once. aiodb must refuse every statement of
// the lost stack without sending it, fail every Commit and let every
// Rollback succeed. PostgreSQL's deadlock victim only aborts to the
// savepoint, which ROLLBACK TO recovers: that must keep working.

// deadlockVictim makes the nested level t2 of e's connection the victim of
// a two-connection deadlock and returns the error of its statement that
// closed the cycle. The other connection is made the heavier transaction
// (InnoDB rolls back the lighter one) and, on PostgreSQL, the one with the
// long deadlock_timeout, waiting before the victim's statement closes the
// cycle (the first backend whose timeout expires runs the check and is
// cancelled).
func deadlockVictim(t *testing.T, e *nestedEnv, t2 *sql.Tx) error {
	t.Helper()
	lk := e.b.table(t, e.db, "id INT PRIMARY KEY, v INT")
	heavy := e.b.table(t, e.db, "id INT PRIMARY KEY")
	if _, err := e.db.Exec("INSERT INTO " + lk + " (id, v) VALUES (1, 0), (2, 0)"); err != nil {
		t.Fatal(err)
	}
	other, err := e.db.Conn(background)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	var otherID int64
	switch {
	case e.pg():
		if _, err := other.ExecContext(background, "SET deadlock_timeout = '60s'"); err != nil {
			t.Fatal(err)
		}
		e.ok("victim's deadlock_timeout", e.rawExec("SET deadlock_timeout = '50ms'"))
		err = other.QueryRowContext(background, "SELECT pg_backend_pid()").Scan(&otherID)
	default:
		err = other.QueryRowContext(background, "SELECT CONNECTION_ID()").Scan(&otherID)
	}
	if err != nil {
		t.Fatal(err)
	}

	if _, err := t2.Exec("UPDATE "+lk+" SET v = v + 1 WHERE id = ?", 1); err != nil {
		t.Fatalf("victim's first update: %v", err)
	}
	otx, err := other.BeginTx(background, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otx.Rollback() })
	for i := range 50 { // the heavier transaction
		if _, err := otx.Exec("INSERT INTO "+heavy+" (id) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := otx.Exec("UPDATE "+lk+" SET v = v + 10 WHERE id = ?", 2); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := otx.Exec("UPDATE "+lk+" SET v = v + 10 WHERE id = ?", 1)
		waited <- err
	}()
	waiting := "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = ? AND trx_state = 'LOCK WAIT'"
	if e.pg() {
		waiting = "SELECT count(*) FROM pg_stat_activity WHERE pid = ? AND wait_event_type = 'Lock'"
	}
	rtPoll(t, 10*time.Second, "the other transaction waits for the victim's lock", func() bool {
		var n int
		if err := e.db.QueryRow(waiting, otherID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	_, victimErr := t2.Exec("UPDATE "+lk+" SET v = v + 1 WHERE id = ?", 2)
	if victimErr == nil {
		t.Fatal("the victim's second update succeeded: no deadlock")
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("the other transaction was chosen as the victim: %v (victim: %v)", err, victimErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the other transaction still waits after the victim's error %v", victimErr)
	}
	if err := otx.Commit(); err != nil {
		t.Fatal(err)
	}
	return victimErr
}

// TestTxLostMySQLDeadlock: after InnoDB rolled the victim's whole
// transaction back, nothing of it is committed: the statements that follow
// are refused unsent with ErrTxAborted, Commit fails at every level,
// Rollback succeeds, and the connection then works in autocommit again.
func TestTxLostMySQLDeadlock(t *testing.T) {
	nb := nestedSetup(t, serverBackend(t, envMySQL))
	for _, end := range []string{"commit", "rollback"} {
		t.Run(end, func(t *testing.T) {
			e := nb.env(t)
			t1 := e.begin()
			e.ins(t1, 1)
			t2 := e.begin()
			err := deadlockVictim(t, e, t2)
			me, ok := err.(*mysql.MySQLError) // the server's own error, unwrapped, as on the raw driver
			if !ok || me.Number != 1213 {
				t.Fatalf("victim's error %T %v, want *mysql.MySQLError 1213", err, err)
			}
			e.ok("T2.Rollback of a lost transaction", t2.Rollback())
			e.fails("insert through T1 after the deadlock", e.insert(t1, 2), ErrTxAborted)
			var me2 *mysql.MySQLError
			if err := e.insert(t1, 3); !errors.As(err, &me2) || me2.Number != 1213 {
				t.Errorf("ErrTxAborted does not wrap the server's error: %v", err)
			}
			t3, err := e.c.BeginTx(background, nil)
			if err == nil {
				e.txs = append(e.txs, t3)
			}
			e.fails("nested BeginTx after the deadlock", err, ErrTxAborted)
			if end == "commit" {
				e.fails("T1.Commit", t1.Commit(), ErrTxAborted, ErrTxRolledBack)
			} else {
				e.ok("T1.Rollback", t1.Rollback())
			}
			e.want()
			e.ins(e.c, 4) // the connection works again, in autocommit
			e.want(4)
		})
	}
}

// TestTxLostPostgresDeadlockRecovers: a PostgreSQL deadlock victim's
// transaction is only aborted to the savepoint; ROLLBACK TO recovers it
// and the top level commits its own rows. Through pgx and ODBC.
func TestTxLostPostgresDeadlockRecovers(t *testing.T) {
	for _, env := range []string{envPostgres, envODBC} {
		t.Run(env, func(t *testing.T) {
			nb := nestedSetup(t, serverBackend(t, env))
			if !nb.pg() {
				t.Skipf("%s is not PostgreSQL", env)
			}
			e := nb.env(t)
			t1 := e.begin()
			e.ins(t1, 1)
			t2 := e.begin()
			err := deadlockVictim(t, e, t2)
			var pe *pgconn.PgError
			if nb.b.name != "odbc" && (!errors.As(err, &pe) || pe.Code != "40P01") {
				t.Fatalf("victim's error %v, want SQLSTATE 40P01", err)
			}
			if nb.b.name == "odbc" && !strings.Contains(err.Error(), "40P01") {
				t.Fatalf("victim's error %v, want SQLSTATE 40P01", err)
			}
			e.ok("T2.Rollback (ROLLBACK TO recovers)", t2.Rollback())
			e.ins(t1, 2)
			e.ok("T1.Commit", t1.Commit())
			e.want(1, 2)
		})
	}
}

// TestTxLostMySQLLockWaitTimeout: with innodb_rollback_on_timeout off (the
// default, and this server's setting) a lock wait timeout undoes only the
// statement; the transaction goes on and commits.
func TestTxLostMySQLLockWaitTimeout(t *testing.T) {
	nb := nestedSetup(t, serverBackend(t, envMySQL))
	var on int
	if err := nb.db.QueryRow("SELECT @@innodb_rollback_on_timeout").Scan(&on); err != nil || on != 0 {
		t.Skipf("innodb_rollback_on_timeout = %d (%v): this test needs it off", on, err)
	}
	e := nb.env(t)
	e.ok("lock wait timeout", e.rawExec("SET SESSION innodb_lock_wait_timeout = 1"))
	t1 := e.begin()
	e.ins(t1, 1)
	t2 := e.begin()
	other, err := nb.db.BeginTx(background, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.Exec("INSERT INTO "+e.tbl+" (x) VALUES (?)", 2); err != nil {
		t.Fatal(err)
	}
	err = e.insert(t2, 2)
	if me, ok := err.(*mysql.MySQLError); !ok || me.Number != 1205 {
		t.Fatalf("insert of a locked key: %T %v, want *mysql.MySQLError 1205", err, err)
	}
	other.Rollback()
	e.ins(t2, 3)
	e.ok("T2.Commit", t2.Commit())
	e.ok("T1.Commit", t1.Commit())
	e.want(1, 3)
}

// TestTxLostSQLiteInterrupt: SQLite rolls an explicit transaction back as
// a whole when a write in it is interrupted (modernc interrupts a
// statement whose context ends). aiodb sees the rollback (the connection's
// rollback hook) and refuses the rest of the stack instead of letting it
// autocommit.
func TestTxLostSQLiteInterrupt(t *testing.T) {
	nb := nestedSetup(t, sqliteBackend(t))
	e := nb.env(t)
	big := nb.b.table(t, nb.db, "x INT")
	t1 := e.begin()
	e.ins(t1, 1)
	t2 := e.begin()
	ctx, cancel := context.WithTimeout(background, 100*time.Millisecond)
	defer cancel()
	_, err := t2.ExecContext(ctx, "INSERT INTO "+big+" WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT i FROM c")
	if err == nil {
		t.Fatal("the endless insert returned without error")
	}
	e.ok("T2.Rollback of a lost transaction", t2.Rollback())
	e.fails("insert through T1 after the rollback", e.insert(t1, 2), ErrTxAborted)
	e.fails("T1.Commit", t1.Commit(), ErrTxAborted)
	e.want()
	e.ins(e.c, 3)
	e.want(3)
}

// TestTxLostKilledSession: a session killed inside a transaction is a lost
// transaction on every server backend: statements fail with ErrTxAborted
// unsent, Commit fails, Rollback succeeds, and the pool replaces the
// connection.
func TestTxLostKilledSession(t *testing.T) {
	for _, env := range []string{envPostgres, envMySQL} {
		t.Run(env, func(t *testing.T) {
			nb := nestedSetup(t, serverBackend(t, env))
			e := nb.env(t)
			var id int64
			q, kill, alive := "SELECT CONNECTION_ID()", "KILL %d", "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d"
			if nb.pg() {
				q, kill, alive = "SELECT pg_backend_pid()", "SELECT pg_terminate_backend(%d)", "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %d"
			}
			t1 := e.begin()
			if err := t1.QueryRow(q).Scan(&id); err != nil {
				t.Fatal(err)
			}
			e.ins(t1, 1)
			t2 := e.begin()
			e.ins(t2, 2)
			if _, err := nb.raw.Exec(fmt.Sprintf(kill, id)); err != nil {
				t.Fatal(err)
			}
			rtPoll(t, 5*time.Second, "the killed session is gone", func() bool {
				var n int
				e.ok("session gone?", nb.raw.QueryRow(fmt.Sprintf(alive, id)).Scan(&n))
				return n == 0
			})
			e.fails("insert on the killed session", e.insert(t2, 3))
			e.ok("T2.Rollback", t2.Rollback())
			e.fails("insert through T1", e.insert(t1, 4), ErrTxAborted)
			e.fails("T1.Commit", t1.Commit(), ErrTxAborted)
			e.want()
		})
	}
}
