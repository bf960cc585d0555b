package aiodb

import (
	"context"
	"database/sql/driver"
	"io"
	"sync"
	"time"

	"github.com/aiodb/aiodb/internal/backend"
)

// checker is the checker's state; only checkLoop's goroutine and the probes
// of one round (each on its own replica index) use it.
type checker struct {
	r       *router
	primary *bconn   // the checker's connection to the primary (lag reference)
	conns   []*bconn // the checker's connection to each replica
	// roleConns is the checker's connection to each node of router.all,
	// for its role; conns is roleConns[1:] when both are set, so a replica
	// is probed for its role and its lag on one connection.
	roleConns []*bconn
	modes     []lagMode
	noPos     bool      // the primary has no position query (MySQL, SQLite, ODBC)
	hist      []posMark // the primary's recent positions, oldest first
}

func (p *checker) close() {
	if p.primary != nil {
		p.primary.Close()
	}
	closed := map[*bconn]bool{p.primary: true}
	for _, b := range append(p.conns, p.roleConns...) {
		if b != nil && !closed[b] {
			closed[b] = true
			b.Close()
		}
	}
}

// round reads every node's role, then probes the replicas that are due,
// concurrently, after reading the primary's position.
func (p *checker) round() {
	r := p.r
	if r.probeFunc == nil {
		p.observeRoles()
	}
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

// observeRoles reads every node's role (the first column of the
// profile's state query: read-only or not), concurrently, and elects the
// node writes go to.
func (p *checker) observeRoles() {
	r := p.r
	q := r.connector.prof.State
	if q == "" {
		return
	}
	var wg sync.WaitGroup
	for i, n := range r.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.observed(n, p.role(i, n, q))
		}()
	}
	wg.Wait()
	if r.ctx.Err() == nil {
		r.elect()
	}
}

// role asks node n (index i of router.all) its role on the checker's own
// connection to it; roleUnknown when it does not answer or cannot say.
func (p *checker) role(i int, n *node, q string) nodeRole {
	ctx, cancel := context.WithTimeout(p.r.ctx, p.r.probeTimeout())
	defer cancel()
	b := p.roleConns[i]
	if b != nil && (b.broken || !b.valid()) {
		b.Close()
		b = nil
	}
	if b == nil {
		raw, err := n.backend.Connect(ctx)
		if err != nil {
			p.roleConns[i] = nil
			return roleUnknown
		}
		b = p.r.connector.newBconn(raw, n)
		p.roleConns[i] = b
	}
	row, err := queryRow(ctx, b, q)
	if err != nil || len(row) < 1 {
		b.Close()
		p.roleConns[i] = nil
		return roleUnknown
	}
	readOnly, ok := boolValue(row[0])
	if !ok {
		return roleUnknown // NULL: the server cannot say (SQLite)
	}
	if readOnly {
		return roleReadOnly
	}
	return roleWritable
}

// primaryPosition reads the primary's replication position, or returns a
// position that is not ok.
func (p *checker) primaryPosition() position {
	if p.noPos {
		return position{}
	}
	q := p.r.connector.prof.PrimaryPos
	if q == "" {
		p.noPos = true
		return position{}
	}
	r := p.r
	w, err := r.writer()
	if err != nil {
		return position{}
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.probeTimeout())
	defer cancel()
	if p.primary != nil && p.primary.node != w {
		p.primary.Close() // the primary moved
		p.primary = nil
	}
	if p.primary == nil {
		raw, err := w.backend.Connect(ctx)
		if err != nil {
			r.debug("primary position unknown", "node", w.URL, "err", w.redact(err))
			return position{}
		}
		p.primary = r.connector.newBconn(raw, w)
	}
	row, err := queryRow(ctx, p.primary, q)
	if err == nil && len(row) == 1 {
		if pos, ok := parsePosition(row[0]); ok {
			return pos
		}
		p.noPos = true // NULL: no binary log
		return position{}
	}
	if e, ok := backend.MySQLErrorOf(err); ok && e.Number == backend.MyErrUnknownSysVar {
		p.noPos = true // MySQL: no @@gtid_binlog_pos
		return position{}
	}
	if err != nil && !backend.ServerError(err) {
		p.primary.Close()
		p.primary = nil
	}
	return position{} // a standby "primary" (55000), or down
}

// probe checks replica i: a half-open probe of a node that is out uses a
// fresh connection; a node that answers is (re-)admitted with its lag.
func (p *checker) probe(i int, pos position, roundStart time.Time) {
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
		p.conns[i] = r.connector.newBconn(raw, n)
	}
	lag, known, err := p.measure(ctx, i, pos, roundStart)
	if err != nil && backend.ServerError(err) && !nodeFailure(p.conns[i], err) {
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
func (p *checker) measure(ctx context.Context, i int, pos position, roundStart time.Time) (time.Duration, bool, error) {
	b := p.conns[i]
	switch p.r.connector.prof.Lag {
	case backend.LagPostgres:
		return p.measurePostgres(ctx, b, pos)
	case backend.LagMySQL:
		return p.measureMySQL(ctx, i, b, pos, roundStart)
	}
	return 0, true, b.ping(ctx)
}

func (p *checker) measurePostgres(ctx context.Context, b *bconn, pos position) (time.Duration, bool, error) {
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
	b.node.replayed.raise(replay)
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

func (p *checker) measureMySQL(ctx context.Context, i int, b *bconn, pos position, roundStart time.Time) (time.Duration, bool, error) {
	switch p.modes[i] {
	case lagNone:
		return 0, false, b.ping(ctx)
	case lagReplicaStat, lagSlaveStat:
		return p.replicaStatus(ctx, i, b)
	}
	row, err := queryRow(ctx, b, "SELECT @@gtid_current_pos")
	if e, ok := backend.MySQLErrorOf(err); ok && e.Number == backend.MyErrUnknownSysVar { // MySQL, not MariaDB
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
	b.node.replayed.raise(cur)
	if !pos.ok {
		lag, known := lagFrom(p.hist, cur)
		return lag, known, nil
	}
	if pos.le(cur) {
		return 0, true, nil
	}
	wait := min(max(p.r.connector.cfg.Settings.MaxLag, minGTIDWait)+gtidWaitMargin, p.r.probeTimeout()/2)
	reached, err := gtidWait(ctx, b, pos.raw, wait)
	if err != nil {
		return 0, false, err
	}
	if reached {
		return time.Since(roundStart), true, nil
	}
	// Not there within wait: the lag is at least wait, and at most the
	// age of the newest primary position the replica has; report the latter.
	lag, _ := lagFrom(p.hist, cur)
	return max(lag, wait), true, nil
}

// replicaStatus reads MySQL's Seconds_Behind_Source (…_Master).
func (p *checker) replicaStatus(ctx context.Context, i int, b *bconn) (time.Duration, bool, error) {
	q := "SHOW REPLICA STATUS"
	if p.modes[i] == lagSlaveStat {
		q = "SHOW SLAVE STATUS"
	}
	rows, err := b.query(ctx, q, nil)
	if me, ok := backend.MySQLErrorOf(err); ok {
		switch {
		case me.Number == backend.MyErrParse && p.modes[i] == lagReplicaStat:
			p.modes[i] = lagSlaveStat
			return p.replicaStatus(ctx, i, b)
		case me.Number == backend.MyErrSpecificAccess || me.Number == backend.MyErrDBAccessDenied || me.Number == backend.MyErrAccessDenied:
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

// How long MASTER_GTID_WAIT may wait for a replica to reach the primary's
// position: the DSN's max lag, at least minGTIDWait, plus gtidWaitMargin,
// and at most half a probe's timeout.
const (
	minGTIDWait    = 500 * time.Millisecond
	gtidWaitMargin = 100 * time.Millisecond
)
