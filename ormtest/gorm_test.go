package ormtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/aiodb/aiodb"
)

type gormProduct struct {
	ID        uint   `gorm:"primaryKey"`
	Code      string `gorm:"size:64;uniqueIndex"`
	Price     uint
	Note      string `gorm:"size:200"`
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

func (gormProduct) TableName() string { return "gorm_products" }

// gormOpts configures openGorm.
type gormOpts struct {
	cfg         gorm.Config
	skipVersion bool // mysql.Config.SkipInitializeWithVersion
}

// gormDialector is the GORM dialector of tg's backend over conn, which is
// the aiodb *sql.DB (or a *sql.Conn of it): GORM never opens the backend
// driver itself (or the backend driver's *sql.DB, for comparisons). The
// PostgreSQL dialector keeps its default DriverName (""), under which GORM
// assumes pgx and passes pgx query options as leading arguments
// (TestGORMPostgresMigratorExecMode).
func gormDialector(tg *target, conn gorm.ConnPool, o gormOpts) gorm.Dialector {
	switch tg.kind {
	case postgresKind:
		return postgres.New(postgres.Config{Conn: conn})
	case mysqlKind:
		return mysql.New(mysql.Config{Conn: conn, SkipInitializeWithVersion: o.skipVersion})
	}
	// gorm.io/driver/sqlite links mattn/go-sqlite3, but with Conn set it
	// never opens it: every statement goes through aiodb to modernc.
	return sqlite.New(sqlite.Config{Conn: conn})
}

// stmtLog is a GORM logger that records every statement and its error.
type stmtLog struct {
	t     *testing.T
	mu    sync.Mutex
	stmts []loggedStmt
}

type loggedStmt struct {
	sql string
	err error
}

func (l *stmtLog) LogMode(logger.LogLevel) logger.Interface { return l }
func (l *stmtLog) Info(context.Context, string, ...any)     {}
func (l *stmtLog) Warn(context.Context, string, ...any)     {}
func (l *stmtLog) Error(context.Context, string, ...any)    {}
func (l *stmtLog) Trace(_ context.Context, _ time.Time, fc func() (string, int64), err error) {
	s, _ := fc()
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		l.t.Logf("GORM statement failed: %s\n\terror: %v", s, err)
	}
	l.mu.Lock()
	l.stmts = append(l.stmts, loggedStmt{s, err})
	l.mu.Unlock()
}

// failed returns the statements starting with prefix that failed.
func (l *stmtLog) failed(prefix string) []loggedStmt {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedStmt
	for _, s := range l.stmts {
		if s.err != nil && strings.HasPrefix(s.sql, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func (l *stmtLog) sent(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.stmts {
		if strings.HasPrefix(s.sql, prefix) {
			n++
		}
	}
	return n
}

func openGorm(t *testing.T, tg *target, conn gorm.ConnPool, o gormOpts) (*gorm.DB, *stmtLog) {
	t.Helper()
	log := &stmtLog{t: t}
	cfg := o.cfg
	cfg.Logger = log
	gdb, err := gorm.Open(gormDialector(tg, conn, o), &cfg)
	if err != nil {
		t.Fatalf("gorm.Open over aiodb: %v", err)
	}
	return gdb, log
}

// TestGORM: AutoMigrate (twice: the second run introspects the table),
// Create, First, Find, Update(s), soft and hard Delete, Count, Raw/Exec, and
// a committed and a rolled-back db.Transaction, in GORM's default mode,
// with PrepareStmt, and on MySQL without the version probe.
func TestGORM(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		type variant struct {
			name string
			o    gormOpts
		}
		variants := []variant{
			{"default", gormOpts{}},
			{"PrepareStmt", gormOpts{cfg: gorm.Config{PrepareStmt: true}}},
		}
		if tg.kind == mysqlKind {
			variants = append(variants, variant{"SkipInitializeWithVersion", gormOpts{skipVersion: true}})
		}
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				ctx := testCtx(t)
				gdb, _ := openGorm(t, tg, tg.db, v.o)
				gdb = gdb.WithContext(ctx)
				if err := gdb.Migrator().DropTable(&gormProduct{}); err != nil {
					t.Fatalf("DropTable: %v", err)
				}
				gormCRUD(t, gdb)
			})
		}
	})
}

func gormCRUD(t *testing.T, gdb *gorm.DB) {
	t.Helper()
	for i := range 2 {
		if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
			t.Fatalf("AutoMigrate #%d: %v", i+1, err)
		}
	}
	if !gdb.Migrator().HasTable(&gormProduct{}) || !gdb.Migrator().HasIndex(&gormProduct{}, "Code") {
		t.Fatal("Migrator does not see the table or its unique index")
	}

	p := gormProduct{Code: "D42", Price: 100, Note: tricky}
	if err := gdb.Create(&p).Error; err != nil {
		t.Fatalf("Create: %v", err)
	}
	if p.ID == 0 {
		t.Fatal("Create did not set the primary key")
	}
	batch := []gormProduct{{Code: "E1", Price: 10}, {Code: "E2", Price: 20}, {Code: "E3", Price: 300}}
	if err := gdb.Create(&batch).Error; err != nil {
		t.Fatalf("Create (batch): %v", err)
	}
	if batch[0].ID == 0 || batch[2].ID != batch[0].ID+2 {
		t.Fatalf("batch ids %d %d %d", batch[0].ID, batch[1].ID, batch[2].ID)
	}

	var got gormProduct
	if err := gdb.First(&got, p.ID).Error; err != nil {
		t.Fatalf("First by id: %v", err)
	}
	if got.Code != "D42" || got.Note != tricky || got.CreatedAt.IsZero() {
		t.Fatalf("First = %+v", got)
	}
	got = gormProduct{}
	if err := gdb.First(&got, "code = ?", "E2").Error; err != nil || got.Price != 20 {
		t.Fatalf("First with condition: %+v, %v", got, err)
	}
	if err := gdb.First(&gormProduct{}, "code = ?", "nope").Error; !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("First of a missing row: %v, want gorm.ErrRecordNotFound", err)
	}

	var list []gormProduct
	if err := gdb.Where("price > ? AND note <> ?", 15, tricky).Order("price").Find(&list).Error; err != nil {
		t.Fatalf("Find: %v", err)
	}
	if codes := gormCodes(list); !reflect.DeepEqual(codes, []string{"E2", "E3"}) {
		t.Fatalf("Find = %v", codes)
	}
	list = nil
	if err := gdb.Find(&list, []uint{batch[0].ID, batch[2].ID}).Error; err != nil || len(list) != 2 {
		t.Fatalf("Find by ids: %d rows, %v", len(list), err)
	}

	if err := gdb.Model(&p).Update("Price", 200).Error; err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := gdb.Model(&p).Updates(map[string]any{"note": "changed", "price": 250}).Error; err != nil {
		t.Fatalf("Updates: %v", err)
	}
	if res := gdb.Model(&gormProduct{}).Where("price < ?", 100).Update("note", "cheap"); res.Error != nil || res.RowsAffected != 2 {
		t.Fatalf("batch Update: %d rows, %v", res.RowsAffected, res.Error)
	}
	got = gormProduct{}
	if err := gdb.First(&got, p.ID).Error; err != nil || got.Price != 250 || got.Note != "changed" {
		t.Fatalf("after Updates: %+v, %v", got, err)
	}

	if err := gdb.Delete(&gormProduct{}, batch[0].ID).Error; err != nil {
		t.Fatalf("Delete (soft): %v", err)
	}
	var n int64
	if err := gdb.Model(&gormProduct{}).Count(&n).Error; err != nil || n != 3 {
		t.Fatalf("Count after soft delete: %d, %v", n, err)
	}
	if err := gdb.Unscoped().Model(&gormProduct{}).Count(&n).Error; err != nil || n != 4 {
		t.Fatalf("Unscoped Count: %d, %v", n, err)
	}
	if err := gdb.Unscoped().Delete(&gormProduct{}, batch[0].ID).Error; err != nil {
		t.Fatalf("Delete (hard): %v", err)
	}

	var codes []string
	if err := gdb.Raw("SELECT code FROM gorm_products WHERE note = ? OR price > ? ORDER BY code", "cheap", 240).Scan(&codes).Error; err != nil {
		t.Fatalf("Raw: %v", err)
	}
	if !reflect.DeepEqual(codes, []string{"D42", "E2", "E3"}) {
		t.Fatalf("Raw = %v", codes)
	}
	if err := gdb.Exec("UPDATE gorm_products SET note = ? WHERE code IN ?", tricky, []string{"E2", "E3"}).Error; err != nil {
		t.Fatalf("Exec with an IN list: %v", err)
	}

	// Transactions.
	errBoom := errors.New("boom")
	err := gdb.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&gormProduct{Code: "T1", Price: 1}).Error; err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Transaction: %v, want errBoom", err)
	}
	if err := gdb.Transaction(func(tx *gorm.DB) error {
		return tx.Create(&gormProduct{Code: "T2", Price: 2}).Error
	}); err != nil {
		t.Fatalf("Transaction (commit): %v", err)
	}
	tx := gdb.Begin()
	if err := tx.Create(&gormProduct{Code: "T3"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback().Error; err != nil {
		t.Fatal(err)
	}
	codes = nil
	if err := gdb.Model(&gormProduct{}).Where("code LIKE ?", "T%").Pluck("code", &codes).Error; err != nil || !reflect.DeepEqual(codes, []string{"T2"}) {
		t.Fatalf("after transactions: %v, %v", codes, err)
	}
}

func gormCodes(ps []gormProduct) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Code)
	}
	return out
}

// TestGORMTranslateError: with gorm.Config{TranslateError: true} the
// PostgreSQL and MySQL dialectors find the backend's error (errors.As
// through aiodb's wrapping) and report gorm.ErrDuplicatedKey. The SQLite
// dialector knows only mattn/go-sqlite3's error type, so over aiodb (modernc)
// the error stays untranslated, as it would over modernc directly.
func TestGORMTranslateError(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		gdb, _ := openGorm(t, tg, tg.db, gormOpts{cfg: gorm.Config{TranslateError: true}})
		gdb = gdb.WithContext(ctx)
		if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
			t.Fatal(err)
		}
		if err := gdb.Create(&gormProduct{Code: "dup"}).Error; err != nil {
			t.Fatal(err)
		}
		err := gdb.Create(&gormProduct{Code: "dup"}).Error
		switch {
		case errors.Is(err, gorm.ErrDuplicatedKey):
		case tg.kind == sqliteKind && err != nil:
			t.Logf("SQLite: not translated (dialector expects mattn's sqlite3.Error): %v", err)
		default:
			t.Fatalf("duplicate key: %v, want gorm.ErrDuplicatedKey", err)
		}
	})
}

// gormNestedOutcome is what gormNestedScenario observed: the error of each
// Transaction call and the rows committed in the end.
type gormNestedOutcome struct {
	outer, innerFail, innerDup, innerOK, deepFail, deepOK, outer2 error
	rows                                                          []string
}

var (
	errInner = errors.New("inner fails")
	errOuter = errors.New("outer fails")
)

// gormNestedScenario runs GORM's nested transactions on a fresh
// gorm_products table:
//
//	Transaction                        returns nil: committed
//	  create outer
//	  Transaction: errInner            rolled back: inner-rolled-back gone
//	  Transaction: duplicate key       rolled back: inner-dup-first gone (on PostgreSQL
//	                                   the failed INSERT aborts the transaction
//	                                   until ROLLBACK TO SAVEPOINT)
//	  Transaction                      kept: inner-released
//	    Transaction: errInner          rolled back: deep-rolled-back gone
//	    Transaction                    kept: deep-kept
//	  create outer-after
//	Transaction: errOuter              rolled back with its nested, succeeded
//	  create outer2                    level: outer2 and inner2 gone
//	  Transaction: create inner2
func gormNestedScenario(t *testing.T, gdb *gorm.DB) gormNestedOutcome {
	t.Helper()
	if err := gdb.Migrator().DropTable(&gormProduct{}); err != nil {
		t.Fatal(err)
	}
	if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
		t.Fatal(err)
	}
	var o gormNestedOutcome
	o.outer = gdb.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&gormProduct{Code: "outer"}).Error; err != nil {
			return err
		}
		o.innerFail = tx.Transaction(func(tx2 *gorm.DB) error {
			if err := tx2.Create(&gormProduct{Code: "inner-rolled-back"}).Error; err != nil {
				return err
			}
			return errInner
		})
		o.innerDup = tx.Transaction(func(tx2 *gorm.DB) error {
			if err := tx2.Create(&gormProduct{Code: "inner-dup-first"}).Error; err != nil {
				return err
			}
			return tx2.Create(&gormProduct{Code: "outer"}).Error // unique index on code
		})
		o.innerOK = tx.Transaction(func(tx2 *gorm.DB) error {
			if err := tx2.Create(&gormProduct{Code: "inner-released"}).Error; err != nil {
				return err
			}
			o.deepFail = tx2.Transaction(func(tx3 *gorm.DB) error {
				if err := tx3.Create(&gormProduct{Code: "deep-rolled-back"}).Error; err != nil {
					return err
				}
				return errInner
			})
			o.deepOK = tx2.Transaction(func(tx3 *gorm.DB) error {
				return tx3.Create(&gormProduct{Code: "deep-kept"}).Error
			})
			return nil
		})
		return tx.Create(&gormProduct{Code: "outer-after"}).Error
	})
	o.outer2 = gdb.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&gormProduct{Code: "outer2"}).Error; err != nil {
			return err
		}
		if err := tx.Transaction(func(tx2 *gorm.DB) error {
			return tx2.Create(&gormProduct{Code: "inner2"}).Error
		}); err != nil {
			return err
		}
		return errOuter
	})
	if err := gdb.Model(&gormProduct{}).Order("code").Pluck("code", &o.rows).Error; err != nil {
		t.Fatal(err)
	}
	return o
}

// check fails t unless o is the correct outcome of gormNestedScenario.
func (o gormNestedOutcome) check(t *testing.T, who string) {
	t.Helper()
	t.Logf("%s: outer %v; nested: %v / %v / %v; deep: %v / %v; second outer %v; rows %q",
		who, o.outer, o.innerFail, o.innerDup, o.innerOK, o.deepFail, o.deepOK, o.outer2, o.rows)
	if o.outer != nil || !errors.Is(o.innerFail, errInner) || o.innerDup == nil || errors.Is(o.innerDup, aiodb.ErrTxControl) ||
		o.innerOK != nil || !errors.Is(o.deepFail, errInner) || o.deepOK != nil || !errors.Is(o.outer2, errOuter) {
		t.Errorf("%s: Transaction results are not those of working savepoints", who)
	}
	if want := []string{"deep-kept", "inner-released", "outer", "outer-after"}; !reflect.DeepEqual(o.rows, want) {
		t.Errorf("%s: rows %q, want %q", who, o.rows, want)
	}
}

// TestGORMNestedTransaction: GORM implements tx.Transaction inside a
// transaction with tx.Exec("SAVEPOINT sp<n>") and tx.Exec("ROLLBACK TO
// SAVEPOINT sp<n>") on the *sql.Tx.
//
//   - Refused: by default aiodb refuses raw savepoint statements while it
//     manages a transaction (ErrTxControl). GORM's MySQL dialector returns
//     the error; its PostgreSQL and SQLite dialectors discard it, so the
//     nested function runs with no savepoint and its writes survive its
//     own failure. Silent.
//   - RawSavepointsAllow: with aiodb_raw_savepoints=allow GORM's savepoints
//     pass (no aiodb level is open) and nested transactions behave exactly
//     as over the backend driver, compared row for row.
//   - AllowInsideAiodbLevel: the option does not cover a GORM nested
//     transaction inside an aiodb nested level (nested BeginTx on one
//     connection): that SAVEPOINT is refused again.
//   - DisableNestedTransaction and ConnNestedTransaction: the ways that
//     work without the option.
func TestGORMNestedTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)

		t.Run("Refused", func(t *testing.T) {
			gdb, log := openGorm(t, tg, tg.db, gormOpts{})
			gdb = gdb.WithContext(ctx)
			if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
				t.Fatal(err)
			}
			var innerFail, innerOK error
			outerErr := gdb.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&gormProduct{Code: "outer"}).Error; err != nil {
					return err
				}
				innerFail = tx.Transaction(func(tx2 *gorm.DB) error {
					if err := tx2.Create(&gormProduct{Code: "inner-rolled-back"}).Error; err != nil {
						return err
					}
					return errInner
				})
				innerOK = tx.Transaction(func(tx2 *gorm.DB) error {
					return tx2.Create(&gormProduct{Code: "inner-released"}).Error
				})
				return nil // the application carries on after a failed nested step
			})
			var codes []string
			if err := gdb.Model(&gormProduct{}).Order("code").Pluck("code", &codes).Error; err != nil {
				t.Fatal(err)
			}
			spFailures := log.failed("SAVEPOINT")
			rbFailures := log.failed("ROLLBACK TO SAVEPOINT")
			for _, s := range append(spFailures, rbFailures...) {
				if !errors.Is(s.err, aiodb.ErrTxControl) {
					t.Errorf("%s: %v, want aiodb.ErrTxControl", s.sql, s.err)
				}
			}
			t.Logf("nested Transaction (failing) returned: %v", innerFail)
			t.Logf("nested Transaction (succeeding) returned: %v", innerOK)
			t.Logf("outer Transaction returned: %v", outerErr)
			t.Logf("rows committed: %q", codes)

			if tg.kind == mysqlKind {
				// The MySQL dialector returns the SAVEPOINT error; GORM adds it
				// to the outer *gorm.DB, so neither nested function runs and
				// the outer Transaction reports it too. GORM still COMMITs
				// the outer *sql.Tx before returning the error: "outer" is
				// committed although Transaction failed.
				if !errors.Is(innerFail, aiodb.ErrTxControl) || !errors.Is(innerOK, aiodb.ErrTxControl) || !errors.Is(outerErr, aiodb.ErrTxControl) {
					t.Fatalf("want aiodb.ErrTxControl from both nested and the outer Transaction")
				}
				if len(spFailures) != 2 {
					t.Fatalf("%d refused SAVEPOINTs, want 2", len(spFailures))
				}
				if want := []string{"outer"}; !reflect.DeepEqual(codes, want) {
					t.Fatalf("rows %q, want %q", codes, want)
				}
				t.Logf("by default (%s): GORM nested tx.Transaction fails: %v", tg.kind, innerFail)
				return
			}
			// The PostgreSQL and SQLite dialectors discard the error: the
			// failed nested level's row is committed.
			if outerErr != nil || !errors.Is(innerFail, errInner) || innerOK != nil || len(spFailures) != 2 || len(rbFailures) != 1 {
				t.Fatalf("%d refused SAVEPOINTs, %d refused ROLLBACK TOs; want 2 and 1", len(spFailures), len(rbFailures))
			}
			if want := []string{"inner-released", "inner-rolled-back", "outer"}; !reflect.DeepEqual(codes, want) {
				t.Fatalf("rows %q, want %q (the silent failure this test documents)", codes, want)
			}
			t.Logf("by default (%s): GORM ignores the refused SAVEPOINT; the failed level's row %q was committed", tg.kind, "inner-rolled-back")
		})

		t.Run("RawSavepointsAllow", func(t *testing.T) {
			allow := tg.withOption(t, rawSavepointsAllow)
			raw := tg.raw(t)
			// With PrepareStmt GORM prepares its statements on the *sql.Tx
			// but sends SAVEPOINT and ROLLBACK TO unprepared.
			for _, v := range []struct {
				name string
				o    gormOpts
			}{{"default", gormOpts{}}, {"PrepareStmt", gormOpts{cfg: gorm.Config{PrepareStmt: true}}}} {
				t.Run(v.name, func(t *testing.T) {
					rawGorm, _ := openGorm(t, tg, raw, v.o)
					want := gormNestedScenario(t, rawGorm.WithContext(ctx))
					want.check(t, tg.rawDrv)

					gdb, log := openGorm(t, tg, allow, v.o)
					got := gormNestedScenario(t, gdb.WithContext(ctx))
					got.check(t, "aiodb")
					if !reflect.DeepEqual(got.rows, want.rows) {
						t.Errorf("rows over aiodb %q, over %s %q", got.rows, tg.rawDrv, want.rows)
					}
					for _, prefix := range []string{"SAVEPOINT", "ROLLBACK", "RELEASE"} {
						if f := log.failed(prefix); len(f) > 0 {
							t.Errorf("%d %s statements failed, first %q: %v", len(f), prefix, f[0].sql, f[0].err)
						}
					}
					if n := log.sent("SAVEPOINT"); n != 6 {
						t.Errorf("GORM sent %d SAVEPOINT statements, want 6", n)
					}
				})
			}
		})

		t.Run("AllowInsideAiodbLevel", func(t *testing.T) {
			db := tg.withOption(t, rawSavepointsAllow)
			gdb, _ := openGorm(t, tg, db, gormOpts{})
			gdb = gdb.WithContext(ctx)
			if err := gdb.Migrator().DropTable(&gormProduct{}); err != nil {
				t.Fatal(err)
			}
			if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
				t.Fatal(err)
			}
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			gconn, log := openGorm(t, tg, conn, gormOpts{})
			gconn = gconn.WithContext(ctx)
			var levelErr, gormNested error
			err = gconn.Transaction(func(tx *gorm.DB) error {
				// A second Transaction on the *sql.Conn: aiodb's nested level.
				levelErr = gconn.Transaction(func(level *gorm.DB) error {
					// GORM's own nested transaction inside it.
					gormNested = level.Transaction(func(tx3 *gorm.DB) error {
						if err := tx3.Create(&gormProduct{Code: "gorm-in-level"}).Error; err != nil {
							return err
						}
						return errInner
					})
					return nil
				})
				return nil
			})
			var codes []string
			if err := gdb.Model(&gormProduct{}).Order("code").Pluck("code", &codes).Error; err != nil {
				t.Fatal(err)
			}
			t.Logf("outer %v, aiodb level %v, GORM nested %v, rows %q", err, levelErr, gormNested, codes)
			sp := log.failed("SAVEPOINT")
			if len(sp) != 1 || !errors.Is(sp[0].err, aiodb.ErrTxControl) {
				t.Fatalf("refused SAVEPOINTs %v, want one, aiodb.ErrTxControl", sp)
			}
			if tg.kind == mysqlKind {
				if !errors.Is(gormNested, aiodb.ErrTxControl) || len(codes) != 0 {
					t.Fatalf("GORM nested %v, rows %q; want aiodb.ErrTxControl and no row", gormNested, codes)
				}
				return
			}
			if !errors.Is(gormNested, errInner) || !reflect.DeepEqual(codes, []string{"gorm-in-level"}) {
				t.Fatalf("GORM nested %v, rows %q; want errInner and the row committed (no savepoint)", gormNested, codes)
			}
			t.Logf("with %s inside an aiodb level (%s): GORM's SAVEPOINT is refused and ignored; the failed level's row was committed", rawSavepointsAllow, tg.kind)
		})

		t.Run("DisableNestedTransaction", func(t *testing.T) {
			gdb, log := openGorm(t, tg, tg.db, gormOpts{cfg: gorm.Config{DisableNestedTransaction: true}})
			gdb = gdb.WithContext(ctx)
			if err := gdb.Migrator().DropTable(&gormProduct{}); err != nil {
				t.Fatal(err)
			}
			if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
				t.Fatal(err)
			}
			// A nested call joins the outer transaction: its error fails and
			// rolls back the whole transaction.
			err := gdb.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&gormProduct{Code: "outer"}).Error; err != nil {
					return err
				}
				return tx.Transaction(func(tx2 *gorm.DB) error {
					if err := tx2.Create(&gormProduct{Code: "inner"}).Error; err != nil {
						return err
					}
					return errInner
				})
			})
			if !errors.Is(err, errInner) {
				t.Fatalf("Transaction: %v, want errInner", err)
			}
			// A nested call that succeeds commits with the outer one.
			err = gdb.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&gormProduct{Code: "outer2"}).Error; err != nil {
					return err
				}
				return tx.Transaction(func(tx2 *gorm.DB) error {
					return tx2.Create(&gormProduct{Code: "inner2"}).Error
				})
			})
			if err != nil {
				t.Fatalf("Transaction: %v", err)
			}
			var codes []string
			if err := gdb.Model(&gormProduct{}).Order("code").Pluck("code", &codes).Error; err != nil {
				t.Fatal(err)
			}
			if want := []string{"inner2", "outer2"}; !reflect.DeepEqual(codes, want) {
				t.Fatalf("rows %q, want %q", codes, want)
			}
			if n := log.sent("SAVEPOINT"); n != 0 {
				t.Fatalf("%d SAVEPOINT statements sent with DisableNestedTransaction", n)
			}
		})

		t.Run("ConnNestedTransaction", func(t *testing.T) {
			conn, err := tg.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// GORM over a *sql.Conn: gconn.Transaction begins on the Conn, and
			// a second gconn.Transaction while the first is open is a nested
			// BeginTx on the same connection, i.e. an aiodb savepoint.
			gdb, _ := openGorm(t, tg, tg.db, gormOpts{})
			gdb = gdb.WithContext(ctx)
			// GORM's MySQL DropTable needs a *sql.DB (Migrator uses DB.Connection).
			if err := gdb.Migrator().DropTable(&gormProduct{}); err != nil {
				t.Fatal(err)
			}
			if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
				t.Fatal(err)
			}
			gconn, log := openGorm(t, tg, conn, gormOpts{})
			gconn = gconn.WithContext(ctx)
			var innerFail, innerOK error
			err = gconn.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&gormProduct{Code: "outer"}).Error; err != nil {
					return err
				}
				innerFail = gconn.Transaction(func(tx2 *gorm.DB) error {
					if err := tx2.Create(&gormProduct{Code: "inner-rolled-back"}).Error; err != nil {
						return err
					}
					return errInner
				})
				innerOK = gconn.Transaction(func(tx2 *gorm.DB) error {
					return tx2.Create(&gormProduct{Code: "inner-released"}).Error
				})
				return tx.Create(&gormProduct{Code: "outer-after"}).Error
			})
			if err != nil {
				t.Fatalf("outer Transaction: %v", err)
			}
			if !errors.Is(innerFail, errInner) || innerOK != nil {
				t.Fatalf("nested Transactions returned %v, %v", innerFail, innerOK)
			}
			var codes []string
			if err := gconn.Model(&gormProduct{}).Order("code").Pluck("code", &codes).Error; err != nil {
				t.Fatal(err)
			}
			if want := []string{"inner-released", "outer", "outer-after"}; !reflect.DeepEqual(codes, want) {
				t.Fatalf("rows %q, want %q", codes, want)
			}
			if n := log.sent("SAVEPOINT"); n != 0 {
				t.Fatalf("GORM sent %d SAVEPOINT statements itself", n)
			}
		})
	})
}

// gormColumns describes what GORM's Migrator finds in gorm_products after
// AutoMigrate has run twice (the second run introspects the table).
func gormColumns(t *testing.T, gdb *gorm.DB) []string {
	t.Helper()
	if err := gdb.Migrator().DropTable(&gormProduct{}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := gdb.AutoMigrate(&gormProduct{}); err != nil {
			t.Fatalf("AutoMigrate #%d: %v", i+1, err)
		}
	}
	cols, err := gdb.Migrator().ColumnTypes(&gormProduct{})
	if err != nil {
		t.Fatalf("ColumnTypes: %v", err)
	}
	var out []string
	for _, c := range cols {
		ct, _ := c.ColumnType()
		pk, _ := c.PrimaryKey()
		uniq, _ := c.Unique()
		null, _ := c.Nullable()
		length, _ := c.Length()
		def, _ := c.DefaultValue()
		auto, _ := c.AutoIncrement()
		out = append(out, fmt.Sprintf("%s %s (%s) pk=%v unique=%v null=%v len=%d default=%q auto=%v scan=%v",
			c.Name(), c.DatabaseTypeName(), ct, pk, uniq, null, length, def, auto, c.ScanType()))
	}
	return out
}

// TestGORMPostgresMigratorExecMode: GORM's PostgreSQL dialector with its
// default DriverName ("", meaning pgx) prepends pgx.QueryExecModeSimpleProtocol
// to the arguments of the query its Migrator's ColumnTypes runs, which
// AutoMigrate runs on every existing table. pgx's database/sql driver takes
// leading pgx options as query options; so does aiodb on PostgreSQL, which
// hands them to pgx without counting them as placeholder arguments. So
// AutoMigrate and ColumnTypes over aiodb give what they give over pgx, with
// no DriverName or PrepareStmt needed.
func TestGORMPostgresMigratorExecMode(t *testing.T) {
	onPostgres(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		rawGorm, _ := openGorm(t, tg, tg.raw(t), gormOpts{})
		want := gormColumns(t, rawGorm.WithContext(ctx))
		gdb, log := openGorm(t, tg, tg.db, gormOpts{}) // DriverName "": GORM assumes pgx
		got := gormColumns(t, gdb.WithContext(ctx))
		t.Logf("ColumnTypes over aiodb:\n\t%s", strings.Join(got, "\n\t"))
		if len(want) != 7 {
			t.Fatalf("ColumnTypes over pgx found %d columns, want 7", len(want))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ColumnTypes over aiodb:\n\t%s\nover pgx:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
		if f := log.failed(""); len(f) > 0 {
			t.Fatalf("%d GORM statements failed, first %q: %v", len(f), f[0].sql, f[0].err)
		}
		// The statement that carries the option.
		if n := log.sent("SELECT * FROM"); n == 0 {
			t.Fatal("GORM's Migrator did not run its SELECT * … LIMIT 1 (with the pgx exec-mode option)")
		}
	})
}

// TestPgxQueryOptionArgs compares aiodb with pgx's database/sql driver on
// the query option arguments pgx accepts: pgx.QueryExecMode,
// pgx.QueryResultFormats[ByOID] and pgx.QueryRewriter (pgx.NamedArgs). As
// leading arguments of Query/Exec they are options, not placeholder
// arguments; anywhere else, and on a prepared statement (database/sql
// counts them against the statement's parameters), they are arguments.
func TestPgxQueryOptionArgs(t *testing.T) {
	onPostgres(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		raw := tg.raw(t)
		for _, db := range []*sql.DB{raw, tg.db} {
			mustExec(t, db, ctx, "DROP TABLE IF EXISTS pgx_opts")
			mustExec(t, db, ctx, "CREATE TABLE pgx_opts (n int)")
		}
		cases := []struct {
			name  string
			exec  bool // ExecContext (an INSERT into pgx_opts) rather than a query
			query string
			args  []any
		}{
			{"QueryExecModeSimpleProtocol", false, "SELECT $1::int", []any{pgx.QueryExecModeSimpleProtocol, 7}},
			{"QueryExecModeExec", false, "SELECT $1::int + $2::int", []any{pgx.QueryExecModeExec, 3, 4}},
			{"QueryExecModeCacheDescribe", false, "SELECT $1::int", []any{pgx.QueryExecModeCacheDescribe, 7}},
			{"QueryExecModeDescribeExec-reused-$1", false, "SELECT $1::int + $1::int - 7", []any{pgx.QueryExecModeDescribeExec, 7}},
			{"QueryResultFormats", false, "SELECT $1::int", []any{pgx.QueryResultFormats{pgx.TextFormatCode}, 7}},
			{"QueryResultFormatsByOID", false, "SELECT $1::int", []any{pgx.QueryResultFormatsByOID{23: pgx.BinaryFormatCode}, 7}},
			{"two-options", false, "SELECT $1::int", []any{pgx.QueryExecModeSimpleProtocol, pgx.QueryResultFormats{pgx.TextFormatCode}, 7}},
			{"option-alone", false, "SELECT 7", []any{pgx.QueryExecModeSimpleProtocol}},
			{"NamedArgs", false, "SELECT @n::int", []any{pgx.NamedArgs{"n": 7}}},
			{"NamedArgs-literal", false, "SELECT @n::int + length('$1 ? @n')-8", []any{pgx.NamedArgs{"n": 7}}},
			{"StrictNamedArgs", false, "SELECT @n::int", []any{pgx.StrictNamedArgs{"n": 7}}},
			{"option-then-NamedArgs", false, "SELECT @n::int", []any{pgx.QueryExecModeSimpleProtocol, pgx.NamedArgs{"n": 7}}},
			{"option-not-leading", false, "SELECT $1::int", []any{7, pgx.QueryExecModeSimpleProtocol}},
			{"too-few-after-option", false, "SELECT $1::int + $2::int", []any{pgx.QueryExecModeSimpleProtocol, 7}},
			{"Exec-QueryExecModeSimpleProtocol", true, "INSERT INTO pgx_opts VALUES ($1)", []any{pgx.QueryExecModeSimpleProtocol, 7}},
			{"Exec-NamedArgs", true, "INSERT INTO pgx_opts VALUES (@n)", []any{pgx.NamedArgs{"n": 7}}},
		}
		run := func(db *sql.DB, exec bool, query string, args []any) (int64, error) {
			if exec {
				r, err := db.ExecContext(ctx, query, args...)
				if err != nil {
					return 0, err
				}
				return r.RowsAffected()
			}
			var n int64
			err := db.QueryRowContext(ctx, query, args...).Scan(&n)
			return n, err
		}
		for _, c := range cases {
			rawN, rawErr := run(raw, c.exec, c.query, c.args)
			aioN, aioErr := run(tg.db, c.exec, c.query, c.args)
			t.Logf("%s: pgx %d, %v; aiodb %d, %v", c.name, rawN, rawErr, aioN, aioErr)
			if rawN != aioN || (rawErr == nil) != (aioErr == nil) {
				t.Errorf("%s: %q with %T: pgx gives %d, %v; aiodb %d, %v", c.name, c.query, c.args[0], rawN, rawErr, aioN, aioErr)
			}
		}

		// Prepared statements keep database/sql's semantics: the option is
		// one more argument than the statement has parameters, on both.
		for _, db := range []*sql.DB{raw, tg.db} {
			stmt, err := db.PrepareContext(ctx, "SELECT $1::int")
			if err != nil {
				t.Fatal(err)
			}
			var n int
			err = stmt.QueryRowContext(ctx, pgx.QueryExecModeSimpleProtocol, 7).Scan(&n)
			stmt.Close()
			t.Logf("%T: prepared statement with a leading option: %v", db.Driver(), err)
			if err == nil {
				t.Errorf("%T: a prepared statement took a leading pgx option as an option (%d)", db.Driver(), n)
			}
		}

		// aiodb's own placeholders work after the options too (pgx alone
		// knows only $n).
		var n int
		if err := tg.db.QueryRowContext(ctx, "SELECT ?::int + ?::int", pgx.QueryExecModeSimpleProtocol, 3, 4).Scan(&n); err != nil || n != 7 {
			t.Errorf("? placeholders after a pgx option: %d, %v", n, err)
		}
	})
}
