package sqltext

import (
	"errors"
	"testing"
)

// fuzzTargets are the syntax and bind pairs a connector can have (backend.go
// profileFor: the native pairs, plus ODBC binding ? over another syntax).
var fuzzTargets = []struct {
	syn  Syntax
	bind BindStyle
}{
	{synPG, BindDollar}, {synMy, BindQuestion}, {synMyNBE, BindQuestion}, {synMyANSI, BindQuestion},
	{synMyBoth, BindQuestion}, {synLite, BindQuestionN}, {synODBC, BindQuestion},
	{synPG, BindQuestion}, {synLite, BindQuestion},
}

// FuzzRewrite checks, for any query and target: no panic; errors are
// *PlaceholderErrors inside the query; and on success the properties of
// checkRewriteProperties.
func FuzzRewrite(f *testing.F) {
	for _, tc := range rewriteCases {
		bind := tc.bind
		if bind == 0 {
			bind = bindFor[tc.syn.Dialect]
		}
		for i, tg := range fuzzTargets {
			if tg.syn == tc.syn && tg.bind == bind {
				f.Add(tc.query, uint8(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, query string, sel uint8) {
		tg := fuzzTargets[int(sel)%len(fuzzTargets)]
		if info := Classify(query, tg.syn); info.Kind == "" || info.Read && info.Why != "" {
			t.Fatalf("Classify(%q) = %+v", query, info)
		}
		r, err := NewRewrite(query, tg.syn, tg.bind)
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
func lexAll(t *testing.T, q string, syn Syntax) []lexed {
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
func checkRewriteProperties(t *testing.T, query string, syn Syntax, bind BindStyle, r *Rewrite) {
	t.Helper()
	in, out := lexAll(t, query, syn), lexAll(t, r.Query, syn)
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
		t.Fatalf("%q -> %q: %d literal/comment tokens, want %d", query, r.Query, len(ko), len(ki))
	}
	for i := range ki {
		if ki[i] != ko[i] {
			t.Fatalf("%q -> %q: token %d is %q, want %q", query, r.Query, i, ko[i].text, ki[i].text)
		}
	}

	nargs := r.NumInput
	if r.Order != nil {
		nargs = len(r.Order)
	}
	used := map[int]bool{}
	question, pctS := 0, false
	for _, tok := range out {
		switch {
		case tok.kind == tokParam && bind == BindDollar:
			used[number(tok.text[1:])] = true
		case tok.kind == tokQuestion && bind == BindQuestionN:
			if len(tok.text) < 2 || tok.text[1] == '?' {
				t.Fatalf("%q -> %q: %q in ?N output", query, r.Query, tok.text)
			}
			used[number(tok.text[1:])] = true
		case tok.kind == tokQuestion && bind == BindQuestion:
			if tok.text != "?" {
				t.Fatalf("%q -> %q: %q in ? output", query, r.Query, tok.text)
			}
			question++
		case tok.kind == tokPercent && tok.text == "%s":
			pctS = true
		case tok.kind == tokVariable:
			t.Fatalf("%q -> %q: SQLite variable %q in output", query, r.Query, tok.text)
		}
	}
	switch bind {
	case BindQuestion:
		if question != nargs {
			t.Fatalf("%q -> %q: %d placeholders, want %d", query, r.Query, question, nargs)
		}
		for _, k := range r.Order {
			if k < 0 || k >= r.NumInput {
				t.Fatalf("%q: order %v out of range", query, r.Order)
			}
		}
	default:
		if r.Order != nil {
			t.Fatalf("%q: order %v for bind %d", query, r.Order, bind)
		}
		if len(used) != r.NumInput {
			t.Fatalf("%q -> %q: %d distinct placeholders, want %d", query, r.Query, len(used), r.NumInput)
		}
		for n := 1; n <= r.NumInput; n++ {
			if !used[n] {
				t.Fatalf("%q -> %q: placeholder %d missing", query, r.Query, n)
			}
		}
	}

	if r.NumInput == 0 || pctS {
		return
	}
	again, err := NewRewrite(r.Query, syn, bind)
	if err != nil {
		t.Fatalf("%q -> %q: rewriting again: %v", query, r.Query, err)
	}
	if again.Query != r.Query || again.NumInput != nargs || again.Order != nil {
		t.Fatalf("%q -> %q: rewriting again gives %q (numInput %d, order %v), want identity with numInput %d",
			query, r.Query, again.Query, again.NumInput, again.Order, nargs)
	}
}
