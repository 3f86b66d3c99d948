package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Budget headers: the IETF draft fields (draft-ietf-httpapi-ratelimit-headers),
// not the X-RateLimit-* trio: they are on the standards track, one field says
// the policy and one the state, and both are structured fields a client can
// parse without guessing. For a budget named "requests" of 600 per minute
// with 599 left, full again in 0 s:
//
//	RateLimit-Policy: "requests";q=600;w=60
//	RateLimit: "requests";r=599;t=0
const (
	PolicyHeader = "RateLimit-Policy"
	StateHeader  = "RateLimit"
)

// SetHeaders writes budget name's policy and state after decision d, and
// returns both values (handlers repeat them in their typed responses).
// It runs on every request, up to twice: each value is built with one
// allocation, and the fields are stored under their canonical keys (Set
// would convert and allocate the mixed-case names each time).
func SetHeaders(h http.Header, name string, b Budget, d Decision) (policy, state string) {
	policy = field(name, ";q=", int64(b.Count), ";w=", seconds(b.Window))
	state = field(name, ";r=", int64(d.Remaining), ";t=", seconds(d.Reset))
	h[policyKey] = []string{policy}
	h[stateKey] = []string{state}
	return policy, state
}

var policyKey, stateKey = http.CanonicalHeaderKey(PolicyHeader), http.CanonicalHeaderKey(StateHeader)

// field is `"name"` followed by two parameters: `"requests";q=600;w=60`.
func field(name, k1 string, v1 int64, k2 string, v2 int64) string {
	var buf [96]byte
	b := append(buf[:0], '"')
	b = append(b, name...)
	b = append(b, '"')
	b = strconv.AppendInt(append(b, k1...), v1, 10)
	b = strconv.AppendInt(append(b, k2...), v2, 10)
	return string(b)
}

// seconds rounds up to whole seconds.
func seconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }
