package internalauth

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"jeeves4service/services/common/internalauth/identity"
	"jeeves4service/services/common/middleware"
	"jeeves4service/services/common/reqinfo"
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
		transport.TLSClientConfig = identity.ClientTLS(w.src, id)
		credential = func(ctx context.Context) (string, error) { return w.src.JWTSVID(ctx, id) }
	}
	var rt http.RoundTripper = transport
	if wrap != nil {
		rt = wrap(rt)
	}
	return &http.Client{Timeout: timeout, Transport: &credentialed{next: rt, credential: credential}}, c.URL, nil
}

// credentialed sets the credential and the request id on every request.
type credentialed struct {
	next       http.RoundTripper
	credential func(context.Context) (string, error)
}

// RoundTrip implements http.RoundTripper. It works on a copy of req: a
// RoundTripper must not change the request it is given.
func (c *credentialed) RoundTrip(req *http.Request) (*http.Response, error) {
	credential, err := c.credential(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, fmt.Errorf("internal credential: %w", err)
	}
	out := req.Clone(req.Context())
	out.Header.Set(Header, credential)
	if id := reqinfo.RequestID(req.Context()); id != "" {
		out.Header.Set(middleware.RequestIDHeader, id)
	}
	return c.next.RoundTrip(out)
}
