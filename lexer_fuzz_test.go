package aiodb

import (
	"errors"
	"testing"
)

// fuzzTargets are the syntax and bind pairs a connector can have (backend.go
// profileFor: the native pairs, plus ODBC binding ? over another syntax).
var fuzzTargets = []struct {
	syn  sqlSyntax
	bind bindStyle
}{
	{synPG, bindDollar}, {synMy, bindQuestion}, {synMyNBE, bindQuestion}, {synMyANSI, bindQuestion},
	{synMyBoth, bindQuestion}, {synLite, bindQuestionN}, {synODBC, bindQuestion},
	{synPG, bindQuestion}, {synLite, bindQuestion},
}

// FuzzRewrite checks, for any query and target: no panic; errors are
// *PlaceholderErrors inside the query; and on success the properties of
// checkRewriteProperties.
func FuzzRewrite(f *testing.F) {
	for _, tc := range rewriteCases {
		bind := tc.bind
		if bind == 0 {
			bind = bindFor[tc.syn.dialect]
		}
		for i, tg := range fuzzTargets {
			if tg.syn == tc.syn && tg.bind == bind {
				f.Add(tc.query, uint8(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, query string, sel uint8) {
		tg := fuzzTargets[int(sel)%len(fuzzTargets)]
		if info := classify(query, tg.syn); info.kind == "" || info.read && info.why != "" {
			t.Fatalf("classify(%q) = %+v", query, info)
		}
		r, err := newRewrite(query, tg.syn, tg.bind)
		if err != nil {
			var pe *PlaceholderError
			if !errors.As(err, &pe) || !errors.Is(err, ErrPlaceholder) {
				t.Fatalf("error %v is not a *PlaceholderError", err)
			}
			if pe.Offset < 0 || pe.Offset > len(query) {
				t.Fatalf("offset %d outside the query (len %d): %v", pe.Offset, len(query), err)
			}
			return
		}
		checkRewriteProperties(t, query, tg.syn, tg.bind, r)
	})
}

// lexed is a token with its text.
type lexed struct {
	kind tokKind
	text string
}

// lexAll lexes q, failing the test on a lexing error.
func lexAll(t *testing.T, q string, syn sqlSyntax) []lexed {
	t.Helper()
	var out []lexed
	l := lexer{src: q, syn: syn}
	for {
		tok := l.next()
		switch tok.kind {
		case tokEOF:
			return out
		case tokError:
			t.Fatalf("lexing %q: %s at byte %d", q, l.err, tok.start)
		}
		if tok.end <= tok.start || tok.start < 0 || tok.end > len(q) {
			t.Fatalf("lexing %q: bad token %+v", q, tok)
		}
		out = append(out, lexed{tok.kind, q[tok.start:tok.end]})
	}
}

// checkRewriteProperties checks a successful rewrite r of query:
//   - the output lexes, and every literal, quoted identifier, comment and
//     dollar-quoted body of the input appears in it unchanged, in order;
//   - the output holds exactly the native placeholders the rewrite says:
//     $1…$numInput or ?1…?numInput each at least once, or one ? per
//     argument the backend receives;
//   - when the query takes arguments, rewriting the output again with the
//     same syntax and bind style is the identity (unless unescaping %%s
//     produced a %s, which the second pass rightly takes for a placeholder).
func checkRewriteProperties(t *testing.T, query string, syn sqlSyntax, bind bindStyle, r *rewrite) {
	t.Helper()
	in, out := lexAll(t, query, syn), lexAll(t, r.query, syn)
	kept := func(toks []lexed) (s []lexed) {
		for _, tok := range toks {
			switch tok.kind {
			case tokString, tokIdent, tokComment, tokDollarQuote, tokExecOpen, tokExecClose:
				s = append(s, tok)
			}
		}
		return s
	}
	ki, ko := kept(in), kept(out)
	if len(ki) != len(ko) {
		t.Fatalf("%q -> %q: %d literal/comment tokens, want %d", query, r.query, len(ko), len(ki))
	}
	for i := range ki {
		if ki[i] != ko[i] {
			t.Fatalf("%q -> %q: token %d is %q, want %q", query, r.query, i, ko[i].text, ki[i].text)
		}
	}

	nargs := r.numInput
	if r.order != nil {
		nargs = len(r.order)
	}
	used := map[int]bool{}
	question, pctS := 0, false
	for _, tok := range out {
		switch {
		case tok.kind == tokParam && bind == bindDollar:
			used[number(tok.text[1:])] = true
		case tok.kind == tokQuestion && bind == bindQuestionN:
			if len(tok.text) < 2 || tok.text[1] == '?' {
				t.Fatalf("%q -> %q: %q in ?N output", query, r.query, tok.text)
			}
			used[number(tok.text[1:])] = true
		case tok.kind == tokQuestion && bind == bindQuestion:
			if tok.text != "?" {
				t.Fatalf("%q -> %q: %q in ? output", query, r.query, tok.text)
			}
			question++
		case tok.kind == tokPercent && tok.text == "%s":
			pctS = true
		case tok.kind == tokVariable:
			t.Fatalf("%q -> %q: SQLite variable %q in output", query, r.query, tok.text)
		}
	}
	switch bind {
	case bindQuestion:
		if question != nargs {
			t.Fatalf("%q -> %q: %d placeholders, want %d", query, r.query, question, nargs)
		}
		for _, k := range r.order {
			if k < 0 || k >= r.numInput {
				t.Fatalf("%q: order %v out of range", query, r.order)
			}
		}
	default:
		if r.order != nil {
			t.Fatalf("%q: order %v for bind %d", query, r.order, bind)
		}
		if len(used) != r.numInput {
			t.Fatalf("%q -> %q: %d distinct placeholders, want %d", query, r.query, len(used), r.numInput)
		}
		for n := 1; n <= r.numInput; n++ {
			if !used[n] {
				t.Fatalf("%q -> %q: placeholder %d missing", query, r.query, n)
			}
		}
	}

	if r.numInput == 0 || pctS {
		return
	}
	again, err := newRewrite(r.query, syn, bind)
	if err != nil {
		t.Fatalf("%q -> %q: rewriting again: %v", query, r.query, err)
	}
	if again.query != r.query || again.numInput != nargs || again.order != nil {
		t.Fatalf("%q -> %q: rewriting again gives %q (numInput %d, order %v), want identity with numInput %d",
			query, r.query, again.query, again.numInput, again.order, nargs)
	}
}
