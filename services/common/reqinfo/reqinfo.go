// Package reqinfo carries what the service learns about one request as it
// passes through: one record, put in the context once by the first
// middleware and filled in by the later ones (request id, client IP, the
// caller a credential named, the contract operation), then read by handlers,
// problems, audit and access lines. One record instead of one context value
// per fact: every context.WithValue copies the request.
package reqinfo

import (
	"context"
	"net/http"

	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// Info is one request's record. Middleware fills it in order; it is not
// shared between requests, and a request is served by one goroutine.
type Info struct {
	RequestID string
	ClientIP  string
	// Caller is who the request's credential names (an internal caller's
	// name), set when the credential is accepted: the access line of such a
	// request is an audit line.
	Caller string
	// CallerID is the caller's SPIFFE ID when a JWT-SVID named it ("" for a
	// static token), Credential the kind ("token" or "jwt-svid").
	CallerID, Credential string
	// Subject is whom the call is about (the user_id of an internal call):
	// the verified subject token's sub when the call carries one.
	Subject string
	// SubjectTokenID is the jti of the call's verified subject token, and
	// SubjectRefusal, when not "", why that valid token does not allow this
	// call (another user, operation or caller: a 403, answered once the
	// validator has passed the request).
	SubjectTokenID, SubjectRefusal string
	// Operation is the contract's operationId, Route its path template, both
	// set by the validator.
	Operation, Route string
	// TraceID is the request's trace id when tracing is on.
	TraceID string
	// RateLimit is the decision of the budget that governs the request, the
	// last one it passed: its RateLimit-Policy and RateLimit fields go out
	// with the response (budget.Fields), and the generated strict
	// servers write a response's declared fields from its typed value, so
	// handlers copy them from here (see BudgetOf).
	RateLimit ratelimit.Governing
	// FailureKey, when not "", is the key under which the token guard
	// spent a unit of its failure budget before the credential was checked;
	// it gives the unit back when the credential is accepted. A key, not a
	// closure: nothing to allocate on every call.
	FailureKey string
}

type key struct{}

// infoContext carries the Info in the context it extends: one allocation
// for both, where context.WithValue and a separate Info made two (Attach
// runs on every request). Cancellation, deadlines and other values are the
// embedded context's.
type infoContext struct {
	context.Context
	info Info
}

func (c *infoContext) Value(k any) any {
	if k == (key{}) {
		return &c.info
	}
	return c.Context.Value(k)
}

// Attach returns r with a fresh Info in its context, or r as it is when one
// is already there, and the Info either way.
func Attach(r *http.Request) (*http.Request, *Info) {
	if info, ok := r.Context().Value(key{}).(*Info); ok {
		return r, info
	}
	c := &infoContext{Context: r.Context()}
	return r.WithContext(c), &c.info
}

// New returns ctx extended with a fresh Info, for work that no request
// started (a command making an internal call), and the Info.
func New(ctx context.Context) (context.Context, *Info) {
	c := &infoContext{Context: ctx}
	return c, &c.info
}

// From returns the request's Info; a context without one gets an empty
// Info (so readers never check for nil).
func From(ctx context.Context) *Info {
	if info, ok := ctx.Value(key{}).(*Info); ok {
		return info
	}
	return &Info{}
}

// RequestID returns the request id, or "".
func RequestID(ctx context.Context) string { return From(ctx).RequestID }

// ClientIP returns the client IP the service believes, or "".
func ClientIP(ctx context.Context) string { return From(ctx).ClientIP }

// Budget is the response's budget fields, for a handler's typed response.
type Budget struct {
	AccessControlAllowOrigin *string // left to the CORS middleware
	RateLimit                string
	RateLimitPolicy          string
}

// BudgetOf returns the request's budget fields.
func BudgetOf(ctx context.Context) Budget {
	policy, state := From(ctx).RateLimit.Fields()
	return Budget{RateLimit: state, RateLimitPolicy: policy}
}

// InternalBudget is Budget for the internal contract, which has no CORS field.
type InternalBudget struct {
	RateLimit       string
	RateLimitPolicy string
}

// InternalBudgetOf returns the request's budget fields for the internal contract.
func InternalBudgetOf(ctx context.Context) InternalBudget {
	policy, state := From(ctx).RateLimit.Fields()
	return InternalBudget{RateLimit: state, RateLimitPolicy: policy}
}
