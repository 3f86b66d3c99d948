package workload

import (
	"crypto/tls"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/config"
)

// Mode is INTERNAL_AUTH: which credentials internal calls carry.
type Mode string

const (
	// Tokens: static tokens only, over TLS when the internal listener has a
	// certificate (Role.TLS), plain HTTP otherwise; a call that carries
	// users' access tokens goes over plain HTTP only to a loopback host.
	Tokens Mode = "token"
	// SPIFFE: only a JWT-SVID, on a mutual-TLS connection made with the same
	// workload's X.509-SVID.
	SPIFFE Mode = "spiffe"
	// Both accepts either, for a migration: a connection with a client
	// certificate is held to SPIFFE's rules, one without to the tokens'. As a
	// caller, a service in this mode uses its token when one is set for the
	// callee (towards an https:// URL over TLS verified as in token mode, the
	// other side of a migration that has not started yet) and SPIFFE when none
	// is (an https:// URL).
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
const MinTokenLength = internalauth.MinTokenLength

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
	// TLS names the variables of token mode's TLS (spiffe's is the SVIDs').
	TLS TLSVars
}

// TLSVars name the variables of token mode's TLS. A static token, and a
// user's access token in an exchange's body, cross a network only inside
// TLS: the internal listener presents a certificate, its callers verify it.
type TLSVars struct {
	// CertVar and KeyVar hold the files (PEM) of the internal listener's
	// certificate chain and private key; with them it speaks only TLS.
	CertVar, KeyVar string
	// CAVar holds the file (PEM) of the CA certificates an https:// callee's
	// certificate is verified against (unset: the system's).
	CAVar string
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
	// UserTokens says calls to it carry users' access tokens (the token
	// exchange's body): they go over TLS, or over plain HTTP only to a
	// loopback host, where nobody else is on the path.
	UserTokens bool
	// PlainHTTPVar, for a callee whose calls carry no user's access token,
	// names the variable that allows plain HTTP to a host other than
	// loopback (value "allow": a migration across hosts, said out loud).
	// Without it, every callee in token mode is over TLS or on loopback.
	PlainHTTPVar string
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
	Accepted []internalauth.Token
	// Identity is where the service's SPIFFE identity comes from.
	Identity identity.Config
	// Callees are the services this one calls.
	Callees []Callee
	// TLS is token mode's TLS: the internal listener's certificate, and the
	// CA an https:// callee reached with a token is verified against.
	TLS TLSFiles
}

// TLSFiles are the files of token mode's TLS (read at start, checked by
// ReadConfig); empty names mean none.
type TLSFiles struct {
	// CertFile and KeyFile: the internal listener's certificate chain and key
	// (both or neither; only in token mode).
	CertFile, KeyFile string
	// CAFile: the CA certificates a callee's certificate is verified against
	// when it is reached with a token over https:// ("" : the system's).
	CAFile string
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
	// UserTokens: its calls carry users' access tokens (CallRole.UserTokens).
	UserTokens bool
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
// nobody checks is gone), SPIFFE towards a callee needs an https:// URL,
// and a callee whose calls carry users' access tokens is reached over TLS or
// on loopback.
func ReadConfig(r *config.Reader, role Role) Config {
	if len(role.Modes) == 0 {
		// A role that offers no mode is a programming error of the service,
		// reported as a configuration error rather than a panic.
		r.Fail(&config.Error{Var: "INTERNAL_AUTH", Problem: "the service " + role.Name + " offers no mode (Role.Modes is empty)"})
		return Config{Name: role.Name}
	}
	c := Config{Name: role.Name,
		Mode:     config.Parse(r, "INTERNAL_AUTH", string(role.Modes[0]), ParseMode(role.Modes...)),
		Identity: readIdentity(r, role.Name)}
	if r.Err() != nil {
		return c
	}
	if role.Serve != nil {
		c.Accepted = accepted(r, c.Mode, *role.Serve)
	}
	c.TLS = readTLS(r, c.Mode, role.TLS)
	for _, call := range role.Call {
		c.Callees = append(c.Callees, callee(r, c.Mode, call, role.TLS.CAVar))
	}
	refuseOwnToken(r, role, c)
	return c
}

// refuseOwnToken fails when a token this service accepts is one it presents
// to another: one secret for both directions would let whoever holds the
// caller's copy call this service as the callee's caller, and each service's
// token must work only at the service it is for.
func refuseOwnToken(r *config.Reader, role Role, c Config) {
	for i, callee := range c.Callees {
		if callee.Token != "" && slices.ContainsFunc(c.Accepted, func(t internalauth.Token) bool { return t.Matches(callee.Token) }) {
			r.Fail(&config.Error{Var: role.Call[i].TokenVar,
				Problem: "must differ from every token this service accepts (one secret per caller and direction)"})
			return
		}
	}
}

// accepted reads the tokens an internal listener accepts.
func accepted(r *config.Reader, mode Mode, s ServeRole) []internalauth.Token {
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
	var out []internalauth.Token
	for _, caller := range callers {
		name := s.TokenVars[caller]
		secret := r.Secret(name, MinTokenLength)
		if r.Err() != nil {
			return nil
		}
		t, err := internalauth.NewToken(caller, secret)
		if err != nil {
			r.Fail(&config.Error{Var: name, Problem: err.Error()})
			return nil
		}
		out = append(out, t)
	}
	if s.MoreTokensVar != "" {
		more, err := internalauth.ParseTokens(r.Raw(s.MoreTokensVar))
		if err != nil {
			r.Fail(&config.Error{Var: s.MoreTokensVar, Problem: err.Error()})
		}
		out = append(out, more...)
	}
	return out
}

// callee reads how this service reaches one callee; caVar names the
// variable that verifies it over https:// with a token (for the message).
func callee(r *config.Reader, mode Mode, call CallRole, caVar string) Callee {
	scheme := "http://"
	if mode == SPIFFE {
		scheme = "https://"
	}
	c := Callee{Name: call.Name, URL: r.String(call.URLVar, scheme+call.DefaultAddr), UserTokens: call.UserTokens}
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
	case !https && !loopbackURL(c.URL) && (call.UserTokens || call.PlainHTTPVar == "" || r.String(call.PlainHTTPVar, "refuse") != "allow"):
		// The JWT_JWKS_URL rule, without its escape hatch, for every callee:
		// a user's access token read off the path is that user's session for
		// its lifetime, and an answer rewritten on the path is what the
		// caller believes of its users (the claims call's answer becomes
		// access-token claims and the memberships the profiles call trusts).
		verified := "the system's CAs"
		if caVar != "" {
			verified = caVar + ", or the system's CAs"
		}
		why := "its answers become what this service believes of its users (property claims, memberships), " +
			"which anyone on the path could rewrite"
		if call.PlainHTTPVar != "" {
			why += " (" + call.PlainHTTPVar + "=allow accepts it for a migration across hosts)"
		}
		if call.UserTokens {
			why = "its calls carry users' access tokens (the token exchange), which anyone on the path could read and use"
		}
		r.Fail(&config.Error{Var: call.URLVar, Problem: "must be an https:// URL (verified with " + verified +
			"), or plain http only to a loopback host: " + why})
	case mode == SPIFFE || (mode == Both && https && r.Raw(call.TokenVar) == ""):
		refuseSet(r, mode, call.TokenVar)
	default:
		c.Token = r.Secret(call.TokenVar, MinTokenLength)
	}
	return c
}

// readTLS reads token mode's TLS files and loads them once, so that a file
// that is missing or not what it should be stops the service at start naming
// its variable. spiffe's TLS is the SVIDs': the listener's files are refused
// in the modes that use it, and so is the CA in spiffe mode (token+spiffe
// may still call a callee with a token over https://).
func readTLS(r *config.Reader, mode Mode, v TLSVars) TLSFiles {
	if v.CertVar == "" || r.Err() != nil {
		return TLSFiles{}
	}
	if mode != Tokens {
		refuseSet(r, mode, v.CertVar, v.KeyVar)
		if mode == SPIFFE {
			refuseSet(r, mode, v.CAVar)
		}
	}
	f := TLSFiles{CertFile: r.String(v.CertVar, ""), KeyFile: r.String(v.KeyVar, ""), CAFile: r.String(v.CAVar, "")}
	switch {
	case r.Err() != nil:
		return TLSFiles{}
	case f.CertFile != "" && f.KeyFile == "":
		r.Fail(&config.Error{Var: v.KeyVar, Problem: "is required when " + v.CertVar + " is set (the certificate's private key)"})
	case f.KeyFile != "" && f.CertFile == "":
		r.Fail(&config.Error{Var: v.CertVar, Problem: "is required when " + v.KeyVar + " is set (the key's certificate)"})
	case f.CertFile != "":
		if _, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile); err != nil {
			r.Fail(&config.Error{Var: v.CertVar, Problem: "does not load as a certificate with " + v.KeyVar + " as its key: " +
				err.Error()})
		}
	}
	if f.CAFile != "" {
		if _, err := loadCAs(f.CAFile); err != nil {
			r.Fail(&config.Error{Var: v.CAVar, Problem: err.Error()})
		}
	}
	return f
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

// readIdentity reads SPIFFE_ENDPOINT_SOCKET and SPIFFE_DIR (default
// ./data/identity/<service>, where `user-service identity init` puts that
// service's files).
func readIdentity(r *config.Reader, service string) identity.Config {
	c := identity.Config{Socket: r.String("SPIFFE_ENDPOINT_SOCKET", ""), Dir: r.String("SPIFFE_DIR", "./data/identity/"+service)}
	if c.Socket != "" && !strings.HasPrefix(c.Socket, "unix://") && !strings.HasPrefix(c.Socket, "tcp://") {
		r.Fail(&config.Error{Var: "SPIFFE_ENDPOINT_SOCKET", Problem: "must be a unix:// or tcp:// address"})
	}
	return c
}
