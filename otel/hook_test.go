package aiodbotel_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aiodb/aiodb"
	aiodbotel "github.com/aiodb/aiodb/otel"
	"github.com/aiodb/aiodb/otel/internal/servers"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiodb/aiodb/internal/testserver"
)

// telemetry is an in-memory span exporter and a manual metric reader with
// the options that point a hook at them.
type telemetry struct {
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	opts   []aiodbotel.Option
}

func newTelemetry(t *testing.T, opts ...aiodbotel.Option) *telemetry {
	tm := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tm.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tm.reader))
	t.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	tm.opts = append([]aiodbotel.Option{aiodbotel.WithTracerProvider(tp), aiodbotel.WithMeterProvider(mp)}, opts...)
	return tm
}

// open opens dsn with aiodb.Open and the telemetry's hook.
func (tm *telemetry) open(t *testing.T, dsn string) *aiodb.DB {
	t.Helper()
	h, err := aiodbotel.NewHook(tm.opts...)
	if err != nil {
		t.Fatal(err)
	}
	db, err := aiodb.Open(dsn, aiodb.Hooks(h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// span returns the only span exported since the last call, logged in the
// form docs/observability.md shows.
func (tm *telemetry) span(t *testing.T) tracetest.SpanStub {
	t.Helper()
	spans := tm.spans.GetSpans()
	tm.spans.Reset()
	for _, s := range spans {
		t.Log(format(s))
	}
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	return spans[0]
}

// format writes a span as a few readable lines.
func format(s tracetest.SpanStub) string {
	var b strings.Builder
	fmt.Fprintf(&b, "span %q kind=%s status=%s", s.Name, s.SpanKind, s.Status.Code)
	if s.Status.Description != "" {
		fmt.Fprintf(&b, " %q", s.Status.Description)
	}
	fmt.Fprintf(&b, " duration=%v\n", s.EndTime.Sub(s.StartTime).Round(time.Microsecond))
	for _, a := range s.Attributes {
		fmt.Fprintf(&b, "    %s=%s\n", a.Key, a.Value.Emit())
	}
	for _, e := range s.Events {
		fmt.Fprintf(&b, "  event %q\n", e.Name)
		for _, a := range e.Attributes {
			fmt.Fprintf(&b, "      %s=%s\n", a.Key, a.Value.Emit())
		}
	}
	return b.String()
}

// attrs maps a span's attributes to their emitted values.
func attrs(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// want checks that got has every attribute of want with its value, and
// none of the keys in absent.
func want(t *testing.T, got map[string]string, want map[string]string, absent ...string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range absent {
		if v, ok := got[k]; ok {
			t.Errorf("%s = %q, want none", k, v)
		}
	}
}

// points returns the data points of the metric name: their attributes and
// value (a sum's or gauge's value, a histogram's count).
func (tm *telemetry) points(t *testing.T, name string) []point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{attrs(p.Attributes.ToSlice()), float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{attrs(p.Attributes.ToSlice()), float64(p.Value)})
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out = append(out, point{attrs(p.Attributes.ToSlice()), p.Value})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, point{attrs(p.Attributes.ToSlice()), float64(p.Count)})
				}
			default:
				t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
		}
	}
	return out
}

type point struct {
	attrs map[string]string
	value float64
}

// TestReplicaReadSpan: a read in a replica context is one client span
// naming the standby that served it; its argument is nowhere in it. The
// *sql.DB comes from sql.Open, instrumented with Instrument, whose node
// gauges report every node.
func TestReplicaReadSpan(t *testing.T) {
	dsn := testserver.DSN(t, servers.PostgresReplicas)
	servers.LockStandbys(t, dsn)
	tm := newTelemetry(t)
	db, err := sql.Open(aiodb.DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg, err := aiodbotel.Instrument(db, tm.opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	const secret = "otel-secret-argument"
	var got string
	if err := db.QueryRowContext(aiodb.WithReplica(context.Background()), "SELECT $1::text", secret).Scan(&got); err != nil || got != secret {
		t.Fatal(got, err)
	}
	s := tm.span(t)
	a := attrs(s.Attributes)
	want(t, a, map[string]string{
		"db.system.name": "postgresql", "db.namespace": "test", "db.operation.name": "SELECT",
		"db.query.text": "SELECT $1::text", "server.address": "127.0.0.1",
		"aiodb.node.role": "replica", "aiodb.route.reason": "replica", "aiodb.retry.count": "0",
	}, "error.type", "db.response.status_code")
	if p := a["server.port"]; p != "5433" && p != "5434" {
		t.Errorf("server.port = %q, want a standby's", p)
	}
	if s.Name != "SELECT" || s.SpanKind != trace.SpanKindClient || s.Status.Code != codes.Unset {
		t.Errorf("span %q kind %v status %v", s.Name, s.SpanKind, s.Status)
	}
	if strings.Contains(fmt.Sprint(s.Attributes, s.Events), secret) {
		t.Errorf("the argument value is in the span: %v", s.Attributes)
	}

	dur := tm.points(t, "db.client.operation.duration")
	if len(dur) != 1 || dur[0].value != 1 || dur[0].attrs["server.port"] != a["server.port"] || dur[0].attrs["db.operation.name"] != "SELECT" {
		t.Errorf("db.client.operation.duration: %+v", dur)
	}
	routed := tm.points(t, "aiodb.client.routed")
	if len(routed) != 1 || routed[0].value != 1 || routed[0].attrs["aiodb.route.reason"] != "replica" || !strings.Contains(routed[0].attrs["aiodb.node"], ":"+a["server.port"]+"/") {
		t.Errorf("aiodb.client.routed: %+v", routed)
	}

	roles := map[string]float64{}
	for _, p := range tm.points(t, "aiodb.node.primary") {
		roles[p.attrs["aiodb.node"]] = p.value
	}
	nodes := strings.Fields(dsn)
	if len(roles) != len(nodes) || roles[nodes[0]] != 1 || roles[nodes[1]] != 0 {
		t.Errorf("aiodb.node.primary: %v, want 1 for %s and 0 for the others", roles, nodes[0])
	}
	up := tm.points(t, "aiodb.node.up")
	for _, p := range up {
		if p.value != 1 {
			t.Errorf("aiodb.node.up %v", p)
		}
	}
	if len(up) != len(nodes) {
		t.Errorf("aiodb.node.up: %d nodes, want %d", len(up), len(nodes))
	}
	// The health checker measures the standbys' lag shortly after the
	// first replica read.
	deadline := time.Now().Add(30 * time.Second)
	for len(tm.points(t, "aiodb.node.lag")) != len(nodes)-1 {
		if time.Now().After(deadline) {
			t.Fatalf("aiodb.node.lag: %+v, want one per replica", tm.points(t, "aiodb.node.lag"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRetrySpan: the first replica of the DSN does not answer (nothing
// listens on its port): the read moves to the next replica, and its one
// span says so — one retry, an event naming the failed node, the address
// of the standby that served.
func TestRetrySpan(t *testing.T) {
	dsn := testserver.DSN(t, servers.PostgresReplicas)
	servers.LockStandbys(t, dsn)
	nodes := strings.Fields(dsn)
	dead := strings.Replace(nodes[1], "127.0.0.1:5433", "127.0.0.1:5499", 1)
	if dead == nodes[1] {
		t.Fatalf("the first replica of %s is not 127.0.0.1:5433", servers.PostgresReplicas)
	}
	tm := newTelemetry(t)
	db := tm.open(t, nodes[0]+" "+dead+" "+nodes[1])
	if _, err := aiodb.FetchVal[int](aiodb.WithReplica(context.Background()), db, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	s := tm.span(t)
	want(t, attrs(s.Attributes), map[string]string{
		"server.address": "127.0.0.1", "server.port": "5433",
		"aiodb.node.role": "replica", "aiodb.route.reason": "replica", "aiodb.retry.count": "1",
	})
	if len(s.Events) != 1 || s.Events[0].Name != "aiodb.retry" {
		t.Fatalf("events %+v, want one aiodb.retry", s.Events)
	}
	ev := attrs(s.Events[0].Attributes)
	want(t, ev, map[string]string{"server.port": "5499", "aiodb.node.role": "replica", "aiodb.node": dead})
	if !strings.Contains(ev["exception.message"], "connection refused") {
		t.Errorf("retry event: %v", ev)
	}
	if r := tm.points(t, "aiodb.client.retries"); len(r) != 1 || r[0].value != 1 || r[0].attrs["server.port"] != "5499" {
		t.Errorf("aiodb.client.retries: %+v", r)
	}
	if f := tm.points(t, "aiodb.client.failovers"); len(f) != 1 || f[0].value != 1 || !strings.Contains(f[0].attrs["aiodb.node"], ":5433/") {
		t.Errorf("aiodb.client.failovers: %+v", f)
	}
}

// TestRefusedWriteSpan: a write in a replica context is refused before any
// node sees it: the span carries ErrReadOnly and no server address.
func TestRefusedWriteSpan(t *testing.T) {
	dsn := testserver.DSN(t, servers.PostgresReplicas)
	tm := newTelemetry(t)
	db := tm.open(t, dsn)
	_, err := db.Execute(aiodb.WithReplica(context.Background()), "INSERT INTO otel_never (id) VALUES ($1)", 1)
	if !errors.Is(err, aiodb.ErrReadOnly) {
		t.Fatalf("Execute in a replica context: %v", err)
	}
	s := tm.span(t)
	want(t, attrs(s.Attributes), map[string]string{
		"db.operation.name": "INSERT", "error.type": "aiodb.ErrReadOnly", "aiodb.route.reason": "replica", "aiodb.retry.count": "0",
	}, "server.address", "server.port", "aiodb.node.role", "db.response.status_code")
	if s.Status.Code != codes.Error || !strings.Contains(s.Status.Description, "read-only") {
		t.Errorf("status %+v", s.Status)
	}
	if len(s.Events) != 1 || s.Events[0].Name != "exception" {
		t.Errorf("events %+v, want the exception", s.Events)
	}
	if r := tm.points(t, "aiodb.client.routed"); len(r) != 0 {
		t.Errorf("a refused write counted as routed: %+v", r)
	}
}

// TestServerErrorSpan: an error the server raised carries its SQLSTATE as
// db.response.status_code and error.type, and the node that raised it.
func TestServerErrorSpan(t *testing.T) {
	dsn := testserver.DSN(t, servers.PostgresReplicas)
	tm := newTelemetry(t)
	db := tm.open(t, dsn)
	if _, err := db.Execute(context.Background(), "SELEC 1"); err == nil {
		t.Fatal("no error")
	}
	want(t, attrs(tm.span(t).Attributes), map[string]string{
		"db.response.status_code": "42601", "error.type": "42601", "server.port": "5432",
		"aiodb.node.role": "primary", "aiodb.route.reason": "primary", "db.system.name": "postgresql",
	}, "db.operation.name")
}

// TestOptions: WithoutQueryText leaves the text out, WithSystemName names
// the system; a statement in a transaction runs on the transaction's node.
func TestOptions(t *testing.T) {
	tm := newTelemetry(t, aiodbotel.WithoutQueryText(), aiodbotel.WithSystemName("mariadb"))
	db := tm.open(t, "sqlite:///:memory:")
	ctx := context.Background()
	if _, err := db.Execute(ctx, "CREATE TABLE otel_t (id INT)"); err != nil {
		t.Fatal(err)
	}
	want(t, attrs(tm.span(t).Attributes), map[string]string{"db.system.name": "mariadb", "db.operation.name": "CREATE TABLE"},
		"db.query.text", "server.address", "db.namespace")

	tm = newTelemetry(t)
	db = tm.open(t, "sqlite:///:memory:")
	err := db.Transaction(ctx, func(ctx context.Context) error {
		_, err := db.Execute(ctx, "CREATE TABLE otel_t (id INT)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range tm.spans.GetSpans() {
		a := attrs(s.Attributes)
		got = append(got, s.Name+" "+a["aiodb.route.reason"]+" "+a["db.system.name"])
	}
	if w := "BEGIN primary sqlite, CREATE TABLE transaction sqlite, COMMIT transaction sqlite"; strings.Join(got, ", ") != w {
		t.Errorf("spans %q, want %s", got, w)
	}
}
