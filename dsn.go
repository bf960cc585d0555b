package aiodb

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
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
	// Options are aiodb's own options, read from the primary URL.
	Options Options
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

// ReplicaPolicy chooses among healthy replicas.
type ReplicaPolicy uint8

const (
	// RoundRobin (aiodb_replica_policy=round_robin, the default) takes the
	// healthy replicas in turn, statement by statement.
	RoundRobin ReplicaPolicy = iota
	// Random (aiodb_replica_policy=random) takes a healthy replica at random.
	Random
)

// Options are aiodb's own DSN options. Each is a query parameter of the
// primary URL named OptionPrefix + the name in brackets.
type Options struct {
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
	// needs the primary while none is writable wait for one, at most this
	// long (and never past its context's deadline); 0, the default, fails
	// at once with ErrPrimaryDown.
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
	// each MySQL/MariaDB and SQLite session keeps for the statements with
	// arguments it runs, least recently used first out; 0 turns the cache
	// off. 64 by default. PostgreSQL's pgx caches statements itself, and a
	// MySQL URL with interpolateParams=true sends none.
	StmtCache int
	// ODBCDialect [odbc_dialect: postgres|mysql|sqlite|ansi] says which SQL the
	// server behind an ODBC DSN speaks: it selects lexing rules, savepoint and
	// read-only statements. ansi (the default, reported as ODBC) allows no
	// nested transactions and no server-side read-only session.
	ODBCDialect Dialect
}

func defaultOptions() Options {
	return Options{MinIdle: -1, HealthInterval: 5 * time.Second, Fallback: true, RYWWait: time.Second, StmtCache: defaultStmtCache, ODBCDialect: ODBC}
}

// String returns the DSN with passwords redacted and aiodb's options in
// canonical form on the primary URL.
func (c *Config) String() string {
	var b strings.Builder
	b.WriteString(c.Primary.URL)
	for _, r := range c.Replicas {
		b.WriteByte(' ')
		b.WriteString(r.URL)
	}
	return b.String()
}

// schemes maps every accepted URL scheme (lower case, without +pool) to its dialect.
var schemes = map[string]Dialect{
	"postgres": PostgreSQL, "postgresql": PostgreSQL, "pgx": PostgreSQL, "asyncpg": PostgreSQL, "aiopg": PostgreSQL,
	"mysql": MySQL, "mariadb": MySQL, "aiomysql": MySQL, "trio-mysql": MySQL,
	"sqlite": SQLite, "sqlite3": SQLite, "aiosqlite": SQLite,
	"odbc": ODBC, "aioodbc": ODBC,
}

// ParseDSN parses a DSN: one or more node URLs separated by white space,
// the first the primary and the others read replicas. Every error wraps
// ErrBadDSN and none contains a password.
//
// The user info of a URL ends at its first /, ? or #, and white space ends
// the URL, so special characters in a user name or password must be
// percent-encoded (url.UserPassword(user, password).String() does it):
//
//	#      %23
//	?      %3F
//	/      %2F
//	@      %40
//	space  %20
//	%      %25
//
// A password written unescaped is refused with an error that says so and
// shows the URL with everything between scheme:// and its last @ masked:
// a word of the DSN that is not a URL (a space split one), a URL that does
// not parse, a # anywhere in a URL, or an @ after the host in a URL with a
// password or port: an @ in its database name or query must be written %40
// too.
//
// A SQLite file database waits up to 5 s for another connection's lock
// (PRAGMA busy_timeout 5000, as Python's sqlite3 does) unless the URL sets
// its own: sqlite:///app.db?_pragma=busy_timeout(0) fails at once with
// SQLITE_BUSY, as SQLite does by default.
func ParseDSN(dsn string) (*Config, error) {
	urls := strings.Fields(dsn)
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: empty DSN", ErrBadDSN)
	}
	for i, raw := range urls {
		if strings.Contains(raw, "://") {
			continue
		}
		// Without a scheme the password cannot be told apart: quote nothing.
		if len(urls) == 1 {
			return nil, fmt.Errorf("%w: a node is not a URL (want scheme://…)", ErrBadDSN)
		}
		return nil, fmt.Errorf("%w: word %d of %d of the DSN is not a URL (want scheme://…): URLs are separated by white space, so a space in a password must be written %%20; %s",
			ErrBadDSN, i+1, len(urls), passwordHint)
	}
	cfg := &Config{Options: defaultOptions()}
	for i, raw := range urls {
		d, n, opts, err := parseNode(raw)
		if err != nil {
			return nil, err
		}
		switch {
		case i == 0:
			cfg.Dialect, cfg.Primary = d, n
			if err := cfg.Options.set(opts, d); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrBadDSN, n.URL, err)
			}
		case d != cfg.Dialect:
			return nil, fmt.Errorf("%w: mixed dialects: primary %s is %s but replica %s is %s", ErrBadDSN, cfg.Primary.URL, cfg.Dialect, n.URL, d)
		case len(opts) > 0:
			return nil, fmt.Errorf("%w: %s: aiodb options belong on the primary (first) URL", ErrBadDSN, n.URL)
		default:
			cfg.Replicas = append(cfg.Replicas, n)
		}
	}
	return cfg, nil
}

// passwordHint ends the errors about a URL whose password may be written
// unescaped.
const passwordHint = "special characters in a password must be percent-encoded: # %23, ? %3F, / %2F, @ %40, space %20, % %25"

// parseNode parses one URL (it has a scheme) into its dialect, node and
// aiodb options.
func parseNode(raw string) (Dialect, Node, url.Values, error) {
	masked, secretish := maskURL(raw)
	scheme, rest, _ := strings.Cut(raw, "://")
	d, ok := schemes[strings.TrimSuffix(strings.ToLower(scheme), "+pool")]
	if !ok {
		return 0, Node{}, nil, fmt.Errorf("%w: unknown scheme %q in %s; want one of %s (each may end in +pool)", ErrBadDSN, scheme, masked, strings.Join(sortedKeys(schemes), ", "))
	}
	if why := unescapedUserinfo(rest); why != "" {
		return 0, Node{}, nil, fmt.Errorf("%w: %s: %s; %s", ErrBadDSN, masked, why, passwordHint)
	}
	u, err := url.Parse(raw)
	if err != nil {
		reason := err.Error()
		if ue, ok := err.(*url.Error); ok {
			reason = strings.TrimPrefix(ue.Err.Error(), "net/url: ")
		}
		if !secretish {
			return 0, Node{}, nil, fmt.Errorf("%w: malformed URL %s: %s", ErrBadDSN, masked, reason)
		}
		// net/url quotes what it rejects (an "invalid port" may be the
		// start of a password): drop the quotes.
		reason = goQuoted.ReplaceAllString(reason, "")
		return 0, Node{}, nil, fmt.Errorf("%w: malformed URL %s: %s; %s", ErrBadDSN, masked, reason, passwordHint)
	}
	secret, _ := u.User.Password()
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return 0, Node{}, nil, fmt.Errorf("%w: malformed query in %s", ErrBadDSN, masked)
	}
	for k, v := range q {
		if secret == "" && passwordParam(k) && len(v) > 0 {
			secret = v[0] // libpq's password=, ODBC's PWD=
		}
	}
	opts := url.Values{}
	for k, v := range q {
		if strings.HasPrefix(strings.ToLower(k), OptionPrefix) {
			opts[strings.ToLower(k)] = v
			delete(q, k)
		} else if err := unprefixedOption(k); err != nil {
			return 0, Node{}, nil, fmt.Errorf("%w: %s: %v", ErrBadDSN, redactURL(u.String()), err)
		}
	}
	u.RawQuery = q.Encode()
	n := Node{URL: redactURL(u.String()), secret: secret}
	if n.backend, err = backendDSN(d, u, q); err != nil {
		return 0, Node{}, nil, fmt.Errorf("%w: %s: %v", ErrBadDSN, n.URL, err)
	}
	return d, n, opts, nil
}

// passwordParam reports whether a query parameter holds a password: libpq's
// password, ODBC's PWD (and its Password spelling).
func passwordParam(k string) bool {
	switch strings.ToLower(k) {
	case "password", "pwd":
		return true
	}
	return false
}

// goQuoted matches a Go-quoted string and the space before it.
var goQuoted = regexp.MustCompile(`\s*"(?:[^"\\]|\\.)*"`)

// unescapedUserinfo explains why rest, a URL after its scheme://, looks like
// user info that holds an unescaped /, ? or #: net/url would end the user
// info early and read the rest of the password as host, port, path, query
// or fragment. It returns "" when the URL looks sound.
func unescapedUserinfo(rest string) string {
	if strings.Contains(rest, "#") {
		return "a # in the URL (a fragment means nothing in a DSN: a # in a password must be written %23)"
	}
	// A password follows a colon before the first / or ?; the @ that ends
	// it must come before them too.
	end := strings.IndexAny(rest, "/?")
	if end < 0 || !strings.Contains(rest[:end], ":") || !strings.Contains(rest[end:], "@") {
		return ""
	}
	return "an @ after the host (the user info ends at the first / or ?, so a / ? or @ in a password, " +
		"and an @ in the path or query of a URL with a password or port, must be percent-encoded)"
}

// backendDSN translates a node URL (aiodb options removed) to the DSN its
// backend driver parses.
func backendDSN(d Dialect, u *url.URL, q url.Values) (string, error) {
	switch d {
	case PostgreSQL:
		v := *u
		v.Scheme = "postgres"
		return v.String(), nil
	case MySQL:
		return mysqlDSN(u, q)
	case SQLite:
		return sqliteDSN(u, q)
	default:
		return odbcConnString(u, q), nil
	}
}

// mysqlDSN writes user:pass@tcp(host:port)/db?params, go-sql-driver's form,
// each parameter escaped as go-sql-driver reads it back. A unix_socket
// parameter selects a socket instead of TCP.
func mysqlDSN(u *url.URL, q url.Values) (string, error) {
	var b strings.Builder
	if u.User != nil {
		b.WriteString(u.User.Username())
		if p, ok := u.User.Password(); ok {
			b.WriteByte(':')
			b.WriteString(p)
		}
		b.WriteByte('@')
	}
	if sock := q.Get("unix_socket"); sock != "" {
		q.Del("unix_socket")
		fmt.Fprintf(&b, "unix(%s)", sock)
	} else if u.Host != "" {
		host := u.Host
		if u.Port() == "" {
			host += ":3306"
		}
		fmt.Fprintf(&b, "tcp(%s)", host)
	}
	b.WriteByte('/')
	b.WriteString(strings.TrimPrefix(u.Path, "/"))
	sep := byte('?')
	for _, k := range sortedKeys(q) {
		for _, v := range q[k] {
			if !mysqlVerbatim[k] {
				v = url.QueryEscape(v)
			}
			if strings.ContainsAny(k+v, "&/") {
				return "", fmt.Errorf("parameter %s: go-sql-driver/mysql reads it unescaped, so it cannot hold & or /", k)
			}
			b.WriteByte(sep)
			b.WriteString(k + "=" + v)
			sep = '&'
		}
	}
	return b.String(), nil
}

// mysqlVerbatim are the parameters whose value go-sql-driver/mysql reads as
// written, without unescaping it: a charset list keeps its commas. It
// unescapes the others (loc, tls, serverPubKey, connectionAttributes and
// the server's system variables such as time_zone), and no name.
var mysqlVerbatim = map[string]bool{
	"allowAllFiles": true, "allowCleartextPasswords": true, "allowFallbackToPlaintext": true,
	"allowNativePasswords": true, "allowOldPasswords": true, "charset": true, "checkConnLiveness": true,
	"clientFoundRows": true, "collation": true, "columnsWithAlias": true, "compress": true,
	"interpolateParams": true, "maxAllowedPacket": true, "multiStatements": true, "parseTime": true,
	"readTimeout": true, "rejectReadOnly": true, "strict": true, "timeTruncate": true,
	"timeout": true, "writeTimeout": true,
}

// sqliteDSN follows SQLAlchemy: sqlite:///:memory: (or sqlite://) is in
// memory, sqlite:///rel.db is relative and sqlite:////abs.db absolute. The
// in-memory database gets its name when the connector is made, so that every
// connection of one *sql.DB shares it; here it is marked by the empty path.
// Connections wait up to 5 s for each other's locks (busy_timeout, as in
// Python's sqlite3) unless a _pragma parameter sets busy_timeout.
func sqliteDSN(u *url.URL, q url.Values) (string, error) {
	if u.Host != "" {
		return "", fmt.Errorf("sqlite URL has a host %q; write sqlite:///relative.db or sqlite:////absolute.db", u.Host)
	}
	path := strings.TrimPrefix(u.Path, "/")
	if path == ":memory:" {
		path = ""
	}
	if !slices.ContainsFunc(q["_pragma"], isBusyTimeout) {
		q.Add("_pragma", "busy_timeout(5000)")
	}
	return path + "?" + q.Encode(), nil
}

// isBusyTimeout reports whether a _pragma parameter sets busy_timeout.
func isBusyTimeout(pragma string) bool {
	name, _, _ := strings.Cut(pragma, "(")
	name, _, _ = strings.Cut(name, "=")
	return strings.EqualFold(strings.TrimSpace(name), "busy_timeout")
}

// odbcConnString writes an ODBC connection string: odbc://user:pass@NAME/
// selects the data source NAME (DSN=NAME;UID=user;PWD=pass) and every query
// parameter becomes an attribute (odbc:///?driver=PostgreSQL+Unicode&server=h).
func odbcConnString(u *url.URL, q url.Values) string {
	var attrs []string
	add := func(k, v string) { attrs = append(attrs, k+"="+odbcValue(v)) }
	if u.Host != "" {
		add("DSN", u.Hostname())
	}
	if u.User != nil {
		add("UID", u.User.Username())
		if p, ok := u.User.Password(); ok {
			add("PWD", p)
		}
	}
	for _, k := range sortedKeys(q) {
		add(k, q.Get(k))
	}
	return strings.Join(attrs, ";")
}

// odbcValue braces a connection-string value that holds a special character.
func odbcValue(v string) string {
	if strings.ContainsAny(v, ";{}= ") || strings.TrimSpace(v) != v {
		return "{" + strings.ReplaceAll(v, "}", "}}") + "}"
	}
	return v
}

// set applies the aiodb_* parameters of the primary URL.
func (o *Options) set(q url.Values, d Dialect) error {
	for _, k := range sortedKeys(q) {
		v := q.Get(k)
		if len(q[k]) > 1 {
			return fmt.Errorf("option %s given %d times", k, len(q[k]))
		}
		if err := o.setOne(strings.TrimPrefix(k, OptionPrefix), v, d); err != nil {
			return fmt.Errorf("option %s=%q: %v", k, v, err)
		}
	}
	return nil
}

func (o *Options) setOne(name, v string, d Dialect) (err error) {
	switch name {
	case "maxsize":
		o.MaxOpen, err = nonNegative(v)
	case "minsize":
		o.MinIdle, err = nonNegative(v)
	case "route":
		o.Route, err = choose(v, map[string]RouteMode{"manual": RouteManual, "auto": RouteAuto})
	case "replica_policy":
		o.Policy, err = choose(v, map[string]ReplicaPolicy{"round_robin": RoundRobin, "random": Random})
	case "health_interval":
		o.HealthInterval, err = time.ParseDuration(v)
		if err == nil && o.HealthInterval <= 0 {
			err = fmt.Errorf("must be positive")
		}
	case "max_lag":
		o.MaxLag, err = time.ParseDuration(v)
		if err == nil && o.MaxLag < 0 {
			err = fmt.Errorf("must not be negative")
		}
	case "fallback":
		o.Fallback, err = choose(v, map[string]bool{"primary": true, "none": false})
	case "primary_wait":
		o.PrimaryWait, err = time.ParseDuration(v)
		if err == nil && o.PrimaryWait < 0 {
			err = fmt.Errorf("must not be negative")
		}
	case "read_your_writes":
		o.ReadYourWrites, err = choose(v, map[string]ReadYourWrites{"off": RYWOff, "wait": RYWWait, "primary": RYWPrimary})
	case "read_your_writes_wait":
		o.RYWWait, err = time.ParseDuration(v)
		if err == nil && o.RYWWait <= 0 {
			err = fmt.Errorf("must be positive")
		}
	case "raw_savepoints":
		o.RawSavepoints, err = choose(v, map[string]bool{"refuse": false, "allow": true})
	case "sql_mode":
		if d != MySQL {
			return fmt.Errorf("only for mysql URLs")
		}
		for m := range strings.SplitSeq(v, ",") {
			switch strings.ToUpper(strings.TrimSpace(m)) {
			case "NO_BACKSLASH_ESCAPES":
				o.NoBackslashEscapes = true
			case "ANSI_QUOTES":
				o.ANSIQuotes = true
			case "":
			default:
				return fmt.Errorf("unknown mode %q (want NO_BACKSLASH_ESCAPES, ANSI_QUOTES)", m)
			}
		}
	case "stmt_cache":
		if d != MySQL && d != SQLite {
			return fmt.Errorf("only for mysql and sqlite URLs (pgx caches statements itself: its statement_cache_capacity parameter)")
		}
		o.StmtCache, err = nonNegative(v)
	case "odbc_dialect":
		if d != ODBC {
			return fmt.Errorf("only for odbc URLs")
		}
		o.ODBCDialect, err = choose(v, map[string]Dialect{"postgres": PostgreSQL, "mysql": MySQL, "sqlite": SQLite, "ansi": ODBC})
	default:
		return unknownOption(name)
	}
	return err
}

// optionNames are the options setOne knows, without OptionPrefix, in order.
var optionNames = []string{"fallback", "health_interval", "max_lag", "maxsize", "minsize", "odbc_dialect", "primary_wait", "raw_savepoints", "read_your_writes", "read_your_writes_wait", "replica_policy", "route", "sql_mode", "stmt_cache"}

// unknownOption is the error for an aiodb_ option that does not exist: it
// suggests the nearest name (a typo), or lists them all.
func unknownOption(name string) error {
	best, dist := "", 3 // suggest nothing further than two edits away
	for _, o := range optionNames {
		if d := editDistance(name, o); d < dist {
			best, dist = o, d
		}
	}
	if best != "" {
		return fmt.Errorf("unknown aiodb option; did you mean %s%s?", OptionPrefix, best)
	}
	return fmt.Errorf("unknown aiodb option; want one of %s%s", OptionPrefix, strings.Join(optionNames, ", "+OptionPrefix))
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unprefixedOption catches aio-databases' pool options written as URL
// parameters without OptionPrefix: no backend knows them, and passed on they
// would be taken for server settings or ignored.
func unprefixedOption(param string) error {
	var opt string
	switch strings.ToLower(param) {
	case "maxsize", "max_size":
		opt = "maxsize"
	case "minsize", "min_size":
		opt = "minsize"
	default:
		return nil
	}
	return fmt.Errorf("%s is an aio-databases pool option: write %s%s on the primary (first) URL", param, OptionPrefix, opt)
}

func nonNegative(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a whole number ≥ 0")
	}
	return n, nil
}

func choose[T any](v string, m map[string]T) (T, error) {
	t, ok := m[strings.ToLower(v)]
	if !ok {
		return t, fmt.Errorf("want one of %s", strings.Join(sortedKeys(m), ", "))
	}
	return t, nil
}

// redactURL replaces the password of a URL that net/url wrote (u.String())
// with xxxxx: the user info's, and a password query parameter's.
func redactURL(raw string) string {
	if base, query, ok := strings.Cut(raw, "?"); ok {
		params := strings.Split(query, "&")
		for i, p := range params {
			if k, _, ok := strings.Cut(p, "="); ok && passwordParam(k) {
				params[i] = k + "=xxxxx"
			}
		}
		raw = base + "?" + strings.Join(params, "&")
	}
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return raw
	}
	return raw[:i+3] + user + ":xxxxx" + rest[at:]
}

// maskURL masks a URL as written, which may not parse: everything between
// scheme:// and its last @ becomes xxxxx, since an unescaped password may
// hold /, ? and #; without an @, a :… after the host (a password that a
// space cut off from its @) is masked. secretish reports whether it masked
// anything.
func maskURL(raw string) (masked string, secretish bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw, false
	}
	head, rest := raw[:i+3], raw[i+3:]
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		return head + "xxxxx" + rest[at:], true
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if c := strings.IndexByte(rest[:end], ':'); c >= 0 && c+1 < end {
		return head + rest[:c+1] + "xxxxx" + rest[end:], true
	}
	return raw, false
}

// sortedKeys returns m's keys in order, for deterministic output and messages.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
