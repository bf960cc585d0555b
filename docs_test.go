package aiodb

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The README and the docs are checked against the code: the README's
// program is an example that runs, its links lead somewhere, and go doc
// starts the way the README does.

// TestReadmeProgram: the README's first program is examples/hello/main.go,
// verbatim (its Example test runs it).
func TestReadmeProgram(t *testing.T) {
	readme := readFile(t, "README.md")
	prog := readFile(t, "examples/hello/main.go")
	if !strings.Contains(readme, "```go\n"+prog+"```\n") {
		t.Error("README.md has no ```go block equal to examples/hello/main.go: copy the file into the README")
	}
}

// TestDocLinks: every relative link in the README, CONTRIBUTING.md and
// docs/*.md names an existing file and, for a #fragment into Markdown, one
// of its headings.
func TestDocLinks(t *testing.T) {
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"README.md", "CONTRIBUTING.md"}, files...)
	n := 0
	for _, f := range files {
		for _, problem := range brokenLinks(f, readFile(t, f), &n) {
			t.Error(problem)
		}
	}
	if n < 20 {
		t.Errorf("only %d relative links found: is the link pattern still right?", n)
	}
}

// TestDocLinksFindsBrokenOnes keeps TestDocLinks honest.
func TestDocLinksFindsBrokenOnes(t *testing.T) {
	md := "# Top\n\n## aiodb's options\n\n[ok](README.md) [ok](#aiodbs-options) [ok](docs/dsn.md#the-dsn-and-aiodbs-options) " +
		"[web](https://example.com/x.md) [gone](no/such.md) [bad anchor](#nope) [bad](docs/dsn.md#nope)\n"
	var n int
	got := brokenLinks("x.md", md, &n)
	if len(got) != 3 || n != 6 {
		t.Errorf("%d links, problems %q; want 6 links and 3 problems", n, got)
	}
}

var (
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	inlineCode = regexp.MustCompile("`[^`]*`")
)

// brokenLinks returns a message for every relative link in md (the text of
// file) whose target file or heading does not exist, counting links in n.
func brokenLinks(file, md string, n *int) []string {
	var problems []string
	for _, m := range mdLink.FindAllStringSubmatch(stripCode(md), -1) {
		link := m[1]
		if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
			continue
		}
		*n++
		path, anchor, _ := strings.Cut(link, "#")
		target, text := file, md
		if path != "" {
			target = filepath.Join(filepath.Dir(file), path)
			b, err := os.ReadFile(target)
			if err != nil {
				if fi, serr := os.Stat(target); serr != nil || !fi.IsDir() {
					problems = append(problems, file+": link "+link+": no file "+target)
				}
				continue
			}
			text = string(b)
		}
		if anchor != "" && strings.HasSuffix(target, ".md") && !slices.Contains(headingAnchors(text), anchor) {
			problems = append(problems, file+": link "+link+": "+target+" has no heading #"+anchor)
		}
	}
	return problems
}

// stripCode drops fenced code blocks and inline code, where ]( is not a link.
func stripCode(md string) string {
	var b strings.Builder
	fence := false
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if !fence {
			b.WriteString(inlineCode.ReplaceAllString(line, ""))
		}
	}
	return b.String()
}

// headingAnchors returns the anchors GitHub gives md's headings: lower case,
// punctuation dropped, spaces as hyphens, -1, -2 … for repeats.
func headingAnchors(md string) []string {
	var out []string
	seen := map[string]int{}
	fence := false
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if k := seen[a]; k > 0 {
			seen[a]++
			a += "-" + string(rune('0'+k))
		} else {
			seen[a] = 1
		}
		out = append(out, a)
	}
	return out
}

// TestPackageDocIsReadmeIntro: go doc's first paragraph ("Package aiodb
// is …") is the README's first paragraph ("aiodb is …"), Markdown aside.
func TestPackageDocIsReadmeIntro(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(gotoken.NewFileSet(), name, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc += f.Doc.Text()
		}
	}
	docPara, _, _ := strings.Cut(doc, "\n\n")
	readme := readFile(t, "README.md")
	_, body, _ := strings.Cut(readme, "\n\n") // after the title
	readmePara, _, _ := strings.Cut(body, "\n\n")
	readmePara = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(readmePara, "$1")
	readmePara = strings.NewReplacer("`", "", "**", "").Replace(readmePara)
	got, want := strings.Join(strings.Fields(strings.TrimPrefix(docPara, "Package ")), " "), strings.Join(strings.Fields(readmePara), " ")
	if got != want {
		t.Errorf("package doc's first paragraph\n%s\nis not the README's\n%s", got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
