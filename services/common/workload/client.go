package workload

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// Client returns the HTTP client this workload calls the service named
// callee with, and the base URL of callee's internal listener: the library's
// Transport with the workload's credential (its static token, or a JWT-SVID
// for callee's SPIFFE ID, fetched again once half spent), the request id of
// the call it is made for, and in the modes that use SPIFFE mutual TLS with
// the workload's X.509-SVID accepting no server but callee's SPIFFE ID. It
// follows no redirect. timeout bounds each request; wrap, when set, wraps
// the connections' transport (tracing's client spans).
func (w *Workload) Client(callee string, timeout time.Duration,
	wrap func(http.RoundTripper) http.RoundTripper) (*http.Client, string, error) {
	c, ok := w.cfg.Callee(callee)
	if !ok {
		return nil, "", fmt.Errorf("workload: %s is configured to call no %s", w.cfg.Name, callee)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Calls run concurrently; keeping only the default two idle connections
	// would open (and, with mutual TLS, handshake) a new one for most calls.
	transport.MaxIdleConnsPerHost = 64
	rt := &internalauth.Transport{Credential: internalauth.StaticToken(c.Token), Subjects: w.subjects,
		Audience: callee, Caller: w.cfg.Name, UserTokens: c.UserTokens, Header: requestID}
	if c.UsesSPIFFE() {
		if w.src == nil {
			return nil, "", fmt.Errorf("workload: %s calls %s with SPIFFE but has no identity", w.cfg.Name, callee)
		}
		id := c.ID
		if id.IsZero() {
			var err error
			if id, err = spiffeid.FromPath(w.src.ID().TrustDomain(), "/"+callee); err != nil {
				return nil, "", fmt.Errorf("SPIFFE ID of %s: %w", callee, err)
			}
		}
		// A subject token names the callee and this caller as the guard
		// will know them: by SPIFFE ID with a JWT-SVID.
		rt.Audience, rt.Caller = id.String(), w.src.ID().String()
		transport.TLSClientConfig = identity.ClientTLS(w.src, id)
		rt.Credential = func(ctx context.Context) (string, error) { return w.src.JWTSVID(ctx, id) }
	} else {
		cfg, err := w.cfg.TLS.tokenClientTLS()
		if err != nil {
			return nil, "", err
		}
		transport.TLSClientConfig = cfg
	}
	rt.Base = transport
	if wrap != nil {
		rt.Base = wrap(transport)
	}
	return &http.Client{Timeout: timeout, CheckRedirect: internalauth.RefuseRedirect, Transport: rt}, c.URL, nil
}

// requestID sends the request id of the call a request is made for.
func requestID(ctx context.Context, h http.Header) {
	if id := reqinfo.RequestID(ctx); id != "" {
		h.Set(middleware.RequestIDHeader, id)
	}
}

// SetSubjects makes src the source of the subject tokens of the clients
// made after (Client). Without one, a call made for a subject fails before
// it is sent.
func (w *Workload) SetSubjects(src internalauth.SubjectSource) { w.subjects = src }
