package aiodb

import (
	"context"
	"fmt"
	"testing"
	"time"
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
	dsn := replicaDSN(t, envPGReplicas)
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
	r1 := pgDirect(t, 5433)
	t.Cleanup(func() {
		if _, err := r1.Exec("SELECT pg_wal_replay_resume()"); err != nil {
			t.Errorf("resume replay on replica1: %v", err)
		}
	})
	if _, err := r1.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
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
