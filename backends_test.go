package aiodb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/aiodb/aiodb/internal/backend"
	"github.com/aiodb/aiodb/internal/testserver"
)

// The integration tests run one body on every backend: SQLite always, the
// servers when their environment variable holds a DSN (scripts/test.sh sets
// them). In CI (CI set) a missing variable fails the test; elsewhere the
// test skips, saying which variable is missing.
const (
	envPostgres = "AIODB_TEST_POSTGRES"
	envMySQL    = "AIODB_TEST_MYSQL"
	envODBC     = "AIODB_TEST_ODBC"
)

// server is one server under test.
type server struct {
	name    string
	dialect Dialect
	dsn     string // aiodb DSN
	raw     string // the backend driver's name in database/sql
	rawDSN  string // the DSN the backend driver takes for the same server
}

// sqliteBackend returns a fresh SQLite file database for one test: a file,
// so that the raw driver (whose :memory: is per connection) sees the same data.
func sqliteBackend(t testing.TB) server {
	path := filepath.Join(t.TempDir(), "test.db")
	return server{name: "sqlite", dialect: SQLite, dsn: "sqlite:///" + path, raw: "sqlite", rawDSN: path}
}

// serverBackend returns the backend whose DSN is in env, or skips (fails in CI).
func serverBackend(t testing.TB, env string) server {
	t.Helper()
	dsn := testserver.DSN(t, env)
	cfg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	b := server{dialect: cfg.Dialect, dsn: dsn, rawDSN: cfg.Primary.backend}
	switch cfg.Dialect {
	case PostgreSQL:
		b.name, b.raw = "postgres", "pgx"
	case MySQL:
		b.name, b.raw = "mysql", "mysql"
	case ODBC:
		if !backend.HasODBC() {
			t.Skipf("%s is set but this test binary was built without -tags odbc (scripts/test.sh runs that build too)", env)
		}
		b.name, b.raw = "odbc", "odbc"
	}
	return b
}

// eachBackend runs body once per server, as subtests named after them.
func eachBackend(t *testing.T, body func(t *testing.T, b server)) {
	t.Run("sqlite", func(t *testing.T) { body(t, sqliteBackend(t)) })
	for _, env := range []string{envPostgres, envMySQL, envODBC} {
		t.Run(env, func(t *testing.T) {
			b := serverBackend(t, env)
			body(t, b)
		})
	}
}

// open opens the aiodb *sql.DB of b and closes it when the test ends, after
// checking that the pool still works (a poisoned pool fails the test).
func (b server) open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(DriverName, b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.PingContext(context.Background()); err != nil {
			t.Errorf("pool unusable after the test: %v", err)
		}
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Errorf("pool unusable after the test: %v", err)
		}
		db.Close()
	})
	return db
}

// openRaw opens the backend driver directly on the same server.
func (b server) openRaw(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(b.raw, b.rawDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var tableSeq atomic.Int64

// table creates a uniquely named scratch table with the given column list
// (in the backend's syntax) and drops it when the test ends.
func (b server) table(t testing.TB, db *sql.DB, cols string) string {
	t.Helper()
	name := fmt.Sprintf("aiodb_t%d_%d", os.Getpid(), tableSeq.Add(1))
	if _, err := db.Exec("CREATE TABLE " + name + " (" + cols + ")"); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE " + name) })
	return name
}
