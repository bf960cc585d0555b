package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Node health. A node that fails (it refused a connection, or a session
// broke) is taken out at once and for a back-off period; statements skip it.
// The background checker (one goroutine per connector, started by the first
// statement or the first Stats, stopped by
// connector.Close) re-admits it only after a successful half-open probe on a
// fresh connection; each failed probe doubles the back-off (1s, 2s, 4s … 1m).
// The checker (checker.go) also measures every replica's lag at the health
// interval.

// router holds the replica nodes' health and the choice policy for one
// connector, and runs the background health checks.
type router struct {
	connector *connector
	nodes     []*node // replicas
	rr        atomic.Uint32

	// minBackoff and maxBackoff bound a node's time out; tests shorten them.
	minBackoff, maxBackoff time.Duration
	// probeFunc, when set (by tests, before the first statement), replaces
	// the checker's probe of a replica: connect and measure lag.
	probeFunc func(ctx context.Context, n *node) (lag time.Duration, known bool, err error)

	// elected is the node writes go to: the DSN's primary until the checker
	// has read the servers' roles, then the one node that reports itself
	// writable, or the error that says why there is none.
	elected atomic.Pointer[election]
	// kicked asks the checker for a round now (a write refused as
	// read-only, a lost primary); fastUntil (Unix nanoseconds) keeps it
	// probing every fastInterval until then, after a change of roles.
	kicked    chan struct{}
	fastUntil atomic.Int64

	mu      sync.Mutex // guards starting and closing the checker
	running atomic.Bool
	closed  atomic.Bool
	ctx     context.Context // cancelled by close
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	// fastInterval is the checker's interval while roles are changing,
	// for fastPeriod after a change or a kick.
	fastInterval = 100 * time.Millisecond
	fastPeriod   = 10 * time.Second
)

func newRouter(c *connector) *router {
	r := &router{connector: c, nodes: c.replicas, minBackoff: minBackoff, maxBackoff: maxBackoff, kicked: make(chan struct{}, 1)}
	r.elected.Store(&election{node: c.primary})
	r.ctx, r.stop = context.WithCancel(context.Background())
	return r
}

// writer returns the node writes go to, or the error that says why there
// is none (ErrPrimaryDown: no writable node; ErrSplitBrain: several).
func (r *router) writer() (*node, error) {
	e := r.elected.Load()
	return e.node, e.err
}

// election is the write target the checker elected: a node, or the error
// that says why there is none (ErrPrimaryDown, ErrSplitBrain).
type election struct {
	node *node
	err  error
}

// awaitWriter asks the checker for rounds and waits, at most d and never
// past ctx's deadline, until the write target is a node accept approves,
// and returns it; otherwise the last reason there was none (ErrPrimaryDown,
// ErrSplitBrain) or, with a target accept refused, the context's error.
func (r *router) awaitWriter(ctx context.Context, d time.Duration, accept func(*node) bool) (*node, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		r.kick()
		n, err := r.writer()
		if err == nil && accept(n) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		case <-time.After(fastInterval):
		}
	}
}

// kick asks the checker to read the roles now and then often for a while:
// a write was refused as read-only, or the primary's session broke.
func (r *router) kick() {
	if len(r.nodes) == 0 {
		return
	}
	r.start()
	r.fastUntil.Store(time.Now().Add(fastPeriod).UnixNano())
	select {
	case r.kicked <- struct{}{}:
	default:
	}
}

// observed records the role a node reported (roleUnknown: it did not
// answer).
func (r *router) observed(n *node, role nodeRole) {
	h := &n.health
	h.mu.Lock()
	was := h.role
	if was != role {
		h.role, h.roleSince = role, time.Now()
	}
	h.mu.Unlock()
	if was != role && was != roleUnknown {
		r.warn("node role changed", "node", n.URL, "configured", configuredRole(n), "was", was.String(), "now", role.String())
	}
}

// elect sets the write target from the roles read in the last round:
// exactly one writable node is the primary; none fails writes with
// ErrPrimaryDown, several with ErrSplitBrain (logged at error level).
// Until a role was read from any node, the DSN's primary stays the target.
func (r *router) elect() {
	var writable, known []*node
	for _, n := range r.all() {
		n.health.mu.Lock()
		role := n.health.role
		n.health.mu.Unlock()
		if role != roleUnknown {
			known = append(known, n)
		}
		// A server the DSN names twice (a development "replica" that is
		// the primary itself) is one writable node: the first named.
		if role == roleWritable && !slices.ContainsFunc(writable, func(w *node) bool { return w.Node.backend == n.Node.backend }) {
			writable = append(writable, n)
		}
	}
	prev := r.elected.Load()
	was := prev.node
	switch {
	case len(writable) == 1:
		r.elected.Store(&election{node: writable[0]})
	case len(known) == 0:
		return
	case len(writable) == 0:
		r.elected.Store(&election{err: fmt.Errorf("%w: no node of the DSN reports itself writable", ErrPrimaryDown)})
	default:
		urls := make([]string, len(writable))
		for i, n := range writable {
			urls[i] = n.URL
		}
		r.elected.Store(&election{err: fmt.Errorf("%w: %s all accept writes; refusing to choose (fence all but one)", ErrSplitBrain, strings.Join(urls, ", "))})
		if !errors.Is(prev.err, ErrSplitBrain) && r.connector.log != nil { // it starts now
			r.connector.log.Error("aiodb: split brain: writes refused", "writable", urls)
		}
	}
	if now := r.elected.Load(); now.node != was {
		r.fastUntil.Store(time.Now().Add(fastPeriod).UnixNano())
		switch {
		case now.node != nil:
			r.warn("primary is now", "node", now.node.URL, "configured", configuredRole(now.node))
		case was != nil:
			r.warn("no primary", "err", now.err.Error())
		}
	}
}

// all returns every node: the DSN's primary first, then the replicas.
func (r *router) all() []*node {
	return append([]*node{r.connector.primary}, r.nodes...)
}

// start starts the health checker, once, unless the router is closed or has
// no replica. The first statement routed to a replica or to the primary
// calls it.
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
		if r.connector.cfg.Settings.Policy == Random {
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
		if !r.connector.cfg.Settings.Fallback {
			return nil
		}
	}
	w, err := r.writer()
	if err != nil || avoid == w {
		return nil
	}
	return w
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
	max := r.connector.cfg.Settings.MaxLag
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
	if max := r.connector.cfg.Settings.MaxLag; max > 0 && (!known || lag > max) {
		r.debug("replica lagging", "node", n.URL, "lag", lag, "known", known, "max", max)
	}
}

// primaryBackoff is how long statements that need the primary fail fast
// with ErrPrimaryDown after a dial of it failed; the first statement after
// that dials again (the others go on failing fast meanwhile).
const primaryBackoff = time.Second

// primaryGate returns ErrPrimaryDown while the primary n is known down and
// its back-off runs; otherwise nil, and the caller dials it.
func (r *router) primaryGate(n *node) error {
	h := &n.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return nil
	}
	if now := time.Now(); now.Before(h.downUntil) {
		return fmt.Errorf("%w: %s is down (dialled again in %v): %s", ErrPrimaryDown, n.URL, h.downUntil.Sub(now).Round(time.Millisecond), h.lastErr)
	}
	h.downUntil = time.Now().Add(primaryBackoff) // this caller dials; the others fail fast
	return nil
}

// dialPrimary opens a backend connection to the primary n, unless it is
// known down (ErrPrimaryDown at once), and records the outcome.
func (r *router) dialPrimary(ctx context.Context, n *node) (driver.Conn, error) {
	if err := r.primaryGate(n); err != nil {
		return nil, err
	}
	raw, err := n.backend.Connect(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.primaryFailed(n, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrPrimaryDown, n.connectError(err))
	}
	r.primaryUp(n)
	return raw, nil
}

// probePrimary dials the primary n to see whether it is up, and hangs up.
func (r *router) probePrimary(ctx context.Context, n *node) error {
	raw, err := r.dialPrimary(ctx, n)
	if err != nil {
		return err
	}
	raw.Close()
	return nil
}

// primaryFailed records a failed dial of the primary n.
func (r *router) primaryFailed(n *node, err error) {
	r.kick()
	h := &n.health
	h.failures.Add(1)
	h.mu.Lock()
	was := h.down
	h.down, h.downUntil, h.lastErr = true, time.Now().Add(primaryBackoff), n.redact(err)
	h.mu.Unlock()
	if !was {
		r.warn("primary down", "node", n.URL, "err", n.redact(err))
	}
}

// primaryUp records a successful dial of the primary n.
func (r *router) primaryUp(n *node) {
	h := &n.health
	h.mu.Lock()
	was := h.down
	h.down, h.downUntil, h.lastErr = false, time.Time{}, ""
	h.mu.Unlock()
	if was {
		r.warn("primary up", "node", n.URL)
	}
}

// recordOutcome counts a statement against its node and translates a server's
// read-only refusal on a read-only session aiodb opened into ErrReadOnly.
// Other errors (a refusal in the program's own read-only transaction on
// the primary among them) and driver.ErrSkip pass unchanged.
func (r *router) recordOutcome(b *bconn, err error) error {
	if err == nil {
		b.node.health.served.Add(1)
		return nil
	}
	if err == driver.ErrSkip {
		return err
	}
	if b.readOnly && readOnlyRefusal(b, err) {
		return fmt.Errorf("%w: refused by %s, whose session or server is read-only: %w", ErrReadOnly, b.node.URL, err)
	}
	return err
}

// Bounds of one probe's timeout: a loaded machine must not flap nodes.
const (
	minProbeTimeout = 2 * time.Second
	maxProbeTimeout = 10 * time.Second
)

// probeTimeout bounds one probe: the health interval, but at least
// minProbeTimeout and at most maxProbeTimeout.
func (r *router) probeTimeout() time.Duration {
	return min(max(r.connector.cfg.Settings.HealthInterval, minProbeTimeout), maxProbeTimeout)
}

// checkLoop probes, at the health interval, every replica that is up (its
// lag) and every replica whose back-off ran out (half-open).
func (r *router) checkLoop() {
	defer r.wg.Done()
	all := make([]*bconn, 1+len(r.nodes))
	p := &checker{r: r, roleConns: all, conns: all[1:], modes: make([]lagMode, len(r.nodes))}
	defer p.close()
	for {
		p.round()
		wait := r.connector.cfg.Settings.HealthInterval
		if time.Now().UnixNano() < r.fastUntil.Load() {
			wait = min(wait, fastInterval)
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-r.kicked:
		case <-t.C:
		}
		t.Stop()
	}
}

func (r *router) debug(msg string, args ...any) {
	if r.connector.log != nil {
		r.connector.log.Debug("aiodb: "+msg, args...)
	}
}

func (r *router) warn(msg string, args ...any) {
	if r.connector.log != nil {
		r.connector.log.Warn("aiodb: "+msg, args...)
	}
}

func (r *router) stats() []NodeStats {
	r.start() // health is measured from the first statement, or from the first Stats
	out := make([]NodeStats, 0, 1+len(r.nodes))
	w, _ := r.writer()
	for _, n := range r.all() {
		h := &n.health
		s := NodeStats{URL: n.URL, Primary: n.primary, Writer: n == w, Served: h.served.Load(), Failures: h.failures.Load()}
		s.Healthy = !n.primary && r.usable(n)
		h.mu.Lock()
		s.Down, s.Lag, s.LagKnown, s.LastErr = h.down, h.lag, h.lagKnown, h.lastErr
		s.Role, s.RoleAt = h.role.String(), h.roleSince
		h.mu.Unlock()
		if n.primary {
			s.Healthy = !s.Down
		}
		out = append(out, s)
	}
	return out
}
