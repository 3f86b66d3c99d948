package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

const (
	issuer    = "households-test-issuer"
	appSecret = "household-app-secret-0123456789abcdef"
	jobSecret = "reporting-job-secret-0123456789abcdef"
)

// startExample serves the example's handler on 127.0.0.1:0, trusting subject
// tokens signed by the key it returns (published as a JWKS by a server of
// its own, as the user service publishes its keys).
func startExample(t *testing.T) (string, *subject.Signer) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(subject.JWKS{Keys: []subject.JWK{subject.PublicJWK(pub)}})
	}))
	t.Cleanup(jwks.Close)
	env := map[string]string{
		"HOUSEHOLDS_TOKENS": "household-app=" + appSecret + ",reporting-job=" + jobSecret,
		"SUBJECT_JWKS_URL":  jwks.URL + "/.well-known/jwks.json",
		"SUBJECT_ISSUER":    issuer,
	}
	h, err := newHandler(t.Context(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, subject.NewSigner(key, subject.KeyID(pub), issuer)
}

// subjectToken is what the user service's exchange would issue to caller
// for a call of getHousehold for user.
func subjectToken(t *testing.T, s *subject.Signer, user, caller string) string {
	t.Helper()
	tok, _, err := s.Sign(subject.Request{Subject: user, Audience: "households-service", Operation: "getHousehold",
		AuthorizedParty: caller}, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// logBuffer holds the JSON lines the guard logs (through slog.Default, its
// default logger, as in main).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lastReason is the reason of the last line logged.
func (b *logBuffer) lastReason(t *testing.T) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(b.buf.String()), "\n")
	var line struct{ Reason string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
		t.Fatalf("the last log line %q: %v", lines[len(lines)-1], err)
	}
	return line.Reason
}

func captureLogs(t *testing.T) *logBuffer {
	t.Helper()
	b := &logBuffer{}
	before := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(b, nil)))
	t.Cleanup(func() { slog.SetDefault(before) })
	return b
}

// get calls url with the headers given as name, value pairs.
func get(t *testing.T, url string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestHouseholdsGuardsGetHousehold(t *testing.T) {
	logs := captureLogs(t)
	base, signer := startExample(t)
	url := base + "/api/internal/households/users/7"
	const cred, subj = "X-Internal-Token", "X-Subject-Token"

	status, _, body := get(t, url, cred, appSecret, subj, subjectToken(t, signer, "7", "household-app"))
	var got struct {
		UserID  int64   `json:"user_id"`
		Members []int64 `json:"members"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &got) != nil || got.UserID != 7 || len(got.Members) != 1 {
		t.Fatalf("household-app for user 7: %d %s, want 200 and the household", status, body)
	}

	refusals := []struct {
		name, reason string // reason: the guard's WARN line says why
		want         int
		headers      []string
	}{
		{"the credential alone", "subject_token_missing", 401, []string{cred, appSecret}},
		{"no credential", "missing", 401, []string{subj, subjectToken(t, signer, "7", "household-app")}},
		{"a wrong credential", "invalid", 401, []string{cred, strings.Repeat("x", 40), subj, subjectToken(t, signer, "7", "household-app")}},
		{"another user's subject token", "subject_token_other_user", 403,
			[]string{cred, appSecret, subj, subjectToken(t, signer, "8", "household-app")}},
		// reporting-job is a known caller with a subject token of its own,
		// but the operation's x-allowed-callers does not name it.
		{"another known caller", "caller_not_allowed", 403, []string{cred, jobSecret, subj, subjectToken(t, signer, "7", "reporting-job")}},
	}
	for _, r := range refusals {
		status, h, body := get(t, url, r.headers...)
		if status != r.want || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %s %s, want %d application/problem+json", r.name, status, h.Get("Content-Type"), body, r.want)
		}
		if got := logs.lastReason(t); got != r.reason {
			t.Errorf("%s: the guard's WARN line says reason=%q, want %q", r.name, got, r.reason)
		}
	}

	if status, _, _ := get(t, base+"/healthz"); status != 200 {
		t.Errorf("/healthz: %d, want 200 (unguarded)", status)
	}
	if status, _, _ := get(t, base+"/api/internal/elsewhere", cred, appSecret); status != 404 {
		t.Errorf("a path the contract does not have: %d, want 404", status)
	}
}

// main loads the embedded contract without validating it (it cannot change
// after the build): this test is where it is validated.
func TestTheContractIsValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(contract)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
}

// The example's promise: a service adopts the library in about a page.
// Its hand-written Go (not generated, not tests) is at most 150 lines,
// main, the handler and the client together.
func TestTheExampleIsAPage(t *testing.T) {
	total := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if generated(string(data)) {
			return nil
		}
		n := strings.Count(string(data), "\n")
		t.Logf("%s: %d lines", path, n)
		total += n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || total > 150 {
		t.Fatalf("the example's hand-written Go is %d lines, want 1 to 150", total)
	}
}

// generated reports whether a Go file says it is generated, by the line Go's
// convention gives it (https://go.dev/s/generatedcode).
func generated(src string) bool {
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "// Code generated ") && strings.HasSuffix(l, " DO NOT EDIT.") {
			return true
		}
	}
	return false
}

// The example needs the library and nothing else of the repository: were
// it to import a service's package, it would show no adoption at all.
func TestTheExampleDependsOnlyOnTheLibrary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the example's dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v\n%s", err, out)
	}
	const repo, self = "github.com/jeeves4service/jeeves4service", "github.com/jeeves4service/jeeves4service/examples/households"
	library := 0
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == self || strings.HasPrefix(pkg, self+"/"):
		case pkg == repo+"/internalauth" || strings.HasPrefix(pkg, repo+"/internalauth/"):
			library++
		case pkg == repo || strings.HasPrefix(pkg, repo+"/"):
			t.Errorf("the example depends on %s, a package of the repository outside internalauth", pkg)
		}
	}
	if library == 0 {
		t.Fatalf("go list -deps names no internalauth package:\n%s", out)
	}
}
