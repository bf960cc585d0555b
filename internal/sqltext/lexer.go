package sqltext

import "strings"

// This file holds aiodb's one SQL lexer; rewrite.go builds the placeholder
// rewriter on it and classify.go the statement classifier.

// Syntax says how the TARGET server lexes SQL text.
type Syntax struct {
	// Dialect is PostgreSQL, MySQL, SQLite, or ODBC. ODBC means ANSI rules:
	// '' strings, "" identifiers, -- always a comment, non-nesting /* */,
	// {…} escape clauses, backticks and brackets are code.
	Dialect            Dialect
	NoBackslashEscapes bool // MySQL sql_mode NO_BACKSLASH_ESCAPES
	ANSIQuotes         bool // MySQL sql_mode ANSI_QUOTES ("…" is an identifier)
}

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
	syn       Syntax
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
	s, d := l.src, l.syn.Dialect
	c := s[i]
	switch cl := byteClass[c]; {
	case cl&cSpace != 0:
		return tokSpace, span(s, i+1, cSpace), ""
	case cl&cWord != 0:
		return l.word(i)
	}
	switch c {
	case '\'':
		return quoted(s, i, i, tokString, '\'', d == MySQL && !l.syn.NoBackslashEscapes)
	case '"':
		if d == MySQL && !l.syn.ANSIQuotes {
			return quoted(s, i, i, tokString, '"', !l.syn.NoBackslashEscapes)
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
	if j == i+1 && j < len(s) && s[j] == '\'' && s[i]|0x20 == 'e' && l.syn.Dialect == PostgreSQL {
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
	if l.syn.Dialect != MySQL || i+2 == len(s) {
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
		if s[i] == '\n' || s[i] == '\r' && l.syn.Dialect == PostgreSQL {
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
	switch l.syn.Dialect {
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
	switch l.syn.Dialect {
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
