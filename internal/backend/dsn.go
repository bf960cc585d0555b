package backend

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// DSN translates a node URL (aiodb options removed) to the DSN its
// backend driver parses.
func DSN(d sqltext.Dialect, u *url.URL, q url.Values) (string, error) {
	switch d {
	case sqltext.PostgreSQL:
		v := *u
		v.Scheme = "postgres"
		return v.String(), nil
	case sqltext.MySQL:
		return mysqlDSN(u, q)
	case sqltext.SQLite:
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
			host += ":" + strconv.Itoa(DefaultPort(sqltext.MySQL))
		}
		fmt.Fprintf(&b, "tcp(%s)", host)
	}
	b.WriteByte('/')
	b.WriteString(strings.TrimPrefix(u.Path, "/"))
	sep := byte('?')
	for _, k := range slices.Sorted(maps.Keys(q)) {
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
		q.Add("_pragma", "busy_timeout("+strconv.Itoa(DefaultBusyTimeout)+")")
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
	for _, k := range slices.Sorted(maps.Keys(q)) {
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

// DefaultBusyTimeout is how long, in milliseconds, a SQLite connection
// waits for another's lock (busy_timeout, as in Python's sqlite3) unless
// the URL's _pragma parameters set busy_timeout.
const DefaultBusyTimeout = 5000
