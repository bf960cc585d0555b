package aiodb

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unit tests of routing (route.go, router.go, rows.go): no server. Two
// kinds of fake backends (fakes_test.go) sit behind a connector's nodes:
// go-sqlmock, to assert the exact statements each node receives, and
// rtNode, a tiny driver whose nodes can go down, break their sessions or
// fail their rows on demand.

// ---------------------------------------------------------------- markers

func TestRouteMarkersInnermostWins(t *testing.T) {
	cases := []struct {
		ctx  context.Context
		want routeMark
	}{
		{rtBG, markNone},
		{WithReplica(rtBG), markReplica},
		{WithPrimary(rtBG), markPrimary},
		{WithPrimary(WithReplica(rtBG)), markPrimary},
		{WithReplica(WithPrimary(rtBG)), markReplica},
		{WithReplica(WithPrimary(WithReplica(rtBG))), markReplica},
		{context.WithValue(WithPrimary(WithReplica(rtBG)), struct{ k int }{1}, 2), markPrimary},
	}
	for i, tc := range cases {
		if got := routeOf(tc.ctx); got != tc.want {
			t.Errorf("case %d: routeOf = %d, want %d", i, got, tc.want)
		}
	}

	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1")
	for _, tc := range []struct {
		ctx  context.Context
		want string
	}{
		{rtBG, "p"},
		{WithReplica(rtBG), "r1"},
		{WithPrimary(WithReplica(rtBG)), "p"},
		{WithReplica(WithPrimary(rtBG)), "r1"},
	} {
		if got, err := rtRead(tc.ctx, cl.db); err != nil || got != tc.want {
			t.Errorf("read ran on %q (%v), want %q", got, err, tc.want)
		}
	}
}

// ---------------------------------------------------------------- sqlmock

// TestRouteStatementsPerNode asserts the exact statements the primary and
// each replica receive, read-only session statement included.
func TestRouteStatementsPerNode(t *testing.T) {
	db, m := rtMockCluster(t, "postgres://u@p/db postgres://u@r1/db postgres://u@r2/db")
	p, r1, r2 := m[0], m[1], m[2]
	ro := WithReplica(rtBG)

	p.ExpectQuery("SELECT 'a'").WillReturnRows(rtRow("p"))
	r1.ExpectExec(rtPGReadOnly).WillReturnResult(ok0)
	r1.ExpectQuery("SELECT 'b'").WillReturnRows(rtRow("r1"))
	r2.ExpectExec(rtPGReadOnly).WillReturnResult(ok0)
	r2.ExpectQuery("SELECT 'c'").WillReturnRows(rtRow("r2"))
	r1.ExpectQuery("SELECT 'd'").WillReturnRows(rtRow("r1")) // session reused: no second SET
	p.ExpectQuery("SELECT 'e'").WillReturnRows(rtRow("p"))
	r2.ExpectQuery("SELECT $1::text").WithArgs("f").WillReturnRows(rtRow("r2"))
	p.ExpectExec("UPDATE t SET a = 1").WillReturnResult(ok0)

	for _, s := range []struct {
		ctx       context.Context
		q, want   string
		arg       []any
		wantValue string
	}{
		{rtBG, "SELECT 'a'", "p", nil, ""},
		{ro, "SELECT 'b'", "r1", nil, ""},
		{ro, "SELECT 'c'", "r2", nil, ""},
		{ro, "SELECT 'd'", "r1", nil, ""},
		{WithPrimary(ro), "SELECT 'e'", "p", nil, ""},
		{ro, "SELECT ?::text", "r2", []any{"f"}, ""},
	} {
		if got := rtScan(t, s.ctx, db, s.q, s.arg...); got != s.want {
			t.Errorf("%s ran on %s, want %s", s.q, got, s.want)
		}
	}
	if _, err := db.ExecContext(WithPrimary(ro), "UPDATE t SET a = 1"); err != nil {
		t.Fatal(err)
	}
	// Refused in a replica context: nothing reaches any node.
	if _, err := db.ExecContext(ro, "UPDATE t SET a = 1"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Exec in a replica context: %v, want ErrReadOnly", err)
	}
}

// TestRouteNoReplicaUsesPrimaryReadOnly: without replicas a replica context
// runs on a second, read-only session of the primary, per dialect.
func TestRouteNoReplicaUsesPrimaryReadOnly(t *testing.T) {
	for _, tc := range []struct{ dsn, ro string }{
		{"postgres://u@p/db", rtPGReadOnly},
		{"mysql://u@p/db", "SET SESSION TRANSACTION READ ONLY"},
		{"sqlite:///p.db", "PRAGMA query_only = ON"},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			db, m := rtMockCluster(t, tc.dsn)
			m[0].ExpectQuery("SELECT 1").WillReturnRows(rtRow("rw"))
			m[0].ExpectExec(tc.ro).WillReturnResult(ok0)
			m[0].ExpectQuery("SELECT 2").WillReturnRows(rtRow("ro"))
			m[0].ExpectQuery("SELECT 3").WillReturnRows(rtRow("ro"))
			rtScan(t, rtBG, db, "SELECT 1")
			rtScan(t, WithReplica(rtBG), db, "SELECT 2")
			rtScan(t, WithReplica(rtBG), db, "SELECT 3")
			if _, err := db.ExecContext(WithReplica(rtBG), "DELETE FROM t"); !errors.Is(err, ErrReadOnly) {
				t.Errorf("Exec: %v, want ErrReadOnly", err)
			}
		})
	}
}

// refusedInReplica lists writes that a replica context must refuse before
// sending anything, among them the tricky ones.
var refusedInReplica = []struct {
	syn      string // dsn
	q        string
	kind     string // substring of the message
	viaQuery bool   // sent through Query (else Exec)
}{
	{"postgres://u@p/db", "INSERT INTO t (a) VALUES (1) RETURNING id", "INSERT … RETURNING", true},
	{"postgres://u@p/db", "WITH d AS (SELECT id FROM t) DELETE FROM t WHERE id IN (SELECT id FROM d) RETURNING id", "WITH … DELETE … RETURNING", true},
	{"postgres://u@p/db", "WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d", "data-modifying CTE", true},
	{"postgres://u@p/db", "SELECT * FROM jobs FOR UPDATE SKIP LOCKED", "FOR UPDATE", true},
	{"postgres://u@p/db", "SELECT * FROM jobs FOR NO KEY UPDATE", "FOR NO KEY UPDATE", true},
	{"postgres://u@p/db", "select nextval('s')", "nextval() call", true},
	{"postgres://u@p/db", "SELECT pg_advisory_lock(1)", "pg_advisory_lock", true},
	{"postgres://u@p/db", "EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN ANALYZE DELETE", true},
	{"postgres://u@p/db", "/* report */ -- nightly\n DELETE FROM t", "DELETE", true},
	{"postgres://u@p/db", "SELECT * INTO t2 FROM t", "SELECT … INTO", true},
	{"postgres://u@p/db", "SELECT 1; DELETE FROM t", "multiple statements", true},
	{"postgres://u@p/db", "SET default_transaction_read_only = off", "SET", true},
	{"postgres://u@p/db", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SET", true},
	{"postgres://u@p/db", "BEGIN READ WRITE", "BEGIN", true},
	{"postgres://u@p/db", "CALL p()", "CALL", true},
	{"postgres://u@p/db", "COPY t FROM STDIN", "COPY", true},
	{"postgres://u@p/db", "LISTEN c", "LISTEN", true},
	{"postgres://u@p/db", "FROBNICATE", "unknown statement", true},
	{"postgres://u@p/db", "CREATE TABLE t2 (a int)", "DDL", false},
	{"postgres://u@p/db", "SELECT 1", "Exec of SELECT", false},
	{"mysql://u@p/db", "SELECT GET_LOCK('a', 1)", "get_lock() call", true},
	{"mysql://u@p/db", "SELECT * FROM t LOCK IN SHARE MODE", "LOCK IN SHARE MODE", true},
	{"mysql://u@p/db", "REPLACE INTO t VALUES (1)", "REPLACE", true},
	{"mysql://u@p/db", "SET SESSION TRANSACTION READ WRITE", "SET", true},
	{"mysql://u@p/db", "/*!40101 SELECT * FROM t FOR UPDATE */", "FOR UPDATE", true},
	{"sqlite:///p.db", "PRAGMA query_only = OFF", "PRAGMA", true},
	{"sqlite:///p.db", "INSERT INTO t VALUES (1) RETURNING rowid", "INSERT … RETURNING", true},
}

// TestReplicaRefusesWritesBeforeSending: every write in a replica context
// fails with ErrReadOnly naming its kind, and no node receives anything —
// not even the read-only session's SET (sqlmock fails on any statement).
func TestReplicaRefusesWritesBeforeSending(t *testing.T) {
	for _, tc := range refusedInReplica {
		t.Run(tc.q, func(t *testing.T) {
			replica := strings.NewReplacer("@p/", "@r1/", "///p.db", "///r1.db").Replace(tc.syn)
			db, _ := rtMockCluster(t, tc.syn+" "+replica)
			ctx := WithReplica(rtBG)
			var err error
			if tc.viaQuery {
				var rows *sql.Rows
				rows, err = db.QueryContext(ctx, tc.q)
				if err == nil {
					rows.Close()
				}
			} else {
				_, err = db.ExecContext(ctx, tc.q)
			}
			if !errors.Is(err, ErrReadOnly) {
				t.Fatalf("err = %v, want ErrReadOnly", err)
			}
			if !strings.Contains(err.Error(), tc.kind) || !strings.Contains(err.Error(), "replica context") {
				t.Errorf("message %q does not name %q and the replica context", err, tc.kind)
			}
			// Prepare refuses the write too (reads prepare, but Exec is refused).
			if tc.viaQuery {
				if _, err := db.PrepareContext(ctx, tc.q); !errors.Is(err, ErrReadOnly) {
					t.Errorf("Prepare: %v, want ErrReadOnly", err)
				}
			}
		})
	}
}

// TestReplicaBeginTx: a read-only transaction in a replica context runs on
// a replica; any other BeginTx there is refused before anything is sent.
func TestReplicaBeginTx(t *testing.T) {
	db, m := rtMockCluster(t, "postgres://u@p/db postgres://u@r1/db")
	if _, err := db.BeginTx(WithReplica(rtBG), nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("BeginTx(replica, nil): %v, want ErrReadOnly", err)
	}
	m[1].ExpectExec(rtPGReadOnly).WillReturnResult(ok0)
	m[1].ExpectBegin()
	m[1].ExpectQuery("SELECT 'in tx'").WillReturnRows(rtRow("r1"))
	m[1].ExpectQuery("SELECT 'plain ctx'").WillReturnRows(rtRow("r1"))
	m[1].ExpectRollback()
	tx, err := db.BeginTx(WithReplica(rtBG), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := tx.QueryRowContext(WithReplica(rtBG), "SELECT 'in tx'").Scan(&s); err != nil || s != "r1" {
		t.Fatalf("in tx: %q %v", s, err)
	}
	// The transaction never moves: a primary context still runs on r1 …
	if err := tx.QueryRowContext(WithPrimary(rtBG), "SELECT 'plain ctx'").Scan(&s); err != nil || s != "r1" {
		t.Fatalf("primary ctx in tx: %q %v", s, err)
	}
	// … and a write is refused client-side whatever the context.
	for _, ctx := range []context.Context{rtBG, WithPrimary(rtBG), WithReplica(rtBG)} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("write in a read-only replica tx: %v, want ErrReadOnly", err)
		}
		if _, err := tx.QueryContext(ctx, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("SET in a read-only replica tx: %v, want ErrReadOnly", err)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestRouteTxNeverMoves: a transaction begun on the primary keeps every
// statement there, replica context or not; writes in a replica context are
// still refused client-side.
func TestRouteTxNeverMoves(t *testing.T) {
	db, m := rtMockCluster(t, "postgres://u@p/db postgres://u@r1/db")
	m[0].ExpectBegin()
	m[0].ExpectQuery("SELECT 1").WillReturnRows(rtRow("p"))
	m[0].ExpectExec("INSERT INTO t VALUES (1)").WillReturnResult(ok0)
	m[0].ExpectCommit()
	tx, err := db.BeginTx(rtBG, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := tx.QueryRowContext(WithReplica(rtBG), "SELECT 1").Scan(&s); err != nil || s != "p" {
		t.Fatalf("replica ctx in a primary tx: %q %v", s, err)
	}
	if _, err := tx.ExecContext(WithReplica(rtBG), "INSERT INTO t VALUES (1)"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write with a replica ctx in a primary tx: %v, want ErrReadOnly", err)
	}
	if _, err := tx.ExecContext(rtBG, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestRouteAuto: aiodb_route=auto sends reads to replicas, and writes,
// Exec, and transactions to the primary; WithPrimary overrides.
func TestRouteAuto(t *testing.T) {
	db, m := rtMockCluster(t, "postgres://u@p/db?aiodb_route=auto postgres://u@r1/db")
	p, r1 := m[0], m[1]
	r1.ExpectExec(rtPGReadOnly).WillReturnResult(ok0)
	r1.ExpectQuery("SELECT 1").WillReturnRows(rtRow("r1"))
	p.ExpectQuery("INSERT INTO t VALUES (1) RETURNING id").WillReturnRows(rtRow("p"))
	p.ExpectQuery("select nextval('s')").WillReturnRows(rtRow("p"))
	p.ExpectExec("SELECT 2").WillReturnResult(ok0)
	p.ExpectQuery("SELECT 3").WillReturnRows(rtRow("p"))
	p.ExpectBegin()
	p.ExpectQuery("SELECT 4").WillReturnRows(rtRow("p"))
	p.ExpectCommit()
	r1.ExpectQuery("SELECT 5").WillReturnRows(rtRow("r1"))

	if got := rtScan(t, rtBG, db, "SELECT 1"); got != "r1" {
		t.Errorf("auto read on %s", got)
	}
	if got := rtScan(t, rtBG, db, "INSERT INTO t VALUES (1) RETURNING id"); got != "p" {
		t.Errorf("auto write via Query on %s", got)
	}
	if got := rtScan(t, rtBG, db, "select nextval('s')"); got != "p" {
		t.Errorf("nextval on %s", got)
	}
	if _, err := db.ExecContext(rtBG, "SELECT 2"); err != nil {
		t.Error(err)
	}
	if got := rtScan(t, WithPrimary(rtBG), db, "SELECT 3"); got != "p" {
		t.Errorf("WithPrimary read on %s", got)
	}
	tx, err := db.BeginTx(rtBG, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := tx.QueryRow("SELECT 4").Scan(&s); err != nil || s != "p" {
		t.Errorf("read in tx on %q %v", s, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := rtScan(t, rtBG, db, "SELECT 5"); got != "r1" {
		t.Errorf("auto read on %s", got)
	}
}

// ---------------------------------------------------------------- fake nodes

// TestRouteRoundRobin: reads alternate over the replicas; Stats counts them.
func TestRouteRoundRobin(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1 sqlite:///r2")
	got := map[string]int{}
	for range 100 {
		n, err := rtRead(WithReplica(rtBG), cl.db)
		if err != nil {
			t.Fatal(err)
		}
		got[n]++
	}
	if got["r1"] != 50 || got["r2"] != 50 {
		t.Errorf("round robin: %v, want 50/50", got)
	}
	st, err := Stats(cl.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || !st[0].Primary || st[0].URL != "sqlite:///p" || st[1].Served != 50 || st[2].Served != 50 {
		t.Errorf("Stats = %+v", st)
	}
	for _, s := range st {
		if !s.Healthy || s.Down || s.Failures != 0 {
			t.Errorf("Stats node %+v: want healthy", s)
		}
	}
}

func TestRouteRandomPolicy(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p?aiodb_replica_policy=random sqlite:///r1 sqlite:///r2")
	got := map[string]int{}
	for range 200 {
		n, err := rtRead(WithReplica(rtBG), cl.db)
		if err != nil {
			t.Fatal(err)
		}
		got[n]++
	}
	if got["r1"] < 50 || got["r2"] < 50 || got["p"] != 0 {
		t.Errorf("random: %v", got)
	}
}

// TestRouteErrSkipKeepsNode: a backend that answers ErrSkip to a query with
// arguments (go-sql-driver/mysql without interpolateParams) makes
// database/sql prepare the query; the prepare must land on the node the
// query was routed to, so round-robin still alternates.
func TestRouteErrSkipKeepsNode(t *testing.T) {
	cl := rtFakeCluster(t, "mysql://u@p/db mysql://u@r1/db mysql://u@r2/db")
	for _, f := range cl.nodes {
		f.skipArgs = true
	}
	got := map[string]int{}
	for range 10 {
		var n string
		if err := cl.db.QueryRowContext(WithReplica(rtBG), "SELECT node WHERE 1 = ?", 1).Scan(&n); err != nil {
			t.Fatal(err)
		}
		got[n]++
	}
	if got["r1"] != 5 || got["r2"] != 5 {
		t.Errorf("round robin with ErrSkip: %v, want 5/5", got)
	}

	// In automatic mode an Exec goes to the primary, also when the server
	// makes database/sql prepare it (a read through Exec included).
	auto := rtFakeCluster(t, "mysql://u@p/db?aiodb_route=auto mysql://u@r1/db")
	for _, f := range auto.nodes {
		f.skipArgs = true
	}
	if _, err := auto.db.Exec("SELECT node WHERE 1 = ?", 1); err != nil {
		t.Fatal(err)
	}
	if got := auto.node("p").count("PREPARE SELECT node WHERE 1 = ?"); got != 1 || len(auto.node("r1").statements()) != 0 {
		t.Errorf("auto Exec with ErrSkip: primary %q, r1 %q", auto.node("p").statements(), auto.node("r1").statements())
	}
	var n string
	if err := auto.db.QueryRow("SELECT node WHERE 1 = ?", 1).Scan(&n); err != nil || n != "r1" {
		t.Errorf("auto Query with ErrSkip ran on %q (%v), want r1", n, err)
	}
}

// TestReplicaDownFailover: a replica that refuses connections is taken out;
// reads go to the other one, then (both down) to the primary's read-only
// session, or fail with ErrNoReplica under aiodb_fallback=none.
func TestReplicaDownFailover(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1 sqlite:///r2")
	cl.node("r1").setDown(true)
	for range 10 {
		if n, err := rtRead(WithReplica(rtBG), cl.db); err != nil || n != "r2" {
			t.Fatalf("read on %q (%v), want r2", n, err)
		}
	}
	st, _ := Stats(cl.db)
	if !st[1].Down || st[1].Healthy || st[1].Failures == 0 || !strings.Contains(st[1].LastErr, "refused") {
		t.Errorf("r1 stats %+v: want down with its error", st[1])
	}
	cl.node("r2").setDown(true)
	for range 3 {
		if n, err := rtRead(WithReplica(rtBG), cl.db); err != nil || n != "p" {
			t.Fatalf("read on %q (%v), want the primary", n, err)
		}
	}
	if c := cl.node("p").count("PRAGMA query_only = ON"); c != 1 {
		t.Errorf("primary got %d read-only session statements, want 1: %q", c, cl.node("p").statements())
	}
	if _, err := cl.db.ExecContext(WithReplica(rtBG), "DELETE FROM t"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write while falling back: %v, want ErrReadOnly", err)
	}

	none := rtFakeCluster(t, "sqlite:///p?aiodb_fallback=none sqlite:///r1 sqlite:///r2")
	none.node("r1").setDown(true)
	none.node("r2").setDown(true)
	_, err := rtRead(WithReplica(rtBG), none.db)
	if !errors.Is(err, ErrNoReplica) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("fallback=none, all down: %v, want ErrNoReplica with the last error", err)
	}
	if len(none.node("p").statements()) != 0 {
		t.Errorf("primary received %q with fallback=none", none.node("p").statements())
	}
	// Auto mode does not need a replica: it reads on the primary itself.
	auto := rtFakeCluster(t, "sqlite:///p?aiodb_fallback=none&aiodb_route=auto sqlite:///r1")
	auto.node("r1").setDown(true)
	if n, err := rtRead(rtBG, auto.db); err != nil || n != "p" {
		t.Errorf("auto with no replica: %q %v", n, err)
	}
	if c := auto.node("p").count("PRAGMA query_only = ON"); c != 0 {
		t.Errorf("auto fallback opened a read-only session on the primary")
	}
}

// TestReplicaRetryOnce: a read whose session broke (the replica restarted)
// or whose rows fail before the first row runs again on the other replica:
// the caller sees no error.
func TestReplicaRetryOnce(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1 sqlite:///r2")
	cl.db.SetMaxOpenConns(1)
	ro := WithReplica(rtBG)
	for range 4 { // open a session on both replicas
		if _, err := rtRead(ro, cl.db); err != nil {
			t.Fatal(err)
		}
	}
	cl.node("r1").restart() // sessions broken, node reachable
	for i := range 6 {
		if _, err := rtRead(ro, cl.db); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	// Rows that fail before the first row, on one node: the read runs again
	// elsewhere. (With both failing once, the retry could meet the other
	// failure, or a background probe could have consumed it: not deterministic.)
	cl.node("r1").mu.Lock()
	cl.node("r1").failRows = 1
	cl.node("r1").mu.Unlock()
	for i := range 4 {
		if _, err := rtRead(ro, cl.db); err != nil {
			t.Fatalf("read %d with failing rows: %v", i, err)
		}
	}
	// Only once: with both failing, the error surfaces.
	cl2 := rtFakeCluster(t, "sqlite:///p?aiodb_fallback=none sqlite:///r1 sqlite:///r2")
	for _, n := range []string{"r1", "r2"} {
		f := cl2.node(n)
		f.mu.Lock()
		f.failRows = 100
		f.mu.Unlock()
	}
	if _, err := rtRead(ro, cl2.db); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("both failing: %v, want the error", err)
	}
	// Never inside a transaction: the error surfaces, the tx stays on its node.
	cl3 := rtFakeCluster(t, "sqlite:///p sqlite:///r1 sqlite:///r2")
	tx, err := cl3.db.BeginTx(ro, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cl3.node("r1").restart()
	var s string
	if err := tx.QueryRowContext(ro, "SELECT node").Scan(&s); err == nil {
		t.Errorf("read in a tx on a broken session ran on %s", s)
	}
	tx.Rollback()
}

// TestRouterBackoffDoubling: a failure takes a replica out for minBackoff; each
// failed half-open probe doubles it up to maxBackoff; statements failing
// while it is out do not extend it; a successful probe re-admits it.
func TestRouterBackoffDoubling(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1")
	r, n := cl.c.router, cl.c.replicas[0]
	backoff := func() (time.Duration, bool) {
		n.health.mu.Lock()
		defer n.health.mu.Unlock()
		return n.health.backoff, n.health.down
	}
	boom := errors.New("boom")
	gen := n.health.gen.Load()
	r.fail(n, boom)
	if d, down := backoff(); d != time.Second || !down {
		t.Fatalf("after a failure: %v %v", d, down)
	}
	if n.health.gen.Load() != gen+1 {
		t.Error("taking a node out must bump its generation")
	}
	r.fail(n, boom) // a concurrent statement failure: no change
	if d, _ := backoff(); d != time.Second {
		t.Fatalf("statement failure while out: %v, want 1s", d)
	}
	for _, want := range []time.Duration{2, 4, 8, 16, 32, 60, 60} {
		r.probed(n, 0, false, boom)
		if d, _ := backoff(); d != want*time.Second {
			t.Fatalf("after failed probe: %v, want %v", d, want*time.Second)
		}
	}
	if n.health.failures.Load() != 9 {
		t.Errorf("failures = %d, want 9", n.health.failures.Load())
	}
	if r.usable(n) {
		t.Error("a node in back-off is usable")
	}
	r.probed(n, 0, true, nil)
	if d, down := backoff(); d != 0 || down || !r.usable(n) {
		t.Errorf("after a good probe: %v %v", d, down)
	}
	r.probed(n, 0, false, boom) // a probe failing on a node that is up
	if d, down := backoff(); d != time.Second || !down {
		t.Errorf("probe failure on an up node: %v %v", d, down)
	}
}

// TestReplicaReadmission: a replica that went down is probed after its
// back-off and used again once it answers; nothing is re-admitted before a
// probe succeeds.
func TestReplicaReadmission(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1 sqlite:///r2", rtFast)
	ro := WithReplica(rtBG)
	rtRead(ro, cl.db) // starts the checker
	cl.node("r1").setDown(true)
	rtEventually(t, 5*time.Second, "r1 taken out", func() bool {
		st, _ := Stats(cl.db)
		return st[1].Down
	})
	for range 20 {
		if n, err := rtRead(ro, cl.db); err != nil || n != "r2" {
			t.Fatalf("read on %q (%v) while r1 is down", n, err)
		}
	}
	rtEventually(t, 10*time.Second, "several failed half-open probes on r1", func() bool {
		st, _ := Stats(cl.db)
		return st[1].Failures >= 2
	})
	if st, _ := Stats(cl.db); !st[1].Down || st[1].Failures < 2 {
		t.Errorf("r1 while down: %+v", st[1])
	}
	cl.node("r1").setDown(false)
	rtEventually(t, 5*time.Second, "r1 re-admitted", func() bool {
		st, _ := Stats(cl.db)
		return !st[1].Down && st[1].Healthy
	})
	got := map[string]int{}
	for range 10 {
		n, err := rtRead(ro, cl.db)
		if err != nil {
			t.Fatal(err)
		}
		got[n]++
	}
	if got["r1"] == 0 {
		t.Errorf("r1 not used after re-admission: %v", got)
	}
}

// TestReplicaMaxLag: a replica measured beyond aiodb_max_lag is skipped
// (without being taken out) and used again once it catches up; an unknown
// lag counts as too much.
func TestReplicaMaxLag(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p?aiodb_max_lag=1s sqlite:///r1 sqlite:///r2", rtFast)
	ro := WithReplica(rtBG)
	rtRead(ro, cl.db)
	rtEventually(t, 5*time.Second, "lag measured", func() bool {
		st, _ := Stats(cl.db)
		return st[1].LagKnown && st[2].LagKnown && st[1].Healthy && st[2].Healthy
	})
	cl.setLag("r1", 5*time.Second)
	rtEventually(t, 5*time.Second, "r1 lagging", func() bool {
		st, _ := Stats(cl.db)
		return !st[1].Healthy && !st[1].Down && st[1].Lag == 5*time.Second
	})
	for range 10 {
		if n, err := rtRead(ro, cl.db); err != nil || n != "r2" {
			t.Fatalf("read on %q (%v) while r1 lags", n, err)
		}
	}
	cl.setLag("r1", 10*time.Millisecond)
	rtEventually(t, 5*time.Second, "r1 caught up", func() bool {
		st, _ := Stats(cl.db)
		return st[1].Healthy
	})
	got := map[string]int{}
	for range 10 {
		n, _ := rtRead(ro, cl.db)
		got[n]++
	}
	if got["r1"] != 5 {
		t.Errorf("after catching up: %v", got)
	}
}

// TestStatsNotAiodb: Stats of another driver's *sql.DB is an error.
func TestStatsNotAiodb(t *testing.T) {
	db, _, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Stats(db); err == nil || !strings.Contains(err.Error(), "not aiodb") {
		t.Errorf("Stats(sqlmock) = %v", err)
	}
}

// TestRouterCloseNoLeak: the checker and its probes stop with db.Close.
func TestRouterCloseNoLeak(t *testing.T) {
	opts := goleak.IgnoreCurrent()
	cfg, err := ParseDSN("sqlite:///p sqlite:///r1 sqlite:///r2")
	if err != nil {
		t.Fatal(err)
	}
	fake := func(n Node, _ string) (driver.Connector, error) { return &rtNode{name: rtHost(n.URL)}, nil }
	c, err := newConnectorWith(cfg, fake)
	if err != nil {
		t.Fatal(err)
	}
	rtFast(c)
	var probes atomic.Int64
	c.router.probeFunc = func(ctx context.Context, n *node) (time.Duration, bool, error) {
		probes.Add(1)
		select { // a slow probe still in flight at Close
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
		}
		return 0, true, nil
	}
	db := sql.OpenDB(c)
	for range 5 {
		if _, err := rtRead(WithReplica(rtBG), db); err != nil {
			t.Fatal(err)
		}
	}
	rtEventually(t, 5*time.Second, "probes ran", func() bool { return probes.Load() > 4 })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, opts)
	// A connector closed before any statement never starts a checker.
	c2, _ := newConnectorWith(cfg, fake)
	c2.Close()
	c2.router.start()
	goleak.VerifyNone(t, opts)
}

// TestRouterLogging: routing decisions are logged at debug level with the
// statement (node, reason, the nodes that failed under it, a refusal), node
// failures at warn, and no password ever appears.
func TestRouterLogging(t *testing.T) {
	const secret = "s3cr3t-pw"
	var buf rtLogBuf
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl := rtFakeCluster(t, "postgres://u:"+secret+"@p/db postgres://u:"+secret+"@r1/db postgres://u:"+secret+"@r2/db",
		func(c *connector) { c.log = log; c.addHooks(logHook{log: log}) })
	// A node whose connect error quotes its DSN, password included.
	cl.c.replicas[0].backend = rtFailConnector{msg: "cannot connect to postgres://u:" + secret + "@r1/db"}
	for range 3 {
		if _, err := rtRead(WithReplica(rtBG), cl.db); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.db.ExecContext(WithReplica(rtBG), "DELETE FROM t"); !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
	st, _ := Stats(cl.db)
	out := buf.String()
	for _, want := range []string{
		"node=postgres://u:xxxxx@r2/db reason=replica",
		"retries=\"postgres://u:xxxxx@r1/db: aiodb: connect postgres://u:xxxxx@r1/db: cannot connect to postgres://u:xxxxx@r1/db\"",
		"level=WARN msg=\"aiodb: replica down\" node=postgres://u:xxxxx@r1/db",
		"level=DEBUG msg=\"aiodb: statement\" op=exec query=\"DELETE FROM t\" reason=replica",
		"read-only session opened",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secret) || strings.Contains(st[1].LastErr, secret) {
		t.Errorf("password in log or stats:\n%s\n%s", out, st[1].LastErr)
	}
	if !strings.Contains(st[1].LastErr, "xxxxx") {
		t.Errorf("LastErr %q", st[1].LastErr)
	}
}

type rtFailConnector struct{ msg string }

func (f rtFailConnector) Connect(context.Context) (driver.Conn, error) { return nil, errors.New(f.msg) }
func (f rtFailConnector) Driver() driver.Driver                        { return nil }

type rtLogBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *rtLogBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *rtLogBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRouterConcurrent hammers one connector from many goroutines while a
// replica goes down, restarts and comes back, the checker runs and Stats is
// read: run with -race. Every read must succeed: a read that meets the
// flapping replica runs again once on another node, and the others stay up.
// (With every replica flapping a read can meet two broken sessions in a
// row, and one retry is the contract: the read fails, rightly.)
func TestRouterConcurrent(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1 sqlite:///r2 sqlite:///r3", rtFast)
	cl.db.SetMaxOpenConns(8)
	ctx, cancel := context.WithTimeout(rtBG, 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var reads, fails atomic.Int64
	var firstErr atomic.Value
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := rtRead(WithReplica(rtBG), cl.db); err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	flapper := cl.node("r1")
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			switch i % 4 {
			case 0:
				flapper.setDown(true)
			case 1:
				flapper.setDown(false)
			case 2:
				flapper.restart()
			}
			Stats(cl.db)
			time.Sleep(15 * time.Millisecond)
		}
	}()
	wg.Wait()
	if fails.Load() != 0 {
		t.Errorf("%d of %d reads failed, first: %v", fails.Load(), reads.Load(), firstErr.Load())
	}
	if st := nodeStats(t, cl.db); st[1].Failures == 0 || st[1].Served == 0 {
		t.Errorf("the flapping replica was not exercised: %+v", st[1])
	}
	t.Logf("%d reads", reads.Load())
}

// ---------------------------------------------------------------- errors

func TestRouterNodeFailureErrors(t *testing.T) {
	b := &bconn{Conn: &rtConn{f: &rtNode{}}}
	pg := func(sev, code string) error {
		return fmt.Errorf("wrapped: %w", &pgconn.PgError{Severity: sev, Code: code, Message: "m"})
	}
	my := func(n uint16, msg string) error { return &mysql.MySQLError{Number: n, Message: msg} }
	for _, tc := range []struct {
		err              error
		failure, refusal bool
	}{
		{pg("FATAL", "57P01"), true, false},  // admin shutdown
		{pg("ERROR", "57P03"), true, false},  // cannot connect now
		{pg("ERROR", "08006"), true, false},  // connection failure
		{pg("ERROR", "42P01"), false, false}, // undefined table
		{pg("ERROR", "57014"), false, false}, // query canceled
		{pg("ERROR", "25006"), false, true},  // read-only transaction
		{my(1053, "Server shutdown in progress"), true, false},
		{my(1927, "Connection was killed"), true, false},
		{my(1064, "syntax"), false, false},
		{my(1792, "Cannot execute statement in a READ ONLY transaction"), false, true},
		{my(1836, "Running in read-only mode"), false, true},
		{my(1290, "The MariaDB server is running with the --read-only option so it cannot execute this statement"), false, true},
		{my(1290, "The MySQL server is running with the --secure-file-priv option"), false, false},
		{sqliteReadOnlyErr(t), false, true},
		{driver.ErrBadConn, true, false},
		{io.ErrUnexpectedEOF, true, false},
		{mysql.ErrInvalidConn, true, false},
		{context.Canceled, false, false},
		{driver.ErrSkip, false, false},
		{errors.New("failed to encode argument"), false, false},
	} {
		if got := nodeFailure(b, tc.err); got != tc.failure {
			t.Errorf("nodeFailure(%v) = %v", tc.err, got)
		}
		if got := readOnlyRefusal(b, tc.err); got != tc.refusal {
			t.Errorf("readOnlyRefusal(%v) = %v", tc.err, got)
		}
	}
	if !nodeFailure(newBconn(&rtConn{closed: true, f: &rtNode{}}, nil), errors.New("x")) {
		t.Error("an error that closed the session is a node failure")
	}
}

// sqliteReadOnlyErr provokes a genuine SQLITE_READONLY *sqlite.Error.
func sqliteReadOnlyErr(t *testing.T) error {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"CREATE TABLE t (a int)", "PRAGMA query_only = ON"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	_, err = db.Exec("INSERT INTO t VALUES (1)")
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_READONLY {
		t.Fatalf("query_only write: %v", err)
	}
	return err
}

func TestParsePositionAndLag(t *testing.T) {
	lsn, ok := parsePosition("16/B374D848")
	if !ok || lsn.lsn != 0x16<<32|0xB374D848 {
		t.Fatalf("LSN: %+v", lsn)
	}
	small, _ := parsePosition([]byte("0/3000000"))
	if !small.le(lsn) || lsn.le(small) || !lsn.le(lsn) {
		t.Error("LSN order")
	}
	g1, ok1 := parsePosition("0-1-2312,1-2-7")
	g2, ok2 := parsePosition([]byte("0-2-2312, 1-2-9"))
	empty, ok3 := parsePosition("")
	if !ok1 || !ok2 || !ok3 || !g1.le(g2) || g2.le(g1) || !empty.le(g1) || g1.le(empty) {
		t.Errorf("GTID order: %+v %+v %+v", g1, g2, empty)
	}
	for _, bad := range []driver.Value{nil, 12, "x/y", "0-1", "a-b-c"} {
		if _, ok := parsePosition(bad); ok {
			t.Errorf("parsePosition(%v) ok", bad)
		}
	}
	now := time.Now()
	hist := []posMark{{small, now.Add(-10 * time.Second)}, {lsn, now.Add(-time.Second)}}
	if d, ok := lagFrom(hist, lsn); !ok || d < time.Second || d > 2*time.Second {
		t.Errorf("lagFrom at the newest: %v %v", d, ok)
	}
	mid, _ := parsePosition("1/0")
	if d, ok := lagFrom(hist, mid); !ok || d < 10*time.Second {
		t.Errorf("lagFrom between: %v %v", d, ok)
	}
	if _, ok := lagFrom(hist, position{lsn: 1, ok: true}); ok {
		t.Error("lagFrom before all history")
	}
	for _, v := range []driver.Value{1.5, int64(2), []byte("3.25"), "4"} {
		if _, ok := floatValue(v); !ok {
			t.Errorf("floatValue(%v)", v)
		}
	}
	if _, ok := floatValue(nil); ok {
		t.Error("floatValue(nil) ok")
	}
}

// TestReplicaClosedSessionReopened: a session the backend closed by itself
// (a cancelled query closes a pgx connection) is reopened quietly: the node
// is not taken out.
func TestReplicaClosedSessionReopened(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1")
	cl.db.SetMaxOpenConns(1)
	if _, err := rtRead(WithReplica(rtBG), cl.db); err != nil {
		t.Fatal(err)
	}
	sc, err := cl.db.Conn(rtBG)
	if err != nil {
		t.Fatal(err)
	}
	sc.Raw(func(dc any) error {
		c := dc.(*conn)
		c.ro[c.connector.replicas[0]].Conn.(*rtConn).closed = true
		return nil
	})
	sc.Close()
	if n, err := rtRead(WithReplica(rtBG), cl.db); err != nil || n != "r1" {
		t.Fatalf("read after the session closed: %q %v", n, err)
	}
	if st, _ := Stats(cl.db); st[1].Down || st[1].Failures != 0 {
		t.Errorf("a closed session took the node out: %+v", st[1])
	}
	if got := cl.node("r1").opened; got != 2 {
		t.Errorf("r1 sessions opened: %d, want 2", got)
	}
}

// TestMalformedQueryDialsNoReplica checks that a query whose placeholders
// cannot be rewritten fails before it is routed: it costs no replica
// session.
func TestMalformedQueryDialsNoReplica(t *testing.T) {
	cl := rtFakeCluster(t, "sqlite:///p sqlite:///r1")
	_, err := cl.db.QueryContext(WithReplica(rtBG), "SELECT $1, ?", 1)
	if !errors.Is(err, ErrPlaceholder) {
		t.Fatalf("err = %v, want ErrPlaceholder", err)
	}
	r1 := cl.node("r1")
	r1.mu.Lock()
	defer r1.mu.Unlock()
	if r1.opened != 0 {
		t.Errorf("the replica was dialled %d time(s) for a query that cannot run", r1.opened)
	}
}

// TestWriterMoveClosesOldSession: once another node is the write target, a
// pooled connection's session on the old primary is closed as soon as the
// pool hands the connection out again (ResetSession), even for a read, and
// the next write goes to the new primary.
func TestWriterMoveClosesOldSession(t *testing.T) {
	cl := rtFakeCluster(t, "postgres://u@p/db postgres://u@r1/db")
	cl.db.SetMaxOpenConns(1)
	if _, err := cl.db.Exec("UPDATE t SET v = 1"); err != nil {
		t.Fatal(err)
	}
	p, r1 := cl.node("p"), cl.node("r1")
	cl.c.router.elected.Store(&election{node: cl.c.replicas[0]}) // what the checker does when r1 reports itself writable
	if _, err := rtRead(WithReplica(rtBG), cl.db); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed != 1 {
		t.Errorf("sessions closed on the old primary after the pool reused the connection: %d, want 1", closed)
	}
	if _, err := cl.db.Exec("UPDATE t SET v = 2"); err != nil {
		t.Fatal(err)
	}
	if p.count("UPDATE t SET v = 2") != 0 || r1.count("UPDATE t SET v = 2") != 1 {
		t.Errorf("the write after the move: old primary %v, new primary %v", p.statements(), r1.statements())
	}
}

// TestReplicaReadsNeverDialThePrimary: a pool connection that only serves
// replica reads never opens a primary session, not when it is opened, not
// when database/sql resets or validates it for reuse: reads go on while the
// primary is down.
// TestReplicaReadsWithArgumentsDialNoPrimary: database/sql asks the
// connection to check each argument before the statement is routed. On
// PostgreSQL (pgx's checker needs no connection) a replica read never
// dials the primary for it; on a backend whose connections have no checker
// the primary is dialled at most once per *sql.DB to learn that, not once
// per connection.
func TestReplicaReadsWithArgumentsDialNoPrimary(t *testing.T) {
	for dsn, most := range map[string]int{
		"postgres://u@p/db postgres://u@r1/db":              0,
		"mysql://u@p/db?aiodb_stmt_cache=0 mysql://u@r1/db": 1,
	} {
		cl := rtFakeCluster(t, dsn)
		cl.db.SetMaxIdleConns(0) // a new connection for every read
		for i := range 5 {
			var name string
			if err := cl.db.QueryRowContext(WithReplica(rtBG), "SELECT node WHERE 1 = ?", i).Scan(&name); err != nil {
				t.Fatal(err)
			}
		}
		p := cl.node("p")
		p.mu.Lock()
		opened := p.opened
		p.mu.Unlock()
		if opened > most {
			t.Errorf("%s: replica reads with an argument dialled the primary %d times, want at most %d", dsn, opened, most)
		}
	}
}

func TestReplicaReadsNeverDialThePrimary(t *testing.T) {
	cl := rtFakeCluster(t, "postgres://u@p/db postgres://u@r1/db")
	cl.db.SetMaxOpenConns(1)
	p := cl.node("p")
	for range 5 { // the same pooled connection, reset and validated between reads
		if _, err := rtRead(WithReplica(rtBG), cl.db); err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	opened := p.opened
	p.mu.Unlock()
	if opened != 0 {
		t.Errorf("the primary was dialled %d times by replica reads", opened)
	}
	p.setDown(true)
	for range 3 {
		if _, err := rtRead(WithReplica(rtBG), cl.db); err != nil {
			t.Fatalf("replica read with the primary down: %v", err)
		}
	}
	if _, err := cl.db.Exec("UPDATE t SET v = 1"); !errors.Is(err, ErrPrimaryDown) {
		t.Errorf("write with the primary down: %v, want ErrPrimaryDown", err)
	}
}
