package tokenguard_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"jeeves4service/services/common/testenv"
	"jeeves4service/services/common/tokenguard"
)

var (
	alpha = strings.Repeat("a", 32)
	beta  = strings.Repeat("b", 40)
)

func guard(t testing.TB) *tokenguard.TokenGuard {
	t.Helper()
	a, err := tokenguard.NewToken("alpha", alpha)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tokenguard.NewToken("beta", beta)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testenv.Logger()
	g, err := tokenguard.New([]tokenguard.Token{a, b}, log)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMatchAcceptsEveryConfiguredTokenAndNothingElse(t *testing.T) {
	g := guard(t)
	if name, ok := g.Match(alpha); !ok || name != "alpha" {
		t.Fatalf("alpha: %q %v", name, ok)
	}
	if name, ok := g.Match(beta); !ok || name != "beta" {
		t.Fatalf("beta: %q %v", name, ok)
	}
	for _, bad := range []string{"", alpha[:31], alpha + "a", strings.ToUpper(alpha), beta[:32], " " + alpha} {
		if _, ok := g.Match(bad); ok {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func TestShortTokensAreRefused(t *testing.T) {
	if _, err := tokenguard.NewToken("x", strings.Repeat("a", 31)); err == nil {
		t.Fatal("31-character token accepted")
	}
}

// A guard without credentials must reject every call, never accept all
// (the failure mode of GHSA-r277-6w6q-xmqw).
func TestGuardFailsClosed(t *testing.T) {
	log, _ := testenv.Logger()
	if _, err := tokenguard.New(nil, log); err == nil {
		t.Fatal("guard without tokens was built")
	}
	var nilGuard *tokenguard.TokenGuard
	for _, presented := range []string{"", alpha} {
		if _, ok := nilGuard.Match(presented); ok {
			t.Fatal("nil guard accepted a token")
		}
		req := httptest.NewRequest("GET", "/api/internal/properties/users/1", nil)
		req.Header.Set(tokenguard.Header, presented)
		err := nilGuard.Authenticate(context.Background(), &openapi3filter.AuthenticationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req}})
		if err == nil {
			t.Fatal("nil guard authenticated a call")
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tokens, err := tokenguard.FromEnv(env(map[string]string{"INTERNAL_SERVICE_TOKEN": alpha,
		"INTERNAL_SERVICE_TOKENS": "reporting=" + beta + ", billing=" + strings.Repeat("c", 33)}))
	if err != nil || len(tokens) != 3 || tokens[1].Name != "reporting" || tokens[2].Name != "billing" {
		t.Fatalf("%v %v", tokens, err)
	}
	for name, m := range map[string]map[string]string{
		"missing":        {},
		"short":          {"INTERNAL_SERVICE_TOKEN": "abc"},
		"no name":        {"INTERNAL_SERVICE_TOKEN": alpha, "INTERNAL_SERVICE_TOKENS": "=" + beta},
		"short extra":    {"INTERNAL_SERVICE_TOKEN": alpha, "INTERNAL_SERVICE_TOKENS": "x=short"},
		"duplicate name": {"INTERNAL_SERVICE_TOKEN": alpha, "INTERNAL_SERVICE_TOKENS": "x=" + beta + ",x=" + beta},
	} {
		_, err := tokenguard.FromEnv(env(m))
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if strings.Contains(err.Error(), beta) || (m["INTERNAL_SERVICE_TOKEN"] != "" && strings.Contains(err.Error(), m["INTERNAL_SERVICE_TOKEN"])) {
			t.Fatalf("%s: error quotes a token: %v", name, err)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add(alpha)
	f.Add(beta)
	f.Add("")
	f.Add(alpha[:31])
	g := guard(f)
	f.Fuzz(func(t *testing.T, presented string) {
		name, ok := g.Match(presented)
		want := presented == alpha || presented == beta
		if ok != want || (ok && name == "") {
			t.Fatalf("Match(%q) = %q, %v", presented, name, ok)
		}
	})
}
