package aiodb

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Read your own writes. With the option on, every write through a *sql.DB
// records the primary's replication position after it (one small query on
// the writing session), and a replica read waits until its replica has
// replayed the newest recorded position, or reads on the primary.

// ReadYourWrites says whether a read in a replica context must see the
// writes made before it through the same *sql.DB (aiodb_read_your_writes).
type ReadYourWrites uint8

const (
	// RYWOff (off, the default): a replica read may miss recent writes
	// while the replica lags.
	RYWOff ReadYourWrites = iota
	// RYWWait (wait): the read waits, at most aiodb_read_your_writes_wait
	// (1s by default), until its replica has replayed the writes; if it
	// has not by then, it reads on the primary's read-only session.
	RYWWait
	// RYWPrimary (primary): the read goes to the primary's read-only
	// session unless its replica is already known to have replayed the writes.
	RYWPrimary
)

// String returns the option value: off, wait or primary.
func (m ReadYourWrites) String() string {
	switch m {
	case RYWWait:
		return "wait"
	case RYWPrimary:
		return "primary"
	}
	return "off"
}

type rywKey struct{}

// WithReadYourWrites returns a context whose statements follow m, whatever
// the DSN's aiodb_read_your_writes says: writes given it record the
// primary's position, replica reads given it see the writes recorded
// before them. PostgreSQL and MariaDB (GTID) only; elsewhere it does
// nothing.
func WithReadYourWrites(ctx context.Context, m ReadYourWrites) context.Context {
	return context.WithValue(ctx, rywKey{}, m)
}

// ryw is the read-your-writes mode of ctx: its own, or the DSN's.
func (c *connector) ryw(ctx context.Context) ReadYourWrites {
	if m, ok := ctx.Value(rywKey{}).(ReadYourWrites); ok {
		return m
	}
	return c.cfg.Settings.ReadYourWrites
}

// watermark is the newest primary position recorded after a write.
type watermark struct {
	mu  sync.Mutex
	pos position
}

// raise merges p into the watermark: the larger LSN, or per GTID domain
// the larger sequence number.
func (w *watermark) raise(p position) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.pos.ok:
		w.pos = p
	case p.gtid == nil:
		w.pos = position{lsn: max(w.pos.lsn, p.lsn), ok: true}
	default:
		g := maps.Clone(w.pos.gtid)
		for d, s := range p.gtid {
			g[d] = max(g[d], s)
		}
		w.pos = position{gtid: g, raw: gtidString(g, p, w.pos), ok: true}
	}
}

func (w *watermark) get() position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pos
}

// gtidString writes a GTID position for MASTER_GTID_WAIT: domain-server-seq
// for each domain, the server id taken from whichever position had the
// sequence number.
func gtidString(g map[uint64]uint64, ps ...position) string {
	var parts []string
	for d, s := range g {
		srv := "0"
		for _, p := range ps {
			if p.gtid[d] == s {
				srv = gtidServer(p.raw, d, srv)
			}
		}
		parts = append(parts, fmt.Sprintf("%d-%s-%d", d, srv, s))
	}
	return strings.Join(parts, ",")
}

// gtidServer is the server id of domain d in a raw GTID position.
func gtidServer(raw string, d uint64, def string) string {
	for part := range strings.SplitSeq(raw, ",") {
		f := strings.Split(strings.TrimSpace(part), "-")
		if len(f) == 3 && f[0] == strconv.FormatUint(d, 10) {
			return f[1]
		}
	}
	return def
}

// noteWrite records the primary's position after a write on b, when ctx
// asks for read-your-writes and the backend has a position.
func (c *conn) noteWrite(ctx context.Context, b *bconn) {
	q := c.connector.prof.WritePos
	if q == "" || b.readOnly || c.connector.ryw(ctx) == RYWOff {
		return
	}
	row, err := queryRow(ctx, b, q)
	if err != nil || len(row) != 1 {
		return
	}
	if p, ok := parsePosition(row[0]); ok && (p.gtid == nil || len(p.gtid) > 0) {
		c.connector.written.raise(p)
	}
}

// caughtUp returns b, a read-only session chosen for a read, when its node
// has replayed every write recorded so far or needs not (ctx asks for no
// read-your-writes); otherwise it waits for it (RYWWait) or returns the
// primary's read-only session.
func (c *conn) caughtUp(ctx context.Context, b *bconn) (*bconn, error) {
	n := b.node
	w, err := c.connector.router.writer()
	if err != nil || n == w || c.connector.prof.ReplayedPos == "" {
		return b, nil
	}
	mode := c.connector.ryw(ctx)
	if mode == RYWOff {
		return b, nil
	}
	target := c.connector.written.get()
	if !target.ok || target.le(n.replayed.get()) {
		return b, nil
	}
	if mode == RYWWait && c.waitReplay(ctx, b, target) {
		return b, nil
	}
	c.connector.router.debug("read on the primary: replica behind the writes", "node", n.URL, "mode", mode.String())
	return c.session(ctx, w)
}

// waitReplay waits, at most the DSN's read-your-writes wait, until b's node
// has replayed target, and reports whether it has.
func (c *conn) waitReplay(ctx context.Context, b *bconn, target position) bool {
	wait := c.connector.cfg.Settings.RYWWait
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if target.gtid != nil { // MariaDB waits server-side
		reached, _ := gtidWait(ctx, b, target.raw, wait)
		if reached {
			b.node.replayed.raise(target)
		}
		return reached
	}
	for {
		row, err := queryRow(ctx, b, c.connector.prof.ReplayedPos)
		if err != nil || len(row) != 1 {
			return false
		}
		if p, ok := parsePosition(row[0]); ok {
			b.node.replayed.raise(p)
			if target.le(p) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(rywPollInterval):
		}
	}
}

// rywPollInterval is how often a replica's replayed position is read again
// while a read waits for it.
const rywPollInterval = 2 * time.Millisecond
