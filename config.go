package aiodb

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OptionPrefix starts every query parameter that aiodb reads itself. No
// backend uses it; aiodb removes these parameters before a URL reaches its
// backend driver. They are accepted on the first (primary) URL only.
const OptionPrefix = "aiodb_"

// Config is a parsed DSN: the nodes, in DSN order, and aiodb's options.
// Its String method and every field are free of passwords.
type Config struct {
	// Dialect is the dialect shared by every node.
	Dialect Dialect
	// Primary is the first URL of the DSN.
	Primary Node
	// Replicas are the other URLs, in DSN order.
	Replicas []Node
	// Settings are aiodb's own options, read from the primary URL.
	Settings Settings
}

// Node is one URL of a DSN.
type Node struct {
	// URL is the node's URL with its password replaced by "xxxxx" and aiodb's
	// options removed.
	URL string

	backend string // the DSN handed to the backend driver; holds the password
	secret  string // the password, scrubbed from backend error messages
}

// String returns the redacted URL.
func (n Node) String() string { return n.URL }

// RouteMode says which statements go to a replica without an explicit
// WithReplica or WithPrimary context.
type RouteMode uint8

const (
	// RouteManual (aiodb_route=manual, the default) runs every statement on
	// the primary unless its context says WithReplica.
	RouteManual RouteMode = iota
	// RouteAuto (aiodb_route=auto) sends statements classified as reads,
	// outside transactions, to a replica.
	RouteAuto
)

// String returns the mode as aiodb_route spells it: "manual" or "auto".
func (m RouteMode) String() string {
	switch m {
	case RouteManual:
		return "manual"
	case RouteAuto:
		return "auto"
	}
	return "RouteMode(" + strconv.Itoa(int(m)) + ")"
}

// ReplicaPolicy chooses among healthy replicas.
type ReplicaPolicy uint8

const (
	// RoundRobin (aiodb_replica_policy=round_robin, the default) takes the
	// healthy replicas in turn, statement by statement.
	RoundRobin ReplicaPolicy = iota
	// Random (aiodb_replica_policy=random) takes a healthy replica at random.
	Random
)

// String returns the policy as aiodb_replica_policy spells it:
// "round_robin" or "random".
func (p ReplicaPolicy) String() string {
	switch p {
	case RoundRobin:
		return "round_robin"
	case Random:
		return "random"
	}
	return "ReplicaPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Settings are aiodb's own DSN options. Each is a query parameter of the
// primary URL named OptionPrefix + the name in brackets.
type Settings struct {
	// MaxOpen [maxsize] caps open connections (sql.DB.SetMaxOpenConns);
	// 0, the default, is unlimited. Applied by Open; a *sql.DB from sql.Open
	// can be configured with ApplyPool.
	MaxOpen int
	// MinIdle [minsize] is how many idle connections the pool keeps
	// (sql.DB.SetMaxIdleConns); -1, the default, leaves database/sql's default of 2.
	MinIdle int
	// Route [route: manual|auto] is the routing mode; manual by default.
	Route RouteMode
	// Policy [replica_policy: round_robin|random] chooses among replicas.
	Policy ReplicaPolicy
	// HealthInterval [health_interval: a Go duration] is how often replicas
	// are checked (health and lag) in the background; 5s by default.
	HealthInterval time.Duration
	// MaxLag [max_lag: a Go duration] skips replicas measured further behind
	// the primary; 0, the default, disables lag checks.
	MaxLag time.Duration
	// Fallback [fallback: primary|none] says whether reads fall back to a
	// read-only session on the primary when no replica is usable; primary by default.
	Fallback bool
	// NoBackslashEscapes and ANSIQuotes [sql_mode: a comma-separated list of
	// NO_BACKSLASH_ESCAPES and ANSI_QUOTES] tell the placeholder lexer the
	// MySQL server's sql_mode; by default neither is set.
	NoBackslashEscapes, ANSIQuotes bool
	// RawSavepoints [raw_savepoints: refuse|allow] lets the application's own
	// SAVEPOINT, RELEASE and ROLLBACK TO statements through while aiodb's
	// transaction has no nested level open (GORM and bun nest that way);
	// refused by default, like every raw transaction statement.
	RawSavepoints bool
	// PrimaryWait [primary_wait: a Go duration] makes a statement that
	// needs the primary while the health checker finds no node writable
	// (replicas in the DSN, every role read) wait for one, at most this
	// long (and never past its context's deadline); 0, the default, fails
	// at once with ErrPrimaryDown. A primary whose dial just failed is not
	// waited for.
	PrimaryWait time.Duration
	// ReadYourWrites [read_your_writes: off|wait|primary] makes replica
	// reads see the writes made before them through the same *sql.DB
	// (PostgreSQL, MariaDB); off by default. WithReadYourWrites sets it per
	// context.
	ReadYourWrites ReadYourWrites
	// RYWWait [read_your_writes_wait: a Go duration] bounds the wait for a
	// replica to replay the writes under read_your_writes=wait; 1s by default.
	RYWWait time.Duration
	// StmtCache [stmt_cache: an integer ≥ 0] is how many prepared statements
	// each MySQL/MariaDB and SQLite session keeps for the statements it runs
	// (with arguments on MySQL/MariaDB; all on SQLite, argument-less text up
	// to 4 KiB), least recently used first out; 0 turns the cache
	// off. 64 by default. PostgreSQL's pgx caches statements itself, and a
	// MySQL URL with interpolateParams=true sends none.
	StmtCache int
	// ODBCDialect [odbc_dialect: postgres|mysql|sqlite|ansi] says which SQL the
	// server behind an ODBC DSN speaks: it selects lexing rules, savepoint and
	// read-only statements. ansi (the default, reported as ODBC) allows no
	// nested transactions and no server-side read-only session.
	ODBCDialect Dialect
}

func defaultSettings() Settings {
	return Settings{MinIdle: -1, HealthInterval: 5 * time.Second, Fallback: true, RYWWait: time.Second, StmtCache: defaultStmtCache, ODBCDialect: ODBC}
}

// String returns the DSN's URLs, primary first, with passwords redacted and
// without aiodb's own options (the aiodb_* parameters, which are in
// Settings): the form aiodb logs.
func (c *Config) String() string {
	var b strings.Builder
	b.WriteString(c.Primary.URL)
	for _, r := range c.Replicas {
		b.WriteByte(' ')
		b.WriteString(r.URL)
	}
	return b.String()
}

// redact returns err's message without n's password: backend errors quote
// what they were given.
func (n Node) redact(err error) string {
	msg := err.Error()
	if n.secret != "" {
		msg = strings.ReplaceAll(msg, n.secret, "xxxxx")
	}
	return msg
}

// scrub turns a backend's DSN parse error into an ErrBadDSN error that
// cannot show the password: backend parsers quote what they were given.
func (n Node) scrub(err error) error {
	return fmt.Errorf("%w: %s: %s", ErrBadDSN, n.URL, n.redact(err))
}

// ApplyPool applies the DSN's pool options (aiodb_maxsize, aiodb_minsize) to
// db; Open does this itself, and so should code that calls sql.Open.
func (c *Config) ApplyPool(db *sql.DB) {
	if c.Settings.MaxOpen > 0 {
		db.SetMaxOpenConns(c.Settings.MaxOpen)
	}
	if c.Settings.MinIdle >= 0 {
		db.SetMaxIdleConns(c.Settings.MinIdle)
	}
}
