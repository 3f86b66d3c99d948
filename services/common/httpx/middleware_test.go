package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"jeeves4service/services/common/httpx"
	"jeeves4service/services/common/ratelimit"
	"jeeves4service/services/common/reqinfo"
)

func TestClientIPBelievesForwardedForOnlyFromTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "1.2.3.4", "203.0.113.5"},              // untrusted peer: header ignored
		{"10.1.2.3:1234", "198.51.100.7", "198.51.100.7"},           // trusted proxy: header believed
		{"10.1.2.3:1234", "6.6.6.6, 198.51.100.7", "198.51.100.7"},  // client-supplied left entries ignored
		{"10.1.2.3:1234", "198.51.100.7, 10.9.9.9", "198.51.100.7"}, // chain of trusted proxies skipped
		{"10.1.2.3:1234", "garbage", "10.1.2.3"},
	}
	for _, c := range cases {
		var got string
		h := httpx.ClientIP(trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = reqinfo.ClientIP(r.Context()) }))
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got != c.want {
			t.Fatalf("remote %s xff %q: got %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

func TestRecoverAnswersProblem(t *testing.T) {
	h := httpx.Recover(discard())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// A 429 is held in the tarpit; one it has no room for goes out at once and
// closes the connection; other statuses pass untouched.
func TestHoldRefusals(t *testing.T) {
	tp := ratelimit.NewTarpit(200*time.Millisecond, 1, 10)
	h := httpx.ClientIP(nil)(httpx.HoldRefusals(tp)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusTooManyRequests)
	})))
	serve := func(path string) (*httptest.ResponseRecorder, time.Duration) {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "203.0.113.5:1234"
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		return w, time.Since(start)
	}
	if w, took := serve("/ok"); w.Code != 200 || took >= 200*time.Millisecond {
		t.Fatalf("a 200: %d after %s", w.Code, took)
	}
	first := make(chan time.Duration)
	go func() { _, took := serve("/refused"); first <- took }()
	time.Sleep(50 * time.Millisecond) // the first refusal is held by now
	w, took := serve("/refused")
	if w.Code != 429 || w.Header().Get("Connection") != "close" || took >= 200*time.Millisecond {
		t.Fatalf("past the per-IP bound: %d, Connection %q, after %s", w.Code, w.Header().Get("Connection"), took)
	}
	if took := <-first; took < 200*time.Millisecond {
		t.Fatalf("the held refusal went out after %s", took)
	}
}

// The budgets record their decision and BudgetFields writes the fields of
// the last one once, on every kind of answer: a status line, a body alone,
// a refusal. A handler's own fields are kept; a request no budget governed
// gets none, even on a writer recycled from one that had a budget.
func TestBudgetFieldsAreTheGoverningBudgets(t *testing.T) {
	first := ratelimit.NewMemory(ratelimit.Budget{Count: 10, Window: time.Minute}, 10, ratelimit.FailClosed)
	second := ratelimit.NewMemory(ratelimit.Budget{Count: 3, Window: time.Minute}, 10, ratelimit.FailClosed)
	key := func(*http.Request) string { return "k" }
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/body":
			_, _ = w.Write([]byte("{}"))
		case "/own":
			w.Header().Set("RateLimit-Policy", "own")
			w.Header().Set("RateLimit", "own")
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	budgeted := httpx.RequestID(httpx.BudgetFields(httpx.Budget(first, "failures", key)(httpx.Budget(second, "requests", key)(answer))))
	bare := httpx.RequestID(httpx.BudgetFields(answer))
	for i, c := range []struct {
		h             http.Handler
		path          string
		status        int
		policy, state string
	}{
		{budgeted, "/", 204, `"requests";q=3;w=60`, `"requests";r=2;t=20`},
		{bare, "/", 204, "", ""},
		{budgeted, "/body", 200, `"requests";q=3;w=60`, `"requests";r=1;t=40`},
		{budgeted, "/own", 200, "own", "own"},
		{budgeted, "/", 429, `"requests";q=3;w=60`, `"requests";r=0;t=60`}, // the refusal, from the same budget
		{bare, "/body", 200, "", ""},
	} {
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
		h := rec.Result().Header
		if p, s := h.Values("RateLimit-Policy"), h.Values("RateLimit"); rec.Code != c.status || len(p) > 1 || len(s) > 1 ||
			h.Get("RateLimit-Policy") != c.policy || h.Get("RateLimit") != c.state {
			t.Fatalf("answer %d (%s): %d, RateLimit-Policy %q RateLimit %q, want %d, %q and %q",
				i, c.path, rec.Code, p, s, c.status, c.policy, c.state)
		}
	}
}

// Credentials never travel in a URL (proxy logs, browser history, Referer):
// each one in a query string is refused before the handler, and named.
// refresh_token was missing from the list (issue 25, item 13).
func TestCredentialsInTheQueryStringAreRefused(t *testing.T) {
	reached := false
	h := httpx.RejectSecretsInQuery(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	for _, name := range []string{"password", "current_password", "new_password", "token", "access_token", "refresh_token",
		"Refresh_Token", "x-internal-token"} {
		reached = false
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/users/refresh?"+name+"=AAAA", nil))
		if rec.Code != http.StatusBadRequest || reached || !strings.Contains(rec.Body.String(), `"field":"`+name+`"`) {
			t.Fatalf("%s in the query string: %d, handler reached %v, %s", name, rec.Code, reached, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/properties/?limit=10&after=3", nil))
	if !reached {
		t.Fatalf("a query without credentials was refused: %d", rec.Code)
	}
}
