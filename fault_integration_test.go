package aiodb

import (
	"context"
	"database/sql"
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

// Fault tests on the real servers: a replica that dies under load, a
// primary that is down while replicas serve. They stop shared servers, so
// they hold the same locks as the other tests that do (testserver's
// Standbys, MySQLReplica and, for a primary on 5432 or 3306, Primaries), and
// restart what they stopped in t.Cleanup, also when they fail half way.

// MariaDB fixture of scripts/test-env.sh.
const (
	myPrimaryPID = "/run/mysqld/mysqld.pid"
	myReplicaPID = "/run/mysqld/mysqld-3307.pid"
	myReplicaCnf = "/etc/mysql/aiodb-replica-3307.cnf"
)

// needRoot skips (fails in CI) a test that must stop and start servers.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found: %v", tool, err)
			}
			t.Skipf("%s not found (%v): cannot stop and start servers", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("stopping servers needs root")
		}
		t.Skip("stopping servers needs root")
	}
}

// run runs a fixture command, returning its output in the error.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// mariadbAlive reports whether the MariaDB server on port answers.
func mariadbAlive(port int) bool {
	return exec.Command("mariadb-admin", "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1",
		"-P", fmt.Sprint(port), "-u", "root", "--connect-timeout=2", "ping").Run() == nil
}

// stopMariaDB shuts the MariaDB server on port down and registers its
// restart, which waits until it answers again.
func stopMariaDB(t *testing.T, port int) {
	t.Helper()
	t.Cleanup(func() { startMariaDB(t, port) })
	if err := run("mariadb-admin", "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1",
		"-P", fmt.Sprint(port), "-u", "root", "shutdown"); err != nil {
		t.Fatal(err)
	}
	pid := myPrimaryPID
	if port == 3307 {
		pid = myReplicaPID
	}
	rtPoll(t, time.Minute, fmt.Sprintf("mariadb :%d stopped (its pid file gone)", port), func() bool {
		_, err := os.Stat(pid)
		return !mariadbAlive(port) && os.IsNotExist(err)
	})
}

// startMariaDB starts the MariaDB server on port (3306 or 3307) as
// scripts/test-env.sh does, unless it answers already.
func startMariaDB(t *testing.T, port int) {
	t.Helper()
	if mariadbAlive(port) {
		return
	}
	args := []string{"--start", "--oknodo", "--quiet", "--background", "--pidfile", myPrimaryPID,
		"--exec", "/usr/sbin/mariadbd", "--", "--user=mysql"}
	if port == 3307 {
		args = []string{"--start", "--oknodo", "--quiet", "--background", "--pidfile", myReplicaPID,
			"--exec", "/usr/sbin/mariadbd", "--", "--defaults-file=" + myReplicaCnf}
	}
	if err := run("start-stop-daemon", args...); err != nil {
		t.Errorf("restart mariadb :%d: %v", port, err)
		return
	}
	deadline := time.Now().Add(time.Minute)
	for !mariadbAlive(port) {
		if time.Now().After(deadline) {
			t.Errorf("mariadb :%d not back after a minute", port)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// firstError keeps the first error set, of whatever type.
type firstError struct{ p atomic.Pointer[error] }

func (f *firstError) set(err error) { f.p.CompareAndSwap(nil, &err) }

func (f *firstError) get() error {
	if e := f.p.Load(); e != nil {
		return *e
	}
	return nil
}

// readLoad runs read on workers goroutines until stop is closed, counting
// reads and failures.
type readLoad struct {
	reads, fails atomic.Int64
	firstErr     firstError
	stop         chan struct{}
	stopOnce     sync.Once
	wg           sync.WaitGroup
}

// startReads starts the load; finish stops it, and so does the end of the
// test (a t.Cleanup registered after the one that closes the DB, so it runs
// first), also if the test fails before finish.
func startReads(t *testing.T, workers int, read func(ctx context.Context) error) *readLoad {
	l := &readLoad{stop: make(chan struct{})}
	t.Cleanup(l.end)
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(roCtx, 20*time.Second)
				err := read(ctx)
				cancel()
				l.reads.Add(1)
				if err != nil {
					l.fails.Add(1)
					l.firstErr.set(err)
				}
			}
		}()
	}
	return l
}

// end stops the load and waits until its goroutines have returned; it may
// be called more than once.
func (l *readLoad) end() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// finish stops the load once it has made at least min reads, and fails the
// test if any read failed.
func (l *readLoad) finish(t *testing.T, min int64, what string) {
	t.Helper()
	rtPoll(t, time.Minute, fmt.Sprintf("%d reads %s", min, what), func() bool { return l.reads.Load() >= min })
	l.end()
	if l.fails.Load() != 0 {
		t.Fatalf("%d of %d reads failed %s; first: %v", l.fails.Load(), l.reads.Load(), what, l.firstErr.get())
	}
	t.Logf("%d reads %s, 0 failed", l.reads.Load(), what)
}

// TestFaultMySQLReplicaStop shuts the 3307 replica down while 8 goroutines
// read in a replica context, with an argument (go-sql-driver prepares
// those) and without: no read fails, they go on on the primary's read-only
// session, and the replica is used again once it is back.
func TestFaultMySQLReplicaStop(t *testing.T) {
	needRoot(t, "mariadb-admin", "start-stop-daemon")
	dsn := testserver.DSN(t, envMyReplicas)
	testserver.Lock(t, testserver.MySQLReplica, true)
	db := openRouted(t, withOptions(dsn, "aiodb_health_interval=200ms"))
	db.SetMaxOpenConns(8)
	var n atomic.Int64
	load := startReads(t, 8, func(ctx context.Context) error {
		var port int
		if n.Add(1)%2 == 0 {
			return db.QueryRowContext(ctx, "SELECT @@port + ?", 0).Scan(&port)
		}
		return db.QueryRowContext(ctx, "SELECT @@port").Scan(&port)
	})
	rtPoll(t, 30*time.Second, "reads under way", func() bool { return load.reads.Load() > 500 })
	stopMariaDB(t, 3307)
	load.finish(t, load.reads.Load()+3000, "with the replica stopped")
	if st := nodeStats(t, db); !st[1].Down || st[1].Failures == 0 {
		t.Errorf("replica stats while stopped: %+v", st[1])
	}
	startMariaDB(t, 3307)
	rtPoll(t, time.Minute, "replica used again after its restart", func() bool {
		var port int
		if err := db.QueryRowContext(roCtx, "SELECT @@port").Scan(&port); err != nil {
			t.Fatalf("read after restart: %v", err)
		}
		return port == 3307
	})
}

// TestFaultPostgresReplicaStop: the same on the PostgreSQL standbys, with
// 8 readers and a few thousand reads while replica1 is down.
func TestFaultPostgresReplicaStop(t *testing.T) {
	needPgCtl(t)
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, true)
	db := openRouted(t, withOptions(dsn, "aiodb_health_interval=200ms"))
	db.SetMaxOpenConns(8)
	load := startReads(t, 8, func(ctx context.Context) error {
		var port int
		return db.QueryRowContext(ctx, "SELECT inet_server_port() + $1", 0).Scan(&port)
	})
	rtPoll(t, 30*time.Second, "reads under way", func() bool { return load.reads.Load() > 500 })
	stopStandbys(t, pgStandbys[0])
	load.finish(t, load.reads.Load()+3000, "with replica1 stopped")
	startStandby(t, pgStandbys[0])
	waitReadsOn(t, db, pgStandbys[0])
}

// primaryDown runs the primary-down scenario on db: replica reads work
// while the primary is stopped (also on connections opened after it
// stopped), writes and primary reads fail fast with ErrPrimaryDown, and
// writes work again once it is back, on the same *sql.DB. It reports how
// long after the primary answered again the first write succeeded.
func primaryDown(t *testing.T, db *sql.DB, tbl, readSQL string, stop, start func()) {
	t.Helper()
	// Warm the pool while the primary is up: one connection has a primary
	// session, the others are opened while it is down.
	if _, err := db.Exec("INSERT INTO " + tbl + " (v) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	stop()
	for i := range 20 {
		var v int
		if err := db.QueryRowContext(roCtx, readSQL, 0).Scan(&v); err != nil {
			t.Fatalf("replica read %d with the primary down: %v", i, err)
		}
	}
	conns := make([]*sql.Conn, 4) // fresh pool connections, opened while the primary is down
	for i := range conns {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatalf("new connection with the primary down: %v", err)
		}
		defer c.Close()
		conns[i] = c
	}
	for _, c := range conns {
		var v int
		if err := c.QueryRowContext(roCtx, readSQL, 0).Scan(&v); err != nil {
			t.Fatalf("replica read on a new connection with the primary down: %v", err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	began := time.Now()
	_, err := db.Exec("INSERT INTO " + tbl + " (v) VALUES (2)")
	if !errors.Is(err, ErrPrimaryDown) {
		t.Fatalf("write with the primary down: %v, want ErrPrimaryDown", err)
	}
	t.Logf("first write with the primary down failed after %v: %v", time.Since(began), err)
	began = time.Now()
	for range 5 {
		if _, err := db.Exec("INSERT INTO " + tbl + " (v) VALUES (2)"); !errors.Is(err, ErrPrimaryDown) {
			t.Fatalf("write with the primary down: %v, want ErrPrimaryDown", err)
		}
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("5 writes with the primary known down took %v: they must fail fast", d)
	}
	if err := db.Ping(); !errors.Is(err, ErrPrimaryDown) {
		t.Errorf("Ping with the primary down: %v, want ErrPrimaryDown", err)
	}
	start()
	up := time.Now()
	rtPoll(t, time.Minute, "writes work again after the primary is back", func() bool {
		_, err := db.Exec("INSERT INTO " + tbl + " (v) VALUES (3)")
		return err == nil
	})
	t.Logf("first write succeeded %v after the primary answered again", time.Since(up).Round(time.Millisecond))
}

// TestFaultPostgresPrimaryDown stops the 5432 primary: reads in a replica
// context go on on the standbys, writes fail fast, and work again after
// the primary is restarted.
func TestFaultPostgresPrimaryDown(t *testing.T) {
	needPgCtl(t)
	dsn := testserver.DSN(t, envPGReplicas)
	testserver.Lock(t, testserver.Primaries, true)
	lockStandbys(t, true)
	db := openRouted(t, withOptions(dsn, "aiodb_health_interval=200ms&connect_timeout=2"))
	tbl := pgTable(t, db)
	primary := pgStandby{"main", 5432}
	primaryDown(t, db, tbl, "SELECT 1 + $1::int", func() {
		t.Cleanup(func() { startPrimary(t, primary) })
		if err := pgCtl(t, "stop", primary); err != nil {
			t.Fatal(err)
		}
	}, func() { startPrimary(t, primary) })
}

// startPrimary starts the PostgreSQL primary and waits until it accepts
// connections out of recovery.
func startPrimary(t *testing.T, s pgStandby) { startCluster(t, s, false) }

// TestFaultMySQLPrimaryDown: the same on MariaDB, 3306 stopped, the 3307
// replica serving.
func TestFaultMySQLPrimaryDown(t *testing.T) {
	needRoot(t, "mariadb-admin", "start-stop-daemon")
	dsn := testserver.DSN(t, envMyReplicas)
	testserver.Lock(t, testserver.Primaries, true)
	testserver.Lock(t, testserver.MySQLReplica, true)
	db := openRouted(t, withOptions(dsn, "aiodb_health_interval=200ms&timeout=2s"))
	tbl := fmt.Sprintf("aiodb_rt%d_%d", os.Getpid(), pgTableSeq.Add(1))
	if _, err := db.Exec("CREATE TABLE " + tbl + " (v int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + tbl) })
	primaryDown(t, db, tbl, "SELECT 1 + ?", func() { stopMariaDB(t, 3306) }, func() { startMariaDB(t, 3306) })
}
