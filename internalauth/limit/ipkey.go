package limit

import "net/netip"

// IPKey is the budget key of a client IP, the one place an address becomes
// a key (per-IP budgets, the tarpit): an IPv4 address as it is, an IPv6
// address its /64. An IPv6 client is handed a /64 at least (one subscriber
// line, one LAN: SLAAC needs it) and may use any address in it, so a key per
// address would give it 2^64 budgets. Logs keep the full address; only the
// budgets group it. Something that is not an address is its own key.
func IPKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return "ip:" + addr.String()
	}
	return "ip:" + netip.PrefixFrom(addr, 64).Masked().String()
}
