package aiodb

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/aiodb/aiodb/internal/sqltext"
)

func ExampleExplain() {
	e, err := Explain(MySQL, "UPDATE users SET name = $2 WHERE id = $1 AND name <> $2")
	if err != nil {
		panic(err)
	}
	args, err := e.Bind(42, "Ada")
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Query)
	fmt.Println(e.ArgOrder, args)
	fmt.Println(e.Class(), e.Kind+":", e.Why)
	// Output:
	// UPDATE users SET name = ? WHERE id = ? AND name <> ?
	// [1 0 1] [Ada 42 Ada]
	// write UPDATE: data-modifying statement
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		d             Dialect
		query, native string
		order         []int
		class, kind   string
	}{
		{PostgreSQL, "SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2", []int{0, 1}, "read", "SELECT"},
		{PostgreSQL, "SELECT $2, $1", "SELECT $2, $1", []int{0, 1}, "read", "SELECT"},
		{SQLite, "DELETE FROM t WHERE id = %s RETURNING id", "DELETE FROM t WHERE id = ?1 RETURNING id", []int{0}, "write", "DELETE … RETURNING"},
		{MySQL, "SELECT $2, $1, $1", "SELECT ?, ?, ?", []int{1, 0, 0}, "read", "SELECT"},
		{MySQL, "SELECT 1 FOR UPDATE", "SELECT 1 FOR UPDATE", nil, "write", "SELECT … FOR UPDATE"},
		{PostgreSQL, "FROBNICATE", "FROBNICATE", nil, "unknown", sqltext.UnknownStmt},
	} {
		e, err := Explain(tc.d, tc.query)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.d, tc.query, err)
		}
		if e.Query != tc.native || !reflect.DeepEqual(e.ArgOrder, tc.order) || e.Class() != tc.class || e.Kind != tc.kind || e.Dialect != tc.d {
			t.Errorf("%s %q: %+v (class %s)", tc.d, tc.query, e, e.Class())
		}
	}

	e, err := Explain(MySQL, "SELECT 'unterminated")
	if !errors.Is(err, ErrPlaceholder) || e == nil || e.Query != "" || e.Class() != "unknown" {
		t.Fatalf("unterminated literal: %+v, %v", e, err)
	}
	if _, err := e.Bind(); !errors.Is(err, ErrPlaceholder) {
		t.Fatalf("Bind after a failed rewrite: %v", err)
	}
	e, _ = Explain(PostgreSQL, "SELECT ?")
	if _, err := e.Bind(1, 2); !errors.Is(err, ErrPlaceholder) {
		t.Fatalf("Bind with too many arguments: %v", err)
	}

	// A DSN's options: NO_BACKSLASH_ESCAPES ends the literal at the backslash.
	cfg, err := ParseDSN("mysql://u:pw@h/db?aiodb_sql_mode=NO_BACKSLASH_ESCAPES")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := cfg.Explain(`SELECT 'a\', $1`); err != nil || e.Query != `SELECT 'a\', ?` {
		t.Fatalf("Config.Explain with NO_BACKSLASH_ESCAPES: %+v, %v", e, err)
	}
	if _, err := Explain(MySQL, `SELECT 'a\', $1`); !errors.Is(err, ErrPlaceholder) {
		t.Fatalf("Explain without NO_BACKSLASH_ESCAPES: %v", err)
	}
}

func TestParseDialect(t *testing.T) {
	for name, want := range map[string]Dialect{"postgres": PostgreSQL, "PostgreSQL": PostgreSQL, "mariadb": MySQL, "sqlite3": SQLite, "odbc": ODBC} {
		if d, err := ParseDialect(name); err != nil || d != want {
			t.Errorf("ParseDialect(%q) = %v, %v", name, d, err)
		}
	}
	if _, err := ParseDialect("oracle"); !errors.Is(err, ErrBadDSN) {
		t.Errorf("ParseDialect(oracle): %v", err)
	}
}

func TestTopologyProblems(t *testing.T) {
	p := NodeCheck{URL: "p", Primary: true, RoleKnown: true}
	r := NodeCheck{URL: "r", RoleKnown: true, ReadOnly: true}
	for _, tc := range []struct {
		name  string
		nodes []NodeCheck
		want  []string
	}{
		{"healthy", []NodeCheck{p, r}, nil},
		{"role unknown", []NodeCheck{{URL: "s", Primary: true}}, nil},
		{"replica down", []NodeCheck{p, {URL: "r", Err: "refused"}}, []string{"replica r is unreachable: refused"}},
		{"primary read-only", []NodeCheck{{URL: "p", Primary: true, RoleKnown: true, ReadOnly: true}, r},
			[]string{"primary p is read-only (in recovery, or read_only on): writes will fail"}},
		{"replica writable", []NodeCheck{p, {URL: "r", RoleKnown: true}}, []string{
			"replica r accepts writes (not in recovery, read_only off)",
			"2 writable nodes (p, r): only the primary should accept writes"}},
	} {
		if got := problems(tc.nodes); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: problems = %q, want %q", tc.name, got, tc.want)
		}
	}
}
