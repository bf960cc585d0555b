package sqltext

// keyword is a keyword the classifier knows; 0 for any other word.
type keyword uint8

const (
	kwNone keyword = iota
	kwAbort
	kwAlter
	kwAnalyse
	kwAnalyze
	kwAutocommit
	kwBegin
	kwCache
	kwCall
	kwChange
	kwCheck
	kwCheckpoint
	kwCluster
	kwComment
	kwCommit
	kwCopy
	kwCreate
	kwDeclare
	kwDefault
	kwDelete
	kwDesc
	kwDescribe
	kwDo
	kwDrop
	kwEnd
	kwExecute
	kwExplain
	kwFlush
	kwFor
	kwFormat
	kwGrant
	kwIn
	kwInsert
	kwInstall
	kwInto
	kwKey
	kwListen
	kwLoad
	kwLock
	kwMerge
	kwNext
	kwNo
	kwNotify
	kwOptimize
	kwOr
	kwPassword
	kwPragma
	kwPrepare
	kwRefresh
	kwReindex
	kwRelease
	kwRename
	kwRepair
	kwReplace
	kwReset
	kwReturning
	kwRevoke
	kwRole
	kwRollback
	kwSavepoint
	kwSelect
	kwSet
	kwShare
	kwShow
	kwStart
	kwStop
	kwTable
	kwTables
	kwTemporary
	kwTo
	kwTransaction
	kwTruncate
	kwUninstall
	kwUnlisten
	kwUnlock
	kwUpdate
	kwUpsert
	kwVacuum
	kwValue
	kwValues
	kwWith
	kwWork
	kwXA
	numKeywords
)

// keywordNames spells each keyword as it appears in kinds.
var keywordNames = [numKeywords]string{
	kwAbort: "ABORT", kwAlter: "ALTER", kwAnalyse: "ANALYSE", kwAnalyze: "ANALYZE", kwAutocommit: "AUTOCOMMIT",
	kwBegin: "BEGIN", kwCache: "CACHE", kwCall: "CALL", kwChange: "CHANGE", kwCheck: "CHECK",
	kwCheckpoint: "CHECKPOINT", kwCluster: "CLUSTER", kwComment: "COMMENT", kwCommit: "COMMIT", kwCopy: "COPY",
	kwCreate: "CREATE", kwDeclare: "DECLARE", kwDefault: "DEFAULT", kwDelete: "DELETE", kwDesc: "DESC",
	kwDescribe: "DESCRIBE", kwDo: "DO", kwDrop: "DROP", kwEnd: "END", kwExecute: "EXECUTE",
	kwExplain: "EXPLAIN", kwFlush: "FLUSH", kwFor: "FOR", kwFormat: "FORMAT", kwGrant: "GRANT",
	kwIn: "IN", kwInsert: "INSERT", kwInstall: "INSTALL", kwInto: "INTO", kwKey: "KEY",
	kwListen: "LISTEN", kwLoad: "LOAD", kwLock: "LOCK", kwMerge: "MERGE", kwNext: "NEXT",
	kwNo: "NO", kwNotify: "NOTIFY", kwOptimize: "OPTIMIZE", kwOr: "OR", kwPassword: "PASSWORD",
	kwPragma: "PRAGMA", kwPrepare: "PREPARE", kwRefresh: "REFRESH", kwReindex: "REINDEX",
	kwRelease: "RELEASE", kwRename: "RENAME", kwRepair: "REPAIR", kwReplace: "REPLACE", kwReset: "RESET",
	kwReturning: "RETURNING", kwRevoke: "REVOKE", kwRole: "ROLE", kwRollback: "ROLLBACK", kwSavepoint: "SAVEPOINT",
	kwSelect: "SELECT", kwSet: "SET", kwShare: "SHARE", kwShow: "SHOW", kwStart: "START",
	kwStop: "STOP", kwTable: "TABLE", kwTables: "TABLES", kwTemporary: "TEMPORARY", kwTo: "TO",
	kwTransaction: "TRANSACTION", kwTruncate: "TRUNCATE", kwUninstall: "UNINSTALL", kwUnlisten: "UNLISTEN", kwUnlock: "UNLOCK",
	kwUpdate: "UPDATE", kwUpsert: "UPSERT", kwVacuum: "VACUUM", kwValue: "VALUE", kwValues: "VALUES",
	kwWith: "WITH", kwWork: "WORK", kwXA: "XA",
}

var keywords = func() map[string]keyword {
	m := make(map[string]keyword, numKeywords)
	for k, s := range keywordNames {
		if s != "" {
			m[s] = keyword(k)
		}
	}
	return m
}()

// lookupKeyword returns the keyword w spells, in any case.
func lookupKeyword(w string) keyword {
	var up [16]byte
	if len(w) > len(up) {
		return kwNone
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	return keywords[string(up[:len(w)])]
}
