package internalauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth/limit"
)

// Issue 33: the exchange asks the issuing service whether the access
// token's session is still live, with the verified token; an ended session
// is invalid_grant naming subject_token and the verified user; a check that
// cannot decide fails the exchange (no token), and so does a missing check.
func TestExchangeRefusesTheTokenOfAnEndedSession(t *testing.T) {
	now := time.Now()
	f := exchangeWorld(t, now)
	x := f.x
	var asked []AccessToken
	live, checkErr := false, error(nil)
	x.Live = func(_ context.Context, a AccessToken) (bool, error) {
		asked = append(asked, a)
		return live, checkErr
	}
	ask := func() (ExchangeResponse, error) {
		return x.Exchange(context.Background(), request(f.access, "user-service", "listUserProfiles"), "property-service", "")
	}

	resp, err := ask()
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Field != "subject_token" || xe.Code != "invalid_grant" || xe.Subject != "7" ||
		resp.AccessToken != "" {
		t.Fatalf("an ended session: %+v %v, want invalid_grant on subject_token for user 7", resp, err)
	}
	if len(asked) != 1 || asked[0].Subject != "7" {
		t.Fatalf("the session check was given %+v, want the verified token", asked)
	}
	if c, ok := asked[0].Claims.(*accessClaims); !ok || c.ID != "s7" {
		t.Fatalf("the session check was given claims %#v, want the verifier's own (session s7)", asked[0].Claims)
	}

	live, checkErr = false, errors.New("database down")
	resp, err = ask()
	if err == nil || errors.As(err, &xe) || resp.AccessToken != "" || !errors.Is(err, checkErr) {
		t.Fatalf("a session check that fails: %+v %v, want the exchange to fail with its error", resp, err)
	}
	live, checkErr = true, nil
	if resp, err := ask(); err != nil || resp.AccessToken == "" {
		t.Fatalf("a live session: %+v %v", resp, err)
	}

	// A token that does not verify is refused before the check: the check
	// is only ever asked about a token the service issued.
	n := len(asked)
	xe = nil
	if _, err := x.Exchange(context.Background(), request(f.access[:len(f.access)-4]+"AAAA", "user-service", "listUserProfiles"),
		"property-service", ""); !errors.As(err, &xe) || xe.Subject != "" || len(asked) != n {
		t.Fatalf("a forged token: %v, %d checks", err, len(asked)-n)
	}

	// Without a session check nothing is issued (fail closed): a signature
	// and an expiry say nothing about a session that ended.
	x.Live = nil
	if resp, err := ask(); err == nil || errors.As(err, &xe) || resp.AccessToken != "" {
		t.Fatalf("without a session check: %+v %v, want the exchange to fail", resp, err)
	}
}

// Each (user, operation) spends its own exchange budget: past it the
// exchange is ExchangeLimited, with the user, operation and a wait, before
// the session check is asked (a flood costs the database nothing); another
// user's budget is untouched. The Budget hook is told every decision.
func TestExchangeBudgetPerUserAndOperation(t *testing.T) {
	now := time.Now()
	f := exchangeWorld(t, now)
	x := f.x
	checks := 0
	x.Live = func(context.Context, AccessToken) (bool, error) { checks++; return true, nil }
	x.PerUser = limit.NewMemory(limit.Budget{Count: 3, Window: time.Minute}, 100, limit.ForgetOldest)
	var told []limit.Decision
	x.Budget = func(_ context.Context, b limit.Budget, d limit.Decision) {
		if b.Count != 3 {
			t.Errorf("the Budget hook was told %v", b)
		}
		told = append(told, d)
	}
	ask := func(access string) (ExchangeResponse, error) {
		return x.Exchange(context.Background(), request(access, "user-service", "listUserProfiles"), "property-service", "")
	}
	for i := range 3 {
		resp, err := ask(f.access)
		if err != nil || resp.AccessToken == "" || len(told) != i+1 || !told[i].Allowed || told[i].Remaining != 2-i {
			t.Fatalf("exchange %d within the budget: %v, told %+v", i, err, told)
		}
	}
	resp, err := ask(f.access)
	var limited *ExchangeLimited
	if !errors.As(err, &limited) || limited.Subject != "7" || limited.Operation != "listUserProfiles" || limited.RetryAfter <= 0 ||
		resp.AccessToken != "" || len(told) != 4 || told[3].Allowed {
		t.Fatalf("past the budget: %+v %v, told %+v", resp, err, told)
	}
	if checks != 3 {
		t.Fatalf("%d session checks for 3 granted exchanges and 1 refused", checks)
	}

	// User 8's budget is its own.
	other := accessToken(t, f.ts.key, "8", "s8", now, 15*time.Minute)
	if resp, err := ask(other); err != nil || resp.AccessToken == "" {
		t.Fatalf("another user after user 7's burst: %v", err)
	}
}
