package ratelimit_test

import (
	"testing"

	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// Issue 25, item 10: an IPv6 client holds a /64 (one subscriber, one
// interface) and chooses any address in it, so per-IP budgets keyed by the
// whole address gave it 2^64 budgets. IPv6 clients are budgeted per /64.
func TestIPKeyBudgetsIPv6PerSlash64(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.7":                   "ip:203.0.113.7",
		"::ffff:203.0.113.7":            "ip:203.0.113.7",
		"2001:db8:1:2::1":               "ip:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ffff:1": "ip:2001:db8:1:2::/64",
		"2001:DB8:1:2:aaaa::":           "ip:2001:db8:1:2::/64",
		"2001:db8:1:3::1":               "ip:2001:db8:1:3::/64",
		"fe80::1%eth0":                  "ip:fe80::/64",
		"::1":                           "ip:::/64",
		"":                              "ip:",
		"not an address":                "ip:not an address",
	} {
		if got := ratelimit.IPKey(ip); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", ip, got, want)
		}
	}
}
