package notrun_test

import (
	"bytes"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
)

// However many tests record a thing, the report has one line for it; with
// nothing recorded it has none.
func TestReportHasOneLinePerThing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(notrun.DirEnv, dir)
	var out bytes.Buffer
	if n, err := notrun.Report(dir, "> ", &out); err != nil || n != 0 || out.Len() != 0 {
		t.Fatalf("empty: %d lines %q, %v", n, out.String(), err)
	}
	for range 3 {
		notrun.Record(t, notrun.Postgres)
	}
	notrun.Record(t, notrun.Redis)
	n, err := notrun.Report(dir, "> ", &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "> " + notrun.Postgres.Line + "\n> " + notrun.Redis.Line + "\n"
	if n != 2 || out.String() != want {
		t.Fatalf("report: %d lines\n%s\nwant\n%s", n, out.String(), want)
	}
}
