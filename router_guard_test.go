package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Routing rules that no other test pinned down: each test below fails when
// its rule in router.go, rows.go, stmt.go or health.go is changed. They run
// on the fake nodes of router_test.go and assert what each node received.

// TestReplicaPreparedExecRefused: a statement prepared in a replica context
// sits on a read-only session; its Exec is refused with ErrReadOnly,
// whatever the Exec's context, and nothing but the prepare reaches a node.
func TestReplicaPreparedExecRefused(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1")
	cl.db.SetMaxOpenConns(1) // every call below uses the connection the statement was prepared on
	st, err := cl.db.PrepareContext(WithReplica(rtBG), "SELECT node")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, ctx := range []context.Context{WithReplica(rtBG), rtBG, WithPrimary(rtBG)} {
		if _, err := st.ExecContext(ctx); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Exec of a statement prepared in a replica context: %v, want ErrReadOnly", err)
		}
	}
	if got, want := cl.node("r1").statements(), []string{"PRAGMA query_only = ON", "PREPARE SELECT node"}; !slices.Equal(got, want) {
		t.Errorf("r1 received %q, want %q", got, want)
	}
	if got := cl.node("p").statements(); len(got) != 0 {
		t.Errorf("the primary received %q", got)
	}
	// The statement still reads, on the replica.
	var n string
	if err := st.QueryRowContext(WithReplica(rtBG)).Scan(&n); err != nil || n != "r1" {
		t.Errorf("prepared read ran on %q (%v), want r1", n, err)
	}
}

// TestReplicaNoRerunAfterFirstRow: a replica read whose rows fail after a
// row reached the caller returns the error; it is not run again on another
// node, which would hand the caller the rows a second time.
func TestReplicaNoRerunAfterFirstRow(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1 sqlite:///r2")
	r1 := cl.node("r1")
	r1.mu.Lock()
	r1.failLate = 1
	r1.mu.Unlock()
	rows, err := cl.db.QueryContext(WithReplica(rtBG), "SELECT node") // round robin: r1 first
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if err := rows.Err(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("rows.Err() = %v, want the node's error", err)
	}
	rows.Close()
	if !slices.Equal(got, []string{"r1"}) {
		t.Errorf("rows %q, want r1's row once", got)
	}
	for _, name := range []string{"p", "r2"} {
		if c := cl.node(name).count("SELECT node"); c != 0 {
			t.Errorf("the read ran again on %s", name)
		}
	}
}

// TestPrimaryFailureNeverServedByReplica: a statement routed to the primary
// that fails there (the session broke, or its rows failed before the first
// row) returns the error; it never runs on a replica, in any routing mode.
func TestPrimaryFailureNeverServedByReplica(t *testing.T) {
	for _, tc := range []struct {
		name, dsn, query string
		ctx              context.Context
	}{
		{"manual", "sqlite:///p sqlite:///r1", "SELECT node", rtBG},
		{"WithPrimary", "sqlite:///p sqlite:///r1", "SELECT node", WithPrimary(WithReplica(rtBG))},
		{"auto write", "sqlite:///p?aiodb_route=auto sqlite:///r1", "INSERT INTO t VALUES (1) RETURNING node", rtBG},
		{"auto WithPrimary", "sqlite:///p?aiodb_route=auto sqlite:///r1", "SELECT node", WithPrimary(rtBG)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := rtFakeCluster(t, tc.dsn)
			cl.db.SetMaxOpenConns(1)
			p := cl.node("p")
			read := func() (string, error) {
				var n string
				err := cl.db.QueryRowContext(tc.ctx, tc.query).Scan(&n)
				return n, err
			}
			if n, err := read(); err != nil || n != "p" {
				t.Fatalf("read ran on %q (%v), want p", n, err)
			}
			p.restart() // the pooled connection's primary session is broken
			if n, err := read(); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("query on a broken primary session: %q, %v; want the error", n, err)
			}
			p.mu.Lock()
			p.failRows = 1
			p.mu.Unlock()
			if n, err := read(); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("primary rows failing before the first row: %q, %v; want the error", n, err)
			}
			if n, err := read(); err != nil || n != "p" { // a new connection
				t.Fatalf("read ran on %q (%v), want p", n, err)
			}
			p.restart()
			if st, err := cl.db.PrepareContext(tc.ctx, tc.query); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("prepare on a broken primary session: %v, want the error", err)
				if err == nil {
					st.Close()
				}
			}
			if got := cl.node("r1").statements(); len(got) != 0 {
				t.Errorf("r1 received %q", got)
			}
		})
	}
}

// TestReplicaUnknownLagSkipped: with aiodb_max_lag, a replica whose lag the
// checker could not measure counts as too far behind: reads skip it, and
// Stats reports it unhealthy but not down.
func TestReplicaUnknownLagSkipped(t *testing.T) {
	var r1Probes atomic.Int64
	unknownLag := func(c *connector) {
		probe := c.router.probeFunc
		c.router.probeFunc = func(ctx context.Context, n *node) (time.Duration, bool, error) {
			lag, known, err := probe(ctx, n)
			if rtHost(n.URL) == "r1" {
				defer r1Probes.Add(1)
				return 0, false, err // answers, lag unknown (e.g. a MySQL replica whose SQL thread stopped)
			}
			return lag, known, err
		}
	}
	cl := rtFakeCluster(t, "sqlite:///p?aiodb_max_lag=1s sqlite:///r1 sqlite:///r2", rtFast, unknownLag)
	rtEventually(t, 5*time.Second, "r1 probed and r2 measured", func() bool {
		st, err := Stats(cl.db) // starts the checker
		return err == nil && r1Probes.Load() > 0 && st[2].Healthy
	})
	st, _ := Stats(cl.db)
	if st[1].Healthy || st[1].Down || st[1].LagKnown {
		t.Errorf("r1 with an unknown lag: %+v, want unhealthy, not down", st[1])
	}
	for range 10 {
		if n, err := rtRead(WithReplica(rtBG), cl.db); err != nil || n != "r2" {
			t.Fatalf("read ran on %q (%v), want r2: r1's lag is unknown", n, err)
		}
	}
	if c := cl.node("r1").count("SELECT node"); c != 0 {
		t.Errorf("r1 served %d reads with an unknown lag", c)
	}
	// Without a replica whose lag is known, reads fall back to the primary.
	cl.setLag("r2", 5*time.Second)
	rtEventually(t, 5*time.Second, "r2 lagging", func() bool {
		st, _ := Stats(cl.db)
		return !st[2].Healthy
	})
	if n, err := rtRead(WithReplica(rtBG), cl.db); err != nil || n != "p" {
		t.Errorf("read ran on %q (%v), want the primary", n, err)
	}
}

// leakyNode is a server whose connection error quotes a secret, as a
// careless driver's might.
type leakyNode struct{ secret string }

func (l leakyNode) Connect(context.Context) (driver.Conn, error) {
	return nil, fmt.Errorf("dial: refused for password %s", l.secret)
}
func (l leakyNode) Driver() driver.Driver { return nil }

// TestNoReplicaErrorRedactsReplicaPassword: the ErrNoReplica message
// quotes the last replica's error with that replica's password masked
// (it was masked with the primary's).
func TestNoReplicaErrorRedactsReplicaPassword(t *testing.T) {
	cfg, err := ParseDSN("postgres://u:primarypw@p/db?aiodb_fallback=none postgres://u:replicapw@r/db")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConnectorWith(cfg, func(n Node, _ string) (driver.Connector, error) {
		if strings.Contains(n.URL, "@r/") {
			return leakyNode{"replicapw"}, nil
		}
		return &rtNode{name: "p"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var v string
	err = db.QueryRowContext(WithReplica(context.Background()), "SELECT 1").Scan(&v)
	if !errors.Is(err, ErrNoReplica) || strings.Contains(err.Error(), "replicapw") {
		t.Errorf("replica down under aiodb_fallback=none: %v, want ErrNoReplica without the replica's password", err)
	}
}

// TestSplitBrainLoggedAfterNoPrimary: a split brain is logged at error level
// when it starts, also when no node was writable just before.
func TestSplitBrainLoggedAfterNoPrimary(t *testing.T) {
	var out strings.Builder
	log := slog.New(slog.NewTextHandler(&out, nil))
	cl := rtFakeCluster(t, "postgres://u@p/db postgres://u@r1/db", func(c *connector) { c.log = log })
	r := cl.c.router
	roles := func(rs ...nodeRole) {
		for i, n := range r.all() {
			n.health.mu.Lock()
			n.health.role = rs[i]
			n.health.mu.Unlock()
		}
		r.elect()
	}
	roles(roleReadOnly, roleReadOnly)
	roles(roleWritable, roleWritable)
	if _, err := r.writer(); !errors.Is(err, ErrSplitBrain) {
		t.Fatalf("two writable nodes: %v, want ErrSplitBrain", err)
	}
	if !strings.Contains(out.String(), "level=ERROR") || !strings.Contains(out.String(), "split brain") {
		t.Errorf("split brain after a time without primary not logged at error level:\n%s", out.String())
	}
}
