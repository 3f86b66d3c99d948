package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/contract"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
)

var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

// Every operation of both contracts spends its client's request budget
// before anything else: with a budget of one request, the second call of any
// operation from the same client is answered 429 with Retry-After, whatever
// the first one got. Clients are told apart as the services do: by verified
// user, by client IP (X-Forwarded-For from a trusted proxy), by caller.
func TestEveryOperationAnswers429PastTheRequestBudget(t *testing.T) {
	eng := testenv.Engines(t)[0]
	s := startSystemWith(t, eng, map[string]string{"REQUEST_LIMIT": "1/1h", "INTERNAL_REQUEST_LIMIT": "1/1h",
		"TRUSTED_PROXIES": "127.0.0.0/8"})
	pub, in, err := contract.Specs()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	nextIP := func() string { n++; return fmt.Sprintf("198.51.100.%d", n) }
	// tokenFor registers and logs in a fresh user, each step from its own IP.
	tokenFor := func() string {
		email := fmt.Sprintf("budget%d@example.com", n)
		password := "budget password 1234"
		r := testenv.Do(t, "POST", s.user+"/api/users/register", map[string]string{"email": email, "password": password,
			"first_name": "B", "last_name": "U"}, "X-Forwarded-For", nextIP())
		if r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		r = testenv.Do(t, "POST", s.user+"/api/users/authenticate", map[string]string{"email": email, "password": password},
			"X-Forwarded-For", nextIP())
		var out session
		r.JSON(t, &out)
		return out.Token
	}
	for _, spec := range []*contract.Spec{pub, in} {
		paths := spec.Doc.Paths.InMatchingOrder()
		sort.Strings(paths)
		for _, path := range paths {
			for method, op := range spec.Doc.Paths.Value(path).Operations() {
				base := s.property
				switch {
				case spec.Name == "internal" && op.Tags[0] == "users":
					base = s.userInternal
				case spec.Name == "internal":
					base = s.internal
				case op.Tags[0] == "users":
					base = s.user
				}
				headers := []string{"X-Forwarded-For", nextIP()}
				url := base + pathParam.ReplaceAllString(path, "1")
				switch {
				case spec.Name == "internal" && base == s.userInternal:
					headers = append(headers, "X-Internal-Token", propertyToken)
					if _, subject := (*op.Security)[0]["SubjectToken"]; subject {
						headers = append(headers, internalauth.SubjectHeader,
							s.subjectToken(t, 1, "user-service", op.OperationID, "property-service", time.Now()))
					}
				case spec.Name == "internal":
					headers = append(headers, s.claimsCall(t, url)...)
				case op.Security == nil || len(*op.Security) > 0 && len((*op.Security)[0]) > 0:
					headers = append(headers, testenv.Bearer(tokenFor())...)
				}
				var body any
				if op.RequestBody != nil {
					body = example(op.RequestBody.Value.Content.Get("application/json").Schema.Value)
				}
				testenv.Do(t, method, url, body, headers...) // spends the one unit, whatever it answers
				r := testenv.Do(t, method, url, body, headers...)
				if r.Status != 429 || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Header.Get("RateLimit"), ";r=0;") {
					t.Fatalf("%s %s past the budget: %d %v", method, path, r.Status, r.Header)
				}
			}
		}
	}
}
