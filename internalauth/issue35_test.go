package internalauth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth/limit"
)

// Issue 35, defect 1: the old Policies ignored whether x-on-behalf-of was
// there, so an operation without it bound no subject token to the user the
// call is about (a subject token for user 8 read /users/7). A contract that
// does not say for whom each operation is called, or who may call it, is
// now no guard at all.
func TestNewRefusesAnOperationWithoutOnBehalfOfOrAllowedCallers(t *testing.T) {
	ts := newTokenService(t)
	opts := []Option{WithName(self), WithTokens(tokens(t)...), WithSubjects(ts.verifier), WithLogger(quiet())}
	for _, ext := range []string{OnBehalfOfExtension, AllowedExtension} {
		for _, path := range []string{"/users/{user_id}", "/batch"} {
			doc := loadContract(t, contractYAML)
			item := doc.Paths.Find(path)
			for _, op := range item.Operations() {
				delete(op.Extensions, ext)
			}
			if g, err := New(doc, opts...); err == nil || g != nil {
				t.Errorf("%s without %s: a guard was built", path, ext)
			} else if !strings.Contains(err.Error(), ext) {
				t.Errorf("%s without %s: the error does not name it: %v", path, ext, err)
			}
			if _, err := Policies(doc); err == nil {
				t.Errorf("%s without %s: Policies read it", path, ext)
			}
		}
	}
}

// Issue 35, defect 1, at run time: over a valid contract, a subject token
// for user 8 does not read /users/7 (403, subject_token_other_user); user
// 7's own does.
func TestGuardRefusesASubjectTokenForAnotherUser(t *testing.T) {
	ts := newTokenService(t)
	s := serve(t, ts)
	status, body, _ := call(t, "GET", s.url+"/users/7", alpha, ts.sign(t, "8", "getUser", "alpha"))
	if got := s.lastRefusal(); status != http.StatusForbidden || got.reason != "subject_token_other_user" {
		t.Fatalf("user 8's subject token on /users/7: %d %s (refusal %+v), want 403 subject_token_other_user",
			status, body, got)
	}
	if status, body, _ := call(t, "GET", s.url+"/users/7", alpha, ts.sign(t, "7", "getUser", "alpha")); status != http.StatusOK {
		t.Fatalf("user 7's own subject token: %d %s", status, body)
	}
}

// Issue 35, defect 2: the old guard's failure budget was nil unless a
// service set one, and nil meant no bound on guessing. Left out, the budget
// is now defaultFailures (10 a minute per client address): the 11th wrong
// token from one address is a 429 with Retry-After, and so is a right one
// after it (a guesser that hits is still refused until the budget is back).
// A nil budget is an error; limit.Unlimited is how it is switched off.
func TestGuardBoundsGuessingByDefault(t *testing.T) {
	if defaultFailures != (limit.Budget{Count: 10, Window: time.Minute}) {
		t.Fatalf("defaultFailures is %v, want 10/min", defaultFailures)
	}
	ts := newTokenService(t)
	s := serve(t, ts) // no WithFailureBudget
	wrong := strings.Repeat("x", 32)
	for i := 1; i <= defaultFailures.Count; i++ {
		if status, _, _ := call(t, "POST", s.url+"/batch", wrong, ""); status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i, status)
		}
	}
	status, _, h := call(t, "POST", s.url+"/batch", wrong, "")
	retry, err := strconv.Atoi(h.Get("Retry-After"))
	if got := s.lastRefusal(); status != http.StatusTooManyRequests || err != nil || retry < 1 || got.reason != "rate_limited" {
		t.Fatalf("wrong token %d: %d, Retry-After %q, refusal %+v; want 429 rate_limited with Retry-After",
			defaultFailures.Count+1, status, h.Get("Retry-After"), got)
	}
	if status, _, _ := call(t, "POST", s.url+"/batch", alpha, ""); status != http.StatusTooManyRequests {
		t.Fatalf("the right token after the budget is spent: %d, want 429", status)
	}

	if _, err := New(loadContract(t, contractYAML), WithName(self), WithTokens(tokens(t)...),
		WithSubjects(ts.verifier), WithFailureBudget(nil)); err == nil {
		t.Fatal("WithFailureBudget(nil) built a guard: nil must not mean unbounded")
	}

	off := serve(t, ts, WithFailureBudget(limit.Unlimited))
	for i := 1; i <= 3*defaultFailures.Count; i++ {
		if status, _, _ := call(t, "POST", off.url+"/batch", wrong, ""); status != http.StatusUnauthorized {
			t.Fatalf("limit.Unlimited, wrong token %d: %d, want 401", i, status)
		}
	}
}
