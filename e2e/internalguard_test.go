package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
)

// reportingToken is a known caller that neither internal operation lists.
const reportingToken = "e2e-reporting-token-0123456789abcdefghij"

// internalOp is one internal operation and what its guard must do.
type internalOp struct {
	name        string
	url         func(s *system) string // the serving internal listener's URL of the operation
	method      string
	body        func(t testing.TB, s *system) any // a valid body (nil: none)
	badRequest  func(s *system) (url string, body any)
	good, own   string                                 // the caller's token, and the token the serving service presents to others
	subject     func(t testing.TB, s *system) []string // the subject token's header for the allowed caller (nil: none)
	publicPaths func(s *system) []string
	logs        func(s *system) *testenv.LogBuffer
	setup       func(t *testing.T, s *system) // what the allowed call needs first (nil: nothing)
}

var internalOps = []internalOp{
	{name: "getUserProperties", method: "GET", good: internalToken, own: propertyToken,
		url: func(s *system) string { return s.internal + "/api/internal/properties/users/1" },
		subject: func(t testing.TB, s *system) []string {
			return s.claimsCall(t, s.internal+"/api/internal/properties/users/1")[2:]
		},
		badRequest: func(s *system) (string, any) { return s.internal + "/api/internal/properties/users/abc", nil },
		publicPaths: func(s *system) []string {
			return []string{s.user + "/api/internal/properties/users/1", s.property + "/api/internal/properties/users/1"}
		},
		logs: func(s *system) *testenv.LogBuffer { return s.propertyLogs }},
	{name: "getUserProfiles", method: "POST", good: propertyToken, own: internalToken,
		// User 1 is seen as a member of property 1: the owner, signed in
		// again after creating it (the profiles call's rule).
		setup: func(t *testing.T, s *system) { ownerSeenInProperty(t, s, "guard@example.com") },
		body:  func(testing.TB, *system) any { return map[string]any{"user_ids": []int{1}} },
		url:   func(s *system) string { return s.userInternal + "/api/internal/users/1/properties/1/profiles" },
		subject: func(t testing.TB, s *system) []string {
			return []string{internalauth.SubjectHeader,
				s.subjectToken(t, 1, "user-service", "getUserProfiles", "property-service", time.Now())}
		},
		badRequest: func(s *system) (string, any) {
			return s.userInternal + "/api/internal/users/1/properties/1/profiles", map[string]any{"user_ids": "all of them"}
		},
		publicPaths: func(s *system) []string {
			return []string{s.user + "/api/internal/users/1/properties/1/profiles", s.property + "/api/internal/users/1/properties/1/profiles"}
		},
		logs: func(s *system) *testenv.LogBuffer { return s.userLogs }},
	{name: "exchangeSubjectToken", method: "POST", good: propertyToken, own: internalToken,
		body: func(t testing.TB, s *system) any {
			return map[string]any{"grant_type": internalauth.GrantTokenExchange, "subject_token": s.liveAccessToken(t),
				"subject_token_type": internalauth.TokenTypeJWT, "audience": "user-service", "scope": "getUserProfiles"}
		},
		url: func(s *system) string { return s.userInternal + "/api/internal/users/subject-tokens" },
		badRequest: func(s *system) (string, any) {
			return s.userInternal + "/api/internal/users/subject-tokens", map[string]any{"grant_type": "password"}
		},
		publicPaths: func(s *system) []string {
			return []string{s.user + "/api/internal/users/subject-tokens", s.property + "/api/internal/users/subject-tokens"}
		},
		logs: func(s *system) *testenv.LogBuffer { return s.userLogs }},
}

// bodyOf is op's valid body, or nil.
func (op internalOp) bodyOf(t testing.TB, s *system) any {
	if op.body == nil {
		return nil
	}
	return op.body(t, s)
}

// fromIP is a client whose connections leave from ip (127.0.0.0/8 is this
// host's): a failure budget of its own.
func fromIP(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// Issue 28: every guarantee of the first internal endpoint holds for the
// second, checked by the same table: 401 before 400, a service's own token
// refused at itself, 403 for a known caller not listed, the failure budget,
// the audit line, no secret in a log, 404 on both public listeners.
func TestBothInternalOperationsAreGuardedAlike(t *testing.T) {
	eng := testenv.Engines(t)[0]
	s := startSystemWith(t, eng, map[string]string{"INTERNAL_TOKEN_FAILURE_LIMIT": "5/1h",
		"INTERNAL_SERVICE_TOKENS": "reporting=" + reportingToken, "USER_INTERNAL_TOKENS": "reporting=" + reportingToken})
	for i, op := range internalOps {
		t.Run(op.name, func(t *testing.T) {
			client := fromIP(fmt.Sprintf("127.0.0.%d", 20+i))
			do := func(url string, body any, headers ...string) testenv.Response {
				t.Helper()
				return testenv.DoWith(t, client, op.method, url, body, headers...)
			}
			// cred is a workload credential, with the subject token the
			// operation needs besides (so that only the credential is tried).
			cred := func(token string) []string {
				h := []string{"X-Internal-Token", token}
				if op.subject != nil {
					h = append(h, op.subject(t, s)...)
				}
				return h
			}
			if op.setup != nil {
				op.setup(t, s)
			}
			if r := do(op.url(s), op.bodyOf(t, s), cred(op.good)...); r.Status != 200 {
				t.Fatalf("the allowed caller: %d %s", r.Status, r.Body)
			}
			audits := op.logs(s).Lines("internal call")
			if len(audits) == 0 || audits[len(audits)-1]["operation"] != op.name || audits[len(audits)-1]["level"] != "INFO" {
				t.Fatalf("no INFO audit line for %s: %v", op.name, audits)
			}
			// 401 before 400: a bad request without a credential is about the credential.
			url, body := op.badRequest(s)
			if r := do(url, body); r.Status != 401 {
				t.Fatalf("a bad request without a credential: %d, want 401", r.Status)
			}
			if r := do(url, body, cred(op.good)...); r.Status != 400 {
				t.Fatalf("a bad request with the credential: %d, want 400", r.Status)
			}
			// The serving service's own token (the one it presents to the other) is not a credential here.
			if r := do(op.url(s), op.bodyOf(t, s), cred(op.own)...); r.Status != 401 {
				t.Fatalf("the serving service's own token: %d, want 401", r.Status)
			}
			if r := do(op.url(s), op.bodyOf(t, s), cred(reportingToken)...); r.Status != 403 {
				t.Fatalf("a known caller the operation does not list: %d, want 403", r.Status)
			}
			for _, public := range op.publicPaths(s) {
				if r := testenv.DoUnchecked(t, op.method, public, op.bodyOf(t, s), cred(op.good)...); r.Status != 404 {
					t.Fatalf("%s on a public listener: %d, want 404", public, r.Status)
				}
			}
			// Its docs are on its internal listener, and on no public one.
			serving := strings.TrimSuffix(op.url(s), op.url(s)[strings.Index(op.url(s), "/api/"):])
			if r := testenv.DoUnchecked(t, "GET", serving+"/openapi.yaml", nil); r.Status != 200 || !strings.Contains(string(r.Body), op.name) {
				t.Fatalf("%s/openapi.yaml: %d, or without %s", serving, r.Status, op.name)
			}
			for _, public := range []string{s.user, s.property} {
				if r := testenv.DoUnchecked(t, "GET", public+"/openapi.yaml", nil); strings.Contains(string(r.Body), op.name) {
					t.Fatalf("%s/openapi.yaml shows the internal operation %s", public, op.name)
				}
			}
			// The failure budget: 5 wrong tokens an hour from this IP (one spent above), then 429 even for the right one.
			statuses := map[int]int{}
			for range 5 {
				statuses[do(op.url(s), op.bodyOf(t, s), cred(strings.Repeat("w", 40))...).Status]++
			}
			if r := do(op.url(s), op.bodyOf(t, s), cred(op.good)...); r.Status != 429 || statuses[429] == 0 {
				t.Fatalf("past the failure budget: %d (wrong tokens: %v)", r.Status, statuses)
			}
			for _, secret := range []string{internalToken, propertyToken, reportingToken} {
				if strings.Contains(op.logs(s).String(), secret) || strings.Contains(op.logs(s).String(), secret[:16]) {
					t.Fatal("a token in the serving service's log")
				}
			}
		})
	}
}
