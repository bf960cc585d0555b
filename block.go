package aiodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
)

// Blocks. A Connection, Transaction or Replica block runs a function with a
// context that carries the block's scope: the *sql.Conn it holds and the
// innermost *sql.Tx open on it. Every helper, Querier and nested block looks
// the scope up in its ctx, so the current connection travels the way the
// Python library's context variables do. When a block returns, its scope is
// marked done and its context is cancelled with cause ErrBlockDone.

// blockKey is the context key of one DB's scope, so that blocks of
// different DBs nest without mixing up connections.
type blockKey struct{ db *DB }

// scope is what a block puts in its context.
type scope struct {
	conn *sql.Conn // the block's connection; nil in a Replica block outside any
	tx   *sql.Tx   // the innermost transaction on conn; nil outside one
	done atomic.Bool
}

// Executor is what *sql.DB, *sql.Conn and *sql.Tx have in common, and what
// sqlc's generated DBTX interface asks for.
type Executor interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// Querier returns the executor of the block ctx carries for db: the
// innermost *sql.Tx inside a Transaction block, the *sql.Conn inside a
// Connection block, the pool (*sql.DB) outside any block. Its dynamic type is
// one of those three, so it can be wrapped for libraries that want their own
// types (sqlx: &sqlx.Tx{Tx: tx, Mapper: m}, &sqlx.Conn{Conn: c, Mapper: m},
// sqlx.NewDb(pool, "aiodb")). Give it to sqlc's New so generated code runs
// inside the block:
//
//	err := db.Transaction(ctx, func(ctx context.Context) error {
//		q := store.New(aiodb.Querier(ctx, db))
//		…
//	})
//
// It is bound to the block of ctx when it is called: make it inside the
// block (it costs a context look-up). If that block has already returned,
// every method of the result fails with an error wrapping ErrBlockDone.
func Querier(ctx context.Context, db *DB) Executor {
	e, err := db.executor(ctx)
	if err != nil {
		return failed{db, err}
	}
	return e
}

// scope returns the scope ctx carries for db, nil outside any block, and an
// error wrapping ErrBlockDone when that block has returned.
func (db *DB) scope(ctx context.Context) (*scope, error) {
	s, _ := ctx.Value(blockKey{db}).(*scope)
	if s != nil && s.done.Load() {
		return nil, errBlockDone
	}
	return s, nil
}

// executor returns the handle statements run on for ctx.
func (db *DB) executor(ctx context.Context) (Executor, error) {
	s, err := db.scope(ctx)
	switch {
	case err != nil:
		return nil, err
	case s == nil || s.conn == nil:
		return db.sql, nil
	case s.tx != nil:
		return s.tx, nil
	}
	return s.conn, nil
}

// run calls fn with a context carrying s and ends the block: s is marked
// done and the context cancelled with cause ErrBlockDone, also when fn panics.
func (db *DB) run(ctx context.Context, s *scope, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(context.WithValue(ctx, blockKey{db}, s))
	defer func() {
		s.done.Store(true)
		cancel(errBlockDone)
	}()
	return fn(ctx)
}

// ConnOption configures a Connection block.
type ConnOption func(*connOptions)

type connOptions struct{ reuse bool }

// Reuse makes Connection run on the connection ctx already carries, if any,
// instead of acquiring a new one: aio-databases' connection(create=False).
func Reuse() ConnOption { return func(o *connOptions) { o.reuse = true } }

// Connection runs fn on one connection: every helper, Querier and nested
// block given fn's ctx uses it, and it goes back to the pool when fn returns.
// Like aio-databases' connection(), it acquires a new connection even inside
// another block (a statement there runs outside the enclosing block's
// transaction); with [Reuse] it reuses the connection ctx carries.
//
// Inside a Replica block the connection's statements run on the primary,
// writes included, as in aio-databases. Statements given a [WithReplica]
// context inside the block read from one replica, as in a Replica block.
// Connection returns fn's error, or the error of acquiring the connection.
func (db *DB) Connection(ctx context.Context, fn func(ctx context.Context) error, opts ...ConnOption) error {
	var o connOptions
	for _, opt := range opts {
		opt(&o)
	}
	parent, err := db.scope(ctx)
	if err != nil {
		return err
	}
	if isReadOnly(ctx) {
		ctx = WithPrimary(ctx)
	}
	if o.reuse && parent != nil && parent.conn != nil {
		return db.run(ctx, &scope{conn: parent.conn, tx: parent.tx}, fn)
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return db.run(withPin(ctx, db.c), &scope{conn: conn}, fn)
}

// TxOption configures a Transaction block.
type TxOption func(*txOptions)

type txOptions struct {
	sql.TxOptions
	independent bool
}

// Independent makes Transaction start a top-level transaction on a new
// connection even inside another block: aio-databases' transaction(create=True).
func Independent() TxOption { return func(o *txOptions) { o.independent = true } }

// ReadOnly makes the transaction read-only; the only kind allowed in a
// Replica block. Nested in a read-write transaction it needs PostgreSQL
// (ErrNestedTxOptions elsewhere).
func ReadOnly() TxOption { return func(o *txOptions) { o.ReadOnly = true } }

// TxOptions sets the isolation level and read-only flag of the
// transaction; nil keeps the defaults. A nested transaction cannot change
// the isolation level (ErrNestedTxOptions).
func TxOptions(opts *sql.TxOptions) TxOption {
	return func(o *txOptions) {
		if opts != nil {
			o.TxOptions = *opts
		}
	}
}

// Transaction runs fn in a transaction and commits it when fn returns nil.
// When fn returns an error or panics, the transaction is rolled back and the
// error returned (the panic goes on); when fn returns an error wrapping
// [ErrRollback], it is rolled back and Transaction returns nil. This is how
// fn rolls back on purpose: there is no explicit Commit or Rollback inside
// the block; the block's end is the commit point.
//
// Inside a Connection or Transaction block, the transaction runs on that
// block's connection, so a transaction inside a transaction is a SAVEPOINT
// whose rollback undoes only its own work. Outside any block it takes a
// connection from the pool, which nested blocks then share. With
// [Independent] it runs on a new connection instead.
//
// In a Replica block only a read-only transaction ([ReadOnly]) is allowed;
// any other fails with an error wrapping ErrReadOnly before anything is sent.
//
// Inside fn, run statements with fn's ctx (a helper, [Querier]): [DB.DB]
// and a ctx from outside the block take another pool connection, outside
// the transaction, which does not see its rows. On SQLite that connection
// also contends for the transaction's lock: a write through it waits for the
// busy timeout (5 s unless the DSN sets its own) and fails with SQLITE_BUSY,
// and after a read through it the block's commit can fail the same way.
func (db *DB) Transaction(ctx context.Context, fn func(ctx context.Context) error, opts ...TxOption) error {
	var o txOptions
	for _, opt := range opts {
		opt(&o)
	}
	parent, err := db.scope(ctx)
	if err != nil {
		return err
	}
	if isReadOnly(ctx) && !o.ReadOnly {
		return fmt.Errorf("%w: a Transaction in a Replica block must be read-only (aiodb.ReadOnly())", ErrReadOnly)
	}
	var conn *sql.Conn
	if parent != nil && !o.independent {
		conn = parent.conn
	}
	if conn == nil {
		if conn, err = db.sql.Conn(ctx); err != nil {
			return err
		}
		defer conn.Close()
	}
	tx, err := conn.BeginTx(ctx, &o.TxOptions)
	if err != nil {
		return err
	}
	ended := false
	defer func() {
		if !ended { // fn panicked
			tx.Rollback()
		}
	}()
	err = db.run(ctx, &scope{conn: conn, tx: tx}, fn)
	ended = true
	return commitOrRollback(tx, err)
}

// commitOrRollback commits tx after fn's nil error, or rolls it back.
func commitOrRollback(tx *sql.Tx, err error) error {
	if err == nil {
		return tx.Commit()
	}
	rbErr := tx.Rollback()
	if errors.Is(rbErr, sql.ErrTxDone) {
		rbErr = nil // database/sql already rolled back, on a cancelled context
	}
	if errors.Is(err, ErrRollback) {
		return rbErr
	}
	return errors.Join(err, rbErr)
}

// Replica runs fn read-only on a replica: every statement given fn's ctx runs
// as with [WithReplica]. Execute and ExecuteMany fail with an error wrapping
// ErrReadOnly before anything is sent, fetches work, Transaction is allowed
// only read-only, and a Connection block inside runs on the primary. Without
// replicas in the DSN the statements run on a read-only session of the
// primary, so code behaves the same in development and production.
//
// Replica does not hold a pool connection, but reads from one replica: the
// first statement chooses it by the DSN's policy and the others of the
// block (and of blocks nested in it) read from the same server, so the
// block sees one replication position that never goes backwards. If that
// replica fails mid-block, the next statement moves to another one. Inside
// a Connection or Transaction block it keeps that block's connection; a
// transaction never moves, so inside a transaction reads stay on its node
// and only the read-only rule applies.
func (db *DB) Replica(ctx context.Context, fn func(ctx context.Context) error) error {
	parent, err := db.scope(ctx)
	if err != nil {
		return err
	}
	s := &scope{}
	if parent != nil {
		s.conn, s.tx = parent.conn, parent.tx
	}
	return db.run(withPin(WithReplica(ctx), db.c), s, fn)
}

// errBlockDone is returned when a block's context is used after the block.
var errBlockDone = fmt.Errorf("%w: its context was used after the Connection, Transaction or Replica block returned", ErrBlockDone)

// failed is the Executor Querier returns for a context whose block has
// returned: every method fails with err.
type failed struct {
	db  *DB
	err error
}

func (f failed) ExecContext(context.Context, string, ...any) (sql.Result, error) { return nil, f.err }

func (f failed) QueryContext(context.Context, string, ...any) (*sql.Rows, error) { return nil, f.err }

func (f failed) PrepareContext(context.Context, string) (*sql.Stmt, error) { return nil, f.err }

// QueryRowContext returns a *sql.Row whose Scan reports f.err. database/sql
// offers no constructor for one; it checks its context before taking a
// connection, so an expired context whose Err is f.err makes one without
// touching the pool.
func (f failed) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	return f.db.sql.QueryRowContext(expired{context.Background(), f.err}, query, args...)
}

// expired is a context that is already done, for the reason err.
type expired struct {
	context.Context
	err error
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (e expired) Done() <-chan struct{} { return closedChan }

func (e expired) Err() error { return e.err }
