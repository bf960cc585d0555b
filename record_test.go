package aiodb

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// typeCase is one SQL type: its declaration and a literal per dialect ("" when
// the dialect has no such type), and the Go value a Record holds for it.
type typeCase struct {
	name             string
	pg, my, lite     [2]string // column type, literal
	want             any
	odbc, mysql, lit any // per-backend exceptions (nil: want); NULL is tested by "null"
}

var (
	utc   = time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	day   = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	local = func(t time.Time) time.Time {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local)
	}
)

// typeCases is the type normalisation table of docs/helpers.md, row by row.
var typeCases = []typeCase{
	{name: "smallint", pg: [2]string{"SMALLINT", "7"}, my: [2]string{"SMALLINT", "7"}, lite: [2]string{"SMALLINT", "7"}, want: int64(7)},
	{name: "integer", pg: [2]string{"INTEGER", "-42"}, my: [2]string{"INTEGER", "-42"}, lite: [2]string{"INTEGER", "-42"}, want: int64(-42)},
	{name: "bigint", pg: [2]string{"BIGINT", "9007199254740993"}, my: [2]string{"BIGINT", "9007199254740993"}, lite: [2]string{"BIGINT", "9007199254740993"}, want: int64(9007199254740993)},
	{name: "tinyint", my: [2]string{"TINYINT", "5"}, want: int64(5)},
	{name: "year", my: [2]string{"YEAR", "2024"}, want: int64(2024)},
	{name: "int unsigned", my: [2]string{"INT UNSIGNED", "4294967295"}, want: int64(math.MaxUint32)},
	{name: "bigint unsigned", my: [2]string{"BIGINT UNSIGNED", "18446744073709551615"}, want: uint64(math.MaxUint64)},
	{name: "real", pg: [2]string{"REAL", "1.1"}, my: [2]string{"FLOAT", "1.1"}, lite: [2]string{"REAL", "1.1"}, want: 1.1},
	{name: "double", pg: [2]string{"DOUBLE PRECISION", "2.5"}, my: [2]string{"DOUBLE", "2.5"}, lite: [2]string{"DOUBLE", "2.5"}, want: 2.5},
	{name: "numeric", pg: [2]string{"NUMERIC(10,2)", "12.34"}, my: [2]string{"DECIMAL(10,2)", "12.34"}, lite: [2]string{"NUMERIC(10,2)", "12.34"}, want: "12.34", odbc: 12.34},
	// SQLite stores an integer in a NUMERIC column as an integer: still a decimal string, exact beyond 2⁵³.
	{name: "numeric integer", pg: [2]string{"NUMERIC(20,0)", "9007199254740993"}, my: [2]string{"DECIMAL(20,0)", "9007199254740993"}, lite: [2]string{"NUMERIC", "9007199254740993"}, want: "9007199254740993", odbc: float64(9007199254740992)},
	{name: "decimal integer", pg: [2]string{"DECIMAL(5,0)", "-12"}, my: [2]string{"DECIMAL(5,0)", "-12"}, lite: [2]string{"DECIMAL(5,0)", "-12"}, want: "-12", odbc: float64(-12)},
	{name: "text", pg: [2]string{"TEXT", "'héllo'"}, my: [2]string{"TEXT", "'héllo'"}, lite: [2]string{"TEXT", "'héllo'"}, want: "héllo"},
	{name: "varchar", pg: [2]string{"VARCHAR(10)", "'v'"}, my: [2]string{"VARCHAR(10)", "'v'"}, lite: [2]string{"VARCHAR(10)", "'v'"}, want: "v"},
	{name: "char", pg: [2]string{"CHAR(3)", "'ab'"}, my: [2]string{"CHAR(3)", "'ab'"}, lite: [2]string{"CHAR(3)", "'ab'"}, want: "ab ", mysql: "ab", lit: "ab"},
	{name: "binary", pg: [2]string{"BYTEA", `'\x00ff'`}, my: [2]string{"VARBINARY(4)", "x'00ff'"}, lite: [2]string{"BLOB", "x'00ff'"}, want: []byte{0, 0xff}, odbc: "\x00\xff"},
	{name: "blob", my: [2]string{"BLOB", "x'00ff'"}, want: []byte{0, 0xff}},
	{name: "boolean", pg: [2]string{"BOOLEAN", "true"}, my: [2]string{"BOOLEAN", "true"}, lite: [2]string{"BOOLEAN", "true"}, want: true, mysql: int64(1), odbc: "1"},
	{name: "date", pg: [2]string{"DATE", "'2024-01-02'"}, my: [2]string{"DATE", "'2024-01-02'"}, lite: [2]string{"DATE", "'2024-01-02'"}, want: day, odbc: local(day)},
	{name: "timestamp", pg: [2]string{"TIMESTAMP", "'2024-01-02 03:04:05.123456'"}, my: [2]string{"DATETIME(6)", "'2024-01-02 03:04:05.123456'"}, lite: [2]string{"DATETIME", "'2024-01-02 03:04:05.123456'"}, want: utc, odbc: local(utc)},
	{name: "timestamptz", pg: [2]string{"TIMESTAMPTZ", "'2024-01-02 03:04:05.123456+00'"}, lite: [2]string{"TIMESTAMP", "'2024-01-02T03:04:05.123456Z'"}, want: utc},
	{name: "time of day", pg: [2]string{"TIME", "'03:04:05'"}, my: [2]string{"TIME", "'03:04:05'"}, lite: [2]string{"TIME", "'03:04:05'"}, want: "03:04:05", odbc: time.Date(1, 1, 1, 3, 4, 5, 0, time.Local)},
	{name: "json", pg: [2]string{"JSON", `'{"a": 1}'`}, my: [2]string{"JSON", `'{"a": 1}'`}, lite: [2]string{"JSON", `'{"a": 1}'`}, want: `{"a": 1}`},
	{name: "jsonb", pg: [2]string{"JSONB", `'{"a":1}'`}, want: `{"a": 1}`},
	{name: "uuid", pg: [2]string{"UUID", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}, my: [2]string{"UUID", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}, lite: [2]string{"UUID", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}, want: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	{name: "interval", pg: [2]string{"INTERVAL", "'1 day 2 hours'"}, want: "1 day 02:00:00"},
	{name: "array", pg: [2]string{"INTEGER[]", "'{1,2,3}'"}, want: "{1,2,3}"},
	{name: "inet", pg: [2]string{"INET", "'10.0.0.1'"}, want: "10.0.0.1"},
	{name: "enum", my: [2]string{"ENUM('a','b')", "'b'"}, want: "b"},
	{name: "set", my: [2]string{"SET('x','y')", "'x,y'"}, want: "x,y"},
	{name: "bit", my: [2]string{"BIT(3)", "b'101'"}, want: []byte{5}},
	{name: "null", pg: [2]string{"INTEGER", "NULL"}, my: [2]string{"INTEGER", "NULL"}, lite: [2]string{"INTEGER", "NULL"}, want: nil},
}

// forBackend returns the declaration and literal of c for b and the value
// expected there; ok is false when b has no such type.
func (c typeCase) forBackend(b server) (decl, lit string, want any, ok bool) {
	d := map[Dialect][2]string{PostgreSQL: c.pg, ODBC: c.pg, MySQL: c.my, SQLite: c.lite}[b.dialect]
	want = c.want
	if w := map[Dialect]any{ODBC: c.odbc, MySQL: c.mysql, SQLite: c.lit}[b.dialect]; w != nil {
		want = w
	}
	return d[0], d[1], want, d[0] != ""
}

// TestRecordTypes is the type table: one SQL type per row, on every server,
// read with and without arguments (MySQL's text and binary protocols), by
// FetchOne and by FetchValAt[any].
func TestRecordTypes(t *testing.T) {
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, b server) {
		db := openDB(t, b)
		var cols, lits []string
		var cases []typeCase
		var wants []any
		for _, c := range typeCases {
			if decl, lit, want, ok := c.forBackend(b); ok {
				cols = append(cols, fmt.Sprintf("c%d %s", len(cols), decl))
				lits = append(lits, lit)
				cases, wants = append(cases, c), append(wants, want)
			}
		}
		tbl := b.table(t, db.DB(), strings.Join(cols, ", "))
		if _, err := db.Execute(ctx, "INSERT INTO "+tbl+" VALUES ("+strings.Join(lits, ", ")+")"); err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			name, query string
			args        []any
		}{
			{"no arguments", "SELECT * FROM " + tbl, nil},
			{"an argument", "SELECT * FROM " + tbl + " WHERE 1 = $1", []any{1}},
		} {
			rec, err := db.FetchOne(ctx, q.query, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cases {
				if got := rec.At(i); !sameValue(got, wants[i]) {
					t.Errorf("%s, %s: got %T %#v, want %T %#v", c.name, q.name, got, got, wants[i], wants[i])
				}
				v, err := FetchValAt[any](ctx, db, i, q.query, q.args...)
				if err != nil || !sameValue(v, wants[i]) {
					t.Errorf("%s, %s: FetchValAt[any] got %T %#v, %v", c.name, q.name, v, v, err)
				}
			}
		}
	})
}

// sameValue compares a Record value with the table's: same Go type, same
// value (times by instant and location name, []byte by content).
func sameValue(got, want any) bool {
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return false
	}
	switch w := want.(type) {
	case time.Time:
		g := got.(time.Time)
		return g.Equal(w)
	case []byte:
		return bytes.Equal(got.([]byte), w)
	}
	return got == want
}

// rec builds a record from names and values, as a decoder does.
func rec(names []string, vals ...any) Record {
	return Record{cols: newColumns(names), vals: vals}
}

func TestRecordMethods(t *testing.T) {
	r := rec([]string{"id", "name", "note", "id"}, int64(1), "ann", nil, int64(2))
	if r.Len() != 4 || r.At(1) != "ann" || r.Get("id") != int64(1) || r.Get("missing") != nil {
		t.Errorf("Len/At/Get: %v", r)
	}
	if v, ok := r.Lookup("note"); v != nil || !ok {
		t.Errorf("Lookup(NULL column) = %v, %v", v, ok)
	}
	if v, ok := r.Lookup("missing"); v != nil || ok {
		t.Errorf("Lookup(missing) = %v, %v", v, ok)
	}
	cols := r.Columns()
	cols[0] = "changed"
	vals := r.Values()
	vals[0] = "changed"
	if r.Columns()[0] != "id" || r.At(0) != int64(1) {
		t.Error("Columns or Values share the record's memory")
	}
	if m := r.Map(); !reflect.DeepEqual(m, map[string]any{"id": int64(1), "name": "ann", "note": nil}) {
		t.Errorf("Map() = %v (the first of two id columns wins)", m)
	}
	if s := r.String(); s != `(id=1, name="ann", note=NULL, id=2)` {
		t.Errorf("String() = %s", s)
	}
	var zero Record
	if zero.Len() != 0 || zero.Columns() != nil || zero.Get("x") != nil || zero.String() != "()" || zero.Scan() != nil || len(zero.Map()) != 0 {
		t.Error("the zero Record is not an empty record")
	}
	wide := make([]string, indexFrom+2)
	for i := range wide {
		wide[i] = fmt.Sprint("c", i%(indexFrom+1))
	}
	w := rec(wide, make([]any, len(wide))...)
	w.vals[0], w.vals[indexFrom] = "first", "second"
	if w.Get("c0") != "first" || w.Get("c9") != nil {
		t.Errorf("a wide record's index: c0=%v", w.Get("c0"))
	}
	if _, ok := w.Lookup("nope"); ok {
		t.Error("a wide record found a missing column")
	}
}

func TestRecordEqual(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	r := rec([]string{"i", "f", "s", "b", "t", "n", "ok"}, int64(4), 1.5, "x", []byte{1}, ts, nil, true)
	for _, c := range []struct {
		vals []any
		want bool
	}{
		{[]any{4, 1.5, "x", []byte{1}, ts.In(time.Local), nil, true}, true},
		{[]any{int8(4), float32(1.5), "x", []byte{1}, ts, nil, true}, true},
		{[]any{uint(4), 1.5, "x", []byte{1}, ts, nil, true}, true},
		{[]any{5, 1.5, "x", []byte{1}, ts, nil, true}, false},
		{[]any{4, 2, "x", []byte{1}, ts, nil, true}, false},
		{[]any{"4", 1.5, "x", []byte{1}, ts, nil, true}, false},
		{[]any{4, 1.5, []byte("x"), []byte{1}, ts, nil, true}, false},
		{[]any{4, 1.5, "x", []byte{2}, ts, nil, true}, false},
		{[]any{4, 1.5, "x", []byte{1}, ts.Add(1), nil, true}, false},
		{[]any{4, 1.5, "x", []byte{1}, ts, 0, true}, false},
		{[]any{4, 1.5, "x", []byte{1}, ts, nil}, false},
	} {
		if got := r.Equal(c.vals...); got != c.want {
			t.Errorf("Equal(%v) = %v", c.vals, got)
		}
	}
	if !rec([]string{"f"}, 3.0).Equal(3) || rec([]string{"i"}, int64(-1)).Equal(uint64(math.MaxUint64)) {
		t.Error("Equal across integer and float kinds")
	}
}

type myString string

type upper string

func (u *upper) Scan(src any) error {
	*u = upper(strings.ToUpper(fmt.Sprint(src)))
	return nil
}

func TestRecordScan(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	ptr := func(v any) any { return reflect.New(reflect.TypeOf(v)).Interface() }
	for _, c := range []struct {
		src  any
		dest any // a pointer to a zero value of the destination type
		want any // *dest after Scan; nil: Scan fails
	}{
		{int64(7), ptr(int64(0)), int64(7)},
		{int64(7), ptr(int8(0)), int8(7)},
		{int64(300), ptr(int8(0)), nil},
		{int64(7), ptr(uint16(0)), uint16(7)},
		{int64(-1), ptr(uint(0)), nil},
		{int64(7), ptr(float64(0)), 7.0},
		{int64(7), ptr(""), "7"},
		{int64(1), ptr(false), true},
		{int64(2), ptr(false), nil},
		{1.5, ptr(float32(0)), float32(1.5)},
		{1.5, ptr(""), "1.5"},
		{1.5, ptr(int64(0)), nil},
		{"12.34", ptr(float64(0)), 12.34},
		{"12", ptr(int(0)), 12},
		{"x", ptr(int(0)), nil},
		{"x", ptr(myString("")), myString("x")},
		{"x", ptr([]byte(nil)), []byte("x")},
		{"x", ptr(sql.RawBytes(nil)), sql.RawBytes("x")},
		{"true", ptr(false), true},
		{[]byte("ab"), ptr(""), "ab"},
		{[]byte("ab"), ptr([]byte(nil)), []byte("ab")},
		{true, ptr(false), true},
		{true, ptr(""), "true"},
		{ts, ptr(time.Time{}), ts},
		{ts, ptr(""), "2024-01-02T03:04:05Z"},
		{ts, ptr(int64(0)), nil},
		{nil, ptr(int64(0)), nil},
		{nil, ptr([]byte(nil)), []byte(nil)},
		{"x", ptr(upper("")), upper("X")},
		{"x", ptr(sql.NullString{}), sql.NullString{String: "x", Valid: true}},
		{nil, ptr(sql.NullInt64{}), sql.NullInt64{}},
		{int64(3), ptr(sql.Null[int32]{}), sql.Null[int32]{V: 3, Valid: true}},
		{int64(7), new(any), int64(7)},
	} {
		err := rec([]string{"c"}, c.src).Scan(c.dest)
		got := reflect.ValueOf(c.dest).Elem().Interface()
		switch {
		case c.want == nil && err == nil:
			t.Errorf("Scan %T %v into %T: no error, got %#v", c.src, c.src, c.dest, got)
		case c.want != nil && err != nil:
			t.Errorf("Scan %T %v into %T: %v", c.src, c.src, c.dest, err)
		case c.want != nil && !reflect.DeepEqual(got, c.want):
			t.Errorf("Scan %T %v into %T: got %#v, want %#v", c.src, c.src, c.dest, got, c.want)
		}
	}

	r := rec([]string{"a", "b"}, int64(1), nil)
	var a int
	var b *string
	var bb **string
	if err := r.Scan(&a, &b); err != nil || a != 1 || b != nil {
		t.Errorf("Scan(&a, &b) = %v: %v %v", err, a, b)
	}
	if err := rec([]string{"a"}, "x").Scan(&bb); err != nil || **bb != "x" {
		t.Errorf("Scan into **string: %v", err)
	}
	if err := r.Scan(&a); err == nil {
		t.Error("Scan with too few destinations succeeded")
	}
	if err := r.Scan(a, &b); err == nil || !strings.Contains(err.Error(), `column 0 (a)`) {
		t.Errorf("Scan into a non-pointer: %v", err)
	}
	buf := []byte("ab")
	r = rec([]string{"b"}, buf)
	var out []byte
	r.Scan(&out)
	out[0] = 'X'
	if buf[0] != 'a' {
		t.Error("Scan into *[]byte shares the record's bytes")
	}
}

// TestDecoderChunks reads enough rows that records span several value
// blocks, and checks that no record sees another's values.
func TestDecoderChunks(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, sqliteBackend(t))
	recs, err := db.FetchAll(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000) SELECT x, x * 2 AS y, 'r' || x AS s FROM c")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		x := int64(i + 1)
		if !r.Equal(x, 2*x, fmt.Sprint("r", x)) {
			t.Fatalf("record %d is %v", i, r)
		}
	}
}
