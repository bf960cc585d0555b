// Command sqlx runs sqlx on top of aiodb: sqlx's struct scanning, named
// statements and IN expansion over aiodb's placeholders, and sqlx inside an
// aiodb Transaction block. It is a module of its own, so that sqlx never
// enters aiodb's go.mod:
//
//	cd examples/sqlx && go run .
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/aiodb/aiodb"
	"github.com/jmoiron/sqlx"
)

// User is a row of users, mapped by sqlx's db tags.
type User struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
	Age  int    `db:"age"`
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	adb, err := aiodb.Open("sqlite:///:memory:")
	if err != nil {
		return err
	}
	defer adb.Close()
	// sqlx does not know the driver name "aiodb" and binds it like ?, which
	// aiodb accepts on every backend; $1 and %s work as well.
	db := sqlx.NewDb(adb.DB(), aiodb.DriverName)

	db.MustExecContext(ctx, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL)")
	_, err = db.NamedExecContext(ctx, "INSERT INTO users (name, age) VALUES (:name, :age)",
		[]User{{Name: "ann", Age: 31}, {Name: "bob", Age: 42}, {Name: "cid", Age: 27}})
	if err != nil {
		return err
	}

	var users []User
	if err := db.SelectContext(ctx, &users, "SELECT id, name, age FROM users WHERE age > $1 ORDER BY age", 30); err != nil {
		return err
	}
	fmt.Printf("Select: %+v\n", users)

	q, args, err := sqlx.In("SELECT name FROM users WHERE name IN (?) ORDER BY name", []string{"ann", "cid"})
	if err != nil {
		return err
	}
	var names []string
	if err := db.SelectContext(ctx, &names, q, args...); err != nil {
		return err
	}
	fmt.Println("In:    ", names)

	// Inside an aiodb Transaction block, wrap the block's *sql.Tx for sqlx:
	// its statements then run in the block's transaction.
	err = adb.Transaction(ctx, func(ctx context.Context) error {
		tx := &sqlx.Tx{Tx: aiodb.Querier(ctx, adb).(*sql.Tx), Mapper: db.Mapper}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET age = age + 1 WHERE name = ?", "ann"); err != nil {
			return err
		}
		var u User
		if err := tx.GetContext(ctx, &u, "SELECT id, name, age FROM users WHERE name = %s", "ann"); err != nil {
			return err
		}
		fmt.Printf("Get:    %+v\n", u)
		return aiodb.ErrRollback // undo the birthday
	})
	if err != nil {
		return err
	}
	var age int
	if err := db.GetContext(ctx, &age, "SELECT age FROM users WHERE name = ?", "ann"); err != nil {
		return err
	}
	fmt.Println("after rollback:", age)
	return nil
}
