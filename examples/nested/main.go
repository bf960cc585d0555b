// Command nested shows nested transactions: BeginTx on a *sql.Conn that
// already has a transaction becomes a SAVEPOINT, and so does a Transaction
// block inside another. It runs on the embedded in-memory SQLite:
//
//	go run ./examples/nested
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/aiodb/aiodb"
)

func main() {
	ctx := context.Background()
	if err := withDatabaseSQL(ctx); err != nil {
		log.Fatal(err)
	}
	if err := withBlocks(ctx); err != nil {
		log.Fatal(err)
	}
}

// withDatabaseSQL nests with plain database/sql: nesting needs one
// connection, a *sql.Conn, and each BeginTx on it opens a level.
func withDatabaseSQL(ctx context.Context) error {
	db, err := sql.Open(aiodb.DriverName, "sqlite:///:memory:") // "aiodb", registered by the import
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE orders (id INTEGER, note TEXT)"); err != nil {
		return err
	}

	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	outer, err := c.BeginTx(ctx, nil) // BEGIN
	if err != nil {
		return err
	}
	defer outer.Rollback() // does nothing after Commit
	if _, err := outer.ExecContext(ctx, "INSERT INTO orders VALUES ($1, $2)", 1, "kept"); err != nil {
		return err
	}
	inner, err := c.BeginTx(ctx, nil) // SAVEPOINT sp_1
	if err != nil {
		return err
	}
	if _, err := inner.ExecContext(ctx, "INSERT INTO orders VALUES ($1, $2)", 2, "undone"); err != nil {
		return err
	}
	if err := inner.Rollback(); err != nil { // ROLLBACK TO SAVEPOINT sp_1; RELEASE SAVEPOINT sp_1
		return err
	}
	if err := outer.Commit(); err != nil { // COMMIT
		return err
	}

	var notes []string
	rows, err := c.QueryContext(ctx, "SELECT note FROM orders ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		notes = append(notes, n)
	}
	fmt.Println("database/sql:", notes)
	return rows.Err()
}

// withBlocks nests Transaction blocks: the inner one is a savepoint on the
// outer one's connection. Returning aiodb.ErrRollback rolls a level back on
// purpose; returning another error rolls it back and passes the error on.
func withBlocks(ctx context.Context) error {
	db, err := aiodb.Open("sqlite:///:memory:")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Execute(ctx, "CREATE TABLE orders (id INTEGER, note TEXT)"); err != nil {
		return err
	}

	err = db.Transaction(ctx, func(ctx context.Context) error { // BEGIN
		if _, err := db.Execute(ctx, "INSERT INTO orders VALUES (1, 'kept')"); err != nil {
			return err
		}
		err := db.Transaction(ctx, func(ctx context.Context) error { // SAVEPOINT
			if _, err := db.Execute(ctx, "INSERT INTO orders VALUES (2, 'undone')"); err != nil {
				return err
			}
			return aiodb.ErrRollback // ROLLBACK TO SAVEPOINT; Transaction returns nil
		})
		if err != nil {
			return err
		}
		err = db.Transaction(ctx, func(ctx context.Context) error { // SAVEPOINT
			_, err := db.Execute(ctx, "INSERT INTO orders VALUES (3, 'released')")
			return err // nil: RELEASE SAVEPOINT, kept if the outer level commits
		})
		if err != nil {
			return err
		}
		err = db.Transaction(ctx, func(ctx context.Context) error {
			_, err := db.Execute(ctx, "INSERT INTO no_such_table VALUES (4)")
			return err // an error: ROLLBACK TO SAVEPOINT, and Transaction returns it
		})
		fmt.Println("failed level:", err != nil)
		return nil // the outer level ignores that failure and commits
	}) // COMMIT
	if err != nil {
		return err
	}
	recs, err := db.FetchAll(ctx, "SELECT id, note FROM orders ORDER BY id")
	if err != nil {
		return err
	}
	fmt.Println("blocks:      ", recs)
	return nil
}
