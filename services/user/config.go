package user

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/metrics"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/common/tracing"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
)

// Config is the user service's runtime contract (docs/operations.md lists
// every variable; a test checks it does).
type Config struct {
	PublicAddr string
	// InternalAddr is the internal listener: the user service's internal
	// operations (the property service calls them), and nothing else.
	InternalAddr string
	// InternalTrusted are the proxies the internal listener believes (none
	// unless set, see the property service's).
	InternalTrusted []netip.Prefix
	// TokenFailures is the internal listener's budget of wrong credentials per
	// client IP (or SPIFFE ID); InternalRequestLimit each caller's request budget.
	TokenFailures, InternalRequestLimit ratelimit.Budget
	// SubjectLimit is the budget of each (internal operation, subject):
	// INTERNAL_SUBJECT_LIMIT, as the property service's.
	SubjectLimit ratelimit.Budget
	// ExchangeLimit is the budget of subject-token exchanges of each (user,
	// operation), whoever asks: INTERNAL_EXCHANGE_LIMIT. It cannot be "off":
	// the exchange mints credentials, and a caller that keeps them never
	// needs many (a larger budget is a number).
	ExchangeLimit ratelimit.Budget
	// ExchangeContracts are other services' internal contracts, whose
	// operations the exchange issues subject tokens for, to the callers each
	// operation's x-allowed-callers lists: INTERNAL_EXCHANGE_CONTRACTS,
	// "name=path,name=path" (a new service needs its contract here and its
	// caller's token, and no code in this service).
	ExchangeContracts []workload.CalleeContract
	// AdminAddr is the admin listener (/metrics, profiling); "" runs none
	// (a Config built in code, in tests).
	AdminAddr       string
	DatabaseURL     string
	SigningKeyFile  string
	RetiredKeyFiles []string
	JWT             jwtauth.Settings
	TTL             time.Duration
	// RefreshTTL bounds a session's whole life (its refresh-token family).
	RefreshTTL time.Duration
	Trusted    []netip.Prefix
	// Internal is how the service calls the property service's internal
	// listener and what its own accepts (its mode and credentials, see
	// internalauth), PropertyCalls what one login may spend on that call.
	Internal          workload.Config
	PropertyCalls     upstream.Settings
	MaxPropertyClaims int
	// MaxTokenBytes is the access token's byte budget (JWT_MAX_BYTES): the
	// property claims are cut to fit it.
	MaxTokenBytes int
	// Failed-login budgets, per client IP and per email.
	LoginPerIP, LoginPerEmail ratelimit.Budget
	// RegisterPerIP bounds registrations (each hashes a password) per client IP.
	RegisterPerIP ratelimit.Budget
	// PasswordChangePerUser bounds wrong current passwords per user.
	PasswordChangePerUser ratelimit.Budget
	// RefreshPerIP bounds failed refreshes per client IP (not the login budget).
	RefreshPerIP ratelimit.Budget
	// RequestLimit is the general budget per client (zero: none).
	RequestLimit ratelimit.Budget
	// RefusalDelay is how long the public listener holds a 429 (REFUSAL_DELAY;
	// zero: none), see ratelimit.Tarpit.
	RefusalDelay time.Duration
	// CORSOrigins may call the service from a browser page (none by default).
	CORSOrigins []string
	// Limits says where budgets live (Redis when REDIS_URL is set).
	Limits ratelimit.Backend
	// TraceEndpoint is where spans go (OTLP/HTTP); "" turns tracing off.
	TraceEndpoint string
	// Metrics off stops recording (METRICS=off: to measure what they cost).
	MetricsOff bool
	// Profiler serves /debug/pprof/ on the admin listener (PPROF=on; off by default).
	Profiler bool
}

// Default budgets (each is also the variable's default in LoadConfig).
var (
	DefaultLoginPerIP            = ratelimit.Budget{Count: 20, Window: 15 * time.Minute}
	DefaultLoginPerEmail         = ratelimit.Budget{Count: 5, Window: 15 * time.Minute}
	DefaultRegisterPerIP         = ratelimit.Budget{Count: 10, Window: time.Hour}
	DefaultPasswordChangePerUser = ratelimit.Budget{Count: 5, Window: 15 * time.Minute}
	DefaultRefreshPerIP          = ratelimit.Budget{Count: 20, Window: 15 * time.Minute}
	DefaultRequestLimit          = ratelimit.Budget{Count: 600, Window: time.Minute}
	// The internal listener's, as the property service's.
	DefaultTokenFailures        = ratelimit.Budget{Count: 10, Window: time.Minute}
	DefaultInternalRequestLimit = ratelimit.Budget{Count: 60000, Window: time.Minute}
	// DefaultSubjectLimit: a user's member lists and invitations, with room to spare.
	DefaultSubjectLimit = ratelimit.Budget{Count: 120, Window: time.Minute}
	// DefaultExchangeLimit: a caller keeps a subject token until about 10 s
	// before it expires (it lives at most 60 s), so each of its replicas
	// asks about once a minute per user and operation; 10 leaves room for
	// a few replicas and restarts, and holds a thief of the caller's
	// credential and one user's access token to 10 tokens a minute.
	DefaultExchangeLimit = ratelimit.Budget{Count: 10, Window: time.Minute}
)

// Defaults that are not secrets.
const (
	defaultTTL        = 10 * time.Minute // short: refresh tokens renew it
	defaultRefreshTTL = 720 * time.Hour
)

// LoadConfig reads the environment; every error is a *config.Error.
func LoadConfig(getenv config.Getenv) (Config, error) {
	r := config.NewReader(getenv)
	c := Config{
		PublicAddr:      r.Addr("USER_PUBLIC_ADDR", "127.0.0.1:8001"),
		AdminAddr:       r.Addr("USER_ADMIN_ADDR", "127.0.0.1:9101"),
		InternalAddr:    r.Addr("USER_INTERNAL_ADDR", "127.0.0.1:9001"),
		InternalTrusted: r.Prefixes("INTERNAL_TRUSTED_PROXIES"),
		TokenFailures:   config.Parse(r, "INTERNAL_TOKEN_FAILURE_LIMIT", DefaultTokenFailures.String(), ratelimit.ParseBudget),
		InternalRequestLimit: config.Parse(r, "INTERNAL_REQUEST_LIMIT", DefaultInternalRequestLimit.String(),
			ratelimit.ParseBudgetOrOff),
		SubjectLimit:      config.Parse(r, "INTERNAL_SUBJECT_LIMIT", DefaultSubjectLimit.String(), ratelimit.ParseBudgetOrOff),
		ExchangeLimit:     config.Parse(r, "INTERNAL_EXCHANGE_LIMIT", DefaultExchangeLimit.String(), ratelimit.ParseBudget),
		ExchangeContracts: config.Parse(r, "INTERNAL_EXCHANGE_CONTRACTS", "", parseContracts),
		DatabaseURL:       config.Parse(r, "USER_DATABASE_URL", "sqlite:./data/user.db", database.CheckURL),
		Internal:          workload.ReadConfig(r, InternalRole),
		SigningKeyFile:    r.String("JWT_SIGNING_KEY_FILE", "./data/jwt-ed25519.pem"),
		RetiredKeyFiles:   list(r.Raw("JWT_RETIRED_PUBLIC_KEY_FILES")),
		JWT: jwtauth.Settings{Issuer: r.String("JWT_ISSUER", "jeeves4service"),
			Audience: r.String("JWT_AUDIENCE", "jeeves4service")},
		TTL:               r.Duration("JWT_TTL", defaultTTL),
		RefreshTTL:        r.Duration("REFRESH_TTL", defaultRefreshTTL),
		Trusted:           r.Prefixes("TRUSTED_PROXIES"),
		MaxPropertyClaims: r.Int("JWT_MAX_PROPERTY_CLAIMS", 100),
		MaxTokenBytes:     r.Int("JWT_MAX_BYTES", DefaultMaxTokenBytes),
		LoginPerIP:        config.Parse(r, "LOGIN_FAILURE_LIMIT_PER_IP", DefaultLoginPerIP.String(), ratelimit.ParseBudget),
		LoginPerEmail:     config.Parse(r, "LOGIN_FAILURE_LIMIT_PER_EMAIL", DefaultLoginPerEmail.String(), ratelimit.ParseBudget),
		RegisterPerIP:     config.Parse(r, "REGISTER_LIMIT_PER_IP", DefaultRegisterPerIP.String(), ratelimit.ParseBudget),
		PasswordChangePerUser: config.Parse(r, "PASSWORD_CHANGE_FAILURE_LIMIT", DefaultPasswordChangePerUser.String(),
			ratelimit.ParseBudget),
		RefreshPerIP: config.Parse(r, "REFRESH_FAILURE_LIMIT_PER_IP", DefaultRefreshPerIP.String(), ratelimit.ParseBudget),
		RequestLimit: config.Parse(r, "REQUEST_LIMIT", DefaultRequestLimit.String(), ratelimit.ParseBudgetOrOff),
		RefusalDelay: config.Parse(r, "REFUSAL_DELAY", ratelimit.DefaultRefusalDelay.String(), config.Delay),
		CORSOrigins:  config.Parse(r, "CORS_ALLOWED_ORIGINS", "", router.ParseOrigins),
		Limits:       config.Parse(r, "REDIS_URL", "", ratelimit.RedisURLParser(r.String("REDIS_KEY_PREFIX", "jeeves4service:"))),
	}
	c.PropertyCalls = upstream.Settings{
		Budget:         r.Duration("PROPERTY_CALL_TIMEOUT", upstream.DefaultBudget),
		FailuresToOpen: uint32(r.Int("PROPERTY_BREAKER_FAILURES", upstream.DefaultFailuresToOpen)),
		OpenFor:        r.Duration("PROPERTY_BREAKER_OPEN", upstream.DefaultOpenFor),
	}
	c.Limits.Timeout = r.Duration("REDIS_TIMEOUT", ratelimit.DefaultRedisTimeout)
	c.TraceEndpoint = tracing.Endpoint(r)
	c.MetricsOff = config.Parse(r, "METRICS", "on", metrics.ParseSwitch)
	c.Profiler = config.Parse(r, "PPROF", "off", config.Switch)
	if c.MaxPropertyClaims > 1000 {
		r.Fail(&config.Error{Var: "JWT_MAX_PROPERTY_CLAIMS", Problem: "must be at most 1000 (the internal contract lists at most 1000)"})
	}
	if r.Err() == nil {
		checkTokenBudget(r, c)
	}
	if len(c.RetiredKeyFiles) > 9 {
		r.Fail(&config.Error{Var: "JWT_RETIRED_PUBLIC_KEY_FILES", Problem: "at most 9 retired keys (the JWKS holds at most 10)"})
	}
	return c, r.Err()
}

// JWT_MAX_BYTES: the default, and the most it may be. The most keeps the
// whole "Authorization: Bearer ..." line within the 8 KiB nginx allows a
// header line by default (large_client_header_buffers), and so well within
// HAProxy's default 16 KiB buffer for all of a request's headers and the
// services' own 32 KiB.
const (
	DefaultMaxTokenBytes = 4096
	maxTokenBytes        = 8000
)

// checkTokenBudget refuses a JWT_MAX_BYTES that could not hold a token
// without property claims, or that no proxy would pass.
func checkTokenBudget(r *config.Reader, c Config) {
	least, err := minTokenBytes(c.JWT)
	switch {
	case err != nil:
		r.Fail(&config.Error{Var: "JWT_MAX_BYTES", Problem: err.Error()})
	case c.MaxTokenBytes < least:
		r.Fail(&config.Error{Var: "JWT_MAX_BYTES", Problem: fmt.Sprintf("must be at least %d: the longest token without "+
			"property claims (the longest email, with this JWT_ISSUER and JWT_AUDIENCE) would not fit", least)})
	case c.MaxTokenBytes > maxTokenBytes:
		r.Fail(&config.Error{Var: "JWT_MAX_BYTES", Problem: fmt.Sprintf("must be at most %d, or proxies with default "+
			"header limits (nginx: 8 KiB a line) refuse the tokens", maxTokenBytes)})
	}
}

// minTokenBytes is the length of the longest token without property claims
// the service can sign with s: an email of the 254 characters the contract
// allows, each costing the most a character can in JSON (six bytes, as
// U+2028 is escaped), the largest ids, times in the year 9999, and session
// and trace ids longer than the service makes them.
func minTokenBytes(s jwtauth.Settings) (int, error) {
	far := jwt.NewNumericDate(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	return jwtauth.TokenLength(jwtauth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: s.Issuer, Subject: fmt.Sprint(int64(math.MaxInt64)),
			Audience: jwt.ClaimStrings{s.Audience}, ExpiresAt: far, NotBefore: far, IssuedAt: far},
		UserID: math.MaxInt64, Username: strings.Repeat("\u2028", 254), TraceID: strings.Repeat("t", 64),
		SessionID: strings.Repeat("s", 64), PropertiesIncluded: true, PropertiesTruncated: true,
	})
}

// list splits a comma-separated list, dropping empty entries.
func list(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// InternalRole is what the user service does with internal calls: it calls
// the property service's internal listener, with its static token
// (INTERNAL_SERVICE_TOKEN) or its SPIFFE identity, and serves the property
// service on its own, which accepts the property service's token
// (PROPERTY_SERVICE_TOKEN; never its own) and more tokens by name
// (USER_INTERNAL_TOKENS: a rotation, other callers), or SPIFFE identities.
var InternalRole = workload.Role{
	Name:  "user-service",
	Modes: []workload.Mode{workload.Tokens, workload.SPIFFE},
	Serve: &workload.ServeRole{TokenVars: map[string]string{adapters.PropertyService: "PROPERTY_SERVICE_TOKEN"},
		MoreTokensVar: "USER_INTERNAL_TOKENS"},
	Call: []workload.CallRole{{Name: adapters.PropertyService, URLVar: "PROPERTY_SERVICE_URL", DefaultAddr: "127.0.0.1:9002",
		IDVar: "PROPERTY_SPIFFE_ID", TokenVar: "INTERNAL_SERVICE_TOKEN",
		// A token-mode user service calling a property service in
		// token+spiffe across hosts (a migration) has no TLS for that hop.
		PlainHTTPVar: "PROPERTY_SERVICE_PLAIN_HTTP"}},
	// Token mode's TLS, as the property service's: INTERNAL_TLS_CERT_FILE and
	// INTERNAL_TLS_KEY_FILE for its internal listener, INTERNAL_TLS_CA_FILE
	// to verify the property service's.
	TLS: workload.TLSVars{CertVar: "INTERNAL_TLS_CERT_FILE", KeyVar: "INTERNAL_TLS_KEY_FILE", CAVar: "INTERNAL_TLS_CA_FILE"},
}

// parseContracts reads INTERNAL_EXCHANGE_CONTRACTS: "name=path,name=path",
// each path an internal contract whose every operation carries
// x-allowed-callers and x-on-behalf-of.
func parseContracts(v string) ([]workload.CalleeContract, error) {
	paths := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		name, path, ok := strings.Cut(pair, "=")
		name, path = strings.TrimSpace(name), strings.TrimSpace(path)
		switch {
		case !ok || name == "" || path == "":
			return nil, errors.New("entries must be name=path (the callee's name, its internal contract's file)")
		case name == InternalRole.Name:
			return nil, fmt.Errorf("%s is this service: its own contract is served already", name)
		case paths[name] != "":
			return nil, fmt.Errorf("%s is named twice", name)
		}
		paths[name] = path
	}
	return workload.LoadContracts(paths)
}
