package jeeves4service

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The docs pages are built by make docs (Node) and committed; this catches a
// contract changed without rebuilding them, with only Go.
func TestDocsPagesAreBuiltFromTheCurrentContracts(t *testing.T) {
	recorded, err := os.ReadFile("docs/site/SOURCES.sha256")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"openapi-public.yaml": PublicSpec, "openapi-internal.yaml": InternalSpec} {
		line := fmt.Sprintf("%x  %s", sha256.Sum256(data), name)
		if !strings.Contains(string(recorded), line) {
			t.Fatalf("%s changed since the docs pages were built: run make docs (Node.js 20+: make node-tools first) "+
				"and commit docs/site", name)
		}
	}
}

// Issue 36: editing a contract needs Node (make docs), though make test
// otherwise needs only Go; a contributor learned it only from the failure
// above. The README's make test line and the endpoint guide's first step,
// where a contract edit starts, say so.
func TestContractEditorsAreToldMakeDocsNeedsNode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var testLine string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "make test ") {
			testLine = line
		}
	}
	if !strings.Contains(testLine, "make docs") || !strings.Contains(testLine, "Node") {
		t.Errorf("the README's make test line %q does not say a contract edit needs make docs and Node", testLine)
	}
	guide, err := os.ReadFile("docs/adding-an-internal-endpoint.md")
	if err != nil {
		t.Fatal(err)
	}
	_, step1, _ := strings.Cut(string(guide), "\n## 1.")
	step1, _, _ = strings.Cut(step1, "\n## ")
	for _, want := range []string{"make docs", "Node.js", "make node-tools", "TestDocsPagesAreBuiltFromTheCurrentContracts"} {
		if !strings.Contains(step1, want) {
			t.Errorf("the endpoint guide's step 1 does not mention %s", want)
		}
	}
}
