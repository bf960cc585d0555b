package aiodb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/aiodb/aiodb"
)

// Every example runs on the embedded SQLite, in memory: no server needed.
// The same code runs on PostgreSQL, MySQL/MariaDB and ODBC with another DSN.

// openUsers opens an in-memory database with a users table of three rows.
func openUsers() *aiodb.DB {
	ctx := context.Background()
	db, err := aiodb.Open("sqlite:///:memory:")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Execute(ctx, "CREATE TABLE users (name TEXT NOT NULL, age INTEGER)"); err != nil {
		log.Fatal(err)
	}
	err = db.ExecuteMany(ctx, "INSERT INTO users (name, age) VALUES ($1, $2)",
		[]any{"ann", 31}, []any{"bob", 42}, []any{"cid", 27})
	if err != nil {
		log.Fatal(err)
	}
	return db
}

// The driver alone: sql.Open("aiodb", dsn) and $1, ? or %s placeholders,
// whatever the backend.
func Example() {
	db, err := sql.Open("aiodb", "sqlite:///:memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec("CREATE TABLE users (name TEXT, age INTEGER)")
	db.Exec("INSERT INTO users VALUES ($1, $2)", "ann", 31) // PostgreSQL style
	db.Exec("INSERT INTO users VALUES (?, ?)", "bob", 42)   // MySQL and SQLite style
	db.Exec("INSERT INTO users VALUES (%s, %s)", "cid", 27) // psycopg style
	rows, err := db.Query("SELECT name, age FROM users WHERE age > $1 ORDER BY name", 30)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var age int
		rows.Scan(&name, &age)
		fmt.Println(name, age)
	}
	// Output:
	// ann 31
	// bob 42
}

// Nested transactions with the driver alone: BeginTx on a *sql.Conn that
// already has a transaction starts a SAVEPOINT, whose Rollback undoes only
// its own work.
func Example_savepoints() {
	ctx := context.Background()
	db, err := sql.Open("aiodb", "sqlite:///:memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec("CREATE TABLE log (msg TEXT)")

	conn, err := db.Conn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	outer, _ := conn.BeginTx(ctx, nil) // BEGIN
	outer.Exec("INSERT INTO log VALUES ('kept')")
	inner, _ := conn.BeginTx(ctx, nil) // SAVEPOINT sp_1
	inner.Exec("INSERT INTO log VALUES ('undone')")
	inner.Rollback() // ROLLBACK TO SAVEPOINT sp_1
	outer.Commit()   // COMMIT

	var msgs []string
	rows, _ := conn.QueryContext(ctx, "SELECT msg FROM log")
	for rows.Next() {
		var m string
		rows.Scan(&m)
		msgs = append(msgs, m)
	}
	rows.Close()
	fmt.Println(msgs)
	// Output: [kept]
}

// WithReplica routes a context's statements to a replica, read-only. With
// no replica in the DSN they run on a read-only session of the primary, so
// the same code works in development.
func ExampleWithReplica() {
	db, err := sql.Open("aiodb", "sqlite:///:memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec("CREATE TABLE users (name TEXT)")
	db.Exec("INSERT INTO users VALUES ('ann')")

	ctx := aiodb.WithReplica(context.Background())
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("users:", n)
	_, err = db.ExecContext(ctx, "DELETE FROM users")
	fmt.Println("read-only:", errors.Is(err, aiodb.ErrReadOnly))
	// Output:
	// users: 1
	// read-only: true
}

// A request that writes and then reads in a replica context sees its own
// write: the read waits for a replica that has replayed it, or reads on the
// primary (PostgreSQL and MariaDB; on SQLite there is no replication, and
// nothing to wait for).
func ExampleWithReadYourWrites() {
	db, err := sql.Open("aiodb", "sqlite:///:memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec("CREATE TABLE orders (id INTEGER)")

	ctx := aiodb.WithReadYourWrites(context.Background(), aiodb.RYWWait)
	if _, err := db.ExecContext(ctx, "INSERT INTO orders VALUES ($1)", 42); err != nil {
		log.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(aiodb.WithReplica(ctx), "SELECT count(*) FROM orders WHERE id = $1", 42).Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("orders:", n)
	// Output:
	// orders: 1
}

func ExampleOpen() {
	ctx := context.Background()
	db, err := aiodb.Open("sqlite:///:memory:", aiodb.MaxOpen(4))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	v, err := aiodb.FetchVal[int64](ctx, db, "SELECT 2 * $1", 21)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v, db.DB().Stats().MaxOpenConnections)
	// Output: 42 4
}

// The DSN is logged at info level with its password redacted; statements
// at debug level.
func ExampleLogger() {
	quiet := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "took" {
			return slog.Attr{} // drop what changes from run to run
		}
		return a
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: quiet}))
	db, err := aiodb.Open("sqlite:///:memory:", aiodb.Logger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	aiodb.FetchVal[int](context.Background(), db, "SELECT $1", 1)
	// Output:
	// level=INFO msg="aiodb: open" dsn=sqlite:///:memory: dialect=sqlite replicas=0
	// level=INFO msg="aiodb: no replicas in the DSN: Replica blocks and WithReplica read from a read-only session on the primary"
	// level=DEBUG msg="aiodb: statement" op=query query="SELECT $1" node=sqlite:///:memory: reason=primary nargs=1
}

func ExampleDB_Execute() {
	db := openUsers()
	defer db.Close()
	res, err := db.Execute(context.Background(), "UPDATE users SET age = age + 1 WHERE age > %s", 30)
	if err != nil {
		log.Fatal(err)
	}
	n, _ := res.RowsAffected()
	fmt.Println(n, "rows updated")
	// Output: 2 rows updated
}

func ExampleDB_ExecuteMany() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	// One prepared statement, one transaction: all rows or none.
	err := db.ExecuteMany(ctx, "INSERT INTO users (name, age) VALUES (?, ?)",
		[]any{"dan", 19}, []any{"eve", 55})
	if err != nil {
		log.Fatal(err)
	}
	n, _ := aiodb.FetchVal[int](ctx, db, "SELECT count(*) FROM users")
	fmt.Println(n, "users")
	// Output: 5 users
}

func ExampleDB_FetchAll() {
	db := openUsers()
	defer db.Close()
	recs, err := db.FetchAll(context.Background(), "SELECT name, age FROM users WHERE age > $1 ORDER BY age", 30)
	if err != nil {
		log.Fatal(err)
	}
	for _, rec := range recs {
		fmt.Println(rec.Get("name"), rec.At(1))
	}
	fmt.Println(recs[0], recs[0].Equal("ann", 31))
	// Output:
	// ann 31
	// bob 42
	// (name="ann", age=31) true
}

func ExampleDB_FetchMany() {
	db := openUsers()
	defer db.Close()
	recs, err := db.FetchMany(context.Background(), 2, "SELECT name FROM users ORDER BY name")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(recs)
	// Output: [(name="ann") (name="bob")]
}

func ExampleDB_FetchOne() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	rec, err := db.FetchOne(ctx, "SELECT name, age FROM users WHERE name = $1", "bob")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Get("age"))
	_, err = db.FetchOne(ctx, "SELECT name FROM users WHERE name = $1", "zed")
	fmt.Println(errors.Is(err, sql.ErrNoRows))
	// Output:
	// 42
	// true
}

func ExampleFetchVal() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	n, err := aiodb.FetchVal[int64](ctx, db, "SELECT count(*) FROM users")
	if err != nil {
		log.Fatal(err)
	}
	oldest, _ := aiodb.FetchVal[string](ctx, db, "SELECT name FROM users ORDER BY age DESC")
	missing, _ := aiodb.FetchVal[*int64](ctx, db, "SELECT NULL") // a pointer for NULL
	anything, _ := aiodb.FetchVal[any](ctx, db, "SELECT 1.5")    // normalised as in a Record
	fmt.Println(n, oldest, missing, anything)
	// Output: 3 bob <nil> 1.5
}

func ExampleFetchValAt() {
	db := openUsers()
	defer db.Close()
	age, err := aiodb.FetchValAt[int](context.Background(), db, 1, "SELECT name, age FROM users WHERE name = 'cid'")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(age)
	// Output: 27
}

func ExampleFetchValNamed() {
	db := openUsers()
	defer db.Close()
	age, err := aiodb.FetchValNamed[int](context.Background(), db, "age", "SELECT * FROM users WHERE name = 'ann'")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(age)
	// Output: 31
}

func ExampleDB_Iterate() {
	db := openUsers()
	defer db.Close()
	for rec, err := range db.Iterate(context.Background(), "SELECT name FROM users ORDER BY name") {
		if err != nil {
			log.Fatal(err)
		}
		if rec.Get("name") == "cid" {
			break // closes the rows and frees the connection
		}
		fmt.Println(rec.Get("name"))
	}
	fmt.Println("in use:", db.DB().Stats().InUse)
	// Output:
	// ann
	// bob
	// in use: 0
}

// A Connection block holds one connection: a SQLite TEMP table, which only
// its connection sees, lives as long as the block.
func ExampleDB_Connection() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	err := db.Connection(ctx, func(ctx context.Context) error {
		if _, err := db.Execute(ctx, "CREATE TEMP TABLE seen (name TEXT)"); err != nil {
			return err
		}
		if _, err := db.Execute(ctx, "INSERT INTO seen SELECT name FROM users WHERE age < 30"); err != nil {
			return err
		}
		// Reuse: the same connection, so the TEMP table is still there.
		return db.Connection(ctx, func(ctx context.Context) error {
			recs, err := db.FetchAll(ctx, "SELECT name FROM seen")
			fmt.Println(recs, err)
			return err
		}, aiodb.Reuse())
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: [(name="cid")] <nil>
}

// A Transaction block commits when its function returns nil and rolls back
// on an error or a panic; returning aiodb.ErrRollback rolls back on purpose.
// Nested blocks are savepoints on the same connection.
func ExampleDB_Transaction() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	err := db.Transaction(ctx, func(ctx context.Context) error {
		if _, err := db.Execute(ctx, "DELETE FROM users WHERE name = 'ann'"); err != nil {
			return err
		}
		err := db.Transaction(ctx, func(ctx context.Context) error { // SAVEPOINT
			if _, err := db.Execute(ctx, "DELETE FROM users"); err != nil {
				return err
			}
			return aiodb.ErrRollback // ROLLBACK TO SAVEPOINT: only the inner delete is undone
		})
		if err != nil {
			return err
		}
		n, err := aiodb.FetchVal[int](ctx, db, "SELECT count(*) FROM users")
		fmt.Println("inside:", n)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	n, _ := aiodb.FetchVal[int](ctx, db, "SELECT count(*) FROM users")
	fmt.Println("committed:", n)
	// Output:
	// inside: 2
	// committed: 2
}

// Independent runs a transaction on its own connection, which commits
// whatever the enclosing transaction does.
func ExampleIndependent() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	db.Transaction(ctx, func(ctx context.Context) error {
		db.Transaction(ctx, func(ctx context.Context) error {
			_, err := db.Execute(ctx, "INSERT INTO users (name) VALUES ('audit')")
			return err
		}, aiodb.Independent())
		db.Execute(ctx, "DELETE FROM users")
		return aiodb.ErrRollback
	})
	n, _ := aiodb.FetchVal[int](ctx, db, "SELECT count(*) FROM users")
	fmt.Println(n, "users")
	// Output: 4 users
}

// A Replica block reads from a replica and refuses writes; a Connection
// block inside it runs on the primary.
func ExampleDB_Replica() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	err := db.Replica(ctx, func(ctx context.Context) error {
		n, err := aiodb.FetchVal[int](ctx, db, "SELECT count(*) FROM users")
		fmt.Println("users:", n, err)
		_, err = db.Execute(ctx, "DELETE FROM users")
		fmt.Println("read-only:", errors.Is(err, aiodb.ErrReadOnly))
		err = db.Transaction(ctx, func(context.Context) error { return nil })
		fmt.Println("read-write transaction refused:", errors.Is(err, aiodb.ErrReadOnly))
		return db.Connection(ctx, func(ctx context.Context) error {
			_, err := db.Execute(ctx, "DELETE FROM users WHERE name = 'cid'")
			fmt.Println("on the primary:", err)
			return err
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// users: 3 <nil>
	// read-only: true
	// read-write transaction refused: true
	// on the primary: <nil>
}

// Querier hands code written against database/sql's method set, such as
// sqlc's generated DBTX, the current block's transaction or connection.
func ExampleQuerier() {
	ctx := context.Background()
	db := openUsers()
	defer db.Close()
	// What sqlc would generate.
	type DBTX interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		PrepareContext(context.Context, string) (*sql.Stmt, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}
	deleteUser := func(ctx context.Context, q DBTX, name string) error {
		_, err := q.ExecContext(ctx, "DELETE FROM users WHERE name = $1", name)
		return err
	}
	db.Transaction(ctx, func(ctx context.Context) error {
		if err := deleteUser(ctx, aiodb.Querier(ctx, db), "ann"); err != nil {
			return err
		}
		return aiodb.ErrRollback // undoes the generated code's delete too
	})
	n, _ := aiodb.FetchVal[int](ctx, db, "SELECT count(*) FROM users")
	fmt.Println(n, "users")
	// Output: 3 users
}

func ExampleRecord() {
	db := openUsers()
	defer db.Close()
	rec, err := db.FetchOne(context.Background(), "SELECT name, age, NULL AS note FROM users WHERE name = 'ann'")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Len(), rec.Columns(), rec.Values())
	fmt.Println(rec.At(0), rec.Get("age"))
	note, ok := rec.Lookup("note")
	fmt.Println(note, ok) // a NULL column
	other, ok := rec.Lookup("other")
	fmt.Println(other, ok) // no such column
	fmt.Println(rec.Map()["age"], rec)
	// Output:
	// 3 [name age note] [ann 31 <nil>]
	// ann 31
	// <nil> true
	// <nil> false
	// 31 (name="ann", age=31, note=NULL)
}

func ExampleRecord_Scan() {
	db := openUsers()
	defer db.Close()
	rec, err := db.FetchOne(context.Background(), "SELECT name, age, NULL AS note FROM users WHERE name = 'bob'")
	if err != nil {
		log.Fatal(err)
	}
	var name string
	var age float64
	var note *string
	if err := rec.Scan(&name, &age, &note); err != nil {
		log.Fatal(err)
	}
	fmt.Println(name, age, note)
	// Output: bob 42 <nil>
}
