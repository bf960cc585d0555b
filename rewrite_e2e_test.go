package aiodb

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestPlaceholderStylesEndToEnd runs the same logical query written in each
// placeholder style on every backend and expects the same rows.
func TestPlaceholderStylesEndToEnd(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		db := b.open(t)
		tbl := b.table(t, db, "id INT PRIMARY KEY, name VARCHAR(20)")
		if _, err := db.Exec("INSERT INTO " + tbl + " (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cid')"); err != nil {
			t.Fatal(err)
		}
		type tc struct {
			name, query string
			args        []any
			want        []string // names, in order; nil when an error is expected
		}
		cases := []tc{
			{"dollar reordered", "SELECT name FROM T WHERE id = $2 OR id = $1 ORDER BY id", []any{3, 1}, []string{"ann", "cid"}},
			{"qmark", "SELECT name FROM T WHERE id = ? OR id = ? ORDER BY id", []any{3, 1}, []string{"ann", "cid"}},
			{"format", "SELECT name FROM T WHERE id = %s OR id = %s ORDER BY id", []any{3, 1}, []string{"ann", "cid"}},
			{"dollar reused", "SELECT name FROM T WHERE id = $1 OR id = $1 + 1 ORDER BY id", []any{1}, []string{"ann", "bob"}},
			{"literals dollar", "SELECT name FROM T WHERE name <> '?' AND name <> '$1' AND name <> '%s' AND id = $1", []any{2}, []string{"bob"}},
			{"literals qmark", "SELECT name FROM T WHERE name <> '?' AND name <> '$1' AND name <> '%s' AND id = ?", []any{2}, []string{"bob"}},
			{"literals format", "SELECT name FROM T WHERE name <> '?' AND name <> '$1' AND name <> '%s' AND id = %s", []any{2}, []string{"bob"}},
			{"comment", "SELECT name FROM T /* id = ? $1 %s */ WHERE id = ?", []any{3}, []string{"cid"}},
			{"percent escape in code", "SELECT name FROM T WHERE id %% 2 = %s ORDER BY id", []any{1}, []string{"ann", "cid"}},
			{"percent in LIKE literal", "SELECT name FROM T WHERE name LIKE 'b%%' AND id > %s", []any{0}, []string{"bob"}},
			{"too many arguments", "SELECT name FROM T WHERE id = $1", []any{1, 2}, nil},
			{"unused argument", "SELECT name FROM T WHERE id = $2", []any{1, 2}, nil},
			{"mixed styles", "SELECT name FROM T WHERE id = $1 OR id = %s", []any{1, 2}, nil},
		}
		if b.dialect == PostgreSQL || b.dialect == ODBC {
			jsonb := []string{"ann"}
			if b.dialect == ODBC {
				jsonb = nil // a ? backend cannot be sent a literal ? operator
			}
			cases = append(cases,
				tc{"jsonb ?? in qmark style", `SELECT name FROM T WHERE '{"a":1}'::jsonb ?? 'a' AND id = ?`, []any{1}, jsonb},
				tc{"jsonb ? in dollar style", `SELECT name FROM T WHERE '{"a":1}'::jsonb ? 'a' AND id = $1`, []any{1}, jsonb})
		}
		if b.dialect == PostgreSQL {
			// Without arguments the text is sent verbatim: ? is the operator.
			cases = append(cases, tc{"jsonb ? without arguments", `SELECT name FROM T WHERE '{"a":1}'::jsonb ? 'a' AND id = 1`, nil, []string{"ann"}})
		}
		for _, c := range cases {
			q := strings.ReplaceAll(c.query, " T ", " "+tbl+" ")
			rows, err := db.Query(q, c.args...)
			if c.want == nil {
				if !errors.Is(err, ErrPlaceholder) {
					t.Errorf("%s: %v, want ErrPlaceholder", c.name, err)
				}
				if err == nil {
					rows.Close()
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			var got []string
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				got = append(got, n)
			}
			if err := rows.Close(); err != nil || rows.Err() != nil {
				t.Errorf("%s: %v %v", c.name, err, rows.Err())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	})
}

// TestPlaceholderWithoutArguments checks statements given no arguments. They
// are sent verbatim, except where the backend would misread placeholders of
// aiodb's own styles ($N, ? and ?N to a backend whose placeholder is ? or ?N):
// there aiodb reports its own count error instead of the backend's.
func TestPlaceholderWithoutArguments(t *testing.T) {
	eachBackend(t, func(t *testing.T, b server) {
		db := b.open(t)
		if b.dialect == PostgreSQL {
			// PostgreSQL reads $N and ? itself: both reach it as written.
			var has bool
			if err := db.QueryRow(`SELECT '{"a":1}'::jsonb ? 'a'`).Scan(&has); err != nil || !has {
				t.Errorf("jsonb ? without arguments: %v %v", has, err)
			}
			if _, err := db.Exec("SELECT $1"); err == nil || errors.Is(err, ErrPlaceholder) {
				t.Errorf("SELECT $1 without arguments: %v, want the server's error", err)
			}
			return
		}
		for _, q := range []string{"SELECT $1", "SELECT $1, $2", "SELECT ?", "SELECT ?1"} {
			_, err := db.Exec(q)
			want := "takes 1 argument(s) but 0 were given"
			if q == "SELECT $1, $2" {
				want = "takes 2 argument(s)"
			}
			if !errors.Is(err, ErrPlaceholder) || !strings.Contains(err.Error(), want) {
				t.Errorf("Exec(%q) without arguments: %v, want ErrPlaceholder saying %q", q, err, want)
			}
			if rows, err := db.Query(q); !errors.Is(err, ErrPlaceholder) {
				t.Errorf("Query(%q) without arguments: %v, want ErrPlaceholder", q, err)
				if err == nil {
					rows.Close()
				}
			}
		}
		// Statements whose placeholder-like text is not aiodb's to judge still
		// reach the backend as written.
		var v string
		if err := db.QueryRow("SELECT '$1 ? %s'").Scan(&v); err != nil || v != "$1 ? %s" {
			t.Errorf("placeholders in a literal: %q %v", v, err)
		}
		var n int
		if err := db.QueryRow("SELECT 7 %s FROM (SELECT 4 AS s) x").Scan(&n); err != nil || n != 3 {
			t.Errorf("modulo of a column named s: %d %v", n, err)
		}
	})
}
