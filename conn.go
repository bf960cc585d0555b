package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
)

// conn is one aiodb connection: a primary backend connection, the replica
// connections opened for it so far, and the transaction stack. database/sql
// serialises calls on one driver.Conn, so conn needs no lock of its own.
type conn struct {
	connector *connector
	// primary is the session on the primary, nil until a statement needs
	// it (primaryConn).
	primary *bconn
	// ro holds this connection's read-only sessions, keyed by node: replica
	// connections, and the read-only session on the primary used when no
	// replica is configured or usable. Opened lazily by the router.
	ro map[*node]*bconn
	rt routeState
	tx *txStack
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

// Unwrap returns the primary backend connection, for sql.Conn.Raw users that
// need a driver extension (pgx's *stdlib.Conn, modernc's backup API, …):
//
//	conn.Raw(func(dc any) error {
//		pc := dc.(interface{ Unwrap() driver.Conn }).Unwrap().(*stdlib.Conn)
//		…
//	})
//
// Statements sent on it bypass aiodb's rewriting, routing and savepoint
// stack. The primary session is opened if the connection has none yet;
// Unwrap returns nil when the primary cannot be reached.
func (c *conn) Unwrap() driver.Conn {
	b, err := c.primaryConn(context.Background())
	if err != nil {
		return nil
	}
	return b.Conn
}

// primaryConn returns the connection's session on the primary, opening it.
// The primary is the node writes go to now (router.writer): with replicas
// in the DSN it follows the roles the servers report, and a session on a
// node that stopped being the primary is closed, never written to again.
// While the primary is known down (a dial failed less than a back-off
// period ago) it fails at once with ErrPrimaryDown; while the health
// checker finds no writable node it fails the same way, or waits for one
// up to aiodb_primary_wait.
func (c *conn) primaryConn(ctx context.Context) (*bconn, error) {
	r := c.connector.router
	r.start()
	n, err := r.writer()
	if err != nil {
		if n, err = c.awaitWriter(ctx, err); err != nil {
			return nil, err
		}
	}
	if b := c.primary; b != nil {
		if b.node == n || c.tx != nil {
			return b, nil
		}
		c.primary = nil
		b.Close()
	}
	raw, err := r.dialPrimary(ctx, n)
	if err != nil {
		return nil, err
	}
	c.primary = c.connector.newBconn(raw, n)
	return c.primary, nil
}

// awaitWriter waits, up to aiodb_primary_wait and ctx's deadline, until a
// node is writable; without the option it returns err at once.
func (c *conn) awaitWriter(ctx context.Context, err error) (*node, error) {
	wait := c.connector.cfg.Settings.PrimaryWait
	if wait <= 0 {
		return nil, err
	}
	n, err := c.connector.router.awaitWriter(ctx, wait, func(*node) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("%w (waited %v)", err, wait)
	}
	return n, nil
}

// primaryLost handles a link failure of the primary session outside a
// transaction. The session is marked broken: the pool replaces the
// connection once it is released, and a *sql.Conn holding it keeps
// failing, as on the raw driver (a silent new session would lose its
// session state). The checker is asked to read the roles again, and the
// primary is dialled once, to tell a lost session from a primary that is
// down: in that case the error wraps ErrPrimaryDown and the statements that
// need the primary fail fast from then on. A write (write set) whose link
// broke after it was sent wraps ErrOutcomeUnknown: it may have run.
func (c *conn) primaryLost(ctx context.Context, b *bconn, err error, write bool) error {
	if err == nil || b != c.primary || c.tx != nil || ctx.Err() != nil || !nodeFailure(b, err) {
		return err
	}
	b.broken = true
	r := c.connector.router
	r.kick()
	if write && !errors.Is(err, driver.ErrBadConn) {
		err = fmt.Errorf("%w: the connection to %s broke after the write was sent: %w", ErrOutcomeUnknown, b.node.URL, err)
	}
	if derr := r.probePrimary(ctx, b.node); derr != nil {
		if errors.Is(err, driver.ErrBadConn) { // never sent: database/sql must not retry it on a dead primary
			return fmt.Errorf("%w (the statement failed with: %v)", derr, err)
		}
		return fmt.Errorf("%w (the statement failed with: %w)", derr, err)
	}
	return err
}

// refusedWrite handles a write that the primary session b refused as
// read-only outside a transaction (in autocommit: it did not run): the
// primary was demoted or fenced. The checker reads the roles at once; when
// another node is the primary within the wait (aiodb_primary_wait, at
// least a few fast probes), it reports true: the write may go there, once.
func (c *conn) refusedWrite(ctx context.Context, b *bconn, err error) bool {
	if err == nil || b != c.primary || c.tx != nil || !readOnlyRefusal(b, err) || len(c.connector.router.nodes) == 0 {
		return false
	}
	wait := max(c.connector.cfg.Settings.PrimaryWait, 5*fastInterval)
	_, werr := c.connector.router.awaitWriter(ctx, wait, func(n *node) bool { return n != b.node })
	return werr == nil
}

// ExecContext routes, guards and rewrites the statement, then runs it on the
// backend. driver.ErrSkip from the backend is returned as is.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	start := c.track(0)
	b, q, nargs, err := c.plan(ctx, query, args, opExec)
	var r driver.Result
	if err == nil {
		r, err = b.exec(ctx, q, nargs)
		c.skipped(query, b, err) // database/sql's Prepare after ErrSkip stays on b
		c.txCheck(b, err)
		if c.refusedWrite(ctx, b, err) { // the primary moved: send it there, once
			if nb, perr := c.primaryConn(ctx); perr == nil {
				c.rt.retried(b.node, err)
				b = nb
				r, err = b.exec(ctx, q, nargs)
			}
		}
		err = c.primaryLost(ctx, b, err, true)
		if err == nil && c.tx == nil {
			c.noteWrite(ctx, b) // read-your-writes
		}
		err = c.hideBadConn(c.connector.router.recordOutcome(b, err))
	}
	c.observe(ctx, OpExec, query, q, args, b, r, start, err)
	return r, err
}

// QueryContext routes, guards and rewrites the statement, then runs it on
// the backend. A read on a replica that fails before any row arrives is
// retried once on another node.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	start := c.track(0)
	b, q, nargs, err := c.plan(ctx, query, args, opQuery)
	var rows driver.Rows
	if err == nil {
		rows, b, err = c.query(ctx, b, query, q, nargs) // retry, ErrReadOnly, roRows
		err = c.hideBadConn(err)
	}
	c.observe(ctx, OpQuery, query, q, args, b, nil, start, err)
	if err != nil {
		return nil, err
	}
	if b == c.primary && c.tx == nil && c.connector.prof.WritePos != "" && c.connector.ryw(ctx) != RYWOff && !c.connector.classify(query).Read {
		// A write through Query (INSERT … RETURNING) commits when its rows
		// are read: record the position once they are closed.
		return &closeHookRows{fwdRows: fwdRows{rows}, closed: func() { c.noteWrite(ctx, b) }}, nil
	}
	return rows, nil
}

// plan rewrites a statement for the backend, then routes it (applying the
// read-only and transaction guards): a query whose placeholders are wrong
// fails before it can cost a replica session.
func (c *conn) plan(ctx context.Context, query string, args []driver.NamedValue, op opKind) (*bconn, string, []driver.NamedValue, error) {
	q, nargs, err := c.connector.rewrite(query, args)
	if err != nil {
		return nil, "", nil, err
	}
	b, err := c.route(ctx, query, op)
	if err != nil {
		return nil, "", nil, err
	}
	return b, q, nargs, nil
}

// PrepareContext prepares the rewritten statement on the node the statement
// would run on; database/sql also lands here after a backend's ErrSkip.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	b, err := c.route(ctx, query, opPrepare)
	if err != nil {
		return nil, err
	}
	rw, err := c.connector.cache.Get(query)
	native := query
	if err == nil {
		native = rw.Query
	} else {
		// Not a valid placeholder query: prepare it verbatim and let the
		// backend judge it, as it would without aiodb.
		rw = nil
	}
	si, b, err := c.prepare(ctx, b, native) // retry, ErrReadOnly
	c.txCheck(b, err)
	err = c.primaryLost(ctx, b, err, false)
	if err != nil {
		return nil, c.hideBadConn(err)
	}
	return &stmt{conn: c, b: b, si: si, rw: rw, query: query, native: native, readOnly: isReadOnly(ctx), reason: c.rt.reason}, nil
}

// Prepare is PrepareContext without a context.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// Begin starts a transaction; database/sql uses BeginTx.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// Ping checks the primary, opening the connection's primary session if it
// has none (ErrPrimaryDown when the primary cannot be reached). Replicas
// are checked by the router's background health checks.
func (c *conn) Ping(ctx context.Context) error {
	b, err := c.primaryConn(ctx)
	if err != nil {
		return err
	}
	return c.hideBadConn(b.ping(ctx))
}

// CheckNamedValue forwards to the backend connections' checker; without one
// it returns driver.ErrSkip so that database/sql's default converter runs,
// exactly as on the raw driver. The checker depends on the backend driver
// alone: pgx's needs no connection, and the others' (or that there is
// none) comes from the first backend connection the *sql.DB opened, on any
// node. Before the first one (the first statement with arguments of a
// MySQL, SQLite or ODBC *sql.DB) the connection opens its primary session
// to learn it; if the primary cannot be reached then, database/sql's
// default converter runs.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	ck := c.connector.checker.Load()
	if ck == nil {
		if _, err := c.primaryConn(context.Background()); err == nil {
			ck = c.connector.checker.Load()
		}
	}
	if ck != nil && *ck != nil {
		return (*ck).CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// ResetSession resets every backend connection. A connection that still has
// a transaction open is reported bad, so the pool discards it; a replica
// connection that fails to reset is closed and reopened on demand, and so
// is a primary session on a node that is no longer the primary.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.tx != nil {
		return driver.ErrBadConn
	}
	if w, err := c.connector.router.writer(); c.primary != nil && (err != nil || c.primary.node != w) {
		c.primary.Close()
		c.primary = nil
	}
	if c.primary != nil {
		if err := c.primary.reset(ctx); err != nil {
			return err
		}
	}
	for n, b := range c.ro {
		if b.reset(ctx) != nil {
			c.dropRO(n)
		}
	}
	return nil
}

// IsValid reports whether the connection may go back to the pool: no
// transaction left open and no primary session, or one the backend vouches
// for.
func (c *conn) IsValid() bool {
	for n, b := range c.ro {
		if !b.valid() {
			c.dropRO(n)
		}
	}
	return c.tx == nil && (c.primary == nil || c.primary.valid())
}

// Close closes every backend connection.
func (c *conn) Close() error {
	var errs []error
	for n := range c.ro {
		errs = append(errs, c.dropRO(n))
	}
	if c.primary != nil {
		errs = append(errs, c.primary.Close())
	}
	return errors.Join(errs...)
}

// dropRO closes and forgets one read-only connection.
func (c *conn) dropRO(n *node) error {
	b := c.ro[n]
	delete(c.ro, n)
	return b.Close()
}

// BeginTx starts the top-level transaction on the node the context routes
// to, or, when one is already open, a savepoint inside it.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	start := c.track(0)
	tx, b, err := c.beginTx(ctx, opts)
	c.observe(ctx, OpBegin, "", "", nil, b, nil, start, err)
	return tx, err
}

// beginTx is BeginTx; it also returns the connection the transaction runs
// on, nil when none was sent anything.
func (c *conn) beginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, *bconn, error) {
	if st := c.managed(); st != nil && !st.ended && st.open[0].ctx.Err() != nil {
		// database/sql is about to roll the transaction back (its context
		// is done); do it now rather than nest in it.
		st.rollbackExpired(0)
	}
	if st := c.managed(); st != nil {
		c.rt.reason = ReasonTransaction
		tx, err := st.nest(ctx, opts)
		if err != nil {
			return nil, st.b, notBadConn(err)
		}
		return tx, st.b, nil
	}
	b, err := c.routeBegin(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	t, err := b.begin(ctx, opts)
	if err != nil {
		return nil, b, c.connector.router.recordOutcome(b, err)
	}
	st := &txStack{conn: c, b: b, root: t, iso: opts.Isolation}
	if b.rollbacks != nil {
		st.rollbacksAt = b.rollbacks.Load()
	}
	top := &txLevel{st: st, ctx: ctx, readOnly: opts.ReadOnly}
	st.open = append(st.openBuf[:0], top)
	st.handles = append(st.handleBuf[:0], top)
	c.tx = st
	return top, b, nil
}

// managed returns the transaction stack the connection's statements run
// in, or nil. A stack whose top level has ended stays attached while
// database/sql still holds a level of it whose context is live: statements
// can go through that *sql.Tx, and must be refused rather than autocommit.
// Levels whose context is done do not hold the stack: database/sql is about
// to end them from its awaitDone goroutine (that Rollback sends no SQL),
// and a program must not use a *sql.Tx after its context is done; the
// backend drivers refuse a statement whose own context is done.
func (c *conn) managed() *txStack {
	st := c.tx
	if st != nil && st.ended && !slices.ContainsFunc(st.handles, func(lv *txLevel) bool { return lv.ctx.Err() == nil }) {
		c.tx = nil
		return nil
	}
	return st
}

// hideBadConn keeps driver.ErrBadConn from database/sql while the connection
// manages a transaction: see notBadConn. Statement paths call it.
func (c *conn) hideBadConn(err error) error {
	if c.tx == nil {
		return err
	}
	return notBadConn(err)
}

// notBadConn returns err, unless it is (or wraps) driver.ErrBadConn: then an
// error with the same message that is not. database/sql answers ErrBadConn
// from an operation on a *sql.Conn by closing it, and closing waits until
// every *sql.Tx of the connection has ended; when the goroutine that would
// end them is the one waiting, it never returns. The
// backend connection is already marked broken (bconn.recordBadConn), so the pool
// drops it once the *sql.Conn is released.
func notBadConn(err error) error {
	if err == nil || !errors.Is(err, driver.ErrBadConn) {
		return err
	}
	return fmt.Errorf("aiodb: connection lost inside a transaction: %v", err)
}

// txCheck records, after a statement on b failed with err, whether the
// server ended the transaction b runs.
func (c *conn) txCheck(b *bconn, err error) {
	if st := c.tx; st != nil && err != nil && st.b == b {
		st.check(err)
	}
}

// txGuard applies guard to a prepared statement's execution, which does not
// go through route.
func (c *conn) txGuard(query string) error {
	if st := c.managed(); st != nil {
		return st.guard(query)
	}
	return nil
}
