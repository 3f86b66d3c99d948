package internalauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/jeeves4service/jeeves4service/services/common/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// Client returns the HTTP client this workload calls the service named
// callee with, and the base URL of callee's internal listener. Every request
// it sends carries the workload's credential in X-Internal-Token (its static
// token, or a JWT-SVID for callee's SPIFFE ID, fetched again once half
// spent) and the request id of the call it is made for; in the modes that use
// SPIFFE its connections are mutual TLS with the workload's X.509-SVID and
// accept no server but callee's SPIFFE ID. The credential never travels in a
// URL. timeout bounds each request; wrap, when set, wraps the connections'
// transport (tracing's client spans).
func (w *Workload) Client(callee string, timeout time.Duration,
	wrap func(http.RoundTripper) http.RoundTripper) (*http.Client, string, error) {
	c, ok := w.cfg.Callee(callee)
	if !ok {
		return nil, "", fmt.Errorf("internalauth: %s is configured to call no %s", w.cfg.Name, callee)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Calls run concurrently; keeping only the default two idle connections
	// would open (and, with mutual TLS, handshake) a new one for most calls.
	transport.MaxIdleConnsPerHost = 64
	credential := func(context.Context) (string, error) { return c.Token, nil }
	// A subject token names the callee and this caller as the guard will
	// know them: by service name with a static token, by SPIFFE ID with a
	// JWT-SVID.
	audience, azp := callee, w.cfg.Name
	if c.UsesSPIFFE() {
		if w.src == nil {
			return nil, "", fmt.Errorf("internalauth: %s calls %s with SPIFFE but has no identity", w.cfg.Name, callee)
		}
		id := c.ID
		if id.IsZero() {
			var err error
			if id, err = spiffeid.FromPath(w.src.ID().TrustDomain(), "/"+callee); err != nil {
				return nil, "", fmt.Errorf("SPIFFE ID of %s: %w", callee, err)
			}
		}
		audience, azp = id.String(), w.src.ID().String()
		transport.TLSClientConfig = identity.ClientTLS(w.src, id)
		credential = func(ctx context.Context) (string, error) { return w.src.JWTSVID(ctx, id) }
	} else {
		cfg, err := w.cfg.TLS.tokenClientTLS()
		if err != nil {
			return nil, "", err
		}
		transport.TLSClientConfig = cfg
	}
	var rt http.RoundTripper = transport
	if wrap != nil {
		rt = wrap(rt)
	}
	return &http.Client{Timeout: timeout, CheckRedirect: refuseRedirect, Transport: &credentialed{next: rt,
		credential: credential, subjects: w.subjects, audience: audience, azp: azp, userTokens: c.UserTokens}}, c.URL, nil
}

// ErrRedirect is an internal call answered with a redirect. No internal
// operation answers one, so it comes from something else at the callee's
// address (a proxy, a misconfiguration, an attacker); following it would
// send the credential, the subject token and the body (a user's access
// token, for the exchange) to wherever it points.
var ErrRedirect = errors.New("internal call answered with a redirect; internal calls follow none")

// refuseRedirect is every internal client's CheckRedirect: the redirect is
// not followed, and the call fails with ErrRedirect (its target is not
// quoted: a Location is the callee's to choose, and may carry anything).
func refuseRedirect(*http.Request, []*http.Request) error { return ErrRedirect }

// Subject is for whom one internal call is made: the user (the subject
// token's sub) and the callee's operationId.
type Subject struct {
	User, Operation string
	// Evidence, when set, is the user's access token, for a SubjectSource
	// that exchanges it (SubjectCache); it is never sent to the callee.
	Evidence string
}

type subjectKey struct{}

// ForSubject returns ctx carrying s: a call made with a Workload's Client
// under it carries a subject token for s (from the workload's
// SubjectSource) in X-Subject-Token, or is not made at all.
func ForSubject(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// SubjectSource gives the subject token for one call: minted on the spot
// by the user service (Minter), or obtained from it by an exchange.
type SubjectSource func(ctx context.Context, req jwtauth.SubjectRequest) (string, error)

// DefaultSubjectTTL is how long a minted subject token lives: one call,
// with its retry, and clock skew.
const DefaultSubjectTTL = 30 * time.Second

// Minter is the SubjectSource of the service that signs subject tokens
// itself (the user service, with its access tokens' key).
func Minter(s *jwtauth.Signer, ttl time.Duration) SubjectSource {
	return func(_ context.Context, req jwtauth.SubjectRequest) (string, error) {
		tok, _, err := s.SignSubject(req, ttl, time.Now())
		return tok, err
	}
}

// SetSubjects makes src the source of the subject tokens of the clients
// made after (Client). Without one, a call made for a subject fails before
// it is sent.
func (w *Workload) SetSubjects(src SubjectSource) { w.subjects = src }

// credentialed sets the credential, the subject token when the call is made
// for one, and the request id on every request.
type credentialed struct {
	next          http.RoundTripper
	credential    func(context.Context) (string, error)
	subjects      SubjectSource
	audience, azp string
	// userTokens: requests may carry users' access tokens (the exchange), so
	// none goes over plain HTTP off loopback, whatever URL it was given
	// (ReadConfig checks the configured one; a base URL can be replaced).
	userTokens bool
}

// ErrPlainHTTP is a request that would carry users' access tokens over plain
// HTTP to a host other than loopback: it is not sent.
var ErrPlainHTTP = errors.New("internal call refused: it carries users' access tokens, which go over plain http only to loopback")

// RoundTrip implements http.RoundTripper. It works on a copy of req: a
// RoundTripper must not change the request it is given.
func (c *credentialed) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.userTokens && req.URL.Scheme != "https" && !loopbackHost(req.URL.Hostname()) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, ErrPlainHTTP
	}
	credential, err := c.credential(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, fmt.Errorf("internal credential: %w", err)
	}
	var subjectToken string
	if s, ok := req.Context().Value(subjectKey{}).(Subject); ok {
		// No subject token, no call: the caller degrades as when the callee
		// is down, and the callee never sees a call it would refuse.
		if c.subjects == nil {
			err = errors.New("no subject token source")
		} else {
			subjectToken, err = c.subjects(req.Context(), jwtauth.SubjectRequest{Subject: s.User, Audience: c.audience,
				Operation: s.Operation, AuthorizedParty: c.azp})
		}
		if err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("subject token: %w", err)
		}
	}
	out := req.Clone(req.Context())
	out.Header.Set(Header, credential)
	if subjectToken != "" {
		out.Header.Set(SubjectHeader, subjectToken)
	}
	if id := reqinfo.RequestID(req.Context()); id != "" {
		out.Header.Set(middleware.RequestIDHeader, id)
	}
	return c.next.RoundTrip(out)
}
