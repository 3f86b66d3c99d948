package internalauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/services/common/budget"
	"github.com/jeeves4service/jeeves4service/services/common/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/listener"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/common/validator"
)

// Header is where callers put their credential (the contract's apiKey scheme).
const Header = "X-Internal-Token"

// Credential kinds, as audit lines name them.
const (
	CredentialToken   = "token"
	CredentialJWTSVID = "jwt-svid"
)

// ErrRejected is what the AuthenticationFunc returns; the validator turns it into a 401.
var ErrRejected = errors.New("invalid internal service credential")

// unauthorizedDetail is the detail of every 401 on an internal listener: it
// says nothing about which check failed (the WARN line does).
const unauthorizedDetail = "Invalid internal service token"

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
	"invalid_jwt_svid", "jwt_svid_expired", "jwt_svid_not_yet_valid", "jwt_svid_lifetime", "subject_mismatch",
	"subject_token_missing", "subject_token_invalid", "subject_token_expired", "subject_token_unchecked"}

// The reasons a valid subject token does not allow a call (403).
const (
	refusedOtherUser      = "subject_token_other_user"
	refusedOtherOperation = "subject_token_other_operation"
	refusedOtherCaller    = "subject_token_other_caller"
)

// GuardOptions are what a Guard needs besides the workload's credentials.
type GuardOptions struct {
	// Log gets a WARN line for every refused call. Required.
	Log *slog.Logger
	// Outcomes, when set, is told every outcome (the metrics).
	Outcomes Outcomes
	// Failures is the budget of failed attempts per client IP, or per SPIFFE
	// ID on a connection with a client certificate (nil: none).
	Failures ratelimit.Limiter
	// PerCaller is the request budget of each authenticated caller (nil: none).
	PerCaller ratelimit.Limiter
	// Subjects verifies subject tokens (the user service's issuer and JWKS).
	// Required when an operation of the contract is made for a user.
	Subjects *jwtauth.SubjectVerifier
	// PerSubject is the budget of each (operation, subject) (nil: none): a
	// caller, however compromised, reads a user's data only as often as that
	// budget allows, and only for users whose subject tokens it holds.
	PerSubject ratelimit.Limiter
}

// Guard is the security of one internal listener: the credential rules of
// the mode, the contract's x-allowed-callers and x-on-behalf-of, the two
// budgets, and the audit trail. Handler puts it in front of the contract's
// operations, Listener gives the listener the mode's TLS.
type Guard struct {
	checker
	log       *slog.Logger
	report    Outcomes
	failures  ratelimit.Limiter
	perCaller ratelimit.Limiter
	subjects  *jwtauth.SubjectVerifier
	perSubj   ratelimit.Limiter
	name      string // the service's own name: the audience of token-mode subject tokens
	tls       *tls.Config
	alsoPlain bool
}

// Guard returns the guard of this workload's internal listener. It refuses
// to exist without the credentials its mode accepts (fail closed: a guard
// that knows no token would accept none, but one built by mistake with an
// empty list must not be mistaken for protection).
func (w *Workload) Guard(o GuardOptions) (*Guard, error) {
	if o.Log == nil {
		return nil, errors.New("internalauth: a guard needs a logger (every refusal is logged)")
	}
	var svids *SVIDs
	if w.src != nil {
		svids = &SVIDs{Bundles: w.src, Audience: w.src.ID()}
	}
	c, err := newChecker(w.cfg.Mode, w.cfg.Accepted, svids)
	if err != nil {
		return nil, err
	}
	g := &Guard{checker: *c, log: o.Log, report: o.Outcomes, failures: o.Failures, perCaller: o.PerCaller,
		subjects: o.Subjects, perSubj: o.PerSubject, name: w.cfg.Name}
	switch {
	case w.src != nil && w.cfg.Mode == Both: // one port for both kinds of caller (see listener.Listener.AlsoPlain)
		g.tls, g.alsoPlain = identity.OptionalClientTLS(w.src), true
	case w.src != nil:
		g.tls = identity.ServerTLS(w.src)
	case w.cfg.TLS.CertFile != "": // token mode with a certificate: only TLS (no plain HTTP beside it)
		if g.tls, err = w.cfg.TLS.tokenServerTLS(o.Log); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Handler is the internal listener's router: the contract's operations
// (mount registers the generated server's routes) behind, in this order,
// the failure budget (before the credential is looked at), the validator
// built from the contract with the guard as the AuthenticationFunc of its
// InternalToken scheme (so a call without a valid credential is a 401 before
// anything else about it is looked at), the caller's request budget, and the
// operation's x-allowed-callers (403 for a known caller it does not list).
func (g *Guard) Handler(base router.Base, c router.Contract, mount func(chi.Router)) (http.Handler, error) {
	policies, err := Policies(c.Spec)
	if err != nil {
		return nil, fmt.Errorf("internal contract: %w", err)
	}
	for op, p := range policies {
		if p.Subject && g.subjects == nil {
			return nil, fmt.Errorf("internalauth: operation %s is made for a user but the guard verifies no subject tokens", op)
		}
	}
	return router.API{
		Base:     base,
		Contract: c,
		Security: validator.Options{Authenticate: g.authenticate(policies), UnauthorizedDetail: unauthorizedDetail},
		Before:   []func(http.Handler) http.Handler{g.spendFailure},
		After: []func(http.Handler) http.Handler{budget.PerCaller(g.perCaller), g.allowed(policies),
			g.perSubject(policies)},
		Mount: mount,
	}.Handler()
}

// Listener is the internal listener called name on addr serving h, with the
// mode's TLS: none in token mode, mutual TLS with the X.509-SVID in spiffe
// mode, and TLS beside plain HTTP on one port in token+spiffe mode.
func (g *Guard) Listener(name, addr string, h http.Handler) *listener.Listener {
	return &listener.Listener{Name: name, Addr: addr, Handler: h, TLS: g.tls, AlsoPlain: g.alsoPlain}
}

func (g *Guard) rejected(reason string) {
	if g.report != nil {
		g.report.Rejected(reason)
	}
}

// failureKey is whose failure budget a call spends: the SPIFFE ID of the
// client certificate when the guard takes SPIFFE identities (the listener's
// TLS handshake, ServerTLS or OptionalClientTLS, has verified it as an
// X.509-SVID of the trust domain before any HTTP was read, so it cannot be
// chosen by the caller), the client IP otherwise. So a process on the same
// host or behind the same NAT that guesses over plain HTTP, or another
// workload that sends bad JWT-SVIDs, spends its own budget and never the
// caller whose certificate it does not hold.
func (g *Guard) failureKey(r *http.Request) string {
	if g.svids != nil {
		if id, ok, err := peerID(r); ok && err == nil {
			return "spiffe:" + id.String()
		}
	}
	return ratelimit.IPKey(reqinfo.ClientIP(r.Context()))
}

// spendFailure runs before the validator. Before the credential is even
// looked at, it spends one unit of the failure budget of failureKey,
// checking and spending in one step so that a burst of concurrent guesses
// gets no more checks than the budget; an accepted credential gives the unit
// back. A key whose budget is spent gets 429 with Retry-After, even with a
// good credential: guessing a 32-character token is hopeless anyway, and
// this keeps it so.
func (g *Guard) spendFailure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, info := reqinfo.Attach(r)
		info.Caller = ""
		if g.failures != nil {
			ctx := r.Context()
			key := g.failureKey(r)
			d := g.failures.Take(ctx, key)
			// Until the caller is known this budget is the one that governs
			// the request; the per-caller request budget replaces it after.
			info.RateLimit = ratelimit.Governing{Name: "failures", Budget: g.failures.Budget(), Decision: d}
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

// authenticate is the openapi3filter.AuthenticationFunc of the InternalToken
// scheme. An accepted credential names the caller in the request's record,
// with the call's subject (the parameter the operation's x-on-behalf-of
// names), which make the request's access line the INFO audit event
// (middleware.AccessLog), and gives back the unit spendFailure spent; a
// refused one is logged at WARN with the reason and the client IP, never the
// credential.
func (g *Guard) authenticate(policies map[string]Policy) openapi3filter.AuthenticationFunc {
	return func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
		r := in.RequestValidationInput.Request
		if in.SecuritySchemeName != WorkloadScheme {
			return g.authenticateSubject(ctx, r, in.SecuritySchemeName, policies)
		}
		who, reason, err := g.check(r, r.Header.Get(Header))
		if reason != "" {
			g.rejected(reason)
			attrs := []any{"reason", reason, "client_ip", reqinfo.ClientIP(ctx), "method", r.Method, "path", r.URL.Path,
				"request_id", reqinfo.RequestID(ctx)}
			if err != nil {
				attrs = append(attrs, "error", err.Error())
			}
			g.log.WarnContext(ctx, "internal call rejected", attrs...)
			return ErrRejected
		}
		info := reqinfo.From(ctx)
		info.Caller, info.CallerID, info.Credential = who.name, who.id, who.kind
		if p := policies[info.Operation]; p.OnBehalfOf.Parameter != "" && !p.Subject {
			info.Subject = chi.URLParam(r, p.OnBehalfOf.Parameter)
		}
		if g.report != nil {
			g.report.Accepted(who.name, who.kind)
		}
		if info.FailureKey != "" && g.failures != nil {
			g.failures.Refund(ctx, info.FailureKey)
			info.FailureKey = ""
		}
		return nil
	}
}

// authenticateSubject is the AuthenticationFunc of the SubjectToken scheme,
// asked after the workload credential's (the validator asks in name order;
// without an accepted caller it refuses, whatever the order). A token that
// is absent, not a subject token of the user service for this service, or
// expired more than SubjectLeeway ago is a 401. A valid one is the call's
// subject (the audit line's user_id and jti); when it was minted for another
// operation, another caller, or another user than the parameter the
// contract's x-on-behalf-of names, the refusal is recorded and allowed
// answers 403 once the validator has passed the request (an
// AuthenticationFunc can only say 401).
func (g *Guard) authenticateSubject(ctx context.Context, r *http.Request, scheme string, policies map[string]Policy) error {
	info := reqinfo.From(ctx)
	policy := policies[info.Operation]
	switch {
	case scheme != SubjectScheme || !policy.Subject || g.subjects == nil:
		return g.refuseSubject(ctx, r, "subject_token_unchecked", fmt.Errorf("scheme %q", scheme))
	case info.Caller == "":
		return g.refuseSubject(ctx, r, "subject_token_unchecked", errors.New("no accepted caller"))
	}
	token := r.Header.Get(SubjectHeader)
	if token == "" {
		return g.refuseSubject(ctx, r, "subject_token_missing", nil)
	}
	self, caller := g.name, info.Caller
	if info.Credential == CredentialJWTSVID {
		self, caller = g.svids.Audience.String(), info.CallerID
	}
	claims, err := g.subjects.Verify(ctx, token, self)
	switch {
	case errors.Is(err, jwtauth.ErrSubjectExpired):
		return g.refuseSubject(ctx, r, "subject_token_expired", err)
	case err != nil:
		return g.refuseSubject(ctx, r, "subject_token_invalid", err)
	}
	info.Subject, info.SubjectTokenID = claims.Subject, claims.ID
	switch {
	case claims.AuthorizedParty != caller:
		info.SubjectRefusal = refusedOtherCaller
	case claims.Operation != info.Operation:
		info.SubjectRefusal = refusedOtherOperation
	case policy.OnBehalfOf.Parameter != "" && chi.URLParam(r, policy.OnBehalfOf.Parameter) != claims.Subject:
		info.SubjectRefusal = refusedOtherUser
	}
	return nil
}

// refuseSubject logs a refused subject token at WARN with the reason (never
// the token) and returns the error the validator makes a 401 of.
func (g *Guard) refuseSubject(ctx context.Context, r *http.Request, reason string, err error) error {
	g.rejected(reason)
	info := reqinfo.From(ctx)
	attrs := []any{"reason", reason, "caller", info.Caller, "client_ip", info.ClientIP, "method", r.Method,
		"path", r.URL.Path, "request_id", info.RequestID}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	g.log.WarnContext(ctx, "internal call rejected", attrs...)
	// A 401 is no accepted call: its access line is no audit line.
	info.Caller, info.CallerID, info.Credential, info.Subject, info.SubjectTokenID = "", "", "", "", ""
	return ErrRejected
}

// allowed answers 403 to an authenticated caller the contract does not list
// for the operation it called (after the validator, which names both), and
// to a call whose subject token is valid but not for this call. An
// operation missing from the contract's policies lets nobody in: the default
// is closed; so does one made for a user whose subject token was not
// verified.
func (g *Guard) allowed(policies map[string]Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := reqinfo.From(r.Context())
			if !policies[info.Operation].Callers[info.Caller] {
				if g.report != nil {
					g.report.Forbidden(info.Caller)
				}
				g.log.WarnContext(r.Context(), "internal call forbidden", "reason", "caller_not_allowed",
					"caller", info.Caller, "caller_id", info.CallerID, "credential", info.Credential,
					"operation", info.Operation, "client_ip", info.ClientIP, "request_id", info.RequestID)
				// Its own problem type: a refusal of the caller, which every
				// call it makes will meet, unlike a subject token's 403 about
				// one user (the caller's breaker counts only this one).
				problem.Write(w, r, problem.New(http.StatusForbidden, "This caller may not call this operation.").
					As(problem.TypeCallerForbidden))
				return
			}
			if p := policies[info.Operation]; p.Subject && (info.SubjectRefusal != "" || info.SubjectTokenID == "") {
				reason := info.SubjectRefusal
				if reason == "" {
					reason = "subject_token_unchecked"
				}
				if g.report != nil {
					g.report.Forbidden(info.Caller)
				}
				// The audit of a refusal: who called, for whom the token
				// says, which token (its jti, never the token).
				g.log.WarnContext(r.Context(), "internal call forbidden", "reason", reason,
					"caller", info.Caller, "caller_id", info.CallerID, "credential", info.Credential,
					"operation", info.Operation, "subject", info.Subject, "jti", info.SubjectTokenID,
					"client_ip", info.ClientIP, "request_id", info.RequestID)
				problem.Write(w, r, problem.New(http.StatusForbidden, "The subject token does not allow this call."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// perSubject spends the budget of the call's (operation, subject), after
// allowed (the subject is verified and allowed by then): 429 past it. It
// governs the answer's RateLimit fields when it is the one closer to
// running out (a user's few calls, next to the caller's many).
func (g *Guard) perSubject(policies map[string]Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if g.perSubj == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := reqinfo.From(r.Context())
			if !policies[info.Operation].Subject {
				next.ServeHTTP(w, r)
				return
			}
			d := g.perSubj.Take(r.Context(), "subject:"+info.Operation+":"+info.Subject)
			if !d.Allowed || info.RateLimit.Name == "" || d.Remaining < info.RateLimit.Decision.Remaining {
				info.RateLimit = ratelimit.Governing{Name: ratelimit.SubjectPolicy, Budget: g.perSubj.Budget(), Decision: d}
			}
			if !d.Allowed {
				g.log.WarnContext(r.Context(), "internal call refused", "reason", "subject_budget",
					"caller", info.Caller, "operation", info.Operation, "subject", info.Subject, "jti", info.SubjectTokenID,
					"request_id", info.RequestID)
				problem.SetRetryAfter(w, d.RetryAfter)
				problem.Write(w, r, problem.New(http.StatusTooManyRequests, "Too many calls for this user; try again later."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// checker decides credentials by the mode's rules.
type checker struct {
	mode   Mode
	tokens []Token
	svids  *SVIDs
	now    func() time.Time
}

// newChecker returns a checker for mode: tokens are required when the mode
// takes tokens, svids when it takes SPIFFE identities, and neither may be
// given to a mode that would not use it (no credential is accepted by
// accident).
func newChecker(mode Mode, tokens []Token, svids *SVIDs) (*checker, error) {
	if mode == "" {
		mode = Tokens // the zero Config of a service is token mode, as INTERNAL_AUTH's default
	}
	switch {
	case mode != Tokens && mode != SPIFFE && mode != Both:
		return nil, fmt.Errorf("internalauth: unknown mode %q", mode)
	case mode.TakesTokens() && len(tokens) == 0:
		return nil, errors.New("internalauth: no accepted tokens configured")
	case !mode.TakesTokens() && len(tokens) > 0:
		return nil, fmt.Errorf("internalauth: mode %s accepts no static tokens", mode)
	case mode.TakesSPIFFE() && (svids == nil || svids.Bundles == nil || svids.Audience.IsZero()):
		return nil, errors.New("internalauth: no trust bundle or audience for SPIFFE identities")
	}
	if !mode.TakesSPIFFE() {
		svids = nil
	}
	return &checker{mode: mode, tokens: append([]Token(nil), tokens...), svids: svids, now: time.Now}, nil
}

// caller is who a credential named.
type caller struct {
	name, id, kind string
}

// check decides one call: the caller, or the reason (and detail) of a refusal.
// With a client certificate on the connection, only a JWT-SVID of that same
// workload is accepted; without one, only a static token, and only in a mode
// that takes tokens. So token+spiffe cannot be used to downgrade: a caller
// that proved a SPIFFE identity is held to it, and spiffe mode has no tokens.
func (c *checker) check(r *http.Request, presented string) (caller, string, error) {
	if c == nil {
		return caller{}, "invalid", nil
	}
	if presented == "" {
		return caller{}, "missing", nil
	}
	peer, hasCert, err := peerID(r)
	if err != nil {
		return caller{}, "client_certificate", err
	}
	if hasCert && c.svids != nil {
		id, reason, err := c.svids.check(presented, peer, c.now())
		if reason != "" {
			return caller{}, reason, err
		}
		return caller{name: CallerName(id), id: id.String(), kind: CredentialJWTSVID}, "", nil
	}
	if !c.mode.TakesTokens() {
		return caller{}, "no_client_certificate", nil
	}
	name, ok := c.Match(presented)
	if !ok {
		return caller{}, "invalid", nil
	}
	return caller{name: name, kind: CredentialToken}, "", nil
}
