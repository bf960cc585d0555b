package aiodb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync/atomic"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// Routing between the primary and read-only sessions (replicas, or the
// primary opened read-only). A context marker chooses; a transaction never
// moves; writes in a replica context are refused before anything is sent.
//
// Sessions. Each aiodb connection (one per database/sql pool slot) holds its
// primary backend connection and, lazily, one read-only session per node it
// routed a statement to: conn.ro. A session is made read-only on the server
// when it opens (backend.Profile.ReadOnly) and is reused by every later statement of
// that connection on that node. A node's sessions are discarded, on every
// connection, when the node is taken out (routeState.gen).
//
// Node choice and health are the router's (router.go), the background
// checker's rounds are in checker.go.

type routeKey struct{}

type routeMark uint8

const (
	markNone routeMark = iota
	markPrimary
	markReplica
)

// WithReplica returns a context whose statements run on a read replica,
// read-only: Exec, a write through Query or Prepare, and a BeginTx that is
// not ReadOnly fail with ErrReadOnly before anything is sent. Without
// replicas in the DSN, they run on a read-only session of the primary. The
// innermost WithReplica or WithPrimary wins.
func WithReplica(ctx context.Context) context.Context {
	return context.WithValue(ctx, routeKey{}, markReplica)
}

// WithPrimary returns a context whose statements run on the primary, also
// inside a WithReplica context and in automatic routing mode.
func WithPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, routeKey{}, markPrimary)
}

// pinKey is the context key of a block's replicaPin for one connector, so
// that blocks of different DBs keep their own replicas.
type pinKey struct{ c *connector }

// replicaPin is the node a Connection or Replica block reads from in a
// replica context: the first statement chooses it, the others use it, so
// that the block's reads see one server's replication position, which only
// moves forward. It moves only when that node fails (or, having fallen
// back to the primary, stays there: a replica could be behind it).
type replicaPin struct{ n atomic.Pointer[node] }

// withPin returns ctx with a replica pin for c's replicas, unless it
// carries one already (nested blocks read from their outer block's node).
func withPin(ctx context.Context, c *connector) context.Context {
	if pinOf(ctx, c) != nil {
		return ctx
	}
	return context.WithValue(ctx, pinKey{c}, new(replicaPin))
}

// pinOf returns the pin ctx carries for c's replicas; nil outside a block.
func pinOf(ctx context.Context, c *connector) *replicaPin {
	p, _ := ctx.Value(pinKey{c}).(*replicaPin)
	return p
}

// get returns the pinned node; nil without a pin or before the first read.
func (p *replicaPin) get() *node {
	if p == nil {
		return nil
	}
	return p.n.Load()
}

func (p *replicaPin) set(n *node) {
	if p != nil {
		p.n.Store(n)
	}
}

func routeOf(ctx context.Context) routeMark {
	m, _ := ctx.Value(routeKey{}).(routeMark)
	return m
}

func isReadOnly(ctx context.Context) bool { return routeOf(ctx) == markReplica }

type opKind uint8

const (
	opExec opKind = iota
	opQuery
	opPrepare
)

// routeState is the routing state of one connection (conn.rt). database/sql
// serialises calls on a connection, so it needs no lock.
type routeState struct {
	// gen is the generation of each node when this connection opened its
	// session on it; a session from an older generation predates an outage
	// of the node and is reopened.
	gen map[*node]uint64
	// skipQuery and skipTo remember where a query went when the backend
	// answered driver.ErrSkip, so that database/sql's Prepare of the same
	// query lands on the same session instead of advancing the round-robin.
	skipQuery string
	skipTo    *bconn
	// reason and retries describe the routing of the running statement,
	// for hooks (hook.go): the reason is recorded where the decision is
	// made, each failed attempt where it fails.
	reason  Reason
	retries []Retry
}

// route chooses the backend connection for a statement and applies the
// read-only and transaction guards.
func (c *conn) route(ctx context.Context, query string, op opKind) (*bconn, error) {
	skipTo, skipQuery := c.rt.skipTo, c.rt.skipQuery
	c.rt.skipTo, c.rt.skipQuery = nil, ""

	mark := routeOf(ctx)
	var info *sqltext.StmtInfo
	classified := func() sqltext.StmtInfo {
		if info == nil {
			i := c.connector.classify(query)
			info = &i
		}
		return *info
	}
	if mark == markReplica {
		c.rt.reason = ReasonReplica
		if err := refusal(classified(), op, "in a replica context"); err != nil {
			return nil, err
		}
	}
	if st := c.managed(); st != nil {
		c.rt.reason = ReasonTransaction
		if err := st.guard(query); err != nil {
			return nil, err
		}
		// A transaction that began on a read-only session stays read-only
		// whatever the context says: the session must not be turned
		// read-write (SET SESSION …) nor written through.
		if st.b != c.primary && mark != markReplica {
			if in := classified(); !in.Read {
				return nil, fmt.Errorf("%w: %s in a read-only transaction on %s: %s", ErrReadOnly, in.Kind, st.b.node.URL, in.Why)
			}
		}
		return st.b, nil
	}
	if op == opPrepare && skipTo != nil && skipQuery == query && (skipTo == c.primary || c.ro[skipTo.node] == skipTo) {
		return skipTo, nil // the reason of the statement that was skipped stands
	}
	var b *bconn
	var err error
	switch {
	case mark == markReplica:
		b, err = c.replica(ctx, nil, false)
	case mark == markNone && c.connector.cfg.Settings.Route == RouteAuto && op != opExec && classified().Read:
		b, err = c.replica(ctx, nil, true)
	default:
		c.rt.reason = ReasonPrimary
		return c.primaryConn(ctx)
	}
	if err != nil || b == c.primary {
		return b, err
	}
	return c.caughtUp(ctx, b) // read-your-writes
}

// routeBegin chooses the node of a top-level transaction: a replica for a
// read-only transaction in a replica context, the primary otherwise.
func (c *conn) routeBegin(ctx context.Context, opts driver.TxOptions) (*bconn, error) {
	if routeOf(ctx) != markReplica {
		c.rt.reason = ReasonPrimary
		return c.primaryConn(ctx)
	}
	c.rt.reason = ReasonReplica
	if !opts.ReadOnly {
		return nil, fmt.Errorf("%w: BeginTx in a replica context must be ReadOnly (sql.TxOptions{ReadOnly: true})", ErrReadOnly)
	}
	b, err := c.replica(ctx, nil, false)
	if err != nil {
		return nil, err
	}
	return c.caughtUp(ctx, b)
}

// refusal is the client-side read-only check: Exec is refused outright, a
// query or prepare when the classifier cannot prove the statement a read.
func refusal(info sqltext.StmtInfo, op opKind, where string) error {
	if op == opExec {
		why := "Exec is for writes; run reads with Query"
		if !info.Read {
			why = info.Why
		}
		return fmt.Errorf("%w: Exec of %s %s: %s", ErrReadOnly, info.Kind, where, why)
	}
	if !info.Read {
		return fmt.Errorf("%w: %s %s: %s", ErrReadOnly, info.Kind, where, info.Why)
	}
	return nil
}

// replica returns a read-only session on the next usable replica, skipping
// the node avoid, then on the primary if the DSN allows it (or has no
// replicas). Nodes that fail to connect are taken out. In automatic mode
// (auto) the primary means the connection's own primary connection, and
// running out of replicas is not an error. Inside a block, the block's
// pinned replica comes first. It records the route's reason (ReasonAuto or
// ReasonReplica, ReasonFallback on the primary) and every node that failed
// to connect.
func (c *conn) replica(ctx context.Context, avoid *node, auto bool) (*bconn, error) {
	r := c.connector.router
	r.start()
	c.rt.reason = ReasonReplica
	if auto {
		c.rt.reason = ReasonAuto
	}
	w, _ := r.writer()
	pin := pinOf(ctx, c.connector)
	if n := pin.get(); n != nil && n != avoid && (n == w || r.usable(n)) {
		b, err := c.session(ctx, n)
		if err == nil {
			if n == w {
				c.rt.reason = ReasonFallback
			}
			return b, nil
		}
		if n != w && ctx.Err() == nil {
			r.fail(n, err)
			c.rt.retried(n, err)
			avoid = n
		}
	}
	var lastErr error
	for range len(r.nodes) + 1 {
		n := r.next(avoid)
		if n == nil {
			break
		}
		if n == w {
			c.rt.reason = ReasonFallback
			if auto {
				return c.primaryConn(ctx)
			}
		}
		b, err := c.session(ctx, n)
		if err == nil {
			pin.set(n)
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if n == w {
			return nil, err // the primary itself is unreachable
		}
		r.fail(n, err)
		c.rt.retried(n, err)
		lastErr = err
		avoid = n
	}
	if auto {
		c.rt.reason = ReasonFallback
		return c.primaryConn(ctx)
	}
	last := r.lastFailure()
	if lastErr != nil {
		last = avoid.redact(lastErr) // avoid is the replica that failed last
	}
	if last != "" {
		return nil, fmt.Errorf("%w: every replica is down or lagging and aiodb_fallback=none (last error: %s)", ErrNoReplica, last)
	}
	return nil, fmt.Errorf("%w: every replica is down or lagging and aiodb_fallback=none", ErrNoReplica)
}

// lastFailure is the recorded error of the first replica that is out, for
// a statement that found every replica already out (the health checker or
// another connection saw them fail first).
func (r *router) lastFailure() string {
	for _, n := range r.nodes {
		h := &n.health
		h.mu.Lock()
		e := h.lastErr
		h.mu.Unlock()
		if e != "" {
			return e
		}
	}
	return ""
}

// session returns this connection's read-only session on n, opening it.
func (c *conn) session(ctx context.Context, n *node) (*bconn, error) {
	gen := n.health.gen.Load()
	if b, ok := c.ro[n]; ok {
		if c.rt.gen[n] == gen && b.valid() {
			return b, nil
		}
		c.dropRO(n) // broken or closed (a cancelled query), or opened before the node's last outage
	}
	raw, err := n.backend.Connect(ctx)
	if err != nil {
		return nil, n.connectError(err)
	}
	b := c.connector.newBconn(raw, n)
	b.readOnly = true
	if ro := c.connector.prof.ReadOnly; ro != "" {
		if err := b.execSQL(ctx, ro); err != nil {
			raw.Close()
			return nil, fmt.Errorf("aiodb: make session on %s read-only: %w", n.URL, err)
		}
	}
	if c.ro == nil {
		c.ro = make(map[*node]*bconn)
	}
	if c.rt.gen == nil {
		c.rt.gen = make(map[*node]uint64)
	}
	c.ro[n], c.rt.gen[n] = b, gen
	c.connector.router.debug("read-only session opened", "node", n.URL)
	return b, nil
}

// nodeFailed handles an error of a statement on b: when the node (not the
// statement) failed, the node is taken out and, outside a transaction, the
// session dropped. It reports whether it did so.
func (c *conn) nodeFailed(ctx context.Context, b *bconn, err error) bool {
	if b == c.primary || ctx.Err() != nil || !nodeFailure(b, err) {
		return false
	}
	c.connector.router.fail(b.node, err)
	if c.tx == nil && c.ro[b.node] == b {
		c.dropRO(b.node)
	}
	return true
}

// retry reports whether a failed read on b may run again elsewhere: it ran
// on a read-only session outside a transaction, the caller is still
// waiting, and the node failed rather than the server refusing the statement.
// It returns the connection to retry on.
func (c *conn) retry(ctx context.Context, b *bconn, err error) (*bconn, bool) {
	if err == driver.ErrSkip || c.tx != nil || !c.nodeFailed(ctx, b, err) {
		return nil, false
	}
	c.rt.retried(b.node, err)
	nb, rerr := c.replica(ctx, b.node, routeOf(ctx) != markReplica)
	return nb, rerr == nil
}

// skipped remembers that the backend answered query on b with
// driver.ErrSkip: database/sql prepares the query next, and route sends
// that Prepare to b rather than choosing again (which would advance the
// round-robin, or send an auto-mode Exec's Prepare to a replica).
func (c *conn) skipped(query string, b *bconn, err error) {
	if err == driver.ErrSkip && c.tx == nil {
		c.rt.skipQuery, c.rt.skipTo = query, b
	}
}

// retryOnce runs op on b and, when b's node fails before answering (see
// retry), once more on another node. It returns op's result and the
// connection that gave it.
func retryOnce[T any](ctx context.Context, c *conn, b *bconn, op func(*bconn) (T, error)) (T, *bconn, error) {
	v, err := op(b)
	if err != nil {
		if rv, nb, rerr, ok := retryElsewhere(ctx, c, b, err, op); ok {
			return rv, nb, rerr
		}
	}
	return v, b, err
}

// retryElsewhere runs op once more on another node after op failed with err
// on b, when it may (see retry); ok reports whether it ran.
func retryElsewhere[T any](ctx context.Context, c *conn, b *bconn, err error, op func(*bconn) (T, error)) (v T, nb *bconn, _ error, ok bool) {
	nb, ok = c.retry(ctx, b, err)
	if !ok {
		return v, nil, nil, false
	}
	if v, err = op(nb); err != nil {
		c.nodeFailed(ctx, nb, err)
	}
	return v, nb, err, true
}

// query runs a routed query on b (query is the caller's text, q and nargs
// its rewrite), retrying once elsewhere when b's node fails before any row
// arrives, and returns the rows and the connection that served them.
func (c *conn) query(ctx context.Context, b *bconn, query, q string, nargs []driver.NamedValue) (driver.Rows, *bconn, error) {
	rows, b, err := retryOnce(ctx, c, b, func(b *bconn) (driver.Rows, error) {
		rows, err := b.query(ctx, q, nargs)
		c.skipped(query, b, err)
		return rows, err
	})
	c.txCheck(b, err)
	if err != nil {
		err = c.primaryLost(ctx, b, err, !c.connector.classify(query).Read)
	}
	if err = c.connector.router.recordOutcome(b, err); err != nil {
		return nil, b, err
	}
	if b == c.primary {
		return rows, b, nil // readRows would return them as they are: spare the closure
	}
	return c.readRows(ctx, b, rows, func(b *bconn) (driver.Rows, error) { return b.query(ctx, q, nargs) }), b, nil
}

// readRows returns rows as they are from the primary and, from a read-only
// session, wrapped in roRows; outside a transaction the query runs again
// on another node (run) when the node fails before the first row.
func (c *conn) readRows(ctx context.Context, b *bconn, rows driver.Rows, run func(*bconn) (driver.Rows, error)) driver.Rows {
	if b == c.primary {
		return rows
	}
	rr := &roRows{fwdRows: fwdRows{rows}, r: c.connector.router, b: b}
	if c.tx == nil {
		// rows == nil, err == nil: not re-run.
		rr.rerun = func(failed *bconn, err error) (driver.Rows, *bconn, error) {
			rows, nb, rerr, ok := retryElsewhere(ctx, c, failed, err, run)
			if !ok {
				return nil, nil, nil
			}
			return rows, nb, c.connector.router.recordOutcome(nb, rerr)
		}
	}
	return rr
}

// prepare prepares native on b, retrying once elsewhere when b's node fails.
func (c *conn) prepare(ctx context.Context, b *bconn, native string) (driver.Stmt, *bconn, error) {
	si, b, err := retryOnce(ctx, c, b, func(b *bconn) (driver.Stmt, error) { return b.prepare(ctx, native) })
	if err != nil {
		return nil, b, c.connector.router.recordOutcome(b, err)
	}
	return si, b, nil
}
