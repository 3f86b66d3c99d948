package user_test

import (
	"path/filepath"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// Issue 25, item 13: the profiler is served on the admin listener only when
// PPROF=on (make run turns it on), not to whoever reaches that listener.
func TestProfilerOnlyWhenTurnedOn(t *testing.T) {
	fake := newFake(t, goodAnswer)
	for setting, want := range map[string]int{"": 404, "on": 200} {
		e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, map[string]string{"PPROF": setting})
		admin := "http://" + e.svc.Server.Addr("admin")
		if r := testenv.DoUnchecked(t, "GET", admin+"/debug/pprof/", nil); r.Status != want {
			t.Errorf("PPROF=%q: /debug/pprof/ answered %d, want %d", setting, r.Status, want)
		}
	}
}
