package e2e

// Issue 33, item "the exchange is as strict as /me": whoever holds the
// property service's credential and one user's access token could exchange
// that token for subject tokens after the session had ended (logout,
// password change, deactivation: /me answered 401, the exchange 200 until
// the access token expired), and as often as the caller's request budget
// allowed (17,185 subject tokens in 10 s, without a WARN line). Each attack
// over HTTP against the real services, on both engines, in token and in
// spiffe mode.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/user"
)

// exchangeBudget is the exchange budget these tests run with: small, so
// that a burst spends it at once.
const exchangeBudget = 4

func TestTheExchangeIsAsStrictAsMe(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		for _, mode := range []string{"token", "spiffe"} {
			t.Run(eng.Name+"/"+mode, func(t *testing.T) {
				s := startSystemWith(t, eng, map[string]string{"INTERNAL_AUTH": mode,
					"INTERNAL_EXCHANGE_LIMIT": fmt.Sprintf("%d/1m", exchangeBudget)})
				t.Run("ended sessions", func(t *testing.T) { endedSessionsAreRefused(t, s) })
				t.Run("budget", func(t *testing.T) { exchangesAreBudgetedPerUser(t, s) })
			})
		}
	}
}

// liveTokens are the access tokens liveAccessToken made, per system.
var liveTokens sync.Map

// liveAccessToken is the access token of a live session of a user of s
// (registered and logged in on first use): what the exchange accepts, where
// an access token signed without a session (accessToken) is refused.
func (s *system) liveAccessToken(t testing.TB) string {
	t.Helper()
	if tok, ok := liveTokens.Load(s); ok {
		return tok.(string)
	}
	tt, ok := t.(*testing.T)
	if !ok {
		t.Fatal("liveAccessToken: first use needs a *testing.T")
	}
	register(tt, s, "live@example.com", "correct horse battery staple")
	sess, r := login(tt, s, "live@example.com", "correct horse battery staple")
	if r.Status != 200 {
		t.Fatalf("liveAccessToken: login %d %s", r.Status, r.Body)
	}
	liveTokens.Store(s, sess.Token)
	return sess.Token
}

// refusedExchange asserts that r is the exchange's refusal of the access
// token (400, invalid_grant naming subject_token) and that the user
// service logged a WARN line for it, naming the user and the caller.
func refusedExchange(t *testing.T, s *system, what string, r testenv.Response, userID int64, warnsBefore int) {
	t.Helper()
	if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"subject_token"`) ||
		!strings.Contains(string(r.Body), "invalid_grant") || strings.Contains(string(r.Body), "eyJ") {
		t.Fatalf("the exchange %s: %d %s, want 400 invalid_grant naming subject_token", what, r.Status, r.Body)
	}
	warns := s.userLogs.Lines("subject token exchange refused")
	if len(warns) != warnsBefore+1 {
		t.Fatalf("the exchange %s: %d new WARN lines, want 1: %v", what, len(warns)-warnsBefore, warns)
	}
	w := warns[len(warns)-1]
	if w["level"] != "WARN" || w["reason"] != "invalid_grant" || w["field"] != "subject_token" ||
		fmt.Sprint(w["user_id"]) != fmt.Sprint(userID) || w["caller"] != "property-service" {
		t.Fatalf("the exchange %s: WARN line %v", what, w)
	}
}

func endedSessionsAreRefused(t *testing.T, s *system) {
	const pw, newPW = "correct horse battery staple", "a brand new passphrase"
	adaID := register(t, s, "ada@example.com", pw)
	w := s.asPropertyService(t)
	me := s.user + "/api/users/me"
	warns := func() int { return len(s.userLogs.Lines("subject token exchange refused")) }

	// Logout: the control first (the live session's token is exchanged).
	first, _ := login(t, s, "ada@example.com", pw)
	if r := w.exchange(t, s, first.Token, "getUserProfiles", w.audience); r.Status != 200 {
		t.Fatalf("the exchange of a live session's token: %d %s", r.Status, r.Body)
	}
	if r := testenv.Do(t, "POST", s.user+"/api/users/logout", nil, testenv.Bearer(first.Token)...); r.Status != 204 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(first.Token)...); r.Status != 401 {
		t.Fatalf("/me after logout: %d", r.Status)
	}
	n := warns()
	refusedExchange(t, s, "after logout", w.exchange(t, s, first.Token, "getUserProfiles", w.audience), adaID, n)

	// A password change ends every session of the user.
	second, _ := login(t, s, "ada@example.com", pw)
	if r := testenv.Do(t, "POST", s.user+"/api/users/change-password", map[string]string{
		"current_password": pw, "new_password": newPW}, testenv.Bearer(second.Token)...); r.Status != 204 {
		t.Fatalf("change password: %d %s", r.Status, r.Body)
	}
	if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(second.Token)...); r.Status != 401 {
		t.Fatalf("/me after a password change: %d", r.Status)
	}
	n = warns()
	refusedExchange(t, s, "after a password change", w.exchange(t, s, second.Token, "getUserProfiles", w.audience), adaID, n)

	// Deactivation, by the admin command.
	third, _ := login(t, s, "ada@example.com", newPW)
	var stdout, stderr bytes.Buffer
	if code := user.Main(context.Background(), []string{"deactivate", "--email", "ada@example.com"},
		mapEnv(s.userEnv), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("deactivate: %d %s %s", code, stdout.String(), stderr.String())
	}
	if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(third.Token)...); r.Status != 401 {
		t.Fatalf("/me after deactivation: %d", r.Status)
	}
	n = warns()
	refusedExchange(t, s, "after deactivation", w.exchange(t, s, third.Token, "getUserProfiles", w.audience), adaID, n)

	// A token signed with the user service's key but of no session at all
	// (/me refuses it too).
	bare := s.accessToken(t, adaID+1000)
	if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(bare)...); r.Status != 401 {
		t.Fatalf("/me with a token of no session: %d", r.Status)
	}
	n = warns()
	refusedExchange(t, s, "of a token of no session", w.exchange(t, s, bare, "getUserProfiles", w.audience), adaID+1000, n)

	for _, secret := range []string{first.Token, second.Token, third.Token} {
		if strings.Contains(s.userLogs.String(), secret) || strings.Contains(s.propertyLogs.String(), secret) {
			t.Fatal("an access token in a log")
		}
	}
}

func exchangesAreBudgetedPerUser(t *testing.T, s *system) {
	const pw = "correct horse battery staple"
	bobID := register(t, s, "bob@example.com", pw)
	register(t, s, "carol@example.com", pw)
	bob, _ := login(t, s, "bob@example.com", pw)
	carol, _ := login(t, s, "carol@example.com", pw)
	w := s.asPropertyService(t)

	// A burst for one user and operation: the budget, then 429.
	var refused testenv.Response
	granted := 0
	for i := 0; i < exchangeBudget+6; i++ {
		r := w.exchange(t, s, bob.Token, "getUserProfiles", w.audience)
		switch {
		case r.Status == 200 && refused.Status == 0:
			granted++
			// The user's exchange budget, nearer its end than the caller's
			// request budget, governs the fields of a granted exchange too.
			if want := fmt.Sprintf(`"subject-exchanges";r=%d;`, exchangeBudget-granted); !strings.HasPrefix(r.Header.Get("RateLimit"), want) {
				t.Fatalf("exchange %d: RateLimit %q, want %s...", i, r.Header.Get("RateLimit"), want)
			}
		case r.Status == 429:
			refused = r
		default:
			t.Fatalf("exchange %d of the burst: %d %s (granted %d)", i, r.Status, r.Body, granted)
		}
	}
	if granted != exchangeBudget || refused.Status != 429 {
		t.Fatalf("a burst of exchanges for one user: %d granted, then %d; want %d, then 429", granted, refused.Status, exchangeBudget)
	}
	h := refused.Header
	if h.Get("Retry-After") == "" || h.Get("Retry-After") == "0" ||
		!strings.HasPrefix(h.Get("RateLimit-Policy"), fmt.Sprintf(`"subject-exchanges";q=%d;w=60`, exchangeBudget)) ||
		!strings.HasPrefix(h.Get("RateLimit"), `"subject-exchanges";r=0;`) {
		t.Fatalf("the 429: Retry-After %q RateLimit-Policy %q RateLimit %q", h.Get("Retry-After"),
			h.Get("RateLimit-Policy"), h.Get("RateLimit"))
	}
	// The property service's client reads it as about Bob only: its breaker
	// does not count it (issue 33).
	if err := upstream.Refusal("user service's token exchange", &http.Response{StatusCode: refused.Status, Header: h},
		refused.Body); !errors.Is(err, upstream.ErrRefusedForThisRequest) {
		t.Fatalf("the exchange's 429 for one user reads as a failure of the user service: %v", err)
	}
	var warned bool
	for _, l := range s.userLogs.Lines("subject token exchange refused") {
		if l["level"] == "WARN" && l["reason"] == "exchange_budget" && fmt.Sprint(l["user_id"]) == fmt.Sprint(bobID) &&
			l["scope"] == "getUserProfiles" && l["caller"] == "property-service" {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no WARN line naming the user, operation and caller: %v", s.userLogs.Lines("subject token exchange refused"))
	}

	// The refusals are counted under the budget the alert
	// SubjectTokensBeingMinted watches.
	refusals := 0.0
	for series, v := range testenv.Scrape(t, s.userAdmin+"/metrics") {
		if strings.HasPrefix(series, "ratelimit_refusals_total{") && strings.Contains(series, `budget="internal-exchange"`) {
			_, _ = fmt.Sscan(v, &refusals)
		}
	}
	if refusals != 6 {
		t.Fatalf("ratelimit_refusals_total{budget=\"internal-exchange\"} = %v, want the 6 refusals of the burst", refusals)
	}

	// Another user's exchange is not touched by Bob's budget.
	if r := w.exchange(t, s, carol.Token, "getUserProfiles", w.audience); r.Status != 200 {
		t.Fatalf("another user's exchange after Bob's burst: %d %s", r.Status, r.Body)
	}
	if strings.Contains(s.userLogs.String(), bob.Token) || strings.Contains(s.userLogs.String(), carol.Token) {
		t.Fatal("an access token in a log")
	}
}
