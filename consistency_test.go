package aiodb

import (
	"context"
	"testing"
)

// BenchmarkReadYourWritesExec measures what read_your_writes costs a write
// on PostgreSQL: an autocommit INSERT with the option off and on (one
// pg_current_wal_insert_lsn() query after it), side by side in one run.
func BenchmarkReadYourWritesExec(b *testing.B) {
	be := serverBackend(b, envPostgres)
	for _, mode := range []string{"off", "wait"} {
		b.Run(mode, func(b *testing.B) {
			db, err := Open(withOptions(be.dsn, "aiodb_read_your_writes="+mode))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			tbl := be.table(b, db.DB(), "v int")
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := db.DB().ExecContext(ctx, "INSERT INTO "+tbl+" (v) VALUES ($1)", i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
