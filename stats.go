package aiodb

import (
	"database/sql"
	"time"
)

// NodeStats describes one node of a *sql.DB opened with aiodb.
type NodeStats struct {
	URL      string        // redacted
	Primary  bool          // the DSN's primary (its first URL); false for replicas
	Writer   bool          // where writes go now: the one node that reports itself writable (with replicas in the DSN)
	Role     string        // the role the server reported at the last check: "primary", "replica" or "unknown"
	RoleAt   time.Time     // when Role last changed (zero before the first check)
	Healthy  bool          // usable: not down and, for a replica with aiodb_max_lag, within it
	Down     bool          // taken out after a failure: a replica until a probe re-admits it, the primary until a dial succeeds
	Served   int64         // statements that ran on the node
	Failures int64         // connection or session failures and failed probes
	Lag      time.Duration // last measured replication lag (0 when unknown)
	LagKnown bool          // whether Lag was measured
	LastErr  string        // the error that took the node out (redacted)
}

// Stats reports every node of db, which must have been opened with aiodb:
// the primary first, then the replicas in DSN order. It needs no
// connection (it works while every server is down), and starts the health
// checks if no statement has yet (they start with the first statement).
func Stats(db *sql.DB) ([]NodeStats, error) {
	c, err := connectorOf(db, "Stats")
	if err != nil {
		return nil, err
	}
	return c.router.stats(), nil
}
