package aiodb

import (
	"fmt"
	"strings"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// Dialect is the SQL dialect of a node: which backend driver serves it, how
// its SQL is lexed and which placeholder form it takes natively. Its String
// method returns "postgres", "mysql", "sqlite" or "odbc".
type Dialect = sqltext.Dialect

// The dialects aiodb serves. Every node of one DSN has the same dialect.
const (
	// PostgreSQL is served by github.com/jackc/pgx/v5/stdlib; native placeholders are $N.
	PostgreSQL = sqltext.PostgreSQL
	// MySQL (and MariaDB) is served by github.com/go-sql-driver/mysql; native placeholders are ?.
	MySQL = sqltext.MySQL
	// SQLite is served by modernc.org/sqlite; native placeholders are ?N.
	SQLite = sqltext.SQLite
	// ODBC is served by github.com/alexbrainman/odbc (build tag odbc); native placeholders are ?.
	ODBC = sqltext.ODBC
)

// ParseDialect returns the dialect a name or URL scheme stands for, in any
// case: "postgres", "postgresql", "pgx", "mysql", "mariadb", "sqlite",
// "sqlite3", "odbc" and the other schemes ParseDSN accepts. An unknown name
// is an error wrapping ErrBadDSN.
func ParseDialect(name string) (Dialect, error) {
	if d, ok := schemes[strings.ToLower(name)]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("%w: unknown dialect %q (want one of %s)", ErrBadDSN, name, strings.Join(sortedKeys(schemes), ", "))
}
