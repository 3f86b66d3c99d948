package property_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// countingJWKS publishes a key set and counts how often it is fetched.
type countingJWKS struct {
	mu      sync.Mutex
	keys    []ed25519.PrivateKey
	fetches int
	url     string
}

func newCountingJWKS(t *testing.T, keys ...ed25519.PrivateKey) *countingJWKS {
	j := &countingJWKS{keys: keys}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.mu.Lock()
		j.fetches++
		var set jwtauth.JWKS
		for _, k := range j.keys {
			set.Keys = append(set.Keys, jwtauth.PublicJWK(k.Public().(ed25519.PublicKey)))
		}
		j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	j.url = srv.URL + "/.well-known/jwks.json"
	return j
}

func (j *countingJWKS) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches
}

func (j *countingJWKS) publish(keys ...ed25519.PrivateKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = keys
}

func newSigningKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenWithKid is a valid token for user 9 signed by k, naming kid.
func tokenWithKid(t *testing.T, k ed25519.PrivateKey, kid string) string {
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwtauth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "9", Issuer: testenv.Settings.Issuer, Audience: jwt.ClaimStrings{testenv.Settings.Audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, UserID: 9})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bogusKid() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// startCountingJWKS starts a property service verifying tokens with jwks's
// keys; adjust may change its config further.
func startCountingJWKS(t *testing.T, jwks *countingJWKS, adjust func(*property.Config)) *env {
	return startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), func(c *property.Config) {
		c.JWKSURL = jwks.url
		if adjust != nil {
			adjust(c)
		}
	})
}

// Issue 25, item 11: 1,500 requests with bogus kids (383 of them answered
// 429) made 748 JWKS fetches. A token whose kid is not held may now cause a
// fetch only while its client has request budget left, and on-demand
// fetches are at least jwtauth.DefaultJWKSMinRefetch apart whatever arrives;
// a real new key is still taken up at the next fetch, within that spacing.
func TestBogusKidsCannotFloodTheJWKS(t *testing.T) {
	k1 := newSigningKey(t)
	jwks := newCountingJWKS(t, k1)
	// The default budget (600 a minute per client); the loopback peer is a
	// trusted proxy, so that the last request can come from another client.
	e := startCountingJWKS(t, jwks, func(c *property.Config) { c.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	list := e.url("/api/properties/")
	good := tokenWithKid(t, k1, jwtauth.KeyID(k1.Public().(ed25519.PublicKey)))
	if r := testenv.Do(t, "GET", list, nil, testenv.Bearer(good)...); r.Status != 200 {
		t.Fatalf("a valid token: %d", r.Status)
	}
	before := jwks.count()

	const requests, workers = 1500, 200

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	tokens := make(chan string, requests)
	for i := 0; i < requests; i++ {
		tokens <- tokenWithKid(t, k1, bogusKid())
	}
	close(tokens)
	var mu sync.Mutex
	statuses := map[int]int{}
	var errs testenv.Errors
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range tokens {
				r, err := testenv.TryWith(client, "GET", list, nil, testenv.Bearer(tok)...)
				errs.Add(err)
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	errs.Check(t)
	fetches := jwks.count() - before
	// One on-demand fetch per spacing, and one more for a spacing cut at each end.
	bound := 2 + int(elapsed/jwtauth.DefaultJWKSMinRefetch)
	t.Logf("%d bogus-kid requests in %v: statuses %v, %d JWKS fetches (bound %d)", requests, elapsed.Round(time.Millisecond),
		statuses, fetches, bound)
	if fetches > bound {
		t.Errorf("%d bogus-kid requests in %v made %d JWKS fetches, more than one per %v (%d)", requests,
			elapsed.Round(time.Millisecond), fetches, jwtauth.DefaultJWKSMinRefetch, bound)
	}
	// The budget, and what it refilled meanwhile, answered 401; the rest 429.
	budget := property.DefaultRequestLimit
	refilled := int(elapsed.Seconds()*float64(budget.Count)/budget.Window.Seconds()) + 1
	if statuses[401] < budget.Count || statuses[401] > budget.Count+refilled || statuses[401]+statuses[429] != requests {
		t.Errorf("statuses %v: want %d to %d answered 401 (the budget and its refill) and the rest 429", statuses,
			budget.Count, budget.Count+refilled)
	}

	// The user service rotates its key: a token of the new key is accepted on
	// its first request, after at most one spacing (plus the fetch).
	k2 := newSigningKey(t)
	jwks.publish(k2, k1)
	fresh := tokenWithKid(t, k2, jwtauth.KeyID(k2.Public().(ed25519.PublicKey)))
	asked := time.Now()
	r := testenv.Do(t, "GET", list, nil, append(testenv.Bearer(fresh), "X-Forwarded-For", "192.0.2.1")...)
	if took := time.Since(asked); r.Status != 200 || took > jwtauth.DefaultJWKSMinRefetch+time.Second {
		t.Fatalf("a token of a newly published key: %d after %v, want 200 within %v", r.Status, took.Round(time.Millisecond),
			jwtauth.DefaultJWKSMinRefetch)
	}
}

// A client whose request budget is spent gets 429 before a token naming an
// unknown kid is looked at any further: no fetch.
func TestTheRequestBudgetComesBeforeAnyJWKSFetch(t *testing.T) {
	k1 := newSigningKey(t)
	jwks := newCountingJWKS(t, k1)
	e := startCountingJWKS(t, jwks, func(c *property.Config) {
		c.RequestLimit = ratelimit.Budget{Count: 3, Window: time.Hour}
	})
	list := e.url("/api/properties/")
	for i := 0; i < 3; i++ {
		if r := testenv.Do(t, "GET", list, nil); r.Status != 401 {
			t.Fatalf("request %d without a token: %d", i, r.Status)
		}
	}
	r := testenv.Do(t, "GET", list, nil, testenv.Bearer(tokenWithKid(t, k1, bogusKid()))...)
	if n := jwks.count(); r.Status != 429 || n != 0 {
		t.Fatalf("a bogus kid from a client past its budget: %d and %d JWKS fetches, want 429 and none", r.Status, n)
	}
	for i := 0; i < 5; i++ {
		testenv.Do(t, "GET", list, nil, testenv.Bearer(tokenWithKid(t, k1, bogusKid()))...)
	}
	if n := jwks.count(); n != 0 {
		t.Fatalf("five more bogus kids past the budget made %d JWKS fetches", n)
	}
}
