package internalauth

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"jeeves4service/services/common/config"
	"jeeves4service/services/common/internalauth/identity"
)

// Mode is INTERNAL_AUTH: which credentials internal calls carry.
type Mode string

const (
	// Tokens: static tokens only (plain HTTP or TLS).
	Tokens Mode = "token"
	// SPIFFE: only a JWT-SVID, on a mutual-TLS connection made with the same
	// workload's X.509-SVID.
	SPIFFE Mode = "spiffe"
	// Both accepts either, for a migration: a connection with a client
	// certificate is held to SPIFFE's rules, one without to the tokens'. As a
	// caller, a service in this mode uses SPIFFE towards an https:// URL and
	// its token towards an http:// one.
	Both Mode = "token+spiffe"
)

// ParseMode reads INTERNAL_AUTH; allowed lists the modes the service offers.
func ParseMode(allowed ...Mode) func(string) (Mode, error) {
	return func(v string) (Mode, error) {
		for _, m := range allowed {
			if Mode(v) == m {
				return m, nil
			}
		}
		names := make([]string, len(allowed))
		for i, m := range allowed {
			names[i] = string(m)
		}
		return "", fmt.Errorf("must be one of %s", strings.Join(names, ", "))
	}
}

// TakesTokens reports whether static tokens are accepted (or, on the calling side, sent).
func (m Mode) TakesTokens() bool { return m == Tokens || m == Both }

// TakesSPIFFE reports whether SPIFFE identities are accepted (or used).
func (m Mode) TakesSPIFFE() bool { return m == SPIFFE || m == Both }

// MinTokenLength is the shortest static token accepted in configuration.
const MinTokenLength = config.MinTokenLength

// Role is what a service does with internal calls, as its configuration
// declares it: its own name (the name other services' contracts allow it
// by, and its SPIFFE ID's path), the modes it offers, whom it serves and
// whom it calls. ReadConfig reads the variables the role names.
type Role struct {
	// Name is this service's caller name ("user-service").
	Name string
	// Modes are the INTERNAL_AUTH values the service offers; the first is
	// the default.
	Modes []Mode
	// Serve, when set, is the service's internal listener: the callers whose
	// static tokens it accepts.
	Serve *ServeRole
	// Call are the services this one calls.
	Call []CallRole
}

// ServeRole says which static tokens an internal listener accepts (in the
// modes that take tokens).
type ServeRole struct {
	// TokenVars names, per caller, the variable that holds the token it
	// presents: both services read it, one to send and one to accept.
	TokenVars map[string]string
	// MoreTokensVar, when set, names a variable of more accepted tokens,
	// "name=token,name=token" (rotation, and callers other than the services).
	MoreTokensVar string
}

// CallRole is one service this one calls.
type CallRole struct {
	// Name is the callee's name (its SPIFFE ID's path).
	Name string
	// URLVar holds the base URL of its internal listener, DefaultAddr the
	// host:port when it is unset.
	URLVar, DefaultAddr string
	// IDVar holds the SPIFFE ID the callee must present (default: Name in
	// this service's own trust domain).
	IDVar string
	// TokenVar holds the static token this service presents to it.
	TokenVar string
}

// Config is a service's internal-call security as read from its
// environment, every cross-check done: what INTERNAL_AUTH means for it.
type Config struct {
	// Name is the service's own caller name.
	Name string
	// Mode is INTERNAL_AUTH.
	Mode Mode
	// Accepted are the static tokens the internal listener accepts (the
	// modes that take tokens).
	Accepted []Token
	// Identity is where the service's SPIFFE identity comes from.
	Identity identity.Config
	// Callees are the services this one calls.
	Callees []Callee
}

// Callee is how this service reaches one other service's internal listener.
type Callee struct {
	Name string
	// URL is the internal listener's base URL (https:// when SPIFFE is used).
	URL string
	// ID is the SPIFFE ID the callee must present; zero: Name in this
	// service's trust domain.
	ID spiffeid.ID
	// Token is the static token this service presents ("" when it presents
	// a JWT-SVID instead).
	Token string
}

// UsesSPIFFE reports whether calls to c are made with this service's SPIFFE
// identity (mutual TLS and a JWT-SVID) rather than its static token.
func (c Callee) UsesSPIFFE() bool { return c.Token == "" }

// Callee returns the callee called name.
func (c Config) Callee(name string) (Callee, bool) {
	for _, x := range c.Callees {
		if x.Name == name {
			return x, true
		}
	}
	return Callee{}, false
}

// ReadConfig reads INTERNAL_AUTH and every variable role names, once, with
// the cross-checks that keep a mode honest: a mode that takes tokens needs
// them (at least MinTokenLength characters), a mode that does not refuses
// one left set (a static secret still configured would be a credential
// nobody checks is gone), and SPIFFE towards a callee needs an https:// URL.
func ReadConfig(r *config.Reader, role Role) Config {
	c := Config{Name: role.Name,
		Mode:     config.Parse(r, "INTERNAL_AUTH", string(role.Modes[0]), ParseMode(role.Modes...)),
		Identity: identity.ReadConfig(r, role.Name)}
	if r.Err() != nil {
		return c
	}
	if role.Serve != nil {
		c.Accepted = accepted(r, c.Mode, *role.Serve)
	}
	for _, call := range role.Call {
		c.Callees = append(c.Callees, callee(r, c.Mode, call))
	}
	refuseOwnToken(r, role, c)
	return c
}

// refuseOwnToken fails when a token this service accepts is one it presents
// to another: one secret for both directions would let whoever holds the
// caller's copy call this service as the callee's caller, and each service's
// token must work only at the service it is for.
func refuseOwnToken(r *config.Reader, role Role, c Config) {
	accepts := &checker{tokens: c.Accepted} // the guard's own constant-time match
	for i, callee := range c.Callees {
		if _, ok := accepts.Match(callee.Token); ok {
			r.Fail(&config.Error{Var: role.Call[i].TokenVar,
				Problem: "must differ from every token this service accepts (one secret per caller and direction)"})
			return
		}
	}
}

// accepted reads the tokens an internal listener accepts.
func accepted(r *config.Reader, mode Mode, s ServeRole) []Token {
	callers := slices.Sorted(maps.Keys(s.TokenVars))
	var vars []string
	for _, caller := range callers {
		vars = append(vars, s.TokenVars[caller])
	}
	if s.MoreTokensVar != "" {
		vars = append(vars, s.MoreTokensVar)
	}
	if !mode.TakesTokens() {
		refuseSet(r, mode, vars...)
		return nil
	}
	var out []Token
	for _, caller := range callers {
		name := s.TokenVars[caller]
		secret := r.Secret(name, MinTokenLength)
		if r.Err() != nil {
			return nil
		}
		t, err := NewToken(caller, secret)
		if err != nil {
			r.Fail(&config.Error{Var: name, Problem: err.Error()})
			return nil
		}
		out = append(out, t)
	}
	if s.MoreTokensVar != "" {
		more, err := ParseTokens(r.Raw(s.MoreTokensVar))
		if err != nil {
			r.Fail(&config.Error{Var: s.MoreTokensVar, Problem: err.Error()})
		}
		out = append(out, more...)
	}
	return out
}

// callee reads how this service reaches one callee.
func callee(r *config.Reader, mode Mode, call CallRole) Callee {
	scheme := "http://"
	if mode == SPIFFE {
		scheme = "https://"
	}
	c := Callee{Name: call.Name, URL: r.String(call.URLVar, scheme+call.DefaultAddr)}
	if call.IDVar != "" {
		c.ID = config.Parse(r, call.IDVar, "", parseOptionalID)
	}
	https := strings.HasPrefix(c.URL, "https://")
	switch {
	case r.Err() != nil:
	case !https && !strings.HasPrefix(c.URL, "http://"):
		r.Fail(&config.Error{Var: call.URLVar, Problem: "must be an http:// or https:// URL"})
	case mode == SPIFFE && !https:
		r.Fail(&config.Error{Var: call.URLVar, Problem: "must be an https:// URL with INTERNAL_AUTH=spiffe (mutual TLS)"})
	case mode == SPIFFE || (mode == Both && https):
		refuseSet(r, mode, call.TokenVar)
	default:
		c.Token = r.Secret(call.TokenVar, MinTokenLength)
	}
	return c
}

// refuseSet fails for each of vars that is set: mode does not use it.
func refuseSet(r *config.Reader, mode Mode, vars ...string) {
	for _, name := range vars {
		if r.Raw(name) != "" {
			r.Fail(&config.Error{Var: name, Problem: "is not used with INTERNAL_AUTH=" + string(mode) + "; unset it"})
		}
	}
}

// parseOptionalID reads a SPIFFE ID, or "" for none.
func parseOptionalID(v string) (spiffeid.ID, error) {
	if v == "" {
		return spiffeid.ID{}, nil
	}
	id, err := spiffeid.FromString(v)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("not a SPIFFE ID: %w", err)
	}
	return id, nil
}
