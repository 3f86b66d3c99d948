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
func SetHeaders(h http.Header, name string, b Budget, d Decision) (policy, state string) {
	policy = `"` + name + `";q=` + strconv.Itoa(b.Count) + ";w=" + strconv.FormatInt(seconds(b.Window), 10)
	state = `"` + name + `";r=` + strconv.Itoa(d.Remaining) + ";t=" + strconv.FormatInt(seconds(d.Reset), 10)
	h.Set(PolicyHeader, policy)
	h.Set(StateHeader, state)
	return policy, state
}

// seconds rounds up to whole seconds.
func seconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }
