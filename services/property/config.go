package property

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/metrics"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/common/tracing"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property/adapters"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// Config is the property service's runtime contract (docs/operations.md
// lists every variable; a test checks it does).
type Config struct {
	PublicAddr   string
	InternalAddr string
	// AdminAddr is the admin listener (/metrics, profiling); "" runs none
	// (a Config built in code, in tests).
	AdminAddr   string
	DatabaseURL string
	// Internal is what the internal listener accepts and how the service
	// calls the user service's (its mode and credentials, see internalauth);
	// UserCalls what one list may spend on the profiles call.
	Internal  workload.Config
	UserCalls upstream.Settings
	JWKSURL   string
	// JWKSRefresh is how often the JWKS is fetched again (a shorter max-age wins).
	JWKSRefresh time.Duration
	JWT         jwtauth.Settings
	// Trusted are the proxies whose X-Forwarded-For the public listener
	// believes, InternalTrusted those the internal listener believes (none
	// unless set: its callers connect directly, and a proxy trusted there
	// lets whoever can reach it choose the client IP of its failure budget).
	Trusted, InternalTrusted []netip.Prefix
	// TokenFailures is the budget of wrong X-Internal-Token attempts per client
	// IP, or per SPIFFE ID on a connection with a client certificate.
	TokenFailures ratelimit.Budget
	// RequestLimit is the general budget per client on the public listener
	// (zero: none), InternalRequestLimit per caller on the internal one.
	RequestLimit, InternalRequestLimit ratelimit.Budget
	// SubjectLimit is the budget of each (internal operation, subject):
	// INTERNAL_SUBJECT_LIMIT.
	SubjectLimit ratelimit.Budget
	// InvitationsPerOwner and InvitationsPerProperty bound the invitations
	// sent, InvitationsPerInvitee those one inviter sends one address (zero:
	// the defaults; ratelimit.Off: none, for tests that fill a property).
	InvitationsPerOwner, InvitationsPerProperty, InvitationsPerInvitee ratelimit.Budget
	// RefusalDelay is how long the public listener holds a 429 (REFUSAL_DELAY;
	// zero: none), see ratelimit.Tarpit.
	RefusalDelay time.Duration
	// CORSOrigins may call the public listener from a browser page (none by default).
	CORSOrigins []string
	// Limits says where budgets live (Redis when REDIS_URL is set).
	Limits ratelimit.Backend
	// TraceEndpoint is where spans go (OTLP/HTTP); "" turns tracing off.
	TraceEndpoint string
	// Metrics off stops recording (METRICS=off: to measure what they cost).
	MetricsOff bool
	// Profiler serves /debug/pprof/ on the admin listener (PPROF=on; off by default).
	Profiler bool
	// Mail is how invitations are mailed (SMTP_URL and its companions).
	Mail adapters.MailSettings
	// Mailer, when set (in code: tests), sends invitations instead of the
	// one Mail describes.
	Mailer app.Mailer
}

// DefaultSMTPTimeout bounds one invitation mail; the request that sends it
// waits for it (a listener's write timeout is 30 s).
const DefaultSMTPTimeout = 10 * time.Second

// Default budgets: 10 wrong internal tokens per client IP per minute; 600
// public requests per client per minute; 60,000 internal calls per caller per
// minute (a login or a refresh makes one).
var (
	DefaultTokenFailures        = ratelimit.Budget{Count: 10, Window: time.Minute}
	DefaultRequestLimit         = ratelimit.Budget{Count: 600, Window: time.Minute}
	DefaultInternalRequestLimit = ratelimit.Budget{Count: 60000, Window: time.Minute}
	// DefaultSubjectLimit: a user's logins and refreshes, with room to spare.
	DefaultSubjectLimit = ratelimit.Budget{Count: 120, Window: time.Minute}
	// 20 invitations per owner and per property per day: a household invites
	// a handful of people; a flood of invitations to strangers stops early.
	DefaultInvitationsPerOwner    = ratelimit.Budget{Count: 20, Window: 24 * time.Hour}
	DefaultInvitationsPerProperty = ratelimit.Budget{Count: 20, Window: 24 * time.Hour}
	// 3 invitations a day from one inviter to one address: a household asks
	// someone into its few homes once each; six throwaway accounts with 20
	// properties each put 18 invitations in a victim's list, not 120.
	DefaultInvitationsPerInvitee = ratelimit.Budget{Count: 3, Window: 24 * time.Hour}
)

// The exchanged subject tokens of the profiles calls.
const (
	// SubjectTokenMargin: an exchanged subject token is replaced this long
	// before it expires, so that it outlives its call and its retry.
	SubjectTokenMargin = 10 * time.Second
	// SubjectTokenCacheEntries bound the exchanged tokens kept (one per user
	// using the service in the last minute; the cache starts over when full).
	SubjectTokenCacheEntries = 10000
)

// LoadConfig reads the environment; every error is a *config.Error.
func LoadConfig(getenv config.Getenv) (Config, error) {
	r := config.NewReader(getenv)
	c := Config{
		PublicAddr:   r.Addr("PROPERTY_PUBLIC_ADDR", "127.0.0.1:8002"),
		InternalAddr: r.Addr("PROPERTY_INTERNAL_ADDR", "127.0.0.1:9002"),
		AdminAddr:    r.Addr("PROPERTY_ADMIN_ADDR", "127.0.0.1:9102"),
		DatabaseURL:  config.Parse(r, "PROPERTY_DATABASE_URL", "sqlite:./data/property.db", database.CheckURL),
		Internal:     workload.ReadConfig(r, InternalRole),
		JWKSURL:      r.String("JWT_JWKS_URL", "http://127.0.0.1:8001/.well-known/jwks.json"),
		JWKSRefresh:  r.Duration("JWT_JWKS_REFRESH", jwtauth.DefaultJWKSInterval),
		JWT: jwtauth.Settings{Issuer: r.String("JWT_ISSUER", "jeeves4service"),
			Audience: r.String("JWT_AUDIENCE", "jeeves4service")},
		Trusted:         r.Prefixes("TRUSTED_PROXIES"),
		InternalTrusted: r.Prefixes("INTERNAL_TRUSTED_PROXIES"),
		TokenFailures:   config.Parse(r, "INTERNAL_TOKEN_FAILURE_LIMIT", DefaultTokenFailures.String(), ratelimit.ParseBudget),
		RequestLimit:    config.Parse(r, "REQUEST_LIMIT", DefaultRequestLimit.String(), ratelimit.ParseBudgetOrOff),
		RefusalDelay:    config.Parse(r, "REFUSAL_DELAY", ratelimit.DefaultRefusalDelay.String(), config.Delay),
		InternalRequestLimit: config.Parse(r, "INTERNAL_REQUEST_LIMIT", DefaultInternalRequestLimit.String(),
			ratelimit.ParseBudgetOrOff),
		SubjectLimit: config.Parse(r, "INTERNAL_SUBJECT_LIMIT", DefaultSubjectLimit.String(), ratelimit.ParseBudgetOrOff),
		InvitationsPerOwner: config.Parse(r, "INVITATION_LIMIT_PER_OWNER", DefaultInvitationsPerOwner.String(),
			ratelimit.ParseBudgetOrOff),
		InvitationsPerProperty: config.Parse(r, "INVITATION_LIMIT_PER_PROPERTY", DefaultInvitationsPerProperty.String(),
			ratelimit.ParseBudgetOrOff),
		InvitationsPerInvitee: config.Parse(r, "INVITATION_LIMIT_PER_INVITEE", DefaultInvitationsPerInvitee.String(),
			ratelimit.ParseBudgetOrOff),
		CORSOrigins: config.Parse(r, "CORS_ALLOWED_ORIGINS", "", router.ParseOrigins),
		Limits:      config.Parse(r, "REDIS_URL", "", ratelimit.RedisURLParser(r.String("REDIS_KEY_PREFIX", "jeeves4service:"))),
	}
	checkJWKSURL(r, c.JWKSURL, config.Parse(r, "JWT_JWKS_PLAIN_HTTP", "refuse", parsePlainHTTP))
	c.UserCalls = upstream.Settings{
		Budget:         r.Duration("USER_CALL_TIMEOUT", upstream.DefaultBudget),
		FailuresToOpen: uint32(r.Int("USER_BREAKER_FAILURES", upstream.DefaultFailuresToOpen)),
		OpenFor:        r.Duration("USER_BREAKER_OPEN", upstream.DefaultOpenFor),
	}
	c.Limits.Timeout = r.Duration("REDIS_TIMEOUT", ratelimit.DefaultRedisTimeout)
	c.TraceEndpoint = tracing.Endpoint(r)
	c.MetricsOff = config.Parse(r, "METRICS", "on", metrics.ParseSwitch)
	c.Profiler = config.Parse(r, "PPROF", "off", config.Switch)
	c.Mail = readMail(r)
	return c, r.Err()
}

// readMail reads how invitations are mailed. With SMTP_URL set, SMTP_FROM
// and INVITATION_URL are required; a password in SMTP_URL needs TLS that
// cannot be stripped (SMTP_TLS=mandatory, or smtps://); MAIL_TO_LOG, which
// writes every secret to the log, is refused beside a mail server.
func readMail(r *config.Reader) adapters.MailSettings {
	m := adapters.MailSettings{
		SMTP:          config.Parse(r, "SMTP_URL", "", adapters.ParseSMTPURL),
		From:          config.Parse(r, "SMTP_FROM", "", parseFrom),
		TLS:           config.Parse(r, "SMTP_TLS", string(adapters.TLSMandatory), adapters.ParseTLSPolicy),
		Timeout:       r.Duration("SMTP_TIMEOUT", DefaultSMTPTimeout),
		InvitationURL: config.Parse(r, "INVITATION_URL", "", adapters.ParseInvitationURL),
		ToLog:         config.Parse(r, "MAIL_TO_LOG", "off", config.Switch),
	}
	if r.Err() != nil {
		return m
	}
	switch {
	case m.Timeout <= 0:
		r.Fail(&config.Error{Var: "SMTP_TIMEOUT", Problem: "must be positive"})
	case m.SMTP == nil:
		return m
	case m.ToLog:
		r.Fail(&config.Error{Var: "MAIL_TO_LOG", Problem: "must be off when SMTP_URL is set: it writes every invitation's secret to the log"})
	case m.From == "":
		r.Fail(&config.Error{Var: "SMTP_FROM", Problem: "is required with SMTP_URL: the address invitations come from"})
	case m.InvitationURL == "":
		r.Fail(&config.Error{Var: "INVITATION_URL", Problem: "is required with SMTP_URL: the page an invitation's link opens"})
	case m.SMTP.User != nil && m.SMTP.Scheme == "smtp" && m.TLS != adapters.TLSMandatory:
		r.Fail(&config.Error{Var: "SMTP_TLS", Problem: "must be mandatory (or SMTP_URL smtps://) when SMTP_URL carries a user: " +
			"the password would cross the network in clear text"})
	}
	return m
}

// parseFrom reads SMTP_FROM: one address, optionally with a name.
func parseFrom(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if _, err := mail.ParseAddress(v); err != nil {
		return "", fmt.Errorf("must be an email address (e.g. Jeeves <no-reply@example.com>): %w", err)
	}
	return v, nil
}

// PrimaryCaller is the caller name of INTERNAL_SERVICE_TOKEN: the user
// service, the one caller the internal contract allows today.
const PrimaryCaller = "user-service"

// InternalRole is what the property service does with internal calls: it
// serves the user service on its internal listener, which accepts the user
// service's static token (INTERNAL_SERVICE_TOKEN) and more tokens by name
// (INTERNAL_SERVICE_TOKENS), or SPIFFE identities, or both for a migration;
// and it calls the user service's internal listener for profiles, with its
// own token (PROPERTY_SERVICE_TOKEN) or its SPIFFE identity. In token mode
// its internal listener speaks TLS when given a certificate.
var InternalRole = workload.Role{
	Name:  "property-service",
	Modes: []workload.Mode{workload.Tokens, workload.SPIFFE, workload.Both},
	Serve: &workload.ServeRole{TokenVars: map[string]string{PrimaryCaller: "INTERNAL_SERVICE_TOKEN"},
		MoreTokensVar: "INTERNAL_SERVICE_TOKENS"},
	// Its calls to the user service carry users' access tokens (the token
	// exchange): over TLS, or plain http to a loopback host only.
	Call: []workload.CallRole{{Name: PrimaryCaller, URLVar: "USER_SERVICE_INTERNAL_URL", DefaultAddr: "127.0.0.1:9001",
		IDVar: "USER_SPIFFE_ID", TokenVar: "PROPERTY_SERVICE_TOKEN", UserTokens: true}},
	// Token mode's TLS, the same names on both services: the internal
	// listener's certificate and key, and the CA the user service's
	// certificate is verified against.
	TLS: workload.TLSVars{CertVar: "INTERNAL_TLS_CERT_FILE", KeyVar: "INTERNAL_TLS_KEY_FILE", CAVar: "INTERNAL_TLS_CA_FILE"},
}

// checkJWKSURL refuses a JWKS fetched over plain http from another host:
// anyone on the path (a pod on the node, a spoofed DNS answer) could serve
// their own key and sign any token. https is verified against the system's
// CA bundle (the images carry one). Plain http is accepted for a loopback
// host (nothing on the path), or with JWT_JWKS_PLAIN_HTTP=allow, which says
// out loud that the network between the services is trusted (a developer's
// cluster, network namespaces in a test).
func checkJWKSURL(r *config.Reader, raw string, plainHTTP bool) {
	if r.Err() != nil {
		return
	}
	u, err := url.Parse(raw)
	ok := err == nil && u.Host != ""
	if ok && u.Scheme == "http" && !plainHTTP {
		host := u.Hostname()
		addr, err := netip.ParseAddr(host)
		ok = host == "localhost" || err == nil && addr.IsLoopback()
	} else if ok {
		ok = u.Scheme == "https" || u.Scheme == "http"
	}
	if !ok {
		r.Fail(&config.Error{Var: "JWT_JWKS_URL", Problem: "must be an https:// URL (plain http only to a loopback host, or with " +
			"JWT_JWKS_PLAIN_HTTP=allow): over plain http anyone on the path can serve their own key and sign any token"})
	}
}

// parsePlainHTTP reads JWT_JWKS_PLAIN_HTTP: refuse (the default) or allow.
func parsePlainHTTP(v string) (bool, error) {
	switch v {
	case "refuse":
		return false, nil
	case "allow":
		return true, nil
	}
	return false, fmt.Errorf("must be refuse or allow, got %q", v)
}
