package aiodb

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aiodb/aiodb/internal/testserver"
)

// events is a Hook that keeps what it observes.
type events struct {
	mu sync.Mutex
	es []*Event
}

func (h *events) Observe(_ context.Context, e *Event) {
	h.mu.Lock()
	h.es = append(h.es, e)
	h.mu.Unlock()
}

// take returns the events observed since the last take.
func (h *events) take() []*Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	es := h.es
	h.es = nil
	return es
}

// one returns the only event observed since the last take.
func (h *events) one(t *testing.T, what string) *Event {
	t.Helper()
	es := h.take()
	if len(es) != 1 {
		for _, e := range es {
			t.Logf("event %+v", *e)
		}
		t.Fatalf("%s: %d events, want 1", what, len(es))
	}
	return es[0]
}

// TestHookEvents: every statement path reports one event with its node,
// reason, rewritten text, rows affected and error; a write refused in a
// replica context names no node.
func TestHookEvents(t *testing.T) {
	ctx := context.Background()
	h := &events{}
	db, err := Open("sqlite:///"+t.TempDir()+"/hook.db", Hooks(h))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sdb := db.DB()
	if _, err := sdb.ExecContext(ctx, "CREATE TABLE hook_t (id INT)"); err != nil {
		t.Fatal(err)
	}
	e := h.one(t, "CREATE")
	if e.Op != OpExec || e.Operation != "CREATE TABLE" || e.Reason != ReasonPrimary || !e.Node.Primary || e.Node.URL == "" || e.Err != nil || e.Duration <= 0 || e.Start.IsZero() {
		t.Errorf("CREATE: %+v", *e)
	}

	if _, err := sdb.ExecContext(ctx, "INSERT INTO hook_t VALUES ($1), ($2)", 1, 2); err != nil {
		t.Fatal(err)
	}
	e = h.one(t, "INSERT")
	if e.Operation != "INSERT" || e.Rewritten != "INSERT INTO hook_t VALUES (?1), (?2)" || e.RowsAffected != 2 || len(e.Args) != 2 || e.Database == "" || e.Dialect != SQLite {
		t.Errorf("INSERT: %+v", *e)
	}

	var n int
	if err := sdb.QueryRowContext(ctx, "SELECT count(*) FROM hook_t WHERE id > $1", 0).Scan(&n); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	e = h.one(t, "SELECT")
	if e.Op != OpQuery || e.Operation != "SELECT" || e.RowsAffected != -1 || e.Reason != ReasonPrimary {
		t.Errorf("SELECT: %+v", *e)
	}

	ro := WithReplica(ctx)
	if _, err := sdb.ExecContext(ro, "DELETE FROM hook_t"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Exec in a replica context: %v", err)
	}
	e = h.one(t, "refused DELETE")
	if !errors.Is(e.Err, ErrReadOnly) || e.Node != (NodeInfo{}) || e.Reason != ReasonReplica || e.Rewritten != "" || e.Operation != "DELETE" {
		t.Errorf("refused DELETE: %+v", *e)
	}
	if err := sdb.QueryRowContext(ro, "SELECT count(*) FROM hook_t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// No replica in the DSN: the read-only session on the primary serves.
	if e = h.one(t, "replica read"); e.Reason != ReasonFallback || !e.Node.Primary {
		t.Errorf("replica read: %+v", *e)
	}

	if _, err := sdb.ExecContext(ctx, "SELECT * FROM no_such_table"); err == nil {
		t.Fatal("no error")
	}
	if e = h.one(t, "failed"); e.Err == nil || e.Code != "1" || e.Node.URL == "" || e.RowsAffected != -1 {
		t.Errorf("failed statement: %+v", *e)
	}

	st, err := sdb.PrepareContext(ro, "SELECT id FROM hook_t WHERE id = $1")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.QueryRowContext(ctx, 1).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if e = h.one(t, "stmt.query"); e.Op != OpStmtQuery || e.Reason != ReasonFallback || e.Rewritten != "SELECT id FROM hook_t WHERE id = ?1" {
		t.Errorf("stmt.query: %+v", *e)
	}
	if _, err := st.ExecContext(ctx, 1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("stmt.exec in a replica context: %v", err)
	}
	if e = h.one(t, "refused stmt.exec"); e.Op != OpStmtExec || !errors.Is(e.Err, ErrReadOnly) || e.Node != (NodeInfo{}) {
		t.Errorf("refused stmt.exec: %+v", *e)
	}
	st.Close()

	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM hook_t WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	es := h.take()
	var got []string
	for _, e := range es {
		got = append(got, e.Op.String()+" "+e.Operation+" "+e.Reason.String())
	}
	if want := []string{"begin BEGIN primary", "exec DELETE transaction", "commit COMMIT transaction"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("transaction: %q, want %q", got, want)
	}
	if len(es) == 3 && (es[1].RowsAffected != 1 || es[2].Node.URL == "") {
		t.Errorf("transaction events: %+v %+v", *es[1], *es[2])
	}
}

// TestAddHook: a *sql.DB from sql.Open gets its hook through AddHook; a
// *sql.DB of another driver is refused with an error.
func TestAddHook(t *testing.T) {
	db, err := sql.Open(DriverName, "sqlite:///:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := &events{}
	if err := AddHook(db, h); err != nil {
		t.Fatal(err)
	}
	second := &events{}
	if err := AddHook(db, second); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if e := h.one(t, "first hook"); e.Database != "" || e.Node.Host != "" || e.Node.Port != 0 {
		t.Errorf("in-memory SQLite: %+v", *e)
	}
	second.one(t, "second hook")

	other, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := AddHook(other, h); err == nil || !strings.Contains(err.Error(), "not aiodb's") {
		t.Errorf("AddHook on another driver: %v", err)
	}
}

func TestAddress(t *testing.T) {
	for _, c := range []struct {
		d         Dialect
		url       string
		host      string
		port      int
		namespace string
	}{
		{PostgreSQL, "postgres://app:xxxxx@db.example:6543/shop?sslmode=disable", "db.example", 6543, "shop"},
		{PostgreSQL, "postgres://app@db.example/shop", "db.example", 5432, "shop"},
		{MySQL, "mysql://root@[::1]/test", "::1", 3306, "test"},
		{SQLite, "sqlite:///:memory:", "", 0, ""},
		{SQLite, "sqlite:////var/lib/app.db", "", 0, "/var/lib/app.db"},
		{ODBC, "odbc://pg?aiodb_odbc_dialect=postgres", "", 0, ""},
	} {
		host, port, ns := address(c.d, c.url)
		if host != c.host || port != c.port || ns != c.namespace {
			t.Errorf("%s: %q %d %q, want %q %d %q", c.url, host, port, ns, c.host, c.port, c.namespace)
		}
	}
}

func TestOperationName(t *testing.T) {
	for kind, want := range map[string]string{
		"SELECT": "SELECT", "SELECT … FOR UPDATE": "SELECT", "WITH … DELETE": "DELETE", "INSERT … RETURNING": "INSERT",
		"CREATE TABLE": "CREATE TABLE", "EXPLAIN ANALYZE DELETE": "EXPLAIN ANALYZE DELETE",
		"multiple statements": "", "unknown statement": "", "empty statement": "",
	} {
		if got := operationName(kind); got != want {
			t.Errorf("%q: %q, want %q", kind, got, want)
		}
	}
}

// TestHookRetryPostgres: a replica read whose first replica cannot be
// reached (nothing listens on its port) is retried on the next one, and
// the one event names both: the failed node in Retries, the standby that
// served as Node.
func TestHookRetryPostgres(t *testing.T) {
	dsn := testserver.DSN(t, "AIODB_TEST_POSTGRES_REPLICAS")
	lockStandbys(t, false)
	cfg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dead := strings.Replace(cfg.Replicas[0].backend, "@127.0.0.1:5433/", "@127.0.0.1:5499/", 1)
	if dead == cfg.Replicas[0].backend {
		t.Fatalf("the first replica of %s is not 127.0.0.1:5433", cfg)
	}
	h := &events{}
	db, err := Open(strings.Fields(dsn)[0]+" "+dead+" "+cfg.Replicas[0].backend, Hooks(h))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := FetchVal[int](WithReplica(context.Background()), db, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	e := h.one(t, "replica read")
	if len(e.Retries) != 1 || e.Retries[0].Node.Port != 5499 || e.Retries[0].Err == nil || e.Retries[0].Node.Primary {
		t.Errorf("retries: %+v", e.Retries)
	}
	if e.Node.Host != "127.0.0.1" || e.Node.Port != 5433 || e.Node.Primary || e.Reason != ReasonReplica || e.Err != nil {
		t.Errorf("event: %+v", *e)
	}
}

// TestQuietLoggerCostsNothing: with a Logger above debug level, a statement
// allocates no more than without a logger (no Event is built for a log
// that would drop it).
func TestQuietLoggerCostsNothing(t *testing.T) {
	ctx := context.Background()
	allocs := func(opts ...Option) float64 {
		db := openDB(t, sqliteBackend(t), opts...)
		tbl := sqliteBackend(t).table(t, db.DB(), "v INT")
		q := "INSERT INTO " + tbl + " VALUES (?)"
		return testing.AllocsPerRun(200, func() {
			if _, err := db.DB().ExecContext(ctx, q, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
	info := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if without, quiet := allocs(), allocs(Logger(info)); quiet > without {
		t.Errorf("an Exec with a Logger at info level allocates %.0f times, %.0f without a logger", quiet, without)
	}
}
