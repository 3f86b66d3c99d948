package property_test

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// from is a client whose connections leave from ip (any 127.0.0.0/8 address
// is this host's on Linux): a client IP of its own without a trusted proxy.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// Issue 25, item 8: 1,000 requests for /docs (2.6 MB) from one IP got 1,000 ×
// 200: the docs, the contracts and unknown paths were outside every request
// budget. Each route of both listeners now spends the client IP's budget.
func TestEveryRouteSpendsTheRequestBudget(t *testing.T) {
	const budget = 8
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), func(c *property.Config) {
		c.RequestLimit = ratelimit.Budget{Count: budget, Window: time.Hour}
	})
	ip := 10
	for _, listener := range []struct{ name, base string }{{"public", e.public}, {"internal", e.internal}} {
		for _, path := range []string{"/docs", "/openapi.yaml", "/openapi.json", "/no/such/path"} {
			ip++
			client := from(fmt.Sprintf("127.0.0.%d", ip))
			statuses := map[int]int{}
			for i := 0; i < budget+4; i++ {
				r, err := testenv.TryWith(client, "GET", listener.base+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				statuses[r.Status]++
				if r.Status == 429 && r.Header.Get("Retry-After") == "" {
					t.Errorf("%s %s: a 429 without Retry-After", listener.name, path)
				}
			}
			if statuses[429] != 4 {
				t.Errorf("%s %s: %d requests from one IP with a budget of %d: %v, want 4 × 429",
					listener.name, path, budget+4, budget, statuses)
			}
		}
	}
	// Health endpoints stay outside (see router.NewRouter): a probe shares its
	// address with others, and their answer costs no more than a refusal.
	client := from("127.0.0.99")
	for i := 0; i < 3*budget; i++ {
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := testenv.DoWith(t, client, "GET", e.public+path, nil); r.Status != 200 {
				t.Fatalf("%s, request %d: %d", path, i, r.Status)
			}
		}
	}
}
