package aiodbotel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/aiodb/aiodb"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ObserveStats reports [aiodb.Stats] of db, which must have been opened
// with aiodb, per node (attribute aiodb.node, the redacted URL, as in the
// hook's routing metrics) at every collection:
//
//   - aiodb.node.up: 1 while the node is usable (a replica not down and
//     within aiodb_max_lag, the primary not known down), else 0;
//   - aiodb.node.primary: 1 for the primary, 0 for a replica (the role);
//   - aiodb.node.lag (seconds): a replica's last measured replication lag,
//     absent while unknown;
//   - aiodb.node.served: statements that ran on the node (a counter);
//   - aiodb.node.failures: connection or session failures and failed
//     probes (a counter): each took the node out and moved its statements
//     to other nodes.
//
// Unregister the returned registration when db is closed.
func ObserveStats(db *sql.DB, opts ...Option) (metric.Registration, error) {
	if _, err := aiodb.Stats(db); err != nil {
		return nil, err
	}
	c := newConfig(opts)
	m := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	var (
		up, primary      metric.Int64ObservableGauge
		lag              metric.Float64ObservableGauge
		served, failures metric.Int64ObservableCounter
		errs             [5]error
	)
	up, errs[0] = m.Int64ObservableGauge("aiodb.node.up",
		metric.WithDescription("1 while the node is usable for statements, else 0."), metric.WithUnit("1"))
	primary, errs[1] = m.Int64ObservableGauge("aiodb.node.primary",
		metric.WithDescription("1 for the primary, 0 for a replica: the node's role."), metric.WithUnit("1"))
	lag, errs[2] = m.Float64ObservableGauge("aiodb.node.lag",
		metric.WithDescription("The replica's last measured replication lag."), metric.WithUnit("s"))
	served, errs[3] = m.Int64ObservableCounter("aiodb.node.served",
		metric.WithDescription("Statements that ran on the node."), metric.WithUnit("{statement}"))
	failures, errs[4] = m.Int64ObservableCounter("aiodb.node.failures",
		metric.WithDescription("Connection or session failures and failed probes of the node."), metric.WithUnit("{failure}"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("aiodbotel: %w", err)
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		stats, err := aiodb.Stats(db)
		if err != nil {
			return err
		}
		for _, s := range stats {
			attrs := metric.WithAttributes(NodeKey.String(s.URL))
			o.ObserveInt64(up, boolInt(s.Healthy), attrs)
			o.ObserveInt64(primary, boolInt(s.Primary), attrs)
			if s.LagKnown {
				o.ObserveFloat64(lag, s.Lag.Seconds(), attrs)
			}
			o.ObserveInt64(served, s.Served, attrs)
			o.ObserveInt64(failures, s.Failures, attrs)
		}
		return nil
	}, up, primary, lag, served, failures)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
