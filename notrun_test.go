package jeeves4service_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
)

// structuralSkips are the skips that are about the code, not about what is
// installed: they say nothing a newcomer could act on, so they need no line
// at the end of make test. Keyed by file, then by the skip's text.
var structuralSkips = map[string]string{
	"services/common/validator/plan_test.go": `t.Skip("no planned operation in this contract")`,
}

// Issue 36: make test must end with one line per thing it did not run, and
// go test shows a skip only under -v. So every skip (or "not run" log) in
// code that make test runs goes through internal/testkit/notrun, which
// records it for tools/notrun; a bare t.Skip here would be silent again.
// Files behind a build tag run only under their own make target (-v).
func TestEverySkipOfMakeTestIsReportedAtItsEnd(t *testing.T) {
	skip := regexp.MustCompile(`\b[a-z]\.(Skip|Skipf|SkipNow)\(.*|\b[a-z]\.Logf?\(".*not run.*`)
	found := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "gen" || path == "node_modules" || path == "deploy/k8s" ||
			strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || path == "notrun_test.go" ||
			!strings.HasSuffix(path, "_test.go") && !strings.HasPrefix(path, "internal/testkit/") ||
			strings.HasPrefix(path, "internal/testkit/notrun/") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if regexp.MustCompile(`(?m)^//go:build `).Match(data) {
			return nil
		}
		for _, m := range skip.FindAllString(string(data), -1) {
			found++
			if s, ok := structuralSkips[path]; ok && strings.Contains(m, s) {
				continue
			}
			t.Errorf("%s: %s: say it with notrun.Skip or notrun.Record (internal/testkit/notrun), "+
				"so that make test lists it at its end", path, strings.TrimSpace(m))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("found no skip at all: the pattern no longer matches the tests' code")
	}
}

// make test gives its tests (and its lint) the directory notrun records in,
// and ends with tools/notrun's lines.
func TestMakeTestEndsWithWhatItDidNotRun(t *testing.T) {
	data, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	recipe := regexp.MustCompile(`(?ms)^test:[^\n]*\n((?:\t[^\n]*\n)+)`).FindStringSubmatch(string(data))
	if recipe == nil {
		t.Fatal("the Makefile has no test recipe")
	}
	lines := strings.Split(strings.TrimSpace(recipe[1]), "\n")
	for _, want := range []string{"TEST_NOT_RUN_DIR=$(NOT_RUN_DIR) $(MAKE) --no-print-directory lint",
		"TEST_NOT_RUN_DIR=$(NOT_RUN_DIR) CONTRACT_COVERAGE_DIR=$(COVERAGE_DIR) $(GO) test -count=1 ./..."} {
		if !strings.Contains(recipe[1], want) {
			t.Errorf("make test's recipe lacks %q", want)
		}
	}
	// make lint's note of the Node linters is the tests' own line, one thing.
	if !strings.Contains(string(data), `echo "`+notrun.NodeLint.Line+`"`) {
		t.Errorf("the Makefile's NOTE_NODE_LINT does not write notrun.NodeLint's line %q", notrun.NodeLint.Line)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "$(GO) run ./tools/notrun $(NOT_RUN_DIR)") {
		t.Errorf("make test's last step is %q, want tools/notrun's report", last)
	}
}
