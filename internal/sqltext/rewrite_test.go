package sqltext

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// Syntaxes used by the tests.
var (
	synPG      = Syntax{Dialect: PostgreSQL}
	synMy      = Syntax{Dialect: MySQL}
	synMyNBE   = Syntax{Dialect: MySQL, NoBackslashEscapes: true}
	synMyANSI  = Syntax{Dialect: MySQL, ANSIQuotes: true}
	synMyBoth  = Syntax{Dialect: MySQL, NoBackslashEscapes: true, ANSIQuotes: true}
	synLite    = Syntax{Dialect: SQLite}
	synODBC    = Syntax{Dialect: ODBC}
	bindFor    = map[Dialect]BindStyle{PostgreSQL: BindDollar, MySQL: BindQuestion, SQLite: BindQuestionN, ODBC: BindQuestion}
	allTargets = []struct {
		name string
		syn  Syntax
		bind BindStyle
	}{
		{"pg", synPG, BindDollar}, {"mysql", synMy, BindQuestion}, {"sqlite", synLite, BindQuestionN},
		{"odbc", synODBC, BindQuestion}, {"odbc-pg", synPG, BindQuestion},
	}
)

// rewriteCase is one row of TestRewrite. want "=" means the query is
// unchanged. err is a substring of the expected error, optionally followed
// by "@offset"; an error from args (count mismatch) is checked the same way.
type rewriteCase struct {
	name  string
	syn   Syntax
	bind  BindStyle // 0: the dialect's native bind style
	query string
	nargs int
	want  string
	order []int
	err   string
}

var rewriteCases = []rewriteCase{
	// Research A4 cases, by number.
	{name: "A4-01 ? in literal", syn: synPG, query: "SELECT '?' AS q, ? AS p", nargs: 1, want: "SELECT '?' AS q, $1 AS p"},
	{name: "A4-03 ? in PG identifier", syn: synPG, query: `SELECT "col?" FROM t WHERE id = ?`, nargs: 1, want: `SELECT "col?" FROM t WHERE id = $1`},
	{name: "A4-04 doubled quote in identifier", syn: synLite, query: `SELECT "a""?b", ? FROM t`, nargs: 1, want: `SELECT "a""?b", ?1 FROM t`},
	{name: "A4-06 doubled backtick", syn: synLite, query: "SELECT `y``?`, ? FROM t", nargs: 1, want: "SELECT `y``?`, ?1 FROM t"},
	{name: "A4-07 SQLite [identifier]", syn: synLite, query: "SELECT [x?] FROM t WHERE 1 = $1", nargs: 1, want: "SELECT [x?] FROM t WHERE 1 = ?1"},
	{name: "A4-08 PG subscript is code", syn: synPG, query: "SELECT arr[?] FROM t", nargs: 1, want: "SELECT arr[$1] FROM t"},
	{name: "A4-10 dollar-quoted body", syn: synPG, query: "CREATE FUNCTION f(int) RETURNS int AS $fn$ SELECT $1 + 1 $fn$ LANGUAGE sql", want: "="},
	{name: "A4-11 only the matching tag closes", syn: synPG, query: "SELECT $outer$ $$ $1 $$ $outer$, $1", nargs: 1, want: "="},
	{name: "A4-14 unterminated $$", syn: synPG, query: "SELECT $$abc, ?", nargs: 1, err: "unterminated dollar-quoted string@7"},
	{name: "A4-16 E string", syn: synPG, query: `SELECT E'it\'s ?', ?`, nargs: 1, want: `SELECT E'it\'s ?', $1`},
	{name: "A4-18 PG backslash is literal", syn: synPG, query: `SELECT '\', ?`, nargs: 1, want: `SELECT '\', $1`},
	{name: "A4-19 MySQL backslash escapes quote", syn: synMy, query: `SELECT '\', ?`, nargs: 1, err: "unterminated string literal@7"},
	{name: "A4-20 MySQL NO_BACKSLASH_ESCAPES", syn: synMyNBE, query: `SELECT '\', ?`, nargs: 1, want: "="},
	{name: "A4-21 MySQL escaped quote", syn: synMy, query: `SELECT 'a\'b ?', ?`, nargs: 1, want: "="},
	{name: "A4-23 MySQL ANSI_QUOTES identifier", syn: synMyANSI, query: `SELECT 1 AS "a\", $1`, nargs: 1, want: `SELECT 1 AS "a\", ?`},
	{name: "A4-24 U& string", syn: synPG, query: `SELECT U&'d\0061t\+000061 ?', ?`, nargs: 1, want: `SELECT U&'d\0061t\+000061 ?', $1`},
	{name: "A4-25 MySQL introducers", syn: synMy, query: "SELECT N'?', _utf8mb4'?', $1", nargs: 1, want: "SELECT N'?', _utf8mb4'?', ?"},
	{name: "A4-26 line comment", syn: synPG, query: "SELECT 1 -- ?\n, ?", nargs: 1, want: "SELECT 1 -- ?\n, $1"},
	{name: "A4-28 PG 5--? is a comment", syn: synPG, query: "SELECT 5--?", nargs: 1, want: "=", err: "takes 0 argument(s) but 1"},
	{name: "A4-30 PG # is XOR", syn: synPG, query: "SELECT ? # ?", nargs: 2, want: "SELECT $1 # $2"},
	{name: "A4-31 block comment", syn: synLite, query: "SELECT /* ? */ ?", nargs: 1, want: "SELECT /* ? */ ?1"},
	{name: "A4-32 PG nested comment", syn: synPG, query: "SELECT /* outer /* inner */ ? */ ?", nargs: 1, want: "SELECT /* outer /* inner */ ? */ $1"},
	{name: "A4-34 PG unterminated nested comment", syn: synPG, query: "SELECT 1 /* a /* b */ , ?", nargs: 1, err: "unterminated block comment@9"},
	{name: "A4-37 casts untouched", syn: synPG, query: "SELECT ?::int, '{}'::jsonb", nargs: 1, want: "SELECT $1::int, '{}'::jsonb"},
	{name: "A4-38 :name is not a placeholder", syn: synPG, query: "SELECT :id::int, 'a::b'", nargs: 1, want: "=", err: "takes 0 argument(s) but 1"},
	{name: "A4-40 :name in literal and code", syn: synPG, query: "SELECT ':name', :name", nargs: 1, want: "=", err: "takes 0 argument(s)"},
	{name: "A4-41 MySQL := assignment", syn: synMy, query: "SET @x := 1, @y = ?", nargs: 1, want: "="},
	{name: "A4-43 PG slice", syn: synPG, query: "SELECT (arr)[lo:hi], ?", nargs: 1, want: "SELECT (arr)[lo:hi], $1"},
	{name: "A4-44 SQLite :name would bind", syn: synLite, query: "SELECT :a, :b, :a", nargs: 2, err: "SQLite would bind@7"},
	{name: "A4-48 PG ? operator in $N style", syn: synPG, query: "SELECT data ? 'k' FROM t WHERE id = $1", nargs: 1, want: "="},
	{name: "A4-49 literal ? to MySQL", syn: synMy, query: "SELECT data ? 'k' FROM t WHERE id = $1", nargs: 1, err: "mixed placeholder styles ($N and ?)@12"},
	{name: "A4-49 literal ? to SQLite", syn: synLite, query: "SELECT data ? 'k' FROM t WHERE id = $1", nargs: 1, err: "mixed placeholder styles ($N and ?)@12"},
	{name: "A4-49 literal ? to ODBC", syn: synODBC, query: "SELECT data ? 'k' FROM t WHERE id = $1", nargs: 1, err: "mixed placeholder styles ($N and ?)@12"},
	{name: "A4-49 literal ? to ODBC over PG syntax", syn: synPG, bind: BindQuestion, query: "SELECT data ? 'k' FROM t WHERE id = $1", nargs: 1, err: "mixed placeholder styles ($N and ?)@12"},
	{name: "A4-50 ?? to MySQL", syn: synMy, query: "SELECT data ?? 'k', ?", nargs: 1, err: "literal ?@12"},
	{name: "A4-52 %% in a literal is left alone", syn: synPG, query: "SELECT * FROM t WHERE n LIKE 'a%%' AND id = %s", nargs: 1, want: "SELECT * FROM t WHERE n LIKE 'a%%' AND id = $1"},
	{name: "A4-54 lone %", syn: synPG, query: "SELECT 10 % 3, %s", nargs: 1, err: "lone %@10"},
	{name: "A4-55 %s in a literal is not a placeholder", syn: synPG, query: "SELECT 'LIKE %s%', %s", nargs: 2, want: "SELECT 'LIKE %s%', $1", err: "takes 1 argument(s) but 2"},
	{name: "A4-56 % outside %s style", syn: synPG, query: "SELECT '%', ?, 10 % 3", nargs: 1, want: "SELECT '%', $1, 10 % 3"},
	{name: "A4-57 reuse to MySQL", syn: synMy, query: "SELECT $1, $1", nargs: 1, want: "SELECT ?, ?", order: []int{0, 0}},
	{name: "A4-61 $3 without $1 $2", syn: synPG, query: "SELECT $3", nargs: 2, err: "unused argument: $1 does not appear but $3 does@7"},
	{name: "A4-62 gap pg", syn: synPG, query: "SELECT $1, $3", nargs: 3, err: "unused argument: $2@11"},
	{name: "A4-62 gap mysql", syn: synMy, query: "SELECT $1, $3", nargs: 3, err: "unused argument: $2@11"},
	{name: "A4-62 gap sqlite", syn: synLite, query: "SELECT $1, $3", nargs: 3, err: "unused argument: $2@11"},
	{name: "A4-63 too few args", syn: synPG, query: "SELECT ?, ?, ?", nargs: 2, want: "SELECT $1, $2, $3", err: "takes 3 argument(s) but 2"},
	{name: "A4-64 unused arg", syn: synPG, query: "SELECT ?", nargs: 2, want: "SELECT $1", err: "takes 1 argument(s) but 2"},
	{name: "A4-65 $0", syn: synPG, query: "SELECT $0", nargs: 1, err: "$0: placeholders are numbered from 1@7"},
	{name: "A4-65 overflow", syn: synPG, query: "SELECT $92233720368547758070", nargs: 1, err: "too large@7"},
	{name: "A4-65 overflow mysql", syn: synMy, query: "SELECT $1, $18446744073709551617", nargs: 1, err: "too large@11"},
	{name: "A4-67 ?N reuse to MySQL", syn: synMy, query: "SELECT ?1, ?1", nargs: 1, want: "SELECT ?, ?", order: []int{0, 0}},
	{name: "A4-68 $N and ? to MySQL", syn: synMy, query: "SELECT $1, ?", nargs: 1, err: "mixed placeholder styles ($N and ?)@11"},
	{name: "$N and ? to SQLite", syn: synLite, query: "SELECT ?, $1", nargs: 1, err: "mixed placeholder styles ($N and ?)@7"},
	{name: "A4-68 $N and ? operator PG", syn: synPG, query: "SELECT $1, ?", nargs: 1, want: "="},
	{name: "A4-68 :n and $1 PG", syn: synPG, query: "SELECT :n, $1", nargs: 1, want: "="},
	{name: "A4-69 unterminated string pg", syn: synPG, query: "SELECT 'abc, ?", nargs: 1, err: "unterminated string literal@7"},
	{name: "A4-69 unterminated string mysql", syn: synMy, query: "SELECT 'abc, ?", nargs: 1, err: "unterminated string literal@7"},
	{name: "A4-69 unterminated string sqlite", syn: synLite, query: "SELECT 'abc, ?", nargs: 1, err: "unterminated string literal@7"},
	{name: "A4-69 unterminated string odbc", syn: synODBC, query: "SELECT 'abc, ?", nargs: 1, err: "unterminated string literal@7"},
	{name: "A4-70 unterminated identifier", syn: synPG, query: `SELECT "abc, ?`, nargs: 1, err: "unterminated quoted identifier@7"},
	{name: "A4-71 unterminated comment pg", syn: synPG, query: "SELECT 1 /* ?", nargs: 1, err: "unterminated block comment@9"},
	{name: "A4-71 unterminated comment mysql", syn: synMy, query: "SELECT 1 /* ?", nargs: 1, err: "unterminated block comment@9"},
	{name: "A4-71 unterminated comment sqlite", syn: synLite, query: "SELECT 1 /* ?", nargs: 1, err: "unterminated block comment@9"},
	{name: "A4-71 unterminated comment odbc", syn: synODBC, query: "SELECT 1 /* ?", nargs: 1, err: "unterminated block comment@9"},
	{name: "A4-74 ODBC call escape", syn: synODBC, query: "{call proc($1, $2)}", nargs: 2, want: "{call proc(?, ?)}"},
	{name: "A4-75 ODBC fn escape", syn: synODBC, query: "SELECT {fn CONCAT('?', ?)}", nargs: 1, want: "="},
	{name: "A4-76 minus placeholder", syn: synPG, query: "SELECT -?", nargs: 1, want: "SELECT -$1"},

	// $N: numbering, reuse, reordering on every target.
	{name: "reorder pg", syn: synPG, query: "SELECT $2, $1", nargs: 2, want: "="},
	{name: "reorder mysql", syn: synMy, query: "SELECT $2, $1", nargs: 2, want: "SELECT ?, ?", order: []int{1, 0}},
	{name: "reorder sqlite", syn: synLite, query: "SELECT $2, $1", nargs: 2, want: "SELECT ?2, ?1"},
	{name: "reorder odbc", syn: synODBC, query: "SELECT $2, $1", nargs: 2, want: "SELECT ?, ?", order: []int{1, 0}},
	{name: "reuse pg", syn: synPG, query: "SELECT $1, $1", nargs: 1, want: "="},
	{name: "reuse sqlite", syn: synLite, query: "SELECT $1, $1", nargs: 1, want: "SELECT ?1, ?1"},
	{name: "reuse odbc", syn: synODBC, query: "SELECT $1 + $1", nargs: 1, want: "SELECT ? + ?", order: []int{0, 0}},
	{name: "in order to mysql is identity", syn: synMy, query: "SELECT $1, $2", nargs: 2, want: "SELECT ?, ?"},
	{name: "$10 is ten", syn: synMy, query: "SELECT $10,$9,$8,$7,$6,$5,$4,$3,$2,$1", nargs: 10, want: "SELECT ?,?,?,?,?,?,?,?,?,?", order: []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
	{name: "$10 is ten sqlite", syn: synLite, query: "SELECT $10,$9,$8,$7,$6,$5,$4,$3,$2,$1", nargs: 10, want: "SELECT ?10,?9,?8,?7,?6,?5,?4,?3,?2,?1"},
	{name: "a$1 is an identifier", syn: synPG, query: "SELECT a$1 FROM t WHERE x = $1", nargs: 1, want: "="},
	{name: "a$1 is an identifier mysql", syn: synMy, query: "SELECT a$1 FROM t WHERE x = $1", nargs: 1, want: "SELECT a$1 FROM t WHERE x = ?"},
	{name: "x$y$z is an identifier", syn: synPG, query: "SELECT x$y$z, $1", nargs: 1, want: "="},
	{name: "$1$2 pg", syn: synPG, query: "SELECT $1$2", nargs: 2, want: "="},
	{name: "$1 in many places sqlite", syn: synLite, query: "UPDATE t SET a = $2 WHERE b = $1 OR c = $2", nargs: 2, want: "UPDATE t SET a = ?2 WHERE b = ?1 OR c = ?2"},
	{name: "$65535 without the others", syn: synPG, query: "SELECT $1, $65535", nargs: 1, err: "unused argument: $2@11"},
	{name: "$65536", syn: synPG, query: "SELECT $65536", nargs: 1, err: "too large"},
	{name: "MySQL $name identifier", syn: synMy, query: "SELECT $abc, ?", nargs: 1, want: "="},
	{name: "PG lone $", syn: synPG, query: "SELECT $ , $1", nargs: 1, want: "="},
	{name: "PG $ at end", syn: synPG, query: "SELECT ?, $", nargs: 1, want: "SELECT $1, $"},

	// ?: sequential, ?? escape, ?N.
	{name: "? pg", syn: synPG, query: "INSERT INTO t(a, b, c) VALUES (?, ?, ?)", nargs: 3, want: "INSERT INTO t(a, b, c) VALUES ($1, $2, $3)"},
	{name: "? mysql unchanged", syn: synMy, query: "INSERT INTO t(a, b) VALUES (?, ?)", nargs: 2, want: "="},
	{name: "? sqlite", syn: synLite, query: "INSERT INTO t(a, b) VALUES (?, ?)", nargs: 2, want: "INSERT INTO t(a, b) VALUES (?1, ?2)"},
	{name: "? odbc unchanged", syn: synODBC, query: "INSERT INTO t(a, b) VALUES (?, ?)", nargs: 2, want: "="},
	{name: "?? JSONB", syn: synPG, query: "SELECT data ?? 'k' FROM t WHERE id = ?", nargs: 1, want: "SELECT data ? 'k' FROM t WHERE id = $1"},
	{name: "??| JSONB", syn: synPG, query: "SELECT data ??| array['a','b'], data ??& array['c'] FROM t WHERE id = ?", nargs: 1, want: "SELECT data ?| array['a','b'], data ?& array['c'] FROM t WHERE id = $1"},
	{name: "?? without placeholders", syn: synPG, query: "SELECT data ?? 'k'", want: "SELECT data ? 'k'"},
	{name: "??? is ?? then ?", syn: synPG, query: "SELECT a ???", nargs: 1, want: "SELECT a ?$1"},
	{name: "?? to SQLite", syn: synLite, query: "SELECT data ?? 'k', ?", nargs: 1, err: "literal ?@12"},
	{name: "?? to ODBC", syn: synODBC, query: "SELECT ?, data ?? 'k'", nargs: 1, err: "literal ?@15"},
	{name: "? in MySQL string with double quotes", syn: synMy, query: `SELECT "a?b", ?`, nargs: 1, want: "="},
	{name: "? in MySQL backtick", syn: synMy, query: "SELECT `a?b` FROM t WHERE x = $1", nargs: 1, want: "SELECT `a?b` FROM t WHERE x = ?"},
	{name: "?N kept sqlite", syn: synLite, query: "SELECT ?2, ?1", nargs: 2, want: "="},
	{name: "?N to pg", syn: synPG, query: "SELECT ?2, ?1, ?2", nargs: 2, want: "SELECT $2, $1, $2"},
	{name: "?N gap", syn: synLite, query: "SELECT ?1, ?3", nargs: 3, err: "unused argument: ?2 does not appear but ?3 does@11"},
	{name: "?0", syn: synLite, query: "SELECT ?0", nargs: 1, err: "?0: placeholders are numbered from 1@7"},
	{name: "? and ?N", syn: synLite, query: "SELECT ?1, ?", nargs: 2, err: "mixed placeholder styles (? and ?N)@11"},
	{name: "?? with ?N pg", syn: synPG, query: "SELECT d ?? 'k', ?1", nargs: 1, want: "SELECT d ? 'k', $1"},

	// %s: psycopg style.
	{name: "%s pg", syn: synPG, query: "SELECT * FROM t WHERE a = %s AND b = %s", nargs: 2, want: "SELECT * FROM t WHERE a = $1 AND b = $2"},
	{name: "%s mysql", syn: synMy, query: "SELECT * FROM t WHERE a = %s AND b = %s", nargs: 2, want: "SELECT * FROM t WHERE a = ? AND b = ?"},
	{name: "%s sqlite", syn: synLite, query: "SELECT * FROM t WHERE a = %s AND b = %s", nargs: 2, want: "SELECT * FROM t WHERE a = ?1 AND b = ?2"},
	{name: "%s odbc", syn: synODBC, query: "SELECT %s", nargs: 1, want: "SELECT ?"},
	{name: "%% is modulo", syn: synPG, query: "SELECT 10 %% 3, %s", nargs: 1, want: "SELECT 10 % 3, $1"},
	{name: "%% mysql", syn: synMy, query: "SELECT 10 %% 3, %s", nargs: 1, want: "SELECT 10 % 3, ?"},
	{name: "%s in literal", syn: synPG, query: "SELECT '%s', %s", nargs: 1, want: "SELECT '%s', $1"},
	{name: "%s in comment", syn: synMy, query: "SELECT /* %s %d */ %s # %x\n", nargs: 1, want: "SELECT /* %s %d */ ? # %x\n"},
	{name: "LIKE literal with %", syn: synPG, query: "SELECT * FROM t WHERE n LIKE '%a%' AND id = %s", nargs: 1, want: "SELECT * FROM t WHERE n LIKE '%a%' AND id = $1"},
	{name: "%d is lone %", syn: synPG, query: "SELECT %s, %d", nargs: 1, err: "lone %@11"},
	{name: "% at end", syn: synMy, query: "SELECT %s %", nargs: 1, err: "lone %@10"},
	{name: "%%s is a literal %s", syn: synPG, query: "SELECT %%s, %s", nargs: 1, want: "SELECT %s, $1"},
	{name: "%s%s glued pg", syn: synPG, query: "SELECT %s%s", nargs: 2, want: "SELECT $1 $2"},
	{name: "%s%s glued mysql", syn: synMy, query: "SELECT %s%s", nargs: 2, want: "SELECT ? ?"},
	{name: "%s%s glued sqlite", syn: synLite, query: "SELECT %s%s", nargs: 2, want: "SELECT ?1?2"},
	{name: "%s and ? operator pg", syn: synPG, query: "SELECT d ? 'k' FROM t WHERE id = %s", nargs: 1, want: "SELECT d ? 'k' FROM t WHERE id = $1"},
	{name: "%s and ? mysql", syn: synMy, query: "SELECT ?, %s", nargs: 1, err: "mixed placeholder styles (%s and ?)@7"},
	{name: "$N and %s", syn: synPG, query: "SELECT $1, %s", nargs: 1, err: "mixed placeholder styles ($N and %s)@11"},
	{name: "%s and ?N", syn: synLite, query: "SELECT %s, ?1", nargs: 1, err: "mixed placeholder styles (%s and ?N)@11"},
	{name: "$N and ?N", syn: synMy, query: "SELECT ?1, $1", nargs: 1, err: "mixed placeholder styles ($N and ?N)@11"},
	{name: "% in $N style", syn: synMy, query: "SELECT 5 % $1", nargs: 1, want: "SELECT 5 % ?"},

	// Gluing.
	{name: "?AND glue", syn: synPG, query: "SELECT * FROM t WHERE a = ?AND b = ?", nargs: 2, want: "SELECT * FROM t WHERE a = $1 AND b = $2"},
	{name: "?AND mysql untouched", syn: synMy, query: "SELECT * FROM t WHERE a = ?AND b = ?", nargs: 2, want: "="},
	{name: "$1AND to mysql", syn: synMy, query: "SELECT * FROM t WHERE a = $1AND b = $2", nargs: 2, want: "SELECT * FROM t WHERE a = ? AND b = ?"},
	{name: "?AND sqlite", syn: synLite, query: "SELECT ?AND", nargs: 1, want: "SELECT ?1 AND"},
	{name: "a? glue", syn: synPG, query: "SELECT a?", nargs: 1, want: "SELECT a $1"},
	{name: "?$$ glue", syn: synPG, query: "SELECT ?$$x$$", nargs: 1, want: "SELECT $1 $$x$$"},
	{name: "%s_x is modulo", syn: synMy, query: "SELECT %s_x", nargs: 1, want: "=", err: "takes 0 argument(s) but 1"},
	{name: "a%size is modulo", syn: synPG, query: "SELECT a%size FROM t WHERE id = $1", nargs: 1, want: "="},
	{name: "a%size in %s style", syn: synPG, query: "SELECT %s, a%size", nargs: 1, err: "lone %@12"},
	{name: "e%s then literal", syn: synPG, query: `SELECT e%s'x\'`, nargs: 1, want: `SELECT e $1'x\'`},
	{name: "?e'…' stays an E string", syn: synPG, query: `SELECT ?e'x\''`, nargs: 1, want: `SELECT $1 e'x\''`},

	// PostgreSQL lexing.
	{name: "pg E string backslash backslash", syn: synPG, query: `SELECT E'\\', ?`, nargs: 1, want: `SELECT E'\\', $1`},
	{name: "pg e string lower case", syn: synPG, query: `SELECT e'\'?', ?`, nargs: 1, want: `SELECT e'\'?', $1`},
	{name: "pg word ending in e is not E", syn: synPG, query: `SELECT somee'x\', ?`, nargs: 1, want: `SELECT somee'x\', $1`},
	{name: "pg unterminated E string", syn: synPG, query: `SELECT E'x\'`, err: "unterminated string literal@7"},
	{name: "pg doubled quote", syn: synPG, query: "SELECT 'it''s ?', ?", nargs: 1, want: "SELECT 'it''s ?', $1"},
	{name: "pg B and X strings", syn: synPG, query: "SELECT B'101', X'3F', ?", nargs: 1, want: "SELECT B'101', X'3F', $1"},
	{name: "pg doubled quote identifier", syn: synPG, query: `SELECT "a""?", ?`, nargs: 1, want: `SELECT "a""?", $1`},
	{name: "pg U& identifier", syn: synPG, query: `SELECT U&"d\0061?", ?`, nargs: 1, want: `SELECT U&"d\0061?", $1`},
	{name: "pg dollar quote with tag", syn: synPG, query: "SELECT $tag$ ? $1 'x $tag$, ?", nargs: 1, want: "SELECT $tag$ ? $1 'x $tag$, $1"},
	{name: "pg dollar quote nested tags", syn: synPG, query: "SELECT $a$ $b$ ? $b$ $a$, ?", nargs: 1, want: "SELECT $a$ $b$ ? $b$ $a$, $1"},
	{name: "pg dollar quote _ tag", syn: synPG, query: "SELECT $_$?$_$, ?", nargs: 1, want: "SELECT $_$?$_$, $1"},
	{name: "pg dollar quote UTF-8 tag", syn: synPG, query: "SELECT $é$ ? $é$, ?", nargs: 1, want: "SELECT $é$ ? $é$, $1"},
	{name: "pg unterminated tag", syn: synPG, query: "SELECT 1, $tag$ ? $tagg", nargs: 1, err: "unterminated dollar-quoted string@10"},
	{name: "pg $1$ is a placeholder then $", syn: synPG, query: "SELECT $1$", nargs: 1, want: "="},
	{name: "pg -- ends at CR", syn: synPG, query: "SELECT 1 -- ?\r+ ?", nargs: 1, want: "SELECT 1 -- ?\r+ $1"},
	{name: "pg -- backslash does not escape newline", syn: synPG, query: "SELECT 1 -- dir C:\\\n+ ?", nargs: 1, want: "SELECT 1 -- dir C:\\\n+ $1"},
	{name: "pg /*/ is not closed", syn: synPG, query: "SELECT /*/ ? */ ?", nargs: 1, want: "SELECT /*/ ? */ $1"},
	{name: "pg /**/", syn: synPG, query: "SELECT /**/?", nargs: 1, want: "SELECT /**/$1"},
	{name: "pg /*! is a comment", syn: synPG, query: "SELECT 1 /*! + ? */", want: "="},
	{name: "pg backtick is code", syn: synPG, query: "SELECT `?`", nargs: 1, want: "SELECT `$1`"},
	{name: "pg -- at end", syn: synPG, query: "SELECT ? --", nargs: 1, want: "SELECT $1 --"},

	// MySQL lexing.
	{name: "mysql # comment", syn: synMy, query: "SELECT ? # ?\n, ?", nargs: 2, want: "="},
	{name: "mysql # comment to pg bind", syn: synMy, bind: BindDollar, query: "SELECT ? # ?\n, ?", nargs: 2, want: "SELECT $1 # ?\n, $2"},
	{name: "mysql 2--1 is arithmetic", syn: synMy, query: "SELECT 2--?", nargs: 1, want: "="},
	{name: "mysql -- space comment", syn: synMy, query: "SELECT 2-- ?\n+ ?", nargs: 1, want: "="},
	{name: "mysql --tab comment", syn: synMy, query: "SELECT 2--\t?\n+ $1", nargs: 1, want: "SELECT 2--\t?\n+ ?"},
	{name: "mysql -- at end", syn: synMy, query: "SELECT $1 --", nargs: 1, want: "SELECT ? --"},
	{name: "mysql executable comment", syn: synMy, query: "SELECT 1 /*! + ? */", nargs: 1, want: "="},
	{name: "mysql versioned executable comment", syn: synMy, query: "SELECT 1 /*!50001 + $2 */ + $1", nargs: 2, want: "SELECT 1 /*!50001 + ? */ + ?", order: []int{1, 0}},
	{name: "mariadb executable comment", syn: synMy, query: "SELECT 1 /*M!100100 + $1 */", nargs: 1, want: "SELECT 1 /*M!100100 + ? */"},
	{name: "mysql executable comment with string", syn: synMy, query: "SELECT 1 /*! + '*/ ?' */, ?", nargs: 1, want: "="},
	{name: "mysql unterminated executable comment", syn: synMy, query: "SELECT 1 /*! + ?", nargs: 1, err: "unterminated executable comment@9"},
	{name: "mysql optimizer hint is a comment", syn: synMy, query: "SELECT /*+ ? */ ?", nargs: 1, want: "="},
	{name: "mysql /* c */* is not reopened", syn: synMy, query: "SELECT /* c */* FROM t WHERE a = ?", nargs: 1, want: "="},
	{name: "mysql comments do not nest", syn: synMy, query: "SELECT /* a /* b */ ?", nargs: 1, want: "="},
	{name: "mysql double quoted string backslash", syn: synMy, query: `SELECT "a\"?", ?`, nargs: 1, want: "="},
	{name: "mysql ANSI_QUOTES no backslash", syn: synMyANSI, query: `SELECT "a\"?", ?`, nargs: 1, err: "unterminated quoted identifier@12"},
	{name: "mysql NBE double quote", syn: synMyNBE, query: `SELECT "a\", ?`, nargs: 1, want: "="},
	{name: "mysql both modes", syn: synMyBoth, query: `SELECT 'a\', "b\", ?`, nargs: 1, want: "="},
	{name: "mysql doubled single quote", syn: synMy, query: "SELECT 'it''s ?', $1", nargs: 1, want: "SELECT 'it''s ?', ?"},
	{name: "mysql unterminated backtick", syn: synMy, query: "SELECT `a?", nargs: 1, err: "unterminated quoted identifier@7"},
	{name: "mysql [] is code", syn: synMy, query: "SELECT JSON_EXTRACT(d, '$[0]'), a[$1]", nargs: 1, want: "SELECT JSON_EXTRACT(d, '$[0]'), a[?]"},

	// SQLite lexing.
	{name: "sqlite -- always", syn: synLite, query: "SELECT 5--?1", nargs: 1, want: "=", err: "takes 0 argument(s) but 1"},
	{name: "sqlite @name", syn: synLite, query: "SELECT @a, ?", nargs: 1, err: "SQLite would bind@7"},
	{name: "sqlite $name", syn: synLite, query: "SELECT ?, $a", nargs: 1, err: "SQLite would bind@10"},
	{name: "sqlite #name", syn: synLite, query: "SELECT ?, #a", nargs: 1, err: "SQLite would bind@10"},
	{name: "sqlite lone :", syn: synLite, query: "SELECT ? : 1", nargs: 1, want: "SELECT ?1 : 1"},
	{name: "sqlite backslash literal", syn: synLite, query: `SELECT '\', ?`, nargs: 1, want: `SELECT '\', ?1`},
	{name: "sqlite unterminated bracket", syn: synLite, query: "SELECT [a?", nargs: 1, err: "unterminated quoted identifier@7"},
	{name: "sqlite comments do not nest", syn: synLite, query: "SELECT /* a /* b */ ?", nargs: 1, want: "SELECT /* a /* b */ ?1"},

	// ODBC lexing.
	{name: "odbc [] is code", syn: synODBC, query: "SELECT a[?]", nargs: 1, want: "="},
	{name: "odbc date escape", syn: synODBC, query: "SELECT * FROM t WHERE d > {d '2020-01-01'} AND x = $1", nargs: 1, want: "SELECT * FROM t WHERE d > {d '2020-01-01'} AND x = ?"},
	{name: "odbc -- always", syn: synODBC, query: "SELECT 5--?\n, $1", nargs: 1, want: "SELECT 5--?\n, ?"},
	{name: "odbc # is code", syn: synODBC, query: "SELECT # ?", nargs: 1, want: "="},
	{name: "odbc identifier", syn: synODBC, query: `SELECT "a?" FROM t WHERE x = %s`, nargs: 1, want: `SELECT "a?" FROM t WHERE x = ?`},

	// UTF-8 and bytes.
	{name: "utf8 text", syn: synPG, query: "SELECT 'héllo ?', \"ünï?\", ? -- ñ ?", nargs: 1, want: "SELECT 'héllo ?', \"ünï?\", $1 -- ñ ?"},
	{name: "utf8 identifier glue", syn: synPG, query: "SELECT ñ?", nargs: 1, want: "SELECT ñ $1"},
	{name: "U+FFFD", syn: synPG, query: "SELECT '\uFFFD', ?", nargs: 1, want: "SELECT '\uFFFD', $1"},
	{name: "invalid UTF-8 in literal", syn: synMy, query: "SELECT '\xff?\xfe', $1", nargs: 1, want: "SELECT '\xff?\xfe', ?"},
	{name: "invalid UTF-8 in code", syn: synPG, query: "SELECT \xfe?", nargs: 1, want: "SELECT \xfe $1"},
	{name: "NUL byte", syn: synPG, query: "SELECT '\x00?', ?", nargs: 1, want: "SELECT '\x00?', $1"},
	{name: "empty", syn: synPG, query: "", want: "="},
	{name: "no placeholders", syn: synMy, query: "SELECT 1", want: "="},
	{name: "only ?", syn: synPG, query: "?", nargs: 1, want: "$1"},
	{name: "only $1", syn: synMy, query: "$1", nargs: 1, want: "?"},
}

// errorAt splits an expected error "text@offset" (offset -2: not checked).
func errorAt(s string) (string, int) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		if off, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i], off
		}
	}
	return s, -2
}

// checkPlaceholderError checks that err is a *PlaceholderError wrapping
// ErrPlaceholder with the expected message and offset.
func checkPlaceholderError(t *testing.T, err error, want string) {
	t.Helper()
	msg, off := errorAt(want)
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !errors.Is(err, ErrPlaceholder) {
		t.Errorf("errors.Is(%v, ErrPlaceholder) = false", err)
	}
	if errors.Is(err, driver.ErrBadConn) {
		t.Errorf("error %v is driver.ErrBadConn", err)
	}
	var pe *PlaceholderError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *PlaceholderError", err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
	if off != -2 && pe.Offset != off {
		t.Errorf("offset %d, want %d (%v)", pe.Offset, off, err)
	}
	if off >= 0 && !strings.Contains(err.Error(), fmt.Sprintf("at byte %d:", off)) {
		t.Errorf("error %q does not name byte %d", err, off)
	}
}

// namedArgs returns n positional arguments with distinct values.
func namedArgs(n int) []driver.NamedValue {
	args := make([]driver.NamedValue, n)
	for i := range args {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: int64(100 + i)}
	}
	return args
}

func TestRewrite(t *testing.T) {
	for _, tc := range rewriteCases {
		t.Run(tc.name, func(t *testing.T) {
			bind := tc.bind
			if bind == 0 {
				bind = bindFor[tc.syn.Dialect]
			}
			r, err := NewRewrite(tc.query, tc.syn, bind)
			if tc.want == "" {
				checkPlaceholderError(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatalf("NewRewrite(%q): %v", tc.query, err)
			}
			want := tc.want
			if want == "=" {
				want = tc.query
			}
			if r.Query != want {
				t.Errorf("query\n got %q\nwant %q", r.Query, want)
			}
			if !reflect.DeepEqual(r.Order, tc.order) {
				t.Errorf("order %v, want %v", r.Order, tc.order)
			}
			_, err = r.Args(namedArgs(tc.nargs))
			if tc.err != "" {
				checkPlaceholderError(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatalf("args(%d): %v", tc.nargs, err)
			}
			if r.NumInput != tc.nargs {
				t.Errorf("numInput %d, want %d", r.NumInput, tc.nargs)
			}
		})
	}
}

func TestRewriteCaseCount(t *testing.T) {
	if len(rewriteCases) < 100 {
		t.Errorf("%d rewrite cases, want at least 100", len(rewriteCases))
	}
}

func TestRewriteUnchangedDoesNotCopy(t *testing.T) {
	q := "SELECT * FROM t WHERE a = $1 AND b = $2"
	r, err := NewRewrite(q, synPG, BindDollar)
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(r.Query) != unsafe.StringData(q) {
		t.Error("a query already in native form was copied")
	}
}

func TestRewriteArgs(t *testing.T) {
	r, err := NewRewrite("SELECT $3, $1, $3, $2", synMy, BindQuestion)
	if err != nil {
		t.Fatal(err)
	}
	in := []driver.NamedValue{{Ordinal: 1, Value: "a"}, {Ordinal: 2, Value: "b"}, {Ordinal: 3, Value: "c"}}
	out, err := r.Args(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []driver.NamedValue{{Ordinal: 1, Value: "c"}, {Ordinal: 2, Value: "a"}, {Ordinal: 3, Value: "c"}, {Ordinal: 4, Value: "b"}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("args = %v, want %v", out, want)
	}
	if in[0].Value != "a" || in[0].Ordinal != 1 {
		t.Error("args modified the caller's slice")
	}

	t.Run("identity returns the same slice", func(t *testing.T) {
		r, err := NewRewrite("SELECT ?, ?", synMy, BindQuestion)
		if err != nil {
			t.Fatal(err)
		}
		in := namedArgs(2)
		out, err := r.Args(in)
		if err != nil || &out[0] != &in[0] {
			t.Errorf("args copied the slice (err %v)", err)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = r.Args(in) }); n != 0 {
			t.Errorf("args allocates %v times", n)
		}
	})

	t.Run("count mismatch", func(t *testing.T) {
		for _, n := range []int{0, 2, 4} {
			_, err := r.Args(namedArgs(n))
			checkPlaceholderError(t, err, fmt.Sprintf("the query takes 3 argument(s) but %d were given@-1", n))
		}
	})

	t.Run("sql.Named is refused", func(t *testing.T) {
		args := namedArgs(3)
		args[1].Name = "secret_name"
		args[1].Value = "hunter2"
		_, err := r.Args(args)
		checkPlaceholderError(t, err, `named argument "secret_name" (sql.Named) is not supported@-1`)
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q contains an argument value", err)
		}
	})
}

func TestRewriteErrorMessages(t *testing.T) {
	err := error(&PlaceholderError{Offset: 17, Msg: "unterminated string literal"})
	if got, want := err.Error(), "aiodb: placeholder error at byte 17: unterminated string literal"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = fmt.Errorf("exec: %w", err)
	var pe *PlaceholderError
	if !errors.Is(err, ErrPlaceholder) || !errors.As(err, &pe) || pe.Offset != 17 {
		t.Errorf("wrapped error lost its identity: %v", err)
	}
	if got, want := (&PlaceholderError{Offset: -1, Msg: "x"}).Error(), "aiodb: placeholder error: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestRewriteNeverPanics feeds every prefix of every table query to every
// target: truncation produces all the unterminated forms.
func TestRewriteNeverPanics(t *testing.T) {
	for _, tc := range rewriteCases {
		for i := 0; i <= len(tc.query); i++ {
			for _, tg := range allTargets {
				q := tc.query[:i]
				if r, err := NewRewrite(q, tg.syn, tg.bind); err == nil {
					checkRewriteProperties(t, q, tg.syn, tg.bind, r)
				}
				_ = Classify(q, tg.syn)
			}
		}
	}
}

func TestRewriteCache(t *testing.T) {
	c := NewRewriteCache(synPG, BindDollar, 4)
	r1, err := c.Get("SELECT ?")
	if err != nil || r1.Query != "SELECT $1" {
		t.Fatalf("get = %v, %v", r1, err)
	}
	if r2, _ := c.Get("SELECT ?"); r2 != r1 {
		t.Error("second get did not hit the cache")
	}
	_, err1 := c.Get("SELECT '")
	_, err2 := c.Get("SELECT '")
	if err1 == nil || err1 != err2 {
		t.Errorf("errors not cached: %v, %v", err1, err2)
	}
	for i := range 100 {
		if _, err := c.Get(fmt.Sprintf("SELECT %d, ?", i)); err != nil {
			t.Fatal(err)
		}
		c.q.mu.RLock()
		n := len(c.q.cur) + len(c.q.old)
		c.q.mu.RUnlock()
		if n > 4 {
			t.Fatalf("cache holds %d entries, bound is 4", n)
		}
	}
	// An entry of the old generation is promoted.
	c.Get("SELECT 98, ?")
	c.Get("SELECT x")
	c.Get("SELECT 98, ?")
	c.q.mu.RLock()
	_, ok := c.q.cur["SELECT 98, ?"]
	c.q.mu.RUnlock()
	if !ok {
		t.Error("old entry was not promoted")
	}
	long := "SELECT ?" + strings.Repeat(" ", maxCachedQuery)
	if r, err := c.Get(long); err != nil || r.NumInput != 1 {
		t.Fatalf("long query: %v, %v", r, err)
	}
	c.q.mu.RLock()
	_, ok = c.q.cur[long]
	c.q.mu.RUnlock()
	if ok {
		t.Error("a query longer than maxCachedQuery was cached")
	}
}

func TestRewriteCacheConcurrent(t *testing.T) {
	c := NewRewriteCache(synMy, BindQuestion, 16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				q := fmt.Sprintf("SELECT $2, $1, %d", (i*7+g)%40)
				r, err := c.Get(q)
				if err != nil || len(r.Order) != 2 || r.Order[0] != 1 {
					t.Errorf("get(%q) = %v, %v", q, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRewriteCacheHitAllocs(t *testing.T) {
	c := NewRewriteCache(synPG, BindDollar, 1024)
	q := benchQuery10
	if _, err := c.Get(q); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = c.Get(q) }); n != 0 {
		t.Errorf("cached get allocates %v times", n)
	}
}

// benchQuery10 is a query with 10 placeholders.
const benchQuery10 = "SELECT id, name, email FROM users WHERE a = ? AND b = ? AND c = ? AND d = ? AND e = ? " +
	"AND f = ? AND g = ? AND h = ? AND i = ? AND j = ?"

// benchQuery1K is a realistic query of about 1 KB.
var benchQuery1K = `-- list the open orders of a customer
SELECT o.id, o.created_at, o.status, o.total_cents, c.name AS customer_name,
       c.email, a.street, a.city, a.postal_code, a.country,
       (SELECT count(*) FROM order_items i WHERE i.order_id = o.id) AS items,
       coalesce(s.tracking_code, 'n/a') AS tracking
  FROM orders o
  JOIN customers c ON c.id = o.customer_id
  LEFT JOIN addresses a ON a.id = o.shipping_address_id
  LEFT JOIN shipments s ON s.order_id = o.id AND s.carrier <> 'internal'
 WHERE o.customer_id = ?
   AND o.status IN (?, ?, ?)
   AND o.created_at >= ? AND o.created_at < ?
   AND c.email NOT LIKE '%@example.invalid'
   AND o.note <> 'is this the "right" one?'
   /* the region filter is optional: ? */
   AND (a.country = ? OR ? IS NULL)
   AND o.total_cents BETWEEN ? AND ?
 ORDER BY o.created_at DESC, o.id DESC
 LIMIT ? OFFSET ?`

func BenchmarkRewriteCached(b *testing.B) {
	c := NewRewriteCache(synPG, BindDollar, 1024)
	if _, err := c.Get(benchQuery10); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(benchQuery10); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewriteUncached(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchQuery1K)))
	for b.Loop() {
		if _, err := NewRewrite(benchQuery1K, synPG, BindDollar); err != nil {
			b.Fatal(err)
		}
	}
}

// naiveRewrite is the baseline: sqlx.Rebind-style replacement of every ?
// with $N, with no lexer (and so wrong inside literals and comments).
func naiveRewrite(q string) string {
	var b strings.Builder
	b.Grow(len(q) + strings.Count(q, "?")*3)
	n := 0
	for {
		i := strings.IndexByte(q, '?')
		if i < 0 {
			break
		}
		n++
		b.WriteString(q[:i])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		q = q[i+1:]
	}
	b.WriteString(q)
	return b.String()
}

func BenchmarkRewriteNaive(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchQuery1K)))
	for b.Loop() {
		_ = naiveRewrite(benchQuery1K)
	}
}
