package internalauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// ErrRedirect is an internal call answered with a redirect. No internal
// operation answers one, so it comes from something else at the callee's
// address (a proxy, a misconfiguration, an attacker); following it would
// send the credential, the subject token and the body (a user's access
// token, for the exchange) to wherever it points.
var ErrRedirect = errors.New("internal call answered with a redirect; internal calls follow none")

// RefuseRedirect is the CheckRedirect of every internal client: the
// redirect is not followed, and the call fails with ErrRedirect (its target
// is not quoted: a Location is the callee's to choose, and may carry
// anything).
func RefuseRedirect(*http.Request, []*http.Request) error { return ErrRedirect }

// Subject is for whom one internal call is made: the user (the subject
// token's sub) and the callee's operationId.
type Subject struct {
	User, Operation string
	// Evidence, when set, is the user's access token, for a SubjectSource
	// that exchanges it (SubjectCache); it is never sent to the callee.
	Evidence string
}

type subjectKey struct{}

// ForSubject returns ctx carrying s: a request made with a Transport under
// it carries a subject token for s (from the Transport's Subjects) in
// X-Subject-Token, or is not sent at all.
func ForSubject(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// SubjectSource gives the subject token for one call: minted on the spot
// by the token service itself (Minter), or obtained from it by an exchange
// (SubjectCache).
type SubjectSource func(ctx context.Context, req subject.Request) (string, error)

// DefaultSubjectTTL is how long a minted subject token lives: one call,
// with its retry, and clock skew.
const DefaultSubjectTTL = 30 * time.Second

// Minter is the SubjectSource of the token service's own calls: it signs
// subject tokens itself.
func Minter(s *subject.Signer, ttl time.Duration) SubjectSource {
	return func(_ context.Context, req subject.Request) (string, error) {
		tok, _, err := s.Sign(req, ttl, time.Now())
		return tok, err
	}
}

// Transport is the client side: an http.RoundTripper that sets the
// caller's credential on every request and, on a request made under
// ForSubject, a subject token for that subject, and sends no request it
// cannot make so (no credential, no subject token: no call, and the caller
// degrades as when the callee is down). It works on a copy of each request.
type Transport struct {
	// Base sends the requests (nil: http.DefaultTransport). With SPIFFE it
	// is a transport whose TLS presents the X.509-SVID (identity.ClientTLS).
	Base http.RoundTripper
	// Credential gives the value of X-Internal-Token for a request: a
	// static token (StaticToken) or a JWT-SVID for the callee. Required.
	Credential func(ctx context.Context) (string, error)
	// Subjects gives the subject tokens (nil: a request made for a subject
	// is not sent).
	Subjects SubjectSource
	// Audience and Caller are the callee and this workload as subject
	// tokens name them: caller names with a static token, SPIFFE IDs with a
	// JWT-SVID.
	Audience, Caller string
	// UserTokens says requests may carry users' access tokens (a token
	// exchange): none goes over plain HTTP to a host other than loopback,
	// whatever URL it was given.
	UserTokens bool
	// Header, when set, adds headers of the caller's own to every request
	// (a request id).
	Header func(ctx context.Context, h http.Header)
}

// StaticToken is a Transport's Credential for a static token.
func StaticToken(secret string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		if secret == "" {
			return "", errors.New("no static token")
		}
		return secret, nil
	}
}

// ErrPlainHTTP is a request that would carry users' access tokens over plain
// HTTP to a host other than loopback: it is not sent.
var ErrPlainHTTP = errors.New("internal call refused: it carries users' access tokens, which go over plain http only to loopback")

// RoundTrip implements http.RoundTripper.
func (c *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, err
	}
	if req.Response != nil {
		// A redirect being followed: whatever the client's CheckRedirect
		// says, the credential and the body go only where they were sent.
		return fail(ErrRedirect)
	}
	if c.UserTokens && req.URL.Scheme != "https" && !LoopbackHost(req.URL.Hostname()) {
		return fail(ErrPlainHTTP)
	}
	if c.Credential == nil {
		return fail(errors.New("internal credential: none configured"))
	}
	credential, err := c.Credential(req.Context())
	if err != nil {
		return fail(fmt.Errorf("internal credential: %w", err))
	}
	var subjectToken string
	if s, ok := req.Context().Value(subjectKey{}).(Subject); ok {
		if c.Subjects == nil {
			err = errors.New("no subject token source")
		} else {
			subjectToken, err = c.Subjects(req.Context(), subject.Request{Subject: s.User, Audience: c.Audience,
				Operation: s.Operation, AuthorizedParty: c.Caller})
		}
		if err != nil {
			return fail(fmt.Errorf("subject token: %w", err))
		}
	}
	out := req.Clone(req.Context())
	out.Header.Set(Header, credential)
	if subjectToken != "" {
		out.Header.Set(SubjectHeader, subjectToken)
	}
	if c.Header != nil {
		c.Header(req.Context(), out.Header)
	}
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(out)
}

// LoopbackHost reports whether host (a URL's hostname) is a loopback
// address, or localhost: the one place a request that carries users'
// access tokens may go over plain HTTP. A service checking its configured
// URLs at start uses it too, so the two checks cannot disagree.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
