package ormtest

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqlgraph"
	"entgo.io/ent/schema/field"

	"github.com/aiodb/aiodb"
)

func entDialect(k kind) string {
	switch k {
	case postgresKind:
		return dialect.Postgres
	case mysqlKind:
		return dialect.MySQL
	}
	return dialect.SQLite
}

var entPetsDDL = map[kind]string{
	postgresKind: `CREATE TABLE ent_pets (id BIGSERIAL PRIMARY KEY, name VARCHAR(200) NOT NULL, age BIGINT NOT NULL)`,
	mysqlKind:    `CREATE TABLE ent_pets (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, age BIGINT NOT NULL)`,
	sqliteKind:   `CREATE TABLE ent_pets (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(200) NOT NULL, age BIGINT NOT NULL)`,
}

type entPet struct {
	ID   int64  `sql:"id"`
	Name string `sql:"name"`
	Age  int64  `sql:"age"`
}

var entPetColumns = []string{"id", "name", "age"}

func entPetID() *sqlgraph.FieldSpec { return sqlgraph.NewFieldSpec("id", field.TypeInt64) }

func entCreate(name string, age int64) *sqlgraph.CreateSpec {
	spec := sqlgraph.NewCreateSpec("ent_pets", entPetID())
	spec.SetField("name", field.TypeString, name)
	spec.SetField("age", field.TypeInt64, age)
	return spec
}

// entQuery reads pets with sqlgraph.QueryNodes, as generated ent clients do.
func entQuery(ctx context.Context, drv dialect.Driver, pred func(*entsql.Selector)) ([]entPet, error) {
	var out []entPet
	spec := sqlgraph.NewQuerySpec("ent_pets", entPetColumns, entPetID())
	spec.Predicate = pred
	spec.Order = func(s *entsql.Selector) { s.OrderBy(s.C("id")) }
	spec.ScanValues = func([]string) ([]any, error) {
		return []any{new(sql.NullInt64), new(sql.NullString), new(sql.NullInt64)}, nil
	}
	spec.Assign = func(_ []string, v []any) error {
		out = append(out, entPet{ID: v[0].(*sql.NullInt64).Int64, Name: v[1].(*sql.NullString).String, Age: v[2].(*sql.NullInt64).Int64})
		return nil
	}
	err := sqlgraph.QueryNodes(ctx, drv, spec)
	return out, err
}

// entTxDriver is the dialect.Driver over a transaction that generated ent
// clients build (ent.txDriver).
type entTxDriver struct {
	tx  dialect.Tx
	drv dialect.Driver
}

func (d entTxDriver) Exec(ctx context.Context, q string, args, v any) error {
	return d.tx.Exec(ctx, q, args, v)
}
func (d entTxDriver) Query(ctx context.Context, q string, args, v any) error {
	return d.tx.Query(ctx, q, args, v)
}

func (d entTxDriver) Dialect() string                        { return d.drv.Dialect() }
func (d entTxDriver) Close() error                           { return nil }
func (d entTxDriver) Tx(context.Context) (dialect.Tx, error) { return dialect.NopTx(d), nil }

// TestEnt drives ent at the dialect/sql level, the layer generated clients
// sit on: entsql.OpenDB over the aiodb *sql.DB, sqlgraph create (single and
// batch: RETURNING on PostgreSQL, LastInsertId on MySQL and SQLite), query,
// count, update and delete, the SQL builder with drv.Query, and
// transactions from drv.Tx.
func TestEnt(t *testing.T) {
	eachBackend(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t)
		drv := entsql.OpenDB(entDialect(tg.kind), tg.db)
		if drv.Dialect() != entDialect(tg.kind) {
			t.Fatalf("Dialect() = %q", drv.Dialect())
		}
		if err := drv.Exec(ctx, entPetsDDL[tg.kind], []any{}, nil); err != nil {
			t.Fatalf("CREATE TABLE: %v", err)
		}

		rex := entCreate("rex", 3)
		if err := sqlgraph.CreateNode(ctx, drv, rex); err != nil {
			t.Fatalf("sqlgraph.CreateNode: %v", err)
		}
		if id, ok := rex.ID.Value.(int64); !ok || id == 0 {
			t.Fatalf("CreateNode set id %#v", rex.ID.Value)
		}
		batch := []*sqlgraph.CreateSpec{entCreate(tricky, 5), entCreate("fido", 1)}
		if err := sqlgraph.BatchCreate(ctx, drv, &sqlgraph.BatchCreateSpec{Nodes: batch}); err != nil {
			t.Fatalf("sqlgraph.BatchCreate: %v", err)
		}
		ids := []int64{rex.ID.Value.(int64), batch[0].ID.Value.(int64), batch[1].ID.Value.(int64)}
		if ids[1] == 0 || ids[2] != ids[1]+1 {
			t.Fatalf("BatchCreate ids %v", ids)
		}

		pets, err := entQuery(ctx, drv, func(s *entsql.Selector) { s.Where(entsql.GT(s.C("age"), 2)) })
		if err != nil {
			t.Fatalf("sqlgraph.QueryNodes: %v", err)
		}
		if want := []entPet{{ids[0], "rex", 3}, {ids[1], tricky, 5}}; !reflect.DeepEqual(pets, want) {
			t.Fatalf("QueryNodes = %+v, want %+v", pets, want)
		}
		cspec := sqlgraph.NewQuerySpec("ent_pets", nil, entPetID())
		cspec.Predicate = func(s *entsql.Selector) { s.Where(entsql.In(s.C("name"), "rex", tricky, "nobody")) }
		if n, err := sqlgraph.CountNodes(ctx, drv, cspec); err != nil || n != 2 {
			t.Fatalf("sqlgraph.CountNodes = %d, %v", n, err)
		}

		uspec := sqlgraph.NewUpdateSpec("ent_pets", entPetColumns, entPetID())
		uspec.Predicate = func(s *entsql.Selector) { s.Where(entsql.EQ(s.C("name"), tricky)) }
		uspec.AddField("age", field.TypeInt64, 10)
		if n, err := sqlgraph.UpdateNodes(ctx, drv, uspec); err != nil || n != 1 {
			t.Fatalf("sqlgraph.UpdateNodes = %d, %v", n, err)
		}

		// The builder and drv.Query directly.
		q, args := entsql.Dialect(drv.Dialect()).
			Select("id", "name", "age").From(entsql.Table("ent_pets")).
			Where(entsql.Or(entsql.EQ("name", tricky), entsql.LT("age", 2))).
			OrderBy("id").Query()
		var rows entsql.Rows
		if err := drv.Query(ctx, q, args, &rows); err != nil {
			t.Fatalf("drv.Query(%q): %v", q, err)
		}
		var scanned []entPet
		if err := entsql.ScanSlice(rows, &scanned); err != nil {
			t.Fatalf("ScanSlice: %v", err)
		}
		rows.Close()
		if want := []entPet{{ids[1], tricky, 15}, {ids[2], "fido", 1}}; !reflect.DeepEqual(scanned, want) {
			t.Fatalf("builder query = %+v, want %+v", scanned, want)
		}

		// Transactions: rolled back, then committed.
		errBoom := errors.New("boom")
		err = entWithTx(ctx, drv, func(tx dialect.Driver) error {
			if err := sqlgraph.CreateNode(ctx, tx, entCreate("ghost", 9)); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("rolled-back tx: %v", err)
		}
		err = entWithTx(ctx, drv, func(tx dialect.Driver) error {
			dspec := sqlgraph.NewDeleteSpec("ent_pets", entPetID())
			dspec.Predicate = func(s *entsql.Selector) { s.Where(entsql.EQ(s.C("name"), "fido")) }
			if n, err := sqlgraph.DeleteNodes(ctx, tx, dspec); err != nil || n != 1 {
				return errors.Join(err, errors.New("DeleteNodes did not delete 1 row"))
			}
			return sqlgraph.CreateNode(ctx, tx, entCreate("spot", 2))
		})
		if err != nil {
			t.Fatalf("committed tx: %v", err)
		}
		pets, err = entQuery(ctx, drv, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range pets {
			names = append(names, p.Name)
		}
		if want := []string{"rex", tricky, "spot"}; !reflect.DeepEqual(names, want) {
			t.Fatalf("after transactions: %q, want %q", names, want)
		}

		// A read-only aiodb context runs ent reads and refuses its writes.
		rctx := aiodb.WithReplica(ctx)
		if _, err := entQuery(rctx, drv, nil); err != nil {
			t.Fatalf("QueryNodes in a WithReplica context: %v", err)
		}
		if err := sqlgraph.CreateNode(rctx, drv, entCreate("nope", 1)); !errors.Is(err, aiodb.ErrReadOnly) {
			t.Fatalf("CreateNode in a WithReplica context: %v, want aiodb.ErrReadOnly", err)
		}
	})
}

// entWithTx runs fn in a transaction the way ent's generated WithTx helper
// does: rollback on error, commit otherwise.
func entWithTx(ctx context.Context, drv *entsql.Driver, fn func(dialect.Driver) error) error {
	tx, err := drv.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(entTxDriver{tx: tx, drv: drv}); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
