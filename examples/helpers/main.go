// Command helpers shows every helper of aiodb.DB, as an aio-databases user
// knows them, on the embedded in-memory SQLite:
//
//	go run ./examples/helpers
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"

	"github.com/aiodb/aiodb"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	db, err := aiodb.Open("sqlite:///:memory:")
	if err != nil {
		return err
	}
	defer db.Close()

	// execute, executemany: $1, ? and %s placeholders work on every backend.
	if _, err := db.Execute(ctx, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)"); err != nil {
		return err
	}
	res, err := db.Execute(ctx, "INSERT INTO users (name, age) VALUES ($1, $2)", "ann", 31)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	fmt.Println("Execute:      id", id)
	// ExecuteMany prepares once and runs every list in one transaction.
	err = db.ExecuteMany(ctx, "INSERT INTO users (name, age) VALUES (?, ?)",
		[]any{"bob", 42}, []any{"cid", 27}, []any{"dan", nil})
	if err != nil {
		return err
	}

	// fetchall, fetchmany, fetchone.
	all, err := db.FetchAll(ctx, "SELECT name, age FROM users ORDER BY id")
	if err != nil {
		return err
	}
	fmt.Println("FetchAll:    ", all)
	two, err := db.FetchMany(ctx, 2, "SELECT name FROM users ORDER BY name DESC")
	if err != nil {
		return err
	}
	fmt.Println("FetchMany:   ", two)
	rec, err := db.FetchOne(ctx, "SELECT id, name, age FROM users WHERE name = %s", "bob")
	if err != nil {
		return err
	}
	// A Record: by position, by name, Lookup tells a missing column from NULL.
	_, hasEmail := rec.Lookup("email")
	fmt.Println("FetchOne:    ", rec.At(1), rec.Get("age"), rec.Len(), rec.Columns(), hasEmail)
	var name string
	var age int
	if err := rec.Scan(new(int64), &name, &age); err != nil { // Python: id, name, age = record
		return err
	}
	fmt.Println("Record.Scan: ", name, age)
	// No row is sql.ErrNoRows, where Python's fetchone returns None.
	_, err = db.FetchOne(ctx, "SELECT name FROM users WHERE name = $1", "zoe")
	fmt.Println("no row:      ", errors.Is(err, sql.ErrNoRows))

	// fetchval is a generic function: the type is given, not inferred.
	n, err := aiodb.FetchVal[int64](ctx, db, "SELECT count(*) FROM users")
	if err != nil {
		return err
	}
	oldest, err := aiodb.FetchValAt[string](ctx, db, 1, "SELECT max(age), name FROM users")
	if err != nil {
		return err
	}
	avg, err := aiodb.FetchValNamed[float64](ctx, db, "avg", "SELECT count(*) AS n, avg(age) AS avg FROM users")
	if err != nil {
		return err
	}
	missing, err := aiodb.FetchVal[*int64](ctx, db, "SELECT age FROM users WHERE name = 'dan'") // NULL: a pointer
	if err != nil {
		return err
	}
	fmt.Println("FetchVal:    ", n, oldest, avg, missing == nil)

	// iterate: rows stream as they arrive; an error ends the loop.
	var names []any
	for rec, err := range db.Iterate(ctx, "SELECT name FROM users WHERE age >= $1 ORDER BY age", 30) {
		if err != nil {
			return err
		}
		names = append(names, rec.Get("name"))
	}
	fmt.Println("Iterate:     ", names)

	// connection(): helpers given the block's ctx share one connection, and
	// Querier hands it to database/sql code (sqlc's DBTX, for example).
	return db.Connection(ctx, func(ctx context.Context) error {
		if _, err := db.Execute(ctx, "CREATE TEMP TABLE seen (name TEXT)"); err != nil {
			return err
		}
		if _, err := aiodb.Querier(ctx, db).ExecContext(ctx, "INSERT INTO seen SELECT name FROM users"); err != nil {
			return err
		}
		n, err := aiodb.FetchVal[int64](ctx, db, "SELECT count(*) FROM seen") // the same connection sees its temp table
		fmt.Println("Connection:  ", n, "rows in a temporary table")
		return err
	})
}
