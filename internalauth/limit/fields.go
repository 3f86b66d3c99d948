package limit

import (
	"math"
	"net/http"
	"strconv"
	"strings"
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

// SubjectPolicy is the name of a guard's budget per operation and subject
// in those fields. Like every budget of one user (a token service's exchange
// budget, say), it starts with SubjectPolicyPrefix: a 429 such a budget
// governs is about that user, not the caller, and a caller's client tells
// the two apart by this prefix (a breaker should not open for one user's
// refusals), so it is part of the wire contract.
const (
	SubjectPolicy       = "subject-requests"
	SubjectPolicyPrefix = "subject-"
)

// PolicyName is the policy's name at the start of a RateLimit or
// RateLimit-Policy value (`"requests";r=0;t=12` → requests), "" when the
// value does not start with a quoted name.
func PolicyName(value string) string {
	if len(value) < 2 || value[0] != '"' {
		return ""
	}
	end := strings.IndexByte(value[1:], '"')
	if end < 0 {
		return ""
	}
	return value[1 : 1+end]
}

// Governing is the decision of the budget that governs a request, kept
// until its response goes out. A request can pass two budgets (the
// internal listener's failure budget before the credential is looked at,
// then the caller's request budget), and only the last one's fields are
// sent: the budgets record their decision here, and the fields are built
// once, for the response (the service that serves it), rather than by every
// budget on the way.
type Governing struct {
	Name     string // the policy's name in the fields; "" when no budget governs
	Budget   Budget
	Decision Decision
}

// Fields returns the RateLimit-Policy and RateLimit values, "" when no
// budget governs the request. Each is built with one allocation.
func (g Governing) Fields() (policy, state string) {
	if g.Name == "" {
		return "", ""
	}
	return field(g.Name, ";q=", int64(g.Budget.Count), ";w=", seconds(g.Budget.Window)),
		field(g.Name, ";r=", int64(g.Decision.Remaining), ";t=", seconds(g.Decision.Reset))
}

// SetHeaders writes both fields into h unless the response carries them
// already (a generated typed response writes them from its own value), and
// nothing when no budget governs the request. The fields are stored under
// their canonical keys: Set would convert and allocate the mixed-case
// names on every response.
func (g Governing) SetHeaders(h http.Header) {
	if g.Name == "" || h[stateKey] != nil {
		return
	}
	policy, state := g.Fields()
	h[policyKey] = []string{policy}
	h[stateKey] = []string{state}
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
