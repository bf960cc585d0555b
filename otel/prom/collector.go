// Package aiodbprom exports the nodes of an aiodb database ([aiodb.Stats])
// and its pool ([sql.DBStats]) as Prometheus metrics.
package aiodbprom

import (
	"database/sql"

	"github.com/aiodb/aiodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Collector is a [prometheus.Collector] for one *sql.DB opened with aiodb.
// Every metric has the label db_name; the node metrics also node, the
// node's URL with its password redacted:
//
//   - aiodb_node_up: 1 while the node is usable (a replica not down and
//     within aiodb_max_lag, the primary not known down), else 0;
//   - aiodb_node_primary: 1 for the primary, 0 for a replica (the role);
//   - aiodb_node_lag_seconds: a replica's last measured replication lag,
//     absent while unknown;
//   - aiodb_node_served_total: statements that ran on the node;
//   - aiodb_node_failures_total: connection or session failures and failed
//     probes, each of which took the node out;
//
// and the pool's sql.DBStats as client_golang's DB stats collector names
// them: go_sql_open_connections, go_sql_in_use_connections,
// go_sql_wait_count_total, …
type Collector struct {
	db                                 *sql.DB
	pool                               prometheus.Collector
	up, primary, lag, served, failures *prometheus.Desc
}

// NewCollector returns a Collector for db, which must have been opened
// with aiodb (for a DB from aiodb.Open, pass db.DB()); dbName is the value
// of the db_name label, which tells databases apart on one registry.
// Collecting starts aiodb's replica health checks if no statement has yet.
func NewCollector(db *sql.DB, dbName string) (*Collector, error) {
	if _, err := aiodb.Stats(db); err != nil {
		return nil, err
	}
	labels := prometheus.Labels{"db_name": dbName}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"node"}, labels)
	}
	return &Collector{
		db:       db,
		pool:     collectors.NewDBStatsCollector(db, dbName),
		up:       desc("aiodb_node_up", "1 while the node is usable for statements, else 0."),
		primary:  desc("aiodb_node_primary", "1 for the primary, 0 for a replica: the node's role."),
		lag:      desc("aiodb_node_lag_seconds", "The replica's last measured replication lag."),
		served:   desc("aiodb_node_served_total", "Statements that ran on the node."),
		failures: desc("aiodb_node_failures_total", "Connection or session failures and failed probes of the node."),
	}, nil
}

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.primary, c.lag, c.served, c.failures} {
		ch <- d
	}
	c.pool.Describe(ch)
}

// Collect sends the current node statistics and pool statistics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	stats, err := aiodb.Stats(c.db)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.up, err)
		return
	}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolFloat(s.Healthy), s.URL)
		ch <- prometheus.MustNewConstMetric(c.primary, prometheus.GaugeValue, boolFloat(s.Primary), s.URL)
		if s.LagKnown {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, s.Lag.Seconds(), s.URL)
		}
		ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(s.Served), s.URL)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures), s.URL)
	}
	c.pool.Collect(ch)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
