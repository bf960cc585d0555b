package aiodb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiodb/aiodb/internal/testserver"
)

// Read consistency on the real PostgreSQL standbys: a Replica block reads
// one replica, so its reads never see the replication position go
// backwards, even when the standbys are at different positions.

// pgSeen waits until the standby on port has count rows in tbl.
func pgSeen(t *testing.T, port int, tbl string, count int) {
	t.Helper()
	r := pgDirect(t, port)
	rtPoll(t, 30*time.Second, fmt.Sprintf(":%d sees %d rows", port, count), func() bool {
		var n int
		err := r.QueryRow("SELECT count(*) FROM " + tbl).Scan(&n)
		return err == nil && n == count
	})
}

// TestReplicaBlockMonotonic pauses replay on replica1 after 150 rows and
// lets replica2 see 200: 1,000 Replica blocks of two count(*) reads each
// must never see the count go down within a block, while across blocks
// both standbys serve (so a block that read both would have seen it).
func TestReplicaBlockMonotonic(t *testing.T) {
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, true)
	db, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tbl := pgTable(t, db.DB())
	ctx := context.Background()
	insert := func(n int) {
		if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" (v) SELECT g FROM generate_series(1, $1) g", n); err != nil {
			t.Fatal(err)
		}
	}
	insert(150)
	pgSeen(t, 5433, tbl, 150)
	pauseReplay(t, pgStandbys[0])
	insert(50)
	pgSeen(t, 5434, tbl, 200)

	seen := map[int]int{}
	backwards := 0
	for range 1000 {
		err := db.Replica(ctx, func(ctx context.Context) error {
			a, err := FetchVal[int](ctx, db, "SELECT count(*) FROM "+tbl)
			if err != nil {
				return err
			}
			b, err := FetchVal[int](ctx, db, "SELECT count(*) FROM "+tbl)
			if err != nil {
				return err
			}
			seen[a]++
			if b < a {
				backwards++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("first reads per count: %v", seen)
	if seen[150] == 0 || seen[200] == 0 {
		t.Fatalf("blocks did not read from both standbys (%v): the test proves nothing", seen)
	}
	if backwards != 0 {
		t.Errorf("%d of 1000 blocks saw the row count go backwards", backwards)
	}
}

// rywCase writes a row and reads it back at once in a replica context, with
// the replicas' replay stopped: it reports whether the read saw the row.
func rywCase(t *testing.T, db *DB, tbl string, ctx context.Context, v int) bool {
	t.Helper()
	if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" (v) VALUES ($1)", v); err != nil {
		t.Fatal(err)
	}
	n, err := FetchVal[int](WithReplica(ctx), db, "SELECT count(*) FROM "+tbl+" WHERE v = $1", v)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// rywModes runs the read-your-writes cases on dsn while pause(tbl) keeps the
// replicas from replaying: off misses the row (so the test can fail), wait
// and primary see it, and so does the context form on a DSN without the
// option. pause gets the table, which each replica must have before its
// replay stops.
func rywModes(t *testing.T, dsn string, pause func(tbl string)) {
	open := func(opts string) *DB {
		db, err := Open(withOptions(dsn, opts))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	off := open("aiodb_read_your_writes=off")
	tbl := fmt.Sprintf("aiodb_ryw%d_%d", os.Getpid(), pgTableSeq.Add(1))
	if _, err := off.Execute(context.Background(), "CREATE TABLE "+tbl+" (v int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { off.Execute(context.Background(), "DROP TABLE IF EXISTS "+tbl) })
	rtPoll(t, 30*time.Second, "the table on the replicas", func() bool {
		_, err := FetchVal[int](roCtx, off, "SELECT count(*) FROM "+tbl)
		return err == nil
	})
	pause(tbl)
	ctx := context.Background()
	if rywCase(t, off, tbl, ctx, 1) {
		t.Fatal("with read_your_writes=off and replay stopped a replica read saw the new row: the test proves nothing")
	}
	wait := open("aiodb_read_your_writes=wait&aiodb_read_your_writes_wait=200ms")
	start := time.Now()
	if !rywCase(t, wait, tbl, ctx, 2) {
		t.Error("read_your_writes=wait: the read missed the row")
	}
	t.Logf("wait: write + read in %v (the wait ran out, then the primary answered)", time.Since(start).Round(time.Millisecond))
	primary := open("aiodb_read_your_writes=primary")
	if !rywCase(t, primary, tbl, ctx, 3) {
		t.Error("read_your_writes=primary: the read missed the row")
	}
	if !rywCase(t, off, tbl, WithReadYourWrites(ctx, RYWPrimary), 4) {
		t.Error("WithReadYourWrites(ctx, RYWPrimary) on a DSN without the option: the read missed the row")
	}
}

// TestReadYourWritesPostgres: replay paused on both standbys.
func TestReadYourWritesPostgres(t *testing.T) {
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, true)
	rywModes(t, dsn, func(tbl string) {
		// Replica reads alternate between the standbys: that one of them
		// answered through aiodb does not mean both have the table.
		for _, s := range pgStandbys {
			r := pgDirect(t, s.port)
			rtPoll(t, 30*time.Second, fmt.Sprintf("the table on :%d", s.port), func() bool {
				var ok bool
				err := r.QueryRow("SELECT to_regclass($1) IS NOT NULL", tbl).Scan(&ok)
				return err == nil && ok
			})
		}
		for _, s := range pgStandbys {
			pauseReplay(t, s)
		}
	})
}

// TestReadYourWritesMySQL: the replica's SQL thread stopped.
func TestReadYourWritesMySQL(t *testing.T) {
	dsn := testserver.DSN(t, envMyReplicas)
	testserver.Lock(t, testserver.MySQLReplica, true)
	rywModes(t, dsn, func(string) {
		r, err := sql.Open(DriverName, strings.Fields(dsn)[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := r.Exec("START SLAVE SQL_THREAD"); err != nil {
				t.Errorf("restart the replica's SQL thread: %v", err)
			}
			r.Close()
		})
		if _, err := r.Exec("STOP SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReadYourWritesUnderLoad: 8 goroutines each write a row and read it
// back at once in a replica context, on the two standbys replaying
// normally: with read_your_writes=wait no read misses its row. The same
// load without the option is logged for comparison (how many reads miss
// depends on the machine's replication lag).
func TestReadYourWritesUnderLoad(t *testing.T) {
	dsn := testserver.DSN(t, envPGReplicas)
	lockStandbys(t, false)
	for _, mode := range []string{"off", "wait"} {
		db, err := Open(withOptions(dsn, "aiodb_read_your_writes="+mode))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		tbl := pgTable(t, db.DB())
		var stale, reads atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 250 {
					v := g*1000 + i
					ctx := context.Background()
					if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" (v) VALUES ($1)", v); err != nil {
						t.Error(err)
						return
					}
					n, err := FetchVal[int](WithReplica(ctx), db, "SELECT count(*) FROM "+tbl+" WHERE v = $1", v)
					if err != nil {
						t.Error(err)
						return
					}
					reads.Add(1)
					if n != 1 {
						stale.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		st, _ := Stats(db.DB())
		t.Logf("read_your_writes=%s: %d reads, %d stale, in %v; served per node: %d %d %d", mode, reads.Load(), stale.Load(),
			time.Since(start).Round(time.Millisecond), st[0].Served, st[1].Served, st[2].Served)
		if mode == "wait" && stale.Load() != 0 {
			t.Errorf("%d of %d reads missed the row just written", stale.Load(), reads.Load())
		}
	}
}
