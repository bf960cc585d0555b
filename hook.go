package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aiodb/aiodb/internal/backend"
)

// Hook observes the statements that aiodb runs: for each logical statement
// (an Exec or Query on a connection, an Exec or Query of a prepared
// statement, a BeginTx, Commit or Rollback) it is told once, after the
// statement ran or was refused, which node served it, why the router sent
// it there, which nodes failed on the way, how long it took and how it
// ended. Tracing and metrics adapters implement it (the module
// github.com/aiodb/aiodb/otel has OpenTelemetry's and a Prometheus
// collector); [Logger]'s statement log is one.
//
// Set hooks with [Hooks] when opening with [Open], or with [AddHook] on a
// *sql.DB opened with sql.Open. Without a hook, aiodb does not read the
// clock nor build events.
type Hook interface {
	// Observe is called on the goroutine that ran the statement, before
	// the statement returns to the program, so it must be quick. It may
	// keep e but must not modify it. A statement that database/sql runs
	// again through a prepared statement (the backend answered
	// driver.ErrSkip) is observed once, as [OpStmtExec] or [OpStmtQuery].
	Observe(ctx context.Context, e *Event)
}

// HookFunc adapts a function to [Hook].
type HookFunc func(ctx context.Context, e *Event)

// Observe calls f.
func (f HookFunc) Observe(ctx context.Context, e *Event) { f(ctx, e) }

// Event describes one logical statement, its retries included.
type Event struct {
	Op Op
	// Query is the statement as the program wrote it; "" for BeginTx,
	// Commit and Rollback.
	Query string
	// Rewritten is the statement as sent to the backend (placeholders
	// rewritten); "" when it was refused before it was sent.
	Rewritten string
	// Operation is the statement's leading keyword as aiodb's classifier
	// reads it ("SELECT", "INSERT", "CREATE TABLE", the final statement of a
	// WITH: "DELETE"; "BEGIN", "COMMIT", "ROLLBACK" for transactions), or
	// "" when it cannot tell (several statements, an unknown one).
	Operation string
	// Args are the program's arguments. They may hold personal data or
	// secrets: the OpenTelemetry adapter never records them.
	Args []driver.NamedValue
	// Dialect is the dialect of the DSN, Database the database name of its
	// primary URL (the file path for SQLite, "" in memory).
	Dialect  Dialect
	Database string
	// Node is the node that served the statement or, when it failed
	// there, the last node that was sent it; the zero NodeInfo when no
	// node was (a write refused in a replica context, no usable replica,
	// the primary down).
	Node NodeInfo
	// Reason says why the statement went to Node: see [Reason].
	Reason Reason
	// Retries are the attempts that failed because their node did (a
	// connection refused, a session lost before the first row), in order:
	// the statement then moved to another node, or gave up.
	Retries []Retry
	// Start is when aiodb received the statement; Duration covers routing,
	// retries and the backend call, up to the first response (reading a
	// query's rows is not included).
	Start    time.Time
	Duration time.Duration
	// RowsAffected is what the backend's driver.Result tells for an Exec,
	// -1 when it tells nothing or for other operations.
	RowsAffected int64
	// Err is the error returned to database/sql, nil on success.
	Err error
	// Code is the error code of the server that raised Err: the SQLSTATE
	// on PostgreSQL, the error number on MySQL/MariaDB, the extended result
	// code on SQLite, the SQLSTATE (else the native error) on ODBC; "" when
	// no server raised it.
	Code string
}

// Retry is one failed attempt of a statement on a node.
type Retry struct {
	Node NodeInfo
	// Err is the node's error. Its message has the node's password
	// removed (some drivers quote their DSN); errors.Is and errors.As
	// reach the original.
	Err error
}

// NodeInfo identifies a node in an [Event].
type NodeInfo struct {
	URL     string // redacted
	Primary bool   // the primary; false for a replica
	// Host and Port are the server's address from the URL (the backend's
	// default port when it names none); "" and 0 for SQLite and ODBC.
	Host string
	Port int
}

// Op is the kind of call an [Event] observes.
type Op uint8

// The calls a [Hook] observes.
const (
	OpExec      Op = iota + 1 // ExecContext on a connection
	OpQuery                   // QueryContext on a connection
	OpStmtExec                // ExecContext of a prepared statement
	OpStmtQuery               // QueryContext of a prepared statement
	OpBegin                   // BeginTx (a SAVEPOINT when nested)
	OpCommit                  // Commit (RELEASE SAVEPOINT when nested)
	OpRollback                // Rollback (ROLLBACK TO SAVEPOINT when nested)
)

// String returns "exec", "query", "stmt.exec", "stmt.query", "begin",
// "commit" or "rollback".
func (o Op) String() string {
	switch o {
	case OpExec:
		return "exec"
	case OpQuery:
		return "query"
	case OpStmtExec:
		return "stmt.exec"
	case OpStmtQuery:
		return "stmt.query"
	case OpBegin:
		return "begin"
	case OpCommit:
		return "commit"
	case OpRollback:
		return "rollback"
	}
	return "unknown"
}

// Reason says why the router sent a statement to its node.
type Reason uint8

// The router's reasons. The zero Reason means no routing decision was made
// (a statement whose placeholders could not be rewritten).
const (
	// ReasonPrimary: the statement needs the primary (a write, manual
	// routing, a WithPrimary context, a transaction that is not read-only).
	ReasonPrimary Reason = iota + 1
	// ReasonReplica: a WithReplica context or Replica block, or a
	// read-only transaction begun in one.
	ReasonReplica
	// ReasonAuto: a read routed to a replica by aiodb_route=auto.
	ReasonAuto
	// ReasonFallback: the statement was meant for a replica but none was
	// usable, so the primary served it (with aiodb_fallback, the default,
	// or when the DSN has no replica).
	ReasonFallback
	// ReasonTransaction: a statement inside a transaction, which runs on
	// the transaction's node.
	ReasonTransaction
)

// String returns "primary", "replica", "auto", "fallback", "transaction",
// or "" for the zero Reason.
func (r Reason) String() string {
	switch r {
	case ReasonPrimary:
		return "primary"
	case ReasonReplica:
		return "replica"
	case ReasonAuto:
		return "auto"
	case ReasonFallback:
		return "fallback"
	case ReasonTransaction:
		return "transaction"
	}
	return ""
}

// Hooks adds hs to the hooks of the DB that Open (or the connector that
// NewConnector) returns; it may be given several times.
func Hooks(hs ...Hook) Option { return func(o *openOptions) { o.hooks = append(o.hooks, hs...) } }

// AddHook adds h to the hooks of db, which must have been opened with aiodb
// (sql.Open("aiodb", …) or [Open]). Statements that start after AddHook
// returns are observed.
func AddHook(db *sql.DB, h Hook) error {
	c, err := connectorOf(db, "AddHook")
	if err != nil {
		return err
	}
	c.addHooks(h)
	return nil
}

// addHooks adds hooks to the connector's list, which is copied on write:
// statements read it without a lock.
func (c *connector) addHooks(hs ...Hook) {
	for {
		old := c.hooks.Load()
		var next []Hook
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, hs...)
		if c.hooks.CompareAndSwap(old, &next) {
			return
		}
	}
}

// track starts observing a statement: it forgets the previous statement's
// retries, sets the reason a prepared statement inherits from its prepare
// (0 on a connection: route sets it), and returns the start time, or the
// zero time when no hook is set, so that the hot path does not read the
// clock.
func (c *conn) track(r Reason) time.Time {
	c.rt.reason, c.rt.retries = r, nil
	if c.connector.hooks.Load() == nil {
		return time.Time{}
	}
	return time.Now()
}

// observe reports a statement that track started to the hooks. b is the
// connection that served it, or nil; res the result of an Exec. A backend's
// driver.ErrSkip is not reported: nothing ran, and database/sql runs the
// statement again through a prepared statement, which is.
func (c *conn) observe(ctx context.Context, op Op, query, native string, args []driver.NamedValue, b *bconn, res driver.Result, start time.Time, err error) {
	hs := c.connector.hooks.Load()
	if hs == nil || err == driver.ErrSkip || start.IsZero() || allQuiet(ctx, *hs) { // zero: started before the first hook was added
		return
	}
	e := &Event{Op: op, Query: query, Rewritten: native, Args: args, Dialect: c.connector.cfg.Dialect, Database: c.connector.primary.database,
		Reason: c.rt.reason, Retries: c.rt.retries, Start: start, Duration: time.Since(start), RowsAffected: -1, Err: err}
	switch op {
	case OpBegin:
		e.Operation = "BEGIN"
	case OpCommit:
		e.Operation = "COMMIT"
	case OpRollback:
		e.Operation = "ROLLBACK"
	default:
		e.Operation = operationName(c.connector.classify(query).Kind)
	}
	if b != nil {
		e.Node = b.node.info()
	}
	if err != nil {
		if de, ok := backend.ErrorOf(err, c.connector.prof.Syntax.Dialect); ok {
			e.Code = de.Code()
		}
	}
	if res != nil && err == nil {
		if n, rerr := res.RowsAffected(); rerr == nil {
			e.RowsAffected = n
		}
	}
	for _, h := range *hs {
		h.Observe(ctx, e)
	}
}

// quietHook is a hook that can tell, before an Event is built, that it
// would drop it: the statement log above debug level.
type quietHook interface {
	quiet(ctx context.Context) bool
}

// allQuiet reports whether every hook of hs would drop the statement's
// Event, so that none is built.
func allQuiet(ctx context.Context, hs []Hook) bool {
	for _, h := range hs {
		if q, ok := h.(quietHook); !ok || !q.quiet(ctx) {
			return false
		}
	}
	return true
}

// retried records a failed attempt of the running statement on n.
func (rt *routeState) retried(n *node, err error) {
	rt.retries = append(rt.retries, Retry{Node: n.info(), Err: &redactedError{msg: n.redact(err), err: err}})
}

// redactedError is err with a message that holds no password.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// operationName is the operation a classifier kind names: "SELECT" for
// "SELECT … FOR UPDATE", "DELETE" for "WITH … DELETE", "" for the kinds
// that are descriptions ("multiple statements", "unknown statement").
func operationName(kind string) string {
	kind = strings.TrimPrefix(kind, "WITH … ")
	kind, _, _ = strings.Cut(kind, " …")
	if kind == "" || strings.ToUpper(kind) != kind {
		return ""
	}
	return kind
}

// address returns the host, port and database name of a node's redacted
// URL; the host and port are empty for SQLite and ODBC, whose URLs name
// no server.
func address(d Dialect, redacted string) (host string, port int, database string) {
	u, err := url.Parse(redacted)
	if err != nil {
		return "", 0, ""
	}
	database = strings.TrimPrefix(u.Path, "/")
	if port = backend.DefaultPort(d); port == 0 {
		if database == ":memory:" {
			database = ""
		}
		return "", 0, database
	}
	host = u.Hostname()
	if p, err := strconv.Atoi(u.Port()); err == nil {
		port = p
	}
	return host, port, database
}
