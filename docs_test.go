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
			t.Fatalf("%s changed since the docs pages were built: run make docs and commit docs/site", name)
		}
	}
}
