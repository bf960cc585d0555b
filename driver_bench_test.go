package aiodb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
)

// The benchmarks run every hot path twice in one process, through aiodb and
// through the backend driver on the same server, so the overhead is the
// ratio of the two sub-benchmarks (benchstat, -count ≥ 6). SQLite runs
// always (in memory, the same memdb VFS for both); PostgreSQL and MariaDB
// when their test variable is set.

type benchPair struct {
	name       string
	aiodb, raw *sql.DB
	dialect    Dialect
}

func benchPairs(b *testing.B) []benchPair {
	mem := fmt.Sprintf("aiodb-bench-%d", os.Getpid())
	pairs := []benchPair{{name: "sqlite", dialect: SQLite,
		aiodb: mustOpen(b, DriverName, "sqlite:///:memory:"),
		raw:   mustOpen(b, "sqlite", "file:/"+mem+"?vfs=memdb")}}
	for _, env := range []string{envPostgres, envMySQL} {
		dsn := os.Getenv(env)
		if dsn == "" {
			b.Logf("%s not set: benchmarking SQLite only", env)
			continue
		}
		cfg, err := ParseDSN(dsn)
		if err != nil {
			b.Fatal(err)
		}
		raw := map[Dialect]string{PostgreSQL: "pgx", MySQL: "mysql"}[cfg.Dialect]
		pairs = append(pairs, benchPair{name: cfg.Dialect.String(), dialect: cfg.Dialect,
			aiodb: mustOpen(b, DriverName, dsn), raw: mustOpen(b, raw, cfg.Primary.backend)})
	}
	return pairs
}

func mustOpen(b *testing.B, driverName, dsn string) *sql.DB {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxIdleConns(4)
	b.Cleanup(func() { db.Close() })
	return db
}

// benchTable fills a 1000-row table through the raw driver, and through
// aiodb too on SQLite, whose two in-memory databases are distinct.
func benchTable(b *testing.B, p benchPair) string {
	name := fmt.Sprintf("aiodb_bench_%d", os.Getpid())
	dbs := []*sql.DB{p.raw}
	if p.dialect == SQLite {
		dbs = append(dbs, p.aiodb)
	}
	for _, db := range dbs {
		db.Exec("DROP TABLE IF EXISTS " + name)
		if _, err := db.Exec("CREATE TABLE " + name + " (id INT PRIMARY KEY, name VARCHAR(40), score FLOAT)"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Exec("DROP TABLE " + name) })
		tx, _ := db.Begin()
		for i := range 1000 {
			if _, err := tx.Exec(fmt.Sprintf("INSERT INTO %s VALUES (%d, 'name %d', %d.5)", name, i, i, i)); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return name
}

// nativeArg is the backend's own placeholder, so the raw driver can run the
// same text; aiodb rewrites it to itself (a cache hit).
func nativeArg(d Dialect) string {
	return map[Dialect]string{PostgreSQL: "$1", MySQL: "?", SQLite: "?1"}[d]
}

// compare runs body as two sub-benchmarks, raw driver then aiodb, for
// every backend pair, on a fresh 1000-row table.
func compare(b *testing.B, body func(b *testing.B, db *sql.DB, tbl string, d Dialect)) {
	for _, p := range benchPairs(b) {
		tbl := benchTable(b, p)
		for _, side := range []struct {
			name string
			db   *sql.DB
		}{{"raw", p.raw}, {"aiodb", p.aiodb}} {
			b.Run("db="+p.name+"/driver="+side.name, func(b *testing.B) {
				b.ReportAllocs()
				body(b, side.db, tbl, p.dialect)
			})
		}
	}
}

func BenchmarkPointQuery(b *testing.B) {
	compare(b, func(b *testing.B, db *sql.DB, tbl string, d Dialect) {
		q := "SELECT name, score FROM " + tbl + " WHERE id = " + nativeArg(d)
		var name string
		var score float64
		for i := 0; b.Loop(); i++ {
			if err := db.QueryRow(q, i%1000).Scan(&name, &score); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkExec(b *testing.B) {
	compare(b, func(b *testing.B, db *sql.DB, tbl string, d Dialect) {
		q := "UPDATE " + tbl + " SET score = score + 1 WHERE id = " + nativeArg(d)
		for i := 0; b.Loop(); i++ {
			if _, err := db.Exec(q, i%1000); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkScan1000(b *testing.B) {
	compare(b, func(b *testing.B, db *sql.DB, tbl string, _ Dialect) {
		q := "SELECT id, name, score FROM " + tbl
		ctx := context.Background()
		for b.Loop() {
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			var id int64
			var name string
			var score float64
			n := 0
			for rows.Next() {
				if err := rows.Scan(&id, &name, &score); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if rows.Close(); n != 1000 {
				b.Fatalf("%d rows", n)
			}
		}
	})
}
