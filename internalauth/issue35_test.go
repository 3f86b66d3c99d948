package internalauth

import (
	"net/http"
	"strings"
	"testing"
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
