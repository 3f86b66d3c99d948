package testenv

import (
	"os/exec"
	"testing"
)

// Program starts an outside program for one test (SPIRE, Prometheus,
// HAProxy) with env added to this process's environment and its output
// collected; at cleanup it is killed and, if the test failed, the end of
// its output is logged.
func Program(t testing.TB, name string, env []string, argv ...string) *LogBuffer {
	t.Helper()
	out := &LogBuffer{}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(cmd.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, Tail(out.String()))
		}
	})
	return out
}

// Tail is the end of a long output, for a failure message.
func Tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}
