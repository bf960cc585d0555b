package ormtest

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/schema"

	"github.com/aiodb/aiodb"
)

type bunUser struct {
	bun.BaseModel `bun:"table:bun_users"`

	ID        int64     `bun:",pk,autoincrement"`
	Name      string    `bun:",notnull"`
	Email     *string   `bun:"email"`
	Score     float64   `bun:",notnull"`
	CreatedAt time.Time `bun:",nullzero,notnull,default:current_timestamp"`
}

func bunDialect(k kind) schema.Dialect {
	switch k {
	case postgresKind:
		return pgdialect.New()
	case mysqlKind:
		return mysqldialect.New()
	}
	return sqlitedialect.New()
}

func strp(s string) *string { return &s }

// TestBun: CREATE TABLE, bulk INSERT (RETURNING or LastInsertId), SELECT
// into structs with bun.In, UPDATE, DELETE, Count, raw queries and RunInTx
// (commit and rollback; nested: TestBunNestedTx). bun writes argument
// values into the SQL text itself, so aiodb sees queries without arguments
// whose string literals are full of ?, $1 and :name.
func TestBun(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		db := bun.NewDB(tg.db, bunDialect(tg.kind))
		if _, err := db.NewCreateTable().Model((*bunUser)(nil)).IfNotExists().Exec(ctx); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}

		users := []bunUser{
			{Name: "alice", Email: strp("alice@example.com"), Score: 1.5},
			{Name: tricky, Email: strp(tricky), Score: 2},
			{Name: "carol", Score: -3},
		}
		if _, err := db.NewInsert().Model(&users).Exec(ctx); err != nil {
			t.Fatalf("Insert (bulk): %v", err)
		}
		if users[0].ID == 0 || users[2].ID == 0 {
			t.Fatalf("Insert did not set ids: %d %d %d", users[0].ID, users[1].ID, users[2].ID)
		}

		var u bunUser
		if err := db.NewSelect().Model(&u).Where("id = ?", users[1].ID).Scan(ctx); err != nil {
			t.Fatalf("Select by id: %v", err)
		}
		if u.Name != tricky || u.Email == nil || *u.Email != tricky || u.CreatedAt.IsZero() {
			t.Fatalf("Select = %+v", u)
		}
		var list []bunUser
		if err := db.NewSelect().Model(&list).Where("id IN (?)", bun.List([]int64{users[0].ID, users[2].ID})).Order("id ASC").Scan(ctx); err != nil {
			t.Fatalf("Select bun.List: %v", err)
		}
		if len(list) != 2 || list[0].Name != "alice" || list[1].Name != "carol" || list[1].Email != nil {
			t.Fatalf("Select bun.In = %+v", list)
		}
		if err := db.NewSelect().Model(&u).Where("name = ?", "nobody").Scan(ctx); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("Select of a missing row: %v, want sql.ErrNoRows", err)
		}

		users[2].Score = 30
		if res, err := db.NewUpdate().Model(&users[2]).Column("score").WherePK().Exec(ctx); err != nil {
			t.Fatalf("Update: %v", err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("Update affected %d rows", n)
		}
		if _, err := db.NewUpdate().Model((*bunUser)(nil)).Set("email = ?", "x?y").Where("email IS NULL").Exec(ctx); err != nil {
			t.Fatalf("Update Set: %v", err)
		}
		var email string
		if err := db.NewRaw("SELECT email FROM bun_users WHERE score > ?", 10).Scan(ctx, &email); err != nil || email != "x?y" {
			t.Fatalf("Raw: %q, %v", email, err)
		}
		// The database/sql path: bun passes its own query string through.
		if err := db.QueryRowContext(ctx, "SELECT email FROM bun_users WHERE name = ?", tricky).Scan(&email); err != nil || email != tricky {
			t.Fatalf("QueryRowContext: %q, %v", email, err)
		}

		if _, err := db.NewDelete().Model((*bunUser)(nil)).Where("name = ?", "alice").Exec(ctx); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if n, err := db.NewSelect().Model((*bunUser)(nil)).Count(ctx); err != nil || n != 2 {
			t.Fatalf("Count = %d, %v", n, err)
		}

		// RunInTx: commit, and rollback on error.
		if err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewInsert().Model(&bunUser{Name: "dave"}).Exec(ctx)
			return err
		}); err != nil {
			t.Fatalf("RunInTx: %v", err)
		}
		errBoom := errors.New("boom")
		if err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.NewInsert().Model(&bunUser{Name: "erin"}).Exec(ctx); err != nil {
				return err
			}
			return errBoom
		}); !errors.Is(err, errBoom) {
			t.Fatalf("RunInTx: %v, want errBoom", err)
		}
		var names []string
		if err := db.NewSelect().Model((*bunUser)(nil)).Column("name").Order("name").Scan(ctx, &names); err != nil {
			t.Fatal(err)
		}
		if want := []string{tricky, "carol", "dave"}; !reflect.DeepEqual(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(want))) {
			t.Fatalf("after RunInTx: %q, want %q", names, want)
		}

		// The raw driver reads exactly what bun wrote through aiodb.
		var viaAiodb, viaRaw []bunUser
		if err := db.NewSelect().Model(&viaAiodb).Order("id").Scan(ctx); err != nil {
			t.Fatal(err)
		}
		rawDB := bun.NewDB(tg.raw(t), bunDialect(tg.kind))
		if err := rawDB.NewSelect().Model(&viaRaw).Order("id").Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(viaAiodb, viaRaw) {
			t.Fatalf("bun over aiodb read %+v\nbun over %s read %+v", viaAiodb, tg.rawDrv, viaRaw)
		}
	})
}

// bunNestedOutcome is what bunNestedScenario observed: the error of each
// RunInTx call and the rows committed in the end.
type bunNestedOutcome struct {
	outer, innerFail, innerDup, innerOK, deepFail, deepOK, outer2 error
	rows                                                          []string
}

// bunNestedScenario runs bun's nested transactions (bun.Tx.RunInTx, i.e.
// SAVEPOINT SP_<hex>, then RELEASE SAVEPOINT or ROLLBACK TO SAVEPOINT) on a
// fresh bun_users table, in the shape of gormNestedScenario:
//
//	RunInTx                            returns nil: committed
//	  insert outer
//	  RunInTx: errInner                rolled back: inner-rolled-back gone
//	  RunInTx: duplicate primary key   rolled back: inner-dup-first gone (on PostgreSQL
//	                                   the failed INSERT aborts the transaction
//	                                   until ROLLBACK TO SAVEPOINT)
//	  RunInTx                          released: inner-released kept
//	    RunInTx: errInner              rolled back: deep-rolled-back gone
//	    RunInTx                        released: deep-kept kept
//	  insert outer-after
//	RunInTx: errOuter                  rolled back with its released nested
//	  insert outer2                    level: outer2 and inner2 gone
//	  RunInTx: insert inner2
func bunNestedScenario(t *testing.T, ctx context.Context, db *bun.DB) bunNestedOutcome {
	t.Helper()
	if _, err := db.NewDropTable().Model((*bunUser)(nil)).IfExists().Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.NewCreateTable().Model((*bunUser)(nil)).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, tx bun.Tx, u *bunUser) error {
		_, err := tx.NewInsert().Model(u).Exec(ctx)
		return err
	}
	var o bunNestedOutcome
	o.outer = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		outer := &bunUser{Name: "outer"}
		if err := insert(ctx, tx, outer); err != nil {
			return err
		}
		o.innerFail = tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
			if err := insert(ctx, sp, &bunUser{Name: "inner-rolled-back"}); err != nil {
				return err
			}
			return errInner
		})
		o.innerDup = tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
			if err := insert(ctx, sp, &bunUser{Name: "inner-dup-first"}); err != nil {
				return err
			}
			return insert(ctx, sp, &bunUser{ID: outer.ID, Name: "inner-dup"})
		})
		o.innerOK = tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
			if err := insert(ctx, sp, &bunUser{Name: "inner-released"}); err != nil {
				return err
			}
			o.deepFail = sp.RunInTx(ctx, nil, func(ctx context.Context, sp2 bun.Tx) error {
				if err := insert(ctx, sp2, &bunUser{Name: "deep-rolled-back"}); err != nil {
					return err
				}
				return errInner
			})
			o.deepOK = sp.RunInTx(ctx, nil, func(ctx context.Context, sp2 bun.Tx) error {
				return insert(ctx, sp2, &bunUser{Name: "deep-kept"})
			})
			return nil
		})
		return insert(ctx, tx, &bunUser{Name: "outer-after"})
	})
	o.outer2 = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := insert(ctx, tx, &bunUser{Name: "outer2"}); err != nil {
			return err
		}
		if err := tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
			return insert(ctx, sp, &bunUser{Name: "inner2"})
		}); err != nil {
			return err
		}
		return errOuter
	})
	if err := db.NewSelect().Model((*bunUser)(nil)).Column("name").Order("name").Scan(ctx, &o.rows); err != nil {
		t.Fatal(err)
	}
	return o
}

// check fails t unless o is the correct outcome of bunNestedScenario.
func (o bunNestedOutcome) check(t *testing.T, who string) {
	t.Helper()
	t.Logf("%s: outer %v; nested: %v / %v / %v; deep: %v / %v; second outer %v; rows %q",
		who, o.outer, o.innerFail, o.innerDup, o.innerOK, o.deepFail, o.deepOK, o.outer2, o.rows)
	if o.outer != nil || !errors.Is(o.innerFail, errInner) || o.innerDup == nil || errors.Is(o.innerDup, aiodb.ErrTxControl) ||
		o.innerOK != nil || !errors.Is(o.deepFail, errInner) || o.deepOK != nil || !errors.Is(o.outer2, errOuter) {
		t.Errorf("%s: RunInTx results are not those of working savepoints", who)
	}
	if want := []string{"deep-kept", "inner-released", "outer", "outer-after"}; !reflect.DeepEqual(o.rows, want) {
		t.Errorf("%s: rows %q, want %q", who, o.rows, want)
	}
}

// TestBunNestedTx: bun.Tx.RunInTx/Begin send "SAVEPOINT SP_<hex>" through
// the *sql.Tx and "ROLLBACK TO SAVEPOINT"/"RELEASE SAVEPOINT" afterwards.
//
//   - Refused: by default aiodb refuses them (ErrTxControl) while it
//     manages the transaction, and bun returns the error.
//   - RawSavepointsAllow: with aiodb_raw_savepoints=allow they pass (no
//     aiodb level is open) and nested RunInTx behaves exactly as over the
//     backend driver, compared row for row.
//   - ConnRunInTx: what works without the option: RunInTx nested on a
//     bun.Conn is a nested BeginTx on the *sql.Conn, i.e. an aiodb savepoint.
func TestBunNestedTx(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		db := bun.NewDB(tg.db, bunDialect(tg.kind))
		if _, err := db.NewCreateTable().Model((*bunUser)(nil)).Exec(ctx); err != nil {
			t.Fatal(err)
		}

		t.Run("Refused", func(t *testing.T) {
			var inner error
			outer := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				if _, err := tx.NewInsert().Model(&bunUser{Name: "outer"}).Exec(ctx); err != nil {
					return err
				}
				inner = tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
					if _, err := sp.NewInsert().Model(&bunUser{Name: "inner"}).Exec(ctx); err != nil {
						return err
					}
					return errInner
				})
				return nil
			})
			var names []string
			if err := db.NewSelect().Model((*bunUser)(nil)).Column("name").Order("name").Scan(ctx, &names); err != nil {
				t.Fatal(err)
			}
			t.Logf("nested tx.RunInTx returned: %v; outer returned: %v; rows: %q", inner, outer, names)
			if outer != nil || !reflect.DeepEqual(names, []string{"outer"}) {
				t.Fatalf("outer RunInTx %v, rows %q; want nil and only \"outer\"", outer, names)
			}
			if !errors.Is(inner, aiodb.ErrTxControl) {
				t.Fatalf("nested RunInTx: %v, want aiodb.ErrTxControl", inner)
			}
			if _, err := db.NewDelete().Model((*bunUser)(nil)).Where("1 = 1").Exec(ctx); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("RawSavepointsAllow", func(t *testing.T) {
			want := bunNestedScenario(t, ctx, bun.NewDB(tg.raw(t), bunDialect(tg.kind)))
			want.check(t, tg.rawDrv)
			got := bunNestedScenario(t, ctx, bun.NewDB(tg.withOption(t, rawSavepointsAllow), bunDialect(tg.kind)))
			got.check(t, "aiodb")
			if !reflect.DeepEqual(got.rows, want.rows) {
				t.Errorf("rows over aiodb %q, over %s %q", got.rows, tg.rawDrv, want.rows)
			}
			if _, err := db.NewDelete().Model((*bunUser)(nil)).Where("1 = 1").Exec(ctx); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("AllowDigitOnlyName", func(t *testing.T) {
			// bun names a savepoint SP_ + 28 random hex digits. aiodb keeps
			// refusing the names it generates itself, sp_<digits> in any
			// case, so the rare name whose hex digits are all decimal
			// (probability (10/16)^28, about 2e-6 per nested RunInTx) is
			// refused even with aiodb_raw_savepoints=allow.
			tx, err := tg.withOption(t, rawSavepointsAllow).BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			for _, name := range []string{"SP_0123456789abcdef0123456789ab", "SP_0123456789012345678901234567"} {
				_, err := tx.ExecContext(ctx, "SAVEPOINT "+name)
				switch {
				case err == nil:
				case errors.Is(err, aiodb.ErrTxControl) && strings.Trim(name[3:], "0123456789") == "":
					t.Logf("LIMIT: bun savepoint name %s (all digits) is refused: %v", name, err)
				default:
					t.Errorf("SAVEPOINT %s with %s: %v", name, rawSavepointsAllow, err)
				}
			}
		})

		t.Run("ConnRunInTx", func(t *testing.T) {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var innerFail, innerOK error
			err = conn.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				if _, err := tx.NewInsert().Model(&bunUser{Name: "outer"}).Exec(ctx); err != nil {
					return err
				}
				innerFail = conn.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
					if _, err := sp.NewInsert().Model(&bunUser{Name: "inner-rolled-back"}).Exec(ctx); err != nil {
						return err
					}
					return errInner
				})
				innerOK = conn.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
					_, err := sp.NewInsert().Model(&bunUser{Name: "inner-released"}).Exec(ctx)
					return err
				})
				return nil
			})
			if err != nil || !errors.Is(innerFail, errInner) || innerOK != nil {
				t.Fatalf("outer %v, nested %v / %v", err, innerFail, innerOK)
			}
			var names []string
			if err := db.NewSelect().Model((*bunUser)(nil)).Column("name").Order("name").Scan(ctx, &names); err != nil {
				t.Fatal(err)
			}
			if want := []string{"inner-released", "outer"}; !reflect.DeepEqual(names, want) {
				t.Fatalf("rows %q, want %q", names, want)
			}
		})
	})
}
