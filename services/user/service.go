// Package user wires the user service: its database, signing key, the
// property-service client and the public listener. main only calls Main;
// configuration is config.go, the admin commands commands.go.
package user

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"database/sql"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/gen/internaluserapi"
	"github.com/jeeves4service/jeeves4service/gen/userapi"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/budget"
	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/lifecycle"
	"github.com/jeeves4service/jeeves4service/services/common/listener"
	"github.com/jeeves4service/jeeves4service/services/common/metrics"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/common/tracing"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
	"github.com/jeeves4service/jeeves4service/services/user/app"
	"github.com/jeeves4service/jeeves4service/services/user/ports"
)

// Main is the whole program. With a command as first argument (see
// commands.go) it runs that instead of serving. It returns the exit status.
func Main(ctx context.Context, args []string, getenv config.Getenv, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		return command(ctx, args, getenv, stdin, stdout, stderr)
	}
	return lifecycle.Main(ctx, getenv, stderr, "user-service", LoadConfig, New)
}

// Service is a user service with its listener bound.
type Service struct {
	Server   *listener.Server
	App      *app.Service
	Property *adapters.PropertyClient
	Metrics  *metrics.Metrics
	res      lifecycle.Resources
}

// New builds the service and binds its listener.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	s := &Service{Metrics: metrics.New("user-service", !cfg.MetricsOff)}
	tr, err := tracing.New(ctx, "user-service", cfg.TraceEndpoint)
	if err != nil {
		return nil, err
	}
	s.res.OnClose(func() error { return tr.Shutdown(context.Background()) })
	svc, conn, signer, err := openApp(ctx, cfg, tr.Database(), log)
	if err != nil {
		return nil, s.res.Release(err)
	}
	s.App = svc
	s.Metrics.DB("user", conn)
	limits := cfg.Limits.Open(log)
	limits.OnRefuse = s.Metrics.RefusalCounter()
	s.res.OnClose(conn.Close)
	s.res.OnClose(limits.Close)
	wl, err := workload.Open(ctx, cfg.Internal, log)
	if err != nil {
		return nil, s.res.Release(err)
	}
	s.res.Background(wl.Run)
	// The user service is the authority on users: it mints the subject
	// token of each call it makes for one (the claims call, at login right
	// after the password check and at refresh) with its access tokens' key.
	wl.SetSubjects(internalauth.Minter(signer.Subjects(), internalauth.DefaultSubjectTTL))
	calls := cfg.PropertyCalls
	calls.Log = log
	calls.Outcome = s.Metrics.Counter("property_client_calls_total",
		"Calls to the property service's internal endpoint, by outcome: ok, error, refused, circuit_open, caller_gone.", "outcome")
	calls = s.Metrics.Breaker(adapters.PropertyService, calls, func() float64 { return s.Property.StateCode() })
	if s.Property, err = adapters.NewPropertyClient(wl, calls, tr.Client); err != nil {
		return nil, s.res.Release(err)
	}
	svc.OnLogin = s.Metrics.Counter("logins_total", "Login attempts by outcome: success, bad_credentials, rate_limited, error.",
		"outcome")
	svc.OnHash = s.Metrics.Counter("password_hashes_total",
		"argon2id computations started, by kind: hash (a new password) or check (a login, a password change, an unknown email).", "kind")
	countClaims := s.Metrics.Counter("login_claims_total",
		"Access tokens signed (logins and refreshes), by whether they carry property claims: included or degraded.", "claims")
	svc.OnClaims = func(included bool) {
		if included {
			countClaims("included")
		} else {
			countClaims("degraded")
		}
	}
	svc.Properties = s.Property
	svc.Budgets = budgets(limits, cfg)
	svc.OnDegraded = func(ctx context.Context, userID int64, err error) {
		log.WarnContext(ctx, "login without property claims", "user_id", userID, "reason", err.Error(),
			"circuit", s.Property.State(), "request_id", reqinfo.RequestID(ctx))
	}
	svc.OnUnrecorded = func(ctx context.Context, userID int64, err error) {
		log.WarnContext(ctx, "memberships seen at login not recorded", "user_id", userID, "reason", err.Error(),
			"request_id", reqinfo.RequestID(ctx))
	}
	svc.OnReuse = func(ctx context.Context, f app.FamilyRecord, clientIP string) {
		log.WarnContext(ctx, "refresh token reused: session revoked", "user_id", f.UserID, "session", f.ID,
			"client_ip", clientIP, "request_id", reqinfo.RequestID(ctx))
	}
	verifier := jwtauth.NewVerifier(signer, signer.Settings())
	base := router.Base{Log: log, Trusted: cfg.Trusted, Ready: s.ready(svc.Repo.Ping), CORS: router.CORS(cfg.CORSOrigins),
		Tarpit:  ratelimit.NewTarpit(cfg.RefusalDelay, ratelimit.TarpitPerIP, ratelimit.TarpitTotal),
		Observe: s.Metrics.HTTP("public"), Trace: tr.Server("public", false),
		Requests: limits.Requests("requests", cfg.RequestLimit.Or(DefaultRequestLimit))}
	perClient := budget.PerClient(base.Requests)
	handler, err := PublicHandler(base, svc, signer.JWKS, jwtauth.Middleware(verifier), perClient, ports.RefuseSpentRegistrations(svc, log))
	if err != nil {
		return nil, s.res.Release(err)
	}
	// The internal listener, wired as the property service's: the guard of
	// package internalauth in front of the operations tagged users.
	internalBase := router.Base{Log: log, Trusted: cfg.InternalTrusted, Ready: s.ready(svc.Repo.Ping),
		Observe: s.Metrics.HTTP("internal"), Trace: tr.Server("internal", true),
		Requests: limits.Requests("internal-ip", cfg.RequestLimit.Or(DefaultRequestLimit))}
	internalContract, err := router.InternalContract("users")
	if err != nil {
		return nil, s.res.Release(err)
	}
	// The exchange holds an access token to /me's rule (svc.SessionLive: an
	// ended session's token is refused at once, not when it expires), and
	// each (user, operation) to a few exchanges a minute. It issues subject
	// tokens for this service's operations and for those of the contracts
	// INTERNAL_EXCHANGE_CONTRACTS names, to the callers each lists.
	exchanger, err := wl.Exchanger(verifier, signer, internalContract.Spec, workload.ExchangeOptions{Live: svc.SessionLive,
		PerUser: limits.Requests("internal-exchange", cfg.ExchangeLimit.Or(DefaultExchangeLimit)), Callees: cfg.ExchangeContracts})
	if err != nil {
		return nil, s.res.Release(err)
	}
	internal, err := wl.InternalListener(cfg.InternalAddr, internalBase, internalContract, workload.GuardOptions{Log: log,
		Outcomes:  s.Metrics,
		Failures:  limits.New("internal-token", cfg.TokenFailures.Or(DefaultTokenFailures), ratelimit.FailClosed),
		PerCaller: limits.Requests("internal-requests", cfg.InternalRequestLimit.Or(DefaultInternalRequestLimit)),
		// The subject tokens it is called with are its own (issued by the exchange).
		Subjects:    jwtauth.NewSubjectVerifier(signer, cfg.JWT.Issuer),
		PerSubject:  limits.Requests("internal-subject", cfg.SubjectLimit.Or(DefaultSubjectLimit)),
		AlsoAllowed: map[string][]string{ports.ExchangeOperation: exchanger.Callers()}},
		func(api chi.Router) {
			MountInternal(api, &ports.Internal{App: svc, Exchanger: exchanger, Log: log}, log)
		})
	if err != nil {
		return nil, s.res.Release(err)
	}
	if s.Server, err = listener.Listen(log, listener.WithAdmin(cfg.AdminAddr, router.Admin(s.Metrics.Handler(), cfg.Profiler),
		&listener.Listener{Name: "public", Addr: cfg.PublicAddr, Handler: handler}, internal)...); err != nil {
		return nil, s.res.Release(err)
	}
	return s, nil
}

// MountInternal registers the internal operations' handlers on r.
func MountInternal(r chi.Router, h *ports.Internal, log *slog.Logger) {
	strict := internaluserapi.NewStrictHandlerWithOptions(h, nil,
		internaluserapi.StrictHTTPServerOptions(router.NewStrictErrors(log)))
	internaluserapi.HandlerWithOptions(strict, internaluserapi.ChiServerOptions{BaseRouter: r, ErrorHandlerFunc: router.ParamErrorHandler})
}

// budgets makes the limiters of every door that runs argon2id.
func budgets(limits *ratelimit.Store, cfg Config) app.Budgets {
	return app.Budgets{
		LoginPerIP:    limits.New("login-ip", cfg.LoginPerIP.Or(DefaultLoginPerIP), ratelimit.FailClosed),
		LoginPerEmail: limits.New("login-email", cfg.LoginPerEmail.Or(DefaultLoginPerEmail), ratelimit.FailClosed),
		RegisterPerIP: limits.New("register-ip", cfg.RegisterPerIP.Or(DefaultRegisterPerIP), ratelimit.FailClosed),
		PasswordChangePerUser: limits.New("password-change", cfg.PasswordChangePerUser.Or(DefaultPasswordChangePerUser),
			ratelimit.FailClosed),
		RefreshPerIP: limits.New("refresh-ip", cfg.RefreshPerIP.Or(DefaultRefreshPerIP), ratelimit.FailClosed),
	}
}

// openApp opens the database, puts the emails stored before the canonical
// form in it, and builds the use cases (shared by the server and the admin
// commands).
func openApp(ctx context.Context, cfg Config, traced *database.Traced, log *slog.Logger) (*app.Service, *sql.DB,
	*jwtauth.Signer, error) {
	signer, err := loadSigner(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	repo, conn, err := adapters.Open(ctx, cfg.DatabaseURL, traced)
	if err != nil {
		return nil, nil, nil, err
	}
	svc := &app.Service{Repo: repo, Sessions: repo, RefreshTTL: cfg.RefreshTTL, AccessTTL: cfg.TTL, Signer: signer,
		MaxPropertyClaims: cfg.MaxPropertyClaims, NewSessionID: middleware.NewID}
	if err := canonicaliseStoredEmails(ctx, svc, log); err != nil {
		_ = conn.Close()
		return nil, nil, nil, err
	}
	return svc, conn, signer, nil
}

// loadSigner reads the signing key (made on first use) and the retired
// public keys: what signs access and subject tokens.
func loadSigner(cfg Config) (*jwtauth.Signer, error) {
	key, err := jwtauth.LoadOrCreateKey(cfg.SigningKeyFile)
	if err != nil {
		return nil, &config.Error{Var: "JWT_SIGNING_KEY_FILE", Problem: err.Error()}
	}
	var retired []ed25519.PublicKey
	for _, f := range cfg.RetiredKeyFiles {
		pub, err := jwtauth.LoadPublicKey(f)
		if err != nil {
			return nil, &config.Error{Var: "JWT_RETIRED_PUBLIC_KEY_FILES", Problem: err.Error()}
		}
		retired = append(retired, pub)
	}
	signer := jwtauth.NewSigner(key, retired, cfg.JWT, cfg.TTL)
	signer.LimitBytes(cmp.Or(cfg.MaxTokenBytes, DefaultMaxTokenBytes)) // a Config built in code is bounded too
	return signer, nil
}

// canonicaliseStoredEmails runs app.CanonicaliseStoredEmails and says what
// it did: how many emails it put in canonical form, and a WARN line (at
// every start, until an operator resolves it) for each account it could
// not, by user id only; and once, a WARN line for each account whose email
// from before issue 34 may stand for another mailbox.
func canonicaliseStoredEmails(ctx context.Context, svc *app.Service, log *slog.Logger) error {
	fixed, issues, err := svc.CanonicaliseStoredEmails(ctx)
	if err != nil {
		return err
	}
	if fixed > 0 {
		log.InfoContext(ctx, "stored emails put in canonical form", "count", fixed)
	}
	for _, is := range issues {
		if is.MayBeOther {
			log.WarnContext(ctx, "stored email may stand for another mailbox (an old canonical form folded ß, ς or ι): kept, "+
				"the account logs in as stored", "user_id", is.UserID)
			continue
		}
		if is.Rule != "" {
			log.WarnContext(ctx, "stored email has no canonical form: the account cannot log in with a password",
				"user_id", is.UserID, "rule", "email "+is.Rule)
			continue
		}
		log.WarnContext(ctx, "stored email's canonical form belongs to another account: the account cannot log in with a password",
			"user_id", is.UserID, "other_user_id", is.CollidesWith)
	}
	return nil
}

// ready is /readyz: all of the service's listeners accept connections
// (s.Server is bound after the handler is built, before any request), and
// the database answers.
func (s *Service) ready(ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := s.Server.Accepting(); err != nil {
			return err
		}
		return ping(ctx)
	}
}

// Serve serves until ctx ends, then closes the database and the Redis client.
func (s *Service) Serve(ctx context.Context) error { return s.res.Serve(ctx, s.Server.Serve) }

// PublicHandler is the public listener: the users operations of the public
// contract, each request passed through before (the bearer-token verifier:
// the service verifies its own tokens with its own public keys; the early
// refusal of spent registration budgets) and validated before its handler.
func PublicHandler(base router.Base, svc *app.Service, jwks func() jwtauth.JWKS,
	before ...func(http.Handler) http.Handler) (http.Handler, error) {
	api, err := router.PublicAPI(base, "users", before, func(api chi.Router) {
		strict := userapi.NewStrictHandlerWithOptions(&ports.Public{App: svc, JWKS: jwks}, nil,
			userapi.StrictHTTPServerOptions(router.NewStrictErrors(base.Log)))
		userapi.HandlerWithOptions(strict, userapi.ChiServerOptions{BaseRouter: api, ErrorHandlerFunc: router.ParamErrorHandler})
	})
	if err != nil {
		return nil, err
	}
	return api.Handler()
}
