package aiodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// typesQuery selects one value of each common SQL type, per dialect.
var typesQuery = map[Dialect]string{
	PostgreSQL: `SELECT 1::int8 AS i8, 2::int4 AS i4, 1.5::float8 AS f, 'txt'::text AS s, '\x0102'::bytea AS b, true AS t,
		'2024-01-02 03:04:05+00'::timestamptz AS ts, NULL::int AS n, 12.34::numeric(10,2) AS num, 'v'::varchar(8) AS vc`,
	MySQL: `SELECT CAST(1 AS SIGNED) AS i8, 2 AS i4, 1.5e0 AS f, 'txt' AS s, x'0102' AS b, true AS t,
		TIMESTAMP'2024-01-02 03:04:05' AS ts, NULL AS n, CAST(12.34 AS DECIMAL(10,2)) AS num, CAST('v' AS CHAR(8)) AS vc`,
	SQLite: `SELECT 1 AS i8, 2 AS i4, 1.5 AS f, 'txt' AS s, x'0102' AS b, true AS t,
		'2024-01-02 03:04:05' AS ts, NULL AS n, 12.34 AS num, 'v' AS vc`,
}

func (b server) typesQuery() string {
	if b.dialect == ODBC {
		return typesQuery[PostgreSQL]
	}
	return typesQuery[b.dialect]
}

// scanAll runs q and returns every row as []any, plus the column types.
func scanAll(t *testing.T, db *sql.DB, q string, args ...any) ([][]any, []*sql.ColumnType) {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, cts
}

// columnTypeInfo is everything sql.ColumnType reports, comparable.
type columnTypeInfo struct {
	Name, DBType         string
	Scan                 reflect.Type
	Nullable, NullableOK bool
	Length               int64
	LengthOK             bool
	Prec, Scale          int64
	DecimalOK            bool
}

func describe(cts []*sql.ColumnType) []columnTypeInfo {
	out := make([]columnTypeInfo, len(cts))
	for i, ct := range cts {
		c := columnTypeInfo{Name: ct.Name(), DBType: ct.DatabaseTypeName(), Scan: ct.ScanType()}
		c.Nullable, c.NullableOK = ct.Nullable()
		c.Length, c.LengthOK = ct.Length()
		c.Prec, c.Scale, c.DecimalOK = ct.DecimalSize()
		out[i] = c
	}
	return out
}

// TestSameAsRawDriver compares values, Go types and ColumnTypes of aiodb
// with the backend driver opened directly on the same server.
func TestSameAsRawDriver(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		q := b.typesQuery()
		got, gotCT := scanAll(t, b.open(t), q)
		want, wantCT := scanAll(t, b.openRaw(t), q)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("values differ:\n aiodb %#v\n raw   %#v", got, want)
		}
		for i := range got[0] {
			if reflect.TypeOf(got[0][i]) != reflect.TypeOf(want[0][i]) {
				t.Errorf("column %d: aiodb %T, raw %T", i, got[0][i], want[0][i])
			}
		}
		if g, w := describe(gotCT), describe(wantCT); !reflect.DeepEqual(g, w) {
			t.Errorf("ColumnTypes differ:\n aiodb %+v\n raw   %+v", g, w)
		}
		// The same through a prepared statement with an argument.
		arg := map[Dialect]string{PostgreSQL: "SELECT $1::int8 AS x", MySQL: "SELECT CAST(? AS SIGNED) AS x", SQLite: "SELECT ? AS x", ODBC: "SELECT ? AS x"}[b.dialect]
		got, _ = scanAll(t, b.open(t), arg, int64(7))
		want, _ = scanAll(t, b.openRaw(t), arg, int64(7))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("with an argument: aiodb %#v, raw %#v", got, want)
		}
	})
}

func TestErrNoRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		var x int
		err := b.open(t).QueryRow("SELECT 1 FROM (SELECT 1 AS a) s WHERE a = 2").Scan(&x)
		if !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("got %v, want sql.ErrNoRows", err)
		}
	})
}

// TestBackendErrors checks that the backend's error type stays reachable.
func TestBackendErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		db := b.open(t)
		tbl := b.table(t, db, "id INT PRIMARY KEY")
		ins := "INSERT INTO " + tbl + " (id) VALUES (1)"
		if _, err := db.Exec(ins); err != nil {
			t.Fatal(err)
		}
		_, err := db.Exec(ins)
		if err == nil {
			t.Fatal("duplicate key accepted")
		}
		_, err2 := db.Exec("SELEKT nonsense")
		switch b.name {
		case "postgres":
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "23505" {
				t.Errorf("want *pgconn.PgError 23505, got %T %v", err, err)
			}
			if !errors.As(err2, &pe) || pe.Code != "42601" {
				t.Errorf("want *pgconn.PgError 42601, got %T %v", err2, err2)
			}
		case "mysql":
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1062 {
				t.Errorf("want *mysql.MySQLError 1062, got %T %v", err, err)
			}
			if !errors.As(err2, &me) || me.Number != 1064 {
				t.Errorf("want *mysql.MySQLError 1064, got %T %v", err2, err2)
			}
		case "sqlite":
			var se *sqlite.Error
			if !errors.As(err, &se) || se.Code() != 1555 {
				t.Errorf("want *sqlite.Error 1555 (SQLITE_CONSTRAINT_PRIMARYKEY), got %T %v", err, err)
			}
			if !errors.As(err2, &se) {
				t.Errorf("want *sqlite.Error, got %T %v", err2, err2)
			}
		default:
			if !strings.Contains(err.Error(), "23505") && !strings.Contains(strings.ToLower(err.Error()), "duplicate") {
				t.Errorf("odbc duplicate key error does not say so: %v", err)
			}
		}
	})
}

// TestContextCancel cancels a long query: aiodb must return as fast as the
// raw driver, with the context's error, and leave the pool usable.
func TestContextCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		slow := map[Dialect]string{
			PostgreSQL: "SELECT pg_sleep(10)",
			MySQL:      "SELECT SLEEP(10)",
			SQLite:     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT max(x) FROM c",
			ODBC:       "SELECT pg_sleep(10)",
		}[b.dialect]
		for name, db := range map[string]*sql.DB{"aiodb": b.open(t), "raw": b.openRaw(t)} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			start := time.Now()
			var v any
			err := db.QueryRowContext(ctx, slow).Scan(&v)
			cancel()
			took := time.Since(start)
			if b.name == "odbc" || (b.name == "mysql" && err == nil) {
				// odbc cannot cancel a running statement; MySQL's SLEEP returns 1
				// when KILL QUERY interrupts it, so the query may "succeed".
				t.Logf("%s: %v after %v", name, err, took)
				continue
			}
			if err == nil || took > 5*time.Second {
				t.Errorf("%s: err %v after %v, want a context error within 5s", name, err, took)
			}
			if name == "aiodb" && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "interrupt") && !strings.Contains(err.Error(), "cancel") {
				t.Errorf("aiodb: %v is not a cancellation", err)
			}
		}
	})
}

// TestMultipleResultSets reads two result sets from one MySQL statement.
func TestMultipleResultSets(t *testing.T) {
	b := serverBackend(t, envMySQL)
	b.dsn += "?multiStatements=true"
	db := b.open(t)
	rows, err := db.Query("SELECT 1; SELECT 2, 3")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sets [][]int
	for {
		var set []int
		for rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]int, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			set = append(set, vals...)
		}
		sets = append(sets, set)
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sets, [][]int{{1}, {2, 3}}) {
		t.Errorf("result sets %v", sets)
	}
}

func TestPreparedStatements(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		db := b.open(t)
		tbl := b.table(t, db, "id INT PRIMARY KEY, name VARCHAR(20)")
		ins, err := db.Prepare("INSERT INTO " + tbl + " (id, name) VALUES ($1, $2)")
		if err != nil {
			t.Fatal(err)
		}
		defer ins.Close()
		for i, n := range []string{"ann", "bob", "cid"} {
			if _, err := ins.Exec(i+1, n); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ins.Exec(9); err == nil || !strings.Contains(err.Error(), "expected 2 arguments") {
			t.Errorf("wrong argument count: %v", err)
		}
		sel, err := db.Prepare("SELECT name FROM " + tbl + " WHERE id = ? OR id = ? ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer sel.Close()
		var names []string
		rows, err := sel.Query(3, 1)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		if rows.Close(); strings.Join(names, ",") != "ann,cid" {
			t.Errorf("names %v", names)
		}
	})
}

// TestRaw checks that sql.Conn.Raw users reach the backend connection.
func TestRaw(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		sc, err := b.open(t).Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		err = sc.Raw(func(dc any) error {
			inner := dc.(interface{ Unwrap() driver.Conn }).Unwrap()
			switch b.name {
			case "postgres":
				pc, ok := inner.(*stdlib.Conn)
				if !ok {
					t.Errorf("Unwrap() is %T, want *stdlib.Conn", inner)
				} else if pc.Conn().PgConn().TxStatus() != 'I' {
					t.Error("pgx connection not idle")
				}
			case "sqlite":
				if _, ok := inner.(interface{ Serialize() ([]byte, error) }); !ok {
					t.Errorf("Unwrap() is %T, want modernc's conn", inner)
				}
			default:
				if inner == nil {
					t.Error("Unwrap() is nil")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
