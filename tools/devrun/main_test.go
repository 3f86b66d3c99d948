package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
)

// A port held by something that accepts connections and never answers used
// to hang make run in its health probe. Now it stops at once, non-zero,
// naming the port, and starts nothing.
func TestTakenPortStopsMakeRunAndNamesIt(t *testing.T) {
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	go func() {
		for {
			c, err := holder.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, never answer
		}
	}()
	// Stand-in binaries: a service that exits with a bind error, as the real one would.
	bin := t.TempDir()
	started := filepath.Join(t.TempDir(), "started")
	script := "#!/bin/sh\ntouch " + started + "\necho 'listen public: address already in use' >&2\nexit 1\n"
	for _, name := range []string{"user-service", "property-service"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"USER_PUBLIC_ADDR": holder.Addr().String(), "INTERNAL_AUTH": "token"}
	for _, a := range addresses {
		if vars[a.name] == "" {
			vars[a.name] = "127.0.0.1:0"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, bin, false, func(k string) string { return vars[k] }, &out, &out)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("make run did not stop by itself: %v", err)
	}
	if !strings.Contains(err.Error(), holder.Addr().String()) || !strings.Contains(err.Error(), "USER_PUBLIC_ADDR") {
		t.Fatalf("error does not name the port: %v", err)
	}
	if _, err := os.Stat(started); err == nil {
		t.Fatal("a service was started although a port was taken")
	}
}

// Issue 34: make run needs no mail server: without SMTP_URL its property
// service writes each invitation's mail to its log (MAIL_TO_LOG=on), and the
// banner says so; with SMTP_URL set it sets nothing and the mail is real.
func TestMakeRunMailsToTheLogOnlyWithoutSMTP(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	line, extra := mail(env(nil))
	if len(extra) != 1 || extra[0] != "MAIL_TO_LOG=on" || !strings.Contains(line, "printed in the property service's log") {
		t.Fatalf("without SMTP_URL: %q %v", line, extra)
	}
	line, extra = mail(env(map[string]string{"SMTP_URL": "smtp://mail.example.com"}))
	if len(extra) != 0 || !strings.Contains(line, "mailed through SMTP_URL") {
		t.Fatalf("with SMTP_URL: %q %v", line, extra)
	}
}

// The banner's walk-through, run as the shell script it is against a stand-in
// for both services, uses the ids its own requests got back: on a database
// an earlier run filled, property 1 and invitation 1 are someone else's
// (issue 36).
func TestWalkthroughUsesTheIdsItCreated(t *testing.T) {
	needCurl(t)
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/users/authenticate":
			_, _ = io.WriteString(w, `{"token":"tok","refresh_token":"ref","token_type":"Bearer"}`)
		case r.Method == "POST" && r.URL.Path == "/api/properties/":
			_, _ = io.WriteString(w, `{"id":7,"name":"Seaside cottage","access_level":"owner"}`)
		case r.Method == "POST" && r.URL.Path == "/api/property/7/invitations":
			_, _ = io.WriteString(w, `{"id":9,"property_id":7,"property_name":"Seaside cottage","invited_by":3}`)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	out, err := exec.Command("bash", "-c", "set -e\n"+walkthrough(addr, addr, "127.0.0.1:9001")).CombinedOutput()
	if err != nil {
		t.Fatalf("the walk-through failed: %v\n%s", err, out)
	}
	got := strings.Join(paths, "\n")
	for _, want := range []string{"POST /api/property/7/invitations", "POST /api/invitations/9/accept", "GET /api/property/7/members"} {
		if !strings.Contains(got, want) {
			t.Errorf("the walk-through never sent %s; it sent:\n%s", want, got)
		}
	}
	if !strings.Contains(string(out), "property 7") || !strings.Contains(string(out), "invitation 9") {
		t.Errorf("the walk-through does not show the ids it uses:\n%s", out)
	}
}

// The banner's refused probe of the internal listener shows why it was
// refused: with -s alone curl printed nothing at all.
func TestRefusedProbeSaysWhy(t *testing.T) {
	needCurl(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	first, _, _ := strings.Cut(internalProbe("spiffe", strings.TrimPrefix(srv.URL, "https://")), "\n")
	command, _, _ := strings.Cut(first, "#")
	out, err := exec.Command("bash", "-c", command).CombinedOutput()
	if err == nil {
		t.Fatalf("the probe was not refused: %s", out)
	}
	if !strings.Contains(string(out), "curl: (") {
		t.Fatalf("the refused probe printed %q, not curl's error", out)
	}
}

// A second make run starts on the first one's databases, and says so; with
// -fresh (make run-fresh) they are removed first.
func TestFreshStartRemovesAnEarlierRunsData(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("data", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("data", "user.db"), []byte("an earlier run"), 0o600); err != nil {
		t.Fatal(err)
	}
	if note, err := earlierData(); err != nil || !strings.Contains(note, "make run-fresh") {
		t.Fatalf("the banner's note on an earlier run's data: %q, %v", note, err)
	}
	// Stand-in services that exit at once: run stops after the fresh start.
	bin := t.TempDir()
	for _, name := range []string{"user-service", "property-service"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"INTERNAL_AUTH": "token"}
	for _, a := range addresses {
		vars[a.name] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, bin, true, func(k string) string { return vars[k] }, &out, &out); err == nil {
		t.Fatal("run went on with services that exited")
	}
	if _, err := os.Stat(filepath.Join("data", "user.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("data/user.db is still there after a fresh start: %v", err)
	}
	if note, err := earlierData(); err != nil || note != "" {
		t.Fatalf("after a fresh start the note is %q, %v", note, err)
	}
}

// needCurl skips a test of the banner's shell lines where bash or curl is
// missing (make test lists it at its end), and fails it under CI=true.
func needCurl(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed but CI=true: %v", tool, err)
			}
			notrun.Skip(t, notrun.Curl)
		}
	}
}
