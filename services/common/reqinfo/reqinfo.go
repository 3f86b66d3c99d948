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
	// Subject is whom the call is about (the user_id of an internal call).
	Subject string
	// Operation is the contract's operationId, set by the validator.
	Operation string
	// Refund, when set, gives back a unit of a failure budget spent before the
	// credential was checked; the authenticator calls it on success.
	Refund func()
}

type key struct{}

// Attach returns r with a fresh Info in its context, or r as it is when one
// is already there, and the Info either way.
func Attach(r *http.Request) (*http.Request, *Info) {
	if info, ok := r.Context().Value(key{}).(*Info); ok {
		return r, info
	}
	info := &Info{}
	return r.WithContext(context.WithValue(r.Context(), key{}, info)), info
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
