package aiodb

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestMySQLCharsetList: go-sql-driver tries each charset of a list in turn;
// through aiodb the list keeps its meaning (the server knows no "none").
func TestMySQLCharsetList(t *testing.T) {
	b := serverBackend(t, envMySQL)
	db := openRouted(t, withOptions(b.dsn, "charset=none,utf8mb4"))
	var cs string
	if err := db.QueryRow("SELECT @@character_set_connection").Scan(&cs); err != nil {
		t.Fatal(err)
	}
	if cs != "utf8mb4" {
		t.Errorf("character_set_connection %q, want utf8mb4", cs)
	}
}

// TestSQLiteBusyTimeout: a write on a SQLite file waits up to 5 s for
// another connection's transaction (Python's sqlite3 default) unless the
// DSN sets its own busy_timeout.
func TestSQLiteBusyTimeout(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		query string
		ms    int
	}{
		{"", 5000},
		{"?_pragma=busy_timeout(0)", 0},
		{"?_pragma=BUSY_TIMEOUT%3D3000", 3000},
	} {
		db := openRouted(t, "sqlite:///"+filepath.Join(t.TempDir(), "busy.db")+tc.query)
		var ms int
		if err := db.QueryRow("PRAGMA busy_timeout").Scan(&ms); err != nil || ms != tc.ms {
			t.Errorf("%q: busy_timeout %d (%v), want %d", tc.query, ms, err, tc.ms)
		}
		if _, err := db.Exec("CREATE TABLE t (v int)"); err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		// Another connection writes while tx holds the lock for hold.
		const hold = 300 * time.Millisecond
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := db.Exec("INSERT INTO t VALUES (2)")
			done <- err
		}()
		if tc.ms == 0 { // no wait: the second writer fails while tx holds the lock
			err = within(t, 5*time.Second, "the second writer", func() error { return <-done })
		}
		time.Sleep(hold)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if tc.ms > 0 {
			err = within(t, 5*time.Second, "the second writer", func() error { return <-done })
		}
		took := time.Since(start)
		var se *sqlite.Error
		switch {
		case tc.ms == 0 && (!errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY):
			t.Errorf("%q: second writer: %v, want SQLITE_BUSY", tc.query, err)
		case tc.ms > 0 && (err != nil || took < hold):
			t.Errorf("%q: second writer: %v after %v, want it to wait for the first", tc.query, err, took)
		}
	}
}
