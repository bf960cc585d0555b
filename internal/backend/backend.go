// Package backend holds what aiodb knows about each database it serves:
// how to connect a node from its URL, the SQL the server speaks (syntax,
// placeholders, read-only session, savepoints, state and replication
// position queries), what its errors mean (node failure, read-only refusal,
// transaction ended, safe to retry) and the driver-specific checks of a
// connection. The backend drivers (pgx, go-sql-driver/mysql, modernc
// sqlite, alexbrainman/odbc behind the odbc build tag) are imported here
// and nowhere else in aiodb's production code.
package backend

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// Profile is what aiodb knows about the SQL a backend speaks.
type Profile struct {
	Syntax   sqltext.Syntax    // how the server lexes SQL
	Bind     sqltext.BindStyle // the driver's native placeholders
	ReadOnly string            // makes a session read-only; "" when the server has no such setting
	// State returns one row: whether the server is read-only (NULL when it
	// cannot say) and its version. CheckTopology runs it; "" when the
	// server has no such query.
	State string
	// Savepoints says whether nested transactions are supported, and
	// ScopedReadOnly whether SET TRANSACTION READ ONLY can be scoped to one.
	Savepoints, ScopedReadOnly bool
	// PgxOptions says leading arguments may be pgx options (QueryExecMode,
	// QueryResultFormats[ByOID], QueryRewriter such as pgx.NamedArgs), which
	// pgx consumes before binding and so are not placeholders.
	PgxOptions bool
	// Checker checks arguments without a connection, when the backend
	// driver's checker needs none (pgx); nil otherwise.
	Checker driver.NamedValueChecker
	// WritePos returns the primary's replication position after a write on
	// the same session, and ReplayedPos a replica's replayed position (for
	// read-your-writes); "" without replication positions.
	WritePos, ReplayedPos string
	// PrimaryPos returns the primary's flushed replication position, the
	// reference the checker dates replicas' lag against; "" when the server
	// has none.
	PrimaryPos string
	// Lag is how the checker measures a replica's lag.
	Lag LagMethod
	// ImplicitCommits says that some statements commit the running
	// transaction (MySQL/MariaDB): inside a nested one they are refused.
	ImplicitCommits bool
}

// LagMethod is how a replica's lag is measured.
type LagMethod uint8

// The lag methods.
const (
	LagPing     LagMethod = iota // no lag to measure: a ping checks the node
	LagPostgres                  // WAL replay position and last replayed commit
	LagMySQL                     // GTID position (MariaDB) or SHOW REPLICA STATUS (MySQL)
)

// Settings are the DSN options that change a backend's profile.
type Settings struct {
	NoBackslashEscapes bool            // MySQL sql_mode NO_BACKSLASH_ESCAPES
	ANSIQuotes         bool            // MySQL sql_mode ANSI_QUOTES
	ODBCDialect        sqltext.Dialect // the server behind an ODBC driver; ODBC for ANSI rules
}

// ProfileFor returns the profile of a backend of dialect d.
func ProfileFor(d sqltext.Dialect, s Settings) Profile {
	switch d {
	case sqltext.PostgreSQL:
		return Profile{Syntax: sqltext.Syntax{Dialect: sqltext.PostgreSQL}, Bind: sqltext.BindDollar, PgxOptions: true, Checker: pgChecker,
			ReadOnly: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", Savepoints: true, ScopedReadOnly: true,
			State:    "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool, 'PostgreSQL ' || current_setting('server_version')",
			WritePos: pgWritePos, ReplayedPos: pgReplayedPos, PrimaryPos: pgPrimaryPos, Lag: LagPostgres}
	case sqltext.MySQL:
		return Profile{Syntax: sqltext.Syntax{Dialect: sqltext.MySQL, NoBackslashEscapes: s.NoBackslashEscapes, ANSIQuotes: s.ANSIQuotes},
			Bind: sqltext.BindQuestion, ReadOnly: "SET SESSION TRANSACTION READ ONLY", Savepoints: true,
			State:    "SELECT @@global.read_only, @@version",
			WritePos: mysqlWritePos, ReplayedPos: mysqlReplayedPos, PrimaryPos: mysqlPrimaryPos, Lag: LagMySQL,
			ImplicitCommits: true}
	case sqltext.SQLite:
		return Profile{Syntax: sqltext.Syntax{Dialect: sqltext.SQLite}, Bind: sqltext.BindQuestionN, ReadOnly: "PRAGMA query_only = ON", Savepoints: true,
			State: "SELECT NULL, 'SQLite ' || sqlite_version()"}
	}
	// ODBC: lex as the server behind it does, bind with ?.
	if s.ODBCDialect == sqltext.ODBC {
		return Profile{Syntax: sqltext.Syntax{Dialect: sqltext.ODBC}, Bind: sqltext.BindQuestion}
	}
	p := ProfileFor(s.ODBCDialect, s)
	p.Bind, p.PgxOptions, p.Checker = sqltext.BindQuestion, false, nil
	p.WritePos, p.ReplayedPos = "", "" // the node URLs say nothing of replication behind ODBC
	return p
}

// Options counts the leading backend-option arguments and reports whether
// one of them rewrites the query itself.
func (p Profile) Options(args []driver.NamedValue) (lead int, rewriter bool) {
	if !p.PgxOptions {
		return 0, false
	}
	for _, a := range args {
		switch a.Value.(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
		case pgx.QueryRewriter:
			rewriter = true
		default:
			return lead, rewriter
		}
		lead++
	}
	return lead, rewriter
}

// odbcDriver is alexbrainman/odbc's driver when the package is built with
// -tags odbc (odbc.go), and nil otherwise.
var odbcDriver driver.Driver

// HasODBC reports whether the ODBC backend is in this build (-tags odbc).
func HasODBC() bool { return odbcDriver != nil }

// ErrNoODBC is returned by Connector for ODBC in a build without the odbc tag.
var ErrNoODBC = errors.New("the ODBC backend is not in this build; build with -tags odbc (needs cgo and unixODBC: apt-get install unixodbc-dev)")

// DSNConnector connects a driver that has no Connector of its own.
type DSNConnector struct {
	DSN string
	Drv driver.Driver
}

// Connect opens a connection with Drv.Open(DSN).
func (c DSNConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.Drv.Open(c.DSN)
}

// Driver returns Drv.
func (c DSNConnector) Driver() driver.Driver { return c.Drv }

// Connector makes the backend driver's connector for one node, from the
// DSN its driver takes. memDB names the shared in-memory SQLite database of
// an empty SQLite path. A parse error quotes dsn: the caller redacts it.
func Connector(d sqltext.Dialect, dsn, memDB string) (driver.Connector, error) {
	switch d {
	case sqltext.PostgreSQL:
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		return stdlib.GetConnector(*cc), nil
	case sqltext.MySQL:
		mc, err := parseMySQLDSN(dsn)
		if err != nil {
			return nil, err
		}
		return mysql.NewConnector(mc)
	case sqltext.SQLite:
		if dsn[0] == '?' {
			// The memdb VFS shares one database between the connections that name it.
			dsn = "file:/" + memDB + "?vfs=memdb&" + dsn[1:]
		}
		return sqlite.NewConnector(dsn)
	}
	if odbcDriver == nil {
		return nil, ErrNoODBC
	}
	return DSNConnector{DSN: dsn, Drv: odbcDriver}, nil
}

// parseMySQLDSN is mysql.ParseDSN with its panic (on the parameter strict,
// removed from go-sql-driver) returned as an error.
func parseMySQLDSN(dsn string) (cfg *mysql.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return mysql.ParseDSN(dsn)
}

// Location is the location date and time text of a node of dialect d, whose
// driver DSN is dsn, is read in: on MySQL, where go-sql-driver/mysql
// returns DATETIME as text without parseTime, its loc parameter; UTC
// otherwise and by default.
func Location(d sqltext.Dialect, dsn string) *time.Location {
	if d != sqltext.MySQL {
		return time.UTC
	}
	if mc, err := parseMySQLDSN(dsn); err == nil && mc.Loc != nil {
		return mc.Loc
	}
	return time.UTC
}

// CachesStatements reports whether a session of a node of dialect d, whose
// driver DSN is dsn, may keep a statement cache: SQLite, and MySQL/MariaDB
// without interpolateParams=true (whose statements already take one round
// trip).
func CachesStatements(d sqltext.Dialect, dsn string) bool {
	switch d {
	case sqltext.SQLite:
		return true
	case sqltext.MySQL:
		mc, err := parseMySQLDSN(dsn)
		return err == nil && !mc.InterpolateParams
	}
	return false
}

// CachingDriver reports whether sessions of d may cache statements: the
// cache relies on how go-sql-driver/mysql's and modernc's statements
// behave (the session's statement ids, modernc's reused statement handle).
// argless reports whether statements without arguments are worth caching
// too: modernc parses every statement it is not handed prepared, while
// go-sql-driver sends one without arguments as text, in one round trip.
func CachingDriver(d driver.Driver) (caching, argless bool) {
	switch d.(type) {
	case *mysql.MySQLDriver:
		return true, false
	case *sqlite.Driver:
		return true, true
	}
	return false, false
}

// DefaultPort is the server's port when a URL of dialect d names none; 0
// when its URLs name no server (SQLite, ODBC).
func DefaultPort(d sqltext.Dialect) int {
	switch d {
	case sqltext.PostgreSQL:
		return 5432
	case sqltext.MySQL:
		return 3306
	}
	return 0
}

// SharedMemDB reports whether a node of dialect d with driver DSN dsn is an
// in-memory SQLite database shared by a connector's connections (an empty
// SQLite path), which a keeper connection must hold open.
func SharedMemDB(d sqltext.Dialect, dsn string) bool { return d == sqltext.SQLite && dsn[0] == '?' }

// Closed reports whether the driver knows its connection c is closed
// (pgx); false when it cannot say.
func Closed(c driver.Conn) bool {
	pc, ok := c.(*stdlib.Conn)
	return ok && pc.Conn().IsClosed()
}
