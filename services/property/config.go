package property

import (
	"net/netip"
	"time"

	"jeeves4service/services/common/config"
	"jeeves4service/services/common/database"
	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/common/ratelimit"
	"jeeves4service/services/common/tokenguard"
)

// Config is the property service's runtime contract (the README's Runtime
// configuration lists every variable).
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
	// Limits says where budgets live (Redis when REDIS_URL is set).
	Limits ratelimit.Backend
}

// DefaultTokenFailures is 10 wrong tokens per client IP per minute.
var DefaultTokenFailures = ratelimit.Budget{Count: 10, Window: time.Minute}

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
	if c.DatabaseURL, err = config.Parsed(getenv, "PROPERTY_DATABASE_URL", "sqlite:./data/property.db", database.CheckURL); err != nil {
		return c, err
	}
	if c.Tokens, err = tokens(getenv); err != nil {
		return c, err
	}
	c.JWKSURL = config.String(getenv, "JWT_JWKS_URL", "http://127.0.0.1:8001/.well-known/jwks.json")
	if c.JWKSRefresh, err = config.Duration(getenv, "JWT_JWKS_REFRESH", jwtauth.DefaultJWKSInterval); err != nil {
		return c, err
	}
	c.JWT = jwtauth.Settings{Issuer: config.String(getenv, "JWT_ISSUER", "jeeves4service"),
		Audience: config.String(getenv, "JWT_AUDIENCE", "jeeves4service")}
	if c.Trusted, err = config.Prefixes(getenv, "TRUSTED_PROXIES"); err != nil {
		return c, err
	}
	if c.TokenFailures, err = config.Parsed(getenv, "INTERNAL_TOKEN_FAILURE_LIMIT", DefaultTokenFailures.String(),
		ratelimit.ParseBudget); err != nil {
		return c, err
	}
	if c.Limits, err = config.Parsed(getenv, "REDIS_URL", "", func(url string) (ratelimit.Backend, error) {
		return ratelimit.ParseRedisURL(url, config.String(getenv, "REDIS_KEY_PREFIX", "jeeves4service:"))
	}); err != nil {
		return c, err
	}
	return c, nil
}

// tokens reads INTERNAL_SERVICE_TOKEN (required, caller name "default") and
// INTERNAL_SERVICE_TOKENS ("name=token,name=token", optional).
func tokens(getenv config.Getenv) ([]tokenguard.Token, error) {
	primary, err := config.Secret(getenv, "INTERNAL_SERVICE_TOKEN", tokenguard.MinTokenLength)
	if err != nil {
		return nil, err
	}
	first, err := tokenguard.NewToken("default", primary)
	if err != nil {
		return nil, &config.Error{Var: "INTERNAL_SERVICE_TOKEN", Problem: err.Error()}
	}
	more, err := tokenguard.ParseTokens(getenv("INTERNAL_SERVICE_TOKENS"), first.Name)
	if err != nil {
		return nil, &config.Error{Var: "INTERNAL_SERVICE_TOKENS", Problem: err.Error()}
	}
	return append([]tokenguard.Token{first}, more...), nil
}
