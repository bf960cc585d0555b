package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aiodb/aiodb/internal/testserver"
)

// The tests build the command and run it as a user would: arguments,
// environment, standard output and error, exit status. Tests against
// servers read the DSNs scripts/test.sh exports; without one they skip,
// saying why, except in CI (CI set), where they fail.
const (
	envPGReplicas    = "AIODB_TEST_POSTGRES_REPLICAS" // 5432 primary, 5433 and 5434 hot standbys
	envMyReplicas    = "AIODB_TEST_MYSQL_REPLICAS"    // 3306 primary, 3307 replica, as root
	envMyApp         = "AIODB_TEST_MYSQL_APP"         // 3306 as user app
	envMyAppReplicas = "AIODB_TEST_MYSQL_APP_REPLICAS"
)

// bin is the command built for the tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aiodb-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "aiodb")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit status %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// aiodbCmd runs the command with args; env entries (NAME=value) are added to
// an environment without AIODB_DSN.
func aiodbCmd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envDSN+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return r
}

// want fails the test unless r exited with code and its output (stdout and
// stderr) holds every string of has.
func (r result) want(t *testing.T, code int, has ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit status %d, got %v", code, r)
	}
	for _, s := range has {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Fatalf("output lacks %q: %v", s, r)
		}
	}
}

// serverDSN returns the DSN in env, or skips (fails in CI).
func serverDSN(t *testing.T, env string) string {
	t.Helper()
	dsn := testserver.DSN(t, env)
	// The root package's fault and failover tests stop, promote and fence
	// these servers while they hold these locks exclusively; `go test ./...`
	// may run them at the same time as this package.
	testserver.Lock(t, testserver.Primaries, false)
	switch env {
	case envPGReplicas:
		testserver.Lock(t, testserver.Standbys, false)
	case envMyReplicas, envMyAppReplicas:
		testserver.Lock(t, testserver.MySQLReplica, false)
	}
	return dsn
}

// deadPort returns a local TCP port where nothing listens.
func deadPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// withHost returns the URL u with its host:port replaced.
func withHost(t *testing.T, u, host string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = host
	return p.String()
}

// checkJSONOf runs check -json and decodes its output.
func checkJSONOf(t *testing.T, code int, dsn string) checkJSON {
	t.Helper()
	r := aiodbCmd(t, nil, "check", "-json", dsn)
	r.want(t, code)
	var out checkJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("check -json output is not JSON: %v\n%v", err, r)
	}
	return out
}

func TestUsage(t *testing.T) {
	aiodbCmd(t, nil).want(t, exitUsage, "usage:")
	aiodbCmd(t, nil, "frobnicate").want(t, exitUsage, `unknown command "frobnicate"`)
	aiodbCmd(t, nil, "check").want(t, exitUsage, "no DSN", envDSN)
	aiodbCmd(t, nil, "query", "SELECT 1").want(t, exitUsage, "no DSN")
	aiodbCmd(t, nil, "check", "-bogus", "sqlite://").want(t, exitUsage, "flag provided but not defined: -bogus")
	aiodbCmd(t, nil, "explain", "-dialect", "oracle", "SELECT 1").want(t, exitUsage, `unknown dialect "oracle"`)
	// A malformed DSN is named, its password is not.
	r := aiodbCmd(t, nil, "check", "postgres://u:hunter2@host:port/db")
	r.want(t, exitUsage, "bad DSN", "xxxxx@")
	if strings.Contains(r.stdout+r.stderr, "hunter2") {
		t.Fatalf("the password is printed: %v", r)
	}
}

func TestExplain(t *testing.T) {
	// $N reused and out of order, for a ? backend: arguments reordered and repeated.
	r := aiodbCmd(t, nil, "explain", "-dialect", "mysql", "UPDATE t SET a = $2 WHERE id = $1 OR a = $2", "7", "x")
	r.want(t, exitOK, "rewritten:  UPDATE t SET a = ? WHERE id = ? OR a = ?",
		"order [2 1 2]", `parameter 1 = argument 2 = "x"`, `parameter 2 = argument 1 = "7"`,
		"class:      write: UPDATE", "replica context               refused with aiodb.ErrReadOnly")

	r = aiodbCmd(t, nil, "explain", "-json", "-dialect", "postgres", "SELECT * FROM t WHERE id = ? FOR UPDATE")
	r.want(t, exitOK)
	var e explainJSON
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("explain -json: %v\n%v", err, r)
	}
	if e.Rewritten != "SELECT * FROM t WHERE id = $1 FOR UPDATE" || e.Class != "write" || e.Kind != "SELECT … FOR UPDATE" || e.NumArgs != 1 {
		t.Fatalf("explain -json = %+v", e)
	}

	aiodbCmd(t, nil, "explain", "-dialect", "sqlite", "SELECT name FROM users WHERE id = %s").
		want(t, exitOK, "rewritten:  SELECT name FROM users WHERE id = ?1", "class:      read: SELECT",
			"aiodb_route=auto              a replica")
	aiodbCmd(t, nil, "explain", "-dialect", "postgres", "VACUUM FULL").want(t, exitOK, "class:      write: VACUUM (maintenance statement)")
	aiodbCmd(t, nil, "explain", "-dialect", "postgres", "FROBNICATE x").want(t, exitOK, "class:      unknown: unknown statement")
	aiodbCmd(t, nil, "explain", "-dialect", "mysql", "COMMIT").want(t, exitOK, "aiodb.ErrTxControl")
	aiodbCmd(t, nil, "explain", "-dialect", "mysql", "CREATE TABLE t (x int)").want(t, exitOK, "aiodb.ErrImplicitCommit")

	// Errors: a placeholder error, a wrong number of arguments.
	aiodbCmd(t, nil, "explain", "-dialect", "mysql", "SELECT 'oops").
		want(t, exitFail, "rewritten:  (not rewritable)", "unterminated string literal")
	aiodbCmd(t, nil, "explain", "-dialect", "mysql", "SELECT ?, ?", "1").
		want(t, exitFail, "takes 2 argument(s) but 1 were given")

	// A DSN's options change the lexing: with NO_BACKSLASH_ESCAPES 'a\' is
	// a whole string, without it the quote is escaped and the string runs on.
	stmt := `SELECT 'a\', $1`
	aiodbCmd(t, nil, "explain", "mysql://u:pw@db.invalid/x?aiodb_sql_mode=NO_BACKSLASH_ESCAPES", stmt).
		want(t, exitOK, `rewritten:  SELECT 'a\', ?`)
	aiodbCmd(t, nil, "explain", "mysql://u:pw@db.invalid/x", stmt).want(t, exitFail, "unterminated string literal")
	// From the environment; db.invalid is never resolved: explain does not connect.
	aiodbCmd(t, []string{envDSN + "=mysql://u:pw@db.invalid/x?aiodb_sql_mode=NO_BACKSLASH_ESCAPES"}, "explain", stmt).
		want(t, exitOK, `rewritten:  SELECT 'a\', ?`)
}

func TestCheckHealthy(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := "sqlite:///" + filepath.Join(t.TempDir(), "check.db")
		aiodbCmd(t, nil, "check", dsn).want(t, exitOK, "primary  unknown  up", "SQLite 3.", "topology OK: 1 node(s)")
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := serverDSN(t, envPGReplicas)
		r := aiodbCmd(t, nil, "check", dsn)
		r.want(t, exitOK, "topology OK: 3 node(s)")
		if n := strings.Count(r.stdout, "replica  read-only   up     PostgreSQL 15"); n != 2 {
			t.Fatalf("want 2 read-only replicas, got %d: %v", n, r)
		}
		out := checkJSONOf(t, exitOK, dsn)
		if !out.OK || len(out.Nodes) != 3 || len(out.Problems) != 0 {
			t.Fatalf("check -json = %+v", out)
		}
		for i, n := range out.Nodes {
			wantRole, wantServer := "replica", "read-only"
			if i == 0 {
				wantRole, wantServer = "primary", "read-write"
			}
			if n.Role != wantRole || n.ServerRole != wantServer || !n.Reachable || !strings.HasPrefix(n.Version, "PostgreSQL ") || (i == 0 && n.LagMs != nil) {
				t.Fatalf("node %d: %+v", i, n)
			}
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		dsn := serverDSN(t, envMyAppReplicas)
		r := aiodbCmd(t, nil, "check", dsn)
		r.want(t, exitOK, "primary  read-write  up", "replica  read-only   up", "MariaDB", "topology OK: 2 node(s)")
		if strings.Contains(r.stdout, ":app@") {
			t.Fatalf("the password is printed: %v", r)
		}
		out := checkJSONOf(t, exitOK, dsn)
		if r := out.Nodes[1]; r.LagMs == nil || *r.LagMs < 0 {
			t.Fatalf("MariaDB replica lag not measured: %+v", r)
		}
	})
}

func TestCheckNodeDown(t *testing.T) {
	urls := strings.Fields(serverDSN(t, envPGReplicas))
	down := withHost(t, urls[1], "127.0.0.1:"+strconv.Itoa(deadPort(t)))
	dsn := strings.Join([]string{urls[0], urls[1], down}, " ")
	r := aiodbCmd(t, nil, "check", dsn)
	r.want(t, exitFail, "topology WRONG: 1 problem(s)", "replica "+down+" is unreachable", "connection refused")
	if n := strings.Count(r.stdout, "  up  "); n != 2 {
		t.Fatalf("want the 2 other nodes up, got %d: %v", n, r)
	}
	out := checkJSONOf(t, exitFail, dsn)
	if out.OK || out.Nodes[2].Reachable || out.Nodes[2].Error == "" || !out.Nodes[1].Reachable {
		t.Fatalf("check -json = %+v", out)
	}
}

func TestCheckWrongPassword(t *testing.T) {
	const secret = "wrong-Pa55word"
	u, err := url.Parse(serverDSN(t, envMyApp))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	for _, args := range [][]string{{"check", u.String()}, {"check", "-json", u.String()}, {"query", u.String(), "SELECT 1"}} {
		r := aiodbCmd(t, nil, args...)
		r.want(t, exitFail, "Access denied for user 'app'", "app:xxxxx@")
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Fatalf("%v prints the password: %v", args[:len(args)-1], r)
		}
	}
	// From the environment: the DSN is not on the command line at all.
	r := aiodbCmd(t, []string{envDSN + "=" + u.String()}, "check")
	r.want(t, exitFail, "Access denied")
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatalf("prints the password: %v", r)
	}
}

// TestCheckWrongRoles names real servers in the wrong roles: a standby as
// the primary, the primary as a replica.
func TestCheckWrongRoles(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		urls := strings.Fields(serverDSN(t, envPGReplicas))
		aiodbCmd(t, nil, "check", urls[1]+" "+urls[2]).
			want(t, exitFail, "primary "+urls[1]+" is read-only")
		aiodbCmd(t, nil, "check", urls[0]+" "+urls[0]).
			want(t, exitFail, "replica "+urls[0]+" accepts writes", "2 writable nodes")
	})
	t.Run("mariadb", func(t *testing.T) {
		urls := strings.Fields(serverDSN(t, envMyReplicas))
		out := checkJSONOf(t, exitFail, urls[1]+" "+urls[0])
		if len(out.Problems) != 2 || !strings.Contains(out.Problems[0], "is read-only") || !strings.Contains(out.Problems[1], "accepts writes") {
			t.Fatalf("problems = %q", out.Problems)
		}
		if out.Nodes[0].ServerRole != "read-only" || out.Nodes[1].ServerRole != "read-write" {
			t.Fatalf("server roles: %+v", out.Nodes)
		}
	})
}

func TestQuery(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := "sqlite:///" + filepath.Join(t.TempDir(), "query.db")
		aiodbCmd(t, nil, "query", dsn, "CREATE TABLE cli_t (id INTEGER, name TEXT, b BLOB)").want(t, exitOK, "(0 rows)")
		aiodbCmd(t, nil, "query", dsn, "INSERT INTO cli_t VALUES ($1, $2, x'00ff'), (2, NULL, NULL)", "1", "tab\there").want(t, exitOK)
		aiodbCmd(t, nil, "query", dsn, "SELECT id, name, b FROM cli_t ORDER BY id").
			want(t, exitOK, "id  name         b\n1   \"tab\\there\"  0x00ff\n2   NULL         NULL\n(2 rows)\n")
		r := aiodbCmd(t, []string{envDSN + "=" + dsn}, "query", "-json", "SELECT id, name FROM cli_t WHERE id = ?", "2")
		r.want(t, exitOK, "[\n  {\"id\": 2, \"name\": null}\n]\n")
		// Without replicas, -replica is a read-only session: a write is refused.
		aiodbCmd(t, nil, "query", "-replica", dsn, "DELETE FROM cli_t").want(t, exitFail, "read-only")
		aiodbCmd(t, nil, "query", dsn, "SELECT count(*) AS n FROM cli_t").want(t, exitOK, "n\n2\n")
		aiodbCmd(t, nil, "query", dsn, "SELECT * FROM cli_nosuch").want(t, exitFail, "no such table")
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := serverDSN(t, envPGReplicas)
		aiodbCmd(t, nil, "query", dsn, "SELECT $1::int + 1 AS n, $2 AS s, NULL AS z, pg_is_in_recovery() AS rec", "41", "it's").
			want(t, exitOK, "n   s     z     rec\n42  it's  NULL  false\n(1 row)\n")
		aiodbCmd(t, nil, "query", "-replica", dsn, "SELECT pg_is_in_recovery() AS rec").want(t, exitOK, "rec\ntrue\n")
		r := aiodbCmd(t, []string{envDSN + "=" + dsn}, "query", "-replica", "-json", "SELECT pg_is_in_recovery() AS rec, inet_server_port() AS port")
		r.want(t, exitOK)
		var recs []struct {
			Rec  bool `json:"rec"`
			Port int  `json:"port"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 1 || !recs[0].Rec || recs[0].Port == 5432 {
			t.Fatalf("-replica -json: %v %+v\n%v", err, recs, r)
		}
		// A write with -replica is refused before it is sent.
		table := fmt.Sprintf("cli_%d", os.Getpid())
		aiodbCmd(t, nil, "query", "-replica", dsn, "CREATE TABLE "+table+" (x int)").
			want(t, exitFail, "aiodb: read-only: CREATE TABLE in a replica context")
		aiodbCmd(t, nil, "query", dsn, "SELECT to_regclass($1) IS NULL AS absent", table).want(t, exitOK, "absent\ntrue\n")
	})
	t.Run("mariadb", func(t *testing.T) {
		dsn := serverDSN(t, envMyAppReplicas)
		primary := strings.Fields(dsn)[0]
		aiodbCmd(t, []string{envDSN + "=" + dsn}, "query", "-replica", "SELECT @@port AS port, @@read_only AS ro, ? AS a", "7").
			want(t, exitOK, "port  ro  a\n3307  1   7\n")
		table := fmt.Sprintf("cli_%d", os.Getpid())
		aiodbCmd(t, nil, "query", "-replica", dsn, "INSERT INTO "+table+" VALUES (1)").
			want(t, exitFail, "aiodb: read-only: INSERT in a replica context")
		aiodbCmd(t, nil, "query", primary, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", table).
			want(t, exitOK, "n\n0\n")
	})
}
