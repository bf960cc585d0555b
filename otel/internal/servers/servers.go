// Package servers gives this module's tests the test servers that
// scripts/test.sh describes in environment variables, as the main module's
// integration tests do.
package servers

import (
	"database/sql"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aiodb/aiodb"
)

// PostgresReplicas is the variable with the PostgreSQL DSN whose replicas
// are the standbys on ports 5433 and 5434.
const PostgresReplicas = "AIODB_TEST_POSTGRES_REPLICAS"

// DSN returns the DSN in env or skips the test, saying why; in CI (CI set)
// a missing variable fails it: CI provides the servers.
func DSN(t testing.TB, env string) string {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI provides this server, so its tests must run (see scripts/test.sh)", env)
		}
		t.Skipf("%s is not set: skipping tests against this server (scripts/test.sh sets it when the server answers)", env)
	}
	return dsn
}

// standbyLock is the main module's lock (router_integration_test.go):
// tests that stop standbys hold it exclusively, tests that need both
// standbys streaming hold it shared.
const standbyLock = "/tmp/aiodb-test-standbys.lock"

// LockStandbys holds standbyLock shared for the rest of the test, then
// waits until every replica of dsn answers in recovery.
func LockStandbys(t testing.TB, dsn string) {
	t.Helper()
	f, err := os.OpenFile(standbyLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			f.Close()
			t.Fatalf("%s still locked by another test process after 3 minutes", standbyLock)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
	for _, u := range strings.Fields(dsn)[1:] {
		waitRecovery(t, u, time.Minute)
	}
}

// waitRecovery waits until the server at u answers pg_is_in_recovery() = true.
func waitRecovery(t testing.TB, u string, d time.Duration) {
	t.Helper()
	db, err := sql.Open(aiodb.DriverName, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(d)
	for {
		var recovery bool
		err := db.QueryRow("SELECT pg_is_in_recovery()").Scan(&recovery)
		if err == nil && recovery {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby %s not in recovery after %v (%v)", u, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
