// Package aiodbotel reports the statements of an aiodb database as
// OpenTelemetry spans and metrics that follow the database semantic
// conventions, naming the node that served each statement and why the
// router sent it there.
//
// [NewHook] returns an [aiodb.Hook] that makes one client span per logical
// statement, its retries on other nodes included, and records
// db.client.operation.duration and aiodb's routing counters.
// [ObserveStats] reports the per-node gauges of [aiodb.Stats]. For a DB
// opened with aiodb.Open pass the hook to [aiodb.Hooks]; for a *sql.DB
// opened with sql.Open, [Instrument] does both.
//
// The Prometheus collector of the sub-package aiodbprom exports the same
// node statistics, and sql.DBStats, without OpenTelemetry.
package aiodbotel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/aiodb/aiodb"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/aiodb/aiodb/otel"

// aiodb's own attributes, next to the semantic conventions'.
const (
	// NodeRoleKey is the role of the node that served: "primary" or "replica".
	NodeRoleKey = attribute.Key("aiodb.node.role")
	// RouteReasonKey is why the router sent the statement there:
	// aiodb.Reason's String ("primary", "replica", "auto", "fallback",
	// "transaction").
	RouteReasonKey = attribute.Key("aiodb.route.reason")
	// RetryCountKey is how many nodes failed under the statement before it
	// ran where it did (or gave up).
	RetryCountKey = attribute.Key("aiodb.retry.count")
	// NodeKey is a node's URL, password redacted: it names a node in the
	// per-node metrics and the retry events of a span.
	NodeKey = attribute.Key("aiodb.node")
)

// Option configures [NewHook], [ObserveStats] and [Instrument].
type Option func(*config)

type config struct {
	tp        trace.TracerProvider
	mp        metric.MeterProvider
	queryText bool
	system    string
}

func newConfig(opts []Option) config {
	c := config{tp: otel.GetTracerProvider(), mp: otel.GetMeterProvider(), queryText: true}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithTracerProvider sets the tracer provider; the global one by default.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets the meter provider; the global one by default.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithoutQueryText leaves db.query.text out of spans. Argument values are
// never recorded, with or without it: the text is the parameterised
// statement as sent to the server.
func WithoutQueryText() Option { return func(c *config) { c.queryText = false } }

// WithSystemName sets db.system.name, which by default follows the DSN's
// dialect: "postgresql", "mysql", "sqlite", "other_sql" for ODBC. aiodb
// serves MariaDB as the mysql dialect: pass "mariadb" for a MariaDB server.
func WithSystemName(name string) Option { return func(c *config) { c.system = name } }

// Hook is an [aiodb.Hook] that records every statement as a span and in
// metrics. Make one per database with [NewHook].
type Hook struct {
	tracer    trace.Tracer
	queryText bool
	system    string

	duration  metric.Float64Histogram
	routed    metric.Int64Counter
	retries   metric.Int64Counter
	failovers metric.Int64Counter
}

// NewHook returns a Hook that uses the options' providers.
//
// Each statement becomes a client span, named after its operation
// ("SELECT"), with db.system.name, db.namespace, db.operation.name,
// db.query.text, server.address and server.port of the node that served
// it (after retries, the last one contacted; none when no node was, as for
// a write refused in a replica context), aiodb.node.role,
// aiodb.route.reason and aiodb.retry.count, an "aiodb.retry" event per
// failed node, and on error db.response.status_code and error.type.
//
// Metrics: db.client.operation.duration (seconds); aiodb.client.routed,
// statements by the node that took them and the route reason;
// aiodb.client.retries, failed attempts by the node that failed;
// aiodb.client.failovers, statements served by another node after one
// failed, by the node that served.
func NewHook(opts ...Option) (*Hook, error) {
	c := newConfig(opts)
	h := &Hook{
		tracer:    c.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		queryText: c.queryText,
		system:    c.system,
	}
	m := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	var errs [4]error
	h.duration, errs[0] = m.Float64Histogram("db.client.operation.duration",
		metric.WithDescription("Duration of database client operations."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10))
	h.routed, errs[1] = m.Int64Counter("aiodb.client.routed",
		metric.WithDescription("Statements by the node that took them and the route reason."), metric.WithUnit("{statement}"))
	h.retries, errs[2] = m.Int64Counter("aiodb.client.retries",
		metric.WithDescription("Attempts of a statement that failed because their node did, by that node."), metric.WithUnit("{attempt}"))
	h.failovers, errs[3] = m.Int64Counter("aiodb.client.failovers",
		metric.WithDescription("Statements served by another node after one failed, by the node that served."), metric.WithUnit("{statement}"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("aiodbotel: %w", err)
	}
	return h, nil
}

// Observe records e; aiodb calls it once per statement.
func (h *Hook) Observe(ctx context.Context, e *aiodb.Event) {
	system := h.systemName(e)
	common := make([]attribute.KeyValue, 0, 8)
	common = append(common, semconv.DBSystemNameKey.String(system))
	if e.Database != "" {
		common = append(common, semconv.DBNamespace(e.Database))
	}
	if e.Operation != "" {
		common = append(common, semconv.DBOperationName(e.Operation))
	}
	served := e.Node.URL != ""
	var node []attribute.KeyValue
	if served {
		node = nodeAttrs(e.Node)
		common = append(common, address(e.Node)...)
	}
	if e.Err != nil {
		if e.Code != "" {
			common = append(common, semconv.DBResponseStatusCode(e.Code))
		}
		common = append(common, semconv.ErrorTypeKey.String(errorType(e)))
	}

	name := e.Operation
	if name == "" {
		name = system
	}
	end := e.Start.Add(e.Duration)
	_, span := h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(e.Start),
		trace.WithAttributes(common...))
	if h.queryText {
		text := e.Rewritten
		if text == "" {
			text = e.Query
		}
		if text != "" {
			span.SetAttributes(semconv.DBQueryText(text))
		}
	}
	if served {
		span.SetAttributes(NodeRoleKey.String(role(e.Node)))
	}
	if e.Reason != 0 {
		span.SetAttributes(RouteReasonKey.String(e.Reason.String()))
	}
	span.SetAttributes(RetryCountKey.Int(len(e.Retries)))
	for _, r := range e.Retries {
		attrs := append(nodeAttrs(r.Node), address(r.Node)...)
		attrs = append(attrs, attribute.String("exception.message", r.Err.Error()))
		span.AddEvent("aiodb.retry", trace.WithTimestamp(end), trace.WithAttributes(attrs...))
		h.retries.Add(ctx, 1, metric.WithAttributes(attrs[:len(attrs)-1]...))
	}
	if e.Err != nil {
		span.RecordError(e.Err, trace.WithTimestamp(end))
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End(trace.WithTimestamp(end))

	h.duration.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(common...))
	if served {
		routed := append(node, RouteReasonKey.String(e.Reason.String()))
		h.routed.Add(ctx, 1, metric.WithAttributes(routed...))
		if len(e.Retries) > 0 {
			h.failovers.Add(ctx, 1, metric.WithAttributes(node...))
		}
	}
}

// systemName is db.system.name: the option's, else the dialect's.
func (h *Hook) systemName(e *aiodb.Event) string {
	if h.system != "" {
		return h.system
	}
	switch e.Dialect {
	case aiodb.PostgreSQL:
		return semconv.DBSystemNamePostgreSQL.Value.AsString()
	case aiodb.MySQL:
		return semconv.DBSystemNameMySQL.Value.AsString()
	case aiodb.SQLite:
		return semconv.DBSystemNameSQLite.Value.AsString()
	}
	return semconv.DBSystemNameOtherSQL.Value.AsString()
}

// nodeAttrs names a node in metrics: its redacted URL and role.
func nodeAttrs(n aiodb.NodeInfo) []attribute.KeyValue {
	return []attribute.KeyValue{NodeKey.String(n.URL), NodeRoleKey.String(role(n))}
}

// address is server.address and server.port, when the node has them.
func address(n aiodb.NodeInfo) []attribute.KeyValue {
	if n.Host == "" {
		return nil
	}
	return []attribute.KeyValue{semconv.ServerAddress(n.Host), semconv.ServerPort(n.Port)}
}

func role(n aiodb.NodeInfo) string {
	if n.Primary {
		return "primary"
	}
	return "replica"
}

// sentinels name aiodb's errors for error.type.
var sentinels = []struct {
	err  error
	name string
}{
	{aiodb.ErrOutcomeUnknown, "aiodb.ErrOutcomeUnknown"}, // before ErrPrimaryDown, which may wrap it
	{aiodb.ErrReadOnly, "aiodb.ErrReadOnly"},
	{aiodb.ErrNoReplica, "aiodb.ErrNoReplica"},
	{aiodb.ErrSplitBrain, "aiodb.ErrSplitBrain"},
	{aiodb.ErrPrimaryDown, "aiodb.ErrPrimaryDown"},
	{aiodb.ErrPlaceholder, "aiodb.ErrPlaceholder"},
	{aiodb.ErrTxAborted, "aiodb.ErrTxAborted"},
	{aiodb.ErrTxRolledBack, "aiodb.ErrTxRolledBack"},
	{aiodb.ErrTxDone, "aiodb.ErrTxDone"},
	{aiodb.ErrNestedTxOpen, "aiodb.ErrNestedTxOpen"},
	{aiodb.ErrNestedTxOptions, "aiodb.ErrNestedTxOptions"},
	{aiodb.ErrImplicitCommit, "aiodb.ErrImplicitCommit"},
	{aiodb.ErrTxControl, "aiodb.ErrTxControl"},
	{aiodb.ErrBlockDone, "aiodb.ErrBlockDone"},
	{context.DeadlineExceeded, "context.DeadlineExceeded"},
	{context.Canceled, "context.Canceled"},
}

// errorType is error.type: the server's error code when it raised the
// error, else the name of aiodb's sentinel (or the context error) it
// wraps, else the error's Go type.
func errorType(e *aiodb.Event) string {
	if e.Code != "" {
		return e.Code
	}
	for _, s := range sentinels {
		if errors.Is(e.Err, s.err) {
			return s.name
		}
	}
	return semconv.ErrorType(e.Err).Value.AsString()
}

// Instrument makes db, opened with sql.Open("aiodb", …) or aiodb.Open
// (pass db.DB()), report its statements ([NewHook], added with
// [aiodb.AddHook]) and its nodes ([ObserveStats]). Unregister the returned
// registration when db is closed.
func Instrument(db *sql.DB, opts ...Option) (metric.Registration, error) {
	h, err := NewHook(opts...)
	if err != nil {
		return nil, err
	}
	if err := aiodb.AddHook(db, h); err != nil {
		return nil, err
	}
	return ObserveStats(db, opts...)
}
