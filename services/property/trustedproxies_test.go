package property_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// startEnv starts a property service configured from vars, as the binary is.
func startEnv(t *testing.T, vars map[string]string) *env {
	t.Helper()
	issuer := testenv.NewIssuer(t)
	all := map[string]string{"PROPERTY_PUBLIC_ADDR": "127.0.0.1:0", "PROPERTY_INTERNAL_ADDR": "127.0.0.1:0",
		"PROPERTY_ADMIN_ADDR": "127.0.0.1:0", "PROPERTY_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "p.db"),
		"INTERNAL_SERVICE_TOKEN": goodToken, "PROPERTY_SERVICE_TOKEN": ownToken, "JWT_JWKS_URL": issuer.JWKSURL}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := property.LoadConfig(func(k string) string { return all[k] })
	if err != nil {
		t.Fatal(err)
	}
	log, logs := testenv.Logger()
	svc, err := property.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, svc)
	return &env{public: "http://" + svc.Server.Addr("public"), internal: "http://" + svc.Server.Addr("internal"),
		issuer: issuer, svc: svc, logs: logs}
}

// Issue 25, item 10: TRUSTED_PROXIES (10.0.0.0/8 in the prod overlay) was
// believed on the internal listener too, so any pod in the cluster chose its
// own client IP there, and with it a fresh failure budget per guess. It now
// governs the public listener only; the internal listener believes
// X-Forwarded-For only from INTERNAL_TRUSTED_PROXIES (none by default).
func TestTrustedProxiesArePerListener(t *testing.T) {
	guesses := func(e *env) map[int]int {
		statuses := map[int]int{}
		for i := 1; i <= 12; i++ {
			r := testenv.Do(t, "GET", e.internal+"/api/internal/properties/users/1", nil,
				"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i), internalauth.Header, strings.Repeat("g", 40))
			statuses[r.Status]++
		}
		return statuses
	}
	// Loopback trusted on the public listener: its own X-Forwarded-For is
	// not believed on the internal one, every guess spends 127.0.0.1's budget.
	public := startEnv(t, map[string]string{"TRUSTED_PROXIES": "127.0.0.0/8"})
	if got := guesses(public); got[401] != 10 || got[429] != 2 {
		t.Fatalf("12 wrong internal tokens, each with its own X-Forwarded-For, TRUSTED_PROXIES only: %v, want 10 × 401 then 429", got)
	}
	for _, l := range public.logs.Lines("internal call rejected") {
		if l["client_ip"] != "127.0.0.1" {
			t.Fatalf("the internal listener believed X-Forwarded-For from a proxy trusted on the public one: %v", l["client_ip"])
		}
	}
	// A proxy in front of the internal listener (HAProxy's internal
	// frontend) is trusted there by its own variable, and only there.
	internal := startEnv(t, map[string]string{"INTERNAL_TRUSTED_PROXIES": "127.0.0.0/8", "REQUEST_LIMIT": "3/1h"})
	if got := guesses(internal); got[401] != 12 {
		t.Fatalf("12 wrong internal tokens from 12 clients behind a trusted internal proxy: %v, want 12 × 401", got)
	}
	statuses := map[int]int{}
	for i := 1; i <= 6; i++ {
		statuses[testenv.DoUnchecked(t, "GET", internal.public+"/openapi.json", nil,
			"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i)).Status]++
	}
	if statuses[429] != 3 {
		t.Fatalf("the public listener believed a proxy trusted only on the internal one: %v, want 3 × 429 for 127.0.0.1", statuses)
	}
}
