package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"

	"github.com/aiodb/aiodb/internal/backend"
)

// mockDB opens an aiodb *sql.DB for dsn whose primary backend is go-sqlmock,
// so a test can assert the exact statements aiodb sends.
func mockDB(t *testing.T, dsn string) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	name := fmt.Sprintf("mock-%s-%d", t.Name(), tableSeq.Add(1))
	mdb, mock, err := sqlmock.NewWithDSN(name, sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConnectorWith(cfg, func(Node, string) (driver.Connector, error) {
		return backend.DSNConnector{DSN: name, Drv: mdb.Driver()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		db.Close()
		mdb.Close()
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Error(err)
		}
	})
	return db, mock
}

// nestedConn opens the mock and a *sql.Conn on it. The *sql.Conn is
// closed when the test ends, within 5s: Conn.Close waits for open Txs,
// which beginTx rolls back first, also when the test failed.
func nestedConn(t *testing.T, dsn string) (*sql.Conn, sqlmock.Sqlmock) {
	db, mock := mockDB(t, dsn)
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { within(t, 5*time.Second, "Conn.Close", c.Close) })
	return c, mock
}

const pgMock, myMock = "postgres://u@h/db", "mysql://u@h/db"

var ok0 = sqlmock.NewResult(0, 0)

func begin(t *testing.T, c *sql.Conn) *sql.Tx {
	t.Helper()
	return beginTx(t, c, context.Background(), nil)
}

// beginTx begins a transaction on c, or fails the test, and rolls it back
// when the test ends (a no-op for a Tx that ended).
func beginTx(t *testing.T, c *sql.Conn, ctx context.Context, opts *sql.TxOptions) *sql.Tx {
	t.Helper()
	tx, err := c.BeginTx(ctx, opts)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx
}

func TestSavepointCommit(t *testing.T) { // S1
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectCommit()
	t1 := begin(t, c)
	t2 := begin(t, c)
	if err := t2.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	c.Raw(func(dc any) error {
		if ac := dc.(*conn); !ac.IsValid() || ac.ResetSession(context.Background()) != nil {
			t.Error("a connection whose transaction ended cleanly is not reusable")
		}
		return nil
	})
}

func TestSavepointRollback(t *testing.T) { // S2, S6: names never reused
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("SAVEPOINT sp_2").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_2").WillReturnResult(ok0)
	mock.ExpectCommit()
	t1 := begin(t, c)
	if err := begin(t, c).Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := begin(t, c).Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestSavepointThreeLevels(t *testing.T) {
	c, mock := nestedConn(t, myMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("SAVEPOINT sp_2").WillReturnResult(ok0)
	mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_2").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_2").WillReturnResult(ok0)
	mock.ExpectExec("SAVEPOINT sp_3").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_3").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectRollback()
	t1, t2 := begin(t, c), begin(t, c)
	if err := begin(t, c).Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := begin(t, c).Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointCommitWithOpenChild: fail closed, and the orphan sends no SQL.
func TestSavepointCommitWithOpenChild(t *testing.T) {
	t.Run("top", func(t *testing.T) { // S14-like
		c, mock := nestedConn(t, pgMock)
		mock.ExpectBegin()
		mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
		mock.ExpectRollback()
		t1, t2 := begin(t, c), begin(t, c)
		if err := t1.Commit(); !errors.Is(err, ErrNestedTxOpen) {
			t.Fatalf("outer Commit: %v, want ErrNestedTxOpen", err)
		}
		for _, err := range []error{t2.Commit()} {
			if !errors.Is(err, ErrTxDone) || errors.Is(err, driver.ErrBadConn) {
				t.Fatalf("orphan Commit: %v, want ErrTxDone", err)
			}
		}
	})
	t.Run("middle", func(t *testing.T) {
		c, mock := nestedConn(t, pgMock)
		mock.ExpectBegin()
		mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
		mock.ExpectExec("SAVEPOINT sp_2").WillReturnResult(ok0)
		mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnResult(ok0)
		mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
		mock.ExpectCommit()
		t1, t2, t3 := begin(t, c), begin(t, c), begin(t, c)
		if err := t2.Commit(); !errors.Is(err, ErrNestedTxOpen) {
			t.Fatalf("middle Commit: %v, want ErrNestedTxOpen", err)
		}
		if err := t3.Rollback(); !errors.Is(err, ErrTxDone) {
			t.Fatalf("orphan Rollback: %v, want ErrTxDone", err)
		}
		if err := t1.Commit(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNestedOptions(t *testing.T) {
	ctx := context.Background()
	t.Run("isolation", func(t *testing.T) { // S17
		c, mock := nestedConn(t, pgMock)
		mock.ExpectBegin()
		mock.ExpectCommit()
		t1 := begin(t, c)
		if _, err := c.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}); !errors.Is(err, ErrNestedTxOptions) {
			t.Fatalf("got %v, want ErrNestedTxOptions", err)
		}
		if err := t1.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("read-only on postgres is scoped", func(t *testing.T) { // S18 mode A
		c, mock := nestedConn(t, pgMock)
		mock.ExpectBegin()
		mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
		mock.ExpectExec("SET TRANSACTION READ ONLY").WillReturnResult(ok0)
		mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
		mock.ExpectCommit()
		t1 := begin(t, c)
		t2 := beginTx(t, c, ctx, &sql.TxOptions{ReadOnly: true})
		if err := t2.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := t1.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("read-only on mysql is refused", func(t *testing.T) {
		c, mock := nestedConn(t, myMock)
		mock.ExpectBegin()
		mock.ExpectRollback()
		t1 := begin(t, c)
		if _, err := c.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); !errors.Is(err, ErrNestedTxOptions) {
			t.Fatalf("got %v, want ErrNestedTxOptions", err)
		}
		if err := t1.Rollback(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSavepointReleaseFails: PostgreSQL refuses RELEASE after an error; the level is
// rolled back instead and the parent stays usable.
func TestSavepointReleaseFails(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	aborted := errors.New("current transaction is aborted")
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnError(aborted)
	mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectCommit()
	t1, t2 := begin(t, c), begin(t, c)
	err := t2.Commit()
	if !errors.Is(err, ErrTxRolledBack) || !errors.Is(err, aborted) {
		t.Fatalf("got %v, want ErrTxRolledBack wrapping the cause", err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointRollbackToFails poisons the transaction: its Commit rolls back.
func TestSavepointRollbackToFails(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnError(errors.New("boom"))
	mock.ExpectRollback()
	t1, t2 := begin(t, c), begin(t, c)
	if err := t2.Rollback(); err == nil {
		t.Fatal("failed ROLLBACK TO reported success")
	}
	if _, err := c.BeginTx(context.Background(), nil); !errors.Is(err, ErrTxRolledBack) {
		t.Fatalf("BeginTx in a poisoned transaction: %v", err)
	}
	if err := t1.Commit(); !errors.Is(err, ErrTxRolledBack) {
		t.Fatalf("Commit of a poisoned transaction: %v, want ErrTxRolledBack", err)
	}
}

// TestSavepointBadConnDuringRelease: a backend ErrBadConn at depth 1 must not reach
// database/sql (it would deadlock closing the *sql.Conn against the open
// outer Tx); the call returns promptly and the connection is dropped later.
func TestSavepointBadConnDuringRelease(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnError(driver.ErrBadConn)
	mock.ExpectRollback() // the transaction is lost with the link: no ROLLBACK TO
	t1, t2 := begin(t, c), begin(t, c)
	done := make(chan error, 1)
	go func() { done <- t2.Commit() }()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, driver.ErrBadConn) {
			t.Fatalf("inner Commit: %v; want an error that is not driver.ErrBadConn", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("inner Commit blocked: database/sql deadlock on ErrBadConn")
	}
	valid := func() (bool, error) {
		var ok bool
		var reset error
		c.Raw(func(dc any) error {
			ac := dc.(*conn)
			ok, reset = ac.IsValid(), ac.ResetSession(context.Background())
			return nil
		})
		return ok, reset
	}
	if ok, reset := valid(); ok || !errors.Is(reset, driver.ErrBadConn) {
		t.Errorf("with the stack open: IsValid %v, ResetSession %v; want false, ErrBadConn", ok, reset)
	}
	if err := t1.Commit(); !errors.Is(err, ErrTxRolledBack) {
		t.Fatalf("outer Commit after a lost savepoint: %v", err)
	}
	if ok, reset := valid(); ok || !errors.Is(reset, driver.ErrBadConn) {
		t.Errorf("broken connection: IsValid %v, ResetSession %v; want false, ErrBadConn", ok, reset)
	}
}

// TestSavepointTxControlRefused: raw transaction statements cannot desynchronise
// the stack; nothing is sent.
func TestSavepointTxControlRefused(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectRollback()
	t1 := begin(t, c)
	for _, q := range []string{"COMMIT", "rollback", "SAVEPOINT x", "RELEASE SAVEPOINT x", "BEGIN", "/* hi */ START TRANSACTION", "END"} {
		if _, err := t1.Exec(q); !errors.Is(err, ErrTxControl) {
			t.Errorf("%s: %v, want ErrTxControl", q, err)
		}
	}
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointImplicitCommitRefused: on MySQL, DDL inside a savepoint is refused
// before it is sent; TEMPORARY tables do not commit and pass.
func TestSavepointImplicitCommitRefused(t *testing.T) {
	c, mock := nestedConn(t, myMock)
	mock.ExpectBegin()
	mock.ExpectExec("CREATE TABLE z (y int)").WillReturnResult(ok0) // depth 0: allowed (the user's call)
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("CREATE TEMPORARY TABLE tt (y int)").WillReturnResult(ok0)
	mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectRollback()
	t1 := begin(t, c)
	if _, err := t1.Exec("CREATE TABLE z (y int)"); err != nil {
		t.Fatal(err)
	}
	t2 := begin(t, c)
	for _, q := range []string{"CREATE TABLE z2 (y int)", "ALTER TABLE z ADD w int", "TRUNCATE z", "LOCK TABLES z WRITE", "SET autocommit = 1"} {
		if _, err := t2.Exec(q); !errors.Is(err, ErrImplicitCommit) {
			t.Errorf("%s: %v, want ErrImplicitCommit", q, err)
		}
	}
	if _, err := t2.Exec("CREATE TEMPORARY TABLE tt (y int)"); err != nil {
		t.Fatal(err)
	}
	if err := t2.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointTopLevelBadConnWithOrphan: an ErrBadConn from the top level while an
// orphaned nested *sql.Tx still holds the *sql.Conn would make database/sql
// close the Conn, which waits for that Tx: forever, since the goroutine
// that would end it is the one waiting.
func TestSavepointTopLevelBadConnWithOrphan(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectRollback().WillReturnError(driver.ErrBadConn)
	t1, t2 := begin(t, c), begin(t, c)
	err := within(t, time.Second, "T1.Rollback", t1.Rollback)
	if err == nil || errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("T1.Rollback: %v; want an error that is not driver.ErrBadConn", err)
	}
	if err := t2.Rollback(); !errors.Is(err, ErrTxDone) {
		t.Fatalf("orphan Rollback: %v, want ErrTxDone", err)
	}
}

// TestSavepointConnBadConnInTx: the same deadlock through a statement sent on the
// *sql.Conn while its transaction is open.
func TestSavepointConnBadConnInTx(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("INSERT 1").WillReturnError(driver.ErrBadConn)
	mock.ExpectRollback()
	t1 := begin(t, c)
	err := within(t, time.Second, "Conn.ExecContext", func() error {
		_, err := c.ExecContext(context.Background(), "INSERT 1")
		return err
	})
	if err == nil || errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("Conn.ExecContext: %v; want an error that is not driver.ErrBadConn", err)
	}
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointSecondCommitSendsNothing is S20: database/sql answers the second call.
func TestSavepointSecondCommitSendsNothing(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectCommit()
	t1, t2 := begin(t, c), begin(t, c)
	if err := t2.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(); !errors.Is(err, sql.ErrTxDone) {
		t.Fatalf("second Commit: %v", err)
	}
	if err := t2.Rollback(); !errors.Is(err, sql.ErrTxDone) {
		t.Fatalf("Rollback after Commit: %v", err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointInnerContextDone: once a nested level's context is done, the level is
// rolled back before the next statement or Commit on the connection,
// whenever database/sql's awaitDone goroutine gets to it; its Rollback then
// sends nothing. The statement sequence is the same in either order.
func TestSavepointInnerContextDone(t *testing.T) {
	for _, stmt := range []bool{true, false} {
		t.Run(fmt.Sprintf("statement=%v", stmt), func(t *testing.T) {
			c, mock := nestedConn(t, pgMock)
			mock.ExpectBegin()
			mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
			mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnResult(ok0)
			mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
			if stmt {
				mock.ExpectExec("INSERT 3").WillReturnResult(ok0)
			}
			mock.ExpectCommit()
			t1 := begin(t, c)
			ctx, cancel := context.WithCancel(context.Background())
			t2 := beginTx(t, c, ctx, nil)
			cancel()
			if stmt {
				if _, err := t1.Exec("INSERT 3"); err != nil {
					t.Fatal(err)
				}
			}
			if err := t1.Commit(); err != nil {
				t.Fatalf("T1.Commit: %v", err)
			}
			if err := t2.Commit(); err == nil {
				t.Fatal("Commit of a level whose context is done succeeded")
			}
		})
	}
}

// TestSavepointTopContextDoneThenBeginTx: a new BeginTx on the *sql.Conn right after
// the transaction's context ended begins a new transaction instead of
// nesting in the dying one.
func TestSavepointTopContextDoneThenBeginTx(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectRollback()
	mock.ExpectBegin()
	mock.ExpectCommit()
	ctx, cancel := context.WithCancel(context.Background())
	beginTx(t, c, ctx, nil)
	cancel()
	if err := begin(t, c).Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointOrphanRefusesStatements: after the top level ended under an open
// nested *sql.Tx, statements and BeginTx are refused, not autocommitted,
// until that Tx ends; its Commit sends nothing.
func TestSavepointOrphanRefusesStatements(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectRollback()
	mock.ExpectExec("INSERT 3").WillReturnResult(ok0)
	ctx := context.Background()
	t1, t2 := begin(t, c), begin(t, c)
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := t2.Exec("INSERT 1"); !errors.Is(err, ErrTxDone) {
		t.Fatalf("statement through the orphan: %v, want ErrTxDone", err)
	}
	if _, err := c.ExecContext(ctx, "INSERT 2"); !errors.Is(err, ErrTxDone) {
		t.Fatalf("statement through the Conn: %v, want ErrTxDone", err)
	}
	if _, err := c.BeginTx(ctx, nil); !errors.Is(err, ErrTxDone) {
		t.Fatalf("BeginTx: %v, want ErrTxDone", err)
	}
	if err := t2.Commit(); !errors.Is(err, ErrTxDone) {
		t.Fatalf("orphan Commit: %v, want ErrTxDone", err)
	}
	if _, err := c.ExecContext(ctx, "INSERT 3"); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointGone: MySQL error 1305 on RELEASE or ROLLBACK TO means the
// transaction was ended under aiodb (an implicit commit, a deadlock):
// ErrImplicitCommit and ErrTxAborted; nothing more is sent but the
// backend's ROLLBACK, and the transaction's Commit says it rolled back.
func TestSavepointGone(t *testing.T) {
	c, mock := nestedConn(t, myMock)
	gone := &mysql.MySQLError{Number: 1305, Message: "SAVEPOINT sp_1 does not exist"}
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnError(gone)
	mock.ExpectRollback()
	t1, t2 := begin(t, c), begin(t, c)
	if err := t2.Commit(); !errors.Is(err, ErrImplicitCommit) || !errors.Is(err, ErrTxRolledBack) || !errors.Is(err, ErrTxAborted) {
		t.Fatalf("T2.Commit: %v, want ErrImplicitCommit, ErrTxAborted and ErrTxRolledBack", err)
	}
	if err := t1.Commit(); !errors.Is(err, ErrImplicitCommit) || !errors.Is(err, ErrTxRolledBack) || !errors.Is(err, ErrTxAborted) {
		t.Fatalf("T1.Commit: %v, want ErrTxRolledBack and ErrTxAborted wrapping ErrImplicitCommit", err)
	}
}

// TestSavepointPreparedTxControlRefused: a statement prepared before the transaction
// is guarded when it runs inside it.
func TestSavepointPreparedTxControlRefused(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectPrepare("COMMIT")
	mock.ExpectBegin()
	mock.ExpectRollback()
	ctx := context.Background()
	s, err := c.PrepareContext(ctx, "COMMIT")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t1 := begin(t, c)
	if _, err := s.ExecContext(ctx); !errors.Is(err, ErrTxControl) {
		t.Fatalf("prepared COMMIT inside a transaction: %v, want ErrTxControl", err)
	}
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestSavepointNoProfile: an ODBC backend of unknown SQL ("ansi") cannot
// nest; the top level works.
func TestSavepointNoProfile(t *testing.T) {
	db, mock := mockDB(t, "odbc://mock?aiodb_odbc_dialect=ansi")
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mock.ExpectBegin()
	mock.ExpectCommit()
	t1 := begin(t, c)
	if _, err := c.BeginTx(context.Background(), nil); !errors.Is(err, ErrNestedTxOptions) {
		t.Fatalf("nested BeginTx on an ansi ODBC profile: %v, want ErrNestedTxOptions", err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
}
