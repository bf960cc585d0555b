package aiodb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Topology is the state of every node of a DSN as [CheckTopology] found it,
// and what is wrong with it.
type Topology struct {
	// Nodes are the primary first, then the replicas in DSN order.
	Nodes []NodeCheck
	// Problems says what is wrong, one sentence each: a node down, a
	// primary that is read-only, a replica that accepts writes, more than
	// one writable node. It is empty when the topology is as configured.
	Problems []string
}

// NodeCheck is one node as [CheckTopology] found it. Every string is free
// of passwords.
type NodeCheck struct {
	URL     string // redacted
	Primary bool   // the configured role: the DSN's first URL is the primary
	// Err says why the node could not be reached or queried; "" when it answered.
	Err string
	// RoleKnown reports whether the server says if it is read-only
	// (PostgreSQL and MySQL/MariaDB do; SQLite and ANSI ODBC do not).
	RoleKnown bool
	// ReadOnly is the server's own role: a PostgreSQL server in recovery or
	// fenced read-only (pg_is_in_recovery() or transaction_read_only), a
	// MySQL/MariaDB server with @@global.read_only on.
	ReadOnly bool
	Version  string        // the server's version; "" when unknown
	RTT      time.Duration // round-trip time of a ping on an open connection
	// Lag is a replica's replication lag behind the primary, measured as the
	// health checker measures it (see [NodeStats]); LagKnown reports
	// whether it could be.
	Lag      time.Duration
	LagKnown bool
}

// CheckTopology connects to every node of cfg at once, each on a fresh
// connection outside any pool, and reports its role, version, round-trip
// time and (replicas) lag, and what is wrong with the topology. ctx bounds
// the connections and each node's queries (the primary's position, for the
// lag, is bounded by the health checker's probe timeout); a node that does
// not answer in time is down. The error
// is non-nil only when a backend connector cannot be made (ErrBadDSN).
func CheckTopology(ctx context.Context, cfg *Config) (*Topology, error) {
	c, err := newConnector(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	nodes := append([]*node{c.primary}, c.replicas...)
	t := &Topology{Nodes: make([]NodeCheck, len(nodes))}
	conns := make([]*bconn, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { conns[i], t.Nodes[i] = c.inspect(ctx, n) })
	}
	wg.Wait()

	// Lag, by the health checker's own measurement (checker.go), on the
	// connections just opened; the prober closes them.
	p := &checker{r: c.router, primary: conns[0], conns: conns[1:], modes: make([]lagMode, len(c.replicas))}
	defer p.close()
	if len(c.replicas) > 0 && conns[0] != nil {
		start := time.Now() // as in a health check round: lag counts from before the primary's position
		pos := p.primaryPosition()
		for i := range c.replicas {
			if conns[i+1] == nil {
				continue
			}
			wg.Go(func() {
				lag, known, err := p.measure(ctx, i, pos, start)
				if err == nil {
					t.Nodes[i+1].Lag, t.Nodes[i+1].LagKnown = lag, known
				}
			})
		}
		wg.Wait()
	}
	t.Problems = problems(t.Nodes)
	return t, nil
}

// pings is how many pings measure a node's round-trip time.
const pings = 3

// inspect connects to n, pings it and asks its role and version. It
// returns the open connection, or nil when n is down.
func (c *connector) inspect(ctx context.Context, n *node) (*bconn, NodeCheck) {
	nc := NodeCheck{URL: n.URL, Primary: n.primary}
	raw, err := n.backend.Connect(ctx)
	if err != nil {
		nc.Err = n.redact(err)
		return nil, nc
	}
	b := newBconn(raw, n)
	// The fastest of a few pings: the first on a new connection, or one
	// that meets a busy machine, says little about the network.
	for i := 0; i < pings && err == nil; i++ {
		start := time.Now()
		if err = b.ping(ctx); err == nil && (i == 0 || time.Since(start) < nc.RTT) {
			nc.RTT = time.Since(start)
		}
	}
	if err == nil && c.prof.State != "" {
		var row []driver.Value
		row, err = queryRow(ctx, b, c.prof.State)
		if err == nil && len(row) == 2 {
			nc.ReadOnly, nc.RoleKnown = boolValue(row[0])
			nc.Version, _ = stringValue(row[1])
		}
	}
	if err != nil {
		b.Close()
		nc.Err, nc.RTT = n.redact(err), 0
		return nil, nc
	}
	return b, nc
}

// boolValue converts a boolean column: a bool, or an integer or text 0/1,
// t/f (NULL is not ok).
func boolValue(v driver.Value) (b, ok bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case int64:
		return v != 0, true
	case []byte, string:
		s, _ := stringValue(v)
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "t", "true", "on":
			return true, true
		case "0", "f", "false", "off":
			return false, true
		}
	}
	return false, false
}

// problems says what is wrong with a topology.
func problems(nodes []NodeCheck) []string {
	var out, writable []string
	for _, n := range nodes {
		role := "replica"
		if n.Primary {
			role = "primary"
		}
		switch {
		case n.Err != "":
			out = append(out, fmt.Sprintf("%s %s is unreachable: %s", role, n.URL, n.Err))
		case !n.RoleKnown:
		case n.Primary && n.ReadOnly:
			out = append(out, fmt.Sprintf("primary %s is read-only (in recovery, or read_only on): writes will fail", n.URL))
		case !n.Primary && !n.ReadOnly:
			out = append(out, fmt.Sprintf("replica %s accepts writes (not in recovery, read_only off)", n.URL))
		}
		if n.Err == "" && n.RoleKnown && !n.ReadOnly {
			writable = append(writable, n.URL)
		}
	}
	if len(writable) > 1 {
		out = append(out, fmt.Sprintf("%d writable nodes (%s): only the primary should accept writes", len(writable), strings.Join(writable, ", ")))
	}
	return out
}
