//go:build prometheus

package prometheus

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/tools/procs"
)

// A real Prometheus (Debian's) scrapes both services with the shipped
// configuration and rules; a burst of wrong internal tokens shows in the
// rejection counter and fires the guessing alert, which keeps firing.
func TestRealPrometheus(t *testing.T) {
	bin := os.Getenv("SERVICE_BIN")
	promBin, err := exec.LookPath("prometheus")
	if bin == "" || err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("SERVICE_BIN and the prometheus binary are needed in CI (make prometheus)")
		}
		t.Skip("prometheus not installed or SERVICE_BIN not set: run make prometheus")
	}
	addrs, err := procs.FreeAddrs(7)
	if err != nil {
		t.Fatal(err)
	}
	data, token := t.TempDir(), strings.Repeat("t", 40)
	property, err := procs.Start("property-service", filepath.Join(bin, "property-service"), map[string]string{
		"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_TOKEN": strings.Repeat("p", 40),
		"PROPERTY_PUBLIC_ADDR": addrs[1], "PROPERTY_INTERNAL_ADDR": addrs[2],
		"PROPERTY_ADMIN_ADDR": addrs[3], "PROPERTY_DATABASE_URL": "sqlite:" + filepath.Join(data, "p.db"),
		"JWT_JWKS_URL": "http://" + addrs[0] + "/.well-known/jwks.json",
		// Many refusals from one IP: the guessing shows as invalid, then rate_limited.
	}, "http://"+addrs[1]+"/healthz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(property.Stop)
	user, err := procs.Start("user-service", filepath.Join(bin, "user-service"), map[string]string{
		"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_URL": "http://" + addrs[2], "USER_PUBLIC_ADDR": addrs[0],
		"PROPERTY_SERVICE_TOKEN": strings.Repeat("p", 40), "USER_INTERNAL_ADDR": addrs[6],
		"USER_ADMIN_ADDR": addrs[4], "USER_DATABASE_URL": "sqlite:" + filepath.Join(data, "u.db"),
		"JWT_SIGNING_KEY_FILE": filepath.Join(data, "jwt.pem"),
	}, "http://"+addrs[0]+"/healthz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(user.Stop)

	// The shipped files, pointed at this test's admin listeners and scraped every second.
	shipped, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("127.0.0.1:9101", addrs[4], "127.0.0.1:9102", addrs[3],
		"scrape_interval: 15s", "scrape_interval: 1s", "evaluation_interval: 15s", "evaluation_interval: 1s").Replace(string(shipped))
	if cfg == string(shipped) || strings.Contains(cfg, ":9101") || strings.Contains(cfg, ":9102") {
		t.Fatal("the shipped scrape config no longer has the targets and intervals this test rewrites")
	}
	dir := t.TempDir()
	rules, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"prometheus.yml": cfg, "rules.yml": string(rules)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	web := addrs[5]
	testenv.Program(t, "prometheus", nil, promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+web)
	api := "http://" + web + "/api/v1/"
	waitFor(t, 60*time.Second, "both targets up", func() bool { return query(t, api, `sum(up)`) == 2 })

	// Issue 25, item 12: 90 wrong tokens from three IPs in about 2 s (each
	// IP's failure budget answers 429 past its tenth) used to put the alert
	// in pending and back to inactive without ever firing.
	before := query(t, api, `sum(internal_auth_rejected_total)`)
	for i := 0; i < 90; i++ {
		client := from(fmt.Sprintf("127.0.0.%d", 2+i%3))
		r := testenv.DoWith(t, client, "GET", "http://"+addrs[2]+"/api/internal/properties/users/1", nil,
			internalauth.Header, fmt.Sprintf("guess-%02d-%s", i, strings.Repeat("g", 32)))
		if r.Status != 401 && r.Status != 429 {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	burst := time.Now()
	waitFor(t, 30*time.Second, "the rejection counter to rise by 90", func() bool {
		return query(t, api, `sum(internal_auth_rejected_total)`) >= before+90
	})
	if query(t, api, `sum(internal_auth_rejected_total{reason="rate_limited"})`) < 1 {
		t.Error("no rate_limited rejections: the failure budget did not show")
	}
	waitFor(t, 60*time.Second, "InternalTokensBeingGuessed firing", func() bool {
		return alertState(t, api, "InternalTokensBeingGuessed") == "firing"
	})
	t.Logf("InternalTokensBeingGuessed firing %s after the burst", time.Since(burst).Round(time.Second))
	// And it keeps firing past the minute a [1m] window would have held the
	// burst: a page, not a blip.
	time.Sleep(time.Until(burst.Add(75 * time.Second)))
	if state := alertState(t, api, "InternalTokensBeingGuessed"); state != "firing" {
		t.Fatalf("InternalTokensBeingGuessed is %q 75 s after the burst, want still firing", state)
	}
}

// from is a client whose connections leave from ip (a loopback address of
// its own): one guessing client per address, as the failure budget sees them.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// alertState is the alert's state ("pending", "firing"), "" when inactive.
func alertState(t *testing.T, api, name string) string {
	var alerts struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	get(t, api+"alerts", &alerts)
	for _, a := range alerts.Data.Alerts {
		if a.Labels["alertname"] == name {
			return a.State
		}
	}
	return ""
}

// query runs an instant PromQL query and returns its one value (-1: none).
func query(t *testing.T, api, q string) float64 {
	var res struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	get(t, api+"query?query="+url.QueryEscape(q), &res)
	if len(res.Data.Result) == 0 {
		return -1
	}
	var v float64
	fmt.Sscan(fmt.Sprint(res.Data.Result[0].Value[1]), &v)
	return v
}

func get(t *testing.T, u string, v any) {
	resp, err := testenv.Client.Get(u)
	if err != nil {
		return // not up yet: the caller polls
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
	}
}
