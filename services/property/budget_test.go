package property_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// budgets gives both listeners small request budgets.
func budgets(public, internal int, backend ratelimit.Backend) func(*property.Config) {
	return func(c *property.Config) {
		c.RequestLimit = ratelimit.Budget{Count: public, Window: time.Hour}
		c.InternalRequestLimit = ratelimit.Budget{Count: internal, Window: time.Hour}
		c.Limits = backend
	}
}

// remaining reads r= from the RateLimit field.
func remaining(t *testing.T, r testenv.Response) string {
	t.Helper()
	v := r.Header.Get("RateLimit")
	i := strings.Index(v, ";r=")
	if i < 0 || r.Header.Get("RateLimit-Policy") == "" {
		t.Fatalf("no RateLimit fields: %v", r.Header)
	}
	return strings.SplitN(v[i+3:], ";", 2)[0]
}

// A client's budget counts down in the RateLimit field on every answer and
// is refused with 429 and Retry-After once spent; other clients are not. On
// the public listener a client is a user; on the internal one a caller.
func TestRequestBudgetCountsDownThenRefuses(t *testing.T) {
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), budgets(3, 3, ratelimit.Backend{}))
	list := e.url("/api/properties/")
	for i, want := range []string{"2", "1", "0"} {
		r := testenv.Do(t, "GET", list, nil, e.as(t, 5)...)
		if r.Status != 200 || remaining(t, r) != want {
			t.Fatalf("request %d: %d, remaining %q, want %s", i, r.Status, remaining(t, r), want)
		}
	}
	r := testenv.Do(t, "GET", list, nil, e.as(t, 5)...)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || remaining(t, r) != "0" {
		t.Fatalf("past the budget: %d %v", r.Status, r.Header)
	}
	if r := testenv.Do(t, "GET", list, nil, e.as(t, 6)...); r.Status != 200 {
		t.Fatalf("another user: %d", r.Status)
	}
	if p := r.Header.Get("RateLimit-Policy"); p != `"requests";q=3;w=3600` {
		t.Fatalf("policy %q", p)
	}

	url := userPropertiesURL(e, "1")
	for i, want := range []string{"2", "1", "0"} {
		r := testenv.Do(t, "GET", url, nil, e.claimsCall(t, goodToken, 1)...)
		if r.Status != 200 || remaining(t, r) != want {
			t.Fatalf("internal call %d: %d, remaining %q, want %s", i, r.Status, remaining(t, r), want)
		}
	}
	if r := testenv.Do(t, "GET", url, nil, e.claimsCall(t, goodToken, 1)...); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("internal caller past its budget: %d", r.Status)
	}
	// Another caller has a budget of its own (the contract does not allow it
	// this operation, so it gets 403, but not 429).
	if r := testenv.Do(t, "GET", url, nil, e.claimsCall(t, otherToken, 1)...); r.Status != 403 || remaining(t, r) != "2" {
		t.Fatalf("another caller: %d, remaining %q", r.Status, remaining(t, r))
	}
	// Before the caller is known, the answer carries the client IP's failure budget.
	r = testenv.Do(t, "GET", url, nil)
	if r.Status != 401 || !strings.HasPrefix(r.Header.Get("RateLimit"), `"failures";`) {
		t.Fatalf("unauthenticated internal call: %d %q", r.Status, r.Header.Get("RateLimit"))
	}
}

// Two replicas sharing Redis share one budget per client.
func TestRequestBudgetIsSharedThroughRedis(t *testing.T) {
	backend, err := ratelimit.ParseRedisURL(testenv.RedisURL(t), testenv.RandomPrefix())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := startWith(t, "sqlite:"+filepath.Join(dir, "a.db"), budgets(3, 3, backend))
	// b trusts a's issuer: one user service signs for both replicas.
	b := startWith(t, "sqlite:"+filepath.Join(dir, "b.db"), func(cfg *property.Config) {
		budgets(3, 3, backend)(cfg)
		cfg.JWKSURL, cfg.JWT = a.issuer.JWKSURL, a.issuer.Settings
	})
	token := a.issuer.Token(t, 9, false)
	for i, e := range []*env{a, b, a} {
		if r := testenv.Do(t, "GET", e.url("/api/properties/"), nil, testenv.Bearer(token)...); r.Status != 200 {
			t.Fatalf("request %d: %d", i, r.Status)
		}
	}
	for name, e := range map[string]*env{"a": a, "b": b} {
		if r := testenv.Do(t, "GET", e.url("/api/properties/"), nil, testenv.Bearer(token)...); r.Status != 429 {
			t.Fatalf("instance %s after 3 shared requests: %d", name, r.Status)
		}
	}
}

// No origin may call the public listener from a browser page unless
// CORS_ALLOWED_ORIGINS lists it, and then exactly that origin is allowed;
// the internal listener never answers a preflight.
func TestCORSPolicy(t *testing.T) {
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), func(c *property.Config) {
		c.CORSOrigins = []string{"https://app.example.com"}
	})
	preflight := func(url, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, url, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := testenv.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	listed := preflight(e.url("/api/properties/"), "https://app.example.com")
	if got := listed.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Fatalf("listed origin: Access-Control-Allow-Origin %q", got)
	}
	for _, origin := range []string{"https://evil.example.com", "null", "https://app.example.com.evil.example"} {
		resp := preflight(e.url("/api/properties/"), origin)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("unlisted origin %q: Access-Control-Allow-Origin %q", origin, got)
		}
	}
	r := testenv.Do(t, "GET", e.url("/api/properties/"), nil, append(e.as(t, 1), "Origin", "https://app.example.com")...)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Ratelimit") {
		t.Fatalf("actual request from a listed origin: %v", r.Header)
	}
	resp := preflight(userPropertiesURL(e, "1"), "https://app.example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.StatusCode < 400 {
		t.Fatalf("internal listener answered a preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// The contract bounds every list; the service must never answer more than
// the bound: the property list comes in pages, rooms and members are capped.
func TestListsStayWithinTheirBounds(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			e := startWith(t, eng.NewURL(t), budgets(5000, 5000, ratelimit.Backend{}))
			const owner = 40
			var first int64
			for i := 0; i < 105; i++ {
				id := e.createProperty(t, owner, fmt.Sprint("Home ", i))
				if i == 0 {
					first = id
				}
			}
			var page struct {
				Properties []struct{ ID int64 } `json:"properties"`
				TotalCount int                  `json:"total_count"`
				NextAfter  *int64               `json:"next_after"`
			}
			testenv.Do(t, "GET", e.url("/api/properties/"), nil, e.as(t, owner)...).JSON(t, &page)
			if len(page.Properties) != 100 || page.TotalCount != 100 || page.NextAfter == nil || page.Properties[0].ID != first {
				t.Fatalf("first page: %d items, total %d, next %v", len(page.Properties), page.TotalCount, page.NextAfter)
			}
			next := *page.NextAfter
			page.NextAfter = nil
			testenv.Do(t, "GET", e.url("/api/properties/?after=%d&limit=10", next), nil, e.as(t, owner)...).JSON(t, &page)
			if len(page.Properties) != 5 || page.NextAfter != nil {
				t.Fatalf("second page: %d items, next %v", len(page.Properties), page.NextAfter)
			}
			if r := testenv.Do(t, "GET", e.url("/api/properties/?limit=101"), nil, e.as(t, owner)...); r.Status != 400 {
				t.Fatalf("limit over the bound: %d", r.Status)
			}

			// The internal claims call lists at most limit, and counts them all.
			var claims struct {
				Properties []any `json:"properties"`
				TotalCount int   `json:"total_count"`
			}
			testenv.Do(t, "GET", userPropertiesURL(e, fmt.Sprint(owner))+"?limit=3", nil, e.claimsCall(t, goodToken, owner)...).JSON(t, &claims)
			if len(claims.Properties) != 3 || claims.TotalCount != 105 {
				t.Fatalf("claims with limit 3: %d listed, total %d", len(claims.Properties), claims.TotalCount)
			}
			// A page exactly full and a page one short of all: the same total.
			for _, limit := range []int{104, 105} {
				testenv.Do(t, "GET", userPropertiesURL(e, fmt.Sprint(owner))+fmt.Sprintf("?limit=%d", limit), nil,
					e.claimsCall(t, goodToken, owner)...).JSON(t, &claims)
				if len(claims.Properties) != limit || claims.TotalCount != 105 {
					t.Fatalf("claims with limit %d: %d listed, total %d", limit, len(claims.Properties), claims.TotalCount)
				}
			}

			for i := 0; i < 200; i++ {
				if r := testenv.Do(t, "POST", e.url("/api/property/%d/rooms", first), map[string]string{"name": fmt.Sprint("Room ", i)},
					e.as(t, owner)...); r.Status != 201 {
					t.Fatalf("room %d: %d %s", i, r.Status, r.Body)
				}
			}
			if r := testenv.Do(t, "POST", e.url("/api/property/%d/rooms", first), map[string]string{"name": "One too many"},
				e.as(t, owner)...); r.Status != 409 {
				t.Fatalf("room 201: %d", r.Status)
			}
			// The owner is the first member; one joins by invitation, the rest
			// are written directly (TestInvitationBounds: the 501st cannot join).
			e.addMember(t, owner, first, 10001, "guest")
			e.fillMembers(t, first, 498)
			inv := e.invite(t, owner, first, emailOf(20000), "guest")
			if r := e.accept(t, inv, 20000); r.Status != 409 {
				t.Fatalf("member 501: %d", r.Status)
			}
			// Changing an existing member's level is not adding one.
			if r := testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", first, 10001), map[string]string{"access_level": "member"},
				e.as(t, owner)...); r.Status != 200 {
				t.Fatalf("changing a member at the cap: %d", r.Status)
			}
			var members struct {
				TotalCount int `json:"total_count"`
			}
			testenv.Do(t, "GET", e.url("/api/property/%d/members", first), nil, e.as(t, owner)...).JSON(t, &members)
			if members.TotalCount != 500 {
				t.Fatalf("%d members, want 500", members.TotalCount)
			}
		})
	}
}
