package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// TestDocsPageInABrowser opens the user service's served /docs in headless
// Chromium (Debian's package, driven by playwright-core): every public
// operation's summary must be visible and the page must make no request off
// loopback. The screenshot is kept in artifacts/.
func TestDocsPageInABrowser(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	driver := filepath.Join("..", "node_modules", "playwright-core")
	_, errChromium := os.Stat(chromium)
	_, errDriver := os.Stat(driver)
	_, errNode := exec.LookPath("node")
	if errChromium != nil || errDriver != nil || errNode != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs chromium (%v), node (%v) and npm ci's playwright-core (%v)", errChromium, errNode, errDriver)
		}
		notrun.Skip(t, notrun.Browser)
	}
	s := startSystem(t, testenv.Engines(t)[0])
	artifacts, err := filepath.Abs(filepath.Join("..", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifacts, "docs-public.png")
	cmd := exec.Command("node", filepath.Join("..", "tools", "browser", "docs-check.mjs"), s.user, shot)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("docs page check failed: %v", err)
	}
	if info, err := os.Stat(shot); err != nil || info.Size() < 10_000 {
		t.Fatalf("no screenshot: %v", err)
	}
}
