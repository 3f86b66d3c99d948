package internalauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/common/router"
)

// Issue 33: the exchange asks the issuing service whether the access
// token's session is still live, with the verified token; an ended session
// is invalid_grant naming subject_token and the verified user; a check that
// cannot decide fails the exchange (no token), and so does a missing check.
func TestExchangeRefusesTheTokenOfAnEndedSession(t *testing.T) {
	now := time.Now()
	x, _, access := exchangeWorld(t, now)
	var asked []*jwtauth.Claims
	live, checkErr := false, error(nil)
	x.Live = func(_ context.Context, c *jwtauth.Claims) (bool, error) {
		asked = append(asked, c)
		return live, checkErr
	}
	ask := func() (ExchangeResponse, error) {
		return x.Exchange(context.Background(), request(access, "user-service", "listUserProfiles"), "property-service", "")
	}

	resp, err := ask()
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Field != "subject_token" || xe.Code != "invalid_grant" || xe.Subject != "7" ||
		resp.AccessToken != "" {
		t.Fatalf("an ended session: %+v %v, want invalid_grant on subject_token for user 7", resp, err)
	}
	if len(asked) != 1 || asked[0].UserID != 7 || asked[0].SessionID != "s7" {
		t.Fatalf("the session check was given %+v, want the verified token's claims", asked)
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
	if _, err := x.Exchange(context.Background(), request(access[:len(access)-4]+"AAAA", "user-service", "listUserProfiles"),
		"property-service", ""); !errors.As(err, &xe) || xe.Subject != "" || len(asked) != n {
		t.Fatalf("a forged token: %v, Subject %q, %d checks", err, xe.Subject, len(asked)-n)
	}

	x.Live = nil
	if resp, err := ask(); err == nil || errors.As(err, &xe) || resp.AccessToken != "" {
		t.Fatalf("without a session check: %+v %v, want the exchange to fail", resp, err)
	}
	contract, err := router.InternalContract("users")
	if err != nil {
		t.Fatal(err)
	}
	w := &Workload{cfg: Config{Name: "user-service", Mode: Tokens}}
	if _, err := w.Exchanger(x.Access, x.Signer, contract, ExchangeOptions{}); err == nil {
		t.Fatal("an exchanger built without a session check")
	}
}

// Each (user, operation) spends its own exchange budget: past it the
// exchange is ExchangeLimited, with the user, operation and a wait, before
// the session check is asked (a flood costs the database nothing); another
// user's budget is untouched. The budget governs the RateLimit fields when
// it is the closer to running out, and always when it refuses.
func TestExchangeBudgetPerUserAndOperation(t *testing.T) {
	now := time.Now()
	x, signer, access := exchangeWorld(t, now)
	checks := 0
	x.Live = func(context.Context, *jwtauth.Claims) (bool, error) { checks++; return true, nil }
	x.PerUser = ratelimit.NewMemory(ratelimit.Budget{Count: 3, Window: time.Minute}, 100, ratelimit.ForgetOldest)
	caller := ratelimit.Governing{Name: "requests", Budget: ratelimit.Budget{Count: 100, Window: time.Minute},
		Decision: ratelimit.Decision{Allowed: true, Remaining: 99}}
	ask := func(access string) (ExchangeResponse, *reqinfo.Info, error) {
		ctx, info := reqinfo.New(context.Background())
		info.RateLimit = caller
		resp, err := x.Exchange(ctx, request(access, "user-service", "listUserProfiles"), "property-service", "")
		return resp, info, err
	}
	for i := range 3 {
		resp, info, err := ask(access)
		if err != nil || resp.AccessToken == "" || info.RateLimit.Name != ExchangeBudgetName ||
			info.RateLimit.Decision.Remaining != 2-i {
			t.Fatalf("exchange %d within the budget: %v, governing %+v", i, err, info.RateLimit)
		}
	}
	resp, info, err := ask(access)
	var limited *ExchangeLimited
	if !errors.As(err, &limited) || limited.Subject != "7" || limited.Operation != "listUserProfiles" || limited.RetryAfter <= 0 ||
		resp.AccessToken != "" || info.RateLimit.Name != ExchangeBudgetName || info.RateLimit.Decision.Allowed {
		t.Fatalf("past the budget: %+v %v, governing %+v", resp, err, info.RateLimit)
	}
	if checks != 3 {
		t.Fatalf("%d session checks for 3 granted exchanges and 1 refused", checks)
	}

	// User 8's budget is its own.
	c := jwtauth.Claims{UserID: 8, SessionID: "s8"}
	c.Subject = "8"
	other, _, err := signer.Sign(c, now)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _, err := ask(other); err != nil || resp.AccessToken == "" {
		t.Fatalf("another user after user 7's burst: %v", err)
	}

	// A caller budget closer to running out keeps governing the fields.
	caller.Decision.Remaining = 0
	if _, info, err := ask(other); err != nil || info.RateLimit.Name != "requests" {
		t.Fatalf("the caller's nearly spent budget: %v, governing %+v", err, info.RateLimit)
	}
}
