package sqltext

import (
	"database/sql/driver"
	"strconv"
	"strings"
)

// This file holds the placeholder rewriter, built on the lexer of lexer.go;
// classify.go builds the statement classifier on the same lexer.
//
// The lexer follows the TARGET server's rules (Syntax), because the server
// decides what is a literal, a quoted identifier or a comment. Placeholders are
// recognised only in code, i.e. outside those tokens, in one of three source
// styles chosen per query from the text itself:
//
//   - $N: numbered from 1; reuse ($1, $1) and reordering ($2, $1) are allowed.
//     A $ that continues an identifier (a$1) is not a placeholder. In $N
//     style a ? is an operator (PostgreSQL JSONB ?, ?| and ?&), kept as is.
//   - ?: sequential; ?? stands for one literal ? (the JSONB operators again).
//     ?N (numbered, as SQLite writes it) is accepted as a numbered style of
//     its own; mixing ? and ?N is an error.
//   - %s: sequential, psycopg style; %% stands for one literal %, any other %
//     in code is an error. A %s glued to a following identifier (a%size) is
//     the modulo operator, not a placeholder. Unlike psycopg, which formats
//     the whole text, aiodb leaves %s and %% inside literals, identifiers and
//     comments alone: placeholders are recognised only in code. (LIKE
//     'a%%' still matches what LIKE 'a%' matches.)
//
// Mixing styles is an error, except that ? operators stay as they are in $N
// and %s style when the backend takes $N. A literal ? cannot be sent to a
// backend whose own placeholder is ? or ?N (MySQL, SQLite, ODBC): it would
// silently become a parameter, so it is an error.
//
// sql.Named arguments are not supported: Rewrite.Args rejects an argument
// with a name. pgx drops names silently and go-sql-driver/mysql rejects them,
// so aiodb refuses rather than guess what :name or @name should mean.

// BindStyle is the placeholder form the backend DRIVER takes natively.
type BindStyle uint8

const (
	BindDollar    BindStyle = iota + 1 // $N  (pgx)
	BindQuestion                       // ?   (go-sql-driver/mysql, odbc): args reordered/duplicated
	BindQuestionN                      // ?N  (modernc sqlite)
)

// maxPlaceholder is the largest placeholder number accepted: the protocol
// limit of PostgreSQL and MySQL (a 16-bit parameter count).
const maxPlaceholder = 65535

// Rewrite is the result of rewriting one query. It is immutable and shared
// by every goroutine that runs the query.
type Rewrite struct {
	Query    string // native text
	NumInput int    // number of arguments the SOURCE query takes
	Order    []int  // for BindQuestion: 0-based source arg index per emitted placeholder; nil when identity (args passed as-is)
	Misread  bool   // placeholders in $N, ? or ?N style for a ? or ?N backend: see RewriteCache.Argless
}

// markKind classifies a placeholder-like token of the source query.
type markKind uint8

const (
	mDollar markKind = iota // $N
	mQ                      // ?
	mQQ                     // ??
	mQN                     // ?N
	mPctS                   // %s
	mPctPct                 // %%
	mPct                    // any other %
	numMarkKinds
)

// mark is one placeholder-like token: src[start:end], with its number n for
// $N and ?N (maxPlaceholder+1 when too large).
type mark struct {
	kind       markKind
	start, end int
	n          int
}

// srcStyle is the placeholder style a source query is written in.
type srcStyle uint8

const (
	styleNone   srcStyle = iota // no placeholders
	styleDollar                 // $N
	styleQ                      // ?
	styleQN                     // ?N
	stylePct                    // %s
)

// NewRewrite lexes query with syn and rewrites its placeholders to bind.
func NewRewrite(query string, syn Syntax, bind BindStyle) (*Rewrite, error) {
	var buf [16]mark
	marks, first, err := scanMarks(query, syn, buf[:0])
	if err != nil {
		return nil, err
	}
	style, err := pickStyle(&first, bind)
	if err != nil {
		return nil, err
	}
	numInput := 0
	if style == styleDollar || style == styleQN {
		if numInput, err = checkNumbers(marks, style); err != nil {
			return nil, err
		}
	}
	return emit(query, marks, style, bind, numInput), nil
}

// scanMarks lexes query and returns its placeholder-like tokens, with the
// offset of the first token of each kind (-1 for none).
func scanMarks(query string, syn Syntax, marks []mark) ([]mark, [numMarkKinds]int, error) {
	var first [numMarkKinds]int
	for k := range first {
		first[k] = -1
	}
	l := lexer{src: query, syn: syn}
	for {
		t := l.next()
		m := mark{start: t.start, end: t.end}
		switch t.kind {
		case tokEOF:
			return marks, first, nil
		case tokError:
			return nil, first, &PlaceholderError{Offset: t.start, Msg: l.err}
		case tokVariable:
			return nil, first, &PlaceholderError{Offset: t.start, Msg: "SQLite would bind this :name/@name/$name/#name as a parameter; aiodb supports only $N, ? and %s placeholders"}
		case tokParam:
			m.kind, m.n = mDollar, number(query[t.start+1:t.end])
		case tokQuestion:
			switch {
			case t.end-t.start == 1:
				m.kind = mQ
			case query[t.start+1] == '?':
				m.kind = mQQ
			default:
				m.kind, m.n = mQN, number(query[t.start+1:t.end])
			}
		case tokPercent:
			switch {
			case t.end-t.start == 1:
				m.kind = mPct
			case query[t.start+1] == 's':
				m.kind = mPctS
			default:
				m.kind = mPctPct
			}
		default:
			continue
		}
		if first[m.kind] < 0 {
			first[m.kind] = m.start
		}
		marks = append(marks, m)
	}
}

// number parses the digits of a placeholder, returning maxPlaceholder+1 for
// any number that is too large (never wrapping around).
func number(digits string) int {
	n := 0
	for i := 0; i < len(digits); i++ {
		n = n*10 + int(digits[i]-'0')
		if n > maxPlaceholder {
			return maxPlaceholder + 1
		}
	}
	return n
}

// pickStyle decides the source style from the first offset of each mark
// kind, or reports mixed styles, a lone % or a literal ? the backend would
// take for a placeholder.
func pickStyle(first *[numMarkKinds]int, bind BindStyle) (srcStyle, error) {
	has := func(k markKind) bool { return first[k] >= 0 }
	// A ? that is not a placeholder can only be sent when placeholders are $N.
	literalQ := func(kinds ...markKind) error {
		if bind == BindDollar {
			return nil
		}
		for _, k := range kinds {
			if has(k) {
				return &PlaceholderError{Offset: first[k], Msg: "a literal ? cannot be sent to this backend: its driver would take it for a placeholder"}
			}
		}
		return nil
	}
	// A ? beside $N or %s placeholders is a placeholder of another style to a
	// backend whose own placeholder is ?: its driver cannot take it for anything else.
	mixedQ := func(what string) error {
		if bind != BindDollar && has(mQ) {
			return &PlaceholderError{Offset: first[mQ], Msg: "mixed placeholder styles (" + what + "): this backend's driver takes every ? for a placeholder"}
		}
		return literalQ(mQQ)
	}
	mixed := func(a, b markKind, what string) error {
		return &PlaceholderError{Offset: max(first[a], first[b]), Msg: "mixed placeholder styles (" + what + ")"}
	}
	switch {
	case has(mDollar):
		if has(mPctS) {
			return 0, mixed(mDollar, mPctS, "$N and %s")
		}
		if has(mQN) && bind != BindDollar {
			return 0, mixed(mDollar, mQN, "$N and ?N")
		}
		return styleDollar, mixedQ("$N and ?")
	case has(mPctS):
		if has(mQN) && bind != BindDollar {
			return 0, mixed(mPctS, mQN, "%s and ?N")
		}
		if has(mPct) {
			return 0, &PlaceholderError{Offset: first[mPct], Msg: "lone % in %s style (write %% for a literal %)"}
		}
		return stylePct, mixedQ("%s and ?")
	case has(mQN):
		if has(mQ) {
			return 0, mixed(mQ, mQN, "? and ?N")
		}
		return styleQN, literalQ(mQQ)
	case has(mQ) || has(mQQ):
		return styleQ, literalQ(mQQ)
	}
	return styleNone, nil
}

// checkNumbers validates the numbers of a numbered style: none is 0 or too
// large, and every argument from 1 to the largest number is used. It
// returns the number of arguments the query takes.
func checkNumbers(marks []mark, style srcStyle) (int, error) {
	kind, sigil := mDollar, "$"
	if style == styleQN {
		kind, sigil = mQN, "?"
	}
	top := 0
	for _, m := range marks {
		if m.kind != kind {
			continue
		}
		switch {
		case m.n == 0:
			return 0, &PlaceholderError{Offset: m.start, Msg: "placeholder " + sigil + "0: placeholders are numbered from 1"}
		case m.n > maxPlaceholder:
			return 0, &PlaceholderError{Offset: m.start, Msg: "placeholder number too large (the limit is " + strconv.Itoa(maxPlaceholder) + ")"}
		}
		top = max(top, m.n)
	}
	var small [4]uint64
	used := small[:]
	if words := top/64 + 1; words > len(used) {
		used = make([]uint64, words)
	}
	for _, m := range marks {
		if m.kind == kind {
			used[m.n/64] |= 1 << (m.n % 64)
		}
	}
	for n := 1; n <= top; n++ {
		if used[n/64]&(1<<(n%64)) != 0 {
			continue
		}
		for _, m := range marks { // report the first placeholder past the gap
			if m.kind == kind && m.n > n {
				return 0, &PlaceholderError{Offset: m.start, Msg: "unused argument: " + sigil + strconv.Itoa(n) + " does not appear but " + sigil + strconv.Itoa(m.n) + " does"}
			}
		}
	}
	return top, nil
}

// emit writes the native query. Placeholders already in the native form are
// kept byte for byte, so a query that needs no change is returned as is
// (without allocating).
func emit(query string, marks []mark, style srcStyle, bind BindStyle, numInput int) *Rewrite {
	w := emitter{src: query}
	seq := 0
	for _, m := range marks {
		switch {
		case style == styleDollar && m.kind == mDollar, style == styleQN && m.kind == mQN:
			if style == styleDollar && bind == BindDollar || style == styleQN && bind == BindQuestionN {
				continue
			}
			w.placeholder(m, bind, m.n)
		case style == styleQ && m.kind == mQ, style == stylePct && m.kind == mPctS:
			seq++
			if style == styleQ && bind == BindQuestion {
				continue
			}
			w.placeholder(m, bind, seq)
		case (style == styleQ || style == styleQN) && m.kind == mQQ:
			w.literal(m, "?")
		case style == stylePct && m.kind == mPctPct:
			w.literal(m, "%")
		}
	}
	if style == styleQ || style == stylePct {
		numInput = seq
	}
	r := &Rewrite{Query: w.query(), NumInput: numInput, Misread: numInput > 0 && bind != BindDollar && style != stylePct}
	if w.order != nil && !identity(w.order, numInput) {
		r.Order = w.order
	}
	return r
}

// identity reports whether order passes numInput arguments as they are.
func identity(order []int, numInput int) bool {
	if len(order) != numInput {
		return false
	}
	for i, k := range order {
		if k != i {
			return false
		}
	}
	return true
}

// emitter builds the native query: src up to last is already written to b
// (nothing is written until the first change).
type emitter struct {
	src   string
	b     strings.Builder
	last  int
	order []int
}

// replace writes the source up to m and prepares to replace m.
func (w *emitter) replace(m mark) {
	if w.b.Cap() == 0 {
		w.b.Grow(len(w.src) + len(w.src)/8 + 16)
	}
	w.b.WriteString(w.src[w.last:m.start])
	w.last = m.end
}

// prev returns the last byte written, or 0.
func (w *emitter) prev() byte {
	if s := w.b.String(); s != "" {
		return s[len(s)-1]
	}
	return 0
}

// placeholder replaces m with native placeholder number n. A space keeps it
// from gluing to a neighbour: $1 after an identifier byte would continue the
// identifier, ?? would read as an escape, and a following identifier byte
// would extend the number ($1AND).
func (w *emitter) placeholder(m mark, bind BindStyle, n int) {
	w.replace(m)
	p := w.prev()
	var num [24]byte
	out := num[:0]
	switch bind {
	case BindDollar:
		if isIdent(p) {
			out = append(out, ' ')
		}
		out = strconv.AppendInt(append(out, '$'), int64(n), 10)
	case BindQuestionN:
		out = strconv.AppendInt(append(out, '?'), int64(n), 10)
	default:
		if p == '?' {
			out = append(out, ' ')
		}
		out = append(out, '?')
		w.order = append(w.order, n-1)
	}
	if m.end < len(w.src) && isIdent(w.src[m.end]) {
		out = append(out, ' ')
	}
	w.b.Write(out)
}

// literal replaces the escape m (?? or %%) with the byte it stands for. A
// space keeps a literal ? from gluing to a following digit (?1 would read
// as a numbered placeholder).
func (w *emitter) literal(m mark, s string) {
	w.replace(m)
	w.b.WriteString(s)
	if s == "?" && m.end < len(w.src) && byteClass[w.src[m.end]]&cDigit != 0 {
		w.b.WriteByte(' ')
	}
}

// query returns the native query.
func (w *emitter) query() string {
	if w.b.Cap() == 0 {
		return w.src
	}
	w.b.WriteString(w.src[w.last:])
	return w.b.String()
}

// Args maps the caller's arguments to the backend's. The number of arguments
// must be numInput, and sql.Named arguments are refused (see the comment at
// the top of this file). With order set, it builds a new slice in
// placeholder order with Ordinal renumbered 1..n; otherwise it returns args
// unchanged without allocating. Errors wrap ErrPlaceholder, never
// driver.ErrBadConn.
func (r *Rewrite) Args(args []driver.NamedValue) ([]driver.NamedValue, error) {
	for i := range args {
		if args[i].Name != "" {
			return nil, &PlaceholderError{Offset: -1, Msg: "named argument " + strconv.Quote(args[i].Name) +
				" (sql.Named) is not supported: use $N, ? or %s placeholders with positional arguments"}
		}
	}
	if len(args) != r.NumInput {
		return nil, &PlaceholderError{Offset: -1, Msg: "the query takes " + strconv.Itoa(r.NumInput) +
			" argument(s) but " + strconv.Itoa(len(args)) + " were given"}
	}
	if r.Order == nil {
		return args, nil
	}
	out := make([]driver.NamedValue, len(r.Order))
	for i, k := range r.Order {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: args[k].Value}
	}
	return out, nil
}

// RewriteCache caches the rewrites of one connector (one syntax and bind
// style). Errors are cached too: they are as deterministic as rewrites.
type RewriteCache struct {
	q *Cache[cachedRewrite]
}

// cachedRewrite is the outcome of NewRewrite for one query.
type cachedRewrite struct {
	rw  *Rewrite
	err error
}

// NewRewriteCache returns a cache of at most size entries (at least 2).
func NewRewriteCache(syn Syntax, bind BindStyle, size int) *RewriteCache {
	return &RewriteCache{NewCache(size, func(query string) cachedRewrite {
		rw, err := NewRewrite(query, syn, bind)
		return cachedRewrite{rw, err}
	})}
}

// Argless checks a statement given no arguments, which is sent verbatim.
// When its placeholders are in $N, ? or ?N style and the backend's own are ?
// or ?N, the backend would misread them (SQLite takes $1 for a named
// parameter): it returns aiodb's count error instead. A backend that takes
// $N reads $N and ? itself ($1 in a CREATE FUNCTION body, the JSONB ?
// operator), and %s may be the modulo of a column named s: those pass.
func (c *RewriteCache) Argless(query string) error {
	if !strings.ContainsAny(query, "$?") {
		return nil
	}
	rw, err := c.Get(query)
	if err != nil || !rw.Misread {
		return nil // not aiodb's to judge: the backend answers as it would without aiodb
	}
	_, err = rw.Args(nil)
	return err
}

// Get returns the rewrite of query, from the cache when it is there.
func (c *RewriteCache) Get(query string) (*Rewrite, error) {
	e := c.q.Get(query)
	return e.rw, e.err
}
