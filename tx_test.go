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
	c, err := newConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.primary.backend = dsnConnector{name, mdb.Driver()}
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

// nestedConn opens the mock and a *sql.Conn on it.
func nestedConn(t *testing.T, dsn string) (*sql.Conn, sqlmock.Sqlmock) {
	db, mock := mockDB(t, dsn)
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, mock
}

const pgMock, myMock = "postgres://u@h/db", "mysql://u@h/db"

var ok0 = sqlmock.NewResult(0, 0)

func begin(t *testing.T, c *sql.Conn) *sql.Tx {
	t.Helper()
	tx, err := c.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
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

// TestCommitWithOpenChild: fail closed, and the orphan sends no SQL.
func TestCommitWithOpenChild(t *testing.T) {
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
		t2, err := c.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
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

// TestReleaseFails: PostgreSQL refuses RELEASE after an error; the level is
// rolled back instead and the parent stays usable.
func TestReleaseFails(t *testing.T) {
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

// TestRollbackToFails poisons the transaction: its Commit rolls back.
func TestRollbackToFails(t *testing.T) {
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

// TestBadConnDuringRelease: a backend ErrBadConn at depth 1 must not reach
// database/sql (it would deadlock closing the *sql.Conn against the open
// outer Tx); the call returns promptly and the connection is dropped later.
func TestBadConnDuringRelease(t *testing.T) {
	c, mock := nestedConn(t, pgMock)
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnError(driver.ErrBadConn)
	mock.ExpectExec("ROLLBACK TO SAVEPOINT sp_1").WillReturnError(driver.ErrBadConn)
	mock.ExpectRollback()
	t1, t2 := begin(t, c), begin(t, c)
	done := make(chan error, 1)
	go func() { done <- t2.Commit() }()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, driver.ErrBadConn) {
			t.Fatalf("inner Commit: %v; want an error that is not driver.ErrBadConn", err)
		}
	case <-time.After(time.Second):
		t.Fatal("inner Commit blocked: database/sql deadlock on ErrBadConn")
	}
	if err := t1.Commit(); !errors.Is(err, ErrTxRolledBack) {
		t.Fatalf("outer Commit after a lost savepoint: %v", err)
	}
}

// TestTxControlRefused: raw transaction statements cannot desynchronise
// the stack; nothing is sent.
func TestTxControlRefused(t *testing.T) {
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

// TestImplicitCommitRefused: on MySQL, DDL inside a savepoint is refused
// before it is sent; TEMPORARY tables do not commit and pass.
func TestImplicitCommitRefused(t *testing.T) {
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
