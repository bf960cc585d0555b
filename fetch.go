package aiodb

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"slices"
)

// The helpers. Each runs on the executor its ctx selects (see Querier):
// the current transaction, the current connection, or the pool.

// Execute runs a statement that returns no rows and returns its result.
// In a Replica block it fails with an error wrapping ErrReadOnly before
// anything is sent.
func (db *DB) Execute(ctx context.Context, query string, args ...any) (sql.Result, error) {
	e, err := db.executor(ctx)
	if err != nil {
		return nil, err
	}
	return e.ExecContext(ctx, query, args...)
}

// ExecuteMany prepares query once and runs it with each argument list, in
// order, stopping at the first error. It runs inside one transaction: the
// transaction ctx carries, or else a new one (on the connection ctx carries,
// or on one from the pool) that commits when every list has run and rolls
// back otherwise. Inside a Replica block it fails with an error wrapping
// ErrReadOnly before anything is sent. With no argument list it does nothing.
func (db *DB) ExecuteMany(ctx context.Context, query string, argLists ...[]any) error {
	s, err := db.scope(ctx)
	switch {
	case err != nil:
		return err
	case isReadOnly(ctx):
		return fmt.Errorf("%w: ExecuteMany in a replica context", ErrReadOnly)
	case len(argLists) == 0:
		return nil
	case s != nil && s.tx != nil:
		return execMany(ctx, s.tx, query, argLists)
	}
	return db.Transaction(ctx, func(ctx context.Context) error {
		e, err := db.executor(ctx)
		if err != nil {
			return err
		}
		return execMany(ctx, e, query, argLists)
	})
}

// execMany runs one prepared statement once per argument list.
func execMany(ctx context.Context, e Executor, query string, argLists [][]any) error {
	st, err := e.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, args := range argLists {
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("aiodb: ExecuteMany: argument list %d: %w", i, err)
		}
	}
	return nil
}

// FetchAll runs a query and returns all its rows.
func (db *DB) FetchAll(ctx context.Context, query string, args ...any) ([]Record, error) {
	return db.fetch(ctx, -1, query, args)
}

// FetchMany runs a query and returns its first size rows, or fewer if the
// result is shorter; the rest of the result is discarded. A size below 1
// returns no rows and runs nothing.
func (db *DB) FetchMany(ctx context.Context, size int, query string, args ...any) ([]Record, error) {
	if size < 1 {
		return nil, nil
	}
	return db.fetch(ctx, size, query, args)
}

// FetchOne runs a query and returns its first row, or sql.ErrNoRows when it
// has none; further rows are discarded.
func (db *DB) FetchOne(ctx context.Context, query string, args ...any) (Record, error) {
	recs, err := db.fetch(ctx, 1, query, args)
	switch {
	case err != nil:
		return Record{}, err
	case len(recs) == 0:
		return Record{}, sql.ErrNoRows
	}
	return recs[0], nil
}

// fetch returns up to limit rows of the query (all of them when limit < 0).
func (db *DB) fetch(ctx context.Context, limit int, query string, args []any) (recs []Record, err error) {
	rows, err := db.query(ctx, query, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dec, err := db.newDecoder(rows)
	if err != nil {
		return nil, err
	}
	for len(recs) != limit && rows.Next() {
		rec, err := dec.record(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return recs, rows.Close()
}

// query runs a query on the executor ctx selects.
func (db *DB) query(ctx context.Context, query string, args []any) (*sql.Rows, error) {
	e, err := db.executor(ctx)
	if err != nil {
		return nil, err
	}
	return e.QueryContext(ctx, query, args...)
}

// Iterate runs a query and yields its rows one at a time as they arrive,
// never holding the whole result. Breaking out of the loop closes the rows
// and frees the connection. An error (running the query, reading a row, or
// mid-stream) is yielded once, with a zero Record, as the last element:
//
//	for rec, err := range db.Iterate(ctx, "SELECT name FROM users") {
//		if err != nil {
//			return err
//		}
//		fmt.Println(rec.Get("name"))
//	}
//
// The query runs when the loop starts, each time it starts. Outside a block
// the rows hold a pool connection until the loop ends; inside a block they
// hold the block's connection, on which most backends cannot run another
// statement until the loop ends.
func (db *DB) Iterate(ctx context.Context, query string, args ...any) iter.Seq2[Record, error] {
	args = slices.Clone(args)
	return func(yield func(Record, error) bool) {
		rows, err := db.query(ctx, query, args)
		if err != nil {
			yield(Record{}, err)
			return
		}
		defer rows.Close()
		dec, err := db.newDecoder(rows)
		if err != nil {
			yield(Record{}, err)
			return
		}
		for rows.Next() {
			rec, err := dec.record(rows)
			if err != nil {
				yield(Record{}, err)
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Record{}, err)
		}
	}
}

// FetchVal runs a query and returns the first column of its first row as a
// T: the value normalised as in a [Record], stored with [Record.Scan]'s rules
// (T is int64, string, time.Time, sql.NullString, *int64 for a nullable
// column, a sql.Scanner…; FetchVal[any] returns the normalised value). It returns
// sql.ErrNoRows when there is no row; further rows and columns are ignored.
func FetchVal[T any](ctx context.Context, db *DB, query string, args ...any) (T, error) {
	return fetchVal[T](ctx, db, func([]string) (int, error) { return 0, nil }, query, args)
}

// FetchValAt is FetchVal for the column at index col (0-based).
func FetchValAt[T any](ctx context.Context, db *DB, col int, query string, args ...any) (T, error) {
	return fetchVal[T](ctx, db, func(cols []string) (int, error) {
		if col < 0 || col >= len(cols) {
			return 0, fmt.Errorf("aiodb: FetchValAt: column %d out of range: the result has %d columns", col, len(cols))
		}
		return col, nil
	}, query, args)
}

// FetchValNamed is FetchVal for the first column named col.
func FetchValNamed[T any](ctx context.Context, db *DB, col string, query string, args ...any) (T, error) {
	return fetchVal[T](ctx, db, func(cols []string) (int, error) {
		if i := slices.Index(cols, col); i >= 0 {
			return i, nil
		}
		return 0, fmt.Errorf("aiodb: FetchValNamed: no column %q in %q", col, cols)
	}, query, args)
}

// fetchVal scans the column pick chooses of the first row into a T.
func fetchVal[T any](ctx context.Context, db *DB, pick func(cols []string) (int, error), query string, args []any) (v T, err error) {
	rows, err := db.query(ctx, query, args)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return v, err
		}
		return v, sql.ErrNoRows
	}
	cols, err := rows.Columns()
	if err != nil {
		return v, err
	}
	i, err := pick(cols)
	if err != nil {
		return v, err
	}
	var small [4]any // no allocation for narrow results
	dest := small[:0]
	for range cols {
		dest = append(dest, discard{})
	}
	// One conversion path with Records: the value is normalised first, then
	// stored in a T with Record.Scan's rules.
	var val any
	if dest[i], err = db.cell(rows, i, &val); err == nil {
		err = rows.Scan(dest...)
	}
	if err != nil {
		return v, err
	}
	if err := assign(&v, val); err != nil {
		return v, fmt.Errorf("aiodb: FetchVal: column %d (%s): %w", i, cols[i], err)
	}
	return v, rows.Close()
}

// discard is a Scan destination that drops the value.
type discard struct{}

func (discard) Scan(any) error { return nil }
