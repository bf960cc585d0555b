package aiodb

import (
	"database/sql/driver"
	"slices"

	"github.com/aiodb/aiodb/internal/sqltext"
)

// Explanation is what aiodb does with one statement before sending it: the
// text the backend driver receives, the order in which it receives the
// arguments, and how routing classifies the statement. [Explain] and
// [Config.Explain] make one without connecting to anything.
type Explanation struct {
	// Dialect is the dialect the statement was explained for.
	Dialect Dialect
	// Query is the statement as the backend driver receives it: its
	// placeholders rewritten to the driver's native form.
	Query string
	// NumArgs is the number of arguments the statement takes.
	NumArgs int
	// ArgOrder has one entry per parameter the backend receives, in order:
	// the 0-based index of the caller's argument bound to it. It differs
	// from 0, 1, 2, … when a ? backend receives $N placeholders that are
	// reused or out of order ($2, $1, $1 becomes ?, ?, ? with order 1, 0, 0).
	ArgOrder []int
	// Kind says what the statement is, for people: "SELECT", "WITH … DELETE",
	// "SELECT … FOR UPDATE", "multiple statements", "unknown statement", ….
	Kind string
	// Read reports that the statement is provably read-only: it may run on a
	// replica. Anything the classifier cannot prove a read is a write.
	Read bool
	// Why says, for a statement that is not Read, why it counts as a write.
	Why string
	// TxControl reports a transaction control statement (BEGIN, COMMIT,
	// SAVEPOINT, …), refused while aiodb manages a transaction ([ErrTxControl]).
	TxControl bool
	// ImplicitCommit reports a MySQL/MariaDB statement that implicitly commits,
	// refused inside a nested transaction ([ErrImplicitCommit]).
	ImplicitCommit bool

	rw *sqltext.Rewrite
}

// Explain explains query for a dialect with its default options (see
// [Config.Explain] for a DSN's own, such as aiodb_sql_mode). When the
// placeholders cannot be rewritten it returns the classification with an
// empty Query and an error wrapping [ErrPlaceholder].
func Explain(d Dialect, query string) (*Explanation, error) {
	return (&Config{Dialect: d, Settings: defaultSettings()}).Explain(query)
}

// Explain explains query as a *sql.DB opened with this DSN would run it:
// same lexing rules (aiodb_sql_mode, aiodb_odbc_dialect), same placeholder
// rewriting, same classification. It does not connect. When the
// placeholders cannot be rewritten it returns the classification with an
// empty Query and an error wrapping [ErrPlaceholder].
func (c *Config) Explain(query string) (*Explanation, error) {
	p := profileFor(c)
	info := sqltext.Classify(query, p.Syntax)
	e := &Explanation{Dialect: c.Dialect, Kind: info.Kind, Read: info.Read, Why: info.Why,
		TxControl: info.TxControl, ImplicitCommit: info.ImplicitCommit}
	rw, err := sqltext.NewRewrite(query, p.Syntax, p.Bind)
	if err != nil {
		return e, err
	}
	e.rw, e.Query, e.NumArgs = rw, rw.Query, rw.NumInput
	e.ArgOrder = slices.Clone(rw.Order)
	if e.ArgOrder == nil {
		for i := range rw.NumInput {
			e.ArgOrder = append(e.ArgOrder, i)
		}
	}
	return e, nil
}

// Class is how routing treats the statement: "read" (may run on a replica),
// "write" (runs on the primary; refused in a replica context) or "unknown"
// (not recognised, so treated as a write).
func (e *Explanation) Class() string {
	switch {
	case e.Read:
		return "read"
	case e.Kind == sqltext.UnknownStmt:
		return "unknown"
	}
	return "write"
}

// Bind returns args in the order the backend receives them (see ArgOrder).
// A wrong number of arguments is an error wrapping [ErrPlaceholder], as it
// is when the statement runs; so is Bind of an Explanation whose rewrite
// failed.
func (e *Explanation) Bind(args ...any) ([]any, error) {
	if e.rw == nil {
		return nil, &PlaceholderError{Offset: -1, Msg: "the statement's placeholders could not be rewritten"}
	}
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	bound, err := e.rw.Args(named)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(bound))
	for i, nv := range bound {
		out[i] = nv.Value
	}
	return out, nil
}
