package aiodb

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the test binary if a goroutine outlives the tests: a
// connection, rows, a replica health check or a transaction's context
// watcher that something forgot to close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
