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

	"github.com/aiodb/aiodb/internal/backend"
)

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
	cfg := &Config{Settings: defaultSettings()}
	for i, raw := range urls {
		d, n, opts, err := parseNode(raw)
		if err != nil {
			return nil, err
		}
		switch {
		case i == 0:
			cfg.Dialect, cfg.Primary = d, n
			if err := cfg.Settings.set(opts, d); err != nil {
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
	if n.backend, err = backend.DSN(d, u, q); err != nil {
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

// set applies the aiodb_* parameters of the primary URL.
func (o *Settings) set(q url.Values, d Dialect) error {
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

func (o *Settings) setOne(name, v string, d Dialect) (err error) {
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
