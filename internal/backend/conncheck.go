package backend

import (
	"database/sql/driver"

	"github.com/jackc/pgx/v5/stdlib"
)

// IdleCheck is the check of one connection; its zero value is ready.
type IdleCheck struct {
	peek *socketPeek // made on first use
}

// ServerClosed reports whether an idle PostgreSQL connection has something
// to read. The server writes to an idle connection unasked when it
// terminates its backend (pg_terminate_backend, shutdown, idle timeout): a
// FATAL message, then EOF. pgx pings a pooled connection only after a
// second of idleness, so without this check the next statement would fail
// with that FATAL error instead of running on a fresh connection. Anything
// else waiting (a NOTIFY) also retires the connection, which is safe. It
// runs each time database/sql reuses a pooled connection, so it peeks with
// one non-blocking system call and allocates nothing after the first time.
func (ic *IdleCheck) ServerClosed(c driver.Conn) bool {
	if ic.peek == nil {
		pc, ok := c.(*stdlib.Conn)
		if !ok {
			return false
		}
		ic.peek = newSocketPeek(pc.Conn().PgConn().Conn())
	}
	return ic.peek.pending()
}
