package jeeves4service_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/jeeves4service/jeeves4service/internal/testkit/contract"
)

// The pages a reader is sent to: the README and every page under docs/.
func docPages(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{}
	for _, name := range append([]string{"README.md"}, names...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		pages[name] = string(data)
	}
	if len(pages) < 2 {
		t.Fatalf("found %d pages; the README should link pages under docs/", len(pages))
	}
	return pages
}

// A word that names an environment variable: upper case and digits, with
// at least one underscore between parts (INTERNAL_AUTH, JWT_TTL). Words
// without an underscore (PPROF, METRICS, GOGC) are too like ordinary
// acronyms to tell apart; TestEveryServiceVariableIsDocumented covers those.
var envWord = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// notEnv are words of that shape a page may use that are not environment
// variables (none yet besides this example).
var notEnv = map[string]bool{
	"RLIMIT_NOFILE": true, // a resource limit (setrlimit), not a variable
	"N_A":           true, // RFC 8693's issued_token_type for a token that is not an OAuth access token
}

// standardEnv reports whether name belongs to a tool or library, not to this
// project: OpenTelemetry's exporter variables, Go's build switches. (Go's
// runtime variables, GOMAXPROCS, GODEBUG, GOGC, and CI have no underscore.)
func standardEnv(name string) bool {
	return strings.HasPrefix(name, "OTEL_") || name == "CGO_ENABLED"
}

// knownVariables are the names the repository's Go code spells as a string
// literal (the services read their variables by name; tests and tools read
// theirs the same way) and the Makefile's own variables.
func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	literal := regexp.MustCompile(`"([A-Z][A-Z0-9_]*)"`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "gen" || path == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(data), -1) {
			known[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)\s*[?:]?=`).FindAllStringSubmatch(string(mk), -1) {
		known[m[1]] = true
	}
	return known
}

// envWordsIn returns the words of text that look like environment variables.
func envWordsIn(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !(r == '_' || r < 128 && unicode.IsLetter(r) || unicode.IsDigit(r)) }) {
		w = strings.TrimRight(w, "_") // OTEL_EXPORTER_OTLP_* names a family
		if envWord.MatchString(w) {
			out = append(out, w)
		}
	}
	return out
}

// Every environment variable a page names is one the code reads (or a
// standard one): a renamed or misspelt variable in the docs fails here.
func TestDocsNameOnlyVariablesThatExist(t *testing.T) {
	known := knownVariables(t)
	for name, text := range docPages(t) {
		seen := map[string]bool{}
		for _, w := range envWordsIn(text) {
			if seen[w] || known[w] || notEnv[w] || standardEnv(w) {
				continue
			}
			seen[w] = true
			t.Errorf("%s names %s, which no Go code reads (no string literal %q) and the Makefile does not define", name, w, w)
		}
	}
}

// makeTargets are the Makefile's rule names.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9][a-zA-Z0-9_ .-]*):([^=]|$)`).FindAllStringSubmatch(string(mk), -1) {
		for _, name := range strings.Fields(m[1]) {
			targets[name] = true
		}
	}
	return targets
}

var (
	fence    = regexp.MustCompile("(?ms)^```[^\n]*\n(.*?)^```")
	codeSpan = regexp.MustCompile("`([^`\n]+)`")
)

// codeIn returns a page's code: fenced blocks and inline code spans, where
// `make` is the command and not the verb.
func codeIn(text string) []string {
	var out []string
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	prose := fence.ReplaceAllString(text, "")
	for _, m := range codeSpan.FindAllStringSubmatch(prose, -1) {
		out = append(out, m[1])
	}
	return out
}

// makeInvocations returns the targets of every `make ...` in code: the first
// word after make that is not a variable assignment or a flag.
func makeInvocations(code string) []string {
	var out []string
	for _, line := range strings.Split(code, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i] // a shell comment
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(";&|()", r) })
		for i, f := range fields {
			if f != "make" {
				continue
			}
			for _, arg := range fields[i+1:] {
				if strings.Contains(arg, "=") || strings.HasPrefix(arg, "-") {
					continue
				}
				out = append(out, arg)
				break
			}
		}
	}
	return out
}

// Every `make <target>` a page shows exists in the Makefile.
func TestDocsNameOnlyMakeTargetsThatExist(t *testing.T) {
	targets := makeTargets(t)
	if !targets["run"] || !targets["test"] {
		t.Fatalf("the Makefile's targets were not found (have %v)", targets)
	}
	for name, text := range docPages(t) {
		for _, code := range codeIn(text) {
			for _, target := range makeInvocations(code) {
				if !targets[target] {
					t.Errorf("%s shows `make %s`, which the Makefile has no target for", name, target)
				}
			}
		}
	}
}

var link = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// anchor is the id GitHub gives a heading: lower case, punctuation dropped,
// spaces as hyphens.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6}\s+(.+)$`).FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
		out[anchor(m[1])] = true
	}
	return out
}

// Every relative link of a page points to a file that exists (and, with a
// #fragment into a page, to a heading it has); no link points to a page
// that does not exist yet, except one another branch is adding.
func TestDocsLinksPointToFilesThatExist(t *testing.T) {
	pages := docPages(t)
	for name, text := range pages {
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := name
			if file != "" {
				path = filepath.Join(filepath.Dir(name), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links %s: %s does not exist", name, target, path)
				continue
			}
			if frag == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			body, ok := pages[path]
			if !ok {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				body = string(data)
			}
			if !anchors(body)[frag] {
				t.Errorf("%s links %s: %s has no heading #%s", name, target, path, frag)
			}
		}
	}
}

// The top-level directories of the tree; a code span starting with one of
// them is a path in the repository.
var treeRoots = []string{"api/", "deploy/", "docs/", "e2e/", "gen/", "internal/", "services/", "sql/", "tools/", ".ci/"}

// Every repository path a page spells in code (the layout table, "see
// internalauth/doc.go") exists: a moved package fails here.
func TestDocsNameOnlyPathsThatExist(t *testing.T) {
	for name, text := range docPages(t) {
		for _, m := range codeSpan.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
			p := m[1]
			if strings.ContainsAny(p, " <>{}$…") || !slices.ContainsFunc(treeRoots, func(r string) bool { return strings.HasPrefix(p, r) }) {
				continue
			}
			matches, err := filepath.Glob(strings.TrimSuffix(p, "/"))
			if err != nil || len(matches) == 0 {
				t.Errorf("%s names %s, which is not in the tree", name, p)
			}
		}
	}
}

// The variables the services read: each string literal of that shape in
// their code, and each name passed to a configuration read.
func serviceVariables(t *testing.T) map[string]bool {
	t.Helper()
	read := regexp.MustCompile(`(?:getenv\(|Parse\(r, |r\.[A-Z][a-zA-Z]*\()"([A-Z][A-Z0-9_]*)"`)
	literal := regexp.MustCompile(`"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"`)
	vars := map[string]bool{}
	err := filepath.WalkDir("services", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range []*regexp.Regexp{read, literal} {
			for _, m := range re.FindAllStringSubmatch(string(data), -1) {
				vars[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// The configuration reference is complete: every variable a service reads
// has a row (or a mention) in docs/operations.md.
func TestEveryServiceVariableIsDocumented(t *testing.T) {
	data, err := os.ReadFile("docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := serviceVariables(t)
	for _, must := range []string{"INTERNAL_AUTH", "PPROF", "GOGC", "SPIFFE_DIR"} {
		if !vars[must] {
			t.Fatalf("the services' variables were not found (no %s in %v)", must, vars)
		}
	}
	for v := range vars {
		if !notEnv[v] && !strings.Contains(string(data), "`"+v+"`") {
			t.Errorf("the services read %s, which docs/operations.md does not document", v)
		}
	}
}

// The coverage figures docs/contract.md quotes are what tools/contractcov
// counts from the contracts today: operations and documented 2xx/4xx statuses.
func TestDocsCoverageFiguresMatchTheContracts(t *testing.T) {
	data, err := os.ReadFile("docs/contract.md")
	if err != nil {
		t.Fatal(err)
	}
	pub, in, err := contract.Specs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, spec := range []*contract.Spec{pub, in} {
		pairs := contract.Documented(spec)
		ops := map[string]bool{}
		for _, p := range pairs {
			ops[p.Operation] = true
		}
		want[spec.Name] = fmt.Sprintf("operations %d/%d (100 %%), operation statuses %d/%d (100 %%)",
			len(ops), len(ops), len(pairs), len(pairs))
	}
	line := regexp.MustCompile(`contract coverage (\w+): (operations \d+/\d+ \(\d+ %\), operation statuses \d+/\d+ \(\d+ %\))`)
	quoted := line.FindAllStringSubmatch(string(data), -1)
	if len(quoted) != len(want) {
		t.Fatalf("docs/contract.md quotes %d coverage lines, want one per contract (%d)", len(quoted), len(want))
	}
	for _, q := range quoted {
		if w, ok := want[q[1]]; !ok || q[2] != w {
			t.Errorf("docs/contract.md says %s, but tools/contractcov would print %s",
				strconv.Quote("contract coverage "+q[1]+": "+q[2]), strconv.Quote("contract coverage "+q[1]+": "+w))
		}
	}
}

// Every test, fuzz target or benchmark a page cites by name exists: a
// renamed test leaves no claim in the docs pointing at nothing.
func TestDocsCiteOnlyTestsThatExist(t *testing.T) {
	defined := map[string]bool{}
	def := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Z]\w*)\(`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range def.FindAllStringSubmatch(string(data), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cited := regexp.MustCompile(`\b((?:Test|Fuzz|Benchmark)[A-Z]\w*)\b`)
	for name, text := range docPages(t) {
		for _, m := range cited.FindAllStringSubmatch(text, -1) {
			if !defined[m[1]] {
				t.Errorf("%s cites %s, which no _test.go file defines", name, m[1])
			}
		}
	}
}
