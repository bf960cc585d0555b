package ormtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", for raw-driver comparisons
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // "sqlite", for raw-driver comparisons

	"github.com/aiodb/aiodb"
)

// Environment variables naming the servers (see scripts/test.sh).
const (
	envPostgres = "AIODB_TEST_POSTGRES" // postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	envMySQL    = "AIODB_TEST_MYSQL"    // mysql://root@127.0.0.1:3306/test
)

func TestMain(m *testing.M) {
	// sqlx picks its bindvar style by driver name and does not know "aiodb"
	// (it would be UNKNOWN, which sqlx treats like ?). aiodb accepts $1, ?
	// and %s on every backend, so any style works; registering one makes
	// Rebind, In and NamedExec produce it. DOLLAR here, so that the "aiodb"
	// runs of the sqlx tests send $n even to MySQL and SQLite.
	sqlx.BindDriver(aiodb.DriverName, sqlx.DOLLAR)
	os.Exit(m.Run())
}

// kind is a backend family.
type kind string

const (
	sqliteKind   kind = "sqlite"
	postgresKind kind = "postgres"
	mysqlKind    kind = "mysql"
)

// backend is one database a test runs on.
type backend struct {
	kind kind
	env  string // the variable holding its DSN; "" for SQLite
}

var allBackends = []backend{{kind: sqliteKind}, {kind: postgresKind, env: envPostgres}, {kind: mysqlKind, env: envMySQL}}

// target is a fresh, empty database namespace on one backend, for one test.
type target struct {
	kind   kind
	dsn    string // aiodb DSN
	rawDrv string // database/sql driver name of the backend driver
	rawDSN string // the same database, in the backend driver's DSN form
	db     *sql.DB
}

// eachBackend runs f as a subtest per backend, each with a fresh namespace
// and an aiodb *sql.DB on it. A server whose variable is unset is skipped
// with the reason, or fails the test when CI is set.
func eachBackend(t *testing.T, f func(t *testing.T, tg *target)) {
	t.Helper()
	onBackends(t, allBackends, f)
}

// onPostgres is eachBackend for a test that concerns PostgreSQL only.
func onPostgres(t *testing.T, f func(t *testing.T, tg *target)) {
	t.Helper()
	onBackends(t, allBackends[1:2], f)
}

func onBackends(t *testing.T, backends []backend, f func(t *testing.T, tg *target)) {
	t.Helper()
	for _, b := range backends {
		t.Run(string(b.kind), func(t *testing.T) {
			tg := b.open(t)
			f(t, tg)
		})
	}
}

var nsCounter atomic.Int64

// open makes the namespace: a temp SQLite file, a PostgreSQL schema
// (search_path in the DSN) or a MySQL database, removed when t ends.
func (b backend) open(t *testing.T) *target {
	t.Helper()
	if b.kind == sqliteKind {
		path := filepath.Join(t.TempDir(), "ormtest.db")
		q := "_pragma=busy_timeout(10000)"
		tg := &target{
			kind:   sqliteKind,
			dsn:    "sqlite:///" + path + "?" + q, // path is absolute: sqlite:////tmp/…
			rawDrv: "sqlite",
			rawDSN: "file:" + path + "?" + q,
		}
		tg.db = openAiodb(t, tg.dsn)
		return tg
	}
	base := os.Getenv(b.env)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI provides this server, so its tests must run (see scripts/test.sh)", b.env)
		}
		t.Skipf("%s not set: no %s server to test against (e.g. %s=%s)", b.env, b.kind, b.env, exampleDSN(b.kind))
	}
	ns := fmt.Sprintf("ormtest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, nsCounter.Add(1))
	admin := openAiodb(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(strings.Fields(base)[0])
	if err != nil {
		t.Fatalf("%s: %v", b.env, err)
	}
	q := u.Query()
	tg := &target{kind: b.kind}
	switch b.kind {
	case postgresKind:
		mustExec(t, admin, ctx, "CREATE SCHEMA "+ns)
		t.Cleanup(func() { dropNS(t, admin, "DROP SCHEMA "+ns+" CASCADE") })
		q.Set("search_path", ns)
		u.RawQuery = q.Encode()
		tg.dsn = u.String()
		tg.rawDrv, tg.rawDSN = "pgx", stripAiodbOptions(u)
	case mysqlKind:
		mustExec(t, admin, ctx, "CREATE DATABASE "+ns)
		t.Cleanup(func() { dropNS(t, admin, "DROP DATABASE "+ns) })
		// GORM and bun scan DATETIME columns into time.Time: as with the raw
		// driver, that needs parseTime=true.
		q.Set("parseTime", "true")
		u.Path = "/" + ns
		u.RawQuery = q.Encode()
		tg.dsn = u.String()
		tg.rawDrv, tg.rawDSN = "mysql", mysqlRawDSN(t, u)
	}
	tg.db = openAiodb(t, tg.dsn)
	return tg
}

func exampleDSN(k kind) string {
	if k == postgresKind {
		return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	return "mysql://root@127.0.0.1:3306/test"
}

// dropNS runs after the test's own cleanups (t.Cleanup is LIFO and the
// namespace's is registered before the test's *sql.DB).
func dropNS(t *testing.T, admin *sql.DB, stmt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		t.Errorf("cleanup %q: %v", stmt, err)
	}
}

func stripAiodbOptions(u *url.URL) string {
	v := *u
	q := v.Query()
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), aiodb.OptionPrefix) {
			q.Del(k)
		}
	}
	v.RawQuery = q.Encode()
	return v.String()
}

// mysqlRawDSN writes go-sql-driver/mysql's DSN for a mysql:// URL.
func mysqlRawDSN(t *testing.T, u *url.URL) string {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr += ":3306"
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.ParseTime = u.Query().Get("parseTime") == "true"
	return cfg.FormatDSN()
}

// openAiodb opens dsn with the aiodb driver, closed when t ends.
func openAiodb(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(aiodb.DriverName, dsn)
	if err != nil {
		t.Fatalf("sql.Open(aiodb): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("ping %s: %v", db.Driver(), err)
	}
	return db
}

// rawSavepointsAllow is the DSN option that lets GORM's and bun's own
// SAVEPOINT statements through while aiodb has no nested level open.
const rawSavepointsAllow = "aiodb_raw_savepoints=allow"

// withOption opens the target's database with aiodb, its DSN extended by
// one more option ("key=value"), closed when t ends.
func (tg *target) withOption(t *testing.T, opt string) *sql.DB {
	t.Helper()
	sep := "?"
	if strings.Contains(tg.dsn, "?") {
		sep = "&"
	}
	return openAiodb(t, tg.dsn+sep+opt)
}

// raw opens the target's database with the backend driver itself.
func (tg *target) raw(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open(tg.rawDrv, tg.rawDSN)
	if err != nil {
		t.Fatalf("sql.Open(%s): %v", tg.rawDrv, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, ctx context.Context, query string, args ...any) sql.Result {
	t.Helper()
	r, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return r
}

// testCtx is the test's context with a deadline, so a hang fails quickly.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tricky is a string value full of what a placeholder rewriter could take
// for a placeholder or a quote: it must come back unchanged.
const tricky = `it's 50% done? $1 :name @p1 %s \ "q" ?`
