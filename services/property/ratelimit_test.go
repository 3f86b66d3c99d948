package property_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// Loopback is a trusted proxy here, so X-Forwarded-For plays the client IP.
func limited(budget int, backend ratelimit.Backend) func(*property.Config) {
	return func(c *property.Config) {
		c.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.InternalTrusted = c.Trusted
		c.TokenFailures = ratelimit.Budget{Count: budget, Window: time.Hour}
		c.Limits = backend
	}
}

func call(t *testing.T, e *env, ip, token string) testenv.Response {
	t.Helper()
	headers := []string{"X-Forwarded-For", ip}
	switch {
	case callerNames[token] != "":
		headers = append(headers, e.claimsCall(t, token, 1)...)
	case token != "":
		headers = append(headers, internalauth.Header, token)
	}
	return testenv.Do(t, "GET", userPropertiesURL(e, "1"), nil, headers...)
}

func TestWrongTokensAreRateLimitedPerClientIP(t *testing.T) {
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), limited(3, ratelimit.Backend{}))
	const attacker, bystander = "198.51.100.9", "203.0.113.4"
	for i := 0; i < 3; i++ {
		if r := call(t, e, attacker, strings.Repeat("g", 40)); r.Status != 401 {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	r := call(t, e, attacker, strings.Repeat("g", 40))
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after the budget: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	r.Problem(t)
	// Even the right token from the blocked IP waits; the same token from another IP works.
	if r := call(t, e, attacker, goodToken); r.Status != 429 {
		t.Fatalf("good token from the blocked IP: %d", r.Status)
	}
	if r := call(t, e, bystander, goodToken); r.Status != 200 {
		t.Fatalf("good token from another IP: %d", r.Status)
	}
	if r := call(t, e, bystander, ""); r.Status != 401 {
		t.Fatalf("another IP's first failure: %d", r.Status)
	}
	limitedLines := 0
	for _, l := range e.logs.Lines("internal call rejected") {
		if l["reason"] == "rate_limited" && l["client_ip"] == attacker {
			limitedLines++
		}
	}
	if limitedLines != 2 {
		t.Fatalf("want 2 rate_limited WARN lines for the attacker, got %d", limitedLines)
	}
}

// Two replicas sharing Redis share the budget: failures on one count on the other.
func TestTokenLimitHoldsAcrossInstancesSharingRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RandomPrefix()
	backend, err := ratelimit.ParseRedisURL(redisURL, prefix)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := startWith(t, "sqlite:"+filepath.Join(dir, "a.db"), limited(3, backend))
	b := startWith(t, "sqlite:"+filepath.Join(dir, "b.db"), limited(3, backend))
	const attacker = "198.51.100.77"
	bad := strings.Repeat("h", 40)
	for i, e := range []*env{a, b, a} {
		if r := call(t, e, attacker, bad); r.Status != 401 {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	for name, e := range map[string]*env{"a": a, "b": b} {
		if r := call(t, e, attacker, bad); r.Status != 429 {
			t.Fatalf("instance %s after 3 shared failures: %d", name, r.Status)
		}
	}
	if r := call(t, b, "203.0.113.50", goodToken); r.Status != 200 {
		t.Fatalf("another IP on instance b: %d", r.Status)
	}
}

// 200 wrong tokens from one IP at the same moment get exactly the budget's
// worth of token checks (401); the rest are refused before the check (429).
func TestConcurrentWrongTokensGetExactlyTheBudget(t *testing.T) {
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), limited(10, ratelimit.Backend{}))
	got := testenv.Burst(t, 200, func(int) (testenv.Response, error) {
		return testenv.Try("GET", userPropertiesURL(e, "1"), nil, "X-Forwarded-For", "198.51.100.200",
			internalauth.Header, strings.Repeat("x", 40))
	})
	if got[401] != 10 || got[429] != 190 {
		t.Fatalf("200 concurrent wrong tokens, budget 10: %v", got)
	}
}
