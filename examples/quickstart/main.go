// Command quickstart is aiodb's demo: the helpers, a nested transaction
// whose inner level rolls back, and a replica block. It runs on the
// embedded in-memory SQLite, with no server:
//
//	go run ./examples/quickstart
//
// or on any database aiodb serves, given a DSN as its argument or in
// AIODB_DSN (it creates and drops a table named quickstart_users):
//
//	go run ./examples/quickstart 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/aiodb/aiodb"
)

func main() {
	dsn := "sqlite:///:memory:"
	if len(os.Args) > 1 {
		dsn = os.Args[1]
	} else if env := os.Getenv("AIODB_DSN"); env != "" {
		dsn = env
	}
	if err := run(context.Background(), dsn); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dsn string) error {
	cfg, err := aiodb.ParseDSN(dsn)
	if err != nil {
		return err
	}
	db, err := aiodb.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Printf("aiodb quickstart on %s (%s)\n\n", cfg.Dialect, cfg) // cfg prints without passwords

	if err := setup(ctx, db); err != nil {
		return err
	}
	defer db.Execute(ctx, "DROP TABLE quickstart_users")
	for _, step := range []func(context.Context, *aiodb.DB) error{helpers, nestedTransaction, replica} {
		if err := step(ctx, db); err != nil {
			return err
		}
		fmt.Println()
	}
	return nil
}

// setup creates the table and fills it: one prepared statement, one transaction.
func setup(ctx context.Context, db *aiodb.DB) error {
	if _, err := db.Execute(ctx, "DROP TABLE IF EXISTS quickstart_users"); err != nil {
		return err
	}
	if _, err := db.Execute(ctx, "CREATE TABLE quickstart_users (name VARCHAR(20) NOT NULL, age INTEGER NOT NULL)"); err != nil {
		return err
	}
	return db.ExecuteMany(ctx, "INSERT INTO quickstart_users (name, age) VALUES ($1, $2)",
		[]any{"ann", 31}, []any{"bob", 42}, []any{"cid", 27})
}

// helpers shows the fetch helpers and the three placeholder styles.
func helpers(ctx context.Context, db *aiodb.DB) error {
	fmt.Println("== helpers")
	recs, err := db.FetchAll(ctx, "SELECT name, age FROM quickstart_users WHERE age > $1 ORDER BY age", 30)
	if err != nil {
		return err
	}
	fmt.Println("FetchAll  ", recs)
	rec, err := db.FetchOne(ctx, "SELECT name, age FROM quickstart_users WHERE name = ?", "cid")
	if err != nil {
		return err
	}
	fmt.Println("FetchOne  ", rec.Get("name"), "is", rec.At(1))
	n, err := aiodb.FetchVal[int64](ctx, db, "SELECT count(*) FROM quickstart_users WHERE age < %s", 40)
	if err != nil {
		return err
	}
	fmt.Println("FetchVal  ", n, "users under 40")
	var names []any
	for rec, err := range db.Iterate(ctx, "SELECT name FROM quickstart_users ORDER BY name") {
		if err != nil {
			return err
		}
		names = append(names, rec.Get("name"))
	}
	fmt.Println("Iterate   ", names)
	return nil
}

// nestedTransaction adds dan in a transaction and eve in a nested one
// (a savepoint) that rolls back: dan stays, eve does not.
func nestedTransaction(ctx context.Context, db *aiodb.DB) error {
	fmt.Println("== nested transaction")
	err := db.Transaction(ctx, func(ctx context.Context) error {
		if _, err := db.Execute(ctx, "INSERT INTO quickstart_users VALUES ('dan', 19)"); err != nil {
			return err
		}
		return db.Transaction(ctx, func(ctx context.Context) error {
			if _, err := db.Execute(ctx, "INSERT INTO quickstart_users VALUES ('eve', 55)"); err != nil {
				return err
			}
			n, err := aiodb.FetchVal[int64](ctx, db, "SELECT count(*) FROM quickstart_users")
			fmt.Println("inside the inner level:", n, "users")
			if err != nil {
				return err
			}
			return aiodb.ErrRollback // undo eve only
		})
	})
	if err != nil {
		return err
	}
	recs, err := db.FetchAll(ctx, "SELECT name FROM quickstart_users ORDER BY name")
	fmt.Println("after commit:          ", recs)
	return err
}

// replica reads in a replica block (a read-only session of the primary when
// the DSN names no replica), where writes are refused, and writes in a
// Connection block inside it, which runs on the primary.
func replica(ctx context.Context, db *aiodb.DB) error {
	fmt.Println("== replica block")
	return db.Replica(ctx, func(ctx context.Context) error {
		n, err := aiodb.FetchVal[int64](ctx, db, "SELECT count(*) FROM quickstart_users")
		if err != nil {
			return err
		}
		fmt.Println("read on a replica:", n, "users (a real replica may lag behind)")
		_, err = db.Execute(ctx, "DELETE FROM quickstart_users")
		fmt.Println("write refused:    ", errors.Is(err, aiodb.ErrReadOnly), "-", err)
		return db.Connection(ctx, func(ctx context.Context) error {
			res, err := db.Execute(ctx, "DELETE FROM quickstart_users WHERE name = 'dan'")
			if err != nil {
				return err
			}
			gone, _ := res.RowsAffected()
			fmt.Println("on the primary:   ", gone, "row deleted")
			return nil
		})
	})
}
