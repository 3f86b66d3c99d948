package user

import (
	"net/netip"
	"strings"
	"time"

	"jeeves4service/services/common/config"
	"jeeves4service/services/common/database"
	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/common/ratelimit"
	"jeeves4service/services/user/adapters"
)

// Config is the user service's runtime contract (the README's Runtime
// configuration lists every variable).
type Config struct {
	PublicAddr        string
	DatabaseURL       string
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
	// Limits says where budgets live (Redis when REDIS_URL is set).
	Limits ratelimit.Backend
}

// Default budgets (each is also the variable's default in LoadConfig).
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
	if c.DatabaseURL, err = config.Parsed(getenv, "USER_DATABASE_URL", "sqlite:./data/user.db", database.CheckURL); err != nil {
		return c, err
	}
	if c.Property, err = propertyClient(getenv); err != nil {
		return c, err
	}
	c.SigningKeyFile = config.String(getenv, "JWT_SIGNING_KEY_FILE", "./data/jwt-ed25519.pem")
	for _, f := range strings.Split(getenv("JWT_RETIRED_PUBLIC_KEY_FILES"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.RetiredKeyFiles = append(c.RetiredKeyFiles, f)
		}
	}
	c.JWT = jwtauth.Settings{Issuer: config.String(getenv, "JWT_ISSUER", "jeeves4service"),
		Audience: config.String(getenv, "JWT_AUDIENCE", "jeeves4service")}
	if c.TTL, err = config.Duration(getenv, "JWT_TTL", defaultTTL); err != nil {
		return c, err
	}
	if c.Trusted, err = config.Prefixes(getenv, "TRUSTED_PROXIES"); err != nil {
		return c, err
	}
	if c.MaxPropertyClaims, err = config.Int(getenv, "JWT_MAX_PROPERTY_CLAIMS", 100); err != nil {
		return c, err
	}
	for _, b := range []struct {
		into *ratelimit.Budget
		name string
		def  ratelimit.Budget
	}{
		{&c.LoginPerIP, "LOGIN_FAILURE_LIMIT_PER_IP", DefaultLoginPerIP},
		{&c.LoginPerEmail, "LOGIN_FAILURE_LIMIT_PER_EMAIL", DefaultLoginPerEmail},
		{&c.RegisterPerIP, "REGISTER_LIMIT_PER_IP", DefaultRegisterPerIP},
		{&c.PasswordChangePerUser, "PASSWORD_CHANGE_FAILURE_LIMIT", DefaultPasswordChangePerUser},
	} {
		if *b.into, err = config.Parsed(getenv, b.name, b.def.String(), ratelimit.ParseBudget); err != nil {
			return c, err
		}
	}
	if c.Limits, err = config.Parsed(getenv, "REDIS_URL", "", func(url string) (ratelimit.Backend, error) {
		return ratelimit.ParseRedisURL(url, config.String(getenv, "REDIS_KEY_PREFIX", "jeeves4service:"))
	}); err != nil {
		return c, err
	}
	return c, nil
}

// propertyClient reads how logins reach the property service: its internal
// URL, the internal token, and what one login may spend on it.
func propertyClient(getenv config.Getenv) (adapters.PropertyClientConfig, error) {
	var p adapters.PropertyClientConfig
	var err error
	if p.Token, err = config.Secret(getenv, "INTERNAL_SERVICE_TOKEN", config.MinTokenLength); err != nil {
		return p, err
	}
	p.BaseURL = config.String(getenv, "PROPERTY_SERVICE_URL", "http://127.0.0.1:9002")
	if !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
		return p, &config.Error{Var: "PROPERTY_SERVICE_URL", Problem: "must be an http:// or https:// URL"}
	}
	if p.Budget, err = config.Duration(getenv, "PROPERTY_CALL_TIMEOUT", defaultBudget); err != nil {
		return p, err
	}
	failures, err := config.Int(getenv, "PROPERTY_BREAKER_FAILURES", 5)
	if err != nil {
		return p, err
	}
	p.FailuresToOpen = uint32(failures)
	p.OpenFor, err = config.Duration(getenv, "PROPERTY_BREAKER_OPEN", defaultOpenFor)
	return p, err
}
