package prometheus

import (
	"os"
	"os/exec"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
)

// promtool runs `promtool args...` here, or says in one line that it did not
// run (locally, without the Debian package prometheus); in CI it must run.
func promtool(t *testing.T, args ...string) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found: CI must install the Debian package prometheus")
		}
		notrun.Skip(t, notrun.Promtool)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}

func TestRulesAndScrapeConfig(t *testing.T) {
	promtool(t, "check", "config", "prometheus.yml")
	promtool(t, "test", "rules", "rules_test.yml")
}
