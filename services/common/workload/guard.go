package workload

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/internalauth/limit"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/listener"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/common/validator"
)

// Outcomes is told the outcome of every internal call's authentication (the
// metrics): reasons and caller names come from closed sets, never from the
// request.
type Outcomes interface {
	Accepted(caller, credential string)
	Rejected(reason string)
	Forbidden(caller string)
}

// GuardOptions are what a service's guard needs besides the workload's
// credentials. A nil budget is off: the services' configuration gives each
// its default and turns one off only when told to (REQUEST_LIMIT=off).
type GuardOptions struct {
	// Log gets a WARN line for every refused call. Required.
	Log *slog.Logger
	// Outcomes, when set, is told every outcome (the metrics).
	Outcomes Outcomes
	// Failures, PerCaller and PerSubject are the guard's three budgets.
	Failures, PerCaller, PerSubject ratelimit.Limiter
	// Subjects verifies subject tokens (the user service's issuer and JWKS).
	Subjects *jwtauth.SubjectVerifier
	// AlsoAllowed lets more callers call an operation than its
	// x-allowed-callers lists (the exchange: Exchanger.Callers).
	AlsoAllowed map[string][]string
}

// Guard returns the library's guard for this workload's internal listener
// serving spec: the credentials of its mode, and this project's problem
// types, request ids, metrics and access line (its audit event) as hooks.
func (w *Workload) Guard(spec *openapi3.T, o GuardOptions) (*internalauth.Guard, error) {
	if o.Log == nil {
		return nil, errors.New("workload: a guard needs a logger (every refusal is logged)")
	}
	off := func(l ratelimit.Limiter) limit.Limiter {
		if l == nil {
			return limit.Unlimited
		}
		return l
	}
	opts := []internalauth.Option{internalauth.WithName(w.cfg.Name), internalauth.WithLogger(o.Log),
		internalauth.WithProblemTypes(problem.TypeBase), internalauth.WithClientIP(clientIP),
		internalauth.WithLogAttrs(func(r *http.Request) []any { return []any{"request_id", reqinfo.RequestID(r.Context())} }),
		internalauth.WithFailureBudget(off(o.Failures)), internalauth.WithCallerBudget(off(o.PerCaller)),
		internalauth.WithSubjectBudget(off(o.PerSubject)), internalauth.WithHooks(hooks(o.Outcomes)),
		internalauth.WithMaxBody(middleware.MaxBodyBytes)}
	if len(w.cfg.Accepted) > 0 {
		opts = append(opts, internalauth.WithTokens(w.cfg.Accepted...))
	}
	if w.src != nil {
		opts = append(opts, internalauth.WithSPIFFE(internalauth.SVIDs{Bundles: w.src, Audience: w.src.ID()}))
	}
	if o.Subjects != nil {
		opts = append(opts, internalauth.WithSubjects(o.Subjects))
	}
	for op, callers := range o.AlsoAllowed {
		opts = append(opts, internalauth.WithAlsoAllowed(op, callers...))
	}
	return internalauth.New(spec, opts...)
}

func clientIP(r *http.Request) string { return reqinfo.ClientIP(r.Context()) }

// hooks tell the metrics every outcome and make the request's access line
// the audit event (the caller, its SPIFFE ID, the credential, the verified
// subject and its jti), and keep the RateLimit fields of the budget that
// governs the answer.
func hooks(report Outcomes) internalauth.Hooks {
	return internalauth.Hooks{
		Accepted: func(r *http.Request, c internalauth.Call) {
			info := reqinfo.From(r.Context())
			info.Operation, info.Route = c.Operation, c.Path
			info.Caller, info.CallerID, info.Credential = c.Caller, c.CallerID, c.Credential
			info.Subject, info.SubjectTokenID = c.Subject, c.TokenID
			if report != nil {
				report.Accepted(c.Caller, c.Credential)
			}
		},
		Refused: func(r *http.Request, status int, reason string, c internalauth.Call) {
			// The refusal's access line and metrics name the operation.
			info := reqinfo.From(r.Context())
			info.Operation, info.Route = c.Operation, c.Path
			if report == nil {
				return
			}
			switch status {
			case http.StatusForbidden:
				report.Forbidden(c.Caller)
			case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge:
			default:
				if reason != "subject_budget" && !(reason == "rate_limited" && c.Caller != "") {
					report.Rejected(reason)
				}
			}
		},
		Budget: func(r *http.Request, name string, b limit.Budget, d limit.Decision) {
			info := reqinfo.From(r.Context())
			// The per-subject budget governs only when it is the one closer
			// to running out (a user's few calls, next to the caller's many).
			if name == limit.SubjectPolicy && d.Allowed && info.RateLimit.Name != "" &&
				d.Remaining >= info.RateLimit.Decision.Remaining {
				return
			}
			info.RateLimit = limit.Governing{Name: name, Budget: b, Decision: d}
		},
	}
}

// unauthorizedDetail is the detail of the validator's 401 behind the guard
// (the guard answers its own refusals; this one only if it did not run).
const unauthorizedDetail = "Invalid internal service token"

// InternalAPI is an internal listener's router: health and docs (the
// service's), and the contract's operations (mount) behind the guard and
// then the validator built from the contract, which checks parameters and
// bodies and accepts what the guard accepted (internalauth.Verified).
func InternalAPI(base router.Base, c router.Contract, g *internalauth.Guard, mount func(chi.Router)) (http.Handler, error) {
	return router.API{Base: base, Contract: c,
		Security: validator.Options{Authenticate: internalauth.Verified, UnauthorizedDetail: unauthorizedDetail},
		Before:   []func(http.Handler) http.Handler{g.Handler},
		Mount:    mount,
	}.Handler()
}

// Listener is the internal listener called name on addr serving h, with the
// mode's TLS: none in token mode without a certificate, token mode's
// certificate when it has one, mutual TLS with the X.509-SVID in spiffe
// mode, and TLS beside plain HTTP on one port in token+spiffe mode.
func (w *Workload) Listener(name, addr string, h http.Handler) (*listener.Listener, error) {
	l := &listener.Listener{Name: name, Addr: addr, Handler: h}
	var err error
	switch {
	case w.src != nil && w.cfg.Mode == Both: // one port for both kinds of caller (see listener.Listener.AlsoPlain)
		l.TLS, l.AlsoPlain = identity.OptionalClientTLS(w.src), true
	case w.src != nil:
		l.TLS = identity.ServerTLS(w.src)
	case w.cfg.TLS.CertFile != "": // token mode with a certificate: only TLS (no plain HTTP beside it)
		var cfg *tls.Config
		if cfg, err = w.cfg.TLS.tokenServerTLS(w.log); err != nil {
			return nil, err
		}
		l.TLS = cfg
	}
	return l, nil
}

// InternalListener is the whole of a service's internal listener: the
// library's guard over c's operations (Guard), the service's router around
// it (InternalAPI), and the listener with the mode's TLS (Listener).
func (w *Workload) InternalListener(addr string, base router.Base, c router.Contract, o GuardOptions,
	mount func(chi.Router)) (*listener.Listener, error) {
	g, err := w.Guard(c.Spec, o)
	if err != nil {
		return nil, err
	}
	h, err := InternalAPI(base, c, g, mount)
	if err != nil {
		return nil, err
	}
	return w.Listener("internal", addr, h)
}
