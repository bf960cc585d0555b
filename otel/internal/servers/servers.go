// Package servers gives this module's tests the test servers that
// scripts/test.sh describes in environment variables, as the main module's
// integration tests do.
package servers

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/aiodb/aiodb"
	"github.com/aiodb/aiodb/internal/testserver"
)

// PostgresReplicas is the variable with the PostgreSQL DSN whose replicas
// are the standbys on ports 5433 and 5434.
const PostgresReplicas = "AIODB_TEST_POSTGRES_REPLICAS"

// LockStandbys holds the main module's standby lock shared for the rest of
// the test (its tests that stop standbys hold it exclusively), then waits
// until every replica of dsn answers in recovery.
func LockStandbys(t testing.TB, dsn string) {
	t.Helper()
	testserver.Lock(t, testserver.Standbys, false)
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
