// Package pgq is hand-written in the shape sqlc generates for the postgresql
// engine with the database/sql driver (sql_package: database/sql): a DBTX
// interface, Queries, and queries with $n placeholders, reused and out of
// order where sqlc emits them that way. With aiodb it runs on every backend.
package pgq

import (
	"context"
	"database/sql"
)

type DBTX interface {
	ExecContext(context.Context, string, ...interface{}) (sql.Result, error)
	PrepareContext(context.Context, string) (*sql.Stmt, error)
	QueryContext(context.Context, string, ...interface{}) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...interface{}) *sql.Row
}

func New(db DBTX) *Queries {
	return &Queries{db: db}
}

type Queries struct {
	db DBTX
}

func (q *Queries) WithTx(tx *sql.Tx) *Queries {
	return &Queries{
		db: tx,
	}
}
