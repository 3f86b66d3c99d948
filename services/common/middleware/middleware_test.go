package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
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
		h := middleware.ClientIP(trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = reqinfo.ClientIP(r.Context()) }))
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
	h := middleware.Recover(discard())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}
func TestCredentialsInTheQueryStringAreRefused(t *testing.T) {
	reached := false
	h := middleware.RejectSecretsInQuery(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
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
