package internalauth

// The attacker's read of the library (issue 35): each test is one way
// around the guard or its promises that a reviewer showed by running it
// against the first version of the library.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth/limit"
	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// Two templates one request path can match: kin-openapi's router took
// /jobs/{job_id}/status for /jobs/admin/status while chi ran
// /jobs/admin/{action}'s handler, for a caller only the first lists. New
// refuses such a contract.
func TestNewRefusesPathsOneRequestCanMatchTwice(t *testing.T) {
	overlapping := `openapi: 3.0.3
info: {title: test, version: "1"}
security:
  - {InternalToken: []}
paths:
  /jobs/{job_id}/status:
    get:
      operationId: jobStatus
      parameters: [{name: job_id, in: path, required: true, schema: {type: string}}]
      x-allowed-callers: [alpha]
      x-on-behalf-of: {none: a job}
      responses: {"200": {description: ok}}
  /jobs/admin/{action}:
    get:
      operationId: adminAction
      parameters: [{name: action, in: path, required: true, schema: {type: string}}]
      x-allowed-callers: [beta]
      x-on-behalf-of: {none: an admin}
      responses: {"200": {description: ok}}
` + schemes
	_, err := New(loadContract(t, overlapping), WithTokens(tokens(t)...), WithLogger(quiet()))
	if err == nil || !strings.Contains(err.Error(), "can match the same request") {
		t.Fatalf("New accepted overlapping paths: %v", err)
	}
	distinct := strings.Replace(overlapping, "/jobs/admin/{action}", "/admin/jobs/{action}", 1)
	if _, err := New(loadContract(t, distinct), WithTokens(tokens(t)...), WithLogger(quiet())); err != nil {
		t.Fatalf("New refused paths that cannot overlap: %v", err)
	}
}

// Two operations with one operationId: the policy used was whichever the
// map wrote last (a caller listed only on one reached the other's handler
// in 14 of 20 guards).
func TestPoliciesRefuseADuplicateOperationID(t *testing.T) {
	doc := loadContract(t, contractYAML)
	doc.Paths.Find("/batch").Post.OperationID = "getUser"
	if _, err := Policies(doc); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("Policies accepted a duplicate operationId: %v", err)
	}
}

// A caller that names the user from the request, not from the verified
// access token, was handed the subject token cached for another user: the
// cache is keyed by the access token too.
func TestSubjectCacheGivesATokenOnlyForTheAccessTokenItWasExchangedFor(t *testing.T) {
	now := time.Now()
	f := exchangeWorld(t, now)
	exchanges := 0
	cache := &SubjectCache{Margin: 5 * time.Second, MaxEntries: 100, Now: func() time.Time { return *f.now },
		Exchange: func(ctx context.Context, req ExchangeRequest) (ExchangeResponse, error) {
			exchanges++
			return f.x.Exchange(ctx, req, "property-service", "")
		}}
	src := cache.Source()
	req := subject.Request{Subject: "7", Audience: "user-service", Operation: "listUserProfiles", AuthorizedParty: "property-service"}
	if _, err := src(ForSubject(context.Background(), Subject{User: "7", Operation: "listUserProfiles", Evidence: f.access}), req); err != nil {
		t.Fatal(err)
	}
	// Another user's access token (user 8's), asking for user 7: no cached token for 7.
	other := accessToken(t, f.ts.key, "8", "s8", now, 15*time.Minute)
	tok, err := src(ForSubject(context.Background(), Subject{User: "7", Operation: "listUserProfiles", Evidence: other}), req)
	if err == nil {
		t.Fatalf("user 8's access token got user 7's cached subject token (%d exchanges): %.20s…", exchanges, tok)
	}
	if exchanges != 2 {
		t.Fatalf("%d exchanges: the second access token was not exchanged itself", exchanges)
	}
}

// A callee's contract reusing another callee's operationId spent the
// other's exchange budget for a user: the budget is per callee too.
func TestExchangeBudgetIsPerCallee(t *testing.T) {
	now := time.Now()
	f := exchangeWorld(t, now)
	reuse := strings.Replace(userContractYAML, "user-service", "households", -1)
	if err := f.x.Serve(Callee{Name: "households", Contract: loadContract(t, reuse)}); err != nil {
		t.Fatal(err)
	}
	f.x.PerUser = limit.NewMemory(limit.Budget{Count: 2, Window: time.Minute}, 100, limit.ForgetOldest)
	for range 3 {
		_, _ = f.x.Exchange(context.Background(), request(f.access, "households", "listUserProfiles"), "property-service", "")
	}
	if _, err := f.x.Exchange(context.Background(), request(f.access, "user-service", "listUserProfiles"), "property-service", ""); err != nil {
		t.Fatalf("spending households' budget spent user-service's: %v", err)
	}
}

// A Transport on a client without RefuseRedirect re-sent the credential
// and the user's access token to wherever a 307 pointed: the Transport
// itself refuses a redirected request.
func TestTransportRefusesARedirectWhateverTheClient(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	t.Cleanup(target.Close)
	callee := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(callee.Close)
	client := &http.Client{Timeout: time.Second, Transport: &Transport{Credential: StaticToken(alpha), UserTokens: true}}
	resp, err := client.Post(callee.URL+"/exchange", "application/json", strings.NewReader(`{"subject_token":"x"}`))
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, ErrRedirect) || reached.Load() != 0 {
		t.Fatalf("the redirect was followed (%v); its target was reached %d times", err, reached.Load())
	}
}
