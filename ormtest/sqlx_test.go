package ormtest

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/aiodb/aiodb"
)

type person struct {
	ID      int64          `db:"id"`
	Name    string         `db:"name"`
	Email   sql.NullString `db:"email"`
	Score   float64        `db:"score"`
	Active  bool           `db:"active"`
	Created time.Time      `db:"created"`
}

const peopleDDL = `CREATE TABLE %s (
  id      BIGINT PRIMARY KEY,
  name    VARCHAR(200) NOT NULL,
  email   VARCHAR(200),
  score   DOUBLE PRECISION NOT NULL,
  active  BOOLEAN NOT NULL,
  created TIMESTAMP NOT NULL
)`

var created = time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)

var people = []person{
	{ID: 1, Name: "Ada", Email: ns("ada@example.com"), Score: 9.5, Active: true, Created: created},
	{ID: 2, Name: tricky, Email: ns(tricky), Score: -1.25, Active: false, Created: created.Add(time.Hour)},
	{ID: 3, Name: "Grace", Score: 0, Active: true, Created: created.Add(48 * time.Hour)},
}

// sqlxResults is everything sqlxScenario read, for comparing a run on
// aiodb with a run on the backend driver.
type sqlxResults struct {
	Bind        int
	Get         person
	Select      []person
	In          []person
	Named       []person
	NamedStmt   person
	MapScan     int
	AfterTx     int
	AfterCommit []string
}

// sqlxScenario exercises sqlx on table (created here) and returns what it
// read. Every query is written with ? and rebound, as sqlx users do, or with
// :name.
func sqlxScenario(t *testing.T, ctx context.Context, db *sqlx.DB, table string) sqlxResults {
	t.Helper()
	var r sqlxResults
	r.Bind = sqlx.BindType(db.DriverName())
	rb := func(q string) string { return db.Rebind(strings.ReplaceAll(q, "{t}", table)) }
	db.MustExecContext(ctx, strings.Replace(peopleDDL, "%s", table, 1))

	// NamedExec with a slice: sqlx compiles :name to its bindvar and builds
	// a multi-row VALUES list.
	if _, err := db.NamedExecContext(ctx, "INSERT INTO "+table+" (id, name, email, score, active, created) VALUES (:id, :name, :email, :score, :active, :created)", people[:2]); err != nil {
		t.Fatalf("NamedExec (batch): %v", err)
	}
	p := people[2]
	db.MustExecContext(ctx, rb("INSERT INTO {t} (id, name, email, score, active, created) VALUES (?, ?, ?, ?, ?, ?)"), p.ID, p.Name, p.Email, p.Score, p.Active, p.Created)

	if err := db.GetContext(ctx, &r.Get, rb("SELECT * FROM {t} WHERE id = ?"), 2); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if err := db.SelectContext(ctx, &r.Select, rb("SELECT * FROM {t} ORDER BY id")); err != nil {
		t.Fatalf("Select: %v", err)
	}

	q, args, err := sqlx.In("SELECT * FROM {t} WHERE id IN (?) AND active = ? ORDER BY id", []int64{1, 2, 3}, true)
	if err != nil {
		t.Fatalf("sqlx.In: %v", err)
	}
	if err := db.SelectContext(ctx, &r.In, rb(q), args...); err != nil {
		t.Fatalf("Select after sqlx.In: %v", err)
	}

	rows, err := db.NamedQueryContext(ctx, "SELECT * FROM "+table+" WHERE name = :name OR email = :name ORDER BY id", map[string]any{"name": tricky})
	if err != nil {
		t.Fatalf("NamedQuery: %v", err)
	}
	for rows.Next() {
		var p person
		if err := rows.StructScan(&p); err != nil {
			t.Fatalf("StructScan: %v", err)
		}
		r.Named = append(r.Named, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	nstmt, err := db.PrepareNamedContext(ctx, "SELECT * FROM "+table+" WHERE id = :id")
	if err != nil {
		t.Fatalf("PrepareNamed: %v", err)
	}
	if err := nstmt.GetContext(ctx, &r.NamedStmt, map[string]any{"id": 3}); err != nil {
		t.Fatalf("NamedStmt.Get: %v", err)
	}
	nstmt.Close()

	m := map[string]any{}
	if err := db.QueryRowxContext(ctx, rb("SELECT id, name FROM {t} WHERE id = ?"), 1).MapScan(m); err != nil {
		t.Fatalf("MapScan: %v", err)
	}
	r.MapScan = len(m)

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.MustExecContext(ctx, tx.Rebind("DELETE FROM "+table+" WHERE id = ?"), 1)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &r.AfterTx, rb("SELECT count(*) FROM {t}")); err != nil {
		t.Fatal(err)
	}

	tx, err = db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.NamedExecContext(ctx, "UPDATE "+table+" SET name = :new WHERE id = :id", map[string]any{"new": "Countess", "id": 1}); err != nil {
		t.Fatalf("Tx NamedExec: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.SelectContext(ctx, &r.AfterCommit, rb("SELECT name FROM {t} ORDER BY id")); err != nil {
		t.Fatal(err)
	}
	return r
}

// normalize makes times comparable across drivers' locations.
func (r *sqlxResults) normalize() {
	fix := func(ps []person) {
		for i := range ps {
			ps[i].Created = ps[i].Created.UTC()
		}
	}
	r.Get.Created, r.NamedStmt.Created = r.Get.Created.UTC(), r.NamedStmt.Created.UTC()
	fix(r.Select)
	fix(r.In)
	fix(r.Named)
}

// TestSqlx runs the same sqlx code four times per backend: over aiodb with
// sqlx.NewDb(db, "aiodb") (DOLLAR, registered in TestMain), over aiodb with
// the name of the other placeholder style, over aiodb with a name sqlx does
// not know (UNKNOWN, bound like ?), and over the backend driver with its
// native name; all must read the same.
func TestSqlx(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		native, other := map[kind]string{sqliteKind: "sqlite3", postgresKind: "postgres", mysqlKind: "mysql"}[tg.kind], "postgres"
		if tg.kind == postgresKind {
			other = "mysql" // ? on PostgreSQL
		}
		runs := []struct {
			name string
			db   *sqlx.DB
			bind int
		}{
			{"aiodb-name", sqlx.NewDb(tg.db, aiodb.DriverName), sqlx.DOLLAR},
			{"aiodb-" + other + "-bind", sqlx.NewDb(tg.db, other), sqlx.BindType(other)},
			// A name sqlx does not know is UNKNOWN, which sqlx binds like ?.
			{"aiodb-unknown-bind", sqlx.NewDb(tg.db, "aiodb-unregistered"), sqlx.UNKNOWN},
			{"raw-" + tg.rawDrv, sqlx.NewDb(tg.raw(t), native), sqlx.BindType(native)},
		}
		var want sqlxResults
		for i, run := range runs {
			got := sqlxScenario(t, ctx, run.db, "people_"+strings.NewReplacer("-", "_").Replace(run.name))
			got.normalize()
			if got.Bind != run.bind {
				t.Errorf("%s: BindType = %d, want %d", run.name, got.Bind, run.bind)
			}
			got.Bind = 0
			if i == 0 {
				want = got
				checkSqlxResults(t, got)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s read differently from %s:\n got %+v\nwant %+v", run.name, runs[0].name, got, want)
			}
		}
	})
}

// checkSqlxResults checks the first run against what was written.
func checkSqlxResults(t *testing.T, r sqlxResults) {
	t.Helper()
	if !reflect.DeepEqual(r.Get, people[1]) {
		t.Errorf("Get = %+v, want %+v", r.Get, people[1])
	}
	if !reflect.DeepEqual(r.Select, people) {
		t.Errorf("Select = %+v, want %+v", r.Select, people)
	}
	if want := []person{people[0], people[2]}; !reflect.DeepEqual(r.In, want) {
		t.Errorf("In = %+v, want %+v", r.In, want)
	}
	if want := []person{people[1]}; !reflect.DeepEqual(r.Named, want) {
		t.Errorf("NamedQuery = %+v, want %+v", r.Named, want)
	}
	if !reflect.DeepEqual(r.NamedStmt, people[2]) {
		t.Errorf("NamedStmt = %+v, want %+v", r.NamedStmt, people[2])
	}
	if r.MapScan != 2 || r.AfterTx != 3 || !reflect.DeepEqual(r.AfterCommit, []string{"Countess", tricky, "Grace"}) {
		t.Errorf("MapScan %d, AfterTx %d, AfterCommit %q", r.MapScan, r.AfterTx, r.AfterCommit)
	}
}

// TestSqlxOpen covers sqlx's own constructors with the aiodb driver name
// and the in-memory SQLite DSN, and the Rebind that the "aiodb" name gets.
func TestSqlxOpen(t *testing.T) {
	ctx := testCtx(t)
	db, err := sqlx.ConnectContext(ctx, aiodb.DriverName, "sqlite:///:memory:")
	if err != nil {
		t.Fatalf("sqlx.Connect(aiodb, sqlite:///:memory:): %v", err)
	}
	defer db.Close()
	if got := db.Rebind("SELECT ? , ?"); got != "SELECT $1 , $2" {
		t.Fatalf(`Rebind with sqlx.BindDriver("aiodb", sqlx.DOLLAR) = %q`, got)
	}
	// Several pooled connections share the one in-memory database.
	db.SetMaxOpenConns(4)
	db.MustExecContext(ctx, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
	tx := db.MustBeginTx(ctx, nil)
	tx.MustExecContext(ctx, tx.Rebind("INSERT INTO kv VALUES (?, ?)"), "a", tricky)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.GetContext(ctx, &v, "SELECT v FROM kv WHERE k = ?", "a"); err != nil || v != tricky {
		t.Fatalf("Get with ? on a $-bound sqlx.DB: %q, %v", v, err)
	}
	// sqlx.In + Rebind, the way sqlx documents it.
	q, args, err := sqlx.In("SELECT count(*) FROM kv WHERE k IN (?)", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.GetContext(ctx, &n, db.Rebind(q), args...); err != nil || n != 1 {
		t.Fatalf("In: %d, %v", n, err)
	}
	// A named query whose value contains ":name" and "?".
	if _, err := db.NamedExecContext(ctx, "INSERT INTO kv VALUES (:k, :v)", map[string]any{"k": "b", "v": "x :k ?"}); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &v, "SELECT v FROM kv WHERE k = $1", "b"); err != nil || v != "x :k ?" {
		t.Fatalf("after NamedExec: %q, %v", v, err)
	}
	if _, err := db.ExecContext(ctx, "SELECT * FROM kv WHERE k = ? AND v = $1", "a"); !errors.Is(err, aiodb.ErrPlaceholder) {
		t.Fatalf("mixed styles: %v, want aiodb.ErrPlaceholder", err)
	}
}
