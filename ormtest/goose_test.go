package ormtest

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/aiodb/aiodb"
)

// Migrations with goose (github.com/pressly/goose/v3) through a *sql.DB
// opened with aiodb. testdata/goose/<backend> holds, per backend:
//
//	00001  CREATE TABLE goose_widgets + a row   in a transaction
//	00002  an index                              -- +goose NO TRANSACTION, with a
//	                                             statement that fails inside one
//	00003  ADD COLUMN price + UPDATE             in a transaction
var gooseDialects = map[kind]goose.Dialect{
	postgresKind: goose.DialectPostgres,
	mysqlKind:    goose.DialectMySQL,
	sqliteKind:   goose.DialectSQLite3,
}

// Environment variables naming each server's primary and replicas.
var replicaEnvs = map[kind]string{
	postgresKind: "AIODB_TEST_POSTGRES_REPLICAS",
	mysqlKind:    "AIODB_TEST_MYSQL_REPLICAS",
}

func gooseProvider(t *testing.T, tg *target, fsys fs.FS) *goose.Provider {
	t.Helper()
	p, err := goose.NewProvider(gooseDialects[tg.kind], tg.db, fsys)
	if err != nil {
		t.Fatalf("goose.NewProvider: %v", err)
	}
	return p // not closed: Close would close tg.db, which the harness owns
}

// gooseState returns the version and the state of every migration.
func gooseState(t *testing.T, ctx context.Context, p *goose.Provider) (int64, []goose.State) {
	t.Helper()
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatalf("GetDBVersion: %v", err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	var states []goose.State
	for _, s := range st {
		states = append(states, s.State)
	}
	return v, states
}

func wantGoose(t *testing.T, ctx context.Context, p *goose.Provider, version int64, states ...goose.State) {
	t.Helper()
	v, got := gooseState(t, ctx, p)
	if v != version || !reflect.DeepEqual(got, states) {
		t.Fatalf("goose version %d, status %v; want %d, %v", v, got, version, states)
	}
}

const (
	applied = goose.StateApplied
	pending = goose.StatePending
)

func TestGoose(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		fsys := os.DirFS("testdata/goose/" + string(tg.kind))
		p := gooseProvider(t, tg, fsys)
		wantGoose(t, ctx, p, 0, pending, pending, pending)

		res, err := p.Up(ctx)
		if err != nil {
			t.Fatalf("Up: %v", err)
		}
		if len(res) != 3 {
			t.Fatalf("Up applied %d migrations, want 3", len(res))
		}
		wantGoose(t, ctx, p, 3, applied, applied, applied)
		var price int64
		if err := tg.db.QueryRowContext(ctx, "SELECT price FROM goose_widgets WHERE id = 1").Scan(&price); err != nil || price != 42 {
			t.Fatalf("after Up: price %d, %v", price, err)
		}

		// Down, one migration at a time: the column, then the index (no transaction).
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("Down from 3: %v", err)
		}
		wantGoose(t, ctx, p, 2, applied, applied, pending)
		if _, err := tg.db.ExecContext(ctx, "SELECT price FROM goose_widgets"); err == nil {
			t.Fatal("column price still there after Down")
		}
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("Down from 2 (NO TRANSACTION): %v", err)
		}
		wantGoose(t, ctx, p, 1, applied, pending, pending)

		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("Up again: %v", err)
		}
		wantGoose(t, ctx, p, 3, applied, applied, applied)

		// A migration that fails halfway is rolled back as a whole: it ran
		// in one transaction.
		failing := fstest.MapFS{"00004_goose_fails.sql": {Data: []byte(`-- +goose Up
INSERT INTO goose_widgets (id, name) VALUES (99, 'rolled back');
INSERT INTO goose_no_such_table (id) VALUES (1);

-- +goose Down
DELETE FROM goose_widgets WHERE id = 99;
`)}}
		for name, f := range withDirFS(t, fsys) {
			failing[name] = f
		}
		if _, err := gooseProvider(t, tg, failing).Up(ctx); err == nil {
			t.Fatal("Up of a failing migration succeeded")
		}
		var n int
		if err := tg.db.QueryRowContext(ctx, "SELECT count(*) FROM goose_widgets WHERE id = 99").Scan(&n); err != nil || n != 0 {
			t.Fatalf("the failed migration's first statement left %d row(s), %v; want 0 (rolled back)", n, err)
		}
		wantGoose(t, ctx, p, 3, applied, applied, applied)

		// A read in a replica context sees the new schema once the
		// replica has caught up.
		adb, err := aiodb.Open(withReplicas(t, tg))
		if err != nil {
			t.Fatal(err)
		}
		defer adb.Close()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got int64
			err := adb.Replica(ctx, func(ctx context.Context) error {
				var err error
				got, err = aiodb.FetchVal[int64](ctx, adb, "SELECT price FROM goose_widgets WHERE id = $1", 1)
				return err
			})
			if err == nil && got == 42 {
				break
			}
			if errors.Is(err, aiodb.ErrReadOnly) || time.Now().After(deadline) {
				t.Fatalf("replica read of the migrated schema: %d, %v", got, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// withDirFS copies a directory's files into a map, to extend it.
func withDirFS(t *testing.T, fsys fs.FS) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = &fstest.MapFile{Data: data}
	}
	return m
}

// withReplicas returns the target's DSN followed by the server's replicas,
// each pointed at the target's namespace (the schema or database is
// replicated with everything else), without falling back to the primary. SQLite has no replicas: its DSN is
// returned as is, and a replica context reads on a read-only session.
func withReplicas(t *testing.T, tg *target) string {
	t.Helper()
	env, ok := replicaEnvs[tg.kind]
	if !ok {
		return tg.dsn
	}
	all := os.Getenv(env)
	if all == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI provides these servers, so their tests must run (see scripts/test.sh)", env)
		}
		t.Skipf("%s is not set: no replicas to read the migrated schema on", env)
	}
	base, err := url.Parse(tg.dsn)
	if err != nil {
		t.Fatal(err)
	}
	// aiodb_fallback=none: a read in a replica context runs on a replica
	// or fails, never on the primary.
	sep := "?"
	if strings.Contains(tg.dsn, "?") {
		sep = "&"
	}
	dsn := []string{tg.dsn + sep + "aiodb_fallback=none"}
	for _, r := range strings.Fields(all)[1:] {
		ru, err := url.Parse(r)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		u := *base
		u.Host, u.User = ru.Host, ru.User
		dsn = append(dsn, u.String())
	}
	return strings.Join(dsn, " ")
}
