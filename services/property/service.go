// Package property wires the property service: configuration, database,
// the public listener (public contract, JWT) and the internal listener
// (internal contract, TokenGuard). main only calls Main.
package property

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"jeeves4service"

	"jeeves4service/gen/internalapi"
	"jeeves4service/gen/propertyapi"
	"jeeves4service/services/common/config"
	"jeeves4service/services/common/database"
	"jeeves4service/services/common/httpx"
	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/common/problem"
	"jeeves4service/services/common/ratelimit"
	"jeeves4service/services/common/tokenguard"
	"jeeves4service/services/common/validator"
	"jeeves4service/services/common/web"
	"jeeves4service/services/property/adapters"
	"jeeves4service/services/property/app"
	"jeeves4service/services/property/ports"
)

// Config is the property service's runtime contract (the README's Runtime configuration).
type Config struct {
	PublicAddr   string
	InternalAddr string
	DatabaseURL  string
	Tokens       []tokenguard.Token
	JWKSURL      string
	// JWKSRefresh is how often the JWKS is fetched again (a shorter max-age wins).
	JWKSRefresh time.Duration
	JWT         jwtauth.Settings
	Trusted     []netip.Prefix
	// TokenFailures is the budget of wrong X-Internal-Token attempts per client IP.
	TokenFailures ratelimit.Budget
	// Limits says where failure counters live (Redis when REDIS_URL is set).
	Limits ratelimit.Backend
}

// LoadConfig reads the environment; every error is a *config.Error.
func LoadConfig(getenv config.Getenv) (Config, error) {
	var c Config
	var err error
	if c.PublicAddr, err = config.Addr(getenv, "PROPERTY_PUBLIC_ADDR", "127.0.0.1:8002"); err != nil {
		return c, err
	}
	if c.InternalAddr, err = config.Addr(getenv, "PROPERTY_INTERNAL_ADDR", "127.0.0.1:9002"); err != nil {
		return c, err
	}
	if c.DatabaseURL, err = database.URLFromEnv(getenv, "PROPERTY_DATABASE_URL", "sqlite:./data/property.db"); err != nil {
		return c, err
	}
	if c.Tokens, err = tokenguard.FromEnv(getenv); err != nil {
		return c, err
	}
	c.JWKSURL = config.String(getenv, "JWT_JWKS_URL", "http://127.0.0.1:8001/.well-known/jwks.json")
	if c.JWKSRefresh, err = config.Duration(getenv, "JWT_JWKS_REFRESH", jwtauth.DefaultJWKSInterval); err != nil {
		return c, err
	}
	c.JWT = jwtauth.SettingsFromEnv(getenv)
	if c.Trusted, err = config.Prefixes(getenv, "TRUSTED_PROXIES"); err != nil {
		return c, err
	}
	if c.TokenFailures, err = ratelimit.BudgetFromEnv(getenv, "INTERNAL_TOKEN_FAILURE_LIMIT", DefaultTokenFailures); err != nil {
		return c, err
	}
	if c.Limits, err = ratelimit.BackendFromEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}

// DefaultTokenFailures is 10 wrong tokens per client IP per minute.
var DefaultTokenFailures = ratelimit.Budget{Count: 10, Window: time.Minute}

// Service is a property service with its listeners bound.
type Service struct {
	Server *httpx.Server
	db     *sql.DB
	keys   *jwtauth.RemoteKeys
	limits *ratelimit.Store
}

// New opens the database, builds both routers and binds both listeners.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	conn, engine, err := database.Open(ctx, cfg.DatabaseURL, "property")
	if err != nil {
		return nil, fmt.Errorf("open property database: %w", err)
	}
	var repo app.Repository = adapters.NewSQLite(conn)
	if engine == database.Postgres {
		repo = adapters.NewPostgres(conn)
	}
	svc := &app.Service{Repo: repo}
	base := web.Base{Log: log, Trusted: cfg.Trusted, Ready: repo.Ping}

	keys := jwtauth.NewRemoteKeys(cfg.JWKSURL, cmp.Or(cfg.JWKSRefresh, jwtauth.DefaultJWKSInterval))
	public, err := PublicHandler(base, svc, jwtauth.NewVerifier(keys, cfg.JWT))
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	guard, err := tokenguard.New(cfg.Tokens, log)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	limits := cfg.Limits.Open(log)
	guard.LimitFailures(limits.New("internal-token", cfg.TokenFailures.Or(DefaultTokenFailures), ratelimit.FailClosed))
	internal, err := InternalHandler(base, svc, guard)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	srv, err := httpx.Listen(log,
		&httpx.Listener{Name: "public", Addr: cfg.PublicAddr, Handler: public},
		&httpx.Listener{Name: "internal", Addr: cfg.InternalAddr, Handler: internal})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &Service{Server: srv, db: conn, keys: keys, limits: limits}, nil
}

// Serve serves until ctx ends, then closes the database and the Redis client.
// The JWKS is refreshed on its schedule meanwhile.
func (s *Service) Serve(ctx context.Context) error {
	defer s.db.Close()
	defer s.limits.Close()
	ctx, stop := context.WithCancel(ctx)
	refreshed := make(chan struct{})
	go func() { s.keys.Run(ctx); close(refreshed) }()
	defer func() { stop(); <-refreshed }()
	return s.Server.Serve(ctx)
}

// PublicHandler is the public listener: the property operations of the public
// contract, each request verified (JWT) and validated before its handler.
func PublicHandler(base web.Base, svc *app.Service, verifier *jwtauth.Verifier) (http.Handler, error) {
	spec, err := propertyapi.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load public contract: %w", err)
	}
	return web.API(base, web.Contract{Spec: spec, YAML: jeeves4service.PublicSpec, Page: jeeves4service.PublicDocs}, web.BearerAuth, []func(http.Handler) http.Handler{jwtauth.Middleware(verifier)}, func(api chi.Router) {
		strict := propertyapi.NewStrictHandlerWithOptions(&ports.Public{App: svc}, nil, propertyapi.StrictHTTPServerOptions{
			RequestErrorHandlerFunc: problem.RequestErrorHandler(base.Log), ResponseErrorHandlerFunc: problem.ResponseErrorHandler(base.Log)})
		propertyapi.HandlerWithOptions(strict, propertyapi.ChiServerOptions{BaseRouter: api, ErrorHandlerFunc: web.ParamErrorHandler})
	})
}

// InternalHandler is the internal listener: the internal contract only, with
// TokenGuard as the AuthenticationFunc of its InternalToken scheme and an audit
// line for every accepted call.
func InternalHandler(base web.Base, svc *app.Service, guard *tokenguard.TokenGuard) (http.Handler, error) {
	spec, err := internalapi.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load internal contract: %w", err)
	}
	audit := guard.Middleware(func(r *http.Request) string { return lastSegment(r.URL.Path) })
	opts := validator.Options{Authenticate: guard.Authenticate, UnauthorizedDetail: "Invalid internal service token"}
	return web.API(base, web.Contract{Spec: spec, YAML: jeeves4service.InternalSpec, Page: jeeves4service.InternalDocs}, opts, []func(http.Handler) http.Handler{audit}, func(api chi.Router) {
		strict := internalapi.NewStrictHandlerWithOptions(&ports.Internal{App: svc}, nil, internalapi.StrictHTTPServerOptions{
			RequestErrorHandlerFunc: problem.RequestErrorHandler(base.Log), ResponseErrorHandlerFunc: problem.ResponseErrorHandler(base.Log)})
		internalapi.HandlerWithOptions(strict, internalapi.ChiServerOptions{BaseRouter: api, ErrorHandlerFunc: web.ParamErrorHandler})
	})
}

func lastSegment(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// Main is the whole program: read config, start, serve until ctx ends.
// It returns the process exit status: 2 for configuration errors.
func Main(ctx context.Context, getenv config.Getenv, stderr io.Writer) int {
	return web.RunMain(ctx, getenv, stderr, "property-service", func(ctx context.Context, log *slog.Logger) (web.Runner, error) {
		cfg, err := LoadConfig(getenv)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg, log)
	})
}

// SetJWKSURL points JWT verification at another JWKS (tests bind the user
// service after the property service, on a port chosen by the kernel).
func (s *Service) SetJWKSURL(url string) { s.keys.SetURL(url) }
