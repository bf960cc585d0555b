package sqltext

// Dialect is the SQL dialect of a node: which backend driver serves it, how
// its SQL is lexed and which placeholder form it takes natively.
type Dialect uint8

// The dialects aiodb serves. Every node of one DSN has the same dialect.
const (
	// PostgreSQL is served by github.com/jackc/pgx/v5/stdlib; native placeholders are $N.
	PostgreSQL Dialect = iota + 1
	// MySQL (and MariaDB) is served by github.com/go-sql-driver/mysql; native placeholders are ?.
	MySQL
	// SQLite is served by modernc.org/sqlite; native placeholders are ?N.
	SQLite
	// ODBC is served by github.com/alexbrainman/odbc (build tag odbc); native placeholders are ?.
	ODBC
)

// String returns the dialect's name: "postgres", "mysql", "sqlite" or "odbc".
func (d Dialect) String() string {
	switch d {
	case PostgreSQL:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	case ODBC:
		return "odbc"
	}
	return "unknown"
}
