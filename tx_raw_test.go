package aiodb

import (
	"errors"
	"testing"
)

// TestRawSavepoints: with aiodb_raw_savepoints=allow the application's own
// savepoint statements (GORM, bun) pass while aiodb has no nested level
// open; aiodb's names and everything else stay refused.
func TestRawSavepoints(t *testing.T) {
	c, mock := nestedConn(t, pgMock+"?aiodb_raw_savepoints=allow")
	mock.ExpectBegin()
	mock.ExpectExec("SAVEPOINT sp1234").WillReturnResult(ok0)
	mock.ExpectExec("ROLLBACK TO SAVEPOINT sp1234").WillReturnResult(ok0)
	mock.ExpectExec(`RELEASE SAVEPOINT "SP_ab12"`).WillReturnResult(ok0)
	mock.ExpectExec("SAVEPOINT SP_1234567890123456789012345678").WillReturnResult(ok0)
	mock.ExpectExec("SAVEPOINT sp_01").WillReturnResult(ok0)
	mock.ExpectExec("SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectExec("RELEASE SAVEPOINT sp_1").WillReturnResult(ok0)
	mock.ExpectCommit()
	t1 := begin(t, c)
	for _, q := range []string{"SAVEPOINT sp1234", "ROLLBACK TO SAVEPOINT sp1234", `RELEASE SAVEPOINT "SP_ab12"`,
		"SAVEPOINT SP_1234567890123456789012345678", "SAVEPOINT sp_01"} {
		if _, err := t1.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{"SAVEPOINT sp_7", "SAVEPOINT SP_42", "ROLLBACK TO sp_1", "COMMIT", "BEGIN", "SAVEPOINT a; COMMIT"} {
		if _, err := t1.Exec(q); !errors.Is(err, ErrTxControl) {
			t.Errorf("%s: %v, want ErrTxControl", q, err)
		}
	}
	t2 := begin(t, c)
	if _, err := t2.Exec("SAVEPOINT mine"); !errors.Is(err, ErrTxControl) {
		t.Errorf("raw savepoint inside an aiodb level: %v, want ErrTxControl", err)
	}
	if err := t2.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
}
