package internalauth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// A call made for a subject carries a subject token for that subject, the
// operation, the callee and this caller; one the workload cannot get a
// subject token for is never sent (the caller then degrades as when the
// callee is down), and a call made for nobody carries none.
func TestClientSendsTheSubjectTokenOrNoCall(t *testing.T) {
	var calls atomic.Int32
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got.Store(r.Header.Get(SubjectHeader))
	}))
	t.Cleanup(srv.Close)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer := jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: "iss", Audience: "api"}, time.Hour)
	w := &Workload{cfg: Config{Name: "user-service", Mode: Tokens,
		Callees: []Callee{{Name: "property-service", URL: srv.URL, Token: alpha}}}}
	call := func(ctx context.Context) error {
		client, base, err := w.Client("property-service", time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/x", nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	forUser := ForSubject(context.Background(), Subject{User: "7", Operation: "getUserProperties"})

	if err := call(forUser); err == nil || calls.Load() != 0 {
		t.Fatalf("no subject source: err %v, %d calls sent", err, calls.Load())
	}
	w.SetSubjects(func(context.Context, jwtauth.SubjectRequest) (string, error) { return "", errors.New("cannot sign") })
	if err := call(forUser); err == nil || calls.Load() != 0 {
		t.Fatalf("a failing subject source: err %v, %d calls sent", err, calls.Load())
	}
	w.SetSubjects(Minter(signer, DefaultSubjectTTL))
	if err := call(forUser); err != nil || calls.Load() != 1 {
		t.Fatalf("minted: err %v, %d calls", err, calls.Load())
	}
	c, err := jwtauth.NewSubjectVerifier(signer, "iss").Verify(context.Background(), got.Load().(string), "property-service")
	if err != nil || c.Subject != "7" || c.Operation != "getUserProperties" || c.AuthorizedParty != "user-service" {
		t.Fatalf("the subject token sent: %+v %v", c, err)
	}
	if err := call(context.Background()); err != nil || got.Load().(string) != "" {
		t.Fatalf("a call for nobody: err %v, subject token %q", err, got.Load())
	}
}

// A callee's address that answers a redirect gets the call, and nothing
// follows it: the target of a 307 (which would repeat the method, the body
// and, from net/http, every header but Authorization and cookies) receives
// no connection at all, so neither the credential in X-Internal-Token nor a
// body carrying a user's access token (the exchange) reaches it, and the
// call fails.
func TestClientFollowsNoRedirect(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	t.Cleanup(target.Close)
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		var asked atomic.Int32
		callee := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			http.Redirect(w, r, target.URL+r.URL.Path, code)
		}))
		w := &Workload{cfg: Config{Name: "property-service", Mode: Tokens,
			Callees: []Callee{{Name: "user-service", URL: callee.URL, Token: alpha}}}}
		client, base, err := w.Client("user-service", time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", base+"/api/internal/users/subject-tokens", strings.NewReader(`{"subject_token":"x"}`))
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			t.Errorf("%d: the call succeeded with %d", code, resp.StatusCode)
		}
		callee.Close()
		if asked.Load() != 1 || reached.Load() != 0 {
			t.Fatalf("%d: the callee was asked %d times, the redirect's target %d (want 1, 0)", code, asked.Load(), reached.Load())
		}
	}
}
