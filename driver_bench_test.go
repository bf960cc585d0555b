package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks run every hot path twice in one process, through aiodb and
// through the backend driver on the same server, so the overhead is the
// ratio of the two sub-benchmarks (benchstat, -count ≥ 6). SQLite runs
// always (in memory, the same memdb VFS for both); PostgreSQL and MariaDB
// when their test variable is set.

type benchPair struct {
	name       string
	aiodb, raw *sql.DB
	// rawInterp is MySQL's raw driver with interpolateParams=true (client-
	// side escaping, one round trip); nil on the other backends.
	rawInterp *sql.DB
	dialect   Dialect
}

func benchPairs(b *testing.B) []benchPair {
	mem := fmt.Sprintf("aiodb-bench-%d", os.Getpid())
	pairs := []benchPair{{name: "sqlite", dialect: SQLite,
		aiodb: mustOpen(b, DriverName, "sqlite:///:memory:"),
		raw:   mustOpen(b, "sqlite", "file:/"+mem+"?vfs=memdb")}}
	for _, env := range []string{envPostgres, envMySQL} {
		dsn := os.Getenv(env)
		if dsn == "" {
			b.Logf("%s not set: benchmarking SQLite only", env)
			continue
		}
		cfg, err := ParseDSN(dsn)
		if err != nil {
			b.Fatal(err)
		}
		raw := map[Dialect]string{PostgreSQL: "pgx", MySQL: "mysql"}[cfg.Dialect]
		p := benchPair{name: cfg.Dialect.String(), dialect: cfg.Dialect,
			aiodb: mustOpen(b, DriverName, dsn), raw: mustOpen(b, raw, cfg.Primary.backend)}
		if cfg.Dialect == MySQL {
			sep := map[bool]string{false: "?", true: "&"}[strings.Contains(cfg.Primary.backend, "?")]
			p.rawInterp = mustOpen(b, "mysql", cfg.Primary.backend+sep+"interpolateParams=true")
		}
		pairs = append(pairs, p)
	}
	return pairs
}

func mustOpen(b *testing.B, driverName, dsn string) *sql.DB {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxIdleConns(4)
	b.Cleanup(func() { db.Close() })
	return db
}

// benchTable makes a 1000-row table through db, and an empty table of the
// same columns without a key, named with the suffix "_ins", for the insert
// benchmarks. Every side of a benchmark gets tables of its own, so that
// one side's writes (dead rows, a grown table) never slow the next.
func benchTable(b *testing.B, d Dialect, db *sql.DB) string {
	name := fmt.Sprintf("aiodb_bench_%d_%d", os.Getpid(), benchTables.Add(1))
	for _, t := range []struct{ name, cols string }{
		{name, "id INT PRIMARY KEY, name VARCHAR(40), score FLOAT"},
		{name + "_ins", "id INT, name VARCHAR(40), score FLOAT"},
	} {
		if _, err := db.Exec(fmt.Sprintf(createTable[d], t.name, t.cols)); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Exec("DROP TABLE " + t.name) })
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := tx.Exec(fmt.Sprintf("INSERT INTO %s VALUES (%d, 'name %d', %d.5)", name, i, i, i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return name
}

var benchTables atomic.Int64

// createTable makes the benchmarks' tables, with the columns given. On the
// servers they keep no redo log (ENGINE=MEMORY, UNLOGGED), so that a
// commit's flush to disk, the same on both sides and many times a round
// trip, does not hide what the drivers cost.
var createTable = map[Dialect]string{
	SQLite:     "CREATE TABLE %s (%s)",
	PostgreSQL: "CREATE UNLOGGED TABLE %s (%s)",
	MySQL:      "CREATE TABLE %s (%s) ENGINE=MEMORY",
}

// nativeArg is the backend's own placeholder, so the raw driver can run the
// same text; aiodb rewrites it to itself (a cache hit).
func nativeArg(d Dialect) string {
	return map[Dialect]string{PostgreSQL: "$1", MySQL: "?", SQLite: "?1"}[d]
}

// side is one way of running a benchmark: through aiodb, through the raw
// driver, or a variant of the raw driver named after it.
type side struct {
	name string
	db   *sql.DB
}

// sides runs body as sub-benchmarks, raw driver then aiodb (then, on MySQL,
// the raw driver with interpolateParams=true, and the extra variants of
// the raw driver), for every backend pair, each on a fresh 1000-row table.
func sides(b *testing.B, body func(b *testing.B, s side, tbl string, d Dialect), extra ...string) {
	for _, p := range benchPairs(b) {
		all := []side{{"raw", p.raw}, {"aiodb", p.aiodb}, {"raw-interp", p.rawInterp}}
		for _, name := range extra {
			all = append(all, side{name, p.raw})
		}
		for _, s := range all {
			if s.db == nil {
				continue
			}
			b.Run("db="+p.name+"/driver="+s.name, func(b *testing.B) {
				tbl := benchTable(b, p.dialect, s.db)
				b.ReportAllocs()
				b.ResetTimer()
				body(b, s, tbl, p.dialect)
			})
		}
	}
}

// compare is sides for a benchmark of one operation: setup returns the
// operation (its argument counts the calls), which the benchmark loop
// times. Besides ns/op it reports fast5%-ns/op, the mean of the fastest 5%
// of the timed calls: on a shared machine the mean takes in every
// interruption (another process, a server's checkpoint), the fastest calls
// show what the code costs.
func compare(b *testing.B, setup opSetup, extra ...string) {
	sides(b, func(b *testing.B, s side, tbl string, d Dialect) {
		timeOps(b, setup(b, s, tbl, d))
	}, extra...)
}

// timeOps is the benchmark loop of compare.
func timeOps(b *testing.B, op func(i int) error) {
	laps := make([]time.Duration, 0, maxLaps)
	every := 1 // time every call, or one in sampleEvery once calls prove short
	for i := 0; b.Loop(); i++ {
		if i%every != 0 {
			if err := op(i); err != nil {
				b.Fatal(err)
			}
			continue
		}
		t0 := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		if len(laps) < cap(laps) {
			laps = append(laps, time.Since(t0))
		}
		if i == sampleAfter && b.Elapsed() < sampleAfter*shortCall {
			every = sampleEvery
		}
	}
	b.ReportMetric(fastMean(laps), "fast5%-ns/op")
}

// Timing every call costs two clock reads (~80 ns here): after sampleAfter
// calls, calls shorter than shortCall on average are timed one in
// sampleEvery, so the clock adds under 1% to ns/op.
const (
	maxLaps     = 1 << 20
	sampleAfter = 1000
	shortCall   = 20 * time.Microsecond
	sampleEvery = 16
)

// fastMean is the mean, in nanoseconds, of the fastest 5% of laps (at
// least one).
func fastMean(laps []time.Duration) float64 {
	if len(laps) == 0 {
		return 0
	}
	slices.Sort(laps)
	fast := laps[:max(1, len(laps)/20)]
	var sum time.Duration
	for _, d := range fast {
		sum += d
	}
	return float64(sum) / float64(len(fast))
}

// opSetup prepares one benchmarked operation on a side, against its table
// tbl; the operation's argument counts the calls.
type opSetup func(b *testing.B, s side, tbl string, d Dialect) func(i int) error

func BenchmarkPointQuery(b *testing.B) { compare(b, pointQuery) }

func pointQuery(b *testing.B, s side, tbl string, d Dialect) func(int) error {
	q := "SELECT name, score FROM " + tbl + " WHERE id = " + nativeArg(d)
	var name string
	var score float64
	return func(i int) error { return s.db.QueryRow(q, i%1000).Scan(&name, &score) }
}

func BenchmarkExec(b *testing.B) { compare(b, update) }

func update(b *testing.B, s side, tbl string, d Dialect) func(int) error {
	q := "UPDATE " + tbl + " SET score = score + 1 WHERE id = " + nativeArg(d)
	return func(i int) error {
		_, err := s.db.Exec(q, i%1000)
		return err
	}
}

func BenchmarkScan1000(b *testing.B) { compare(b, scan1000) }

func scan1000(b *testing.B, s side, tbl string, _ Dialect) func(int) error {
	q := "SELECT id, name, score FROM " + tbl
	ctx := context.Background()
	var id int64
	var name string
	var score float64
	return func(int) error {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			if err := rows.Scan(&id, &name, &score); err != nil {
				return err
			}
			n++
		}
		if n != 1000 {
			return fmt.Errorf("%d rows", n)
		}
		return rows.Err()
	}
}

func BenchmarkInsert(b *testing.B) { compare(b, insert) }

func insert(b *testing.B, s side, tbl string, d Dialect) func(int) error {
	q := "INSERT INTO " + tbl + "_ins (id, name, score) VALUES (" + nativeArg(d) + ", 'inserted', 1.5)"
	return func(i int) error {
		_, err := s.db.Exec(q, i)
		return err
	}
}

// BenchmarkNestedTx is a three-level transaction on one *sql.Conn: BEGIN,
// an INSERT, two nested levels with one INSERT each, all committed. The
// raw side sends the savepoint statements aiodb generates itself through
// one *sql.Tx. The INSERTs take no arguments, so only the transaction
// machinery differs.
//
// Each nested BeginTx makes database/sql create a *sql.Tx, which starts a
// goroutine that waits for its context (to roll it back when the context
// ends) and is woken again by Commit; the raw side pays that only once.
// The third side, raw+txwatch, is the raw side plus that per-level work
// (context.WithCancel, a goroutine waiting on it, its cancellation at the
// release): what database/sql itself adds to any driver's nested levels.
func BenchmarkNestedTx(b *testing.B) { compare(b, nested, "raw+txwatch") }

func nested(b *testing.B, s side, tbl string, d Dialect) func(int) error {
	ctx := context.Background()
	c, err := s.db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ins := "INSERT INTO " + tbl + "_ins (id, name, score) VALUES (1, 'nested', 1.5)"
	how := map[string]nesting{"aiodb": nestBeginTx, "raw+txwatch": nestByHandWatched}[s.name]
	return func(int) error { return nestedTx(ctx, c, ins, how) }
}

// BenchmarkInterleaved runs each operation through the raw driver and
// through aiodb in one loop, alternating which goes first, so that both
// meet the same moments of a noisy machine. It reports the ratio aiodb ÷
// raw of the fastest 5% of calls (ratio-fast5) and of the median call
// (ratio-p50), and each side's fastest 5% in nanoseconds; ns/op is the
// time of one call of each.
func BenchmarkInterleaved(b *testing.B) {
	for _, p := range benchPairs(b) {
		for _, op := range []struct {
			name  string
			setup opSetup
		}{{"point", pointQuery}, {"exec", update}, {"insert", insert}, {"scan1000", scan1000}, {"nested", nested}} {
			b.Run("op="+op.name+"/db="+p.name, func(b *testing.B) {
				var ops [2]func(int) error
				for k, s := range []side{{"raw", p.raw}, {"aiodb", p.aiodb}} {
					ops[k] = op.setup(b, s, benchTable(b, p.dialect, s.db), p.dialect)
				}
				b.ReportAllocs()
				var laps [2][]time.Duration
				for i := 0; b.Loop(); i++ {
					for k := range 2 {
						k = (k + i) % 2
						t0 := time.Now()
						if err := ops[k](i); err != nil {
							b.Fatal(err)
						}
						if len(laps[k]) < maxLaps {
							laps[k] = append(laps[k], time.Since(t0))
						}
					}
				}
				raw, aio := fastMean(laps[0]), fastMean(laps[1]) // fastMean sorts the laps
				b.ReportMetric(raw, "raw-fast5-ns")
				b.ReportMetric(aio, "aiodb-fast5-ns")
				b.ReportMetric(aio/raw, "ratio-fast5")
				b.ReportMetric(float64(laps[1][len(laps[1])/2])/float64(laps[0][len(laps[0])/2]), "ratio-p50")
			})
		}
	}
}

// nesting is how nestedTx opens its inner levels.
type nesting int

const (
	nestByHand        nesting = iota // SAVEPOINT and RELEASE sent through the top *sql.Tx
	nestBeginTx                      // aiodb: BeginTx on the connection
	nestByHandWatched                // by hand, plus database/sql's per-*sql.Tx goroutine
)

// nestedTx runs the three levels.
func nestedTx(ctx context.Context, c *sql.Conn, ins string, how nesting) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, ins); err != nil {
		return err
	}
	if how != nestBeginTx {
		var cancels []context.CancelFunc
		for _, q := range []string{"SAVEPOINT sp_1", ins, "SAVEPOINT sp_2", ins, "RELEASE SAVEPOINT sp_2", "RELEASE SAVEPOINT sp_1"} {
			if how == nestByHandWatched && strings.HasPrefix(q, "RELEASE") {
				cancels[len(cancels)-1]()
				cancels = cancels[:len(cancels)-1]
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
			if how == nestByHandWatched && strings.HasPrefix(q, "SAVEPOINT") {
				lctx, cancel := context.WithCancel(ctx)
				go func() { <-lctx.Done() }()
				cancels = append(cancels, cancel)
			}
		}
		return tx.Commit()
	}
	t1, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := t1.ExecContext(ctx, ins); err != nil {
		return err
	}
	t2, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := t2.ExecContext(ctx, ins); err != nil {
		return err
	}
	if err := t2.Commit(); err != nil {
		return err
	}
	if err := t1.Commit(); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkPointQueryParallel is BenchmarkPointQuery from 16 goroutines
// (8 per core on the 2-core test machine) sharing one pool.
func BenchmarkPointQueryParallel(b *testing.B) {
	sides(b, func(b *testing.B, s side, tbl string, d Dialect) {
		db := s.db
		q := "SELECT name, score FROM " + tbl + " WHERE id = " + nativeArg(d)
		db.SetMaxIdleConns(16)
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			var name string
			var score float64
			for i := 0; pb.Next(); i++ {
				if err := db.QueryRow(q, i%1000).Scan(&name, &score); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRoute is the routing decision for a statement without a replica
// context (the primary session is open): the cost aiodb adds before any
// statement. Goal: ≤ 50 ns, no allocation.
func BenchmarkRoute(b *testing.B) {
	cfg, err := ParseDSN("sqlite:///:memory:")
	if err != nil {
		b.Fatal(err)
	}
	cn, err := NewConnector(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cn.(*connector).Close()
	ctx := context.Background()
	dc, err := cn.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer dc.Close()
	c := dc.(*conn)
	if _, err := c.primaryConn(ctx); err != nil {
		b.Fatal(err)
	}
	q := "SELECT name FROM t WHERE id = $1"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.route(ctx, q, opQuery); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOverhead is a point query on an in-process fake backend that
// answers at once, through aiodb and directly: what aiodb's routing and
// rewriting cost per statement, without a server's noise.
func BenchmarkOverhead(b *testing.B) {
	cfg, err := ParseDSN("postgres://u@fake/db")
	if err != nil {
		b.Fatal(err)
	}
	f := &rtNode{name: "fake"}
	cn, err := newConnectorWith(cfg, func(Node, string) (driver.Connector, error) { return f, nil })
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []side{{"raw", sql.OpenDB(f)}, {"aiodb", sql.OpenDB(cn)}} {
		b.Cleanup(func() { s.db.Close() })
		b.Run("driver="+s.name, func(b *testing.B) {
			b.ReportAllocs()
			var v string
			for i := 0; b.Loop(); i++ {
				if err := s.db.QueryRow("SELECT name FROM t WHERE id = $1", i).Scan(&v); err != nil {
					b.Fatal(err)
				}
				if i%1024 == 0 {
					f.clearLog()
				}
			}
		})
	}
}

// BenchmarkIdleConnMemory reports the heap an idle aiodb connection holds
// (B/conn) after one point query, with the statement cache on (its
// default) and off: 32 connections held open through *sql.Conn.
func BenchmarkIdleConnMemory(b *testing.B) {
	const conns = 32
	for _, p := range benchPairs(b) {
		if p.dialect == PostgreSQL {
			continue // no statement cache
		}
		tbl := benchTable(b, p.dialect, p.raw)
		dsn := map[Dialect]string{SQLite: "sqlite:///:memory:", MySQL: os.Getenv(envMySQL)}[p.dialect]
		for _, cache := range []string{"default", "0"} {
			b.Run("db="+p.name+"/cache="+cache, func(b *testing.B) {
				d := dsn
				if cache != "default" {
					d += map[bool]string{false: "?", true: "&"}[strings.Contains(d, "?")] + "aiodb_stmt_cache=" + cache
				}
				db := mustOpen(b, DriverName, d)
				db.SetMaxIdleConns(conns)
				if p.dialect == SQLite { // a database of its own: make the table the query reads
					if _, err := db.Exec("CREATE TABLE " + tbl + " AS WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 99) SELECT i AS id, 'name' AS name, 0.5 AS score FROM s"); err != nil {
						b.Fatal(err)
					}
				}
				ctx := context.Background()
				q := "SELECT name, score FROM " + tbl + " WHERE id = $1"
				var perConn float64
				for b.Loop() {
					var before, after runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					held := make([]*sql.Conn, conns)
					for i := range held {
						c, err := db.Conn(ctx)
						if err != nil {
							b.Fatal(err)
						}
						var name string
						var score float64
						if err := c.QueryRowContext(ctx, q, i).Scan(&name, &score); err != nil {
							b.Fatal(err)
						}
						held[i] = c
					}
					runtime.GC()
					runtime.ReadMemStats(&after)
					perConn = float64(after.HeapAlloc-before.HeapAlloc) / conns
					for _, c := range held {
						c.Close()
					}
					db.SetMaxIdleConns(0) // close them, so the next round opens new ones
					db.SetMaxIdleConns(conns)
				}
				b.ReportMetric(perConn, "B/conn")
			})
		}
	}
}
