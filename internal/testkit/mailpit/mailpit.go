// Package mailpit runs a real SMTP server for one test: Mailpit (pinned in
// tools/mailpit, built by make mailpit-bin into .mailpit-bin; MAILPIT_BIN
// names the binary), started as a child process on loopback ports of its own
// and read back through its HTTP API. A test that needs it and cannot have it
// says so in one line and does not run, or fails under CI=true.
package mailpit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// Server is one running (or stopped) Mailpit.
type Server struct {
	t        testing.TB
	bin      string
	db       string
	smtpAddr string
	httpAddr string
	cmd      *exec.Cmd
	out      *testenv.LogBuffer
}

// Bin is the Mailpit binary: MAILPIT_BIN, else .mailpit-bin/mailpit at the
// repository root (where make mailpit-bin builds it). Without either the
// test is skipped with one line, or fails when CI=true.
func Bin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("MAILPIT_BIN")
	if bin == "" {
		if root, err := repoRoot(); err == nil {
			bin = filepath.Join(root, ".mailpit-bin", "mailpit")
		}
	}
	if _, err := os.Stat(bin); bin == "" || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Mailpit is not built (MAILPIT_BIN=%q) but CI=true: the mail tests must run in CI (make mailpit-bin)", bin)
		}
		notrun.Skip(t, notrun.Mailpit)
	}
	return bin
}

// repoRoot is the directory holding go.mod above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "mailpit", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no repository root above the working directory")
		}
		dir = parent
	}
}

// Start starts Mailpit on two free loopback ports, its database in the
// test's temporary directory (so that a restart keeps what it received),
// and stops it at the test's end.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Bin(t), db: filepath.Join(t.TempDir(), "mailpit.db"),
		smtpAddr: freeAddr(t), httpAddr: freeAddr(t)}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// freeAddr is a loopback address the kernel had free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// SMTPURL is the URL a service sends through (no TLS: loopback only).
func (s *Server) SMTPURL() string { return "smtp://" + s.smtpAddr }

// Stop stops Mailpit (its SMTP port then refuses connections); Restart
// starts it again on the same ports with the same database.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	if s.t.Failed() {
		s.t.Logf("mailpit output:\n%s", testenv.Tail(s.out.String()))
	}
}

// Restart starts a stopped Mailpit and waits until its API is ready.
func (s *Server) Restart() {
	s.t.Helper()
	s.out = &testenv.LogBuffer{}
	cmd := exec.Command(s.bin, "--smtp", s.smtpAddr, "--listen", s.httpAddr, "--database", s.db,
		"--disable-version-check", "--smtp-disable-rdns", "--quiet")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start mailpit: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get("http://" + s.httpAddr + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", s.smtpAddr, time.Second); err == nil {
					c.Close()
					return
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("mailpit did not get ready in 30 s: %v\n%s", err, testenv.Tail(s.out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Message is one received mail as Mailpit's API gives it.
type Message struct {
	ID      string
	Subject string
	From    struct{ Address string }
	To      []struct{ Address string }
	Text    string
}

// To returns every message Mailpit holds addressed to addr, newest first,
// with their text bodies.
func (s *Server) To(addr string) []Message {
	s.t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	s.get("/api/v1/search?query="+url.QueryEscape("to:"+addr), &list)
	out := make([]Message, 0, len(list.Messages))
	for _, m := range list.Messages {
		var msg Message
		s.get("/api/v1/message/"+url.PathEscape(m.ID), &msg)
		out = append(out, msg)
	}
	return out
}

// WaitFor waits (up to 10 s) until n messages to addr have arrived and
// returns them, newest first.
func (s *Server) WaitFor(addr string, n int) []Message {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.To(addr)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("mailpit: %d messages to %s after 10 s, want %d", len(got), addr, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) get(path string, into any) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.httpAddr+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("mailpit API %s: %v", path, err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		s.t.Fatalf("mailpit API %s: %s", path, r.Status)
	}
	if err := json.NewDecoder(r.Body).Decode(into); err != nil {
		s.t.Fatalf("mailpit API %s: %v", path, err)
	}
}
