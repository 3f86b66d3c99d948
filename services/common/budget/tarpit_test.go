package budget_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/budget"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// Issue 25, item 10: the tarpit's per-client bound is per /64 for IPv6, as
// the budgets are: a client cannot multiply its held refusals by changing
// the low bits of its address.
func TestTarpitBoundsIPv6PerSlash64(t *testing.T) {
	tp := ratelimit.NewTarpit(300*time.Millisecond, 1, 10)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	h := middleware.ClientIP(trusted)(budget.HoldRefusals(tp)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	})))
	serve := func(ip string) (*httptest.ResponseRecorder, time.Duration) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.1:1234"
		req.Header.Set("X-Forwarded-For", ip)
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		return w, time.Since(start)
	}
	go serve("2001:db8:1:1::1")
	time.Sleep(50 * time.Millisecond) // held by now
	if w, took := serve("2001:db8:1:1::2"); w.Header().Get("Connection") != "close" || took >= 300*time.Millisecond {
		t.Fatalf("a second refusal from the same /64: held %s (Connection %q), want sent at once", took, w.Header().Get("Connection"))
	}
	if _, took := serve("2001:db8:1:2::1"); took < 300*time.Millisecond {
		t.Fatalf("a refusal from another /64 went out after %s, want held", took)
	}
}
