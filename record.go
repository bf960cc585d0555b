package aiodb

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiodb/aiodb/internal/backend"
)

// Record is one row of a result, as FetchAll, FetchMany, FetchOne and
// Iterate return it: values by position (At) or by column name (Get,
// Lookup). The records of one result share one column index; a Record holds
// only its values. The zero Record has no columns.
//
// Values are normalised to the same Go types on every backend, chosen from
// the result's column types (sql.ColumnType), not guessed from the values:
//
//	integers              int64 (MySQL BIGINT UNSIGNED above MaxInt64: uint64)
//	floating point        float64 (single precision: the shortest decimal, 1.1 not 1.100000023841858)
//	decimal / numeric     string, exact ("12.34")
//	text, JSON, UUID,     string
//	  intervals, times of day, arrays, enums, other types
//	binary                []byte
//	boolean               bool (MySQL/MariaDB have none: BOOL is TINYINT, int64 0 or 1)
//	date, timestamp       time.Time
//	NULL                  nil
//
// SQLite columns take the type of the value stored (SQLite is dynamically
// typed), except that a column declared BOOLEAN or BOOL gives bool and one
// declared NUMERIC or DECIMAL gives a string. The ODBC driver reports no
// column types, so ODBC values are its own with integers widened to int64 and
// text and binary both as string. A time.Time keeps the location its driver
// gives it: UTC for PostgreSQL dates and timestamps but the local zone for
// timestamptz (pgx), the DSN's loc for MySQL (UTC by default), UTC on
// SQLite, the local zone on ODBC; compare instants with time.Time.Equal.
//
// A Record is immutable and safe to share between goroutines. The records
// of one result take their values from shared blocks of 256 values, so a
// Record kept on its own keeps its block alive.
type Record struct {
	cols *columns
	vals []any
}

// columns is the column index shared by the records of one result.
type columns struct {
	names []string
	index map[string]int // the first column of each name; nil for few columns
}

// indexFrom is the column count from which a result gets a name map;
// below it Get scans the names.
const indexFrom = 8

// newColumns indexes the column names of a result.
func newColumns(names []string) *columns {
	c := &columns{names: names}
	if len(names) >= indexFrom {
		c.index = make(map[string]int, len(names))
		for i, n := range slices.Backward(names) {
			c.index[n] = i
		}
	}
	return c
}

// lookup returns the index of the first column named name, or -1.
func (c *columns) lookup(name string) int {
	if c == nil {
		return -1
	}
	if c.index == nil {
		return slices.Index(c.names, name)
	}
	if i, ok := c.index[name]; ok {
		return i
	}
	return -1
}

// Len returns the number of columns.
func (r Record) Len() int { return len(r.vals) }

// At returns the value of column i (0-based). It panics if i is out of
// range, as indexing a slice does.
func (r Record) At(i int) any { return r.vals[i] }

// Get returns the value of the first column named name, or nil when there
// is none; use Lookup to tell a missing column from a NULL.
func (r Record) Get(name string) any {
	v, _ := r.Lookup(name)
	return v
}

// Lookup returns the value of the first column named name and whether the
// record has such a column.
func (r Record) Lookup(name string) (any, bool) {
	i := r.cols.lookup(name)
	if i < 0 {
		return nil, false
	}
	return r.vals[i], true
}

// Columns returns the column names, in order.
func (r Record) Columns() []string {
	if r.cols == nil {
		return nil
	}
	return slices.Clone(r.cols.names)
}

// Values returns the values, in column order.
func (r Record) Values() []any { return slices.Clone(r.vals) }

// Map returns the values by column name. Of columns with the same name,
// the first wins.
func (r Record) Map() map[string]any {
	m := make(map[string]any, len(r.vals))
	for i, v := range slices.Backward(r.vals) {
		m[r.cols.names[i]] = v
	}
	return m
}

// Scan copies the values into dest, one pointer per column, converting as
// sql.Rows.Scan does: *any receives the value itself; a sql.Scanner is
// given it; numbers, strings and []byte convert between one another (a
// decimal string scans into *float64, an int64 into *int32 if it fits, a
// 0/1 or "true"/"false" into *bool); a pointer to a pointer receives nil for
// NULL. NULL into any other type is an error.
func (r Record) Scan(dest ...any) error {
	if len(dest) != len(r.vals) {
		return fmt.Errorf("aiodb: Record.Scan: %d destinations for %d columns", len(dest), len(r.vals))
	}
	for i, d := range dest {
		if err := assign(d, r.vals[i]); err != nil {
			return fmt.Errorf("aiodb: Record.Scan: column %d (%s): %w", i, r.cols.names[i], err)
		}
	}
	return nil
}

// Equal reports whether the record's values are vals, in order, the way the
// Python library compares a record with a tuple: an int64 value equals any
// Go integer of the same value, a float64 any float or integer of the same
// value, []byte and time.Time compare by content and instant, and
// everything else with reflect.DeepEqual.
func (r Record) Equal(vals ...any) bool {
	if len(vals) != len(r.vals) {
		return false
	}
	for i, v := range r.vals {
		if !equalValue(v, vals[i]) {
			return false
		}
	}
	return true
}

func equalValue(v, want any) bool {
	switch v := v.(type) {
	case int64:
		w, ok := backend.AsInt64(want)
		return ok && v == w
	case float64:
		if w, ok := backend.AsInt64(want); ok {
			return v == float64(w)
		}
		w := reflect.ValueOf(want)
		return w.CanFloat() && v == w.Float()
	case []byte:
		w, ok := want.([]byte)
		return ok && bytes.Equal(v, w)
	case time.Time:
		w, ok := want.(time.Time)
		return ok && v.Equal(w)
	}
	return reflect.DeepEqual(v, want)
}

// String formats the record as (name=value, …): strings quoted, []byte in
// hexadecimal, times in RFC 3339, NULL as NULL.
func (r Record) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range r.vals {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.cols.names[i])
		b.WriteByte('=')
		writeValue(&b, v)
	}
	b.WriteByte(')')
	return b.String()
}

func writeValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("NULL")
	case string:
		b.WriteString(strconv.Quote(v))
	case []byte:
		fmt.Fprintf(b, "0x%x", v)
	case time.Time:
		b.WriteString(v.Format(time.RFC3339Nano))
	default:
		fmt.Fprint(b, v)
	}
}

// Decoding. A decoder reads the rows of one result into Records: one
// convert function per column, chosen once from the column's type, turns
// the driver's value into the normalised one while database/sql scans it.

// cell is the Scan destination of one column: it converts the driver's
// value straight into the record's slot, so []byte from the driver is
// copied once, into its final form.
type cell struct {
	conv backend.Convert
	out  *any
}

// Scan implements sql.Scanner.
func (c *cell) Scan(src any) error {
	v, err := c.conv(src)
	*c.out = v
	return err
}

// decoder turns the rows of one result into Records.
type decoder struct {
	cols  *columns
	cells []cell
	dest  []any // &cells[i], the Scan arguments
	buf   []any // where the values of the next records are cut from
}

// chunkValues is how many values a decoder allocates at once; the records
// of a result share these blocks instead of one allocation each.
const chunkValues = 256

// newDecoder prepares the decoding of rows from their column types.
func (db *DB) newDecoder(rows *sql.Rows) (*decoder, error) {
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	d := &decoder{cells: make([]cell, len(cts)), dest: make([]any, len(cts))}
	names := make([]string, len(cts))
	for i, ct := range cts {
		names[i] = ct.Name()
		d.cells[i].conv = db.converter(ct)
		d.dest[i] = &d.cells[i]
	}
	d.cols = newColumns(names)
	return d, nil
}

// record scans the current row.
func (d *decoder) record(rows *sql.Rows) (Record, error) {
	n := len(d.cells)
	if len(d.buf) < n {
		d.buf = make([]any, max(n, chunkValues-chunkValues%max(n, 1)))
	}
	vals := d.buf[:n:n]
	d.buf = d.buf[n:]
	for i := range d.cells {
		d.cells[i].out = &vals[i]
	}
	if err := rows.Scan(d.dest...); err != nil {
		return Record{}, err
	}
	return Record{cols: d.cols, vals: vals}, nil
}

// cell returns a Scan destination that stores column i of rows, normalised,
// in *out.
func (db *DB) cell(rows *sql.Rows, i int, out *any) (*cell, error) {
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	return &cell{conv: db.converter(cts[i]), out: out}, nil
}

// converter chooses the convert function of a column from its database
// type name, the way the backend's driver reports it.
func (db *DB) converter(ct *sql.ColumnType) backend.Convert {
	return backend.Converter(db.dialect, ct.DatabaseTypeName(), db.loc)
}

// assign stores v, a normalised value, in dest, with sql.Rows.Scan's rules.
func assign(dest, v any) error {
	switch d := dest.(type) {
	case *any:
		*d = v
		return nil
	case sql.Scanner:
		return d.Scan(v)
	}
	p := reflect.ValueOf(dest)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return fmt.Errorf("destination not a non-nil pointer: %T", dest)
	}
	return setValue(p.Elem(), v)
}

// setValue stores v in dv, converting between numbers, strings and bytes.
func setValue(dv reflect.Value, v any) error {
	if v == nil {
		switch dv.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			dv.SetZero()
			return nil
		}
		return fmt.Errorf("converting NULL to %s is unsupported", dv.Type())
	}
	if dv.Kind() == reflect.Pointer {
		p := reflect.New(dv.Type().Elem())
		if err := assign(p.Interface(), v); err != nil {
			return err
		}
		dv.Set(p)
		return nil
	}
	if b, ok := v.([]byte); ok {
		v = bytes.Clone(b)
	}
	sv := reflect.ValueOf(v)
	if sv.Type().AssignableTo(dv.Type()) {
		dv.Set(sv)
		return nil
	}
	s := asString(v)
	var err error
	switch dv.Kind() {
	case reflect.String:
		dv.SetString(s)
		return nil
	case reflect.Slice:
		if dv.Type().Elem().Kind() == reflect.Uint8 {
			dv.SetBytes([]byte(s))
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if i, err = strconv.ParseInt(s, 10, dv.Type().Bits()); err == nil {
			dv.SetInt(i)
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if u, err = strconv.ParseUint(s, 10, dv.Type().Bits()); err == nil {
			dv.SetUint(u)
			return nil
		}
	case reflect.Float32, reflect.Float64:
		var f float64
		if f, err = strconv.ParseFloat(s, dv.Type().Bits()); err == nil {
			dv.SetFloat(f)
			return nil
		}
	case reflect.Bool:
		var bv driver.Value
		if bv, err = driver.Bool.ConvertValue(v); err == nil {
			dv.SetBool(bv.(bool))
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("converting %T %q to %s: %w", v, s, dv.Type(), err)
	}
	return fmt.Errorf("unsupported Scan, storing %T into %s", v, dv.Type())
}

// asString formats a normalised value as text, as database/sql does.
func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
