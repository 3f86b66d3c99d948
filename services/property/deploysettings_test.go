package property_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// Issue 25, item 13: the profiler was served on every admin listener, to
// whoever reaches it (a whole namespace in the manifests). It is served only
// when PPROF=on.
func TestProfilerOnlyWhenTurnedOn(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		want int
	}{{map[string]string{}, 404}, {map[string]string{"PPROF": "off"}, 404}, {map[string]string{"PPROF": "on"}, 200}} {
		e := startEnv(t, c.vars)
		admin := "http://" + e.svc.Server.Addr("admin")
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
			if r := testenv.DoUnchecked(t, "GET", admin+path, nil); r.Status != c.want {
				t.Errorf("PPROF=%q: %s answered %d, want %d", c.vars["PPROF"], path, r.Status, c.want)
			}
		}
		if r := testenv.DoUnchecked(t, "GET", admin+"/metrics", nil); r.Status != 200 {
			t.Errorf("PPROF=%q: /metrics answered %d", c.vars["PPROF"], r.Status)
		}
	}
	_, err := property.LoadConfig(func(k string) string {
		return map[string]string{"INTERNAL_SERVICE_TOKEN": goodToken, "PROPERTY_SERVICE_TOKEN": ownToken, "PPROF": "yes"}[k]
	})
	var cerr *config.Error
	if !errors.As(err, &cerr) || cerr.Var != "PPROF" {
		t.Fatalf("PPROF=yes: %v, want an error naming PPROF", err)
	}
}

// Issue 25, item 13: the JWKS was fetched over plain HTTP inside the
// cluster, so a pod on the path could serve its own key and sign any token.
// A plain-http JWKS URL is refused unless it is loopback (the same host) or
// JWT_JWKS_PLAIN_HTTP=allow says so out loud.
func TestPlainHTTPJWKSIsRefusedOffHost(t *testing.T) {
	load := func(url, allow string) error {
		_, err := property.LoadConfig(func(k string) string {
			return map[string]string{"INTERNAL_SERVICE_TOKEN": goodToken, "PROPERTY_SERVICE_TOKEN": ownToken, "JWT_JWKS_URL": url,
				"JWT_JWKS_PLAIN_HTTP": allow}[k]
		})
		return err
	}
	for _, url := range []string{"http://user-service:8001/.well-known/jwks.json", "http://10.0.0.7:8001/.well-known/jwks.json",
		"http://127.0.0.1.example.com/jwks", "ftp://127.0.0.1/jwks", "user-service:8001"} {
		err := load(url, "")
		var cerr *config.Error
		if !errors.As(err, &cerr) || cerr.Var != "JWT_JWKS_URL" || !strings.Contains(cerr.Problem, "https://") {
			t.Errorf("JWT_JWKS_URL=%s: %v, want refused, naming JWT_JWKS_URL and https", url, err)
		}
	}
	for _, url := range []string{"https://api.example.com/.well-known/jwks.json", "http://127.0.0.1:8001/.well-known/jwks.json",
		"http://localhost:8001/.well-known/jwks.json", "http://[::1]:8001/.well-known/jwks.json", ""} {
		if err := load(url, ""); err != nil {
			t.Errorf("JWT_JWKS_URL=%q: %v, want accepted", url, err)
		}
	}
	if err := load("http://user-service:8001/.well-known/jwks.json", "allow"); err != nil {
		t.Errorf("plain http with JWT_JWKS_PLAIN_HTTP=allow: %v", err)
	}
	err := load("http://127.0.0.1:8001/.well-known/jwks.json", "maybe")
	if err == nil || !strings.Contains(err.Error(), "JWT_JWKS_PLAIN_HTTP") {
		t.Errorf("JWT_JWKS_PLAIN_HTTP=maybe: %v, want an error naming it", err)
	}
}
