package internalauth

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

var (
	alpha = strings.Repeat("a", 32)
	beta  = strings.Repeat("b", 40)
)

func guard(t testing.TB) *checker {
	t.Helper()
	a, err := NewToken("alpha", alpha)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewToken("beta", beta)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newChecker(Tokens, []Token{a, b}, nil)
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
	if _, err := NewToken("x", strings.Repeat("a", 31)); err == nil {
		t.Fatal("31-character token accepted")
	}
}

// A guard without credentials must reject every call, never accept all
// (the failure mode of GHSA-r277-6w6q-xmqw): it cannot be built, and a nil
// checker refuses everything.
func TestGuardFailsClosed(t *testing.T) {
	log, _ := testenv.Logger()
	for _, mode := range []Mode{Tokens, Both} {
		w := &Workload{cfg: Config{Name: "property-service", Mode: mode}}
		if _, err := w.Guard(GuardOptions{Log: log}); err == nil {
			t.Fatalf("%s: guard without tokens was built", mode)
		}
	}
	if _, err := newChecker(SPIFFE, nil, nil); err == nil {
		t.Fatal("spiffe checker without a trust bundle was built")
	}
	tok, err := NewToken("user-service", alpha)
	if err != nil {
		t.Fatal(err)
	}
	w := &Workload{cfg: Config{Name: "property-service", Mode: Tokens, Accepted: []Token{tok}}}
	if _, err := w.Guard(GuardOptions{}); err == nil {
		t.Fatal("guard without a logger was built: its refusals would go unlogged")
	}
	var nilChecker *checker
	for _, presented := range []string{"", alpha} {
		if _, ok := nilChecker.Match(presented); ok {
			t.Fatal("nil checker accepted a token")
		}
		req := httptest.NewRequest("GET", "/api/internal/properties/users/1", nil)
		if _, reason, _ := nilChecker.check(req, presented); reason == "" {
			t.Fatal("nil checker accepted a call")
		}
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
	g := guard(f)
	f.Fuzz(func(t *testing.T, presented string) {
		name, ok := g.Match(presented)
		want := presented == alpha || presented == beta
		if ok != want || (ok && name == "") {
			t.Fatalf("Match(%q) = %q, %v", presented, name, ok)
		}
	})
}
