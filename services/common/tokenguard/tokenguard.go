// Package tokenguard decides whether an internal call carries a valid
// X-Internal-Token. It plugs into the validator as the AuthenticationFunc of the
// internal contract's InternalToken scheme, bounds guessing with a failure
// budget per client IP, and feeds the audit trail: a WARN line for every
// refused call, and for every accepted one the caller and subject that turn
// its access line into the INFO audit event.
package tokenguard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"

	"jeeves4service/services/common/config"
	"jeeves4service/services/common/problem"
	"jeeves4service/services/common/ratelimit"
	"jeeves4service/services/common/reqinfo"
)

// Header is where callers put the token (the contract's apiKey scheme).
const Header = "X-Internal-Token"

// MinTokenLength is the shortest token accepted in configuration.
const MinTokenLength = config.MinTokenLength

// Token is an accepted secret and the caller name audit lines use for it.
type Token struct {
	Name  string
	value [sha256.Size]byte // only the digest is kept: equal length for constant-time comparison
}

// NewToken checks a secret's strength and keeps its digest.
func NewToken(name, secret string) (Token, error) {
	if len(secret) < MinTokenLength {
		return Token{}, fmt.Errorf("token %q is %d characters, fewer than %d", name, len(secret), MinTokenLength)
	}
	return Token{Name: name, value: sha256.Sum256([]byte(secret))}, nil
}

// ParseTokens reads more accepted tokens written "name=token,name=token"
// (INTERNAL_SERVICE_TOKENS); reserved names the caller names already taken.
func ParseTokens(list string, reserved ...string) ([]Token, error) {
	seen := map[string]bool{}
	for _, name := range reserved {
		seen[name] = true
	}
	var tokens []Token
	for _, pair := range strings.Split(list, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, secret, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, errors.New("entries must be name=token")
		}
		if seen[name] {
			return nil, fmt.Errorf("caller name %q appears twice", name)
		}
		seen[name] = true
		t, err := NewToken(name, strings.TrimSpace(secret))
		if err != nil {
			return nil, fmt.Errorf("token of %q must be at least %d characters", name, MinTokenLength)
		}
		tokens = append(tokens, t)
	}
	return tokens, nil
}

// ErrRejected is what the AuthenticationFunc returns; the validator turns it into a 401.
var ErrRejected = errors.New("invalid internal service token")

// TokenGuard checks presented tokens against every accepted one.
type TokenGuard struct {
	tokens  []Token
	log     *slog.Logger
	limiter ratelimit.Limiter
}

// LimitFailures gives the guard a budget of failed attempts per client IP; see Middleware.
func (g *TokenGuard) LimitFailures(l ratelimit.Limiter) { g.limiter = l }

func ipKey(ctx context.Context) string { return "ip:" + reqinfo.ClientIP(ctx) }

// New returns a guard; with no tokens it refuses to exist rather than accept all.
func New(tokens []Token, log *slog.Logger) (*TokenGuard, error) {
	if len(tokens) == 0 {
		return nil, errors.New("tokenguard: no accepted tokens configured")
	}
	return &TokenGuard{tokens: append([]Token(nil), tokens...), log: log}, nil
}

// Match returns the caller name of the token that equals presented. It hashes
// the presented value (so lengths never differ) and compares it with every
// accepted token without stopping early, so the time taken reveals neither
// which token matched nor how much of one did.
func (g *TokenGuard) Match(presented string) (string, bool) {
	if g == nil || len(g.tokens) == 0 || presented == "" {
		return "", false
	}
	digest := sha256.Sum256([]byte(presented))
	found := 0
	name := ""
	for _, t := range g.tokens {
		eq := subtle.ConstantTimeCompare(digest[:], t.value[:])
		if eq == 1 && found == 0 {
			name = t.Name
		}
		found |= eq
	}
	return name, found == 1
}

// Authenticate is the openapi3filter.AuthenticationFunc for the InternalToken
// scheme. An accepted token gives back the unit Middleware spent for the call.
func (g *TokenGuard) Authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	presented := r.Header.Get(Header)
	reason := "invalid"
	if presented == "" {
		reason = "missing"
	}
	if name, ok := g.Match(presented); ok {
		info := reqinfo.From(ctx)
		info.Caller = name
		if info.Refund != nil {
			info.Refund()
			info.Refund = nil
		}
		return nil
	}
	if g != nil && g.log != nil {
		g.log.WarnContext(ctx, "internal call rejected", "reason", reason,
			"client_ip", reqinfo.ClientIP(ctx), "method", r.Method, "path", r.URL.Path,
			"request_id", reqinfo.RequestID(ctx))
	}
	return ErrRejected
}

// Middleware wraps the internal API (outside the validator, which calls
// Authenticate). Before the token is even looked at, it spends one unit of the
// client IP's failure budget (check and spend in one step, so a burst of
// concurrent guesses gets no more checks than the budget); an accepted token
// gives the unit back. An IP whose budget is spent gets 429 with Retry-After,
// even with a good token: guessing a 32-character token is hopeless anyway,
// and this keeps it so. subject names whom a call is about (the path's
// user_id): with the caller Authenticate names, it makes the request's access
// line the INFO audit event of an accepted call (httpx.AccessLog).
func (g *TokenGuard) Middleware(subject func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := reqinfo.Attach(r)
			ctx := r.Context()
			info.Caller, info.Subject = "", subject(r)
			if g.limiter != nil {
				d := g.limiter.Take(ctx, ipKey(ctx))
				// Until the caller is known this budget is the one that governs
				// the request; the per-caller request budget replaces it after.
				info.RateLimitPolicy, info.RateLimit = ratelimit.SetHeaders(w.Header(), "failures", g.limiter.Budget(), d)
				if !d.Allowed {
					g.log.WarnContext(ctx, "internal call rejected", "reason", "rate_limited",
						"client_ip", info.ClientIP, "method", r.Method, "path", r.URL.Path, "request_id", info.RequestID)
					problem.SetRetryAfter(w, d.RetryAfter)
					problem.Write(w, r, problem.New(http.StatusTooManyRequests, "Too many failed attempts; try again later."))
					return
				}
				info.Refund = func() { g.limiter.Refund(ctx, ipKey(ctx)) }
			}
			next.ServeHTTP(w, r)
		})
	}
}
