// Package testserver is for the tests of this repository's modules: it
// gives them the servers scripts/test.sh describes in environment
// variables, and the lock files that keep the tests that stop, promote or
// fence a shared server apart from the tests that use it, across test
// processes (`go test ./...` runs packages and modules at the same time).
package testserver

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// The lock files. A test that changes what one covers holds it exclusively;
// a test that needs it as scripts/test-env.sh left it holds it shared.
const (
	Primaries    = "/tmp/aiodb-test-primaries.lock"     // the PostgreSQL and MariaDB primaries
	Standbys     = "/tmp/aiodb-test-standbys.lock"      // the PostgreSQL standbys on 5433 and 5434
	MySQLReplica = "/tmp/aiodb-test-mysql-replica.lock" // the MariaDB replica on 3307
	MySQLGlobals = "/tmp/aiodb-test-mysql-globals.lock" // MariaDB's global variables
)

// lockWait is how long Lock waits for another test process.
const lockWait = 3 * time.Minute

// DSN returns the DSN in the variable env, or skips the test saying why; in
// CI (CI set) a missing variable fails it, because CI provides the servers.
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

// Lock holds the lock file path, exclusively or shared, for the rest of the
// test. Registered before the cleanups that put a server back, it is
// released after them.
func Lock(t testing.TB, path string, exclusive bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(lockWait)
	for syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			f.Close()
			t.Fatalf("%s still locked by another test process after %v", path, lockWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
