// Command replicas shows replica routing: WithReplica sends a statement to a
// replica, read-only; WithPrimary brings it back; aiodb.Stats reports the
// nodes. It runs on SQLite, with no server: the "replica" is a second URL
// naming the same database file, which aiodb opens read-only like any
// replica.
//
//	go run ./examples/replicas
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/aiodb/aiodb"
)

func main() {
	dir, err := os.MkdirTemp("", "aiodb-replicas")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// sqlite:////absolute/path: four slashes. In production this would be
	// "postgres://app:secret@primary/shop postgres://app:secret@replica/shop".
	file := "sqlite:///" + filepath.ToSlash(filepath.Join(dir, "shop.db"))
	if err := run(context.Background(), file+" "+file); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dsn string) error {
	db, err := sql.Open("aiodb", dsn) // the first URL is the primary, the others replicas
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT)"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO product (name) VALUES ($1), ($2)", "tea", "cake"); err != nil {
		return err
	}

	// A replica context: reads run on a replica, on a read-only session.
	rctx := aiodb.WithReplica(ctx)
	var n int
	if err := db.QueryRowContext(rctx, "SELECT count(*) FROM product").Scan(&n); err != nil {
		return err
	}
	fmt.Println("read on the replica:", n, "products")

	// Writes there are refused before anything is sent.
	_, err = db.ExecContext(rctx, "DELETE FROM product")
	fmt.Println("write refused:      ", errors.Is(err, aiodb.ErrReadOnly))
	// A write hidden in a read (RETURNING) is refused too.
	_, err = db.QueryContext(rctx, "UPDATE product SET name = 'x' RETURNING id")
	fmt.Println("RETURNING refused:  ", errors.Is(err, aiodb.ErrReadOnly))

	// WithPrimary overrides it: the innermost marker wins.
	res, err := db.ExecContext(aiodb.WithPrimary(rctx), "DELETE FROM product WHERE name = $1", "cake")
	if err != nil {
		return err
	}
	gone, err := res.RowsAffected()
	if err != nil {
		return err
	}
	fmt.Println("on the primary:     ", gone, "deleted")

	// Stats: the primary first, then the replicas in DSN order.
	nodes, err := aiodb.Stats(db)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		fmt.Printf("node primary=%v healthy=%v served=%d\n", node.Primary, node.Healthy, node.Served)
	}
	return nil
}
