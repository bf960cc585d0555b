package aiodb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/aiodb/aiodb/internal/sqltext"
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
// period ago), or no node is writable, it fails at once with
// ErrPrimaryDown, or waits for one up to aiodb_primary_wait.
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
	r := c.connector.router
	wait := c.connector.cfg.Options.PrimaryWait
	if wait <= 0 {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		r.kick()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (waited %v)", err, wait)
		case <-time.After(fastInterval):
		}
		n, werr := r.writer()
		if werr == nil {
			return n, nil
		}
		err = werr
	}
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
		return fmt.Errorf("%w (the statement failed with: %v)", derr, err)
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
	r := c.connector.router
	ctx, cancel := context.WithTimeout(ctx, max(c.connector.cfg.Options.PrimaryWait, 5*fastInterval))
	defer cancel()
	for {
		r.kick()
		if n, werr := r.writer(); werr == nil && n != b.node {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(fastInterval):
		}
	}
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

// plan routes a statement (applying the read-only and transaction guards)
// and rewrites it for the backend.
func (c *conn) plan(ctx context.Context, query string, args []driver.NamedValue, op opKind) (*bconn, string, []driver.NamedValue, error) {
	b, err := c.route(ctx, query, op)
	if err != nil {
		return nil, "", nil, err
	}
	q, nargs, err := c.connector.rewrite(query, args)
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
// alone: pgx's needs no connection, and the others' comes from the first
// backend connection the *sql.DB opened, on any node. Before the first one
// (the first statement with arguments of a MySQL or ODBC *sql.DB) the
// connection opens its primary session to learn it; if the primary cannot
// be reached then, database/sql's default converter runs.
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

// rewrite maps a query and its arguments to the backend's native form. A
// query without arguments is returned verbatim (unless its backend would
// misread its placeholders: sqltext.RewriteCache.Argless), and so is one whose pgx
// options include a QueryRewriter (pgx.NamedArgs), which owns the text.
func (c *connector) rewrite(query string, args []driver.NamedValue) (string, []driver.NamedValue, error) {
	lead, rewriter := c.prof.Options(args)
	if len(args) == lead || rewriter {
		if len(args) == 0 && c.prof.Bind != sqltext.BindDollar {
			if err := c.cache.Argless(query); err != nil {
				return "", nil, err
			}
		}
		return query, args, nil
	}
	rw, err := c.cache.Get(query)
	if err != nil {
		return "", nil, err
	}
	nargs, err := bindArgs(rw, args, lead)
	return rw.Query, nargs, err
}

// bindArgs maps args through rw, keeping the first lead arguments (backend
// options) in front, untouched and uncounted.
func bindArgs(rw *sqltext.Rewrite, args []driver.NamedValue, lead int) ([]driver.NamedValue, error) {
	if lead == 0 {
		return rw.Args(args)
	}
	nargs, err := rw.Args(args[lead:])
	if err != nil || (len(nargs) > 0 && &nargs[0] == &args[lead]) {
		return args, err
	}
	return append(args[:lead:lead], nargs...), nil
}
