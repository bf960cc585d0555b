package aiodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aiodb/aiodb/internal/sqltext"
	"github.com/aiodb/aiodb/internal/testserver"
)

// Integration tests of replica routing on real streaming replicas
// (scripts/test-env.sh builds them, scripts/test.sh exports the DSNs):
//
//	AIODB_TEST_POSTGRES_REPLICAS   5432 primary, 5433 (15/replica1) and 5434 (15/replica2) hot standbys
//	AIODB_TEST_MYSQL_REPLICAS      3306 primary, 3307 GTID replica (read_only), as root
//	AIODB_TEST_MYSQL_APP[_REPLICAS] the same as user app (root bypasses read_only)
//
// The tests that stop a standby or pause its replay always undo it in
// t.Cleanup and wait until the standby accepts connections in recovery
// again. They do not run in parallel: they change shared servers.
const (
	envPGReplicas    = "AIODB_TEST_POSTGRES_REPLICAS"
	envMyReplicas    = "AIODB_TEST_MYSQL_REPLICAS"
	envMyApp         = "AIODB_TEST_MYSQL_APP"
	envMyAppReplicas = "AIODB_TEST_MYSQL_APP_REPLICAS"
)

// withOptions adds aiodb options to the first (primary) URL of dsn.
func withOptions(dsn, opts string) string {
	urls := strings.Fields(dsn)
	sep := "?"
	if strings.Contains(urls[0], "?") {
		sep = "&"
	}
	urls[0] += sep + opts
	return strings.Join(urls, " ")
}

// openRouted opens an aiodb *sql.DB and closes it when the test ends.
func openRouted(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// nodeStats returns Stats(db), failing the test on error.
func nodeStats(t *testing.T, db *sql.DB) []NodeStats {
	t.Helper()
	st, err := Stats(db)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// rtPoll calls cond every 100ms until it holds, failing after d.
func rtPoll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var roCtx = WithReplica(context.Background())

// ---------------------------------------------------------------- PostgreSQL standbys

// pgPort runs a query that returns (in recovery, port) with ctx.
func pgWhere(ctx context.Context, db *sql.DB) (recovery bool, port int, err error) {
	err = db.QueryRowContext(ctx, "SELECT pg_is_in_recovery(), inet_server_port()").Scan(&recovery, &port)
	return
}

// pgStandby is one of the standbys of scripts/test-env.sh.
type pgStandby struct {
	cluster string
	port    int
}

var pgStandbys = []pgStandby{{"replica1", 5433}, {"replica2", 5434}}

// pgCtl runs pg_ctlcluster ACTION on a standby (as root: the test
// environment's servers belong to root's scripts/test-env.sh).
func pgCtl(t *testing.T, action string, s pgStandby) error {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "pg_ctlcluster")
	if err != nil {
		return err
	}
	defer out.Close()
	// Output goes to a file, not a pipe: the postmaster pg_ctl starts must
	// not hold our pipe open. No systemd here: call pg_ctl directly.
	cmd := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", "15", s.cluster, action)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		return fmt.Errorf("pg_ctlcluster 15 %s %s: %v: %s", s.cluster, action, err, msg)
	}
	return nil
}

// needPgCtl skips (fails in CI) a test that stops standbys when this process
// cannot: pg_ctlcluster missing, or not root.
func needPgCtl(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("pg_ctlcluster")
	switch {
	case err != nil && os.Getenv("CI") != "":
		t.Fatalf("pg_ctlcluster not found: %v", err)
	case err != nil:
		t.Skipf("pg_ctlcluster not found (%v): cannot stop a standby", err)
	case os.Geteuid() != 0 && os.Getenv("CI") != "":
		t.Fatal("stopping standbys needs root")
	case os.Geteuid() != 0:
		t.Skip("stopping standbys needs root (pg_ctlcluster)")
	}
}

// lockStandbys takes the standbys' lock (testserver.Standbys), exclusive
// for a test that stops standbys or pauses their replay, shared for one that
// needs both streaming, for the rest of the test; registered first, it is
// released after every other cleanup (the restarts). Then it waits until
// both standbys answer in recovery.
func lockStandbys(t *testing.T, exclusive bool) {
	t.Helper()
	testserver.Lock(t, testserver.Standbys, exclusive)
	for _, s := range pgStandbys {
		if exclusive { // may stop standbys: can start one an aborted run left down
			startStandby(t, s)
		} else {
			waitStandby(t, s, time.Minute)
		}
	}
}

// waitStandby waits until s answers pg_is_in_recovery() = true.
func waitStandby(t *testing.T, s pgStandby, d time.Duration) {
	t.Helper()
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable&connect_timeout=2", s.port))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(d)
	for {
		var rec bool
		err := db.QueryRow("SELECT pg_is_in_recovery()").Scan(&rec)
		if err == nil && rec {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby %s (:%d) not streaming in recovery after %v: %v %v", s.cluster, s.port, d, rec, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitReadsOn waits, up to a minute, until reads in a replica context on
// db run on standby s again (after its restart, once re-admitted).
func waitReadsOn(t *testing.T, db *sql.DB, s pgStandby) {
	t.Helper()
	rtPoll(t, time.Minute, s.cluster+" used again after its restart", func() bool {
		for range 4 {
			if _, port, err := pgWhere(roCtx, db); err != nil {
				t.Fatalf("read after restart: %v", err)
			} else if port == s.port {
				return true
			}
		}
		return false
	})
}

// pauseReplay pauses WAL replay on standby s until the test ends, and
// returns a direct connection to it.
func pauseReplay(t *testing.T, s pgStandby) *sql.DB {
	t.Helper()
	r := pgDirect(t, s.port)
	t.Cleanup(func() {
		if _, err := r.Exec("SELECT pg_wal_replay_resume()"); err != nil {
			t.Errorf("resume replay on %s: %v", s.cluster, err)
		}
	})
	if _, err := r.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	return r
}

// pgDirect opens the backend driver on one server, for fixture work.
func pgDirect(t *testing.T, port int) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable&connect_timeout=3", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// stopStandbys stops the standbys and registers their restart (all at
// once), which waits until each accepts connections in recovery again.
func stopStandbys(t *testing.T, ss ...pgStandby) {
	t.Helper()
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				startStandby(t, s)
			}()
		}
		wg.Wait()
	})
	for _, s := range ss {
		if err := pgCtl(t, "stop", s); err != nil {
			t.Fatal(err)
		}
	}
}

// startStandby starts s if it is down and waits, up to a minute, until it
// answers pg_is_in_recovery() = true.
func startStandby(t *testing.T, s pgStandby) { startCluster(t, s, true) }

// startCluster starts the PostgreSQL cluster s unless it answers already,
// and waits, up to a minute, until it answers pg_is_in_recovery() =
// recovery.
func startCluster(t *testing.T, s pgStandby, recovery bool) {
	t.Helper()
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable&connect_timeout=2", s.port))
	if err != nil {
		t.Error(err)
		return
	}
	defer db.Close()
	var rec bool
	if err := db.QueryRow("SELECT pg_is_in_recovery()").Scan(&rec); err == nil && rec == recovery {
		return
	}
	if err := pgCtl(t, "start", s); err != nil && !strings.Contains(err.Error(), "already running") {
		t.Errorf("restart %s: %v", s.cluster, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := db.QueryRow("SELECT pg_is_in_recovery()").Scan(&rec)
		if err == nil && rec == recovery {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s (:%d) not back (in recovery: %v) after a minute: %v %v", s.cluster, s.port, recovery, rec, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReplicaPostgresReads: reads in a replica context run on the standbys
// (pg_is_in_recovery() true), alternating between them; the primary stays
// the default; Stats counts each node.
func TestReplicaPostgresReads(t *testing.T) {
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, false)
	db := openRouted(t, dsn)
	ports := map[int]int{}
	for range 20 {
		rec, port, err := pgWhere(roCtx, db)
		if err != nil {
			t.Fatal(err)
		}
		if !rec {
			t.Errorf("replica read on :%d not in recovery", port)
		}
		ports[port]++
	}
	if st := nodeStats(t, db); st[1].Failures+st[2].Failures == 0 {
		if ports[5433] != 10 || ports[5434] != 10 {
			t.Errorf("round robin over the standbys: %v, want 10 each", ports)
		}
	} else if ports[5433] == 0 || ports[5434] == 0 { // a standby failed meanwhile (a loaded machine, another process)
		t.Errorf("reads not spread over the standbys: %v (stats %+v)", ports, st)
	}
	for _, ctx := range []context.Context{context.Background(), WithPrimary(roCtx)} {
		if rec, port, err := pgWhere(ctx, db); err != nil || rec || port != 5432 {
			t.Errorf("primary read: recovery %v port %d err %v", rec, port, err)
		}
	}
	var ro string
	if err := db.QueryRowContext(roCtx, "SHOW transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		t.Errorf("replica session transaction_read_only = %q, %v", ro, err)
	}
	st := nodeStats(t, db)
	if len(st) != 3 || st[1].Served < 10 || st[2].Served < 10 || st[0].Served < 2 {
		t.Errorf("Stats served: %+v", st)
	}
	for _, s := range st {
		if !s.Healthy || s.Down || strings.Contains(s.URL, "password") {
			t.Errorf("Stats %+v", s)
		}
	}
	// A statement prepared in a replica context runs there; its Exec is refused.
	stmt, err := db.PrepareContext(roCtx, "SELECT pg_is_in_recovery() WHERE $1::int = 1")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	var rec bool
	if err := stmt.QueryRowContext(roCtx, 1).Scan(&rec); err != nil || !rec {
		t.Errorf("prepared replica read: %v %v", rec, err)
	}
	if _, err := stmt.ExecContext(roCtx, 1); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Exec of a replica statement: %v", err)
	}
}

// TestReplicaPostgresSeesPrimaryWrites: a row inserted on the primary
// becomes visible through the replica path.
func TestReplicaPostgresSeesPrimaryWrites(t *testing.T) {
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, false)
	db := openRouted(t, dsn)
	tbl := pgTable(t, db)
	want := time.Now().UnixNano()
	if _, err := db.Exec("INSERT INTO "+tbl+" (v) VALUES ($1)", want); err != nil {
		t.Fatal(err)
	}
	for _, port := range []int{5433, 5434} { // both standbys, whichever the next read picks
		rtPoll(t, 30*time.Second, fmt.Sprintf("row visible on :%d", port), func() bool {
			for range 2 {
				var n, at int
				err := db.QueryRowContext(roCtx, "SELECT count(*), inet_server_port() FROM "+tbl+" WHERE v = $1", want).Scan(&n, &at)
				if err == nil && at == port && n == 1 {
					return true
				}
			}
			return false
		})
	}
}

var pgTableSeq atomic.Int64

// pgTable creates a scratch table on the primary (through db, primary
// context) and drops it when the test ends.
func pgTable(t *testing.T, db *sql.DB) string {
	t.Helper()
	name := fmt.Sprintf("aiodb_rt%d_%d", os.Getpid(), pgTableSeq.Add(1))
	if _, err := db.Exec("CREATE TABLE " + name + " (id serial PRIMARY KEY, v bigint)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + name) })
	return name
}

func rtCount(t *testing.T, db *sql.DB, tbl string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + tbl).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReplicaPostgresRefusesWrites: Exec and INSERT … RETURNING in a replica
// context fail with ErrReadOnly and nothing reaches the database (the
// primary's row count, which the standbys replay, is unchanged). A write
// the classifier cannot see (a VOLATILE function called by SELECT) is
// refused by the standby (SQLSTATE 25006), also as ErrReadOnly.
func TestReplicaPostgresRefusesWrites(t *testing.T) {
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, false)
	db := openRouted(t, dsn)
	tbl := pgTable(t, db)
	fn := tbl + "_f"
	if _, err := db.Exec("CREATE FUNCTION " + fn + "() RETURNS bigint VOLATILE LANGUAGE sql AS $$ INSERT INTO " + tbl + " (v) VALUES (42) RETURNING v $$"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP FUNCTION IF EXISTS " + fn + "()") })
	if _, err := db.Exec("INSERT INTO " + tbl + " (v) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	rtPoll(t, 30*time.Second, "function and row on both standbys", func() bool {
		ok := 0
		for range 2 {
			var n int
			if db.QueryRowContext(roCtx, "SELECT count(*) FROM "+tbl+" WHERE to_regproc($1) IS NOT NULL", fn).Scan(&n) == nil && n == 1 {
				ok++
			}
		}
		return ok == 2
	})
	before := rtCount(t, db, tbl)

	if _, err := db.ExecContext(roCtx, "INSERT INTO "+tbl+" (v) VALUES (2)"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Exec INSERT: %v, want ErrReadOnly", err)
	}
	if _, err := db.QueryContext(roCtx, "INSERT INTO "+tbl+" (v) VALUES (3) RETURNING id"); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "INSERT … RETURNING") {
		t.Errorf("Query INSERT … RETURNING: %v, want ErrReadOnly naming the kind", err)
	}
	if _, err := db.QueryContext(roCtx, "WITH d AS (DELETE FROM "+tbl+" RETURNING id) SELECT count(*) FROM d"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("data-modifying CTE: %v, want ErrReadOnly", err)
	}
	// The classifier believes SELECT f() is a read; the standby refuses it.
	for range 2 { // each standby
		var v int64
		err := db.QueryRowContext(roCtx, "SELECT "+fn+"()").Scan(&v)
		if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "25006") {
			t.Errorf("SELECT %s() on a standby: %v, want ErrReadOnly (25006)", fn, err)
		}
	}
	if n := rtCount(t, db, tbl); n != before {
		t.Errorf("rows on the primary: %d, want %d: a refused write arrived", n, before)
	}
	// A "primary" that is in fact a standby (a demoted primary) refuses the
	// write server-side: aiodb routed nothing, so the server's error is
	// returned as the raw driver returns it.
	demoted := openRouted(t, strings.Fields(testserver.DSN(t, envPGReplicas))[1])
	_, err := demoted.Exec("INSERT INTO " + tbl + " (v) VALUES (5)")
	if pe, ok := err.(*pgconn.PgError); !ok || pe.Code != "25006" {
		t.Errorf("write on a standby as primary: %v, want the server's 25006", err)
	}
}

// TestReplicaPostgresLayerTwo proves the server-side read-only session alone
// stops a write the classifier misses: the "replica" here is the primary
// itself (no hot-standby refusal), and SELECT f() with a VOLATILE f that
// inserts is refused by the session's default_transaction_read_only (25006).
// The same holds for a replica context without replicas (the primary's
// read-only session).
func TestReplicaPostgresLayerTwo(t *testing.T) {
	primary := strings.Fields(testserver.DSN(t, envPGReplicas))[0]
	for _, dsn := range []string{primary + " " + primary, primary} {
		db := openRouted(t, dsn)
		tbl := pgTable(t, db)
		fn := tbl + "_f"
		if _, err := db.Exec("CREATE FUNCTION " + fn + "() RETURNS bigint VOLATILE LANGUAGE sql AS $$ INSERT INTO " + tbl + " (v) VALUES (42) RETURNING v $$"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Exec("DROP FUNCTION IF EXISTS " + fn + "()") })
		if info := sqltext.Classify("SELECT "+fn+"()", sqltext.Syntax{Dialect: PostgreSQL}); !info.Read {
			t.Fatalf("the test needs a statement the classifier deems a read: %+v", info)
		}
		var rec bool
		var port int
		if err := db.QueryRowContext(roCtx, "SELECT pg_is_in_recovery(), inet_server_port()").Scan(&rec, &port); err != nil || rec || port != 5432 {
			t.Fatalf("the replica path must reach the primary itself: %v %d %v", rec, port, err)
		}
		var v int64
		err := db.QueryRowContext(roCtx, "SELECT "+fn+"()").Scan(&v)
		if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "25006") {
			t.Errorf("%s: misclassified write: %v, want ErrReadOnly (25006)", dsn, err)
		}
		if n := rtCount(t, db, tbl); n != 0 {
			t.Errorf("%s: the write landed: %d rows", dsn, n)
		}
		// The same function on the primary, outside a replica context, writes.
		if err := db.QueryRow("SELECT " + fn + "()").Scan(&v); err != nil || rtCount(t, db, tbl) != 1 {
			t.Errorf("control write on the primary: %v", err)
		}
	}
}

// TestReplicaPostgresBeginTx: a read-only transaction in a replica context
// runs on a standby; a read-write one is refused; a transaction begun on
// the primary keeps every statement there.
func TestReplicaPostgresBeginTx(t *testing.T) {
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, false)
	db := openRouted(t, dsn)
	tbl := pgTable(t, db)
	tx, err := db.BeginTx(roCtx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []context.Context{roCtx, context.Background(), WithPrimary(roCtx)} {
		var rec bool
		if err := tx.QueryRowContext(ctx, "SELECT pg_is_in_recovery()").Scan(&rec); err != nil || !rec {
			t.Errorf("read-only replica tx: recovery %v %v", rec, err)
		}
	}
	if _, err := tx.ExecContext(context.Background(), "INSERT INTO "+tbl+" (v) VALUES (1)"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write in a read-only replica tx: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BeginTx(roCtx, nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-write BeginTx in a replica context: %v, want ErrReadOnly", err)
	}

	tx, err = db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("INSERT INTO " + tbl + " (v) VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	var n int
	var rec bool
	// Sees its own uncommitted row: same session, on the primary.
	if err := tx.QueryRowContext(roCtx, "SELECT count(*), pg_is_in_recovery() FROM "+tbl).Scan(&n, &rec); err != nil || n != 1 || rec {
		t.Errorf("replica ctx in a primary tx: count %d recovery %v %v", n, rec, err)
	}
	if _, err := tx.ExecContext(roCtx, "INSERT INTO "+tbl+" (v) VALUES (8)"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write with a replica ctx in a primary tx: %v, want ErrReadOnly", err)
	}
}

// TestReplicaPostgresStopOne stops a standby under load: no read fails.
// Restarted, it is used again once the checker re-admits it.
func TestReplicaPostgresStopOne(t *testing.T) {
	needPgCtl(t)
	testserver.DSN(t, envPGReplicas)
	lockStandbys(t, true)
	db := openRouted(t, withOptions(testserver.DSN(t, envPGReplicas), "aiodb_health_interval=200ms"))
	db.SetMaxOpenConns(6)
	for range 12 { // sessions on both standbys
		if _, _, err := pgWhere(roCtx, db); err != nil {
			t.Fatal(err)
		}
	}

	var reads, fails atomic.Int64
	var firstErr atomic.Value
	var perPort sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	end := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	t.Cleanup(end) // before db.Close: the readers stop also when the test fails half way
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(roCtx, 20*time.Second)
				rec, port, err := pgWhere(ctx, db)
				cancel()
				reads.Add(1)
				if err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("port %d recovery %v: %v", port, rec, err))
					continue
				}
				v, _ := perPort.LoadOrStore(port, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	stopStandbys(t, pgStandbys[0])
	time.Sleep(1500 * time.Millisecond) // load continues on replica2
	end()
	if fails.Load() != 0 {
		t.Fatalf("%d of %d reads failed while replica1 stopped; first: %v", fails.Load(), reads.Load(), firstErr.Load())
	}
	st := nodeStats(t, db)
	if !st[1].Down || st[1].Healthy || st[1].Failures == 0 || st[1].LastErr == "" {
		t.Errorf("replica1 stats while stopped: %+v", st[1])
	}
	var onPrimary int64
	if v, ok := perPort.Load(5432); ok {
		onPrimary = v.(*atomic.Int64).Load() // replica2 failed too (another process?): the primary's read-only session served
	}
	t.Logf("%d reads, none failed, %d on the primary's read-only session; replica1: %+v", reads.Load(), onPrimary, st[1])

	startStandby(t, pgStandbys[0])
	waitReadsOn(t, db, pgStandbys[0])
	if st := nodeStats(t, db); st[1].Down || !st[1].Healthy {
		t.Errorf("replica1 after re-admission: %+v", st[1])
	}
}

// TestReplicaPostgresStopBoth: with every standby stopped, reads fall back
// to a read-only session on the primary (writes still refused), or fail
// with ErrNoReplica under aiodb_fallback=none.
func TestReplicaPostgresStopBoth(t *testing.T) {
	needPgCtl(t)
	testserver.DSN(t, envPGReplicas)
	lockStandbys(t, true)
	dsn := withOptions(testserver.DSN(t, envPGReplicas), "aiodb_health_interval=200ms")
	db := openRouted(t, dsn)
	none := openRouted(t, withOptions(dsn, "aiodb_fallback=none"))
	tbl := pgTable(t, db)
	for _, d := range []*sql.DB{db, none} {
		if _, _, err := pgWhere(roCtx, d); err != nil {
			t.Fatal(err)
		}
	}
	stopStandbys(t, pgStandbys...)

	for range 5 {
		rec, port, err := pgWhere(roCtx, db)
		if err != nil || rec || port != 5432 {
			t.Fatalf("fallback read: recovery %v port %d err %v", rec, port, err)
		}
	}
	var ro string
	if err := db.QueryRowContext(roCtx, "SHOW transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		t.Errorf("fallback session read-only = %q %v", ro, err)
	}
	if _, err := db.ExecContext(roCtx, "INSERT INTO "+tbl+" (v) VALUES (1)"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write while falling back: %v", err)
	}
	if n := rtCount(t, db, tbl); n != 0 {
		t.Errorf("write landed on the primary: %d rows", n)
	}
	st := nodeStats(t, db)
	if !st[1].Down || !st[2].Down || st[0].Served == 0 {
		t.Errorf("stats with both standbys stopped: %+v", st)
	}

	for range 3 {
		if _, _, err := pgWhere(roCtx, none); !errors.Is(err, ErrNoReplica) {
			t.Fatalf("fallback=none, both stopped: %v, want ErrNoReplica", err)
		}
	}
}

// TestReplicaPostgresMaxLag pauses replay on replica1 while the primary
// writes: with aiodb_max_lag=1s it is skipped once its measured lag passes
// 1s, and used again after pg_wal_replay_resume().
func TestReplicaPostgresMaxLag(t *testing.T) {
	testserver.DSN(t, envPGReplicas)
	lockStandbys(t, true)
	db := openRouted(t, withOptions(testserver.DSN(t, envPGReplicas), "aiodb_max_lag=1s&aiodb_health_interval=200ms"))
	tbl := pgTable(t, db)
	pgWhere(roCtx, db) // starts the checker
	rtPoll(t, 30*time.Second, "both standbys measured within the lag limit", func() bool {
		st := nodeStats(t, db)
		return st[1].Healthy && st[2].Healthy && st[1].LagKnown && st[2].LagKnown
	})

	r1 := pauseReplay(t, pgStandbys[0])
	writes, done := make(chan error, 1), make(chan struct{})
	go func() { // the primary keeps writing
		defer close(writes)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := db.Exec("INSERT INTO "+tbl+" (v) VALUES ($1)", i); err != nil {
				writes <- err
				return
			}
		}
	}()
	defer func() {
		close(done)
		if err := <-writes; err != nil {
			t.Errorf("primary writes: %v", err)
		}
	}()

	rtPoll(t, 30*time.Second, "replica1 skipped for lag", func() bool {
		st := nodeStats(t, db)
		return !st[1].Healthy && !st[1].Down && st[1].Lag > time.Second
	})
	st := nodeStats(t, db)
	t.Logf("replica1 while paused: lag %v (known %v); replica2: lag %v", st[1].Lag, st[1].LagKnown, st[2].Lag)
	if !st[2].Healthy {
		t.Errorf("replica2 must stay within the limit: %+v", st[2])
	}
	for range 10 {
		if _, port, err := pgWhere(roCtx, db); err != nil || port != 5434 {
			t.Fatalf("read while replica1 lags: port %d %v", port, err)
		}
	}

	if _, err := r1.Exec("SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	rtPoll(t, 30*time.Second, "replica1 re-admitted after resume", func() bool {
		for range 4 {
			if _, port, err := pgWhere(roCtx, db); err == nil && port == 5433 {
				return true
			}
		}
		return false
	})
}

// ---------------------------------------------------------------- MariaDB

// TestReplicaMySQL: reads in a replica context run on the read_only
// replica and see the primary's writes; writes are refused.
func TestReplicaMySQL(t *testing.T) {
	db := openRouted(t, testserver.DSN(t, envMyReplicas))
	var ro, port int
	if err := db.QueryRowContext(roCtx, "SELECT @@read_only, @@port").Scan(&ro, &port); err != nil || ro != 1 || port != 3307 {
		t.Errorf("replica read: read_only %d port %d %v", ro, port, err)
	}
	if err := db.QueryRow("SELECT @@read_only, @@port").Scan(&ro, &port); err != nil || port != 3306 {
		t.Errorf("primary read: port %d %v", port, err)
	}
	var txRO int
	if err := db.QueryRowContext(roCtx, "SELECT @@session.tx_read_only").Scan(&txRO); err != nil || txRO != 1 {
		t.Errorf("replica session tx_read_only = %d %v", txRO, err)
	}
	tbl := fmt.Sprintf("aiodb_rt%d_%d", os.Getpid(), pgTableSeq.Add(1))
	if _, err := db.Exec("CREATE TABLE " + tbl + " (id int AUTO_INCREMENT PRIMARY KEY, v bigint)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + tbl) })
	want := time.Now().UnixNano()
	if _, err := db.Exec("INSERT INTO "+tbl+" (v) VALUES (?)", want); err != nil {
		t.Fatal(err)
	}
	rtPoll(t, 30*time.Second, "row visible on the replica", func() bool {
		var n int
		return db.QueryRowContext(roCtx, "SELECT count(*) FROM "+tbl+" WHERE v = ?", want).Scan(&n) == nil && n == 1
	})
	if _, err := db.ExecContext(roCtx, "INSERT INTO "+tbl+" (v) VALUES (1)"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Exec in a replica context: %v", err)
	}
	if n := rtCount(t, db, tbl); n != 1 {
		t.Errorf("rows: %d, want 1", n)
	}
	if st := nodeStats(t, db); !st[1].Healthy || st[1].Served == 0 {
		t.Errorf("replica stats: %+v", st[1])
	}
}

// TestReplicaMySQLApp: as an ordinary user (no SLAVE MONITOR privilege) the
// checker still measures the replica's lag (GTID positions) and keeps it
// usable under aiodb_max_lag; the read_only replica as a primary refuses a
// write server-side (1290), reported as ErrReadOnly.
func TestReplicaMySQLApp(t *testing.T) {
	dsn := testserver.DSN(t, envMyAppReplicas)
	db := openRouted(t, withOptions(dsn, "aiodb_max_lag=5s&aiodb_health_interval=200ms"))
	var port int
	if err := db.QueryRowContext(roCtx, "SELECT @@port").Scan(&port); err != nil {
		t.Fatal(err)
	}
	rtPoll(t, 20*time.Second, "replica lag measured as app", func() bool {
		st := nodeStats(t, db)
		return st[1].LagKnown && st[1].Healthy
	})
	for range 3 {
		if err := db.QueryRowContext(roCtx, "SELECT @@port").Scan(&port); err != nil || port != 3307 {
			t.Errorf("replica read as app: port %d %v", port, err)
		}
	}

	tbl := fmt.Sprintf("aiodb_rt%d_%d", os.Getpid(), pgTableSeq.Add(1))
	if _, err := db.Exec("CREATE TABLE " + tbl + " (v int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + tbl) })
	demoted := openRouted(t, strings.Fields(dsn)[1])
	rtPoll(t, 30*time.Second, "table on the replica", func() bool {
		_, err := demoted.Exec("INSERT INTO " + tbl + " (v) VALUES (1)")
		if err != nil && strings.Contains(err.Error(), "doesn't exist") {
			return false
		}
		if me, ok := err.(*mysql.MySQLError); !ok || me.Number != 1290 {
			t.Fatalf("write on the read_only replica as primary: %v, want the server's 1290", err)
		}
		return true
	})
}

// TestReplicaMySQLLayerTwo: a MariaDB "replica" with read_only OFF (the
// primary itself, as app) still refuses a write the classifier cannot see
// (SELECT f(), f inserting): SET SESSION TRANSACTION READ ONLY alone stops
// it (1792), reported as ErrReadOnly.
func TestReplicaMySQLLayerTwo(t *testing.T) {
	app := testserver.DSN(t, envMyApp)
	root := openRouted(t, testserver.DSN(t, envMySQL))
	tbl := fmt.Sprintf("aiodb_rt%d_%d", os.Getpid(), pgTableSeq.Add(1))
	fn := tbl + "_f"
	// Created by root: with binary logging on, creating a function needs SUPER.
	for _, q := range []string{
		"CREATE TABLE " + tbl + " (v int)",
		"CREATE FUNCTION " + fn + "() RETURNS int DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO " + tbl + " (v) VALUES (42); RETURN 42; END",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		root.Exec("DROP FUNCTION IF EXISTS " + fn)
		root.Exec("DROP TABLE IF EXISTS " + tbl)
	})
	if info := sqltext.Classify("SELECT "+fn+"()", sqltext.Syntax{Dialect: MySQL}); !info.Read {
		t.Fatalf("the test needs a statement the classifier deems a read: %+v", info)
	}
	db := openRouted(t, app+" "+app)
	var ro, port int
	if err := db.QueryRowContext(roCtx, "SELECT @@read_only, @@port").Scan(&ro, &port); err != nil || ro != 0 || port != 3306 {
		t.Fatalf("the replica path must reach a server with read_only off: %d %d %v", ro, port, err)
	}
	var v int
	err := db.QueryRowContext(roCtx, "SELECT "+fn+"()").Scan(&v)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "1792") {
		t.Errorf("misclassified write on a read_only=OFF replica: %v, want ErrReadOnly (1792)", err)
	}
	if n := rtCount(t, root, tbl); n != 0 {
		t.Errorf("the write landed: %d rows", n)
	}
	if err := db.QueryRow("SELECT " + fn + "()").Scan(&v); err != nil || rtCount(t, root, tbl) != 1 {
		t.Errorf("control write on the primary: %v", err)
	}
}

// TestReplicaMySQLMaxLag stops the replica's SQL thread while the primary
// writes: with aiodb_max_lag=1s the replica is skipped (reads fall back to
// the primary's read-only session) once its GTID position falls behind for
// more than 1s, measured as the app user (no SLAVE MONITOR privilege), and
// used again after START SLAVE SQL_THREAD.
func TestReplicaMySQLMaxLag(t *testing.T) {
	dsn := testserver.DSN(t, envMyAppReplicas)
	rootDSN := testserver.DSN(t, envMyReplicas)
	testserver.Lock(t, testserver.MySQLReplica, true)
	replica := openRouted(t, strings.Fields(rootDSN)[1]) // root on 3307
	t.Cleanup(func() {
		if _, err := replica.Exec("START SLAVE SQL_THREAD"); err != nil {
			t.Errorf("restart the replica's SQL thread: %v", err)
		}
	})
	db := openRouted(t, withOptions(dsn, "aiodb_max_lag=1s&aiodb_health_interval=200ms"))
	tbl := fmt.Sprintf("aiodb_rt%d_%d", os.Getpid(), pgTableSeq.Add(1))
	if _, err := db.Exec("CREATE TABLE " + tbl + " (v int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + tbl) })
	port := func() int {
		var p int
		if err := db.QueryRowContext(roCtx, "SELECT @@port").Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rtPoll(t, 20*time.Second, "replica measured within the limit", func() bool {
		return nodeStats(t, db)[1].Healthy && port() == 3307
	})
	if _, err := replica.Exec("STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	done, writes := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(writes)
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := db.Exec("INSERT INTO " + tbl + " (v) VALUES (1)"); err != nil {
				writes <- err
				return
			}
		}
	}()
	defer func() {
		close(done)
		if err := <-writes; err != nil {
			t.Errorf("primary writes: %v", err)
		}
	}()
	rtPoll(t, 20*time.Second, "replica skipped for lag", func() bool {
		st := nodeStats(t, db)[1]
		return !st.Healthy && !st.Down && st.LagKnown && st.Lag > time.Second
	})
	t.Logf("replica while stopped: %+v", nodeStats(t, db)[1])
	for range 3 {
		if p := port(); p != 3306 {
			t.Errorf("read while the replica lags ran on :%d, want the primary's read-only session", p)
		}
	}
	if _, err := db.ExecContext(roCtx, "INSERT INTO "+tbl+" (v) VALUES (2)"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write while falling back: %v", err)
	}
	if _, err := replica.Exec("START SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	rtPoll(t, 30*time.Second, "replica re-admitted", func() bool { return port() == 3307 })
}

// ---------------------------------------------------------------- SQLite

// TestReplicaSQLiteLayerTwo: a SQLite "replica" is the same file opened
// again: reads in a replica context see the primary's rows, and a write the
// classifier never saw (sent straight to the replica session) is refused by
// PRAGMA query_only alone (SQLITE_READONLY → ErrReadOnly). A replica opened
// with mode=ro works the same.
func TestReplicaSQLiteLayerTwo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replica.db")
	for _, dsn := range []string{
		"sqlite:///" + path + " sqlite:///" + path,
		"sqlite:///" + path + " sqlite:///file:" + path + "?mode=ro",
	} {
		db := openRouted(t, dsn)
		if _, err := db.Exec("CREATE TABLE IF NOT EXISTS t (v int)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(roCtx, "SELECT count(*) FROM t").Scan(&n); err != nil || n == 0 {
			t.Fatalf("%s: replica read: %d %v", dsn, n, err)
		}
		if _, err := db.ExecContext(roCtx, "INSERT INTO t VALUES (2)"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: Exec: %v", dsn, err)
		}
		before := rtCount(t, db, "t")
		sc, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		err = sc.Raw(func(dc any) error {
			c := dc.(*conn)
			b, err := c.replica(roCtx, nil, false)
			if err != nil {
				return err
			}
			if b == c.primary || b.node.primary {
				return fmt.Errorf("not a replica session")
			}
			_, err = b.exec(context.Background(), "INSERT INTO t VALUES (3)", nil)
			return c.connector.router.recordOutcome(b, err)
		})
		sc.Close()
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: write on the replica session: %v, want ErrReadOnly", dsn, err)
		}
		if n := rtCount(t, db, "t"); n != before {
			t.Errorf("%s: the write landed: %d rows, want %d", dsn, n, before)
		}
	}
}
