package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Routing between the primary and read-only sessions (replicas, or the
// primary opened read-only). A context marker chooses; a transaction never
// moves; writes in a replica context are refused before anything is sent.
//
// Sessions. Each aiodb connection (one per database/sql pool slot) holds its
// primary backend connection and, lazily, one read-only session per node it
// routed a statement to: conn.ro. A session is made read-only on the server
// when it opens (profile.readOnly) and is reused by every later statement of
// that connection on that node. A node's sessions are discarded, on every
// connection, when the node is taken out (routeState.gen).
//
// Health. A node that fails (it refused a connection, or a session broke) is
// taken out at once and for a back-off period; statements skip it. The
// background checker (one goroutine per connector, started by the first
// statement routed to a replica or the first Stats, stopped by connector.Close) re-admits it
// only after a successful half-open probe on a fresh connection; each failed
// probe doubles the back-off (1s, 2s, 4s … 1m). The checker also measures
// every replica's lag at the health interval.

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

func (op opKind) String() string {
	switch op {
	case opExec:
		return "exec"
	case opQuery:
		return "query"
	}
	return "prepare"
}

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
}

// route chooses the backend connection for a statement and applies the
// read-only and transaction guards.
func (c *conn) route(ctx context.Context, query string, op opKind) (*bconn, error) {
	skipTo, skipQuery := c.rt.skipTo, c.rt.skipQuery
	c.rt.skipTo, c.rt.skipQuery = nil, ""

	mark := routeOf(ctx)
	var info *stmtInfo
	classified := func() stmtInfo {
		if info == nil {
			i := c.c.classify(query)
			info = &i
		}
		return *info
	}
	if mark == markReplica {
		if err := refusal(classified(), op, "in a replica context"); err != nil {
			c.c.router.debug("refused", "op", op.String(), "err", err.Error())
			return nil, err
		}
	}
	if st := c.managed(); st != nil {
		if err := st.guard(query); err != nil {
			return nil, err
		}
		// A transaction that began on a read-only session stays read-only
		// whatever the context says: the session must not be turned
		// read-write (SET SESSION …) nor written through.
		if st.b != c.primary && mark != markReplica {
			if in := classified(); !in.read {
				err := fmt.Errorf("%w: %s in a read-only transaction on %s: %s", ErrReadOnly, in.kind, st.b.node.URL, in.why)
				c.c.router.debug("refused", "op", op.String(), "err", err.Error())
				return nil, err
			}
		}
		return st.b, nil
	}
	if op == opPrepare && skipTo != nil && skipQuery == query && (skipTo == c.primary || c.ro[skipTo.node] == skipTo) {
		return skipTo, nil
	}
	switch {
	case mark == markReplica:
		return c.replica(ctx, nil, false, "replica context")
	case mark == markNone && c.c.cfg.Options.Route == RouteAuto && op != opExec && classified().read:
		return c.replica(ctx, nil, true, "auto: "+classified().kind)
	}
	return c.primary, nil
}

// routeBegin chooses the node of a top-level transaction: a replica for a
// read-only transaction in a replica context, the primary otherwise.
func (c *conn) routeBegin(ctx context.Context, opts driver.TxOptions) (*bconn, error) {
	if routeOf(ctx) != markReplica {
		return c.primary, nil
	}
	if !opts.ReadOnly {
		return nil, fmt.Errorf("%w: BeginTx in a replica context must be ReadOnly (sql.TxOptions{ReadOnly: true})", ErrReadOnly)
	}
	return c.replica(ctx, nil, false, "read-only transaction")
}

// refusal is the client-side read-only check: Exec is refused outright, a
// query or prepare when the classifier cannot prove the statement a read.
func refusal(info stmtInfo, op opKind, where string) error {
	if op == opExec {
		why := "Exec is for writes; run reads with Query"
		if !info.read {
			why = info.why
		}
		return fmt.Errorf("%w: Exec of %s %s: %s", ErrReadOnly, info.kind, where, why)
	}
	if !info.read {
		return fmt.Errorf("%w: %s %s: %s", ErrReadOnly, info.kind, where, info.why)
	}
	return nil
}

// replica returns a read-only session on the next usable replica, skipping
// the node avoid, then on the primary if the DSN allows it (or has no
// replicas). Nodes that fail to connect are taken out. In automatic mode
// (auto) the primary means the connection's own primary connection, and
// running out of replicas is not an error.
func (c *conn) replica(ctx context.Context, avoid *node, auto bool, reason string) (*bconn, error) {
	r := c.c.router
	r.start()
	var lastErr error
	for range len(r.nodes) + 1 {
		n := r.next(avoid)
		if n == nil {
			break
		}
		if auto && n.primary {
			r.debug("route", "reason", reason, "node", n.URL, "fallback", true)
			return c.primary, nil
		}
		b, err := c.session(ctx, n)
		if err == nil {
			r.debug("route", "reason", reason, "node", n.URL, "fallback", n.primary)
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if n.primary {
			return nil, err // the primary itself is unreachable
		}
		r.fail(n, err)
		lastErr = err
		avoid = n
	}
	if auto {
		r.debug("route", "reason", reason, "node", c.primary.node.URL, "fallback", true)
		return c.primary, nil
	}
	r.debug("no replica", "reason", reason)
	last := r.lastFailure()
	if lastErr != nil {
		last = r.c.primary.redact(lastErr)
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
	b := newBconn(raw, n)
	if ro := c.c.prof.readOnly; ro != "" {
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
	c.c.router.debug("read-only session opened", "node", n.URL)
	return b, nil
}

// nodeFailed handles an error of a statement on b: when the node (not the
// statement) failed, the node is taken out and, outside a transaction, the
// session dropped. It reports whether it did so.
func (c *conn) nodeFailed(ctx context.Context, b *bconn, err error) bool {
	if b == c.primary || ctx.Err() != nil || !nodeFailure(b, err) {
		return false
	}
	c.c.router.fail(b.node, err)
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
	nb, rerr := c.replica(ctx, b.node, routeOf(ctx) != markReplica, "retry after "+b.node.URL+" failed")
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

// query runs a routed query on b (query is the caller's text, q and nargs
// its rewrite), retrying once elsewhere when b's node fails before any row
// arrives, and returns the rows and the connection that served them.
func (c *conn) query(ctx context.Context, b *bconn, query, q string, nargs []driver.NamedValue) (driver.Rows, *bconn, error) {
	rows, err := b.query(ctx, q, nargs)
	c.skipped(query, b, err)
	if err != nil {
		if nb, ok := c.retry(ctx, b, err); ok {
			b = nb
			rows, err = b.query(ctx, q, nargs)
			if err != nil {
				c.nodeFailed(ctx, b, err)
			}
		}
	}
	if err = c.c.router.done(b, err); err != nil {
		return nil, b, err
	}
	if b == c.primary {
		return rows, b, nil
	}
	rr := &roRows{Rows: rows, r: c.c.router, b: b}
	if c.tx == nil {
		// Rows that fail before the first row run again elsewhere, once:
		// rows == nil, err == nil when they may not.
		rr.rerun = func(failed *bconn, err error) (driver.Rows, *bconn, error) {
			nb, ok := c.retry(ctx, failed, err)
			if !ok {
				return nil, nil, nil
			}
			rows, rerr := nb.query(ctx, q, nargs)
			if rerr != nil {
				c.nodeFailed(ctx, nb, rerr)
			}
			return rows, nb, c.c.router.done(nb, rerr)
		}
	}
	return rr, b, nil
}

// prepare prepares native on b, retrying once elsewhere when b's node fails.
func (c *conn) prepare(ctx context.Context, b *bconn, native string) (driver.Stmt, *bconn, error) {
	si, err := b.prepare(ctx, native)
	if err != nil {
		if nb, ok := c.retry(ctx, b, err); ok {
			b = nb
			si, err = b.prepare(ctx, native)
			if err != nil {
				c.nodeFailed(ctx, b, err)
			}
		}
	}
	if err != nil {
		return nil, b, c.c.router.done(b, err)
	}
	return si, b, nil
}

// nodeFailure reports whether err, returned by a statement on b, means that
// b's node or session failed (refused, reset, shut down, unreachable), as
// opposed to the server refusing or failing the statement itself.
func nodeFailure(b *bconn, err error) bool {
	if err == nil || err == driver.ErrSkip || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	var se *sqlite.Error
	switch {
	case errors.As(err, &pe):
		switch {
		case pe.Severity == "FATAL" || pe.Severity == "PANIC":
			return true // the server ends the session: shutdown, termination, …
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"), pe.Code == "53300":
			return true // connection exception, operator intervention, too many connections
		}
		return false
	case errors.As(err, &me):
		switch me.Number {
		case 1040, 1053, 1152, 1158, 1159, 1160, 1161, 1927:
			// too many connections, server shutdown, aborted or broken
			// connection, connection killed
			return true
		}
		return false
	case errors.As(err, &se):
		return false // a local file: nothing to fail over from
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.As(err, &ne) || b.broken || !b.valid()
}

// readOnlyRefusal reports whether the server refused a write because the
// session, transaction or server is read-only.
func readOnlyRefusal(err error) bool {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	var se *sqlite.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code == "25006" // read_only_sql_transaction
	case errors.As(err, &me):
		switch me.Number {
		case 1792, 1836: // read-only transaction, read-only mode
			return true
		case 1290: // ER_OPTION_PREVENTS_STATEMENT: read_only, or another option
			m := strings.ToLower(me.Message)
			return strings.Contains(m, "read-only") || strings.Contains(m, "read_only")
		}
	case errors.As(err, &se):
		return se.Code()&0xff == 8 // SQLITE_READONLY and its extended codes
	}
	return false
}

// router holds the replica nodes' health and the choice policy for one
// connector, and runs the background health checks.
type router struct {
	c     *connector
	nodes []*node // replicas
	rr    atomic.Uint32

	// minBackoff and maxBackoff bound a node's time out; tests shorten them.
	minBackoff, maxBackoff time.Duration
	// probeFunc, when set (by tests, before the first statement), replaces
	// the checker's probe of a replica: connect and measure lag.
	probeFunc func(ctx context.Context, n *node) (lag time.Duration, known bool, err error)

	mu      sync.Mutex // guards starting and closing the checker
	running atomic.Bool
	closed  atomic.Bool
	ctx     context.Context // cancelled by close
	stop    context.CancelFunc
	wg      sync.WaitGroup
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
}

const (
	minBackoff = time.Second
	maxBackoff = time.Minute
)

func newRouter(c *connector) *router {
	r := &router{c: c, nodes: c.replicas, minBackoff: minBackoff, maxBackoff: maxBackoff}
	r.ctx, r.stop = context.WithCancel(context.Background())
	return r
}

// start starts the health checker, once, unless the router is closed or has
// no replica. The first statement routed to a replica calls it.
func (r *router) start() {
	if len(r.nodes) == 0 || r.running.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running.Load() || r.closed.Load() {
		return
	}
	r.running.Store(true)
	r.wg.Add(1)
	go r.checkLoop()
}

// close stops the health checks and waits for them.
func (r *router) close() {
	r.mu.Lock()
	r.closed.Store(true)
	r.mu.Unlock()
	r.stop()
	r.wg.Wait()
}

// next returns the next usable replica by the DSN's policy, else the
// primary when allowed, else nil.
func (r *router) next(avoid *node) *node {
	if k := len(r.nodes); k > 0 {
		if r.c.cfg.Options.Policy == Random {
			var ok [16]*node
			usable := ok[:0]
			for _, n := range r.nodes {
				if n != avoid && r.usable(n) {
					usable = append(usable, n)
				}
			}
			if len(usable) > 0 {
				return usable[rand.IntN(len(usable))]
			}
		} else {
			start := int(r.rr.Add(1) - 1)
			for i := range k {
				n := r.nodes[(start+i)%k]
				if n != avoid && r.usable(n) {
					return n
				}
			}
		}
		if !r.c.cfg.Options.Fallback {
			return nil
		}
	}
	if avoid == r.c.primary {
		return nil
	}
	return r.c.primary
}

// usable reports whether a replica is up and, with a lag limit, close enough.
func (r *router) usable(n *node) bool {
	h := &n.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		// Only the checker re-admits a node; without a running checker
		// (a connector already closed) the back-off alone decides.
		if r.running.Load() && !r.closed.Load() || time.Now().Before(h.downUntil) {
			return false
		}
	}
	max := r.c.cfg.Options.MaxLag
	return max == 0 || (h.lagKnown && h.lag <= max)
}

// fail takes a node out after a failed connection or statement. A node
// already out stays out as it is: the checker's probes set its back-off.
func (r *router) fail(n *node, err error) {
	if n.primary {
		return
	}
	h := &n.health
	h.failures.Add(1)
	h.mu.Lock()
	if h.down {
		h.mu.Unlock()
		return
	}
	h.down, h.backoff = true, r.minBackoff
	h.downUntil = time.Now().Add(h.backoff)
	h.lastErr = n.redact(err)
	h.gen.Add(1)
	d := h.backoff
	h.mu.Unlock()
	r.warn("replica down", "node", n.URL, "for", d, "err", n.redact(err))
}

// probed records the result of a probe: a failure takes the node out or,
// when it was out already (a half-open probe), doubles its back-off; a
// success re-admits it and records its lag.
func (r *router) probed(n *node, lag time.Duration, known bool, err error) {
	h := &n.health
	if err != nil {
		h.failures.Add(1)
		h.mu.Lock()
		if h.down {
			h.backoff = min(max(2*h.backoff, r.minBackoff), r.maxBackoff)
		} else {
			h.down, h.backoff = true, r.minBackoff
			h.gen.Add(1)
		}
		h.downUntil = time.Now().Add(h.backoff)
		h.lastErr = n.redact(err)
		d := h.backoff
		h.mu.Unlock()
		r.warn("replica probe failed", "node", n.URL, "retry_in", d, "err", n.redact(err))
		return
	}
	h.mu.Lock()
	was := h.down
	h.down, h.downUntil, h.backoff, h.lastErr = false, time.Time{}, 0, ""
	h.lag, h.lagKnown = lag, known
	h.mu.Unlock()
	if was {
		r.warn("replica up", "node", n.URL)
	}
	if max := r.c.cfg.Options.MaxLag; max > 0 && (!known || lag > max) {
		r.debug("replica lagging", "node", n.URL, "lag", lag, "known", known, "max", max)
	}
}

// done counts a statement against its node and translates a server's
// read-only refusal into ErrReadOnly. driver.ErrSkip passes unchanged.
func (r *router) done(b *bconn, err error) error {
	if err == nil {
		b.node.health.served.Add(1)
		return nil
	}
	if err == driver.ErrSkip {
		return err
	}
	if readOnlyRefusal(err) {
		return fmt.Errorf("%w: refused by %s, whose session or server is read-only: %w", ErrReadOnly, b.node.URL, err)
	}
	return err
}

// wrapRows returns the backend's rows as they are, except on a read-only
// session, where Next reports a server read-only refusal as ErrReadOnly.
// Prepared statements use it; conn.query also retries.
func (r *router) wrapRows(c *conn, b *bconn, rows driver.Rows) driver.Rows {
	if b == c.primary {
		return rows
	}
	return &roRows{Rows: rows, r: r, b: b}
}

// redact returns err's message without n's password.
func (n *node) redact(err error) string {
	msg := err.Error()
	if n.secret != "" {
		msg = strings.ReplaceAll(msg, n.secret, "xxxxx")
	}
	return msg
}

// ---------------------------------------------------------------- checker

// probeTimeout bounds one probe: the health interval, but at least 2s (a
// loaded machine must not flap nodes) and at most 10s.
func (r *router) probeTimeout() time.Duration {
	return min(max(r.c.cfg.Options.HealthInterval, 2*time.Second), 10*time.Second)
}

// checkLoop probes, at the health interval, every replica that is up (its
// lag) and every replica whose back-off ran out (half-open).
func (r *router) checkLoop() {
	defer r.wg.Done()
	p := &prober{r: r, conns: make([]*bconn, len(r.nodes)), modes: make([]lagMode, len(r.nodes))}
	defer p.close()
	t := time.NewTicker(r.c.cfg.Options.HealthInterval)
	defer t.Stop()
	for {
		p.round()
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lagMode is how a replica's lag is measured.
type lagMode uint8

const (
	lagAuto        lagMode = iota // by dialect: PostgreSQL LSN, MariaDB GTID
	lagReplicaStat                // MySQL: SHOW REPLICA STATUS
	lagSlaveStat                  // MySQL before 8.0.22: SHOW SLAVE STATUS
	lagNone                       // cannot be measured (no privilege): unknown
)

// position is a primary's or replica's replication position: a PostgreSQL
// WAL LSN or a MariaDB GTID position (domain → sequence number).
type position struct {
	lsn  uint64
	gtid map[uint64]uint64 // nil for an LSN
	raw  string            // as the server wrote it
	ok   bool
}

// le reports whether every transaction of p is in q.
func (p position) le(q position) bool {
	if !p.ok || !q.ok {
		return false
	}
	if p.gtid == nil && q.gtid == nil {
		return p.lsn <= q.lsn
	}
	for d, s := range p.gtid {
		if q.gtid[d] < s {
			return false
		}
	}
	return true
}

func (p position) equal(q position) bool { return p.le(q) && q.le(p) }

// posMark says that the primary was at pos at time at.
type posMark struct {
	pos position
	at  time.Time
}

const maxHistory = 256

// prober is the checker's state; only checkLoop's goroutine and the probes
// of one round (each on its own replica index) use it.
type prober struct {
	r       *router
	primary *bconn   // the checker's connection to the primary (lag reference)
	conns   []*bconn // the checker's connection to each replica
	modes   []lagMode
	noPos   bool      // the primary has no position query (MySQL, SQLite, ODBC)
	hist    []posMark // the primary's recent positions, oldest first
}

func (p *prober) close() {
	if p.primary != nil {
		p.primary.Close()
	}
	for _, b := range p.conns {
		if b != nil {
			b.Close()
		}
	}
}

// round probes the replicas that are due, concurrently, after reading the
// primary's position.
func (p *prober) round() {
	r := p.r
	now := time.Now()
	var due []int
	for i, n := range r.nodes {
		h := &n.health
		h.mu.Lock()
		if !h.down || !now.Before(h.downUntil) {
			due = append(due, i)
		}
		h.mu.Unlock()
	}
	if len(due) == 0 {
		return
	}
	var pos position
	if r.probeFunc == nil {
		pos = p.primaryPosition()
		if pos.ok {
			if k := len(p.hist); k > 0 && p.hist[k-1].pos.equal(pos) {
				p.hist[k-1].at = now
			} else {
				p.hist = append(p.hist, posMark{pos, now})
				if len(p.hist) > maxHistory {
					p.hist = append(p.hist[:0], p.hist[len(p.hist)-maxHistory:]...)
				}
			}
		}
	}
	var wg sync.WaitGroup
	for _, i := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.probe(i, pos, now)
		}()
	}
	wg.Wait()
}

// primaryPosition reads the primary's replication position, or returns a
// position that is not ok.
func (p *prober) primaryPosition() position {
	if p.noPos {
		return position{}
	}
	var q string
	switch p.r.c.prof.syntax.dialect {
	case PostgreSQL:
		q = "SELECT pg_current_wal_flush_lsn()::text"
	case MySQL:
		q = "SELECT @@gtid_binlog_pos"
	default:
		p.noPos = true
		return position{}
	}
	r := p.r
	ctx, cancel := context.WithTimeout(r.ctx, r.probeTimeout())
	defer cancel()
	if p.primary == nil {
		raw, err := r.c.primary.backend.Connect(ctx)
		if err != nil {
			r.debug("primary position unknown", "node", r.c.primary.URL, "err", r.c.primary.redact(err))
			return position{}
		}
		p.primary = newBconn(raw, r.c.primary)
	}
	row, err := queryRow(ctx, p.primary, q)
	if err == nil && len(row) == 1 {
		if pos, ok := parsePosition(row[0]); ok {
			return pos
		}
		p.noPos = true // NULL: no binary log
		return position{}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1193 {
		p.noPos = true // MySQL: no @@gtid_binlog_pos
		return position{}
	}
	if err != nil && !serverError(err) {
		p.primary.Close()
		p.primary = nil
	}
	return position{} // a standby "primary" (55000), or down
}

// probe checks replica i: a half-open probe of a node that is out uses a
// fresh connection; a node that answers is (re-)admitted with its lag.
func (p *prober) probe(i int, pos position, roundStart time.Time) {
	r := p.r
	n := r.nodes[i]
	ctx, cancel := context.WithTimeout(r.ctx, r.probeTimeout())
	defer cancel()
	if r.probeFunc != nil {
		lag, known, err := r.probeFunc(ctx, n)
		if r.ctx.Err() == nil {
			r.probed(n, lag, known, err)
		}
		return
	}
	n.health.mu.Lock()
	down := n.health.down
	n.health.mu.Unlock()
	if b := p.conns[i]; b != nil && (down || b.broken || !b.valid()) {
		b.Close()
		p.conns[i] = nil
	}
	if p.conns[i] == nil {
		raw, err := n.backend.Connect(ctx)
		if err != nil {
			if r.ctx.Err() == nil {
				r.probed(n, 0, false, n.connectError(err))
			}
			return
		}
		p.conns[i] = newBconn(raw, n)
	}
	lag, known, err := p.measure(ctx, i, pos, roundStart)
	if err != nil && serverError(err) && !nodeFailure(p.conns[i], err) {
		// The node answers but will not say its lag (no privilege, …).
		r.debug("replica lag unknown", "node", n.URL, "err", n.redact(err))
		lag, known, err = 0, false, nil
	}
	if err != nil {
		p.conns[i].Close()
		p.conns[i] = nil
	}
	if r.ctx.Err() == nil {
		r.probed(n, lag, known, err)
	}
}

// measure measures replica i's lag behind the primary. The bound is the
// smaller of: the age of the newest primary position the replica has
// replayed (from the checker's history), and the replica's own estimate
// (PostgreSQL: time since the last replayed commit; MariaDB: how long
// MASTER_GTID_WAIT took to reach the primary's current position). A replica
// at or past the primary's current position has lag 0.
func (p *prober) measure(ctx context.Context, i int, pos position, roundStart time.Time) (time.Duration, bool, error) {
	b := p.conns[i]
	switch p.r.c.prof.syntax.dialect {
	case PostgreSQL:
		return p.measurePostgres(ctx, b, pos)
	case MySQL:
		return p.measureMySQL(ctx, i, b, pos, roundStart)
	}
	return 0, true, b.ping(ctx)
}

func (p *prober) measurePostgres(ctx context.Context, b *bconn, pos position) (time.Duration, bool, error) {
	row, err := queryRow(ctx, b, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,
		pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn(),
		EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8`)
	if err != nil || len(row) != 4 {
		return 0, false, err
	}
	if rec, _ := row[0].(bool); !rec {
		return 0, true, nil // not a standby: nothing to lag behind
	}
	replay, ok := parsePosition(row[1])
	if !ok {
		return 0, false, nil
	}
	if pos.ok && pos.le(replay) {
		return 0, true, nil
	}
	lag, known := lagFrom(p.hist, replay)
	if secs, ok := floatValue(row[3]); ok {
		if d := seconds(secs); !known || d < lag {
			lag, known = d, true
		}
	}
	if !pos.ok && !known {
		// Without the primary's position, a standby that replayed all it
		// received is as fresh as it can be.
		if caughtUp, _ := row[2].(bool); caughtUp {
			return 0, true, nil
		}
	}
	return lag, known, nil
}

func (p *prober) measureMySQL(ctx context.Context, i int, b *bconn, pos position, roundStart time.Time) (time.Duration, bool, error) {
	switch p.modes[i] {
	case lagNone:
		return 0, false, b.ping(ctx)
	case lagReplicaStat, lagSlaveStat:
		return p.replicaStatus(ctx, i, b)
	}
	row, err := queryRow(ctx, b, "SELECT @@gtid_current_pos")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1193 { // MySQL, not MariaDB
		p.modes[i] = lagReplicaStat
		return p.replicaStatus(ctx, i, b)
	}
	if err != nil || len(row) != 1 {
		return 0, false, err
	}
	cur, ok := parsePosition(row[0])
	if !ok || cur.gtid == nil {
		return 0, false, nil
	}
	if !pos.ok {
		lag, known := lagFrom(p.hist, cur)
		return lag, known, nil
	}
	if pos.le(cur) {
		return 0, true, nil
	}
	wait := min(max(p.r.c.cfg.Options.MaxLag, 500*time.Millisecond)+100*time.Millisecond, p.r.probeTimeout()/2)
	row, err = queryRow(ctx, b, fmt.Sprintf("SELECT MASTER_GTID_WAIT('%s', %.3f)", pos.raw, wait.Seconds()))
	if err != nil || len(row) != 1 {
		return 0, false, err
	}
	if res, ok := floatValue(row[0]); ok && res == 0 {
		return time.Since(roundStart), true, nil
	}
	// Not there within wait: the lag is at least wait, and at most the
	// age of the newest primary position the replica has; report the latter.
	lag, _ := lagFrom(p.hist, cur)
	return max(lag, wait), true, nil
}

// replicaStatus reads MySQL's Seconds_Behind_Source (…_Master).
func (p *prober) replicaStatus(ctx context.Context, i int, b *bconn) (time.Duration, bool, error) {
	q := "SHOW REPLICA STATUS"
	if p.modes[i] == lagSlaveStat {
		q = "SHOW SLAVE STATUS"
	}
	rows, err := b.query(ctx, q, nil)
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch {
		case me.Number == 1064 && p.modes[i] == lagReplicaStat:
			p.modes[i] = lagSlaveStat
			return p.replicaStatus(ctx, i, b)
		case me.Number == 1227 || me.Number == 1044 || me.Number == 1045:
			p.modes[i] = lagNone // no privilege: the lag stays unknown
		}
	}
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	cols := rows.Columns()
	vals := make([]driver.Value, len(cols))
	if err := rows.Next(vals); err == io.EOF {
		return 0, true, nil // not a replica: no lag
	} else if err != nil {
		return 0, false, err
	}
	for j, name := range cols {
		if name == "Seconds_Behind_Source" || name == "Seconds_Behind_Master" {
			secs, ok := floatValue(vals[j])
			return seconds(secs), ok, nil // NULL: replication stopped
		}
	}
	return 0, false, nil
}

// lagFrom returns the age of the newest recorded primary position that the
// replica position at has reached, if any.
func lagFrom(hist []posMark, at position) (time.Duration, bool) {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].pos.le(at) {
			return time.Since(hist[i].at), true
		}
	}
	return 0, false
}

// queryRow runs q on b and returns its first row (nil if none).
func queryRow(ctx context.Context, b *bconn, q string) ([]driver.Value, error) {
	rows, err := b.query(ctx, q, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(vals); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return vals, nil
}

// parsePosition parses a PostgreSQL LSN ("16/B374D848") or a MariaDB GTID
// position ("0-1-2312,1-2-7").
func parsePosition(v driver.Value) (position, bool) {
	s, ok := stringValue(v)
	if !ok {
		return position{}, false
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return position{gtid: map[uint64]uint64{}, ok: true}, true // an empty GTID position
	}
	if hi, lo, ok := strings.Cut(s, "/"); ok {
		h, err1 := strconv.ParseUint(hi, 16, 32)
		l, err2 := strconv.ParseUint(lo, 16, 32)
		if err1 != nil || err2 != nil {
			return position{}, false
		}
		return position{lsn: h<<32 | l, raw: s, ok: true}, true
	}
	pos := position{gtid: map[uint64]uint64{}, raw: s, ok: true}
	for g := range strings.SplitSeq(s, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) != 3 {
			return position{}, false
		}
		d, err1 := strconv.ParseUint(parts[0], 10, 32)
		_, err2 := strconv.ParseUint(parts[1], 10, 32)
		seq, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return position{}, false
		}
		pos.gtid[d] = max(pos.gtid[d], seq)
	}
	return pos, true
}

func stringValue(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// floatValue converts a number column (float, integer or text; NULL is not ok).
func floatValue(v driver.Value) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case []byte, string:
		s, _ := stringValue(v)
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return f, err == nil
	}
	return 0, false
}

func seconds(s float64) time.Duration { return time.Duration(max(s, 0) * float64(time.Second)) }

// serverError reports whether err is a statement error from a server that
// answered, as opposed to a node that could not.
func serverError(err error) bool {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	var se *sqlite.Error
	return errors.As(err, &pe) || errors.As(err, &me) || errors.As(err, &se)
}

func (r *router) debug(msg string, args ...any) {
	if r.c.log != nil {
		r.c.log.Debug("aiodb: "+msg, args...)
	}
}

func (r *router) warn(msg string, args ...any) {
	if r.c.log != nil {
		r.c.log.Warn("aiodb: "+msg, args...)
	}
}

// ---------------------------------------------------------------- stats

// NodeStats describes one node of a *sql.DB opened with aiodb.
type NodeStats struct {
	URL      string        // redacted
	Primary  bool          // the primary; false for replicas
	Healthy  bool          // usable for reads: not down and, with aiodb_max_lag, within it (the primary: always)
	Down     bool          // taken out after a failure, until a probe re-admits it
	Served   int64         // statements that ran on the node
	Failures int64         // connection or session failures and failed probes
	Lag      time.Duration // last measured replication lag (0 when unknown)
	LagKnown bool          // whether Lag was measured
	LastErr  string        // the error that took the node out (redacted)
}

// Stats reports every node of db, which must have been opened with aiodb:
// the primary first, then the replicas in DSN order. It needs no
// connection (it works while every server is down), and starts the health
// checks if no statement has yet (they start with the first statement
// routed to a replica).
func Stats(db *sql.DB) ([]NodeStats, error) {
	d, ok := db.Driver().(Driver)
	if !ok || d.c == nil {
		return nil, fmt.Errorf("aiodb: Stats of a *sql.DB whose driver is %T, not aiodb's", db.Driver())
	}
	return d.c.router.stats(), nil
}

func (r *router) stats() []NodeStats {
	r.start() // health is measured from the first statement on a replica, or from the first Stats
	out := make([]NodeStats, 0, 1+len(r.nodes))
	for _, n := range append([]*node{r.c.primary}, r.nodes...) {
		h := &n.health
		s := NodeStats{URL: n.URL, Primary: n.primary, Served: h.served.Load(), Failures: h.failures.Load()}
		s.Healthy = n.primary || r.usable(n)
		h.mu.Lock()
		s.Down, s.Lag, s.LagKnown, s.LastErr = h.down, h.lag, h.lagKnown, h.lastErr
		h.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// classify classifies a statement with the backend's SQL syntax (cached).
func (c *connector) classify(query string) stmtInfo { return c.classes.get(query) }
