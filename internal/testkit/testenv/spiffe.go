package testenv

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/jeeves4service/jeeves4service/internalauth/identity"
)

// TrustDomain is a dev trust domain a test makes credentials with: the
// services' identity directories, and good and bad client certificates and
// JWT-SVIDs to attack them with.
type TrustDomain struct {
	*identity.DevTrustDomain
}

// NewTrustDomain makes a trust domain with a JWT key for each of services.
func NewTrustDomain(t testing.TB, name string, services ...string) *TrustDomain {
	t.Helper()
	d, err := identity.NewDevTrustDomain(name, services...)
	if err != nil {
		t.Fatal(err)
	}
	return &TrustDomain{d}
}

// ID is spiffe://<trust domain>/<name>.
func (d *TrustDomain) ID(t testing.TB, name string) spiffeid.ID {
	t.Helper()
	id, err := spiffeid.FromSegments(d.CA.TrustDomain(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Dir writes svc's identity directory (valid for an hour) under a temp dir.
func (d *TrustDomain) Dir(t testing.TB, svc string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), svc)
	now := time.Now()
	if err := d.WriteService(dir, svc, now.Add(-time.Minute), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Client is an HTTP client that makes mutual-TLS connections with an
// X.509-SVID of name (issued by this trust domain, valid from notBefore to
// notAfter) and trusts servers whose X.509-SVID verifies against server's
// bundle (the property service's trust domain).
func (d *TrustDomain) Client(t testing.TB, name string, notBefore, notAfter time.Time, server *TrustDomain) *http.Client {
	t.Helper()
	certPEM, keyPEM, err := d.CA.Issue(name, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := x509svid.Parse(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return tlsClient(tlsconfig.MTLSClientConfig(svid, server.bundle(t), tlsconfig.AuthorizeAny()))
}

// ResumingClient is Client with a TLS session cache: a new connection offers
// the session ticket a previous one was given, as browsers and most HTTP
// clients do, to resume instead of making a full handshake.
func (d *TrustDomain) ResumingClient(t testing.TB, name string, notBefore, notAfter time.Time, server *TrustDomain) *http.Client {
	t.Helper()
	c := d.Client(t, name, notBefore, notAfter, server)
	c.Transport.(*http.Transport).TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	return c
}

// NoCertClient trusts d's servers but has no certificate of its own.
func (d *TrustDomain) NoCertClient(t testing.TB) *http.Client {
	t.Helper()
	return tlsClient(tlsconfig.TLSClientConfig(d.bundle(t), tlsconfig.AuthorizeAny()))
}

func (d *TrustDomain) bundle(t testing.TB) *x509bundle.Bundle {
	t.Helper()
	b, err := x509bundle.Parse(d.CA.TrustDomain(), d.CA.BundlePEM())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tlsClient(cfg *tls.Config) *http.Client {
	// A transport of its own: connections (and their certificates) are not
	// shared between the clients of one test.
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// JWTSVID signs a JWT-SVID with the JWT key of signer (a service of this
// trust domain) for subject and audience, issued at iat, expiring at exp.
func (d *TrustDomain) JWTSVID(t testing.TB, signer string, subject, audience spiffeid.ID, iat, exp time.Time) string {
	t.Helper()
	key, ok := d.JWTKeys[signer]
	if !ok {
		t.Fatalf("no JWT key for %s", signer)
	}
	s, err := identity.MintJWTSVID(key, subject.String(), audience.String(), iat, exp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
