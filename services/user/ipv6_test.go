package user_test

import (
	"fmt"
	"path/filepath"
	"testing"
)

// Issue 25, item 10: 30 failed logins from 30 addresses of one IPv6 /64 all
// got 401. The per-IP budgets (login, registration, requests) are per /64
// for IPv6 clients, while the logs keep the address each request came from.
func TestIPv6ClientsAreBudgetedPerSlash64(t *testing.T) {
	fake := newFake(t, goodAnswer)
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, map[string]string{
		"TRUSTED_PROXIES": "127.0.0.0/8", "REFUSAL_DELAY": "0"})
	statuses := map[int]int{}
	for i := 1; i <= 30; i++ {
		ip := fmt.Sprintf("2001:db8:7:7:%x::%x", i, i)
		statuses[tryLogin(t, e, ip, fmt.Sprintf("nobody%d@example.com", i), "not the password").Status]++
	}
	if statuses[401] != 20 || statuses[429] != 10 {
		t.Fatalf("30 failed logins from 30 addresses of one /64 (budget 20 per IP): %v, want 20 × 401 and 10 × 429", statuses)
	}
	// Another /64 has its own budget.
	if r := tryLogin(t, e, "2001:db8:7:8::1", "nobody@example.com", "not the password"); r.Status != 401 {
		t.Fatalf("a login from another /64: %d, want 401", r.Status)
	}
	seen := map[string]bool{}
	for _, l := range e.logs.Lines("request") {
		if ip, _ := l["client_ip"].(string); ip != "" {
			seen[ip] = true
		}
	}
	if !seen["2001:db8:7:7:1e::1e"] || !seen["2001:db8:7:7:1::1"] {
		t.Fatalf("the access lines do not keep each full address: %v", seen)
	}
}
