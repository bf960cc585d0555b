package backend

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// Value normalisation for Records: what each backend driver returns for a
// column type, turned into one Go type per kind of value.

// Convert normalises one driver value of a column.
type Convert func(src any) (any, error)

// Converter chooses the normalisation of a column's values from its
// database type name, as the backend driver of dialect d reports it
// (sql.ColumnType.DatabaseTypeName); loc is where MySQL DATETIME text is
// read (Location).
func Converter(d sqltext.Dialect, dbType string, loc *time.Location) Convert {
	name, _, _ := strings.Cut(strings.ToUpper(dbType), "(")
	name = strings.TrimSpace(name)
	switch d {
	case sqltext.PostgreSQL: // pgx: already int64, float64, string, bool, time.Time; JSON and XML as []byte
		switch name {
		case "BYTEA":
			return toBytes
		case "FLOAT4":
			return toFloat32
		}
		return toText
	case sqltext.MySQL:
		return mysqlConverter(name, loc)
	case sqltext.SQLite: // modernc: the storage class's type; DATE, DATETIME, TIMESTAMP columns as time.Time
		switch name {
		case "BOOLEAN", "BOOL":
			return toBool
		case "NUMERIC", "DECIMAL":
			return toDecimal
		}
		return keep
	}
	return toText // ODBC: no column types
}

// mysqlConverter chooses for go-sql-driver/mysql, which returns text as
// []byte, and dates as []byte unless parseTime is set.
func mysqlConverter(name string, loc *time.Location) Convert {
	switch strings.TrimPrefix(name, "UNSIGNED ") {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR":
		return toInt
	case "FLOAT":
		return toFloat32
	case "DOUBLE":
		return toFloat
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "BIT", "GEOMETRY", "VECTOR":
		return toBytes
	case "DATE", "DATETIME", "TIMESTAMP":
		return func(src any) (any, error) { return mysqlTime(src, loc) }
	}
	return toText // CHAR, VARCHAR, TEXT, DECIMAL, ENUM, SET, JSON, TIME, NULL
}

// keep returns src with []byte copied and numbers widened.
func keep(src any) (any, error) {
	switch v := src.(type) {
	case nil, int64, float64, string, bool, time.Time:
		return v, nil
	case []byte:
		return bytes.Clone(v), nil
	}
	return widen(src), nil
}

// widen turns the narrower Go numbers some drivers return into int64 and
// float64 (uint64 above MaxInt64 stays uint64).
func widen(src any) any {
	switch v := src.(type) {
	case float32:
		return shortest(v)
	case uint64:
		if v > math.MaxInt64 {
			return v
		}
	}
	if i, ok := AsInt64(src); ok {
		return i
	}
	return src
}

// shortest is f as float64 with the shortest decimal that reads back as f.
func shortest(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

// toText is keep with []byte read as text.
func toText(src any) (any, error) {
	if b, ok := src.([]byte); ok {
		return string(b), nil
	}
	return keep(src)
}

// toBytes is keep with a string read as bytes.
func toBytes(src any) (any, error) {
	if s, ok := src.(string); ok {
		return []byte(s), nil
	}
	return keep(src)
}

// toInt parses integers that arrive as text (MySQL BIGINT UNSIGNED beyond
// int64 in the binary protocol).
func toInt(src any) (any, error) {
	b, ok := src.([]byte)
	if !ok {
		return keep(src)
	}
	if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return i, nil
	}
	u, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("aiodb: integer column: %w", err)
	}
	return widen(u), nil
}

// toFloat parses floats that arrive as text.
func toFloat(src any) (any, error) {
	b, ok := src.([]byte)
	if !ok {
		return keep(src)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return nil, fmt.Errorf("aiodb: float column: %w", err)
	}
	return f, nil
}

// toFloat32 is for single-precision columns, which drivers return as
// float32, as float64 widened from float32, or as text.
func toFloat32(src any) (any, error) {
	switch v := src.(type) {
	case float64:
		return shortest(float32(v)), nil
	case []byte:
		f, err := strconv.ParseFloat(string(v), 32)
		if err != nil {
			return nil, fmt.Errorf("aiodb: float column: %w", err)
		}
		return shortest(float32(f)), nil
	}
	return keep(src)
}

// toDecimal writes SQLite NUMERIC and DECIMAL values as decimal strings.
func toDecimal(src any) (any, error) {
	switch v := src.(type) {
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return toText(src)
}

// toBool reads SQLite BOOLEAN columns, stored as integers.
func toBool(src any) (any, error) {
	if i, ok := src.(int64); ok {
		return i != 0, nil
	}
	return keep(src)
}

// mysqlTime parses MySQL DATE, DATETIME and TIMESTAMP text in loc, as
// go-sql-driver/mysql does with parseTime=true; a zero date gives the zero
// time.Time.
func mysqlTime(src any, loc *time.Location) (any, error) {
	b, ok := src.([]byte)
	if !ok {
		return keep(src)
	}
	s := string(b)
	if strings.HasPrefix(s, "0000-00-00") {
		return time.Time{}, nil
	}
	layout := time.DateTime // fractional seconds are accepted when parsing
	if len(s) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return nil, fmt.Errorf("aiodb: date column: %w", err)
	}
	return t, nil
}

// AsInt64 returns the value of a Go integer of any kind, if it fits.
func AsInt64(x any) (int64, bool) {
	v := reflect.ValueOf(x)
	switch {
	case v.CanInt():
		return v.Int(), true
	case v.CanUint():
		return int64(v.Uint()), v.Uint() <= math.MaxInt64
	}
	return 0, false
}
