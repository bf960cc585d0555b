package aiodb

import (
	"context"
	"log/slog"
	"strings"
)

// Logging is off unless Open is given Logger. Statements are logged at
// debug level by logHook, a Hook like any other: operation, query, node,
// route reason, retries, duration, rows affected, error; argument values
// only with LogArgs; URLs are always redacted.

// logHook is the statement log of Logger.
type logHook struct {
	log  *slog.Logger
	args bool // log argument values too (LogArgs)
}

// quiet reports whether the logger drops debug records in ctx.
func (h logHook) quiet(ctx context.Context) bool { return !h.log.Enabled(ctx, slog.LevelDebug) }

// Observe logs one statement at debug level.
func (h logHook) Observe(ctx context.Context, e *Event) {
	if h.quiet(ctx) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("op", e.Op.String()))
	if e.Query != "" {
		attrs = append(attrs, slog.String("query", e.Query))
	}
	if e.Node.URL != "" {
		attrs = append(attrs, slog.String("node", e.Node.URL))
	}
	if e.Reason != 0 {
		attrs = append(attrs, slog.String("reason", e.Reason.String()))
	}
	attrs = append(attrs, slog.Duration("took", e.Duration))
	if h.args {
		vals := make([]any, len(e.Args))
		for i, a := range e.Args {
			vals[i] = a.Value
		}
		attrs = append(attrs, slog.Any("args", vals))
	} else if e.Op != OpBegin && e.Op != OpCommit && e.Op != OpRollback {
		attrs = append(attrs, slog.Int("nargs", len(e.Args)))
	}
	if e.RowsAffected >= 0 {
		attrs = append(attrs, slog.Int64("rows", e.RowsAffected))
	}
	if len(e.Retries) > 0 {
		var b strings.Builder
		for i, r := range e.Retries {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(r.Node.URL + ": " + r.Err.Error())
		}
		attrs = append(attrs, slog.String("retries", b.String()))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.Any("err", e.Err))
	}
	h.log.LogAttrs(ctx, slog.LevelDebug, "aiodb: statement", attrs...)
}
