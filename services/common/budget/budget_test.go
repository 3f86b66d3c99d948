package budget_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/budget"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// A 429 is held in the tarpit; one it has no room for goes out at once and
// closes the connection; other statuses pass untouched.
func TestHoldRefusals(t *testing.T) {
	tp := ratelimit.NewTarpit(200*time.Millisecond, 1, 10)
	h := middleware.ClientIP(nil)(budget.HoldRefusals(tp)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	budgeted := middleware.RequestID(budget.Fields(budget.Spend(first, "failures", key)(budget.Spend(second, "requests", key)(answer))))
	bare := middleware.RequestID(budget.Fields(answer))
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
