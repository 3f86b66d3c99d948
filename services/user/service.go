// Package user wires the user service: configuration, database, signing key,
// the property-service client and the public listener. main only calls Main.
package user

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"jeeves4service"

	"jeeves4service/gen/userapi"
	"jeeves4service/services/common/config"
	"jeeves4service/services/common/database"
	"jeeves4service/services/common/httpx"
	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/common/logging"
	"jeeves4service/services/common/problem"
	"jeeves4service/services/common/ratelimit"
	"jeeves4service/services/common/reqinfo"
	"jeeves4service/services/common/tokenguard"
	"jeeves4service/services/common/web"
	"jeeves4service/services/user/adapters"
	"jeeves4service/services/user/app"
	"jeeves4service/services/user/ports"
)

// Config is the user service's runtime contract (the README's Runtime configuration).
type Config struct {
	PublicAddr        string
	DatabaseURL       string
	InternalToken     string
	SigningKeyFile    string
	RetiredKeyFiles   []string
	JWT               jwtauth.Settings
	TTL               time.Duration
	Trusted           []netip.Prefix
	Property          adapters.PropertyClientConfig
	MaxPropertyClaims int
	// Failed-login budgets, per client IP and per email.
	LoginPerIP, LoginPerEmail ratelimit.Budget
	// RegisterPerIP bounds registrations (each hashes a password) per client IP.
	RegisterPerIP ratelimit.Budget
	// PasswordChangePerUser bounds wrong current passwords per user.
	PasswordChangePerUser ratelimit.Budget
	// Limits says where failure counters live (Redis when REDIS_URL is set).
	Limits ratelimit.Backend
}

// Default failed-login budgets: 20 per client IP and 5 per email every 15 minutes.
var (
	DefaultLoginPerIP            = ratelimit.Budget{Count: 20, Window: 15 * time.Minute}
	DefaultLoginPerEmail         = ratelimit.Budget{Count: 5, Window: 15 * time.Minute}
	DefaultRegisterPerIP         = ratelimit.Budget{Count: 10, Window: time.Hour}
	DefaultPasswordChangePerUser = ratelimit.Budget{Count: 5, Window: 15 * time.Minute}
)

// Defaults that are not secrets.
const (
	defaultTTL     = time.Hour
	defaultBudget  = 2 * time.Second
	defaultOpenFor = 15 * time.Second
)

// LoadConfig reads the environment; every error is a *config.Error.
func LoadConfig(getenv config.Getenv) (Config, error) {
	var c Config
	var err error
	if c.PublicAddr, err = config.Addr(getenv, "USER_PUBLIC_ADDR", "127.0.0.1:8001"); err != nil {
		return c, err
	}
	if c.DatabaseURL, err = database.URLFromEnv(getenv, "USER_DATABASE_URL", "sqlite:./data/user.db"); err != nil {
		return c, err
	}
	if c.InternalToken, err = tokenguard.SecretFromEnv(getenv); err != nil {
		return c, err
	}
	propertyURL := config.String(getenv, "PROPERTY_SERVICE_URL", "http://127.0.0.1:9002")
	if !strings.HasPrefix(propertyURL, "http://") && !strings.HasPrefix(propertyURL, "https://") {
		return c, &config.Error{Var: "PROPERTY_SERVICE_URL", Problem: "must be an http:// or https:// URL"}
	}
	c.SigningKeyFile = config.String(getenv, "JWT_SIGNING_KEY_FILE", "./data/jwt-ed25519.pem")
	for _, f := range strings.Split(getenv("JWT_RETIRED_PUBLIC_KEY_FILES"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.RetiredKeyFiles = append(c.RetiredKeyFiles, f)
		}
	}
	c.JWT = jwtauth.SettingsFromEnv(getenv)
	ttl, err := config.Duration(getenv, "JWT_TTL", defaultTTL)
	if err != nil {
		return c, err
	}
	c.TTL = ttl
	if c.Trusted, err = config.Prefixes(getenv, "TRUSTED_PROXIES"); err != nil {
		return c, err
	}
	budget, err := config.Duration(getenv, "PROPERTY_CALL_TIMEOUT", defaultBudget)
	if err != nil {
		return c, err
	}
	failures, err := config.Int(getenv, "PROPERTY_BREAKER_FAILURES", 5)
	if err != nil {
		return c, err
	}
	openFor, err := config.Duration(getenv, "PROPERTY_BREAKER_OPEN", defaultOpenFor)
	if err != nil {
		return c, err
	}
	c.Property = adapters.PropertyClientConfig{BaseURL: propertyURL, Token: c.InternalToken, Budget: budget,
		FailuresToOpen: uint32(failures), OpenFor: openFor}
	if c.MaxPropertyClaims, err = config.Int(getenv, "JWT_MAX_PROPERTY_CLAIMS", 100); err != nil {
		return c, err
	}
	if c.LoginPerIP, err = ratelimit.BudgetFromEnv(getenv, "LOGIN_FAILURE_LIMIT_PER_IP", DefaultLoginPerIP); err != nil {
		return c, err
	}
	if c.LoginPerEmail, err = ratelimit.BudgetFromEnv(getenv, "LOGIN_FAILURE_LIMIT_PER_EMAIL", DefaultLoginPerEmail); err != nil {
		return c, err
	}
	if c.RegisterPerIP, err = ratelimit.BudgetFromEnv(getenv, "REGISTER_LIMIT_PER_IP", DefaultRegisterPerIP); err != nil {
		return c, err
	}
	if c.PasswordChangePerUser, err = ratelimit.BudgetFromEnv(getenv, "PASSWORD_CHANGE_FAILURE_LIMIT", DefaultPasswordChangePerUser); err != nil {
		return c, err
	}
	if c.Limits, err = ratelimit.BackendFromEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}

// Service is a user service with its listener bound.
type Service struct {
	Server   *httpx.Server
	App      *app.Service
	Property *adapters.PropertyClient
	db       *sql.DB
	limits   *ratelimit.Store
}

// openApp opens the database and builds the use cases (shared by the server
// and the create-admin command).
func openApp(ctx context.Context, cfg Config) (*app.Service, *sql.DB, *jwtauth.Signer, error) {
	key, err := jwtauth.LoadOrCreateKey(cfg.SigningKeyFile)
	if err != nil {
		return nil, nil, nil, &config.Error{Var: "JWT_SIGNING_KEY_FILE", Problem: err.Error()}
	}
	var retired []ed25519.PublicKey
	for _, f := range cfg.RetiredKeyFiles {
		pub, err := jwtauth.LoadPublicKey(f)
		if err != nil {
			return nil, nil, nil, &config.Error{Var: "JWT_RETIRED_PUBLIC_KEY_FILES", Problem: err.Error()}
		}
		retired = append(retired, pub)
	}
	signer := jwtauth.NewSigner(key, retired, cfg.JWT, cfg.TTL)
	conn, engine, err := database.Open(ctx, cfg.DatabaseURL, "user")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open user database: %w", err)
	}
	var repo app.Repository = adapters.NewSQLite(conn)
	if engine == database.Postgres {
		repo = adapters.NewPostgres(conn)
	}
	return &app.Service{Repo: repo, Signer: signer, MaxPropertyClaims: cfg.MaxPropertyClaims, NewSessionID: httpx.NewID}, conn, signer, nil
}

// New builds the service and binds its listener.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	svc, conn, signer, err := openApp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	props, err := adapters.NewPropertyClient(cfg.Property)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	svc.Properties = props
	limits := cfg.Limits.Open(log)
	svc.Budgets = app.Budgets{
		LoginPerIP:            limits.New("login-ip", cfg.LoginPerIP.Or(DefaultLoginPerIP), ratelimit.FailClosed),
		LoginPerEmail:         limits.New("login-email", cfg.LoginPerEmail.Or(DefaultLoginPerEmail), ratelimit.FailClosed),
		RegisterPerIP:         limits.New("register-ip", cfg.RegisterPerIP.Or(DefaultRegisterPerIP), ratelimit.FailClosed),
		PasswordChangePerUser: limits.New("password-change", cfg.PasswordChangePerUser.Or(DefaultPasswordChangePerUser), ratelimit.FailClosed),
	}
	svc.OnDegraded = func(ctx context.Context, userID int64, err error) {
		log.WarnContext(ctx, "login without property claims", "user_id", userID, "reason", err.Error(),
			"circuit", props.State(), "request_id", reqinfo.RequestID(ctx))
	}
	handler, err := PublicHandler(web.Base{Log: log, Trusted: cfg.Trusted, Ready: svc.Repo.Ping}, svc, signer)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	srv, err := httpx.Listen(log, &httpx.Listener{Name: "public", Addr: cfg.PublicAddr, Handler: handler})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &Service{Server: srv, App: svc, Property: props, db: conn, limits: limits}, nil
}

// Serve serves until ctx ends, then closes the database and the Redis client.
func (s *Service) Serve(ctx context.Context) error {
	defer s.db.Close()
	defer s.limits.Close()
	return s.Server.Serve(ctx)
}

// PublicHandler is the public listener: the users operations of the public
// contract. The service verifies its own tokens with its own public keys.
func PublicHandler(base web.Base, svc *app.Service, signer *jwtauth.Signer) (http.Handler, error) {
	spec, err := userapi.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load public contract: %w", err)
	}
	verifier := jwtauth.NewVerifier(signer, signer.Settings())
	return web.API(base, web.Contract{Spec: spec, YAML: jeeves4service.PublicSpec, Page: jeeves4service.PublicDocs}, web.BearerAuth, []func(http.Handler) http.Handler{jwtauth.Middleware(verifier)}, func(api chi.Router) {
		strict := userapi.NewStrictHandlerWithOptions(&ports.Public{App: svc, JWKS: signer.JWKS}, nil, userapi.StrictHTTPServerOptions{
			RequestErrorHandlerFunc: problem.RequestErrorHandler(base.Log), ResponseErrorHandlerFunc: problem.ResponseErrorHandler(base.Log)})
		userapi.HandlerWithOptions(strict, userapi.ChiServerOptions{BaseRouter: api, ErrorHandlerFunc: web.ParamErrorHandler})
	})
}

// Main is the whole program. With the argument create-admin it creates an
// admin user instead of serving. It returns the process exit status.
func Main(ctx context.Context, args []string, getenv config.Getenv, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "create-admin" {
		return createAdmin(ctx, args[1:], getenv, stdin, stdout, stderr)
	}
	return web.RunMain(ctx, getenv, stderr, "user-service", func(ctx context.Context, log *slog.Logger) (web.Runner, error) {
		cfg, err := LoadConfig(getenv)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg, log)
	})
}

// createAdmin: user-service create-admin --email E --first-name F --last-name L,
// password on stdin (never on the command line, where ps and shell history see it).
func createAdmin(ctx context.Context, args []string, getenv config.Getenv, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email of the admin (required)")
	first := fs.String("first-name", "Admin", "first name")
	last := fs.String("last-name", "User", "last name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *email == "" {
		fmt.Fprintln(stderr, "create-admin: --email is required; the password is read from stdin")
		return 2
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "create-admin: read password from stdin: %v\n", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	if _, err := logging.New(getenv, stderr, "user-service"); err != nil {
		fmt.Fprintf(stderr, "create-admin: configuration error: %v\n", err)
		return config.ExitCode
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "create-admin: configuration error: %v\n", err)
		return config.ExitCode
	}
	svc, conn, _, err := openApp(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "create-admin: %v\n", err)
		return 1
	}
	defer conn.Close()
	u, err := svc.Register(ctx, "", *email, password, *first, *last, true)
	if err != nil {
		fmt.Fprintf(stderr, "create-admin: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "created admin %s with id %d\n", u.Email, u.ID)
	return 0
}
