package adapters

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"

	"jeeves4service/gen/internalapi"
	"jeeves4service/services/common/internalauth"
	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/common/middleware"
	"jeeves4service/services/common/reqinfo"
	"jeeves4service/services/user/app"
)

// PropertyClientConfig says how logins reach the property service and bounds
// what one login may spend on it.
type PropertyClientConfig struct {
	BaseURL string
	// Credential is what each call carries in X-Internal-Token: the static
	// token, or a JWT-SVID for the property service (see StaticCredential).
	Credential func(ctx context.Context) (string, error)
	// TLS, when set, is the client side of mutual TLS (spiffe mode).
	TLS *tls.Config
	// Budget is the whole time a login waits, retry included (default 2s).
	Budget time.Duration
	// FailuresToOpen consecutive failures open the circuit (default 5) for OpenFor (default 15s).
	FailuresToOpen uint32
	OpenFor        time.Duration
	// Outcome, when set, is told each call's outcome: ok, error,
	// circuit_open or caller_gone (the metrics).
	Outcome func(outcome string)
	// Transport, when set, wraps the HTTP transport (tracing's client spans).
	Transport func(http.RoundTripper) http.RoundTripper
}

// PropertyClient implements app.PropertySource with the client generated from
// openapi-internal.yaml. It retries once, with jittered backoff, inside the
// budget, and a circuit breaker (sony/gobreaker: a maintained, tested state
// machine rather than our own) makes a dead property service cost nothing.
type PropertyClient struct {
	client  *internalapi.ClientWithResponses
	budget  time.Duration
	breaker *gobreaker.CircuitBreaker[app.PropertyClaims]
	outcome func(string)
}

// StaticCredential is the Credential of token mode.
func StaticCredential(token string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return token, nil }
}

// NewPropertyClient builds the client; the credential travels in
// X-Internal-Token, never in a URL.
func NewPropertyClient(cfg PropertyClientConfig) (*PropertyClient, error) {
	if cfg.Credential == nil {
		return nil, errors.New("property service client: no credential")
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 2 * time.Second
	}
	if cfg.FailuresToOpen == 0 {
		cfg.FailuresToOpen = 5
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 15 * time.Second
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = cfg.TLS
	// Logins run concurrently; keeping only the default two idle connections
	// would open (and, with mutual TLS, handshake) a new one for most calls.
	transport.MaxIdleConnsPerHost = 64
	client, err := internalapi.NewClientWithResponses(cfg.BaseURL,
		internalapi.WithHTTPClient(&http.Client{Timeout: cfg.Budget, Transport: wrap(cfg.Transport, transport)}),
		internalapi.WithRequestEditorFn(func(ctx context.Context, req *http.Request) error {
			credential, err := cfg.Credential(ctx)
			if err != nil {
				return fmt.Errorf("internal credential: %w", err)
			}
			req.Header.Set(internalauth.Header, credential)
			if id := reqinfo.RequestID(ctx); id != "" {
				req.Header.Set(middleware.RequestIDHeader, id)
			}
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("property service client for %s: %w", cfg.BaseURL, err)
	}
	failures := cfg.FailuresToOpen
	return &PropertyClient{client: client, budget: cfg.Budget, outcome: cfg.Outcome,
		breaker: gobreaker.NewCircuitBreaker[app.PropertyClaims](gobreaker.Settings{
			Name:        "property-service",
			MaxRequests: 1,           // one trial call when half-open
			Interval:    time.Minute, // forget old failures while closed
			Timeout:     cfg.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			// A caller that gave up is not the property service failing: five
			// impatient clients must not open the circuit for everyone.
			IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		})}, nil
}

// State is the breaker's state, for logs and tests.
func (p *PropertyClient) State() string { return p.breaker.State().String() }

// StateCode is the breaker's state as a number: 0 closed, 1 half-open, 2 open.
func (p *PropertyClient) StateCode() float64 { return float64(p.breaker.State()) }

func wrap(f func(http.RoundTripper) http.RoundTripper, rt http.RoundTripper) http.RoundTripper {
	if f == nil {
		return rt
	}
	return f(rt)
}

// errCallerGone marks a call cut short by the caller's own cancellation.
var errCallerGone = errors.New("the caller went away")

// UserProperties implements app.PropertySource.
func (p *PropertyClient) UserProperties(caller context.Context, userID int64, limit int) (app.PropertyClaims, error) {
	ctx, cancel := context.WithTimeout(caller, p.budget)
	defer cancel()
	claims, err := p.breaker.Execute(func() (app.PropertyClaims, error) {
		claims, err := p.call(ctx, userID, limit)
		if err != nil && caller.Err() != nil {
			return app.PropertyClaims{}, fmt.Errorf("%w: %w", errCallerGone, err)
		}
		return claims, err
	})
	if p.outcome != nil {
		p.outcome(outcomeOf(err))
	}
	return claims, err
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
		return "circuit_open"
	case errors.Is(err, errCallerGone):
		return "caller_gone"
	}
	return "error"
}

// call asks once, and once more after a jittered pause if that may help.
func (p *PropertyClient) call(ctx context.Context, userID int64, limit int) (app.PropertyClaims, error) {
	claims, err := p.fetch(ctx, userID, limit)
	if err != nil && retryable(err) && ctx.Err() == nil {
		// One retry after 50–150 ms: enough to ride out a restart or a
		// dropped connection, jittered so callers do not retry in step.
		select {
		case <-time.After(50*time.Millisecond + rand.N(100*time.Millisecond)):
			claims, err = p.fetch(ctx, userID, limit)
		case <-ctx.Done():
		}
	}
	return claims, err
}

// statusError is an answer other than 200.
type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("property service answered %d", e.status) }

// retryable: transport failures and 5xx may pass; a 4xx (a wrong token) will not.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.status >= 500
	}
	var ce *contractError
	return !errors.As(err, &ce)
}

// contractError is a 200 whose body breaks the internal contract.
type contractError struct{ what string }

func (e *contractError) Error() string { return "property service broke the contract: " + e.what }

// fetch asks for at most limit claims (the most a token carries), and learns
// from total_count whether there were more.
func (p *PropertyClient) fetch(ctx context.Context, userID int64, limit int) (app.PropertyClaims, error) {
	params := &internalapi.GetUserPropertiesParams{}
	if limit > 0 {
		n := int32(limit)
		params.Limit = &n
	}
	resp, err := p.client.GetUserPropertiesWithResponse(ctx, userID, params)
	if err != nil {
		return app.PropertyClaims{}, fmt.Errorf("call property service: %w", err)
	}
	if resp.StatusCode() != http.StatusOK {
		return app.PropertyClaims{}, &statusError{status: resp.StatusCode()}
	}
	body := resp.JSON200
	if body == nil {
		return app.PropertyClaims{}, &contractError{what: "200 without a JSON body"}
	}
	if body.UserId != userID {
		return app.PropertyClaims{}, &contractError{what: "answer is about another user"}
	}
	if limit > 0 && len(body.Properties) > limit {
		return app.PropertyClaims{}, &contractError{what: "more properties than asked for"}
	}
	claims := make([]jwtauth.PropertyClaim, 0, len(body.Properties))
	for _, pc := range body.Properties {
		if pc.PropertyId < 1 || !pc.AccessLevel.Valid() {
			return app.PropertyClaims{}, &contractError{what: "property claim with an invalid id or access level"}
		}
		claims = append(
			claims,
			jwtauth.PropertyClaim{PropertyID: pc.PropertyId, PropertyName: pc.PropertyName, AccessLevel: string(pc.AccessLevel)},
		)
	}
	return app.PropertyClaims{Claims: claims, Total: max(int(body.TotalCount), len(claims))}, nil
}
