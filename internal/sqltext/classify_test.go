package sqltext

import (
	"strings"
	"testing"
)

// classifyCase is one row of TestClassify: kind and why are substrings of
// the expected values ("" = not checked, except that why must be empty for
// a read).
type classifyCase struct {
	syn            Syntax
	query          string
	read           bool
	kind, why      string
	txControl      bool
	implicitCommit bool
}

var classifyCases = []classifyCase{
	// Session-dependent functions answer differently on a replica session.
	{syn: synPG, query: "SELECT currval('s')", kind: "SELECT", why: "session"},
	{syn: synPG, query: "select lastval()", kind: "SELECT", why: "session"},
	{syn: synMy, query: "SELECT LAST_INSERT_ID()", kind: "SELECT", why: "session"},
	{syn: synMy, query: "SELECT FOUND_ROWS()", kind: "SELECT", why: "session"},
	{syn: synMy, query: "SELECT @x := 1", kind: "SELECT", why: "assignment"},
	{syn: synPG, query: "SELECT pg_stat_statements_reset()", kind: "SELECT", why: "pg_stat_statements_reset"},
	// Reads.
	{syn: synPG, query: "SELECT 1", read: true, kind: "SELECT"},
	{syn: synPG, query: "select * from t where id = $1", read: true, kind: "SELECT"},
	{syn: synPG, query: "  -- leading comment\n /* block /* nested */ */ SELECT 1", read: true, kind: "SELECT"},
	{syn: synMy, query: "# mysql comment\nSELECT 1", read: true, kind: "SELECT"},
	{syn: synPG, query: "(SELECT 1) UNION (SELECT 2)", read: true, kind: "SELECT"},
	{syn: synPG, query: "((select 1))", read: true, kind: "SELECT"},
	{syn: synPG, query: "SELECT 'DELETE FROM t'", read: true, kind: "SELECT"},
	{syn: synPG, query: `select "update" from t`, read: true, kind: "SELECT"},
	{syn: synPG, query: "select $$ insert into t values (1) $$", read: true, kind: "SELECT"},
	{syn: synPG, query: "SELECT data ? 'k', data ?| array['a'] FROM t WHERE x = ?", read: true, kind: "SELECT"},
	{syn: synPG, query: "SELECT substring(name FROM 1 FOR 3) FROM t", read: true, kind: "SELECT"},
	{syn: synPG, query: "SELECT t.update FROM t", read: true, kind: "SELECT"},
	{syn: synPG, query: "WITH x AS (SELECT 1) SELECT * FROM x", read: true, kind: "WITH … SELECT"},
	{syn: synPG, query: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 5) SELECT n FROM r", read: true, kind: "WITH … SELECT"},
	{syn: synPG, query: "VALUES (1), (2)", read: true, kind: "VALUES"},
	{syn: synPG, query: "TABLE t", read: true, kind: "TABLE"},
	{syn: synPG, query: "SHOW search_path", read: true, kind: "SHOW"},
	{syn: synMy, query: "SHOW TABLES", read: true, kind: "SHOW"},
	{syn: synPG, query: "EXPLAIN SELECT * FROM t", read: true, kind: "EXPLAIN"},
	{syn: synPG, query: "EXPLAIN DELETE FROM t", read: true, kind: "EXPLAIN"},
	{syn: synPG, query: "EXPLAIN ANALYZE SELECT * FROM t", read: true, kind: "EXPLAIN ANALYZE SELECT"},
	{syn: synPG, query: "EXPLAIN (ANALYZE, BUFFERS) SELECT 1", read: true, kind: "EXPLAIN ANALYZE SELECT"},
	{syn: synPG, query: "explain (format json) select 1", read: true, kind: "EXPLAIN"},
	{syn: synMy, query: "EXPLAIN FORMAT=JSON SELECT * FROM t", read: true, kind: "EXPLAIN"},
	{syn: synMy, query: "DESCRIBE t", read: true, kind: "DESCRIBE"},
	{syn: synMy, query: "DESC t", read: true, kind: "DESC"},
	{syn: synMy, query: "SELECT SLEEP(1)", read: true, kind: "SELECT"},
	{syn: synMy, query: "SELECT REPLACE(name, 'a', 'b'), INSERT(name, 1, 2, 'x') FROM t", read: true, kind: "SELECT"},
	{syn: synMy, query: "SELECT 1 /* FOR UPDATE */", read: true, kind: "SELECT"},
	{syn: synMy, query: "SELECT 2--1", read: true, kind: "SELECT"},
	{syn: synMy, query: "SELECT PREVIOUS VALUE FOR s", read: true, kind: "SELECT"},
	{syn: synLite, query: "PRAGMA table_info(t)", read: true, kind: "PRAGMA"},
	{syn: synLite, query: "PRAGMA main.table_info('t')", read: true, kind: "PRAGMA"},
	{syn: synLite, query: "pragma user_version", read: true, kind: "PRAGMA"},
	{syn: synLite, query: "PRAGMA integrity_check", read: true, kind: "PRAGMA"},
	{syn: synLite, query: "SELECT [delete] FROM t", read: true, kind: "SELECT"},
	{syn: synODBC, query: "SELECT {fn NOW()}", read: true, kind: "SELECT"},
	{syn: synPG, query: "SELECT 1;", read: true, kind: "SELECT"},
	{syn: synPG, query: ";; SELECT 1 ;;", read: true, kind: "SELECT"},

	// Writes: DML.
	{syn: synPG, query: "INSERT INTO t VALUES (1)", kind: "INSERT", why: "data-modifying statement"},
	{syn: synPG, query: "insert into t values (1) returning id", kind: "INSERT … RETURNING", why: "RETURNING clause"},
	{syn: synPG, query: "UPDATE t SET a = 1", kind: "UPDATE", why: "data-modifying"},
	{syn: synPG, query: "DELETE FROM t RETURNING *", kind: "DELETE … RETURNING", why: "RETURNING"},
	{syn: synPG, query: "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", kind: "MERGE"},
	{syn: synMy, query: "REPLACE INTO t VALUES (1)", kind: "REPLACE"},
	{syn: synLite, query: "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING RETURNING id", kind: "INSERT … RETURNING"},
	{syn: synPG, query: "/* hint */ delete from t", kind: "DELETE"},
	{syn: synPG, query: "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", kind: "WITH … SELECT", why: "data-modifying CTE"},
	{syn: synPG, query: "WITH x AS (SELECT id FROM t) DELETE FROM u WHERE id IN (SELECT id FROM x) RETURNING id", kind: "WITH … DELETE … RETURNING", why: "RETURNING"},
	{syn: synPG, query: "WITH x AS (SELECT 1) UPDATE t SET a = 1", kind: "WITH … UPDATE", why: "data-modifying statement"},
	{syn: synMy, query: "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", kind: "WITH … INSERT"},

	// Writes: locks, INTO, side effects.
	{syn: synPG, query: "SELECT * FROM t FOR UPDATE SKIP LOCKED", kind: "SELECT … FOR UPDATE", why: "FOR UPDATE lock"},
	{syn: synPG, query: "SELECT * FROM t FOR NO KEY UPDATE", kind: "SELECT … FOR NO KEY UPDATE", why: "lock"},
	{syn: synPG, query: "select * from t for share of t nowait", kind: "SELECT … FOR SHARE", why: "FOR SHARE lock"},
	{syn: synPG, query: "SELECT * FROM t FOR KEY SHARE", kind: "SELECT … FOR KEY SHARE"},
	{syn: synMy, query: "SELECT * FROM t LOCK IN SHARE MODE", kind: "LOCK IN SHARE MODE", why: "lock"},
	{syn: synMy, query: "/*!40101 SELECT * FROM t FOR UPDATE */", kind: "SELECT … FOR UPDATE"},
	{syn: synPG, query: "SELECT * INTO new_t FROM t", kind: "SELECT … INTO", why: "SELECT … INTO"},
	{syn: synMy, query: "SELECT * FROM t INTO OUTFILE '/tmp/x'", kind: "SELECT … INTO"},
	{syn: synMy, query: "SELECT a INTO @v FROM t", kind: "SELECT … INTO"},
	{syn: synPG, query: "select nextval('s')", kind: "SELECT", why: "nextval() call"},
	{syn: synPG, query: "SELECT pg_catalog.setval('s', 1)", why: "setval() call"},
	{syn: synPG, query: `SELECT "nextval"('s')`, why: "nextval() call"},
	{syn: synPG, query: "SELECT pg_advisory_lock(1)", why: "pg_advisory_lock() call"},
	{syn: synPG, query: "SELECT pg_try_advisory_xact_lock(1)", why: "pg_try_advisory_xact_lock() call"},
	{syn: synPG, query: "SELECT lo_import('/etc/passwd')", why: "lo_import() call"},
	{syn: synPG, query: "SELECT pg_notify('c', 'x')", why: "pg_notify() call"},
	{syn: synPG, query: "SELECT set_config('a.b', 'c', false)", why: "set_config() call"},
	{syn: synPG, query: "SELECT txid_current()", why: "txid_current() call"},
	{syn: synPG, query: "SELECT pg_terminate_backend(123)", why: "pg_terminate_backend() call"},
	{syn: synPG, query: "SELECT * FROM dblink('c', 'delete from t') AS x(a int)", why: "dblink() call"},
	{syn: synPG, query: "VALUES (nextval('s'))", kind: "VALUES", why: "nextval() call"},
	{syn: synPG, query: "WITH x AS (SELECT nextval('s')) SELECT * FROM x", why: "nextval() call"},
	{syn: synMy, query: "SELECT GET_LOCK('a', 10)", why: "get_lock() call"},
	{syn: synMy, query: "SELECT RELEASE_LOCK('a')", why: "release_lock() call"},
	{syn: synMy, query: "SELECT NEXTVAL(s)", why: "nextval() call"},
	{syn: synMy, query: "SELECT NEXT VALUE FOR s", why: "NEXT VALUE FOR"},
	// ODBC with the ansi dialect may reach any server: every dialect's list applies.
	{syn: synODBC, query: "SELECT nextval('s')", why: "nextval() call"},
	{syn: synODBC, query: "SELECT pg_try_advisory_lock(1)", why: "pg_try_advisory_lock() call"},
	{syn: synODBC, query: "SELECT GET_LOCK('a', 10)", why: "get_lock() call"},
	{syn: synODBC, query: "SELECT load_extension('x')", why: "load_extension() call"},
	{syn: synLite, query: "SELECT load_extension('x')", why: "load_extension() call"},
	{syn: synPG, query: "EXPLAIN ANALYZE DELETE FROM t", kind: "EXPLAIN ANALYZE DELETE", why: "ANALYZE runs the statement: data-modifying statement"},
	{syn: synPG, query: "EXPLAIN (ANALYZE true) INSERT INTO t VALUES (1)", kind: "EXPLAIN ANALYZE INSERT"},
	{syn: synPG, query: "EXPLAIN ANALYZE SELECT nextval('s')", why: "nextval() call"},
	{syn: synMy, query: "ANALYZE SELECT * FROM t", read: true, kind: "ANALYZE SELECT"},
	{syn: synMy, query: "ANALYZE DELETE FROM t", kind: "ANALYZE DELETE", why: "ANALYZE runs"},
	{syn: synLite, query: "PRAGMA user_version = 5", kind: "PRAGMA", why: "PRAGMA"},
	{syn: synLite, query: "PRAGMA cache_size(100)", kind: "PRAGMA"},
	{syn: synLite, query: "PRAGMA optimize", kind: "PRAGMA"},
	{syn: synLite, query: "PRAGMA wal_checkpoint(TRUNCATE)", kind: "PRAGMA"},
	{syn: synPG, query: "PRAGMA table_info(t)", kind: "unknown statement", why: "unrecognised"},

	// Writes: other statements.
	{syn: synPG, query: "CALL p(1)", kind: "CALL", why: "procedure call"},
	{syn: synPG, query: "DO $$ BEGIN PERFORM 1; END $$", kind: "DO"},
	{syn: synPG, query: "COPY t TO STDOUT", kind: "COPY"},
	{syn: synPG, query: "SET search_path = x", kind: "SET", why: "SET statement"},
	{syn: synPG, query: "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", kind: "LOCK TABLE", why: "explicit lock"},
	{syn: synPG, query: "LISTEN c", kind: "LISTEN"},
	{syn: synPG, query: "NOTIFY c", kind: "NOTIFY"},
	{syn: synPG, query: "VACUUM ANALYZE t", kind: "VACUUM", why: "maintenance"},
	{syn: synPG, query: "ANALYZE t", kind: "ANALYZE", why: "maintenance"},
	{syn: synPG, query: "REFRESH MATERIALIZED VIEW v", kind: "REFRESH"},
	{syn: synPG, query: "CREATE TABLE t (a int)", kind: "CREATE TABLE", why: "DDL"},
	{syn: synPG, query: "CREATE TEMP TABLE t (a int)", kind: "CREATE", why: "DDL"},
	{syn: synPG, query: "DROP TABLE t", kind: "DROP TABLE", why: "DDL"},
	{syn: synPG, query: "ALTER TABLE t ADD b int", kind: "ALTER TABLE", why: "DDL"},
	{syn: synPG, query: "TRUNCATE t", kind: "TRUNCATE", why: "DDL"},
	{syn: synPG, query: "COMMENT ON TABLE t IS 'x'", kind: "COMMENT"},
	{syn: synPG, query: "GRANT SELECT ON t TO u", kind: "GRANT", why: "privilege"},
	{syn: synPG, query: "PREPARE p AS SELECT 1", kind: "PREPARE", why: "prepared statement"},
	{syn: synPG, query: "EXECUTE p", kind: "EXECUTE"},
	{syn: synPG, query: "FROBNICATE t", kind: "unknown statement", why: "unrecognised statement"},
	{syn: synPG, query: "", kind: "empty statement", why: "empty"},
	{syn: synPG, query: " -- only a comment", kind: "empty statement"},
	{syn: synPG, query: "SELECT 'unterminated", kind: "unknown statement", why: "cannot be lexed: unterminated string literal at byte 7"},
	{syn: synMy, query: "SELECT '\\'", kind: "unknown statement", why: "cannot be lexed"},
	{syn: synPG, query: "SELECT 1; SELECT 2", kind: "multiple statements", why: "multiple statements"},
	{syn: synPG, query: "SELECT ';'; ", read: true, kind: "SELECT"},
	{syn: synPG, query: "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2 $$ LANGUAGE sql", kind: "CREATE", why: "DDL"},

	// Transaction control.
	{syn: synPG, query: "BEGIN", kind: "BEGIN", why: "transaction control", txControl: true},
	{syn: synPG, query: "begin isolation level serializable", txControl: true},
	{syn: synPG, query: "START TRANSACTION", kind: "START TRANSACTION", txControl: true},
	{syn: synPG, query: "COMMIT", kind: "COMMIT", txControl: true},
	{syn: synPG, query: "END", kind: "END", txControl: true},
	{syn: synPG, query: "ROLLBACK", kind: "ROLLBACK", txControl: true},
	{syn: synPG, query: "ROLLBACK TO SAVEPOINT sp_1", kind: "ROLLBACK TO SAVEPOINT", txControl: true},
	{syn: synPG, query: "ABORT", kind: "ABORT", txControl: true},
	{syn: synPG, query: "SAVEPOINT x", kind: "SAVEPOINT", txControl: true},
	{syn: synPG, query: "RELEASE SAVEPOINT x", kind: "RELEASE SAVEPOINT", txControl: true},
	{syn: synPG, query: "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", kind: "SET TRANSACTION", txControl: true},
	{syn: synPG, query: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", kind: "SET"},
	{syn: synPG, query: "PREPARE TRANSACTION 'x'", kind: "PREPARE TRANSACTION", txControl: true},
	{syn: synPG, query: "COMMIT PREPARED 'x'", txControl: true},
	{syn: synPG, query: "SELECT 1; COMMIT", kind: "multiple statements", txControl: true},
	{syn: synLite, query: "BEGIN IMMEDIATE", txControl: true},
	{syn: synLite, query: "END TRANSACTION", txControl: true},
	{syn: synLite, query: "RELEASE x", txControl: true},
	{syn: synMy, query: "XA START 'x'", kind: "XA", txControl: true},

	// MySQL implicit commits.
	{syn: synMy, query: "START TRANSACTION", kind: "START TRANSACTION", txControl: true, implicitCommit: true},
	{syn: synMy, query: "BEGIN WORK", kind: "BEGIN WORK", txControl: true, implicitCommit: true},
	{syn: synMy, query: "COMMIT", txControl: true},
	{syn: synMy, query: "ROLLBACK TO SAVEPOINT sp_1", txControl: true},
	{syn: synMy, query: "SAVEPOINT sp_1", txControl: true},
	{syn: synMy, query: "CREATE TABLE t (a int)", kind: "CREATE TABLE", why: "DDL", implicitCommit: true},
	{syn: synMy, query: "CREATE TEMPORARY TABLE t (a int)", kind: "CREATE TEMPORARY TABLE", why: "DDL"},
	{syn: synMy, query: "create or replace temporary table t (a int)", kind: "CREATE OR REPLACE TEMPORARY"},
	{syn: synMy, query: "DROP TEMPORARY TABLE IF EXISTS t", kind: "DROP TEMPORARY TABLE"},
	{syn: synMy, query: "DROP TABLE t", implicitCommit: true},
	{syn: synMy, query: "ALTER TABLE t ADD b int", implicitCommit: true},
	{syn: synMy, query: "CREATE INDEX i ON t (a)", implicitCommit: true},
	{syn: synMy, query: "CREATE VIEW v AS SELECT 1", implicitCommit: true},
	{syn: synMy, query: "DROP DATABASE d", implicitCommit: true},
	{syn: synMy, query: "CREATE USER u", implicitCommit: true},
	{syn: synMy, query: "CREATE SEQUENCE s", implicitCommit: true},
	{syn: synMy, query: "TRUNCATE TABLE t", implicitCommit: true},
	{syn: synMy, query: "RENAME TABLE a TO b", implicitCommit: true},
	{syn: synMy, query: "LOCK TABLES t WRITE", kind: "LOCK TABLES", why: "explicit lock", implicitCommit: true},
	{syn: synMy, query: "UNLOCK TABLES", kind: "UNLOCK TABLES", implicitCommit: true},
	{syn: synMy, query: "GRANT SELECT ON t TO u", implicitCommit: true},
	{syn: synMy, query: "REVOKE SELECT ON t FROM u", implicitCommit: true},
	{syn: synMy, query: "SET autocommit=1", kind: "SET", implicitCommit: true},
	{syn: synMy, query: "SET @@session.autocommit := ON", implicitCommit: true},
	{syn: synMy, query: "SET autocommit = 0", kind: "SET"},
	{syn: synMy, query: "SET SESSION autocommit = OFF", kind: "SET"},
	{syn: synMy, query: "SET PASSWORD = 'x'", implicitCommit: true},
	{syn: synMy, query: "SET NAMES utf8mb4", kind: "SET"},
	{syn: synMy, query: "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", kind: "SET", why: "SET statement"},
	{syn: synMy, query: "/*!40101 SET autocommit=1 */", kind: "SET", implicitCommit: true},
	{syn: synMy, query: "ANALYZE TABLE t", kind: "ANALYZE", implicitCommit: true},
	{syn: synMy, query: "OPTIMIZE TABLE t", implicitCommit: true},
	{syn: synMy, query: "REPAIR TABLE t", implicitCommit: true},
	{syn: synMy, query: "CHECK TABLE t", implicitCommit: true},
	{syn: synMy, query: "FLUSH PRIVILEGES", implicitCommit: true},
	{syn: synMy, query: "LOAD DATA INFILE 'x' INTO TABLE t", implicitCommit: true},
	{syn: synMy, query: "LOAD INDEX INTO CACHE t", implicitCommit: true},
	{syn: synMy, query: "CACHE INDEX t IN c", implicitCommit: true},
	{syn: synMy, query: "RESET QUERY CACHE", implicitCommit: true},
	{syn: synMy, query: "INSTALL PLUGIN p SONAME 'x.so'", implicitCommit: true},
	{syn: synMy, query: "STOP SLAVE", implicitCommit: true},
	{syn: synMy, query: "START SLAVE", kind: "START", implicitCommit: true},
	{syn: synMy, query: "INSERT INTO t VALUES (1)", kind: "INSERT"},
	{syn: synMy, query: "INSERT INTO t VALUES (1); CREATE TABLE u (a int)", kind: "multiple statements", implicitCommit: true},
	{syn: synPG, query: "CREATE TABLE t (a int)", kind: "CREATE TABLE"}, // no implicit commit outside MySQL
	{syn: synLite, query: "DROP TABLE t", kind: "DROP TABLE"},
}

func TestClassify(t *testing.T) {
	if len(classifyCases) < 80 {
		t.Errorf("%d classify cases, want at least 80", len(classifyCases))
	}
	for _, tc := range classifyCases {
		t.Run(tc.syn.Dialect.String()+"/"+tc.query, func(t *testing.T) {
			got := Classify(tc.query, tc.syn)
			if got.Read != tc.read || got.TxControl != tc.txControl || got.ImplicitCommit != tc.implicitCommit {
				t.Errorf("Classify(%q) = %+v; want read %v, txControl %v, implicitCommit %v",
					tc.query, got, tc.read, tc.txControl, tc.implicitCommit)
			}
			if !strings.Contains(got.Kind, tc.kind) || got.Kind == "" {
				t.Errorf("kind %q, want it to contain %q", got.Kind, tc.kind)
			}
			if got.Read && got.Why != "" || !got.Read && got.Why == "" {
				t.Errorf("read %v with why %q", got.Read, got.Why)
			}
			if !strings.Contains(got.Why, tc.why) {
				t.Errorf("why %q, want it to contain %q", got.Why, tc.why)
			}
		})
	}
}

// TestClassifyLenient checks that text the rewriter refuses still classifies.
func TestClassifyLenient(t *testing.T) {
	for _, q := range []string{"SELECT ?, $1, %s, %d", "SELECT $0", "SELECT :name, @x"} {
		for _, syn := range []Syntax{synPG, synMy, synLite, synODBC} {
			if got := Classify(q, syn); !got.Read || got.Kind != "SELECT" {
				t.Errorf("Classify(%q, %v) = %+v, want a SELECT read", q, syn.Dialect, got)
			}
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchQuery1K)))
	for b.Loop() {
		if info := Classify(benchQuery1K, synPG); !info.Read {
			b.Fatal(info)
		}
	}
}
