package aiodb

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"time"
)

// Logging is off unless Open is given WithLogger. Statements are logged at
// debug level with their duration and node; argument values only with
// WithLogArgs; URLs are always redacted.

// since returns the start time of a statement, or the zero time when nothing
// will be logged, so the hot path does not read the clock.
func (c *connector) since() time.Time {
	if c.log == nil {
		return time.Time{}
	}
	return time.Now()
}

// logStmt logs one statement at debug level. A backend's driver.ErrSkip is
// not logged: nothing ran, and database/sql runs the statement again through
// a prepared statement, which is logged then (op "stmt.exec", "stmt.query").
func (c *connector) logStmt(ctx context.Context, op, query string, args []driver.NamedValue, b *bconn, start time.Time, err error) {
	if c.log == nil || err == driver.ErrSkip || !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", op), slog.String("query", query), slog.String("node", b.node.URL),
		slog.Duration("took", time.Since(start)),
	}
	if c.logArgs {
		vals := make([]any, len(args))
		for i, a := range args {
			vals[i] = a.Value
		}
		attrs = append(attrs, slog.Any("args", vals))
	} else {
		attrs = append(attrs, slog.Int("nargs", len(args)))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "aiodb: statement", attrs...)
}
