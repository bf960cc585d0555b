// Command hello is the program of aiodb's README: a table, two rows, the
// helpers and a transaction, on the embedded in-memory SQLite.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/aiodb/aiodb"
)

func main() {
	ctx := context.Background()
	db, err := aiodb.Open("sqlite:///:memory:") // or "postgres://app:secret@primary/shop postgres://app:secret@replica/shop"
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if _, err := db.Execute(ctx, "CREATE TABLE users (name TEXT NOT NULL, age INTEGER NOT NULL)"); err != nil {
		log.Fatal(err)
	}
	err = db.Transaction(ctx, func(ctx context.Context) error { // COMMIT when fn returns nil
		return db.ExecuteMany(ctx, "INSERT INTO users (name, age) VALUES ($1, $2)", []any{"ann", 31}, []any{"bob", 42})
	})
	if err != nil {
		log.Fatal(err)
	}
	users, err := db.FetchAll(ctx, "SELECT name, age FROM users WHERE age > ? ORDER BY age", 30)
	if err != nil {
		log.Fatal(err)
	}
	n, err := aiodb.FetchVal[int64](ctx, db, "SELECT count(*) FROM users")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(users, n) // [(name="ann", age=31) (name="bob", age=42)] 2
}
