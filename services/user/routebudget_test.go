package user_test

import (
	"path/filepath"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// Issue 25, item 8: the docs page, the contract and unknown paths spend the
// client IP's request budget like every API call without a bearer token.
func TestDocsSpendTheRequestBudget(t *testing.T) {
	fake := newFake(t, goodAnswer)
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, map[string]string{
		"TRUSTED_PROXIES": "127.0.0.0/8", "REQUEST_LIMIT": "6/1h", "REFUSAL_DELAY": "0"})
	statuses := map[int]int{}
	for i := 0; i < 12; i++ {
		path := []string{"/docs", "/openapi.yaml", "/openapi.json", "/nothing-here"}[i%4]
		statuses[testenv.DoUnchecked(t, "GET", e.url+path, nil, "X-Forwarded-For", "198.51.100.7").Status]++
	}
	if statuses[429] != 6 {
		t.Fatalf("12 docs and contract requests from one IP with a budget of 6: %v, want 6 × 429", statuses)
	}
	// The API's unauthenticated calls spend the same budget: the IP is spent.
	r := testenv.Do(t, "GET", e.url+"/.well-known/jwks.json", nil, "X-Forwarded-For", "198.51.100.7")
	if r.Status != 429 {
		t.Fatalf("the JWKS after the IP's budget went on docs: %d, want 429", r.Status)
	}
	if r := testenv.Do(t, "GET", e.url+"/.well-known/jwks.json", nil, "X-Forwarded-For", "198.51.100.8"); r.Status != 200 {
		t.Fatalf("another IP: %d", r.Status)
	}
}
