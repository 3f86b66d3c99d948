package user_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/services/user"
)

// user-service --help prints every command and exits 0 (issue 36: it was
// "unknown command", status 2); each command's --help is status 0 too; an
// unknown command is still 2 and shows the usage.
func TestHelpPrintsUsageAndExits0(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"create-admin", "--help"}, {"deactivate", "-h"},
		{"identity", "--help"}, {"identity", "init", "--help"}, {"call", "--help"}, {"call", "properties", "-h"}} {
		var stdout, stderr bytes.Buffer
		code := user.Main(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr)
		if code != 0 || stdout.Len()+stderr.Len() == 0 {
			t.Errorf("user-service %s: status %d, output %q %q", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
	}
	var stdout bytes.Buffer
	user.Main(context.Background(), []string{"--help"}, noEnv, nil, &stdout, &stdout)
	for _, command := range []string{"create-admin", "deactivate", "identity init", "call properties"} {
		if !strings.Contains(stdout.String(), "user-service "+command) {
			t.Errorf("--help does not name %s:\n%s", command, stdout.String())
		}
	}
	var stderr bytes.Buffer
	if code := user.Main(context.Background(), []string{"frobnicate"}, noEnv, nil, &stderr, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "usage: user-service") {
		t.Errorf("an unknown command: status %d, %q", code, stderr.String())
	}
}
