package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// subjectLimit is the per-subject budget of both internal listeners in the
// breaker tests: small, so that an attacker spends it in a few calls.
const subjectLimit = "4/1m"

// Issue 33, "a refusal about one user is not a failure of the service": a
// user who spends their own per-subject budget at a callee (INTERNAL_SUBJECT_LIMIT)
// gets 429s about themselves. Those must not open the caller's circuit
// breaker: before the fix, the attacker's own member lists opened the
// property service's breaker (everyone's lists lost their names) and the
// attacker's own refreshes opened the user service's (everyone's tokens
// lost their claims). A steady attacker calls one after the other, a
// bursty one many at once.
func TestOneUsersSpentBudgetDegradesNobodyElse(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		for _, style := range []string{"steady", "bursty"} {
			t.Run(eng.Name+"/"+style, func(t *testing.T) {
				s := startSystemWith(t, eng, map[string]string{"INTERNAL_SUBJECT_LIMIT": subjectLimit})
				victim := newOwner(t, s, "victim@example.com", "victim password 1234")
				attacker := newOwner(t, s, "mallory@example.com", "mallory password 1234")

				// The member lists: each asks the user service for the
				// attacker's name, on the attacker's behalf.
				lists := attack(t, style, 12, func() (bool, error) {
					r, err := testenv.Try("GET", fmt.Sprintf("%s/api/property/%d/members", s.property, attacker.property), nil,
						testenv.Bearer(attacker.Token)...)
					if err != nil || r.Status != 200 {
						return false, fmt.Errorf("attacker's member list: %d %s: %v", r.Status, r.Body, err)
					}
					var m memberList
					if err := jsonOf(r, &m); err != nil {
						return false, err
					}
					return m.NamesIncluded, nil
				})
				// The attack reached the per-subject budget (else the test
				// would prove nothing): the attacker's own lists lost names.
				if lists.degraded == 0 {
					t.Fatalf("the attacker's %d member lists all had names: the per-subject budget (%s) was never spent",
						lists.done, subjectLimit)
				}
				if !hasSubjectRefusal(s.userLogs.Lines("internal call refused")) {
					t.Fatal("the user service never refused the attacker's profiles calls for the subject budget")
				}

				// The refreshes: each asks the property service for the
				// attacker's claims. A refresh token is used once, so a
				// burst is several sessions' chains advancing at once.
				calls, chains := 12, make(chan string, 12)
				chains <- attacker.RefreshToken
				if style == "bursty" { // each login is an argon2id check: fewer, concurrent chains
					calls = 8
					for range calls - 1 {
						more, r := login(t, s, "mallory@example.com", "mallory password 1234")
						if r.Status != 200 {
							t.Fatalf("attacker's login: %d %s", r.Status, r.Body)
						}
						chains <- more.RefreshToken
					}
				}
				refreshes := attack(t, style, calls, func() (bool, error) {
					token := <-chains
					r, err := testenv.Try("POST", s.user+"/api/users/refresh", map[string]string{"refresh_token": token})
					if err != nil || r.Status != 200 {
						return false, fmt.Errorf("attacker's refresh: %d %s: %v", r.Status, r.Body, err)
					}
					var next session
					if err := jsonOf(r, &next); err != nil {
						return false, err
					}
					if style == "steady" {
						chains <- next.RefreshToken // one chain: the next refresh takes this token
					}
					return next.PropertiesIncluded, nil
				})
				if refreshes.degraded == 0 {
					t.Fatalf("the attacker's %d refreshes all had claims: the per-subject budget (%s) was never spent",
						refreshes.done, subjectLimit)
				}
				if !hasSubjectRefusal(s.propertyLogs.Lines("internal call refused")) {
					t.Fatal("the property service never refused the attacker's claims calls for the subject budget")
				}

				// Each side saw the refusals as about the attacker, and its
				// breaker never opened.
				userMetrics, propertyMetrics := testenv.Scrape(t, s.userAdmin+"/metrics"), testenv.Scrape(t, s.propertyAdmin+"/metrics")
				for _, c := range []struct {
					name    string
					metrics map[string]string
					refused string
				}{
					{"user service", userMetrics, `property_client_calls_total{outcome="refused",service="user-service"}`},
					{"property service", propertyMetrics, `user_client_calls_total{outcome="refused",service="property-service"}`},
				} {
					if c.metrics[c.refused] == "" || c.metrics[c.refused] == "0" {
						t.Errorf("%s: %s = %q: the attacker's refusals were not counted as refused", c.name, c.refused, c.metrics[c.refused])
					}
				}
				opens := map[string]map[string]string{
					`upstream_circuit_opens_total{service="user-service",upstream="property-service"}`: userMetrics,
					`upstream_circuit_opens_total{service="property-service",upstream="user-service"}`: propertyMetrics,
				}
				for series, metrics := range opens {
					if metrics[series] != "0" {
						t.Errorf("%s = %q after one user's attack, want 0", series, metrics[series])
					}
				}

				// Everyone else is served as before.
				var m memberList
				testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, victim.property), nil,
					testenv.Bearer(victim.Token)...).JSON(t, &m)
				if !m.NamesIncluded || len(m.Members) != 1 || m.Members[0].DisplayName != "Ada Lovelace" {
					t.Errorf("after the attack, another owner's member list: %+v", m)
				}
				next := mustRefresh(t, s, victim.RefreshToken)
				if !next.PropertiesIncluded || fmt.Sprint(claimedProperties(t, s, next.Token)) != fmt.Sprint([]int64{victim.property}) {
					t.Fatalf("after the attack, another user's refresh: properties_included %v, claims %v",
						next.PropertiesIncluded, claimedProperties(t, s, next.Token))
				}
			})
		}
	}
}

// owner is a registered, logged-in user with a property of their own.
type owner struct {
	session
	property int64
}

func newOwner(t *testing.T, s *system, email, password string) owner {
	t.Helper()
	register(t, s, email, password)
	o := owner{}
	var r testenv.Response
	if o.session, r = login(t, s, email, password); r.Status != 200 {
		t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	var p struct{ ID int64 }
	created := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": email + "'s house"},
		testenv.Bearer(o.Token)...)
	if created.Status != 201 {
		t.Fatalf("create property: %d %s", created.Status, created.Body)
	}
	created.JSON(t, &p)
	o.property = p.ID
	// A refresh now carries the property: the claims call works for this user.
	o.session = mustRefresh(t, s, o.RefreshToken)
	if !o.PropertiesIncluded {
		t.Fatalf("%s's refresh before any attack has no claims", email)
	}
	return o
}

// tally is what an attack's calls saw: how many were made, and how many
// were answered degraded (no names, no claims).
type tally struct{ done, degraded int }

// attack makes n calls of call, one after the other (steady) or all at once
// (bursty); call reports whether its answer was complete.
func attack(t *testing.T, style string, n int, call func() (complete bool, err error)) tally {
	t.Helper()
	var (
		mu   sync.Mutex
		out  tally
		errs []error
	)
	one := func() {
		complete, err := call()
		mu.Lock()
		defer mu.Unlock()
		out.done++
		if err != nil {
			errs = append(errs, err)
		} else if !complete {
			out.degraded++
		}
	}
	if style == "steady" {
		for range n {
			one()
		}
	} else {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); one() }()
		}
		wg.Wait()
	}
	if len(errs) > 0 {
		t.Fatalf("%s attack: %d of %d calls failed, first: %v", style, len(errs), n, errs[0])
	}
	return out
}

func jsonOf(r testenv.Response, v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %s: %w", strings.TrimSpace(string(r.Body)), err)
	}
	return nil
}

// hasSubjectRefusal reports whether a callee's WARN lines include a refusal
// for the per-subject budget.
func hasSubjectRefusal(lines []map[string]any) bool {
	for _, l := range lines {
		if l["reason"] == "subject_budget" {
			return true
		}
	}
	return false
}

// The user service answers a profiles call 403 when the user it is made for
// has not been seen as a member of the property (at a login or refresh): a
// refusal about that user, which any user can provoke by listing the members
// of a property created since their last refresh. Counted as the user
// service failing, a few such lists would cut the names off everyone's.
func TestOneUsersForbiddenListsDegradeNobodyElse(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		for _, style := range []string{"steady", "bursty"} {
			t.Run(eng.Name+"/"+style, func(t *testing.T) {
				s := startSystem(t, eng)
				victim := newOwner(t, s, "victim@example.com", "victim password 1234")
				register(t, s, "mallory@example.com", "mallory password 1234")
				attacker, r := login(t, s, "mallory@example.com", "mallory password 1234")
				if r.Status != 200 {
					t.Fatalf("attacker's login: %d %s", r.Status, r.Body)
				}
				var p struct{ ID int64 }
				testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Unseen"},
					testenv.Bearer(attacker.Token)...).JSON(t, &p)
				lists := attack(t, style, 12, func() (bool, error) {
					r, err := testenv.Try("GET", fmt.Sprintf("%s/api/property/%d/members", s.property, p.ID), nil,
						testenv.Bearer(attacker.Token)...)
					if err != nil || r.Status != 200 {
						return false, fmt.Errorf("attacker's member list: %d %s: %v", r.Status, r.Body, err)
					}
					var m memberList
					if err := jsonOf(r, &m); err != nil {
						return false, err
					}
					return m.NamesIncluded, nil
				})
				// The user service did refuse them (else this test proves nothing).
				if lists.degraded != lists.done {
					t.Fatalf("%d of the attacker's %d lists had names: the user service did not refuse them",
						lists.done-lists.degraded, lists.done)
				}
				if n := len(s.userLogs.Lines("internal call")); n == 0 {
					t.Fatal("no profiles call reached the user service")
				}
				var m memberList
				testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, victim.property), nil,
					testenv.Bearer(victim.Token)...).JSON(t, &m)
				if !m.NamesIncluded || len(m.Members) != 1 || m.Members[0].DisplayName != "Ada Lovelace" {
					t.Fatalf("after the attack, another owner's member list: %+v", m)
				}
				opens := `upstream_circuit_opens_total{service="property-service",upstream="user-service"}`
				refused := `user_client_calls_total{outcome="refused",service="property-service"}`
				if metrics := testenv.Scrape(t, s.propertyAdmin+"/metrics"); metrics[opens] != "0" || metrics[refused] != "12" {
					t.Fatalf("after 12 lists refused for the attacker: %s = %q, %s = %q; want 0 and 12",
						opens, metrics[opens], refused, metrics[refused])
				}
			})
		}
	}
}
