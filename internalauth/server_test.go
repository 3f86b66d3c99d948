package internalauth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internalauth/limit"
)

// match accepts every configured token under its own name, and nothing
// else: not a prefix, not a longer value, not another case.
func TestMatchAcceptsEveryConfiguredTokenAndNothingElse(t *testing.T) {
	toks := tokens(t)
	if name, ok := match(toks, alpha); !ok || name != "alpha" {
		t.Fatalf("alpha: %q %v", name, ok)
	}
	if name, ok := match(toks, beta); !ok || name != "beta" {
		t.Fatalf("beta: %q %v", name, ok)
	}
	for _, bad := range []string{"", alpha[:31], alpha + "a", strings.ToUpper(alpha), beta[:32], " " + alpha} {
		if _, ok := match(toks, bad); ok {
			t.Fatalf("accepted %q", bad)
		}
	}
	if _, ok := match(nil, alpha); ok {
		t.Fatal("no tokens accepted a token")
	}
}

func TestShortTokensAreRefused(t *testing.T) {
	if _, err := NewToken("x", strings.Repeat("a", 31)); err == nil {
		t.Fatal("31-character token accepted")
	}
	if _, err := NewToken("x", strings.Repeat("a", 32)); err != nil {
		t.Fatalf("32-character token refused: %v", err)
	}
}

// A guard that would accept no credential, or could not decide a call made
// for a user, must not exist: a guard built by mistake must never pass for
// protection (the failure mode of GHSA-r277-6w6q-xmqw).
func TestGuardFailsClosed(t *testing.T) {
	ts := newTokenService(t)
	doc := loadContract(t, contractYAML)
	for name, opts := range map[string][]Option{
		"no credential":          {WithName(self), WithSubjects(ts.verifier)},
		"a zero Token":           {WithName(self), WithSubjects(ts.verifier), WithTokens(Token{Name: "alpha"})},
		"no subject verifier":    {WithName(self), WithTokens(tokens(t)...)},
		"no name (audience)":     {WithTokens(tokens(t)...), WithSubjects(ts.verifier)},
		"a nil logger":           {WithName(self), WithTokens(tokens(t)...), WithSubjects(ts.verifier), WithLogger(nil)},
		"an unknown AlsoAllowed": {WithName(self), WithTokens(tokens(t)...), WithSubjects(ts.verifier), WithAlsoAllowed("nope", "beta")},
		"SPIFFE without bundles": {WithName(self), WithSubjects(ts.verifier), WithSPIFFE(SVIDs{})},
	} {
		if g, err := New(doc, opts...); err == nil || g != nil {
			t.Errorf("%s: a guard was built (%v)", name, err)
		}
	}
	if _, err := New(nil, WithTokens(tokens(t)...)); err == nil {
		t.Error("a guard without a contract was built")
	}
	if _, err := New(doc, WithName(self), WithTokens(tokens(t)...), WithSubjects(ts.verifier)); err != nil {
		t.Fatalf("the complete guard: %v", err)
	}
}

// Over HTTP: a call is let through only with a known credential, from a
// caller the operation lists, with a subject token for this very call; each
// refusal has its status and its reason.
func TestGuardDecidesEachCall(t *testing.T) {
	ts := newTokenService(t)
	// The failure budget is off: a table of refused calls from one address
	// must not be cut short by it (its own test is
	// TestGuardBoundsGuessingByDefault).
	s := serve(t, ts, WithFailureBudget(limit.Unlimited))
	for _, c := range []struct {
		name, method, path, credential, subjectToken string
		status                                       int
		reason                                       string
	}{
		{"no credential", "GET", "/users/7", "", ts.sign(t, "7", "getUser", "alpha"), 401, "missing"},
		{"a wrong token", "GET", "/users/7", alpha[:31] + "x", ts.sign(t, "7", "getUser", "alpha"), 401, "invalid"},
		{"no subject token", "GET", "/users/7", alpha, "", 401, "subject_token_missing"},
		{"a forged subject token", "GET", "/users/7", alpha, ts.sign(t, "7", "getUser", "alpha") + "x", 401,
			"subject_token_invalid"},
		{"a caller the operation does not list", "GET", "/users/7", beta, ts.sign(t, "7", "getUser", "beta"), 403,
			"caller_not_allowed"},
		{"a subject token for another operation", "GET", "/users/7", alpha, ts.sign(t, "7", "batch", "alpha"), 403,
			"subject_token_other_operation"},
		{"a subject token for another caller", "GET", "/users/7", alpha, ts.sign(t, "7", "getUser", "beta"), 403,
			"subject_token_other_caller"},
		{"an unknown path", "GET", "/nope", alpha, "", 404, "unknown_operation"},
		{"another method", "DELETE", "/users/7", alpha, "", 405, "unknown_operation"},
		{"the right call", "GET", "/users/7", alpha, ts.sign(t, "7", "getUser", "alpha"), 200, ""},
		{"a call for nobody", "POST", "/batch", beta, "", 200, ""},
	} {
		status, body, h := call(t, c.method, s.url+c.path, c.credential, c.subjectToken)
		got := s.lastRefusal()
		if status != c.status || got.reason != c.reason || (c.reason != "" && got.status != status) {
			t.Errorf("%s: %d %q (refusal %+v), want %d %q", c.name, status, body, got, c.status, c.reason)
		}
		if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: a 401 without WWW-Authenticate", c.name)
		}
		if status != http.StatusOK && strings.Contains(body, alpha[:20]) {
			t.Errorf("%s: the refusal quotes the credential: %s", c.name, body)
		}
	}
	if _, body, _ := call(t, "GET", s.url+"/users/7", alpha, ts.sign(t, "7", "getUser", "alpha")); body != "alpha for 7" {
		t.Fatalf("the handler was told %q, want the caller and subject the guard verified", body)
	}
}

func TestParseTokens(t *testing.T) {
	tokens, err := ParseTokens("reporting=" + beta + ", billing=" + strings.Repeat("c", 33))
	if err != nil || len(tokens) != 2 || tokens[0].Name != "reporting" || tokens[1].Name != "billing" {
		t.Fatalf("%v %v", tokens, err)
	}
	// Two tokens of one caller are a rotation in progress, not a mistake.
	tokens, err = ParseTokens("user-service=" + beta + ",user-service=" + alpha)
	if err != nil || len(tokens) != 2 || tokens[0].Name != "user-service" || tokens[1].Name != "user-service" {
		t.Fatalf("rotation: %v %v", tokens, err)
	}
	for name, list := range map[string]string{
		"no name":     "=" + beta,
		"no token":    "x",
		"short extra": "x=short",
		"one short":   "x=" + beta + ",x=short",
	} {
		_, err := ParseTokens(list)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if strings.Contains(err.Error(), beta) {
			t.Fatalf("%s: error quotes a token: %v", name, err)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add(alpha)
	f.Add(beta)
	f.Add("")
	f.Add(alpha[:31])
	toks := tokens(f)
	f.Fuzz(func(t *testing.T, presented string) {
		name, ok := match(toks, presented)
		want := presented == alpha || presented == beta
		if ok != want || (ok && name == "") {
			t.Fatalf("match(%q) = %q, %v", presented, name, ok)
		}
	})
}
