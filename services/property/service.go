// Package property wires the property service: its database, the public
// listener (public contract, JWT) and the internal listener (internal
// contract, guarded by package internalauth). main only calls Main;
// configuration is config.go.
package property

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/gen/internalapi"
	"github.com/jeeves4service/jeeves4service/gen/propertyapi"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/budget"
	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/lifecycle"
	"github.com/jeeves4service/jeeves4service/services/common/listener"
	"github.com/jeeves4service/jeeves4service/services/common/metrics"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/common/tracing"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property/adapters"
	"github.com/jeeves4service/jeeves4service/services/property/app"
	"github.com/jeeves4service/jeeves4service/services/property/ports"
)

// Main is the whole program: read config, start, serve until ctx ends.
// It returns the process exit status: 2 for configuration errors.
func Main(ctx context.Context, getenv config.Getenv, stderr io.Writer) int {
	return lifecycle.Main(ctx, getenv, stderr, "property-service", LoadConfig, New)
}

// Service is a property service with its listeners bound.
type Service struct {
	Server  *listener.Server
	Metrics *metrics.Metrics
	keys    *jwtauth.RemoteKeys
	res     lifecycle.Resources
	// What the profiles client is built from (SetUserServiceURL).
	app       *app.Service
	workload  *workload.Workload
	userCalls upstream.Settings
	wrap      func(http.RoundTripper) http.RoundTripper
	// subjects are the subject tokens of the profiles calls, exchanged at
	// the user service (its Exchange is the profiles client's).
	subjects *internalauth.SubjectCache
	// profiles is the profiles client in use, whose breaker's state the
	// metrics read (SetUserServiceURL replaces it).
	profiles atomic.Pointer[adapters.ProfileClient]
}

// SetUserServiceURL points the profiles call at the user service's internal
// listener at url ("": the configured one). Tests bind the user service after
// the property service, on a port chosen by the kernel; call it before Serve.
func (s *Service) SetUserServiceURL(url string) error {
	profiles, err := adapters.NewProfileClient(s.workload, s.userCalls, url, s.wrap)
	if err != nil {
		return err
	}
	s.subjects.Exchange = profiles.Exchange
	s.app.Profiles = profiles
	s.profiles.Store(profiles)
	return nil
}

// profilesState is the profiles client's breaker state for the metrics: 0
// (closed) while there is no client.
func (s *Service) profilesState() float64 {
	if p := s.profiles.Load(); p != nil {
		return p.StateCode()
	}
	return 0
}

// canonicaliseInvitationEmails runs app.CanonicaliseInvitationEmails (issue
// 34) and says what it did: how many invitation emails it put in today's
// canonical form, and a WARN line, once, for each invitation it could not or
// whose address may be another mailbox's, by invitation and property id
// only (an owner can revoke it and invite the address again).
func canonicaliseInvitationEmails(ctx context.Context, svc *app.Service, log *slog.Logger) error {
	fixed, issues, err := svc.CanonicaliseInvitationEmails(ctx)
	if err != nil {
		return err
	}
	if fixed > 0 {
		log.InfoContext(ctx, "stored invitation emails put in canonical form", "count", fixed)
	}
	for _, is := range issues {
		ids := []any{"invitation_id", is.InvitationID, "property_id", is.PropertyID}
		switch is.Kind {
		case app.InvalidEmail:
			log.WarnContext(ctx, "stored invitation email has no canonical form: nobody can accept it",
				append(ids, "rule", "email "+is.Rule)...)
		case app.TakenEmail:
			log.WarnContext(ctx, "stored invitation email's canonical form is invited to the property already: nobody can accept it", ids...)
		case app.FoldedEmail:
			log.WarnContext(ctx, "stored invitation email may stand for another mailbox (an old canonical form folded ß, ς or ι): kept",
				ids...)
		}
	}
	return nil
}

// New opens the database, builds both routers and binds both listeners.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	s := &Service{Metrics: metrics.New("property-service", !cfg.MetricsOff), keys: jwtauth.NewRemoteKeys(cfg.JWKSURL, cfg.JWKSRefresh)}
	tr, err := tracing.New(ctx, "property-service", cfg.TraceEndpoint)
	if err != nil {
		return nil, err
	}
	s.res.OnClose(func() error { return tr.Shutdown(context.Background()) })
	repo, conn, err := adapters.Open(ctx, cfg.DatabaseURL, tr.Database())
	if err != nil {
		return nil, s.res.Release(err)
	}
	s.Metrics.DB("property", conn)
	// The internal listener takes its callers' trace context; public callers' is only linked.
	internalBase := router.Base{Log: log, Trusted: cfg.InternalTrusted, Ready: s.ready(repo.Ping),
		Observe: s.Metrics.HTTP("internal"), Trace: tr.Server("internal", true)}
	publicBase := internalBase
	publicBase.Trusted = cfg.Trusted
	publicBase.CORS = router.CORS(cfg.CORSOrigins)
	publicBase.Tarpit = ratelimit.NewTarpit(cfg.RefusalDelay, ratelimit.TarpitPerIP, ratelimit.TarpitTotal)
	publicBase.Observe, publicBase.Trace = s.Metrics.HTTP("public"), tr.Server("public", false)
	keys := s.keys
	limits := cfg.Limits.Open(log)
	limits.OnRefuse = s.Metrics.RefusalCounter()
	svc := &app.Service{Repo: repo, Budgets: app.InvitationBudgets{
		PerOwner:    limits.Counted("invitations-owner", cfg.InvitationsPerOwner.Or(DefaultInvitationsPerOwner)),
		PerProperty: limits.Counted("invitations-property", cfg.InvitationsPerProperty.Or(DefaultInvitationsPerProperty)),
		PerInvitee:  limits.Counted("invitations-invitee", cfg.InvitationsPerInvitee.Or(DefaultInvitationsPerInvitee))}}
	if err := canonicaliseInvitationEmails(ctx, svc, log); err != nil {
		return nil, s.res.Release(err)
	}
	// The public listener's budget per client; the internal listener's docs
	// and unknown paths (before any credential) a budget of the same size of
	// their own, so that neither listener's traffic spends the other's.
	publicBase.Requests = limits.Requests("requests", cfg.RequestLimit.Or(DefaultRequestLimit))
	internalBase.Requests = limits.Requests("internal-ip", cfg.RequestLimit.Or(DefaultRequestLimit))
	svc.Mailer = cfg.Mailer
	if svc.Mailer == nil {
		if svc.Mailer, err = adapters.NewMailer(cfg.Mail, log); err != nil {
			return nil, s.res.Release(err)
		}
	}
	s.res.OnClose(conn.Close)
	s.res.OnClose(limits.Close)
	s.res.Background(keys.Run)

	wl, err := workload.Open(ctx, cfg.Internal, log)
	if err != nil {
		return nil, s.res.Release(err)
	}
	s.res.Background(wl.Run)
	s.app, s.workload, s.userCalls, s.wrap = svc, wl, cfg.UserCalls, tr.Client
	// The profiles call's breaker, as the user service's claims call's: its
	// transitions in the log, its state and openings in the metrics.
	s.userCalls.Log = log
	s.userCalls.Outcome = s.Metrics.Counter("user_client_calls_total",
		"Profiles calls to the user service's internal endpoint (their token exchange included), by outcome: "+
			"ok, error, refused, circuit_open, caller_gone.", "outcome")
	s.userCalls = s.Metrics.Breaker(adapters.UserService, s.userCalls, s.profilesState)
	// The profiles call is made for the user whose request is served: its
	// subject token comes from an exchange of that user's access token at
	// the user service, kept for the user's next lists until shortly
	// before it expires (docs/subject-tokens.md).
	s.subjects = &internalauth.SubjectCache{Margin: SubjectTokenMargin, MaxEntries: SubjectTokenCacheEntries, Now: time.Now}
	wl.SetSubjects(s.subjects.Source())
	if _, ok := cfg.Internal.Callee(adapters.UserService); ok {
		if err := s.SetUserServiceURL(""); err != nil {
			return nil, s.res.Release(err)
		}
	}
	internalContract, err := router.InternalContract("properties")
	if err != nil {
		return nil, s.res.Release(err)
	}
	internal, err := wl.InternalListener(cfg.InternalAddr, internalBase, internalContract, workload.GuardOptions{Log: log,
		Outcomes:  s.Metrics,
		Failures:  limits.New("internal-token", cfg.TokenFailures.Or(DefaultTokenFailures), ratelimit.FailClosed),
		PerCaller: limits.Requests("internal-requests", cfg.InternalRequestLimit.Or(DefaultInternalRequestLimit)),
		// Subject tokens are the user service's: its issuer, its JWKS (the
		// keys the access tokens are verified with; nothing is asked per call).
		Subjects:   jwtauth.NewSubjectVerifier(keys, cfg.JWT.Issuer),
		PerSubject: limits.Requests("internal-subject", cfg.SubjectLimit.Or(DefaultSubjectLimit))},
		func(api chi.Router) { MountInternal(api, svc, log) })
	if err != nil {
		return nil, s.res.Release(err)
	}
	// A token of a key not held yet may cost a JWKS fetch only while its
	// client (IP) has request budget left.
	verifier := jwtauth.NewVerifier(keys, cfg.JWT)
	public, err := PublicHandler(publicBase, svc, jwtauth.Middleware(verifier),
		jwtauth.FetchKeys(verifier, budget.Left(publicBase.Requests)), budget.PerClient(publicBase.Requests))
	if err != nil {
		return nil, s.res.Release(err)
	}
	s.Server, err = listener.Listen(log, listener.WithAdmin(cfg.AdminAddr, router.Admin(s.Metrics.Handler(), cfg.Profiler),
		&listener.Listener{Name: "public", Addr: cfg.PublicAddr, Handler: public},
		internal)...)
	if err != nil {
		return nil, s.res.Release(err)
	}
	return s, nil
}

// ready is /readyz on every listener: all of the service's listeners accept
// connections (s.Server is bound after the handlers are built, before any
// request), and the database answers.
func (s *Service) ready(ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := s.Server.Accepting(); err != nil {
			return err
		}
		return ping(ctx)
	}
}

// Serve serves until ctx ends, refreshing the JWKS on its schedule meanwhile,
// then closes the database and the Redis client.
func (s *Service) Serve(ctx context.Context) error { return s.res.Serve(ctx, s.Server.Serve) }

// PublicHandler is the public listener: the property operations of the public
// contract, each request passed through before (the bearer-token verifier,
// jwtauth.Middleware and jwtauth.FetchKeys for a token of a key not held
// yet, and the request budget; the benchmark's baseline injects claims instead)
// and validated before its handler.
func PublicHandler(base router.Base, svc *app.Service, before ...func(http.Handler) http.Handler) (http.Handler, error) {
	api, err := router.PublicAPI(base, "properties", before, func(api chi.Router) {
		strict := propertyapi.NewStrictHandlerWithOptions(&ports.Public{App: svc}, nil,
			propertyapi.StrictHTTPServerOptions(router.NewStrictErrors(base.Log)))
		propertyapi.HandlerWithOptions(strict, propertyapi.ChiServerOptions{BaseRouter: api, ErrorHandlerFunc: router.ParamErrorHandler})
	})
	if err != nil {
		return nil, err
	}
	return api.Handler()
}

// MountInternal registers the internal operations' handlers on r (the
// benchmark mounts them bare, as the baseline of the guarded call).
func MountInternal(r chi.Router, svc *app.Service, log *slog.Logger) {
	strict := internalapi.NewStrictHandlerWithOptions(&ports.Internal{App: svc}, nil,
		internalapi.StrictHTTPServerOptions(router.NewStrictErrors(log)))
	internalapi.HandlerWithOptions(strict, internalapi.ChiServerOptions{BaseRouter: r, ErrorHandlerFunc: router.ParamErrorHandler})
}
