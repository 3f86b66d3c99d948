package internalauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/jeeves4service/jeeves4service/internalauth/limit"
	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// Header is where callers put their credential (the contract's apiKey scheme).
const Header = "X-Internal-Token"

// Credential kinds, as audit lines name them.
const (
	CredentialToken   = "token"
	CredentialJWTSVID = "jwt-svid"
)

// ErrRejected is what the guard's AuthenticationFunc returns for a refused
// credential; a validator turns it into a 401.
var ErrRejected = errors.New("invalid internal service credential")

// Budget names, in Hooks.Budget and the RateLimit fields of a refusal.
const (
	FailureBudgetName = "failures"
	CallerBudgetName  = "requests"
)

// The guard's budgets when none is given: each per key, in memory.
var (
	// A guesser gets 10 tries a minute per client address (or per SPIFFE
	// ID) before every call from it is a 429.
	defaultFailures = limit.Budget{Count: 10, Window: time.Minute}
	// One authenticated caller: 6,000 calls a minute.
	defaultPerCaller = limit.Budget{Count: 6000, Window: time.Minute}
	// One user and operation, whoever calls: 120 a minute, what a
	// compromised caller can read about one user.
	defaultPerSubject = limit.Budget{Count: 120, Window: time.Minute}
)

// reasons are every reason a call can be refused for, a closed set (the
// metrics label refusals with it, each label there from the start).
var reasons = []string{"missing", "invalid", "rate_limited", "client_certificate", "no_client_certificate",
	"invalid_jwt_svid", "jwt_svid_expired", "jwt_svid_not_yet_valid", "jwt_svid_lifetime", "subject_mismatch",
	"subject_token_missing", "subject_token_invalid", "subject_token_expired", "subject_token_unchecked",
	"unknown_operation", "caller_not_allowed", "subject_token_other_user", "subject_token_other_operation",
	"subject_token_other_caller", "subject_budget", "body_too_large"}

// Reasons returns every reason a refusal can carry (Hooks.Refused), a
// closed set: a copy, which the caller may keep.
func Reasons() []string { return slices.Clone(reasons) }

// Call is what the guard verified about an internal call it let through.
type Call struct {
	// Operation is the contract's operationId, Path its path template.
	Operation, Path string
	// Caller is the caller's name (a static token's name, or a SPIFFE ID's
	// path): what x-allowed-callers lists.
	Caller string
	// CallerID is the caller's SPIFFE ID ("" with a static token).
	CallerID string
	// Credential is the kind of credential: CredentialToken or CredentialJWTSVID.
	Credential string
	// Subject is the user the call is made for (the subject token's sub;
	// "" for an operation made for nobody), TokenID its jti.
	Subject, TokenID string
}

type callKey struct{}

// CallFrom returns the call the guard let through, for the handlers behind it.
func CallFrom(ctx context.Context) (Call, bool) {
	c, ok := ctx.Value(callKey{}).(*Call)
	if !ok || c == nil {
		return Call{}, false
	}
	return *c, true
}

// Hooks are told the outcome of every call the guard decides. Each is
// optional; each runs on the request's goroutine, so it must be quick.
type Hooks struct {
	// Accepted is the audit event of a call let through, before the
	// handler runs. Without it the guard writes an INFO line itself.
	Accepted func(r *http.Request, c Call)
	// Refused is told every refusal: the status answered (401, 403, 404,
	// 405, 429), the reason (one of Reasons) and what was verified of the
	// call by then. The guard writes the WARN line itself.
	Refused func(r *http.Request, status int, reason string, c Call)
	// Budget is told the decision of each budget spent, by name
	// (FailureBudgetName, CallerBudgetName, limit.SubjectPolicy), for the
	// service's RateLimit fields and metrics.
	Budget func(r *http.Request, name string, b limit.Budget, d limit.Decision)
}

// Guard is the security of one internal listener, as net/http middleware:
// the credential rules, the contract's x-allowed-callers and x-on-behalf-of,
// three budgets and the audit trail. New builds it; Handler wraps the
// listener's handler.
type Guard struct {
	policies  map[string]Policy
	router    routers.Router
	tokens    []Token
	svids     *SVIDs
	name      string
	subjects  *subject.Verifier
	log       *slog.Logger
	logAttrs  func(*http.Request) []any
	hooks     Hooks
	failures  limit.Limiter
	perCaller limit.Limiter
	perSubj   limit.Limiter
	problems  string
	unguarded map[string]bool
	also      map[string][]string
	maxBody   int64
	clientIP  func(*http.Request) string
	now       func() time.Time
}

// Option configures a Guard (New).
type Option func(*Guard) error

// WithName is this service's caller name: the audience of the subject
// tokens of calls made to it with a static token. It must be the name the
// token service knows this service's contract by (the user service's
// INTERNAL_EXCHANGE_CONTRACTS, here) and the Audience of its callers'
// Transports: a subject token for another audience is a 401.
func WithName(name string) Option {
	return func(g *Guard) error { g.name = name; return nil }
}

// WithTokens are the static tokens the guard accepts (NewToken, ParseTokens).
func WithTokens(tokens ...Token) Option {
	return func(g *Guard) error {
		for _, t := range tokens {
			if t.Name == "" || t.value == ([32]byte{}) {
				return errors.New("internalauth: a token without a name or a secret (use NewToken)")
			}
		}
		g.tokens = append(g.tokens, tokens...)
		return nil
	}
}

// WithSPIFFE makes the guard accept JWT-SVIDs for self, signed by the trust
// domain's bundles, on mutual-TLS connections made with the same workload's
// X.509-SVID (the listener's TLS is the service's: identity.ServerTLS).
func WithSPIFFE(bundles SVIDs) Option {
	return func(g *Guard) error {
		if bundles.Bundles == nil || bundles.Audience.IsZero() {
			return errors.New("internalauth: WithSPIFFE needs the trust bundles and this service's SPIFFE ID")
		}
		g.svids = &bundles
		return nil
	}
}

// WithSubjects verifies subject tokens (the token service's issuer and
// keys). Required when an operation of the contract is made for a user.
func WithSubjects(v *subject.Verifier) Option {
	return func(g *Guard) error { g.subjects = v; return nil }
}

// WithLogger is where refusals go at WARN (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(g *Guard) error {
		if l == nil {
			return errors.New("internalauth: WithLogger(nil): every refusal is logged")
		}
		g.log = l
		return nil
	}
}

// WithLogAttrs adds attributes to every line the guard writes (a request id).
func WithLogAttrs(f func(*http.Request) []any) Option {
	return func(g *Guard) error { g.logAttrs = f; return nil }
}

// WithHooks sets the outcome hooks (metrics, the service's audit line).
func WithHooks(h Hooks) Option {
	return func(g *Guard) error { g.hooks = h; return nil }
}

func budgetOption(name string, l limit.Limiter, set func(*Guard)) Option {
	return func(g *Guard) error {
		if l == nil {
			return fmt.Errorf("internalauth: the %s budget is nil; limit.Unlimited switches it off", name)
		}
		set(g)
		return nil
	}
}

// WithFailureBudget is the budget of failed attempts per client address,
// or per SPIFFE ID on a connection with a client certificate; spent before
// the credential is looked at, given back when it is accepted (default: 10
// a minute in memory, as limit.NewMemory(limit.Budget{Count: 10, Window:
// time.Minute}, limit.DefaultMaxKeys, limit.FailClosed) builds it; a budget
// shared by replicas is any limit.Limiter; limit.Unlimited: none; nil: an
// error).
func WithFailureBudget(l limit.Limiter) Option {
	return budgetOption("failure", l, func(g *Guard) { g.failures = l })
}

// WithCallerBudget is the request budget of each authenticated caller
// (default: 6,000 a minute in memory).
func WithCallerBudget(l limit.Limiter) Option {
	return budgetOption("caller", l, func(g *Guard) { g.perCaller = l })
}

// WithSubjectBudget is the budget of each (operation, subject) (default:
// 120 a minute in memory): a caller, however compromised, reads a
// user's data only as often as this allows, and only for users whose
// subject tokens it holds.
func WithSubjectBudget(l limit.Limiter) Option {
	return budgetOption("subject", l, func(g *Guard) { g.perSubj = l })
}

// WithProblemTypes is the base URI of the problem types of the guard's
// refusals (default "urn:internalauth:problem:"): a 403 to a caller the
// operation does not list has the type base+"caller-forbidden", which a
// caller's client tells from a refusal about one user (base+"forbidden").
func WithProblemTypes(base string) Option {
	return func(g *Guard) error { g.problems = base; return nil }
}

// WithUnguarded are exact paths the guard passes on without a check (the
// service's health and docs). Every other path not in the contract is a 404.
func WithUnguarded(paths ...string) Option {
	return func(g *Guard) error {
		for _, p := range paths {
			g.unguarded[p] = true
		}
		return nil
	}
}

// WithAlsoAllowed lets callers call operation besides those its
// x-allowed-callers lists: the token service's exchange, which every caller
// of an operation it issues subject tokens for must reach
// (Exchanger.Callers), whatever contract declares that operation.
func WithAlsoAllowed(operation string, callers ...string) Option {
	return func(g *Guard) error {
		if g.also == nil {
			g.also = map[string][]string{}
		}
		g.also[operation] = append(g.also[operation], callers...)
		return nil
	}
}

// DefaultMaxBody is the largest request body the guard lets through.
const DefaultMaxBody = 1 << 20

// WithMaxBody is the largest request body the guard lets through (default
// DefaultMaxBody): a longer declared body is a 413 before any credential is
// looked at, and a longer body read fails. The guard itself reads no body.
func WithMaxBody(n int64) Option {
	return func(g *Guard) error {
		if n <= 0 {
			return errors.New("internalauth: WithMaxBody needs a positive size")
		}
		g.maxBody = n
		return nil
	}
}

// WithClientIP says how to read a request's client address (behind a
// trusted proxy); default: the connection's remote address.
func WithClientIP(f func(*http.Request) string) Option {
	return func(g *Guard) error { g.clientIP = f; return nil }
}

// withClock is for tests of expiry.
func withClock(now func() time.Time) Option {
	return func(g *Guard) error { g.now = now; return nil }
}

// New returns the guard of an internal listener that serves contract's
// operations. It fails closed: an operation without x-allowed-callers or
// x-on-behalf-of, a guard that accepts no credential, or one whose contract
// has operations made for a user but which verifies no subject tokens, is
// an error, not a guard.
func New(contract *openapi3.T, opts ...Option) (*Guard, error) {
	if contract == nil {
		return nil, errors.New("internalauth: no contract")
	}
	g := &Guard{unguarded: map[string]bool{}, log: slog.Default(), problems: "urn:internalauth:problem:",
		clientIP: remoteIP, now: time.Now, maxBody: DefaultMaxBody}
	for _, o := range opts {
		if err := o(g); err != nil {
			return nil, err
		}
	}
	if g.failures == nil {
		g.failures = limit.NewMemory(defaultFailures, limit.DefaultMaxKeys, limit.FailClosed)
	}
	if g.perCaller == nil {
		g.perCaller = limit.NewMemory(defaultPerCaller, limit.DefaultMaxKeys, limit.ForgetOldest)
	}
	if g.perSubj == nil {
		g.perSubj = limit.NewMemory(defaultPerSubject, limit.DefaultMaxKeys, limit.ForgetOldest)
	}
	if len(g.tokens) == 0 && g.svids == nil {
		return nil, errors.New("internalauth: the guard accepts no credential (WithTokens, WithSPIFFE)")
	}
	policies, err := Policies(contract)
	if err != nil {
		return nil, fmt.Errorf("internalauth: contract: %w", err)
	}
	for op, p := range policies {
		switch {
		case p.Subject && g.subjects == nil:
			return nil, fmt.Errorf("internalauth: operation %s is made for a user but the guard verifies no subject tokens (WithSubjects)", op)
		case p.Subject && len(g.tokens) > 0 && g.name == "":
			return nil, fmt.Errorf("internalauth: operation %s is made for a user: WithName is the audience of its subject tokens", op)
		}
	}
	for op, callers := range g.also {
		p, ok := policies[op]
		if !ok {
			return nil, fmt.Errorf("internalauth: WithAlsoAllowed names %s, which the contract does not have", op)
		}
		for _, c := range callers {
			p.Callers[c] = true
		}
	}
	g.policies = policies
	// Routes by path alone: the contract's servers say where it is
	// deployed, not what a request's Host must be.
	paths := *contract
	paths.Servers = nil
	if g.router, err = gorillamux.NewRouter(&paths); err != nil {
		return nil, fmt.Errorf("internalauth: contract routes: %w", err)
	}
	return g, nil
}

// remoteIP is the connection's remote address without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decision is what the guard learns about one call on its way through.
type decision struct {
	call       Call
	failureKey string
	credential bool   // the workload credential was accepted: the failure unit goes back
	reason     string // why the credential or subject token was refused (401)
	refusal    string // why a valid subject token does not allow this call (403)
	params     map[string]string
}

type decisionKey struct{}

// Handler is the guard in front of next. In order: the failure budget
// (before anything about the request is looked at), the body's size (413),
// the contract's route (404, 405), the operation's security requirement
// checked by kin-openapi's validator with the guard as AuthenticationFunc
// (401), the caller's budget, x-allowed-callers (403 caller-forbidden), the
// path's parameters (400), the subject token's binding to this call (403),
// the subject's budget (429), the audit event.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.unguarded[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		d := &decision{}
		ctx := r.Context()
		d.failureKey = g.failureKey(r)
		if !g.spend(w, r, d, g.failures, FailureBudgetName, d.failureKey, "rate_limited",
			"Too many failed attempts; try again later.") {
			return
		}
		if r.ContentLength > g.maxBody {
			g.refuse(w, r, d, http.StatusRequestEntityTooLarge, "body_too_large", "too-large", "The request body is too large.")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
		}
		route, params, err := g.router.FindRoute(r)
		if err != nil {
			status, detail := http.StatusNotFound, "No internal operation has this path."
			if errors.Is(err, routers.ErrMethodNotAllowed) {
				status, detail = http.StatusMethodNotAllowed, "The internal operation at this path has another method."
			}
			g.refuse(w, r, d, status, "unknown_operation", "", detail)
			return
		}
		d.call.Operation, d.call.Path, d.params = route.Operation.OperationID, route.Path, params
		policy := g.policies[d.call.Operation]
		// The security requirement, as the contract states it, checked by
		// kin-openapi with the guard as its AuthenticationFunc. It is given
		// the request without its body: authentication reads headers, and
		// the validator would otherwise read the whole body of a caller not
		// yet authenticated into memory.
		bare := r.WithContext(context.WithValue(ctx, decisionKey{}, d))
		bare.Body, bare.GetBody, bare.ContentLength = http.NoBody, nil, 0
		sec := route.Spec.Security
		if route.Operation.Security != nil {
			sec = *route.Operation.Security
		}
		input := &openapi3filter.RequestValidationInput{Request: bare, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: g.authenticate}}
		err = openapi3filter.ValidateSecurityRequirements(bare.Context(), input, sec)
		if d.credential {
			// The failure budget bounds guessing of credentials: a valid one
			// gives its unit back, whatever the subject token turns out to be.
			g.failures.Refund(ctx, d.failureKey)
		}
		if err != nil || d.call.Caller == "" {
			reason := d.reason
			if reason == "" {
				reason = "subject_token_unchecked" // the validator refused before asking the guard
			}
			g.refuse(w, r, d, http.StatusUnauthorized, reason, "unauthorized", "Invalid internal service token")
			return
		}
		if !g.spend(w, r, d, g.perCaller, CallerBudgetName, "caller:"+d.call.Caller, "rate_limited",
			"Too many calls from this caller; try again later.") {
			return
		}
		if !policy.Callers[d.call.Caller] {
			// Its own problem type: a refusal of the caller, which every call
			// it makes will meet, unlike a subject token's 403 about one user.
			g.refuse(w, r, d, http.StatusForbidden, "caller_not_allowed", "caller-forbidden",
				"This caller may not call this operation.")
			return
		}
		// The path's parameters as the contract types them, before the
		// subject binding compares one with the token: a malformed user id
		// is the caller's mistake (400 naming it), not another user.
		if name, ok := g.badPathParameter(r, route, params); !ok {
			// A mistake, not a refusal: no WARN line, no hook.
			g.write(w, http.StatusBadRequest, "validation", "The request does not match the contract.",
				[]fieldError{{Field: name, Message: "does not match the contract's schema for this path parameter"}})
			return
		}
		if policy.Subject {
			if d.refusal != "" || d.call.TokenID == "" {
				reason := d.refusal
				if reason == "" {
					reason = "subject_token_unchecked"
				}
				g.refuse(w, r, d, http.StatusForbidden, reason, "forbidden", "The subject token does not allow this call.")
				return
			}
			if !g.spend(w, r, d, g.perSubj, limit.SubjectPolicy, "subject:"+d.call.Operation+":"+d.call.Subject,
				"subject_budget", "Too many calls for this user; try again later.") {
				return
			}
		} else if policy.OnBehalfOf.Parameter != "" {
			d.call.Subject = params[policy.OnBehalfOf.Parameter]
		}
		if g.hooks.Accepted != nil {
			g.hooks.Accepted(r, d.call)
		} else {
			g.log.InfoContext(ctx, "internal call", g.attrs(r, "operation", d.call.Operation, "caller", d.call.Caller,
				"caller_id", d.call.CallerID, "credential", d.call.Credential, "subject", d.call.Subject,
				"jti", d.call.TokenID, "client_ip", g.clientIP(r))...)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, callKey{}, &d.call)))
	})
}

// spend takes a unit of l for key, tells the Budget hook, and answers 429
// (with Retry-After and the RateLimit fields) when none is left.
func (g *Guard) spend(w http.ResponseWriter, r *http.Request, d *decision, l limit.Limiter, name, key, reason,
	detail string) bool {
	if limit.IsUnlimited(l) {
		return true
	}
	dec := l.Take(r.Context(), key)
	if g.hooks.Budget != nil {
		g.hooks.Budget(r, name, l.Budget(), dec)
	}
	if dec.Allowed {
		return true
	}
	gov := limit.Governing{Name: name, Budget: l.Budget(), Decision: dec}
	gov.SetHeaders(w.Header())
	w.Header().Set("Retry-After", strconv.FormatInt(int64((dec.RetryAfter+time.Second-1)/time.Second), 10))
	g.refuse(w, r, d, http.StatusTooManyRequests, reason, "rate-limited", detail)
	return false
}

// refuse logs a refusal at WARN (the reason and the client address, never
// a credential), tells the Refused hook, and answers status with a problem.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, d *decision, status int, reason, typ, detail string) {
	if g.hooks.Refused != nil {
		g.hooks.Refused(r, status, reason, d.call)
	}
	msg := "internal call rejected" // before the caller is known: 401, 404, 405, the failure budget's 429
	switch {
	case status == http.StatusForbidden:
		msg = "internal call forbidden"
	case status == http.StatusTooManyRequests && d.call.Caller != "":
		msg = "internal call refused" // a budget of a known caller or subject
	}
	g.log.WarnContext(r.Context(), msg, g.attrs(r, "reason", reason, "client_ip", g.clientIP(r), "method", r.Method,
		"path", r.URL.Path, "operation", d.call.Operation, "caller", d.call.Caller, "caller_id", d.call.CallerID,
		"credential", d.call.Credential, "subject", d.call.Subject, "jti", d.call.TokenID)...)
	if typ == "" {
		typ = "not-found"
		if status == http.StatusMethodNotAllowed {
			typ = "method-not-allowed"
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `APIKey header="`+Header+`"`)
	}
	g.write(w, status, typ, detail, nil)
}

// fieldError names one offending field of a 400 (never its value).
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// write answers status with an RFC 9457 problem of type base+typ.
func (g *Guard) write(w http.ResponseWriter, status int, typ, detail string, fields []fieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string       `json:"type"`
		Title  string       `json:"title"`
		Status int          `json:"status"`
		Detail string       `json:"detail"`
		Errors []fieldError `json:"errors,omitempty"`
	}{g.problems + typ, http.StatusText(status), status, detail, fields})
}

// badPathParameter checks the route's path parameters against their
// schemas; the name of the first that fails, and false.
func (g *Guard) badPathParameter(r *http.Request, route *routers.Route, params map[string]string) (string, bool) {
	input := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route}
	for _, ps := range [][]*openapi3.ParameterRef{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, p := range ps {
			if p.Value == nil || p.Value.In != openapi3.ParameterInPath {
				continue
			}
			if err := openapi3filter.ValidateParameter(r.Context(), input, p.Value); err != nil {
				return p.Value.Name, false
			}
		}
	}
	return "", true
}

func (g *Guard) attrs(r *http.Request, kv ...any) []any {
	if g.logAttrs != nil {
		kv = append(kv, g.logAttrs(r)...)
	}
	return kv
}

// failureKey is whose failure budget a call spends: the SPIFFE ID of the
// client certificate when the guard takes SPIFFE identities (the
// listener's TLS handshake has verified it as an X.509-SVID of the trust
// domain before any HTTP was read, so it cannot be chosen by the caller),
// the client address otherwise. So a process on the same host or behind the
// same NAT that guesses over plain HTTP, or another workload that sends bad
// JWT-SVIDs, spends its own budget and never the caller whose certificate
// it does not hold.
func (g *Guard) failureKey(r *http.Request) string {
	if g.svids != nil {
		if id, ok, err := peerID(r); ok && err == nil {
			return "spiffe:" + id.String()
		}
	}
	return limit.IPKey(g.clientIP(r))
}

// authenticate is the openapi3filter.AuthenticationFunc of both schemes.
// The validator asks in name order (InternalToken before SubjectToken);
// the subject's check also refuses to run without an accepted caller.
func (g *Guard) authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	d, _ := ctx.Value(decisionKey{}).(*decision)
	if d == nil {
		return ErrRejected
	}
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case WorkloadScheme:
		who, reason, err := g.check(r, r.Header.Get(Header))
		if reason != "" {
			d.reason = reason
			if err != nil {
				g.log.DebugContext(ctx, "internal credential refused", "reason", reason, "error", err.Error())
			}
			return ErrRejected
		}
		d.call.Caller, d.call.CallerID, d.call.Credential = who.name, who.id, who.kind
		d.credential = true
		return nil
	case SubjectScheme:
		return g.authenticateSubject(ctx, r, d)
	}
	d.reason = "subject_token_unchecked"
	return ErrRejected
}

// authenticateSubject checks the subject token. Absent, not a subject token
// of the token service for this service, or expired more than
// subject.Leeway ago: 401. Valid: the call's subject (the audit line's); when
// minted for another operation, another caller, or another user than the
// parameter x-on-behalf-of names, the refusal is recorded and answered 403
// once the caller is known to be allowed (an AuthenticationFunc can only
// say 401).
func (g *Guard) authenticateSubject(ctx context.Context, r *http.Request, d *decision) error {
	policy := g.policies[d.call.Operation]
	fail := func(reason string) error {
		d.reason = reason
		d.call.Caller, d.call.CallerID, d.call.Credential = "", "", "" // a 401 is no accepted call
		return ErrRejected
	}
	switch {
	case !policy.Subject || g.subjects == nil || d.call.Caller == "":
		return fail("subject_token_unchecked")
	}
	token := r.Header.Get(SubjectHeader)
	if token == "" {
		return fail("subject_token_missing")
	}
	self, caller := g.name, d.call.Caller
	if d.call.Credential == CredentialJWTSVID {
		self, caller = g.svids.Audience.String(), d.call.CallerID
	}
	claims, err := g.subjects.Verify(ctx, token, self)
	switch {
	case errors.Is(err, subject.ErrExpired):
		return fail("subject_token_expired")
	case err != nil:
		return fail("subject_token_invalid")
	}
	d.call.Subject, d.call.TokenID = claims.Subject, claims.ID
	switch {
	case claims.AuthorizedParty != caller:
		d.refusal = "subject_token_other_caller"
	case claims.Operation != d.call.Operation:
		d.refusal = "subject_token_other_operation"
	case policy.OnBehalfOf.Parameter != "" && d.params[policy.OnBehalfOf.Parameter] != claims.Subject:
		d.refusal = "subject_token_other_user"
	}
	return nil
}

// Verified is an openapi3filter.AuthenticationFunc for a request validator
// behind the guard (a service's own validation of parameters and bodies):
// it accepts what the guard accepted, and nothing when no guard ran.
func Verified(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	c, ok := CallFrom(ctx)
	switch {
	case !ok || c.Caller == "":
		return ErrRejected
	case in.SecuritySchemeName == SubjectScheme && c.TokenID == "":
		return ErrRejected
	}
	return nil
}

// caller is who a credential named.
type caller struct {
	name, id, kind string
}

// check decides one credential: the caller, or the reason (and detail) of a
// refusal. With a client certificate on the connection, only a JWT-SVID of
// that same workload is accepted; without one, only a static token. So a
// guard that takes both cannot be used to downgrade: a caller that proved a
// SPIFFE identity is held to it.
func (g *Guard) check(r *http.Request, presented string) (caller, string, error) {
	if presented == "" {
		return caller{}, "missing", nil
	}
	peer, hasCert, err := peerID(r)
	if err != nil {
		return caller{}, "client_certificate", err
	}
	if hasCert && g.svids != nil {
		id, reason, err := g.svids.check(presented, peer, g.now())
		if reason != "" {
			return caller{}, reason, err
		}
		return caller{name: CallerName(id), id: id.String(), kind: CredentialJWTSVID}, "", nil
	}
	if len(g.tokens) == 0 {
		return caller{}, "no_client_certificate", nil
	}
	name, ok := match(g.tokens, presented)
	if !ok {
		return caller{}, "invalid", nil
	}
	return caller{name: name, kind: CredentialToken}, "", nil
}
