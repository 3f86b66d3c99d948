package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// A request refused for its own sake (one user's stale access token) is
// asked once, and any number of them leave the circuit closed; the same
// number of upstream failures open it.
func TestRefusalsForOneRequestNeitherRetryNorOpenTheCircuit(t *testing.T) {
	u := New[int](Settings{Name: "test", FailuresToOpen: 3})
	calls := 0
	refused := func(context.Context) (int, error) {
		calls++
		return 0, fmt.Errorf("exchange: %w", ErrRefusedForThisRequest)
	}
	for range 10 {
		if _, err := u.Call(context.Background(), refused); !errors.Is(err, ErrRefusedForThisRequest) {
			t.Fatalf("refused: %v", err)
		}
	}
	if calls != 10 || u.State() != "closed" {
		t.Fatalf("%d calls for 10 refusals, circuit %s", calls, u.State())
	}
	down := func(context.Context) (int, error) { return 0, &StatusError{Service: "x", Status: 503} }
	for range 3 {
		_, _ = u.Call(context.Background(), down)
	}
	if u.State() != "open" {
		t.Fatalf("after 3 upstream failures the circuit is %s", u.State())
	}
}

// answer is an upstream's answer: status, RateLimit field, body.
func answer(status int, rateLimit, body string) (*http.Response, []byte) {
	h := http.Header{}
	if rateLimit != "" {
		h.Set(ratelimit.StateHeader, rateLimit)
	}
	return &http.Response{StatusCode: status, Header: h}, []byte(body)
}

// Issue 33: what the callee says decides whether a refusal is about one
// user (not retried, not counted towards opening the circuit) or about the
// caller or the upstream (counted).
func TestRefusalTellsOneUsersRefusalsFromTheCallers(t *testing.T) {
	forbidden := `{"type":"https://jeeves4service.dev/problems/forbidden","title":"Forbidden","status":403,` +
		`"detail":"The subject token does not allow this call."}`
	callerForbidden := `{"type":"` + problem.TypeCallerForbidden + `","title":"Forbidden","status":403,` +
		`"detail":"This caller may not call this operation."}`
	for _, c := range []struct {
		name, rateLimit, body string
		status                int
		aboutTheUser, retried bool
	}{
		{"the user's budget spent", `"subject-requests";r=0;t=12`, `{}`, 429, true, false},
		{"the user's exchanges spent", `"` + internalauth.ExchangeBudgetName + `";r=0;t=50`, `{}`, 429, true, false},
		{"a budget that only ends like a user's", `"all-subject-requests";r=0;t=5`, `{}`, 429, false, false},
		{"the caller's request budget spent", `"requests";r=0;t=3`, `{}`, 429, false, false},
		{"the caller's failure budget spent", `"failures";r=0;t=30`, `{}`, 429, false, false},
		{"a 429 without a RateLimit field", "", `{}`, 429, false, false},
		{"a 429 whose field is not a structured one", `subject-requests;r=0`, `{}`, 429, false, false},
		{"a subject token that does not allow the call", `"requests";r=5;t=0`, forbidden, 403, true, false},
		{"a caller the operation does not allow", `"requests";r=5;t=0`, callerForbidden, 403, false, false},
		{"a 403 whose body is no problem", "", `<html>`, 403, true, false},
		{"a wrong credential", `"failures";r=9;t=6`, `{}`, 401, false, false},
		{"a body the callee refuses", `"requests";r=5;t=0`, `{}`, 400, false, false},
		{"an upstream failure", "", `{}`, 500, false, true},
		{"an upstream unavailable", `"subject-requests";r=0;t=12`, `{}`, 503, false, true},
	} {
		resp, body := answer(c.status, c.rateLimit, c.body)
		err := Refusal("callee", resp, body)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != c.status || se.Service != "callee" {
			t.Errorf("%s: %v is not the StatusError of a %d", c.name, err, c.status)
		}
		if got := errors.Is(err, ErrRefusedForThisRequest); got != c.aboutTheUser {
			t.Errorf("%s: about the user %v, want %v (%v)", c.name, got, c.aboutTheUser, err)
		}
		if got := Retryable(err); got != c.retried {
			t.Errorf("%s: retryable %v, want %v", c.name, got, c.retried)
		}
	}
}

// A user who spends their own budget at the upstream, however often, leaves
// the circuit closed for everyone, each refusal asked once; the caller's
// own budget spent opens it as before, and the hooks hear of it.
func TestOneUsersSpentBudgetDoesNotOpenTheCircuit(t *testing.T) {
	var transitions, outcomes []string
	var logged bytes.Buffer
	u := New[int](Settings{Name: "callee", FailuresToOpen: 3, Log: slog.New(slog.NewTextHandler(&logged, nil)),
		OnStateChange: func(from, to string) { transitions = append(transitions, from+"->"+to) },
		Outcome:       func(o string) { outcomes = append(outcomes, o) }})
	calls := 0
	refusing := func(rateLimit string) func(context.Context) (int, error) {
		return func(context.Context) (int, error) {
			calls++
			return 0, Refusal("callee", &http.Response{StatusCode: 429,
				Header: http.Header{"Ratelimit": {rateLimit}}}, nil)
		}
	}
	for range 20 {
		if _, err := u.Call(context.Background(), refusing(`"subject-requests";r=0;t=40`)); !errors.Is(err, ErrRefusedForThisRequest) {
			t.Fatalf("the user's spent budget: %v", err)
		}
	}
	if calls != 20 || u.State() != "closed" || len(transitions) != 0 || outcomes[19] != "refused" {
		t.Fatalf("20 refusals about one user: %d calls, circuit %s, transitions %v, last outcome %s",
			calls, u.State(), transitions, outcomes[19])
	}
	for range 3 {
		_, _ = u.Call(context.Background(), refusing(`"requests";r=0;t=5`))
	}
	if u.State() != "open" || fmt.Sprint(transitions) != "[closed->open]" {
		t.Fatalf("after 3 refusals of the caller the circuit is %s, transitions %v", u.State(), transitions)
	}
	if _, err := u.Call(context.Background(), refusing(`"requests";r=0;t=5`)); outcomeOf(err) != "circuit_open" || calls != 23 {
		t.Fatalf("a call while open: %v after %d calls", err, calls)
	}
	if !strings.Contains(logged.String(), "level=WARN msg=\"circuit breaker opened") ||
		!strings.Contains(logged.String(), "upstream=callee") {
		t.Fatalf("log when the circuit opened: %s", logged.String())
	}
}
