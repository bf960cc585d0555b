package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// route chooses the backend connection for a statement and applies the
// read-only and transaction guards.
func (c *conn) route(ctx context.Context, query string, op opKind) (*bconn, error) {
	mark := routeOf(ctx)
	if mark == markReplica {
		if err := c.c.refuseWrite(query, op); err != nil {
			return nil, err
		}
	}
	if c.tx != nil {
		if err := c.tx.guard(query); err != nil {
			return nil, err
		}
		return c.tx.b, nil
	}
	switch {
	case mark == markReplica:
		return c.replica(ctx, nil)
	case mark == markNone && c.c.cfg.Options.Route == RouteAuto && op != opExec && c.c.classify(query).read:
		if b, err := c.replica(ctx, nil); err == nil {
			return b, nil
		}
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
	return c.replica(ctx, nil)
}

// refuseWrite is the client-side read-only check of a replica context.
func (c *connector) refuseWrite(query string, op opKind) error {
	if op == opExec {
		return fmt.Errorf("%w: Exec in a replica context (%s)", ErrReadOnly, c.classify(query).kind)
	}
	if info := c.classify(query); !info.read {
		return fmt.Errorf("%w: %s in a replica context: %s", ErrReadOnly, info.kind, info.why)
	}
	return nil
}

// replica returns a read-only session on the next usable replica, skipping
// the node avoid, then on the primary if the DSN allows it (or has no
// replicas). Nodes that fail to connect are taken out for a back-off period.
func (c *conn) replica(ctx context.Context, avoid *node) (*bconn, error) {
	r := c.c.router
	for range len(r.nodes) + 1 {
		n := r.next(avoid)
		if n == nil {
			break
		}
		b, err := c.session(ctx, n)
		if err == nil {
			r.debug("route", "node", n.URL)
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		r.fail(n, err)
		avoid = n
	}
	return nil, fmt.Errorf("%w: every replica is down or lagging and aiodb_fallback=none", ErrNoReplica)
}

// session returns this connection's read-only session on n, opening it.
func (c *conn) session(ctx context.Context, n *node) (*bconn, error) {
	if b, ok := c.ro[n]; ok {
		return b, nil
	}
	raw, err := n.backend.Connect(ctx)
	if err != nil {
		return nil, n.connectError(err)
	}
	b := newBconn(raw, n)
	if ro := c.c.prof.readOnly; ro != "" {
		if _, err := b.exec(ctx, ro, nil); err != nil {
			raw.Close()
			return nil, fmt.Errorf("aiodb: make session on %s read-only: %w", n.URL, err)
		}
	}
	if c.ro == nil {
		c.ro = make(map[*node]*bconn)
	}
	c.ro[n] = b
	return b, nil
}

// retry reports whether a failed read on b may run again elsewhere: it ran
// on a read-only session outside a transaction, the caller is still
// waiting, and the node failed rather than the server refusing the statement.
// It returns the connection to retry on.
func (c *conn) retry(ctx context.Context, b *bconn, err error) (*bconn, bool) {
	if b == c.primary || c.tx != nil || ctx.Err() != nil || err == driver.ErrSkip || serverError(err) {
		return nil, false
	}
	c.c.router.fail(b.node, err)
	c.dropRO(b.node)
	nb, rerr := c.replica(ctx, b.node)
	return nb, rerr == nil
}

// serverError reports whether err is a statement error from a server that
// answered, as opposed to a node that could not.
func serverError(err error) bool {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	var se *sqlite.Error
	return errors.As(err, &pe) || errors.As(err, &me) || errors.As(err, &se)
}

// readOnlyRefusal reports whether the server refused a write because the
// session, transaction or server is read-only.
func readOnlyRefusal(err error) bool {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	var se *sqlite.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code == "25006"
	case errors.As(err, &me):
		return me.Number == 1290 || me.Number == 1792 || me.Number == 1836
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

	ctx  context.Context // cancelled by close
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// nodeHealth is one node's health and counters.
type nodeHealth struct {
	served, failures atomic.Int64

	mu        sync.Mutex
	downUntil time.Time
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
	r := &router{c: c, nodes: c.replicas}
	r.ctx, r.stop = context.WithCancel(context.Background())
	if len(r.nodes) > 0 {
		r.wg.Add(1)
		go r.checkLoop()
	}
	return r
}

// close stops the health checks and waits for them.
func (r *router) close() {
	r.stop()
	r.wg.Wait()
}

// next returns the next usable replica by the DSN's policy, else the
// primary when allowed, else nil.
func (r *router) next(avoid *node) *node {
	if k := len(r.nodes); k > 0 {
		start := int(r.rr.Add(1) - 1)
		if r.c.cfg.Options.Policy == Random {
			start = rand.IntN(k)
		}
		for i := range k {
			n := r.nodes[(start+i)%k]
			if n != avoid && r.usable(n) {
				return n
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
	if time.Now().Before(h.downUntil) {
		return false
	}
	max := r.c.cfg.Options.MaxLag
	return max == 0 || (h.lagKnown && h.lag <= max)
}

// fail takes a node out with exponential back-off.
func (r *router) fail(n *node, err error) {
	if n.primary {
		return
	}
	h := &n.health
	h.failures.Add(1)
	h.mu.Lock()
	h.backoff = min(max(2*h.backoff, minBackoff), maxBackoff)
	h.downUntil = time.Now().Add(h.backoff)
	h.lastErr = err.Error()
	d := h.backoff
	h.mu.Unlock()
	r.warn("replica down", "node", n.URL, "for", d, "err", err)
}

// up re-admits a node after a successful probe or statement.
func (r *router) up(n *node) {
	h := &n.health
	h.mu.Lock()
	was := h.backoff
	h.backoff, h.downUntil, h.lastErr = 0, time.Time{}, ""
	h.mu.Unlock()
	if was != 0 {
		r.warn("replica up", "node", n.URL)
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
		return fmt.Errorf("%w: server %s refused a write: %w", ErrReadOnly, b.node.URL, err)
	}
	return err
}

// wrapRows returns the backend's rows as they are, except on a read-only
// session, where Next reports a server read-only refusal as ErrReadOnly.
func (r *router) wrapRows(c *conn, b *bconn, rows driver.Rows) driver.Rows {
	if b == c.primary {
		return rows
	}
	return &roRows{Rows: rows, r: r, b: b}
}

// checkLoop probes every replica at the health interval: reachability
// (re-admitting nodes whose back-off ran out) and, with a lag limit, lag.
func (r *router) checkLoop() {
	defer r.wg.Done()
	probes := make(map[*node]*bconn)
	defer func() {
		for _, b := range probes {
			b.Close()
		}
	}()
	t := time.NewTicker(r.c.cfg.Options.HealthInterval)
	defer t.Stop()
	for {
		for _, n := range r.nodes {
			r.probe(probes, n)
		}
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe checks one replica over the checker's own connection to it.
func (r *router) probe(probes map[*node]*bconn, n *node) {
	ctx, cancel := context.WithTimeout(r.ctx, r.c.cfg.Options.HealthInterval)
	defer cancel()
	b := probes[n]
	if b == nil {
		raw, err := n.backend.Connect(ctx)
		if err != nil {
			r.fail(n, err)
			return
		}
		b = newBconn(raw, n)
		probes[n] = b
	}
	lag, known, err := r.measureLag(ctx, b)
	if err != nil {
		b.Close()
		delete(probes, n)
		if r.ctx.Err() == nil {
			r.fail(n, err)
		}
		return
	}
	h := &n.health
	h.mu.Lock()
	h.lag, h.lagKnown = lag, known
	h.mu.Unlock()
	if max := r.c.cfg.Options.MaxLag; max > 0 && known && lag > max {
		r.debug("replica lagging", "node", n.URL, "lag", lag)
	}
	r.up(n)
}

// measureLag asks a replica how far behind its primary it is. A node whose
// dialect has no lag query answers 0, known.
func (r *router) measureLag(ctx context.Context, b *bconn) (time.Duration, bool, error) {
	var q, col string
	switch r.c.prof.syntax.dialect {
	case PostgreSQL:
		q, col = `SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
			ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8 AS lag`, "lag"
	case MySQL:
		q, col = "SHOW SLAVE STATUS", "Seconds_Behind_Master"
	default:
		return 0, true, b.ping(ctx)
	}
	rows, err := b.query(ctx, q, nil)
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
	for i, name := range cols {
		if name == col {
			return lagValue(vals[i])
		}
	}
	return 0, false, nil
}

// lagValue converts a lag column (seconds as float, integer, text or NULL).
func lagValue(v driver.Value) (time.Duration, bool, error) {
	var secs float64
	switch v := v.(type) {
	case nil:
		return 0, false, nil // replication stopped: lag unknown
	case float64:
		secs = v
	case int64:
		secs = float64(v)
	case []byte:
		if _, err := fmt.Sscan(string(v), &secs); err != nil {
			return 0, false, nil
		}
	case string:
		if _, err := fmt.Sscan(v, &secs); err != nil {
			return 0, false, nil
		}
	}
	return time.Duration(secs * float64(time.Second)), true, nil
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

// NodeStats describes one node of a *sql.DB opened with aiodb.
type NodeStats struct {
	URL      string        // redacted
	Primary  bool          // the primary; false for replicas
	Healthy  bool          // not in back-off and, with a lag limit, within it
	Served   int64         // statements that ran on the node
	Failures int64         // connection failures and failed probes
	Lag      time.Duration // last measured replication lag (0 when unknown)
	LagKnown bool          // whether Lag was measured
	LastErr  string        // the error that took the node out
}

// Stats reports every node of db, which must have been opened with aiodb:
// the primary first, then the replicas in DSN order. It borrows a
// connection from the pool to reach db's connector.
func Stats(db *sql.DB) ([]NodeStats, error) {
	sc, err := db.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	var c *connector
	err = sc.Raw(func(dc any) error {
		ac, ok := dc.(*conn)
		if !ok {
			return fmt.Errorf("aiodb: Stats of a *sql.DB whose driver is %T, not aiodb", db.Driver())
		}
		c = ac.c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c.router.stats(), nil
}

func (r *router) stats() []NodeStats {
	out := make([]NodeStats, 0, 1+len(r.nodes))
	for _, n := range append([]*node{r.c.primary}, r.nodes...) {
		h := &n.health
		s := NodeStats{URL: n.URL, Primary: n.primary, Served: h.served.Load(), Failures: h.failures.Load()}
		s.Healthy = n.primary || r.usable(n)
		h.mu.Lock()
		s.Lag, s.LagKnown, s.LastErr = h.lag, h.lagKnown, h.lastErr
		h.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// classify classifies a statement with the backend's SQL syntax.
func (c *connector) classify(query string) stmtInfo { return classify(query, c.prof.syntax) }
