package internalauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// A call made for a subject carries a subject token for that subject, the
// operation, the callee and this caller; one the workload cannot get a
// subject token for is never sent (the caller then degrades as when the
// callee is down), and a call made for nobody carries none.
func TestClientSendsTheSubjectTokenOrNoCall(t *testing.T) {
	var calls atomic.Int32
	var got, credential atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got.Store(r.Header.Get(SubjectHeader))
		credential.Store(r.Header.Get(Header))
	}))
	t.Cleanup(srv.Close)
	ts := newTokenService(t)
	rt := &Transport{Credential: StaticToken(alpha), Audience: self, Caller: "property-service"}
	client := &http.Client{Timeout: time.Second, CheckRedirect: RefuseRedirect, Transport: rt}
	do := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/x", nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	forUser := ForSubject(context.Background(), Subject{User: "7", Operation: "getUser"})

	if err := do(forUser); err == nil || calls.Load() != 0 {
		t.Fatalf("no subject source: err %v, %d calls sent", err, calls.Load())
	}
	rt.Subjects = func(context.Context, subject.Request) (string, error) { return "", errors.New("cannot sign") }
	if err := do(forUser); err == nil || calls.Load() != 0 {
		t.Fatalf("a failing subject source: err %v, %d calls sent", err, calls.Load())
	}
	rt.Subjects = Minter(ts.signer, DefaultSubjectTTL)
	if err := do(forUser); err != nil || calls.Load() != 1 {
		t.Fatalf("minted: err %v, %d calls", err, calls.Load())
	}
	c, err := ts.verifier.Verify(context.Background(), got.Load().(string), self)
	if err != nil || c.Subject != "7" || c.Operation != "getUser" || c.AuthorizedParty != "property-service" {
		t.Fatalf("the subject token sent: %+v %v", c, err)
	}
	if credential.Load() != alpha {
		t.Fatalf("the credential sent: %q", credential.Load())
	}
	if err := do(context.Background()); err != nil || got.Load().(string) != "" {
		t.Fatalf("a call for nobody: err %v, subject token %q", err, got.Load())
	}
	// No credential: no call at all.
	rt.Credential = StaticToken("")
	if err := do(context.Background()); err == nil || calls.Load() != 2 {
		t.Fatalf("without a credential: err %v, %d calls", err, calls.Load())
	}
}

// A callee's address that answers a redirect gets the call, and nothing
// follows it: the target of a 307 (which would repeat the method, the body
// and, from net/http, every header but Authorization and cookies) receives
// no connection at all, so neither the credential in X-Internal-Token nor a
// body carrying a user's access token (the exchange) reaches it, and the
// call fails with ErrRedirect.
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
		client := &http.Client{Timeout: time.Second, CheckRedirect: RefuseRedirect,
			Transport: &Transport{Credential: StaticToken(alpha), UserTokens: true}}
		req, _ := http.NewRequest("POST", callee.URL+"/exchange", strings.NewReader(`{"subject_token":"x"}`))
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			t.Errorf("%d: the call succeeded with %d", code, resp.StatusCode)
		} else if !errors.Is(err, ErrRedirect) {
			t.Errorf("%d: %v, want ErrRedirect", code, err)
		}
		callee.Close()
		if asked.Load() != 1 || reached.Load() != 0 {
			t.Fatalf("%d: the callee was asked %d times, the redirect's target %d (want 1, 0)", code, asked.Load(), reached.Load())
		}
	}
}

// A Transport whose requests carry users' access tokens sends none over
// plain HTTP off loopback, whatever URL it is given: the request is refused
// before anything is dialled.
func TestTransportSendsUserTokensInClearOnlyToLoopback(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { asked.Add(1) }))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: time.Second, Transport: &Transport{Credential: StaticToken(alpha), UserTokens: true}}
	for _, url := range []string{"http://10.0.0.7:9001/x", "http://user-service-internal:9001/x"} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"subject_token":"x"}`))
		if _, err := client.Do(req); !errors.Is(err, ErrPlainHTTP) {
			t.Errorf("%s: %v, want ErrPlainHTTP", url, err)
		}
	}
	// httptest's server is on 127.0.0.1: loopback is allowed.
	resp, err := client.Post(srv.URL+"/x", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	_ = resp.Body.Close()
	if asked.Load() != 1 {
		t.Fatalf("loopback: %d calls", asked.Load())
	}
}
