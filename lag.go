package aiodb

import (
	"context"
	"database/sql/driver"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aiodb/aiodb/internal/backend"
)

// Replication lag, measured by the health checker against the primary's
// position (see the "Lag" section of docs/replicas.md for the method per backend).

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
	raw  string            // GTID positions: as MASTER_GTID_WAIT takes it
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

// maxHistory is how many of the primary's recent positions the checker
// keeps to date a replica's replayed position.
const maxHistory = 256

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

// gtidWait waits on b, at most wait, until b's MariaDB server has applied
// the GTID position pos (MASTER_GTID_WAIT), and reports whether it has.
func gtidWait(ctx context.Context, b *bconn, pos string, wait time.Duration) (bool, error) {
	row, err := queryRow(ctx, b, backend.GTIDWait(pos, wait))
	if err != nil || len(row) != 1 {
		return false, err
	}
	f, ok := floatValue(row[0])
	return ok && f == 0, nil
}
