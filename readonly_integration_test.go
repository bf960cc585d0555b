package aiodb

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestReadOnlyTxServerErrorUnchanged: a write in a plain read-only
// transaction on the primary (no replica context: aiodb routed nothing)
// returns the server's own error, as the raw driver does, so that code
// asserting err.(*mysql.MySQLError) or err.(*pgconn.PgError) keeps working.
// ErrReadOnly wraps only refusals on the read-only sessions aiodb opens.
func TestReadOnlyTxServerErrorUnchanged(t *testing.T) {
	for _, env := range []string{envPostgres, envMySQL} {
		t.Run(env, func(t *testing.T) {
			b := serverBackend(t, env)
			db := b.open(t)
			tbl := b.table(t, db, "x INT")
			for name, d := range map[string]*sql.DB{"aiodb": db, "raw": b.openRaw(t)} {
				tx, err := d.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				_, err = tx.Exec("INSERT INTO " + tbl + " (x) VALUES (1)")
				tx.Rollback()
				switch e := err.(type) {
				case *mysql.MySQLError:
					if e.Number != 1792 {
						t.Errorf("%s: %v, want error 1792", name, e)
					}
				case *pgconn.PgError:
					if e.Code != "25006" {
						t.Errorf("%s: %v, want SQLSTATE 25006", name, e)
					}
				default:
					t.Errorf("%s: %T %v, want the server's own error type", name, err, err)
				}
			}
		})
	}
}
