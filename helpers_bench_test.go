package aiodb

import (
	"context"
	"testing"
)

// The helpers against hand-written database/sql on the same *sql.DB: the
// cost of Records (one converter per column, values in shared blocks) and
// of FetchVal's column handling. Goals: FetchAll and Iterate ≤ 1.15× the
// hand-written loop, FetchVal ≤ 1.05× QueryRow().Scan. Compare the "aiodb"
// and "scan" halves of each sub-benchmark (benchstat).

const benchRows = 1000

// helperBenches runs body on SQLite and, when their variables are set, on
// PostgreSQL and MySQL, against a table of benchRows rows (id, name, score).
func helperBenches(b *testing.B, body func(b *testing.B, db *DB, tbl string)) {
	for _, env := range []string{"", envPostgres, envMySQL} {
		name := map[string]string{"": "sqlite", envPostgres: "postgres", envMySQL: "mysql"}[env]
		b.Run(name, func(b *testing.B) {
			be := sqliteBackend(b)
			if env != "" {
				be = serverBackend(b, env)
			}
			db, err := Open(be.dsn)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			tbl := be.table(b, db.DB(), "id INTEGER PRIMARY KEY, name VARCHAR(20), score DOUBLE PRECISION")
			args := make([][]any, benchRows)
			for i := range args {
				args[i] = []any{i, "name", float64(i) / 2}
			}
			if err := db.ExecuteMany(context.Background(), "INSERT INTO "+tbl+" VALUES ($1, $2, $3)", args...); err != nil {
				b.Fatal(err)
			}
			body(b, db, tbl)
		})
	}
}

type benchRow struct {
	id    int64
	name  string
	score float64
}

func BenchmarkFetchAll(b *testing.B) {
	ctx := context.Background()
	helperBenches(b, func(b *testing.B, db *DB, tbl string) {
		q := "SELECT id, name, score FROM " + tbl
		b.Run("aiodb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				recs, err := db.FetchAll(ctx, q)
				if err != nil || len(recs) != benchRows {
					b.Fatal(len(recs), err)
				}
			}
		})
		b.Run("scan", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rows, err := db.DB().QueryContext(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				var out []benchRow
				for rows.Next() {
					var r benchRow
					if err := rows.Scan(&r.id, &r.name, &r.score); err != nil {
						b.Fatal(err)
					}
					out = append(out, r)
				}
				if err := rows.Close(); err != nil || len(out) != benchRows {
					b.Fatal(len(out), err)
				}
			}
		})
	})
}

func BenchmarkIterate(b *testing.B) {
	ctx := context.Background()
	helperBenches(b, func(b *testing.B, db *DB, tbl string) {
		q := "SELECT id, name, score FROM " + tbl
		b.Run("aiodb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				for rec, err := range db.Iterate(ctx, q) {
					if err != nil {
						b.Fatal(err)
					}
					n += len(rec.At(1).(string))
				}
				if n != 4*benchRows {
					b.Fatal(n)
				}
			}
		})
		b.Run("scan", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rows, err := db.DB().QueryContext(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					var r benchRow
					if err := rows.Scan(&r.id, &r.name, &r.score); err != nil {
						b.Fatal(err)
					}
					n += len(r.name)
				}
				if err := rows.Close(); err != nil || n != 4*benchRows {
					b.Fatal(n, err)
				}
			}
		})
	})
}

func BenchmarkFetchVal(b *testing.B) {
	ctx := context.Background()
	helperBenches(b, func(b *testing.B, db *DB, tbl string) {
		q := "SELECT score FROM " + tbl + " WHERE id = $1"
		b.Run("aiodb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v, err := FetchVal[float64](ctx, db, q, 42); err != nil || v != 21 {
					b.Fatal(v, err)
				}
			}
		})
		b.Run("scan", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var v float64
				if err := db.DB().QueryRowContext(ctx, q, 42).Scan(&v); err != nil || v != 21 {
					b.Fatal(v, err)
				}
			}
		})
	})
}
