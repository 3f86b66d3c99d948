// Package reqinfo carries per-request facts (request id, client IP) in the
// context, set once by middleware and read by handlers, problems and logs.
package reqinfo

import "context"

type key int

const (
	requestIDKey key = iota
	clientIPKey
)

// WithRequestID stores the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// WithClientIP stores the client IP the service believes.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey, ip)
}

// ClientIP returns the client IP, or "".
func ClientIP(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey).(string)
	return s
}
