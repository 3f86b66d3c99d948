package jwtauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// The bearer token is verified once, by Middleware, before the validator runs.
// The validator's AuthenticationFunc (Authenticate) only reads that verdict from
// the context, and handlers read the claims from the same place: no token is
// parsed twice, and the contract still decides which operations need one.

type verdict struct {
	claims *Claims
	err    error
	// token is the verified token itself, for a service that exchanges it
	// for a subject token (VerifiedToken).
	token string
	// unheld is a token signed, by its kid, with a key not held: FetchKeys
	// verifies it if the client's request budget allows a fetch.
	unheld string
}

type verdictKey struct{}

// ErrNoToken means the request carried no bearer token.
var ErrNoToken = errors.New("no bearer token")

// ErrMalformed means the Authorization header is not "Bearer <token>".
var ErrMalformed = errors.New("malformed Authorization header")

// Middleware verifies an Authorization: Bearer header when present, with the
// keys held now only: a token whose kid is not held is left failed (a 401)
// unless FetchKeys, later in the chain, verifies it.
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			vd := &verdict{err: ErrNoToken}
			if h := r.Header.Get("Authorization"); h != "" {
				scheme, token, ok := strings.Cut(h, " ")
				if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
					vd.err = ErrMalformed
				} else {
					token = strings.TrimSpace(token)
					vd.claims, vd.err = v.VerifyHeld(r.Context(), token)
					switch {
					case vd.err == nil:
						vd.token = token
					case errors.Is(vd.err, ErrKeyNotHeld):
						vd.unheld = token
					}
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verdictKey{}, vd)))
		})
	}
}

// FetchKeys verifies the token Middleware left for a key not held, now
// letting the key source fetch it (RemoteKeys: the JWKS), if may says this
// request may cost a fetch (nil: always). The services ask their request
// budget: such a token is no verified user yet, so it is its client IP's
// budget, and a client past it is refused (by the budget, next in the chain)
// before it could cause a fetch. Verified, the request is then charged to
// its user like any other.
func FetchKeys(v *Verifier, may func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if vd, ok := r.Context().Value(verdictKey{}).(*verdict); ok && vd.unheld != "" && (may == nil || may(r)) {
				vd.claims, vd.err = v.Verify(r.Context(), vd.unheld)
				if vd.err == nil {
					vd.token = vd.unheld
				}
				vd.unheld = ""
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Authenticate is the AuthenticationFunc for the BearerAuth scheme.
func Authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	vd, ok := in.RequestValidationInput.Request.Context().Value(verdictKey{}).(*verdict)
	if !ok {
		return errors.New("bearer token was not checked") // fail closed if the middleware is missing
	}
	if vd.err != nil {
		return vd.err
	}
	return nil
}

// FromContext returns the verified claims, or nil.
func FromContext(ctx context.Context) *Claims {
	vd, ok := ctx.Value(verdictKey{}).(*verdict)
	if !ok || vd.err != nil {
		return nil
	}
	return vd.claims
}

// VerifiedToken returns the request's bearer token once it is verified (the
// claims of FromContext are its), or "": what a service that serves this
// user gives the user service to exchange for a subject token
// (internalauth.SubjectCache). It is never logged or sent anywhere else.
func VerifiedToken(ctx context.Context) string {
	vd, ok := ctx.Value(verdictKey{}).(*verdict)
	if !ok || vd.err != nil || vd.claims == nil {
		return ""
	}
	return vd.token
}

// WithClaims marks ctx as carrying claims verified by other means. Only the
// benchmark's baseline uses it, to measure the same handler without the cost
// of signature verification; the services never call it.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, verdictKey{}, &verdict{claims: c})
}
