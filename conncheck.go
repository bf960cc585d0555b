package aiodb

import "github.com/jackc/pgx/v5/stdlib"

// serverClosed reports whether an idle PostgreSQL connection has something
// to read. The server writes to an idle connection unasked when it
// terminates its backend (pg_terminate_backend, shutdown, idle timeout): a
// FATAL message, then EOF. pgx pings a pooled connection only after a
// second of idleness, so without this check the next statement would fail
// with that FATAL error instead of running on a fresh connection. Anything
// else waiting (a NOTIFY) also retires the connection, which is safe. It
// runs each time database/sql reuses a pooled connection, so it peeks with
// one non-blocking system call and allocates nothing after the first time.
func (b *bconn) serverClosed() bool {
	if b.peek == nil {
		pc, ok := b.Conn.(*stdlib.Conn)
		if !ok {
			return false
		}
		b.peek = newSocketPeek(pc.Conn().PgConn().Conn())
	}
	return b.peek.pending()
}
