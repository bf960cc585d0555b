package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/jackc/pgx/v5"

	"github.com/aiodb/aiodb/internal/backend"
)

// legacyDriver is a driver with only the pre-context interfaces, like
// alexbrainman/odbc: Conn has Prepare, Close, Begin and optionally
// Execer/Queryer; Stmt has Exec and Query. It records what it receives.
type legacyDriver struct {
	mu       sync.Mutex
	log      []string
	withExec bool // the conn implements driver.Execer and driver.Queryer
}

func (d *legacyDriver) record(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log = append(d.log, s)
}

func (d *legacyDriver) Open(string) (driver.Conn, error) {
	if d.withExec {
		return &legacyExecConn{legacyConn{d}}, nil
	}
	return &legacyConn{d}, nil
}

type legacyConn struct{ d *legacyDriver }

func (c *legacyConn) Prepare(q string) (driver.Stmt, error) {
	c.d.record("prepare " + q)
	return &legacyStmt{c.d, q}, nil
}
func (c *legacyConn) Close() error              { return nil }
func (c *legacyConn) Begin() (driver.Tx, error) { c.d.record("begin"); return legacyTx{c.d}, nil }

type legacyExecConn struct{ legacyConn }

func (c *legacyExecConn) Exec(q string, args []driver.Value) (driver.Result, error) {
	c.d.record("conn.exec " + q)
	return driver.RowsAffected(len(args)), nil
}
func (c *legacyExecConn) Query(q string, args []driver.Value) (driver.Rows, error) {
	c.d.record("conn.query " + q)
	return &oneRow{v: args}, nil
}

type legacyTx struct{ d *legacyDriver }

func (t legacyTx) Commit() error   { t.d.record("commit"); return nil }
func (t legacyTx) Rollback() error { t.d.record("rollback"); return nil }

type legacyStmt struct {
	d *legacyDriver
	q string
}

func (s *legacyStmt) Close() error  { return nil }
func (s *legacyStmt) NumInput() int { return strings.Count(s.q, "?") }
func (s *legacyStmt) Exec(args []driver.Value) (driver.Result, error) {
	s.d.record("stmt.exec " + s.q)
	return driver.RowsAffected(len(args)), nil
}
func (s *legacyStmt) Query(args []driver.Value) (driver.Rows, error) {
	s.d.record("stmt.query " + s.q)
	return &oneRow{v: args}, nil
}

// oneRow returns its values as one row.
type oneRow struct {
	v    []driver.Value
	done bool
}

func (r *oneRow) Columns() []string {
	c := make([]string, len(r.v))
	for i := range c {
		c[i] = "c"
	}
	return c
}
func (r *oneRow) Close() error { return nil }
func (r *oneRow) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	copy(dest, r.v)
	return nil
}

// openOver opens aiodb with drv behind the primary of a MySQL DSN (so
// placeholders are ?), and the same driver raw, for side-by-side checks.
func openOver(t *testing.T, drv driver.Driver) (aiodb, raw *sql.DB) {
	t.Helper()
	cfg, err := ParseDSN("mysql://u@fake/db")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConnectorWith(cfg, func(Node, string) (driver.Connector, error) {
		return backend.DSNConnector{DSN: "fake", Drv: drv}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	aiodb, raw = sql.OpenDB(c), sql.OpenDB(backend.DSNConnector{DSN: "fake", Drv: drv})
	t.Cleanup(func() { aiodb.Close(); raw.Close() })
	return aiodb, raw
}

// TestLegacyDriver checks that a driver with only legacy interfaces behaves
// through aiodb as it does raw: the same calls reach it, the same options
// are refused, the same values are converted.
func TestLegacyDriver(t *testing.T) {
	for _, withExec := range []bool{false, true} {
		d := &legacyDriver{withExec: withExec}
		adb, rdb := openOver(t, d)
		var logs [2][]string
		for i, db := range []*sql.DB{adb, rdb} {
			d.log = nil
			if _, err := db.Exec("UPDATE t SET x = ?", 1); err != nil {
				t.Fatal(err)
			}
			var v int64
			if err := db.QueryRow("SELECT ?", 7).Scan(&v); err != nil || v != 7 {
				t.Fatalf("query: %v %v", v, err)
			}
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			tx.Commit()
			// Refused conversions below fail before anything reaches aiodb's
			// conn, where raw database/sql first prepares the statement for a
			// driver without Execer: compare what the driver saw up to here.
			logs[i] = d.log
			ctx := context.Background()
			_, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
			if err == nil || !strings.Contains(err.Error(), "non-default isolation level") {
				t.Errorf("isolation on a legacy driver: %v", err)
			}
			_, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("read-only on a legacy driver: %v", err)
			}
			// The default converter applies on both: uint64 with the high bit set is refused.
			_, err = db.Exec("UPDATE t SET x = ?", uint64(math.MaxUint64))
			if err == nil {
				t.Error("uint64 overflow accepted")
			}
			if _, err := db.Exec("SELECT ?", sql.Named("n", 1)); err == nil {
				t.Error("named argument accepted by a legacy driver")
			}
			if err := db.Ping(); err != nil {
				t.Errorf("ping: %v", err)
			}
		}
		if strings.Join(logs[0], "|") != strings.Join(logs[1], "|") {
			t.Errorf("withExec=%v: the driver saw\n aiodb %q\n raw   %q", withExec, logs[0], logs[1])
		}
	}
}

// TestCheckNamedValueForwarded: pgx accepts any Go value through its
// NamedValueChecker; the wrapper must not fall back to the default converter.
func TestCheckNamedValueForwarded(t *testing.T) {
	b := serverBackend(t, envPostgres)
	db := b.open(t)
	var got string
	if err := db.QueryRow("SELECT array_to_string($1::int8[], ',')", []int64{1, 2, 3}).Scan(&got); err != nil || got != "1,2,3" {
		t.Fatalf("slice argument through pgx: %q %v", got, err)
	}
}

// TestBackendDSNErrorsHidePassword: the backends' own DSN parsers quote
// what they were given; aiodb's errors must not carry the password.
func TestBackendDSNErrorsHidePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:hunter2@h/db?sslmode=bogus",
		"postgres://u:hunter2@h/db?connect_timeout=soon",
		"postgres://u:hunter2@h:99999999/db",
		"mysql://u:hunter2@h/db?timeout=soon",
		"mysql://u:hunter2@h/db?loc=Nowhere/Else",
		"mysql://u:hunter2@h/db?tls=bogus",
		"mysql://u:hunter2@h/db?%zz=1",
	} {
		_, err := Driver{}.OpenConnector(dsn)
		if !errors.Is(err, ErrBadDSN) {
			t.Errorf("%s: %v, want ErrBadDSN", redactURL(dsn), err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("password in %q", err)
		}
	}
}

// TestODBCWithoutTag: without -tags odbc an odbc:// DSN says how to get it.
func TestODBCWithoutTag(t *testing.T) {
	if backend.HasODBC() {
		t.Skip("built with -tags odbc: the ODBC backend is present")
	}
	_, err := sql.Open(DriverName, "odbc://pg")
	if !errors.Is(err, ErrBadDSN) || !strings.Contains(err.Error(), "-tags odbc") {
		t.Fatalf("got %v", err)
	}
}

// TestMemoryDatabaseShared: sqlite:///:memory: is one database for every
// connection of a *sql.DB, and a different one for another *sql.DB.
func TestMemoryDatabaseShared(t *testing.T) {
	db := sqliteMemory(t)
	ctx := context.Background()
	c1, _ := db.Conn(ctx)
	c2, _ := db.Conn(ctx)
	defer c1.Close()
	defer c2.Close()
	if _, err := c1.ExecContext(ctx, "CREATE TABLE m (x INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ExecContext(ctx, "INSERT INTO m VALUES (1)"); err != nil {
		t.Fatalf("second connection does not see the table: %v", err)
	}
	db.SetMaxIdleConns(0) // closing every pooled connection must not lose the data
	c1.Close()
	c2.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM m").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the pool emptied: %d %v", n, err)
	}
	if _, err := sqliteMemory(t).Exec("SELECT * FROM m"); err == nil {
		t.Error("another *sql.DB sees the same in-memory database")
	}
}

func sqliteMemory(t *testing.T) *sql.DB {
	db, err := sql.Open(DriverName, "sqlite:///:memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestApplyPool(t *testing.T) {
	cfg, err := ParseDSN("sqlite:///:memory:?aiodb_maxsize=7&aiodb_minsize=3")
	if err != nil {
		t.Fatal(err)
	}
	db := sqliteMemory(t)
	cfg.ApplyPool(db)
	if got := db.Stats().MaxOpenConnections; got != 7 {
		t.Errorf("MaxOpenConnections %d, want 7", got)
	}
}

// TestPgxOptionArguments: pgx takes leading option arguments (exec mode,
// result formats, pgx.NamedArgs); they are not placeholders, as on raw pgx.
func TestPgxOptionArguments(t *testing.T) {
	b := serverBackend(t, envPostgres)
	for name, db := range map[string]*sql.DB{"aiodb": b.open(t), "raw": b.openRaw(t)} {
		var n int64
		if err := db.QueryRow("SELECT $1::int8 + 1", pgx.QueryExecModeSimpleProtocol, 41).Scan(&n); err != nil || n != 42 {
			t.Errorf("%s: exec mode option: %d %v", name, n, err)
		}
		if err := db.QueryRow("SELECT @a::int8 * 2", pgx.NamedArgs{"a": 21}).Scan(&n); err != nil || n != 42 {
			t.Errorf("%s: pgx.NamedArgs: %d %v", name, n, err)
		}
		if err := db.QueryRow("SELECT $1::int8", pgx.QueryExecModeExec, pgx.QueryResultFormats{pgx.TextFormatCode}, 42).Scan(&n); err != nil || n != 42 {
			t.Errorf("%s: two options: %d %v", name, n, err)
		}
	}
	// On aiodb the options also go with other placeholder styles.
	var n int64
	if err := b.open(t).QueryRow("SELECT ?::int8 + ?::int8", pgx.QueryExecModeSimpleProtocol, 40, 2).Scan(&n); err != nil || n != 42 {
		t.Errorf("? style with an option: %d %v", n, err)
	}
}

// TestStatsNeedsNoConnection: Stats reaches the connector through
// db.Driver(), so it answers while the only pooled connection is held.
func TestStatsNeedsNoConnection(t *testing.T) {
	db := sqliteMemory(t)
	db.SetMaxOpenConns(1)
	sc, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	st, err := Stats(db)
	if err != nil || len(st) != 1 || !st[0].Primary {
		t.Fatalf("Stats: %+v %v", st, err)
	}
	raw, _ := sql.Open("sqlite", ":memory:")
	defer raw.Close()
	if _, err := Stats(raw); err == nil {
		t.Error("Stats of a non-aiodb *sql.DB succeeded")
	}
}

// TestLogPreparedFallback: a backend that answers Exec with driver.ErrSkip
// (go-sql-driver/mysql with arguments, odbc) is logged once, as the
// prepared statement that really ran, with its duration.
func TestLogPreparedFallback(t *testing.T) {
	cfg, err := ParseDSN("mysql://u:s3cret@fake/db")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConnectorWith(cfg, func(Node, string) (driver.Connector, error) {
		return backend.DSNConnector{DSN: "fake", Drv: &legacyDriver{}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	c.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c.addHooks(logHook{log: c.log})
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.Exec("UPDATE t SET x = $1", 1); err != nil {
		t.Fatal(err)
	}
	var v int64
	if err := db.QueryRow("SELECT ?", 7).Scan(&v); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "aiodb: statement") != 2 || !strings.Contains(out, "op=stmt.exec") || !strings.Contains(out, "op=stmt.query") {
		t.Errorf("log:\n%s", out)
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "skip") {
		t.Errorf("log shows a password or the ErrSkip attempt:\n%s", out)
	}
}

// TestNoArgumentsSentVerbatim: a statement without arguments reaches the
// backend byte for byte, as on the raw driver: no placeholder rewriting,
// so a PostgreSQL ? operator or a MySQL % stays what it is. (A ?, $N or ?N
// that the backend would take for a placeholder is aiodb's count error
// instead: TestPlaceholderWithoutArguments.)
func TestNoArgumentsSentVerbatim(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ dsn, q string }{
		{pgMock, `SELECT '{"a":1}'::jsonb ? 'a'`},
		{pgMock, `SELECT '{"a":1}'::jsonb ?| array['a'], '{"a":1}'::jsonb ?& array['a']`},
		{pgMock, "SELECT $1"},
		{myMock, "SELECT 10 % 3, '%s'"},
		{"sqlite:///x.db", "SELECT :a, ?1, @b"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			db, mock := mockDB(t, tc.dsn)
			mock.ExpectQuery(tc.q).WithoutArgs().WillReturnRows(sqlmock.NewRows([]string{"a"}).AddRow(true))
			mock.ExpectExec(tc.q).WithoutArgs().WillReturnResult(ok0)
			rows, err := db.QueryContext(ctx, tc.q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			rows.Close()
			if _, err := db.ExecContext(ctx, tc.q); err != nil {
				t.Fatalf("Exec: %v", err)
			}
		})
	}
}
