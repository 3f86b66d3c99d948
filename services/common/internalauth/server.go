// Package tokenguard decides whether an internal call carries a valid
// credential in X-Internal-Token: a static token, or a JWT-SVID on a mutual-TLS
// connection made with the same workload's X.509-SVID (INTERNAL_AUTH picks
// which). It plugs into the validator as the AuthenticationFunc of the
// internal contract's InternalToken scheme, bounds guessing with a failure
// budget per client IP (per SPIFFE ID on a connection with a client certificate), checks the contract's x-allowed-callers (Allowed),
// and feeds the audit trail: a WARN line for every refused call, and for
// every accepted one the caller, its SPIFFE ID, the credential kind and the
// subject that turn its access line into the INFO audit event.
package internalauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

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

// Mode is INTERNAL_AUTH: which credentials the internal listener accepts.
type Mode string

const (
	// Tokens accepts static tokens only (plain HTTP or TLS).
	Tokens Mode = "token"
	// SPIFFE accepts only a JWT-SVID, on a mutual-TLS connection made with the
	// same workload's X.509-SVID.
	SPIFFE Mode = "spiffe"
	// Both accepts either, for a migration: a connection with a client
	// certificate is held to SPIFFE's rules, one without to the tokens'.
	Both Mode = "token+spiffe"
)

// ParseMode reads INTERNAL_AUTH; allowed lists the modes the service offers.
func ParseMode(allowed ...Mode) func(string) (Mode, error) {
	return func(v string) (Mode, error) {
		for _, m := range allowed {
			if Mode(v) == m {
				return m, nil
			}
		}
		names := make([]string, len(allowed))
		for i, m := range allowed {
			names[i] = string(m)
		}
		return "", fmt.Errorf("must be one of %s", strings.Join(names, ", "))
	}
}

// TakesTokens reports whether static tokens are accepted (or, on the calling side, sent).
func (m Mode) TakesTokens() bool { return m == Tokens || m == Both }

// TakesSPIFFE reports whether SPIFFE identities are accepted (or used).
func (m Mode) TakesSPIFFE() bool { return m == SPIFFE || m == Both }

// Credential kinds, as audit lines name them.
const (
	CredentialToken   = "token"
	CredentialJWTSVID = "jwt-svid"
)

// ErrRejected is what the AuthenticationFunc returns; the validator turns it into a 401.
var ErrRejected = errors.New("invalid internal service credential")

// TokenGuard checks presented credentials against the mode's rules.
type TokenGuard struct {
	mode    Mode
	tokens  []Token
	svids   *SVIDs
	log     *slog.Logger
	limiter ratelimit.Limiter
	now     func() time.Time
	report  Outcomes
}

// Outcomes is told the outcome of every internal call's authentication (the
// metrics): reasons and caller names come from closed sets, never from the
// request.
type Outcomes interface {
	Accepted(caller, credential string)
	Rejected(reason string)
	Forbidden(caller string)
}

// Reasons are every reason a call can be refused for, the closed set the
// metrics label rejections with (and start at zero, so that the first burst of
// refusals shows in a rate rather than in the birth of a series).
var Reasons = []string{"missing", "invalid", "rate_limited", "client_certificate", "no_client_certificate",
	"invalid_jwt_svid", "jwt_svid_expired", "jwt_svid_not_yet_valid", "jwt_svid_lifetime", "subject_mismatch"}

// Report sends every outcome to o as well as to the log.
func (g *TokenGuard) Report(o Outcomes) { g.report = o }

func (g *TokenGuard) rejected(reason string) {
	if g.report != nil {
		g.report.Rejected(reason)
	}
}

// LimitFailures gives the guard a budget of failed attempts per client IP, or
// per SPIFFE ID on a connection with a client certificate; see Middleware.
func (g *TokenGuard) LimitFailures(l ratelimit.Limiter) { g.limiter = l }

func ipKey(ctx context.Context) string { return ratelimit.IPKey(reqinfo.ClientIP(ctx)) }

// failureKey is whose failure budget a call spends: the SPIFFE ID of the
// client certificate when the guard takes SPIFFE identities (the listener's
// TLS handshake, identity.ServerTLS or OptionalClientTLS, has verified it as
// an X.509-SVID of the trust domain before any HTTP was read, so it cannot be
// chosen by the caller), the client IP otherwise. So a process on the same
// host or behind the same NAT that guesses over plain HTTP, or another
// workload that sends bad JWT-SVIDs, spends its own budget and never the
// caller whose certificate it does not hold.
func (g *TokenGuard) failureKey(r *http.Request) string {
	if g.svids != nil {
		if id, ok, err := peerID(r); ok && err == nil {
			return "spiffe:" + id.String()
		}
	}
	return ipKey(r.Context())
}

// New returns a guard of static tokens (mode token); with no tokens it
// refuses to exist rather than accept all.
func New(tokens []Token, log *slog.Logger) (*TokenGuard, error) {
	return NewGuard(Tokens, tokens, nil, log)
}

// NewGuard returns a guard for mode: tokens are required when the mode takes
// tokens, svids when it takes SPIFFE identities, and neither may be given
// to a mode that would not use it (no credential is accepted by accident).
func NewGuard(mode Mode, tokens []Token, svids *SVIDs, log *slog.Logger) (*TokenGuard, error) {
	if mode == "" {
		mode = Tokens // the zero Config of a service is token mode, as INTERNAL_AUTH's default
	}
	switch {
	case mode != Tokens && mode != SPIFFE && mode != Both:
		return nil, fmt.Errorf("tokenguard: unknown mode %q", mode)
	case mode.TakesTokens() && len(tokens) == 0:
		return nil, errors.New("tokenguard: no accepted tokens configured")
	case !mode.TakesTokens() && len(tokens) > 0:
		return nil, fmt.Errorf("tokenguard: mode %s accepts no static tokens", mode)
	case mode.TakesSPIFFE() && (svids == nil || svids.Bundles == nil || svids.Audience.IsZero()):
		return nil, errors.New("tokenguard: no trust bundle or audience for SPIFFE identities")
	}
	if !mode.TakesSPIFFE() {
		svids = nil
	}
	return &TokenGuard{mode: mode, tokens: append([]Token(nil), tokens...), svids: svids, log: log, now: time.Now}, nil
}

// accepted is who a credential named.
type accepted struct {
	name, id, kind string
}

// check decides one call: the caller, or the reason (and detail) of a refusal.
// With a client certificate on the connection, only a JWT-SVID of that same
// workload is accepted; without one, only a static token, and only in a mode
// that takes tokens. So token+spiffe cannot be used to downgrade: a caller
// that proved a SPIFFE identity is held to it, and spiffe mode has no tokens.
func (g *TokenGuard) check(r *http.Request, presented string) (accepted, string, error) {
	if presented == "" {
		return accepted{}, "missing", nil
	}
	peer, hasCert, err := peerID(r)
	if err != nil {
		return accepted{}, "client_certificate", err
	}
	if hasCert && g.svids != nil {
		id, reason, err := g.svids.check(presented, peer, g.now())
		if reason != "" {
			return accepted{}, reason, err
		}
		return accepted{name: CallerName(id), id: id.String(), kind: CredentialJWTSVID}, "", nil
	}
	if !g.mode.TakesTokens() {
		return accepted{}, "no_client_certificate", nil
	}
	name, ok := g.Match(presented)
	if !ok {
		return accepted{}, "invalid", nil
	}
	return accepted{name: name, kind: CredentialToken}, "", nil
}

// Authenticate is the openapi3filter.AuthenticationFunc for the InternalToken
// scheme. An accepted credential names the caller in the request's record
// and gives back the unit Middleware spent for the call; a refused one is
// logged at WARN with the reason and the client IP, never the credential.
func (g *TokenGuard) Authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	if g == nil {
		return ErrRejected
	}
	who, reason, err := g.check(r, r.Header.Get(Header))
	if reason == "" {
		info := reqinfo.From(ctx)
		info.Caller, info.CallerID, info.Credential = who.name, who.id, who.kind
		if g.report != nil {
			g.report.Accepted(who.name, who.kind)
		}
		if info.FailureKey != "" && g.limiter != nil {
			g.limiter.Refund(ctx, info.FailureKey)
			info.FailureKey = ""
		}
		return nil
	}
	g.rejected(reason)
	if g.log != nil {
		attrs := []any{"reason", reason, "client_ip", reqinfo.ClientIP(ctx), "method", r.Method, "path", r.URL.Path,
			"request_id", reqinfo.RequestID(ctx)}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		g.log.WarnContext(ctx, "internal call rejected", attrs...)
	}
	return ErrRejected
}

// Middleware wraps the internal API (outside the validator, which calls
// Authenticate). Before the token is even looked at, it spends one unit of the
// failure budget of the client IP, or of the SPIFFE ID of a verified client
// certificate (failureKey), checking and spending in one step so that a burst
// of concurrent guesses gets no more checks than the budget; an accepted token
// gives the unit back. A key whose budget is spent gets 429 with Retry-After,
// even with a good token: guessing a 32-character token is hopeless anyway,
// and this keeps it so. subject names whom a call is about (the path's
// user_id): with the caller Authenticate names, it makes the request's access
// line the INFO audit event of an accepted call (middleware.AccessLog).
func (g *TokenGuard) Middleware(subject func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := reqinfo.Attach(r)
			ctx := r.Context()
			info.Caller, info.Subject = "", subject(r)
			if g.limiter != nil {
				key := g.failureKey(r)
				d := g.limiter.Take(ctx, key)
				// Until the caller is known this budget is the one that governs
				// the request; the per-caller request budget replaces it after.
				info.RateLimit = ratelimit.Governing{Name: "failures", Budget: g.limiter.Budget(), Decision: d}
				if !d.Allowed {
					g.rejected("rate_limited")
					g.log.WarnContext(ctx, "internal call rejected", "reason", "rate_limited",
						"client_ip", info.ClientIP, "method", r.Method, "path", r.URL.Path, "request_id", info.RequestID)
					problem.SetRetryAfter(w, d.RetryAfter)
					problem.Write(w, r, problem.New(http.StatusTooManyRequests, "Too many failed attempts; try again later."))
					return
				}
				info.FailureKey = key
			}
			next.ServeHTTP(w, r)
		})
	}
}
