package jeeves4service_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// quoteMark marks a fenced block as quoted from a file: the HTML comment on
// the line before the fence names it, a contract (<!-- quote:
// openapi-internal.yaml -->) or a file of the examples (<!-- quote:
// examples/households/main.go -->; no segment starts with a dot, so no
// quote reaches outside examples/).
var quoteMark = regexp.MustCompile("(?m)^<!-- quote: (openapi-(?:public|internal)\\.yaml|examples/[A-Za-z0-9_/-]+(?:\\.[A-Za-z0-9_-]+)+) -->\\n```[^\\n]*\\n((?s:.*?))^```")

// contractKeys are what only a contract's text says; a page's YAML block
// holding one either quotes a contract (and is marked so) or is the
// endpoint guide's own example (marked guide-test, and tested by
// TestAddingAnInternalEndpointFollowsTheGuide).
var contractKeys = regexp.MustCompile(`(?m)^\s*(x-on-behalf-of|x-allowed-callers|operationId|security):`)

// contains reports whether block's lines are lines of text, in a row,
// indented alike by some number of spaces (a quote may drop the indent it
// had in the contract).
func contains(text, block string) bool {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	quoted := strings.Split(strings.TrimRight(block, "\n"), "\n")
	for i := range lines {
		if i+len(quoted) > len(lines) || strings.TrimSpace(lines[i]) != strings.TrimSpace(quoted[0]) || strings.TrimSpace(quoted[0]) == "" {
			continue
		}
		indent := len(lines[i]) - len(quoted[0])
		if indent < 0 {
			continue
		}
		pad := strings.Repeat(" ", indent)
		same := true
		for j, q := range quoted {
			if lines[i+j] != pad+q && !(strings.TrimSpace(q) == "" && strings.TrimSpace(lines[i+j]) == "") {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// Issue 36: docs/sharing.md quoted an x-on-behalf-of text the contract no
// longer had. Every block a page marks as quoted from a contract (or, issue
// 35, from a file of examples/) must be in that file as it is now, line for
// line; and a YAML block with a contract's keys must be marked, a quote or
// the guide's tested example, so that no quote escapes the check by going
// unmarked.
func TestDocsQuoteTheContractsAsTheyAre(t *testing.T) {
	files := map[string]string{}
	quoted := func(name string) string {
		if text, ok := files[name]; ok {
			return text
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("a page quotes %s: %v", name, err)
		}
		files[name] = string(data)
		return files[name]
	}
	quotes := 0
	for name, text := range docPages(t) {
		marks := quoteMark.FindAllStringSubmatch(text, -1)
		// A mark the pattern does not take (a path outside examples/, a
		// typo) would leave its block unchecked yet count as marked below.
		if n := strings.Count(text, "\n<!-- quote: "); n != len(marks) {
			t.Errorf("%s has %d <!-- quote: --> marks, of which %d name a contract or a file of examples/ before a fence",
				name, n, len(marks))
		}
		for _, m := range marks {
			quotes++
			if !contains(quoted(m[1]), m[2]) {
				t.Errorf("%s quotes %s, but the file does not say this (any more):\n%s", name, m[1], m[2])
			}
		}
		lines := strings.Split(text, "\n")
		for i, line := range lines {
			if !strings.HasPrefix(line, "```yaml") {
				continue
			}
			end := i + 1
			for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
				end++
			}
			body := strings.Join(lines[i+1:end], "\n")
			marked := i > 0 && (strings.HasPrefix(lines[i-1], "<!-- quote: ") || strings.HasPrefix(lines[i-1], "<!-- guide-test: "))
			if contractKeys.MatchString(body) && !marked {
				t.Errorf("%s:%d: a YAML block with a contract's keys that is neither marked <!-- quote: openapi-….yaml --> "+
					"nor <!-- guide-test: ... -->", name, i+1)
			}
		}
	}
	if quotes == 0 {
		t.Fatal("no page quotes a contract: docs/sharing.md's x-on-behalf-of quote should be marked")
	}
}
