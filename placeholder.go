package aiodb

import (
	"database/sql/driver"
	"strconv"
	"strings"
)

// This file holds aiodb's one SQL lexer and the placeholder rewriter built on
// it; classify.go builds the statement classifier on the same lexer.
//
// The lexer follows the TARGET server's rules (sqlSyntax), because the server
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
//     comments alone: the SPEC recognises placeholders only in code. (LIKE
//     'a%%' still matches what LIKE 'a%' matches.)
//
// Mixing styles is an error, except that ? operators stay as they are in $N
// and %s style when the backend takes $N. A literal ? cannot be sent to a
// backend whose own placeholder is ? or ?N (MySQL, SQLite, ODBC): it would
// silently become a parameter, so it is an error.
//
// sql.Named arguments are not supported: rewrite.args rejects an argument
// with a name. pgx drops names silently and go-sql-driver/mysql rejects them,
// so aiodb refuses rather than guess what :name or @name should mean.

// sqlSyntax says how the TARGET server lexes SQL text.
type sqlSyntax struct {
	// dialect is PostgreSQL, MySQL, SQLite, or ODBC. ODBC means ANSI rules:
	// '' strings, "" identifiers, -- always a comment, non-nesting /* */,
	// {…} escape clauses, backticks and brackets are code.
	dialect            Dialect
	noBackslashEscapes bool // MySQL sql_mode NO_BACKSLASH_ESCAPES
	ansiQuotes         bool // MySQL sql_mode ANSI_QUOTES ("…" is an identifier)
}

// bindStyle is the placeholder form the backend DRIVER takes natively.
type bindStyle uint8

const (
	bindDollar    bindStyle = iota + 1 // $N  (pgx)
	bindQuestion                       // ?   (go-sql-driver/mysql, odbc): args reordered/duplicated
	bindQuestionN                      // ?N  (modernc sqlite)
)

// maxPlaceholder is the largest placeholder number accepted: the protocol
// limit of PostgreSQL and MySQL (a 16-bit parameter count).
const maxPlaceholder = 65535

// PlaceholderError describes a placeholder rewriting failure, found before
// anything is sent to the server; errors.Is(err, ErrPlaceholder) holds.
// Its message names the problem and never contains argument values.
type PlaceholderError struct {
	// Offset is the byte offset in the source query where the problem was
	// found, or -1 when the error is about the arguments as a whole (their
	// number, or a sql.Named argument).
	Offset int
	// Msg describes the problem.
	Msg string
}

// Error returns "aiodb: placeholder error at byte N: problem".
func (e *PlaceholderError) Error() string {
	if e.Offset < 0 {
		return "aiodb: placeholder error: " + e.Msg
	}
	return "aiodb: placeholder error at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap returns ErrPlaceholder.
func (e *PlaceholderError) Unwrap() error { return ErrPlaceholder }

// ---------------------------------------------------------------- lexer

// tokKind is the kind of a lexer token.
type tokKind uint8

const (
	tokEOF         tokKind = iota
	tokError               // lexing failed; lexer.err says why
	tokSpace               // a run of white space
	tokComment             // -- … , # … (MySQL) or /* … */
	tokExecOpen            // MySQL /*!, /*!NNNNN, /*M!, /*M!NNNNNN: what follows is code
	tokExecClose           // the */ that ends a MySQL executable comment
	tokString              // string literal, with its E prefix in PostgreSQL
	tokIdent               // quoted identifier: "…", `…`, […]
	tokDollarQuote         // PostgreSQL $tag$…$tag$
	tokWord                // keyword, identifier or number
	tokParam               // $ followed by digits
	tokQuestion            // ?, ?? or ? followed by digits
	tokPercent             // %s (not followed by an identifier byte: a%size is modulo), %% or a lone %
	tokVariable            // SQLite :name, @name, $name, #name
	tokPunct               // any other single byte
)

// token is one lexeme: src[start:end].
type token struct {
	kind       tokKind
	start, end int
}

// Byte classes for the lexer.
const (
	cWord   = 1 << iota // [A-Za-z0-9_\x80-\xff]: starts a word, continues a dollar-quote tag
	cLetter             // [A-Za-z_\x80-\xff]: starts a dollar-quote tag
	cIdent              // cWord or $: continues an identifier
	cDigit              // [0-9]
	cSpace              // space, \t, \n, \v, \f, \r
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= '0' && c <= '9':
			t[c] = cWord | cIdent | cDigit
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
			t[c] = cWord | cLetter | cIdent
		case c == '$':
			t[c] = cIdent
		case c == ' ', c >= '\t' && c <= '\r':
			t[c] = cSpace
		}
	}
	return t
}()

// isIdent reports whether c continues an identifier.
func isIdent(c byte) bool { return byteClass[c]&cIdent != 0 }

// lexer splits SQL text into tokens with the rules of one server syntax. It
// works on bytes: every byte that matters to SQL syntax is ASCII, so UTF-8
// text (valid or not) passes through as parts of words, literals or comments.
type lexer struct {
	src       string
	syn       sqlSyntax
	pos       int
	inExec    bool   // inside a MySQL executable comment
	execStart int    // where that comment began
	err       string // why the last tokError was returned
}

// next returns the next token. After a tokError or tokEOF it keeps
// returning tokEOF.
func (l *lexer) next() token {
	i := l.pos
	if i >= len(l.src) {
		if l.inExec {
			l.inExec = false
			l.err = "unterminated executable comment"
			return token{kind: tokError, start: l.execStart, end: l.execStart}
		}
		return token{kind: tokEOF, start: i, end: i}
	}
	kind, end, msg := l.scan(i)
	if msg != "" {
		l.pos = len(l.src)
		l.inExec = false
		l.err = msg
		return token{kind: tokError, start: i, end: i}
	}
	l.pos = end
	return token{kind: kind, start: i, end: end}
}

// scan lexes the token at s[i], returning its kind and end, or a message
// saying why it is unterminated.
func (l *lexer) scan(i int) (tokKind, int, string) {
	s, d := l.src, l.syn.dialect
	c := s[i]
	switch cl := byteClass[c]; {
	case cl&cSpace != 0:
		return tokSpace, span(s, i+1, cSpace), ""
	case cl&cWord != 0:
		return l.word(i)
	}
	switch c {
	case '\'':
		return quoted(s, i, i, tokString, '\'', d == MySQL && !l.syn.noBackslashEscapes)
	case '"':
		if d == MySQL && !l.syn.ansiQuotes {
			return quoted(s, i, i, tokString, '"', !l.syn.noBackslashEscapes)
		}
		return quoted(s, i, i, tokIdent, '"', false)
	case '`':
		if d == MySQL || d == SQLite {
			return quoted(s, i, i, tokIdent, '`', false)
		}
	case '[':
		if d == SQLite {
			return quoted(s, i, i, tokIdent, ']', false)
		}
	case '-':
		if l.lineComment(i) {
			return tokComment, l.endOfLine(i + 2), ""
		}
	case '#':
		if d == MySQL {
			return tokComment, l.endOfLine(i + 1), ""
		}
		if d == SQLite {
			return l.variable(i)
		}
	case '/':
		if i+1 < len(s) && s[i+1] == '*' {
			return l.blockComment(i)
		}
	case '*':
		if l.inExec && i+1 < len(s) && s[i+1] == '/' {
			l.inExec = false
			return tokExecClose, i + 2, ""
		}
	case '$':
		return l.dollar(i)
	case '?':
		if i+1 < len(s) && s[i+1] == '?' {
			return tokQuestion, i + 2, ""
		}
		return tokQuestion, span(s, i+1, cDigit), ""
	case '%':
		if i+1 < len(s) && (s[i+1] == '%' || s[i+1] == 's' && (i+2 == len(s) || !isIdent(s[i+2]))) {
			return tokPercent, i + 2, ""
		}
		return tokPercent, i + 1, ""
	case ':', '@':
		if d == SQLite {
			return l.variable(i)
		}
	}
	return tokPunct, i + 1, ""
}

// span returns the end of the run of bytes of class cl that starts at s[i].
func span(s string, i int, cl uint8) int {
	for i < len(s) && byteClass[s[i]]&cl != 0 {
		i++
	}
	return i
}

// word lexes a keyword, identifier or number. In PostgreSQL a lone E or e
// directly followed by a quote opens an escape string literal.
func (l *lexer) word(i int) (tokKind, int, string) {
	s := l.src
	j := span(s, i+1, cIdent)
	if j == i+1 && j < len(s) && s[j] == '\'' && s[i]|0x20 == 'e' && l.syn.dialect == PostgreSQL {
		return quoted(s, i, j, tokString, '\'', true)
	}
	return tokWord, j, ""
}

// quoted lexes a literal or quoted identifier that starts at s[start] and
// opens with the quote at s[open]. A doubled closing byte stands for itself
// (except for SQLite's [ ]); with backslash, a backslash escapes the next byte.
func quoted(s string, start, open int, kind tokKind, closer byte, backslash bool) (tokKind, int, string) {
	for j := open + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if backslash {
				j++
			}
		case closer:
			if closer != ']' && j+1 < len(s) && s[j+1] == closer {
				j++
				continue
			}
			return kind, j + 1, ""
		}
	}
	if kind == tokString {
		return kind, start, "unterminated string literal"
	}
	return kind, start, "unterminated quoted identifier"
}

// lineComment reports whether s[i] starts a -- comment. MySQL requires white
// space or a control character after the dashes (2--1 is arithmetic there).
func (l *lexer) lineComment(i int) bool {
	s := l.src
	if i+1 >= len(s) || s[i+1] != '-' {
		return false
	}
	if l.syn.dialect != MySQL || i+2 == len(s) {
		return true
	}
	c := s[i+2]
	return c <= ' ' || c == 0x7f
}

// endOfLine returns the end of a line comment whose body starts at s[i]: the
// next \n (PostgreSQL also stops at \r). The newline is not part of it.
func (l *lexer) endOfLine(i int) int {
	s := l.src
	for ; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' && l.syn.dialect == PostgreSQL {
			break
		}
	}
	return i
}

// blockComment lexes a /* comment at s[i]. PostgreSQL comments nest; MySQL
// /*! and /*M! comments are code, so only their opening is a token.
func (l *lexer) blockComment(i int) (tokKind, int, string) {
	s := l.src
	const unterminated = "unterminated block comment"
	switch l.syn.dialect {
	case MySQL:
		j := i + 2
		if j < len(s) && s[j] == 'M' {
			j++
		}
		if !l.inExec && j < len(s) && s[j] == '!' {
			l.inExec, l.execStart = true, i
			return tokExecOpen, span(s, j+1, cDigit), ""
		}
	case PostgreSQL:
		depth := 1
		for j := i + 2; j+1 < len(s); j++ {
			switch {
			case s[j] == '/' && s[j+1] == '*':
				depth++
				j++
			case s[j] == '*' && s[j+1] == '/':
				depth--
				j++
				if depth == 0 {
					return tokComment, j + 1, ""
				}
			}
		}
		return tokComment, i, unterminated
	}
	k := strings.Index(s[i+2:], "*/")
	if k < 0 {
		return tokComment, i, unterminated
	}
	return tokComment, i + 2 + k + 2, ""
}

// dollar lexes a token that starts with $ (a $ that continues an identifier
// is part of a word and never gets here): $N placeholders in every dialect,
// PostgreSQL dollar quotes, MySQL/ODBC identifiers and SQLite variables.
func (l *lexer) dollar(i int) (tokKind, int, string) {
	s := l.src
	j := i + 1
	if j >= len(s) {
		return tokPunct, j, ""
	}
	if byteClass[s[j]]&cDigit != 0 {
		return tokParam, span(s, j, cDigit), ""
	}
	switch l.syn.dialect {
	case PostgreSQL:
		k := j
		if byteClass[s[k]]&cLetter != 0 {
			k = span(s, k+1, cWord)
		}
		if k < len(s) && s[k] == '$' {
			delim := s[i : k+1]
			e := strings.Index(s[k+1:], delim)
			if e < 0 {
				return tokDollarQuote, i, "unterminated dollar-quoted string"
			}
			return tokDollarQuote, k + 1 + e + len(delim), ""
		}
	case SQLite:
		return l.variable(i)
	default:
		if isIdent(s[j]) {
			return tokWord, span(s, j, cIdent), ""
		}
	}
	return tokPunct, j, ""
}

// variable lexes a SQLite named parameter (:name, @name, $name, #name), or
// the lone punctuation byte when no name follows.
func (l *lexer) variable(i int) (tokKind, int, string) {
	j := span(l.src, i+1, cIdent)
	if j == i+1 {
		return tokPunct, j, ""
	}
	return tokVariable, j, ""
}

// ---------------------------------------------------------------- rewriter

// rewrite is the result of rewriting one query. It is immutable and shared
// by every goroutine that runs the query.
type rewrite struct {
	query    string // native text
	numInput int    // number of arguments the SOURCE query takes
	order    []int  // for bindQuestion: 0-based source arg index per emitted placeholder; nil when identity (args passed as-is)
	misread  bool   // placeholders in $N, ? or ?N style for a ? or ?N backend: see rewriteCache.argless
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

// newRewrite lexes query with syn and rewrites its placeholders to bind.
func newRewrite(query string, syn sqlSyntax, bind bindStyle) (*rewrite, error) {
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
func scanMarks(query string, syn sqlSyntax, marks []mark) ([]mark, [numMarkKinds]int, error) {
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
func pickStyle(first *[numMarkKinds]int, bind bindStyle) (srcStyle, error) {
	has := func(k markKind) bool { return first[k] >= 0 }
	// A ? that is not a placeholder can only be sent when placeholders are $N.
	literalQ := func(kinds ...markKind) error {
		if bind == bindDollar {
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
		if bind != bindDollar && has(mQ) {
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
		if has(mQN) && bind != bindDollar {
			return 0, mixed(mDollar, mQN, "$N and ?N")
		}
		return styleDollar, mixedQ("$N and ?")
	case has(mPctS):
		if has(mQN) && bind != bindDollar {
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
func emit(query string, marks []mark, style srcStyle, bind bindStyle, numInput int) *rewrite {
	w := emitter{src: query}
	seq := 0
	for _, m := range marks {
		switch {
		case style == styleDollar && m.kind == mDollar, style == styleQN && m.kind == mQN:
			if style == styleDollar && bind == bindDollar || style == styleQN && bind == bindQuestionN {
				continue
			}
			w.placeholder(m, bind, m.n)
		case style == styleQ && m.kind == mQ, style == stylePct && m.kind == mPctS:
			seq++
			if style == styleQ && bind == bindQuestion {
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
	r := &rewrite{query: w.finish(), numInput: numInput, misread: numInput > 0 && bind != bindDollar && style != stylePct}
	if w.order != nil && !identity(w.order, numInput) {
		r.order = w.order
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
func (w *emitter) placeholder(m mark, bind bindStyle, n int) {
	w.replace(m)
	p := w.prev()
	var num [24]byte
	out := num[:0]
	switch bind {
	case bindDollar:
		if isIdent(p) {
			out = append(out, ' ')
		}
		out = strconv.AppendInt(append(out, '$'), int64(n), 10)
	case bindQuestionN:
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

// finish returns the native query.
func (w *emitter) finish() string {
	if w.b.Cap() == 0 {
		return w.src
	}
	w.b.WriteString(w.src[w.last:])
	return w.b.String()
}

// args maps the caller's arguments to the backend's. The number of arguments
// must be numInput, and sql.Named arguments are refused (see the comment at
// the top of this file). With order set, it builds a new slice in
// placeholder order with Ordinal renumbered 1..n; otherwise it returns args
// unchanged without allocating. Errors wrap ErrPlaceholder, never
// driver.ErrBadConn.
func (r *rewrite) args(args []driver.NamedValue) ([]driver.NamedValue, error) {
	for i := range args {
		if args[i].Name != "" {
			return nil, &PlaceholderError{Offset: -1, Msg: "named argument " + strconv.Quote(args[i].Name) +
				" (sql.Named) is not supported: use $N, ? or %s placeholders with positional arguments"}
		}
	}
	if len(args) != r.numInput {
		return nil, &PlaceholderError{Offset: -1, Msg: "the query takes " + strconv.Itoa(r.numInput) +
			" argument(s) but " + strconv.Itoa(len(args)) + " were given"}
	}
	if r.order == nil {
		return args, nil
	}
	out := make([]driver.NamedValue, len(r.order))
	for i, k := range r.order {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: args[k].Value}
	}
	return out, nil
}

// ---------------------------------------------------------------- cache

// rewriteCache caches the rewrites of one connector (one syntax and bind
// style). Errors are cached too: they are as deterministic as rewrites.
type rewriteCache struct {
	q *queryCache[cachedRewrite]
}

// cachedRewrite is the outcome of newRewrite for one query.
type cachedRewrite struct {
	rw  *rewrite
	err error
}

// newRewriteCache returns a cache of at most size entries (at least 2).
func newRewriteCache(syn sqlSyntax, bind bindStyle, size int) *rewriteCache {
	return &rewriteCache{newQueryCache(size, func(query string) cachedRewrite {
		rw, err := newRewrite(query, syn, bind)
		return cachedRewrite{rw, err}
	})}
}

// argless checks a statement given no arguments, which is sent verbatim.
// When its placeholders are in $N, ? or ?N style and the backend's own are ?
// or ?N, the backend would misread them (SQLite takes $1 for a named
// parameter): it returns aiodb's count error instead. A backend that takes
// $N reads $N and ? itself ($1 in a CREATE FUNCTION body, the JSONB ?
// operator), and %s may be the modulo of a column named s: those pass.
func (c *rewriteCache) argless(query string) error {
	if !strings.ContainsAny(query, "$?") {
		return nil
	}
	rw, err := c.get(query)
	if err != nil || !rw.misread {
		return nil // not aiodb's to judge: the backend answers as it would without aiodb
	}
	_, err = rw.args(nil)
	return err
}

// get returns the rewrite of query, from the cache when it is there.
func (c *rewriteCache) get(query string) (*rewrite, error) {
	e := c.q.get(query)
	return e.rw, e.err
}
