// Package upstream bounds what a call to another service may cost the caller,
// for the calls a service can do without (the property claims of a login,
// the names on a member list): a time budget for the whole call, one
// jittered retry inside it when a retry may help, and a circuit breaker
// (sony/gobreaker: a maintained, tested state machine rather than our own)
// so that a dead service costs nothing after a few failures. The caller
// degrades when Call fails, whatever the reason; but only a failure of the
// upstream counts towards opening the circuit: a refusal about the one user
// a call is made for (Refusal) does not, or any user could cut everyone off.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// Settings bound one upstream's calls.
type Settings struct {
	// Name names the breaker (logs).
	Name string
	// Budget is the whole time a call may take, its retry included.
	Budget time.Duration
	// FailuresToOpen consecutive failures open the circuit for OpenFor.
	FailuresToOpen uint32
	OpenFor        time.Duration
	// Outcome, when set, is told each call's outcome: ok, error, refused
	// (ErrRefusedForThisRequest), circuit_open or caller_gone (the metrics).
	Outcome func(outcome string)
	// OnStateChange, when set, is told each transition of the breaker, by
	// state name: closed, half-open, open (the metrics). It runs inside
	// the breaker's lock: it must not call the upstream.
	OnStateChange func(from, to string)
	// Log, when set, gets a WARN line when the circuit opens and an INFO
	// line when it half-opens or closes, naming the upstream: the caller's
	// log says which service it stopped calling, and when it called again.
	Log *slog.Logger
}

// StateOpen is the name of the open state in OnStateChange, and
// OutcomeCircuitOpen the outcome of a call the breaker refused without
// trying (the metrics count them).
const (
	StateOpen          = "open"
	OutcomeCircuitOpen = "circuit_open"
)

// The defaults of every upstream (each service's variables may change them).
const (
	DefaultBudget         = 2 * time.Second
	DefaultFailuresToOpen = 5
	DefaultOpenFor        = 15 * time.Second
)

// Upstream is one service called through a breaker; T is what a call returns.
type Upstream[T any] struct {
	budget  time.Duration
	breaker *gobreaker.CircuitBreaker[T]
	outcome func(string)
}

// New returns an upstream with s's bounds (the defaults for zero fields).
func New[T any](s Settings) *Upstream[T] {
	if s.Budget <= 0 {
		s.Budget = DefaultBudget
	}
	if s.FailuresToOpen == 0 {
		s.FailuresToOpen = DefaultFailuresToOpen
	}
	if s.OpenFor <= 0 {
		s.OpenFor = DefaultOpenFor
	}
	failures := s.FailuresToOpen
	return &Upstream[T]{budget: s.Budget, outcome: s.Outcome,
		breaker: gobreaker.NewCircuitBreaker[T](gobreaker.Settings{
			Name:        s.Name,
			MaxRequests: 1,           // one trial call when half-open
			Interval:    time.Minute, // forget old failures while closed
			Timeout:     s.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			// A caller that gave up is not the upstream failing: five
			// impatient clients must not open the circuit for everyone.
			// Nor is one request refused for its own sake (Refusal): one
			// user who spends their own budget must not either.
			IsExcluded: func(err error) bool {
				return errors.Is(err, errCallerGone) || errors.Is(err, ErrRefusedForThisRequest)
			},
			OnStateChange: stateChange(s),
		})}
}

// stateChange is the breaker's OnStateChange: s's hook and log line.
func stateChange(s Settings) func(name string, from, to gobreaker.State) {
	if s.OnStateChange == nil && s.Log == nil {
		return nil
	}
	return func(name string, from, to gobreaker.State) {
		if s.OnStateChange != nil {
			s.OnStateChange(from.String(), to.String())
		}
		if s.Log == nil {
			return
		}
		switch to {
		case gobreaker.StateOpen:
			s.Log.Warn("circuit breaker opened: calls to the upstream are refused without trying",
				"upstream", name, "from", from.String(), "open_for", s.OpenFor.String(),
				"failures_to_open", s.FailuresToOpen)
		default:
			s.Log.Info("circuit breaker "+to.String(), "upstream", name, "from", from.String())
		}
	}
}

// Budget is the whole time a call may take.
func (u *Upstream[T]) Budget() time.Duration { return u.budget }

// State is the breaker's state, for logs and tests.
func (u *Upstream[T]) State() string { return u.breaker.State().String() }

// StateCode is the breaker's state as a number: 0 closed, 1 half-open, 2 open.
func (u *Upstream[T]) StateCode() float64 { return float64(u.breaker.State()) }

// errCallerGone marks a call cut short by the caller's own cancellation.
var errCallerGone = errors.New("the caller went away")

// ErrRefusedForThisRequest marks a failure that is about one request, not
// about the upstream: the user service refusing to exchange one user's
// access token (expired, or about to) for a subject token, or a callee
// refusing a call for that user (its budget spent, its subject token not
// for this call: see Refusal). It is not retried, and does not count
// towards opening the circuit: a user with a stale token or a spent budget
// must not cut the names off everyone's lists, or the claims off everyone's
// tokens.
var ErrRefusedForThisRequest = errors.New("refused for this request")

// Call runs fetch within the budget and through the breaker, once more after
// a jittered pause if the first failure may pass (Retryable).
func (u *Upstream[T]) Call(caller context.Context, fetch func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(caller, u.budget)
	defer cancel()
	v, err := u.breaker.Execute(func() (T, error) {
		v, err := retryOnce(ctx, fetch)
		if err != nil && caller.Err() != nil {
			var zero T
			return zero, fmt.Errorf("%w: %w", errCallerGone, err)
		}
		return v, err
	})
	if u.outcome != nil {
		u.outcome(outcomeOf(err))
	}
	return v, err
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
		return OutcomeCircuitOpen
	case errors.Is(err, errCallerGone):
		return "caller_gone"
	case errors.Is(err, ErrRefusedForThisRequest):
		return "refused"
	}
	return "error"
}

// retryOnce asks once, and once more after a jittered pause if that may help.
func retryOnce[T any](ctx context.Context, fetch func(context.Context) (T, error)) (T, error) {
	v, err := fetch(ctx)
	if err != nil && Retryable(err) && ctx.Err() == nil {
		// One retry after 50–150 ms: enough to ride out a restart or a
		// dropped connection, jittered so callers do not retry in step.
		select {
		case <-time.After(50*time.Millisecond + rand.N(100*time.Millisecond)):
			v, err = fetch(ctx)
		case <-ctx.Done():
		}
	}
	return v, err
}

// StatusError is an answer other than the one expected from Service.
type StatusError struct {
	Service string
	Status  int
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s answered %d", e.Service, e.Status) }

// Refusal is the error of an answer of service other than the one expected
// (resp, whose body has been read into body): a *StatusError, wrapped in
// ErrRefusedForThisRequest when the answer says it is about the user the
// call is made for rather than about the caller or the upstream, so that
// it is neither retried nor counted towards opening the circuit. The
// callee says which in the contract's terms (openapi-internal.yaml), never
// in prose:
//
//   - a 429 is about the user when its RateLimit field names a budget of
//     one user, whose name starts with ratelimit.SubjectPolicyPrefix
//     ("subject-requests" per operation and subject, "subject-exchanges" at
//     the token exchange): that user's calls are spent, everyone else's are
//     not. Any other budget ("requests", the caller's; "failures", its
//     credential's), or none, is the caller's: every call would meet it.
//   - a 403 is about the user unless its problem type is
//     problem.TypeCallerForbidden: the caller is not among the operation's
//     x-allowed-callers, a misconfiguration every call will meet. Any other
//     403 (a subject token for another user, operation or caller; a user
//     who may not see what is asked) concerns the call's user, and so does
//     one whose body cannot be read: the default is the one a user cannot
//     turn into an outage for everyone.
//
// Every other status (5xx, 401, any other 4xx) is a *StatusError alone.
func Refusal(service string, resp *http.Response, body []byte) error {
	status := &StatusError{Service: service, Status: resp.StatusCode}
	if aboutTheSubject(resp, body) {
		return fmt.Errorf("%w: %w", ErrRefusedForThisRequest, status)
	}
	return status
}

func aboutTheSubject(resp *http.Response, body []byte) bool {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return strings.HasPrefix(ratelimit.PolicyName(resp.Header.Get(ratelimit.StateHeader)), ratelimit.SubjectPolicyPrefix)
	case http.StatusForbidden:
		var p struct {
			Type string `json:"type"`
		}
		return json.Unmarshal(body, &p) != nil || p.Type != problem.TypeCallerForbidden
	}
	return false
}

// ContractError is an answer of Service whose body breaks the contract.
type ContractError struct{ Service, What string }

func (e *ContractError) Error() string { return e.Service + " broke the contract: " + e.What }

// Retryable reports whether a failed call may pass when tried again:
// transport failures and 5xx may; a 4xx (a wrong credential), an answer
// that breaks the contract and a request refused for itself will not.
func Retryable(err error) bool {
	if errors.Is(err, ErrRefusedForThisRequest) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status >= 500
	}
	var ce *ContractError
	return !errors.As(err, &ce)
}
