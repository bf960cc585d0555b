package aiodb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiodb/aiodb/internal/testserver"
)

// Failover on the real servers: a standby promoted while the primary is
// down takes the writes, the old primary that comes back fenced takes
// none; on MariaDB the replica made writable and the primary made
// read-only swap roles. These tests change the topology of the shared
// servers: they hold the primary lock with the standby or replica lock, and
// put the fixture back in t.Cleanup, also when they fail half way, by
// running scripts/test-env.sh, which repairs a half-failed-over fixture (a
// promoted standby, a fenced primary, stopped replication).

// repairFixture runs scripts/test-env.sh (no apt) to rebuild what a
// failover test changed. Without root the script repairs nothing (it says
// it needs root and exits 0): that is an error too, the fixture stays
// broken for the tests that follow.
func repairFixture(t *testing.T) {
	t.Helper()
	cmd := exec.Command("bash", "scripts/test-env.sh")
	cmd.Env = append(os.Environ(), "SKIP_APT=1")
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	switch {
	case err != nil:
		t.Errorf("scripts/test-env.sh could not repair the fixture: %v\n%s", err, out)
	case strings.Contains(text, "needs root"):
		t.Errorf("scripts/test-env.sh skipped the repair, the fixture stays as the test left it: %s", text)
	default:
		t.Logf("fixture repaired: %s", text[strings.LastIndex(text, "\n")+1:])
	}
}

// writeLoad writes through db until stopped, recording the failures and
// when writes succeeded.
type writeLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	okAt       []time.Time // when each success returned, in order
	firstErr   firstError
	errs       sync.Map // error text (first 80 bytes) → count
	stop       chan struct{}
	stopOnce   sync.Once
	done       chan struct{}
}

// startWrites starts the load; it is stopped by end, or when the test ends
// (a t.Cleanup registered after the one that closes db, so it runs first),
// also if the test fails before end.
func startWrites(t *testing.T, db *DB, insert string) *writeLoad {
	w := &writeLoad{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(w.end)
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := db.Execute(ctx, insert, i)
			cancel()
			if err != nil {
				w.failed.Add(1)
				w.firstErr.set(err)
				msg := err.Error()
				v, _ := w.errs.LoadOrStore(msg[:min(len(msg), 80)], new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				continue
			}
			w.ok.Add(1)
			w.mu.Lock()
			w.okAt = append(w.okAt, time.Now())
			w.mu.Unlock()
		}
	}()
	return w
}

// end stops the load and waits until its goroutine has returned; it may
// be called more than once.
func (w *writeLoad) end() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// summary lists the distinct errors seen.
func (w *writeLoad) summary() string {
	var b strings.Builder
	w.errs.Range(func(k, v any) bool {
		fmt.Fprintf(&b, "\n  %d× %s", v.(*atomic.Int64).Load(), k)
		return true
	})
	return b.String()
}

// firstOKAfter returns when the first write that returned after since
// succeeded, and whether there is one.
func (w *writeLoad) firstOKAfter(since time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.okAt {
		if at.After(since) {
			return at, true
		}
	}
	return time.Time{}, false
}

// waitWrite polls, failing after limit, until a write after since
// succeeded, and returns how long after since the first one did (not when
// the poll noticed it).
func (w *writeLoad) waitWrite(t *testing.T, since time.Time, limit time.Duration, what string) time.Duration {
	t.Helper()
	rtPoll(t, limit, what, func() bool { _, ok := w.firstOKAfter(since); return ok })
	first, _ := w.firstOKAfter(since)
	return first.Sub(since)
}

// writerOf returns the URL Stats names as the node taking the writes.
func writerOf(t *testing.T, db *DB) string {
	t.Helper()
	for _, n := range nodeStats(t, db.DB()) {
		if n.Writer {
			return n.URL
		}
	}
	return ""
}

// TestFailoverPostgresPromotion: under a write and read load, the 5432
// primary stops and the 5433 standby is promoted: writes succeed on 5433
// within the time the docs state, reads go on, nothing is written to a
// standby. Then the old primary comes back fenced read-only
// (default_transaction_read_only): aiodb sends it no write.
func TestFailoverPostgresPromotion(t *testing.T) {
	needPgCtl(t)
	dsn := testserver.DSN(t, envPGReplicas)
	testserver.Lock(t, testserver.Primaries, true)
	lockStandbys(t, true)
	t.Cleanup(func() { repairFixture(t) })
	primary := pgStandby{"main", 5432}
	t.Cleanup(func() { startPrimary(t, primary) })

	db, err := Open(withOptions(dsn, "aiodb_health_interval=200ms&connect_timeout=2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tbl := pgTable(t, db.DB())
	pgSeen(t, 5433, tbl, 0)
	rtPoll(t, 10*time.Second, "5432 elected from the servers' roles", func() bool { return strings.Contains(writerOf(t, db), ":5432/") })

	// Fence the primary for its next start, the way an operator or a
	// failover manager does before promoting another node. The fence is
	// lifted when the test ends, before the fixture is repaired (SHOW does
	// not see a setting that was never reloaded).
	t.Cleanup(func() {
		if _, err := pgDirect(t, 5432).Exec("ALTER SYSTEM RESET default_transaction_read_only"); err != nil {
			t.Errorf("lift the fence on 5432: %v", err)
		}
		pgDirect(t, 5432).Exec("SELECT pg_reload_conf()")
	})
	if _, err := pgDirect(t, 5432).Exec("ALTER SYSTEM SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	writes := startWrites(t, db, "INSERT INTO "+tbl+" (v) VALUES ($1)")
	reads := startReads(t, 4, func(ctx context.Context) error {
		_, err := FetchVal[int](ctx, db, "SELECT count(*) FROM "+tbl)
		return err
	})
	rtPoll(t, 10*time.Second, "writes under way", func() bool { return writes.ok.Load() > 0 && reads.reads.Load() > 0 })
	okBefore := writes.ok.Load()

	stopped := time.Now()
	if err := pgCtl(t, "stop", primary); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the primary is gone: writes fail fast meanwhile
	if _, err := pgDirect(t, 5433).Exec("SELECT pg_promote(true, 30)"); err != nil {
		t.Fatal(err)
	}
	// pg_promote(true, …) returns once the promotion is done: the clock
	// starts then, not before the promotion's own duration.
	promoted := time.Now()
	after := writes.waitWrite(t, promoted, 30*time.Second, "a write succeeds after the promotion")
	failedSwitch := writes.failed.Load()
	t.Logf("primary stopped; 5433 promoted %v later; first write on it %v after the promotion; %d writes failed since the stop (%v) %s",
		promoted.Sub(stopped).Round(time.Millisecond), after.Round(time.Millisecond), failedSwitch, time.Since(stopped).Round(time.Millisecond), writes.summary())
	if w := writerOf(t, db); !strings.Contains(w, ":5433/") {
		t.Errorf("writes go to %q, want the promoted 5433", w)
	}
	if after > 5*time.Second {
		t.Errorf("the first write on the promoted standby came %v after the promotion, more than the 5s the docs state", after)
	}

	// The old primary comes back fenced: it reports itself read-only and
	// gets no write.
	startPrimary(t, primary)
	old := pgDirect(t, 5432)
	var before int
	if err := old.QueryRow("SELECT count(*) FROM " + tbl).Scan(&before); err != nil {
		t.Fatal(err)
	}
	failedBefore := writes.failed.Load()
	okMid := writes.ok.Load()
	time.Sleep(2 * time.Second)
	var now int
	if err := old.QueryRow("SELECT count(*) FROM " + tbl).Scan(&now); err != nil {
		t.Fatal(err)
	}
	writes.end()
	reads.finish(t, reads.reads.Load(), "during the failover")
	if now != before {
		t.Errorf("the fenced old primary got %d writes", now-before)
	}
	if n := writes.failed.Load() - failedBefore; n != 0 {
		t.Errorf("%d writes failed after the old primary came back fenced: %v", n, writes.firstErr.get())
	}
	if writes.ok.Load() <= okMid || okBefore == 0 {
		t.Errorf("writes did not go on: %d before the stop, %d after the switch, %d in all", okBefore, okMid, writes.ok.Load())
	}
	for _, n := range nodeStats(t, db.DB()) {
		t.Logf("%s writer=%v role=%s", n.URL, n.Writer, n.Role)
	}
}

// TestFailoverMySQLSwitch: the 3307 replica stops replicating and is made
// writable, then the 3306 primary is made read-only: writes (as app, which
// read_only binds) move to 3307, and 3306 accepts none.
func TestFailoverMySQLSwitch(t *testing.T) {
	// The switch breaks replication to 3307, which only scripts/test-env.sh
	// as root repairs (repairFixture).
	needRoot(t, "mariadb-admin", "start-stop-daemon")
	dsn := testserver.DSN(t, envMyAppReplicas)
	rootDSN := testserver.DSN(t, envMyReplicas)
	testserver.Lock(t, testserver.Primaries, true)
	testserver.Lock(t, testserver.MySQLReplica, true)
	t.Cleanup(func() { repairFixture(t) })
	root1 := openRouted(t, strings.Fields(rootDSN)[0])
	root2 := openRouted(t, strings.Fields(rootDSN)[1])
	t.Cleanup(func() {
		if _, err := root1.Exec("SET GLOBAL read_only = 0"); err != nil {
			t.Errorf("make 3306 writable again: %v", err)
		}
	})

	db, err := Open(withOptions(dsn, "aiodb_health_interval=200ms"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tbl := fmt.Sprintf("aiodb_fo%d_%d", os.Getpid(), pgTableSeq.Add(1))
	if _, err := db.Execute(context.Background(), "CREATE TABLE "+tbl+" (v int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root1.Exec("DROP TABLE IF EXISTS " + tbl); root2.Exec("DROP TABLE IF EXISTS " + tbl) })
	rtPoll(t, 30*time.Second, "the table on 3307", func() bool {
		_, err := root2.Exec("SELECT 1 FROM " + tbl + " LIMIT 1")
		return err == nil
	})
	rtPoll(t, 10*time.Second, "3306 elected", func() bool { return strings.Contains(writerOf(t, db), ":3306/") })

	writes := startWrites(t, db, "INSERT INTO "+tbl+" (v) VALUES (?)")
	rtPoll(t, 10*time.Second, "writes under way", func() bool { return writes.ok.Load() > 0 })
	switched := time.Now()
	for _, q := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"} {
		if _, err := root2.Exec(q); err != nil {
			t.Fatalf("3307: %s: %v", q, err)
		}
	}
	if _, err := root1.Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	fenced := time.Now()
	var before int
	if err := root1.QueryRow("SELECT count(*) FROM " + tbl).Scan(&before); err != nil {
		t.Fatal(err)
	}
	after := writes.waitWrite(t, fenced, 30*time.Second, "a write succeeds on 3307")
	// 3306 is read-only, so the count check below cannot fail; what shows
	// a write still sent to 3306 (or lost otherwise) after the switch is a
	// failed write.
	failedSwitch := writes.failed.Load()
	time.Sleep(time.Second)
	writes.end()
	var now int
	if err := root1.QueryRow("SELECT count(*) FROM " + tbl).Scan(&now); err != nil {
		t.Fatal(err)
	}
	t.Logf("first write on 3307 %v after 3306 was fenced; %d writes failed during the switch (%v) %s",
		after.Round(time.Millisecond), writes.failed.Load(), time.Since(switched).Round(time.Millisecond), writes.summary())
	if now != before {
		t.Errorf("the fenced 3306 accepted %d writes", now-before)
	}
	if n := writes.failed.Load() - failedSwitch; n != 0 {
		t.Errorf("%d writes failed after the first write on 3307; errors of the whole run: %s", n, writes.summary())
	}
	if w := writerOf(t, db); !strings.Contains(w, ":3307/") {
		t.Errorf("writes go to %q, want 3307", w)
	}
	var on2 int
	if err := root2.QueryRow("SELECT count(*) FROM " + tbl).Scan(&on2); err != nil || on2 <= now {
		t.Errorf("3307 has %d rows (%v), 3306 %d: the writes did not move", on2, err, now)
	}
	if after > 5*time.Second {
		t.Errorf("the first write on 3307 came %v after the switch, more than the 5s the docs state", after)
	}
}

// TestFailoverSplitBrain: two writable nodes (two DSN names for two
// primaries) refuse writes with ErrSplitBrain, sending nothing.
func TestFailoverSplitBrain(t *testing.T) {
	pg := testserver.DSN(t, envPostgres)
	// Two databases of the primary server are two writable "nodes" (the
	// same URL twice would be one).
	other := strings.Replace(pg, "/test?", "/postgres?", 1)
	db, err := Open(withOptions(pg+" "+other, "aiodb_health_interval=100ms"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var werr error
	rtPoll(t, 10*time.Second, "writes refused as split brain", func() bool {
		_, werr = db.Execute(context.Background(), "CREATE TEMPORARY TABLE aiodb_split (v int)")
		return errors.Is(werr, ErrSplitBrain)
	})
	t.Logf("%v", werr)
	if _, err := FetchVal[int](WithReplica(context.Background()), db, "SELECT 1"); err != nil {
		t.Errorf("a read during split brain: %v", err)
	}
}
