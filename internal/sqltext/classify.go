package sqltext

import (
	"strconv"
	"strings"
)

// This file classifies statements for routing (a read may go to a replica)
// and for the nested transaction guards, using the lexer of lexer.go: keywords
// are recognised only in code, so SELECT 'DELETE' and select "update" are
// reads, and MySQL executable comments (/*! … */) count as code.
//
// The classifier is conservative: a statement is a read only when it is
// provably one. Reads are SELECT, WITH … SELECT, VALUES, TABLE, SHOW,
// EXPLAIN/DESCRIBE (without ANALYZE, or with ANALYZE of a read), SQLite
// PRAGMAs from a small allow-list used without a value, and parenthesised
// selects — unless they lock rows (FOR UPDATE/SHARE/NO KEY UPDATE/KEY SHARE,
// LOCK IN SHARE MODE), write their result (SELECT … INTO), modify data in a
// CTE or call a function with side effects (nextval(), pg_advisory_lock(),
// GET_LOCK(), NEXT VALUE FOR …, see sideEffectFuncs). A function defined by
// the application is assumed to be read-only. Everything else, including
// anything unrecognised and every string of more than one statement, is a
// write.
//
// SET TRANSACTION counts as transaction control: it changes the running
// transaction behind aiodb's back (SET SESSION CHARACTERISTICS does not).
// implicitCommit follows the MySQL and MariaDB lists of statements that
// implicitly commit; a statement run through PREPARE/EXECUTE or inside a
// stored procedure cannot be seen.

// StmtInfo is what the classifier says about a statement.
type StmtInfo struct {
	Kind           string // what the statement is, for messages: "SELECT", "WITH … DELETE", "SELECT … FOR UPDATE", "multiple statements", …
	Read           bool   // true ONLY when provably read-only; anything unknown is a write
	Why            string // when !read: why it counts as a write
	TxControl      bool   // BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK [TO], ABORT, SAVEPOINT, RELEASE, SET TRANSACTION, PREPARE TRANSACTION, XA
	ImplicitCommit bool   // MySQL/MariaDB only: the statement implicitly commits the running transaction
}

// sig is one significant token of a statement (white space and comments
// dropped), with its keyword when it is a word.
type sig struct {
	kind tokKind
	kw   keyword
	text string
}

// is reports whether s is the punctuation byte c.
func (s sig) is(c byte) bool { return s.kind == tokPunct && s.text[0] == c }

// Classify says what query does, for the syntax of the server that runs it.
// It never fails: text that cannot be lexed is an unknown statement (a write).
func Classify(query string, syn Syntax) StmtInfo {
	var buf [64]sig
	toks := buf[:0]
	var res StmtInfo
	n := 0
	l := lexer{src: query, syn: syn}
	for {
		t := l.next()
		switch t.kind {
		case tokError:
			return StmtInfo{Kind: UnknownStmt, Why: "cannot be lexed: " + l.err + " at byte " + strconv.Itoa(t.start)}
		case tokSpace, tokComment, tokExecOpen, tokExecClose:
			continue
		}
		end := t.kind == tokEOF || t.kind == tokPunct && query[t.start] == ';'
		if !end {
			s := sig{kind: t.kind, text: query[t.start:t.end]}
			if t.kind == tokWord {
				s.kw = lookupKeyword(s.text)
			}
			toks = append(toks, s)
			continue
		}
		if len(toks) > 0 {
			info := classifyStmt(toks, syn)
			if n++; n == 1 {
				res = info
			} else {
				res.TxControl = res.TxControl || info.TxControl
				res.ImplicitCommit = res.ImplicitCommit || info.ImplicitCommit
			}
			toks = toks[:0]
		}
		if t.kind == tokEOF {
			break
		}
	}
	switch n {
	case 0:
		return StmtInfo{Kind: "empty statement", Why: "empty statement"}
	case 1:
		return res
	}
	res.Kind, res.Read, res.Why = "multiple statements", false, "multiple statements"
	return res
}

// readStmt and writeStmt make the StmtInfo of a read or a write.
func readStmt(kind string) StmtInfo       { return StmtInfo{Kind: kind, Read: true} }
func writeStmt(kind, why string) StmtInfo { return StmtInfo{Kind: kind, Why: why} }

// classifyStmt classifies one statement: t is non-empty and holds no ';'.
func classifyStmt(t []sig, syn Syntax) StmtInfo {
	for len(t) > 1 && t[0].is('(') {
		t = t[1:]
	}
	info := statement(t, syn)
	if syn.Dialect == MySQL {
		info.ImplicitCommit = implicitCommit(t)
	}
	return info
}

// statement classifies one statement by its first keyword.
func statement(t []sig, syn Syntax) StmtInfo {
	kw := t[0].kw
	name := keywordNames[kw]
	switch kw {
	case kwSelect, kwValues, kwTable:
		return query(t, name, syn)
	case kwWith:
		return with(t, syn)
	case kwShow:
		return readStmt(name)
	case kwExplain, kwDescribe, kwDesc:
		return explain(t, syn)
	case kwPragma:
		if syn.Dialect == SQLite {
			return pragma(t)
		}
	case kwInsert, kwUpdate, kwDelete, kwMerge, kwReplace, kwUpsert:
		return dml(t, name)
	case kwBegin, kwCommit, kwEnd, kwRollback, kwAbort, kwSavepoint, kwRelease, kwXA:
		return txStmt(phrase(t))
	case kwStart:
		if len(t) > 1 && t[1].kw == kwTransaction {
			return txStmt(phrase(t))
		}
		return writeStmt(phrase(t), "administration statement")
	case kwPrepare:
		if len(t) > 1 && t[1].kw == kwTransaction {
			return txStmt(phrase(t))
		}
		return writeStmt(name, "prepared statement")
	case kwSet:
		if len(t) > 1 && t[1].kw == kwTransaction {
			return txStmt(phrase(t))
		}
		return writeStmt(name, "SET statement (session state)")
	case kwCreate, kwAlter, kwDrop, kwTruncate, kwRename, kwComment:
		return writeStmt(phrase(t), "DDL")
	case kwGrant, kwRevoke:
		return writeStmt(name, "privilege change")
	case kwCall, kwDo:
		return writeStmt(name, "procedure call")
	case kwExecute:
		return writeStmt(name, "prepared statement")
	case kwCopy:
		return writeStmt(name, "COPY statement")
	case kwLock, kwUnlock:
		return writeStmt(phrase(t), "explicit lock")
	case kwListen, kwNotify, kwUnlisten:
		return writeStmt(name, "LISTEN/NOTIFY")
	case kwAnalyze, kwAnalyse:
		if syn.Dialect == MySQL && analyzesStatement(t) {
			return explain(t, syn)
		}
		return writeStmt(name, "maintenance statement")
	case kwVacuum, kwReindex, kwCluster, kwRefresh, kwCheckpoint, kwOptimize, kwRepair, kwCheck,
		kwFlush, kwReset, kwCache, kwInstall, kwUninstall, kwChange, kwLoad, kwStop:
		return writeStmt(name, "maintenance statement")
	}
	return writeStmt(UnknownStmt, "unrecognised statement")
}

// phrase names a statement by its leading keywords ("CREATE TEMPORARY
// TABLE", "START TRANSACTION", "ROLLBACK TO SAVEPOINT").
func phrase(t []sig) string {
	s := keywordNames[t[0].kw]
	for i := 1; i < len(t) && i < 4 && t[i].kw != kwNone; i++ {
		s += " " + keywordNames[t[i].kw]
	}
	return s
}

// txStmt is a transaction control statement.
func txStmt(kind string) StmtInfo {
	return StmtInfo{Kind: kind, Why: "transaction control statement", TxControl: true}
}

// startsStatement reports whether kw can start the statement EXPLAIN explains.
func startsStatement(kw keyword) bool {
	switch kw {
	case kwSelect, kwInsert, kwUpdate, kwDelete, kwMerge, kwWith, kwValues, kwTable, kwReplace,
		kwCreate, kwExecute, kwDeclare:
		return true
	}
	return false
}

// analyzesStatement reports whether a MySQL ANALYZE is MariaDB's ANALYZE
// [FORMAT=…] <statement>, which runs the statement, rather than ANALYZE TABLE.
func analyzesStatement(t []sig) bool {
	return len(t) > 1 && (t[1].kw == kwFormat || t[1].kw != kwTable && startsStatement(t[1].kw))
}

// dml is an INSERT, UPDATE, DELETE, MERGE, REPLACE or UPSERT statement.
func dml(t []sig, kind string) StmtInfo {
	for _, s := range t {
		if s.kw == kwReturning {
			return writeStmt(kind+" … RETURNING", "RETURNING clause")
		}
	}
	return writeStmt(kind, "data-modifying statement")
}

// with is a WITH statement: its main statement is the first SELECT, INSERT,
// UPDATE, DELETE, MERGE, VALUES or TABLE outside parentheses.
func with(t []sig, syn Syntax) StmtInfo {
	depth := 0
	for i := 1; i < len(t); i++ {
		switch s := t[i]; {
		case s.is('('):
			depth++
		case s.is(')'):
			depth--
		case depth != 0:
		case s.kw == kwInsert, s.kw == kwUpdate, s.kw == kwDelete, s.kw == kwMerge:
			return dml(t[i:], "WITH … "+keywordNames[s.kw])
		case s.kw == kwSelect, s.kw == kwValues, s.kw == kwTable:
			return query(t, "WITH … "+keywordNames[s.kw], syn)
		}
	}
	return writeStmt("WITH", "unrecognised statement")
}

// query is a SELECT, VALUES or TABLE statement (t may start with WITH): a
// read unless it locks rows, writes its result, modifies data or calls a
// function with side effects.
func query(t []sig, kind string, syn Syntax) StmtInfo {
	for i, s := range t {
		switch s.kw {
		case kwFor:
			if lock := lockClause(t[i+1:]); lock != "" {
				return writeStmt(kind+" … "+lock, lock+" lock")
			}
		case kwLock:
			if i+1 < len(t) && t[i+1].kw == kwIn {
				return writeStmt(kind+" … LOCK IN SHARE MODE", "LOCK IN SHARE MODE lock")
			}
		case kwInto:
			return writeStmt(kind+" … INTO", "SELECT … INTO")
		case kwInsert, kwUpdate, kwDelete, kwMerge:
			if !isCall(t, i) && (i == 0 || !t[i-1].is('.')) {
				if t[0].kw == kwWith {
					return writeStmt(kind, "data-modifying CTE")
				}
				return writeStmt(kind, "data-modifying statement")
			}
		case kwNext:
			if i+2 < len(t) && t[i+1].kw == kwValue && t[i+2].kw == kwFor {
				return writeStmt(kind, "NEXT VALUE FOR (sequence increment)")
			}
		}
		if (s.kind == tokWord || s.kind == tokIdent) && isCall(t, i) {
			name := funcName(s)
			if hasSideEffects(name, syn.Dialect) {
				return writeStmt(kind, name+"() call")
			}
			if sessionFuncs[name] {
				return writeStmt(kind, name+"() reads the state of this session, which a replica does not have")
			}
		}
		if syn.Dialect == MySQL && s.is(':') && i+1 < len(t) && t[i+1].is('=') {
			return writeStmt(kind, "user variable assignment (:=)")
		}
	}
	return readStmt(kind)
}

// lockClause returns the row-locking clause that t (what follows FOR)
// starts: "FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE".
func lockClause(t []sig) string {
	switch {
	case len(t) > 0 && t[0].kw == kwUpdate:
		return "FOR UPDATE"
	case len(t) > 0 && t[0].kw == kwShare:
		return "FOR SHARE"
	case len(t) > 2 && t[0].kw == kwNo && t[1].kw == kwKey && t[2].kw == kwUpdate:
		return "FOR NO KEY UPDATE"
	case len(t) > 1 && t[0].kw == kwKey && t[1].kw == kwShare:
		return "FOR KEY SHARE"
	}
	return ""
}

// isCall reports whether t[i] is followed by an opening parenthesis.
func isCall(t []sig, i int) bool { return i+1 < len(t) && t[i+1].is('(') }

// funcName returns the lower-case name of a function: a word, or a quoted
// identifier without its quotes.
func funcName(s sig) string {
	if s.kind == tokIdent {
		return s.text[1 : len(s.text)-1]
	}
	return strings.ToLower(s.text)
}

// sideEffectFuncs are functions that write, lock, assign a transaction id or
// act on the server, by dialect; sideEffectPrefixes are families of them.
var (
	pgSideEffectFuncs = map[string]bool{
		"nextval": true, "setval": true, "pg_notify": true, "set_config": true,
		"txid_current": true, "pg_current_xact_id": true, "dblink": true,
		"pg_terminate_backend": true, "pg_cancel_backend": true, "pg_reload_conf": true,
		"pg_rotate_logfile": true, "pg_switch_wal": true, "pg_promote": true,
		"pg_backup_start": true, "pg_backup_stop": true, "pg_start_backup": true, "pg_stop_backup": true,
		"pg_wal_replay_pause": true, "pg_wal_replay_resume": true, "pg_logical_emit_message": true,
		"pg_import_system_collations": true, "pg_log_backend_memory_contexts": true,
		"pg_replication_slot_advance": true, "pg_stat_statements_reset": true,
	}
	pgSideEffectPrefixes = []string{
		"pg_advisory_", "pg_try_advisory_", "lo_", "dblink_", "pg_create_", "pg_drop_",
		"pg_copy_", "pg_replication_origin_", "pg_stat_reset", "pg_file_", "pg_logical_slot_",
	}
	mysqlSideEffectFuncs = map[string]bool{
		"get_lock": true, "release_lock": true, "release_all_locks": true,
		"nextval": true, "setval": true, "lastval": true,
	}
	sqliteSideEffectFuncs = map[string]bool{"load_extension": true}
	// sessionFuncs answer from the calling session's own state (the last
	// generated id, the last statement's row count): asked on a replica
	// session they silently return something else, so they stay on the primary.
	sessionFuncs = map[string]bool{
		"currval": true, "lastval": true, // PostgreSQL
		"last_insert_id": true, "found_rows": true, "row_count": true, // MySQL
		"last_insert_rowid": true, "changes": true, "total_changes": true, // SQLite
	}
)

// hasSideEffects reports whether calling the function name (lower case) in
// a statement of dialect d is a write. ODBC checks every list.
func hasSideEffects(name string, d Dialect) bool {
	if d == PostgreSQL || d == ODBC {
		if pgSideEffectFuncs[name] {
			return true
		}
		for _, p := range pgSideEffectPrefixes {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
	}
	return (d == MySQL || d == ODBC) && mysqlSideEffectFuncs[name] ||
		(d == SQLite || d == ODBC) && sqliteSideEffectFuncs[name]
}

// explain is EXPLAIN/DESCRIBE/DESC (or MariaDB ANALYZE <statement>): a read,
// unless ANALYZE makes it run a statement that is not.
func explain(t []sig, syn Syntax) StmtInfo {
	name := keywordNames[t[0].kw]
	prefix := name + " ANALYZE "
	analyze := t[0].kw == kwAnalyze || t[0].kw == kwAnalyse
	if analyze {
		prefix = name + " "
	}
	depth := 0
	for i := 1; i < len(t); i++ {
		switch s := t[i]; {
		case s.is('('):
			depth++
		case s.is(')'):
			depth--
		case s.kw == kwAnalyze || s.kw == kwAnalyse:
			analyze = true
		case depth == 0 && startsStatement(s.kw):
			if !analyze {
				return readStmt(name)
			}
			inner := statement(t[i:], syn)
			inner.Kind = prefix + inner.Kind
			if !inner.Read {
				inner.Why = "ANALYZE runs the statement: " + inner.Why
			}
			inner.TxControl, inner.ImplicitCommit = false, false
			return inner
		}
	}
	if analyze {
		return writeStmt(name+" ANALYZE", "unrecognised statement")
	}
	return readStmt(name) // EXPLAIN table, DESCRIBE table, EXPLAIN FOR CONNECTION …
}

// SQLite pragmas that only read: pragmaQuery ones only without an argument,
// pragmaArg ones also with an argument (a table, an index or a limit).
const (
	pragmaQuery = 1 + iota
	pragmaArg
)

var readPragmas = map[string]uint8{
	"application_id": pragmaQuery, "auto_vacuum": pragmaQuery, "busy_timeout": pragmaQuery,
	"cache_size": pragmaQuery, "collation_list": pragmaQuery, "compile_options": pragmaQuery,
	"data_version": pragmaQuery, "database_list": pragmaQuery, "encoding": pragmaQuery,
	"foreign_keys": pragmaQuery, "freelist_count": pragmaQuery, "function_list": pragmaQuery,
	"journal_mode": pragmaQuery, "max_page_count": pragmaQuery, "module_list": pragmaQuery,
	"page_count": pragmaQuery, "page_size": pragmaQuery, "pragma_list": pragmaQuery,
	"query_only": pragmaQuery, "schema_version": pragmaQuery, "synchronous": pragmaQuery,
	"temp_store": pragmaQuery, "user_version": pragmaQuery,
	"table_info": pragmaArg, "table_xinfo": pragmaArg, "table_list": pragmaArg,
	"index_info": pragmaArg, "index_xinfo": pragmaArg, "index_list": pragmaArg,
	"foreign_key_list": pragmaArg, "foreign_key_check": pragmaArg,
	"integrity_check": pragmaArg, "quick_check": pragmaArg,
}

// pragma is a SQLite PRAGMA [schema.]name [= value | (arg)].
func pragma(t []sig) StmtInfo {
	i := 1
	if len(t) > 3 && t[2].is('.') {
		i = 3
	}
	if i < len(t) && t[i].kind == tokWord {
		rest := t[i+1:]
		switch readPragmas[strings.ToLower(t[i].text)] {
		case pragmaArg:
			if len(rest) == 0 || rest[0].is('(') {
				return readStmt("PRAGMA")
			}
		case pragmaQuery:
			if len(rest) == 0 {
				return readStmt("PRAGMA")
			}
		}
	}
	return writeStmt("PRAGMA", "PRAGMA that may change state")
}

// implicitCommit reports whether a MySQL/MariaDB statement implicitly
// commits the running transaction (MySQL "Statements That Cause an Implicit
// Commit", MariaDB "SQL statements that cause an implicit commit"). CREATE
// and DROP of a TEMPORARY TABLE do not; LOAD DATA and UNLOCK TABLES are
// counted although they commit only in some cases.
func implicitCommit(t []sig) bool {
	at := func(i int, kw keyword) bool { return i < len(t) && t[i].kw == kw }
	switch t[0].kw {
	case kwCreate:
		i := 1
		if at(i, kwOr) && at(i+1, kwReplace) {
			i += 2
		}
		return !(at(i, kwTemporary) && at(i+1, kwTable))
	case kwDrop:
		return !(at(1, kwTemporary) && at(2, kwTable))
	case kwAlter, kwRename, kwTruncate, kwGrant, kwRevoke, kwLock, kwUnlock, kwBegin, kwStart,
		kwOptimize, kwRepair, kwCheck, kwFlush, kwReset, kwCache, kwInstall, kwUninstall, kwChange,
		kwLoad, kwStop:
		return true
	case kwAnalyze:
		return !analyzesStatement(t)
	case kwSet:
		return setCommits(t)
	}
	return false
}

// setCommits reports whether a MySQL SET statement implicitly commits: SET
// autocommit to anything but 0/OFF/FALSE, SET PASSWORD, SET DEFAULT ROLE.
func setCommits(t []sig) bool {
	if len(t) > 1 && (t[1].kw == kwPassword || t[1].kw == kwDefault && len(t) > 2 && t[2].kw == kwRole) {
		return true
	}
	for i := 1; i < len(t); i++ {
		if t[i].kw != kwAutocommit {
			continue
		}
		j := i + 1
		for j < len(t) && (t[j].is('=') || t[j].is(':')) {
			j++
		}
		if j < len(t) && t[j].kind == tokWord {
			switch strings.ToUpper(t[j].text) {
			case "0", "OFF", "FALSE":
				continue
			}
		}
		return true
	}
	return false
}

// UnknownStmt is the kind of a statement the classifier does not recognise.
const UnknownStmt = "unknown statement"
