// Package notrun records what a test did not run for want of something
// outside Go (PostgreSQL, Redis, promtool, a browser, HAProxy), so that
// make test can end with one line per such thing: go test shows a t.Skip or
// a t.Log only under -v, so without this a newcomer could not tell that the
// PostgreSQL half of the database tests never ran.
//
// Under make test, TEST_NOT_RUN_DIR names a directory; Record writes one
// file per Thing there (the same file whichever test or package records
// it), and Report prints their lines. Without the variable (go test run by
// hand) Record only logs. Under CI=true the callers fail instead of
// skipping, as before.
package notrun

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// DirEnv names the directory make test collects the lines in.
const DirEnv = "TEST_NOT_RUN_DIR"

// Thing is one thing a test may not run; Line is what make test prints,
// saying what did not run and what would run it.
type Thing struct {
	Name string // a file name: lower case, no slash
	Line string
}

// The things make test can leave out; the README's table lists the same.
var (
	Postgres = Thing{"postgres", "PostgreSQL: every database test's PostgreSQL variant and the outage tests " +
		"(set TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"}
	Redis    = Thing{"redis", "Redis: the rate limits shared by two instances (set TEST_REDIS_URL=redis://127.0.0.1:6379/0)"}
	Promtool = Thing{"promtool", "promtool: the checks of deploy/prometheus/ (apt-get install prometheus)"}
	Browser  = Thing{"browser", "browser: the docs page in Chromium (apt-get install chromium, and make node-tools)"}
	// NodeLint's line is also the Makefile's (NOTE_NODE_LINT): make lint
	// records it too.
	NodeLint = Thing{"node-lint", "Redocly and Spectral: the Node linters of the contracts and of the guide's example (make node-tools)"}
	Curl     = Thing{"curl", "curl: make run's banner run as a script, its walk-through and its probe (apt-get install curl)"}
	HAProxy  = Thing{"haproxy", "HAProxy: the bloated-token login through the shipped HAProxy configuration (apt-get install haproxy)"}
	Mailpit  = Thing{"mailpit", "Mailpit: the invitation mail tests against a real SMTP server (make mailpit-bin; building it takes minutes)"}
)

// Record notes that the test did not run thing: in its log, and for make
// test's summary when DirEnv is set.
func Record(t testing.TB, thing Thing) {
	t.Helper()
	t.Log("not run: " + thing.Line)
	if err := write(os.Getenv(DirEnv), thing); err != nil {
		t.Errorf("record what did not run: %v", err)
	}
}

// Skip is Record followed by t.Skip.
func Skip(t testing.TB, thing Thing) {
	t.Helper()
	Record(t, thing)
	t.Skip("not run: " + thing.Line)
}

func write(dir string, thing Thing) error {
	if dir == "" {
		return nil
	}
	if thing.Name == "" || strings.ContainsAny(thing.Name, `/\.`) {
		return fmt.Errorf("thing name %q is not a plain file name", thing.Name)
	}
	// Many test processes may record the same thing at once: each writes
	// its own temporary file and renames it over the one name, so the file
	// is always whole.
	tmp, err := os.CreateTemp(dir, thing.Name+".tmp*")
	if err != nil {
		return fmt.Errorf("create a file in %s: %w", dir, err)
	}
	_, werr := tmp.WriteString(thing.Line + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, thing.Name)); err != nil {
		return fmt.Errorf("record %s: %w", thing.Name, err)
	}
	return nil
}

// Report writes one line per thing recorded in dir, sorted, each prefixed
// with prefix, and returns how many there were.
func Report(dir, prefix string, w io.Writer) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", dir, err)
	}
	var lines []string
	for _, e := range entries {
		if e.IsDir() || strings.Contains(e.Name(), ".tmp") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		lines = append(lines, strings.TrimSpace(string(data)))
	}
	slices.Sort(lines)
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, prefix+l); err != nil {
			return 0, fmt.Errorf("write the report: %w", err)
		}
	}
	return len(lines), nil
}
