package aiodb

import (
	"cmp"
	"crypto/tls"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestParseDSNSchemes(t *testing.T) {
	for scheme, want := range map[string]Dialect{
		"postgres": PostgreSQL, "postgresql": PostgreSQL, "pgx": PostgreSQL, "asyncpg": PostgreSQL, "aiopg": PostgreSQL,
		"POSTGRES+POOL": PostgreSQL, "Postgresql+Pool": PostgreSQL,
		"mysql": MySQL, "mariadb": MySQL, "aiomysql": MySQL, "trio-mysql": MySQL, "MySQL+pool": MySQL,
		"sqlite": SQLite, "sqlite3": SQLite, "aiosqlite": SQLite, "aiosqlite+pool": SQLite,
		"odbc": ODBC, "aioodbc": ODBC, "ODBC+POOL": ODBC,
	} {
		host := "h:1/db"
		if want == SQLite {
			host = "/x.db"
		}
		cfg, err := ParseDSN(scheme + "://" + host)
		if err != nil {
			t.Errorf("%s: %v", scheme, err)
			continue
		}
		if cfg.Dialect != want {
			t.Errorf("%s: dialect %s, want %s", scheme, cfg.Dialect, want)
		}
	}
}

func TestParseDSNNodes(t *testing.T) {
	dsn := " postgres://app:s3cret@primary:5432/shop?sslmode=disable\n\tpostgres://app:s3cret@r1/shop  postgresql://app:s3cret@r2:5433/shop "
	cfg, err := ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Primary.URL, "postgres://app:xxxxx@primary:5432/shop?sslmode=disable"; got != want {
		t.Errorf("primary %q, want %q", got, want)
	}
	if len(cfg.Replicas) != 2 || cfg.Replicas[1].URL != "postgresql://app:xxxxx@r2:5433/shop" {
		t.Fatalf("replicas %v", cfg.Replicas)
	}
	if cfg.Primary.backend != "postgres://app:s3cret@primary:5432/shop?sslmode=disable" {
		t.Errorf("backend DSN %q", cfg.Primary.backend)
	}
	if s := cfg.String(); strings.Contains(s, "s3cret") || strings.Count(s, "xxxxx") != 3 {
		t.Errorf("String() = %q", s)
	}
}

func TestParseDSNBackends(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"mysql://root@127.0.0.1:3306/test", "root@tcp(127.0.0.1:3306)/test"},
		{"mariadb://u:p%40ss@db/test?parseTime=true&loc=Local", "u:p@ss@tcp(db:3306)/test?loc=Local&parseTime=true"},
		{"mysql://u@/test?unix_socket=/run/mysqld/mysqld.sock&aiodb_maxsize=3", "u@unix(/run/mysqld/mysqld.sock)/test"},
		{"mysql://u:p@[::1]:3307/", "u:p@tcp([::1]:3307)/"},
		{"mysql://h/db?sql_mode=%27ANSI_QUOTES%27", "tcp(h:3306)/db?sql_mode=%27ANSI_QUOTES%27"},
		{"sqlite:///:memory:", "?_pragma=busy_timeout%285000%29"},
		{"sqlite://", "?_pragma=busy_timeout%285000%29"},
		{"sqlite:///:memory:?_pragma=foreign_keys(1)", "?_pragma=foreign_keys%281%29&_pragma=busy_timeout%285000%29"},
		{"sqlite:///data/app.db", "data/app.db?_pragma=busy_timeout%285000%29"},
		{"sqlite:////var/lib/app.db?_txlock=immediate", "/var/lib/app.db?_pragma=busy_timeout%285000%29&_txlock=immediate"},
		{"sqlite:///app.db?_pragma=busy_timeout(100)", "app.db?_pragma=busy_timeout%28100%29"},
		{"sqlite:///app.db?_pragma=Busy_Timeout%20%3D%200", "app.db?_pragma=Busy_Timeout+%3D+0"},
		{"aiosqlite:///rel.db", "rel.db?_pragma=busy_timeout%285000%29"},
		{"postgres://u:p@h/db?sslmode=disable&aiodb_route=auto", "postgres://u:p@h/db?sslmode=disable"},
		{"asyncpg://u@h:5/db", "postgres://u@h:5/db"},
		{"odbc://pg", "DSN=pg"},
		{"odbc://scott:tiger@pg/?ApplicationName=x", "DSN=pg;UID=scott;PWD=tiger;ApplicationName=x"},
		{"odbc:///?driver=PostgreSQL+Unicode&server=127.0.0.1&port=5432", "driver={PostgreSQL Unicode};port=5432;server=127.0.0.1"},
		{"odbc:///?driver=X&pwd=a%3Bb%7Dc", "driver=X;pwd={a;b}}c}"},
	} {
		cfg, err := ParseDSN(tc.dsn)
		if err != nil {
			t.Errorf("%s: %v", tc.dsn, err)
			continue
		}
		if cfg.Primary.backend != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.dsn, cfg.Primary.backend, tc.want)
		}
	}
}

func TestParseDSNOptions(t *testing.T) {
	cfg, err := ParseDSN("mysql://u:p@h/db?aiodb_maxsize=10&AIODB_MINSIZE=2&aiodb_route=AUTO&aiodb_replica_policy=random" +
		"&aiodb_health_interval=250ms&aiodb_max_lag=3s&aiodb_fallback=none&aiodb_sql_mode=ansi_quotes,NO_BACKSLASH_ESCAPES&aiodb_stmt_cache=7" +
		"&aiodb_read_your_writes=wait&aiodb_read_your_writes_wait=300ms&charset=utf8mb4 mysql://u:p@r/db")
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{MaxOpen: 10, MinIdle: 2, Route: RouteAuto, Policy: Random, HealthInterval: 250 * time.Millisecond,
		MaxLag: 3 * time.Second, Fallback: false, NoBackslashEscapes: true, ANSIQuotes: true, StmtCache: 7,
		ReadYourWrites: RYWWait, RYWWait: 300 * time.Millisecond, ODBCDialect: ODBC}
	if cfg.Settings != want {
		t.Errorf("options %+v\nwant %+v", cfg.Settings, want)
	}
	if strings.Contains(cfg.Primary.backend, "aiodb") || !strings.Contains(cfg.Primary.backend, "charset=utf8mb4") {
		t.Errorf("backend DSN %q", cfg.Primary.backend)
	}
	def, _ := ParseDSN("sqlite://")
	if def.Settings != defaultSettings() || def.Settings.MinIdle != -1 || !def.Settings.Fallback || def.Settings.HealthInterval != 5*time.Second {
		t.Errorf("defaults %+v", def.Settings)
	}
	odbc, err := ParseDSN("odbc://pg?aiodb_odbc_dialect=postgres")
	if err != nil || odbc.Settings.ODBCDialect != PostgreSQL {
		t.Errorf("odbc dialect: %v %+v", err, odbc)
	}
}

// TestParseDSNErrors checks that bad input fails with ErrBadDSN, a message
// naming the problem, and never the password.
func TestParseDSNErrors(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"", "empty DSN"},
		{" \n\t ", "empty DSN"},
		{"oracle://u:hunter2@h/db", `unknown scheme "oracle"`},
		{"u:hunter2@tcp(h)/db", "is not a URL"},
		{"postgres://u:hunter2@h/db mysql://u:hunter2@r/db", "mixed dialects"},
		{"postgres://u:hunter2@h/db?aiodb_nope=1", "unknown aiodb option"},
		{"postgres://u:hunter2@h/db?aiodb_maxsize=-1", "aiodb_maxsize"},
		{"postgres://u:hunter2@h/db?aiodb_maxsize=ten", "whole number"},
		{"postgres://u:hunter2@h/db?aiodb_route=sometimes", "want one of auto, manual"},
		{"postgres://u:hunter2@h/db?aiodb_health_interval=0s", "positive"},
		{"postgres://u:hunter2@h/db?aiodb_max_lag=soon", "aiodb_max_lag"},
		{"postgres://u:hunter2@h/db?aiodb_max_lag=-1s", "aiodb_max_lag=\"-1s\": must not be negative"},
		{"postgres://u:hunter2@h/db?aiodb_route=auto&aiodb_route=manual", "given 2 times"},
		{"postgres://u:hunter2@h/db?aiodb_sql_mode=ANSI_QUOTES", "only for mysql"},
		{"mysql://u:hunter2@h/db?aiodb_sql_mode=STRICT", "unknown mode"},
		{"postgres://u:hunter2@h/db postgres://u:hunter2@r/db?aiodb_route=auto", "belong on the primary"},
		{"postgres://u:hunter2@h:port/db", "malformed URL"},
		{"postgres://u:hunter2@h/db?a=%zz", "malformed query"},
		{"postgres://u:hunter2@h%zz/db", "malformed URL"},
		{"sqlite://host/x.db", "has a host"},
		{"postgres://app:hunter2#3@db:5432/shop", "# in a password must be written %23"},
		{"postgres://app:hunter2?3@db:5432/shop", "an @ after the host"},
		{"postgres://app:hunter2", "malformed URL postgres://app:xxxxx: invalid port after host; special characters in a password must be percent-encoded"},
		{"postgres://app:4711?hunter2@db/shop", "an @ after the host"},
		{"postgres://app:p@hunter2/w0rd@db/shop", "an @ after the host"},
		{"postgres://app:4711/hunter2@db/shop", "an @ after the host"},
		{"postgres://app:hunter2@db/shop postgres://app:hunter2 x@r/shop", "word 3 of 3 of the DSN is not a URL"},
		{"mysql://app:hunter2%zz@db/shop", "invalid URL escape; special"},
		{"mysql://app:hunter2@db/shop?charset=utf8mb4&collation=a%2Fb", "cannot hold & or /"},
	} {
		_, err := ParseDSN(tc.dsn)
		if !errors.Is(err, ErrBadDSN) {
			t.Errorf("%q: err %v, want ErrBadDSN", tc.dsn, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %q does not say %q", tc.dsn, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: password in %q", tc.dsn, err)
		}
	}
}

// TestParseDSNErrorsSayWhatToDo checks that the errors a newcomer meets
// name the fix: the valid schemes, the nearest aiodb option, the aiodb_
// prefix that aio-databases' pool options need in a URL.
func TestParseDSNErrorsSayWhatToDo(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"oracle://u:hunter2@h/db", "want one of aiomysql, aioodbc, aiopg, aiosqlite, asyncpg, mariadb, mysql, odbc, pgx, postgres, postgresql, sqlite, sqlite3, trio-mysql (each may end in +pool)"},
		{"postgres://u:hunter2@h/db?aiodb_maxsise=5", `option aiodb_maxsise="5": unknown aiodb option; did you mean aiodb_maxsize?`},
		{"postgres://u:hunter2@h/db?AIODB_Replica_Polcy=random", "did you mean aiodb_replica_policy?"},
		{"postgres://u:hunter2@h/db?aiodb_zzzzzzzzzz=1", "unknown aiodb option; want one of aiodb_fallback, aiodb_health_interval, aiodb_max_lag, aiodb_maxsize, aiodb_minsize, aiodb_odbc_dialect, aiodb_primary_wait, aiodb_raw_savepoints, aiodb_read_your_writes, aiodb_read_your_writes_wait, aiodb_replica_policy, aiodb_route, aiodb_sql_mode, aiodb_stmt_cache"},
		{"postgres://u:hunter2@h/db?maxsize=5", "maxsize is an aio-databases pool option: write aiodb_maxsize on the primary (first) URL"},
		{"mysql://u:hunter2@h/db?minsize=", "minsize is an aio-databases pool option: write aiodb_minsize"},
		{"sqlite:///:memory:?MaxSize=5", "write aiodb_maxsize"},
		{"postgres://u:hunter2@h/db postgres://u:hunter2@r/db?max_size=5", "postgres://u:xxxxx@r/db?max_size=5: max_size is an aio-databases pool option: write aiodb_maxsize on the primary (first) URL"},
		{"postgres://u:hunter2@h/db?min_size=1", "write aiodb_minsize"},
	} {
		_, err := ParseDSN(tc.dsn)
		if !errors.Is(err, ErrBadDSN) {
			t.Errorf("%q: err %v, want ErrBadDSN", tc.dsn, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n%s\ndoes not say\n%s", tc.dsn, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: password in %q", tc.dsn, err)
		}
	}
}

// TestOptionNames keeps the names that errors suggest in step with the
// options setOne accepts.
func TestOptionNames(t *testing.T) {
	for _, name := range optionNames {
		var o Settings
		if err := o.setOne(name, "", ODBC); err != nil && strings.Contains(err.Error(), "unknown aiodb option") {
			t.Errorf("optionNames lists %s, which setOne does not know", name)
		}
	}
}

// TestParseDSNPercentEncodedPassword: a password with the characters a URL
// gives a meaning to, percent-encoded as the docs say, reaches each server
// driver decoded.
func TestParseDSNPercentEncodedPassword(t *testing.T) {
	const pw = "p#s?s/w@r d%1"
	const enc = "p%23s%3Fs%2Fw%40r%20d%251"
	pg, err := ParseDSN("postgres://app:" + enc + "@h/db")
	if err != nil {
		t.Fatal(err)
	}
	if pc, err := pgconn.ParseConfig(pg.Primary.backend); err != nil || pc.Password != pw {
		t.Errorf("pgx: %v, password %q", err, pc.Password)
	}
	my, err := ParseDSN("mysql://app:" + enc + "@h/db")
	if err != nil {
		t.Fatal(err)
	}
	if mc, err := mysql.ParseDSN(my.Primary.backend); err != nil || mc.Passwd != pw || mc.DBName != "db" {
		t.Errorf("go-sql-driver/mysql: %v, %+v", err, mc)
	}
	if strings.Contains(pg.String()+my.String(), "w@r") {
		t.Errorf("password shown: %s %s", pg, my)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h/db":         "postgres://u:xxxxx@h/db",
		"postgres://u@h/db":            "postgres://u@h/db",
		"postgres://u:p@w@h:1/db?x=@y": "postgres://u:xxxxx@h:1/db?x=@y",
		"postgres://h/db?sslmode=@":    "postgres://h/db?sslmode=@",
		"postgres://h/db?password=@":   "postgres://h/db?password=xxxxx",
		"no scheme at all":             "no scheme at all",
		"mysql://u:pw@h:port%/db":      "mysql://u:xxxxx@h:port%/db",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseDSNMySQLParams: go-sql-driver/mysql reads the DSN aiodb builds
// exactly as it reads the native DSN with the same query: some parameters
// verbatim (a charset list keeps its commas), the others unescaped.
func TestParseDSNMySQLParams(t *testing.T) {
	if err := mysql.RegisterTLSConfig("aiodb test/ca", &tls.Config{ServerName: "db"}); err != nil {
		t.Fatal(err)
	}
	defer mysql.DeregisterTLSConfig("aiodb test/ca")
	for _, tc := range []struct{ query, native string }{
		{"charset=none,utf8mb4", ""},
		{"charset=utf8mb4,utf8&collation=utf8mb4_unicode_ci", ""},
		{"charset=none%2Cutf8mb4", "charset=none,utf8mb4"}, // escaped in the URL: the same list
		{"loc=Europe%2FParis&parseTime=true", ""},
		{"loc=Local&parseTime=1&timeTruncate=1h", ""},
		{"time_zone=%27Europe%2FParis%27", ""},
		{"time_zone='%2B02:00'", "time_zone=%27%2B02%3A00%27"},
		{"sql_mode=%27ANSI_QUOTES,NO_BACKSLASH_ESCAPES%27", ""},
		{"sql_mode='TRADITIONAL'&autocommit=1", "autocommit=1&sql_mode=%27TRADITIONAL%27"},
		{"tls=skip-verify", ""},
		{"tls=preferred&allowFallbackToPlaintext=true", ""},
		{"tls=false", ""},
		{"timeout=1500ms&readTimeout=2s&writeTimeout=3s", ""},
		{"interpolateParams=true&clientFoundRows=true&columnsWithAlias=true", ""},
		{"multiStatements=true&rejectReadOnly=true&checkConnLiveness=false", ""},
		{"allowAllFiles=true&allowCleartextPasswords=1&allowNativePasswords=false&allowOldPasswords=true", ""},
		{"compress=true&maxAllowedPacket=0", ""},
		{"tls=aiodb%20test%2Fca", ""},
		{"connectionAttributes=program_name:aiodb,env:prod%2Fa", ""},
		{"init_connect=SET%20a%3D1%26b", ""},
		{"wait_timeout=60&net_read_timeout=30", ""},
		{"group_concat_max_len=1000000&character_set_results=NULL", ""},
	} {
		dsn := "mysql://u:p%40ss@db:3307/shop?" + tc.query
		cfg, err := ParseDSN(dsn)
		if err != nil {
			t.Errorf("%s: %v", dsn, err)
			continue
		}
		native := "u:p@ss@tcp(db:3307)/shop?" + cmp.Or(tc.native, tc.query)
		want, err := mysql.ParseDSN(native)
		if err != nil {
			t.Fatalf("native %s: %v", native, err)
		}
		got, err := mysql.ParseDSN(cfg.Primary.backend)
		if err != nil {
			t.Errorf("%s: go-sql-driver rejects %s: %v", dsn, cfg.Primary.backend, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n aiodb builds %s\n  which reads %+v\nnative %s\n  which reads %+v", dsn, cfg.Primary.backend, got, native, want)
		}
	}
	for _, q := range []string{"collation=a%2Fb", "charset=a%26b", "a%2Fb=1"} {
		if _, err := ParseDSN("mysql://h/db?" + q); !errors.Is(err, ErrBadDSN) || !strings.Contains(err.Error(), "cannot hold") {
			t.Errorf("%s: %v, want ErrBadDSN: cannot hold & or /", q, err)
		}
	}
	// go-sql-driver panics on strict (removed in 1.4); aiodb reports it.
	if _, err := sql.Open(DriverName, "mysql://h/db?strict=true"); !errors.Is(err, ErrBadDSN) || !strings.Contains(err.Error(), "strict") {
		t.Errorf("strict=true: %v, want ErrBadDSN", err)
	}
}

// TestPasswordParameterRedacted: a password given as a query parameter
// (libpq's password=, ODBC's PWD=) is redacted like one in the user info.
func TestPasswordParameterRedacted(t *testing.T) {
	for _, dsn := range []string{
		"postgres://app@db/shop?password=S3cretPw&sslmode=disable",
		"odbc://pg?PWD=S3cretPw&aiodb_odbc_dialect=postgres",
		"postgres://app@db/shop postgres://app@r/shop?Password=S3cretPw",
	} {
		cfg, err := ParseDSN(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if s := cfg.String(); strings.Contains(s, "S3cretPw") || !strings.Contains(s, "=xxxxx") {
			t.Errorf("%s: redacted as %s", dsn, s)
		}
	}
}
