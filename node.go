package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// node is one server of a connector: the primary or a replica.
type node struct {
	Node
	primary bool
	flavor  Dialect // the SQL dialect of the server (for ODBC, the one behind it)
	backend driver.Connector
	health  nodeHealth
	// host, port and database are the node's address, for hooks (hook.go).
	host     string
	port     int
	database string
	// settings caches the answers of setting, by query.
	settings sync.Map
	// replayed is the newest replication position the node is known to
	// have replayed (consistency.go).
	replayed watermark
	// stmtCache is how many statements each session on the node caches
	// (stmtCacheSize); 0: none.
	stmtCache int
}

// setting reports whether the server answers q, a query about a setting
// that cannot change while the server runs, with a non-zero number. It
// asks on b once per node. When the server cannot be asked it reports
// true, uncached: its callers fail closed.
func (n *node) setting(b *bconn, q string) bool {
	if v, ok := n.settings.Load(q); ok {
		return v.(bool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), savepointTimeout)
	defer cancel()
	row, err := queryRow(ctx, b, q)
	if err != nil || len(row) != 1 {
		return true
	}
	f, ok := floatValue(row[0])
	if !ok {
		return true
	}
	n.settings.Store(q, f != 0)
	return f != 0
}

// connectError wraps a failed dial with the node's redacted URL. It is never
// driver.ErrBadConn, which Connect must not return.
func (n *node) connectError(err error) error {
	if errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("aiodb: connect %s: %v", n.URL, err)
	}
	return fmt.Errorf("aiodb: connect %s: %w", n.URL, err)
}

// nodeHealth is one node's health and counters.
type nodeHealth struct {
	served, failures atomic.Int64
	gen              atomic.Uint64 // bumped when the node is taken out

	mu        sync.Mutex
	down      bool      // taken out; only a probe re-admits it
	downUntil time.Time // when the next half-open probe may run
	backoff   time.Duration
	lastErr   string
	lag       time.Duration
	lagKnown  bool
	role      nodeRole  // what the server said at the last role check
	roleSince time.Time // when role last changed
}

// nodeRole is the role a server reports.
type nodeRole uint8

const (
	roleUnknown  nodeRole = iota // not read yet, or the node did not answer
	roleWritable                 // a primary: writes accepted
	roleReadOnly                 // a replica (in recovery, read_only) or a fenced primary
)

// String names the role as Stats and the logs show it.
func (r nodeRole) String() string {
	switch r {
	case roleWritable:
		return "primary"
	case roleReadOnly:
		return "replica"
	}
	return "unknown"
}

// info describes n to hooks.
func (n *node) info() NodeInfo {
	return NodeInfo{URL: n.URL, Primary: n.primary, Host: n.host, Port: n.port}
}

// configuredRole is the role the DSN gives n.
func configuredRole(n *node) string {
	if n.primary {
		return "primary"
	}
	return "replica"
}
