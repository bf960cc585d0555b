package aiodbprom_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aiodb/aiodb"
	"github.com/aiodb/aiodb/internal/testserver"
	"github.com/aiodb/aiodb/otel/internal/servers"
	aiodbprom "github.com/aiodb/aiodb/otel/prom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollectorSQLite: the collector exports the one node of an SQLite
// database and the pool's statistics, and passes client_golang's lint.
func TestCollectorSQLite(t *testing.T) {
	db, err := sql.Open(aiodb.DriverName, "sqlite:///:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(3)
	c, err := aiodbprom.NewCollector(db, "mem")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := db.Exec("SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	const want = `
# HELP aiodb_node_primary 1 for the primary, 0 for a replica: the node's role.
# TYPE aiodb_node_primary gauge
aiodb_node_primary{db_name="mem",node="sqlite:///:memory:"} 1
# HELP aiodb_node_served_total Statements that ran on the node.
# TYPE aiodb_node_served_total counter
aiodb_node_served_total{db_name="mem",node="sqlite:///:memory:"} 2
# HELP aiodb_node_up 1 while the node is usable for statements, else 0.
# TYPE aiodb_node_up gauge
aiodb_node_up{db_name="mem",node="sqlite:///:memory:"} 1
# HELP go_sql_max_open_connections Maximum number of open connections to the database.
# TYPE go_sql_max_open_connections gauge
go_sql_max_open_connections{db_name="mem"} 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "aiodb_node_primary", "aiodb_node_served_total", "aiodb_node_up", "go_sql_max_open_connections"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}

	other, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := aiodbprom.NewCollector(other, "other"); err == nil {
		t.Error("NewCollector accepted a *sql.DB of another driver")
	}
}

// TestCollectorPostgres scrapes a registry holding the collector of a
// PostgreSQL DSN with two standbys: every node has its series, the
// primary alone has aiodb_node_primary 1, and the standbys get their lag
// once the health checker has measured it.
func TestCollectorPostgres(t *testing.T) {
	dsn := testserver.DSN(t, servers.PostgresReplicas)
	servers.LockStandbys(t, dsn)
	db, err := aiodb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := aiodbprom.NewCollector(db.DB(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := aiodb.FetchVal[int](aiodb.WithReplica(context.Background()), db, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	nodes := strings.Fields(dsn)
	var want strings.Builder
	want.WriteString("# HELP aiodb_node_primary 1 for the primary, 0 for a replica: the node's role.\n# TYPE aiodb_node_primary gauge\n")
	for i, n := range nodes {
		fmt.Fprintf(&want, "aiodb_node_primary{db_name=%q,node=%q} %d\n", "shop", n, map[bool]int{true: 1}[i == 0])
	}
	want.WriteString("# HELP aiodb_node_up 1 while the node is usable for statements, else 0.\n# TYPE aiodb_node_up gauge\n")
	for _, n := range nodes {
		fmt.Fprintf(&want, "aiodb_node_up{db_name=%q,node=%q} 1\n", "shop", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "aiodb_node_primary", "aiodb_node_up"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "aiodb_node_served_total", "aiodb_node_failures_total"); n != 2*len(nodes) {
		t.Errorf("%d served and failures series, want %d", n, 2*len(nodes))
	}
	deadline := time.Now().Add(30 * time.Second)
	for testutil.CollectAndCount(c, "aiodb_node_lag_seconds") != len(nodes)-1 {
		if time.Now().After(deadline) {
			t.Fatalf("aiodb_node_lag_seconds: %d series, want one per standby", testutil.CollectAndCount(c, "aiodb_node_lag_seconds"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}
