// Package identity gives a service its SPIFFE identity (go-spiffe v2): an
// X.509-SVID for mutual TLS on the internal listener, the trust bundles that
// verify peers, and short-lived JWT-SVIDs to present in X-Internal-Token. The
// identity comes from the SPIFFE Workload API when a socket is configured (a
// SPIRE agent: rotations are streamed, no restart) and otherwise from files
// (a dev trust domain made with DevCA), re-read when they change.
package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// MaxJWTLifetime bounds the JWT-SVIDs this package mints (file mode); SPIRE's
// are bounded by its own configuration (default_jwt_svid_ttl).
const MaxJWTLifetime = 5 * time.Minute

// Source is a service's identity and the bundles of its trust domain.
type Source interface {
	x509svid.Source
	x509bundle.Source
	jwtbundle.Source
	// ID is the service's own SPIFFE ID.
	ID() spiffeid.ID
	// JWTSVID returns a JWT-SVID for audience, reused until it is half spent.
	JWTSVID(ctx context.Context, audience spiffeid.ID) (string, error)
	// Run watches for rotations until ctx ends (logging each), then releases the source.
	Run(ctx context.Context)
}

// Config says where a service's identity comes from.
type Config struct {
	// Socket is the Workload API address (SPIFFE_ENDPOINT_SOCKET, unix:///...); "" uses Dir.
	Socket string
	// Dir holds the identity files (SPIFFE_DIR).
	Dir string
}

// Open connects to the Workload API, or loads the files, and waits for a
// first identity (at most 30 s: a SPIRE agent may still be attesting).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (Source, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cfg.Socket != "" {
		s, err := openWorkloadAPI(ctx, cfg.Socket, log)
		if err != nil {
			return nil, fmt.Errorf("SPIFFE Workload API at %s: %w", cfg.Socket, err)
		}
		return s, nil
	}
	s, err := openFiles(cfg.Dir, log)
	if err != nil {
		// A directory without a loadable identity is a configuration mistake.
		return nil, &DirError{Dir: cfg.Dir, Err: err}
	}
	return s, nil
}

// ServerTLS is the internal listener's mutual TLS: its certificate is the
// service's X.509-SVID, and a client must present an X.509-SVID of the same
// trust domain (tlsconfig.AuthorizeMemberOf). Both are read from the source
// at every handshake, so a rotation needs no restart. See noResumption.
func ServerTLS(s Source) *tls.Config {
	return noResumption(tlsconfig.MTLSServerConfig(s, s, tlsconfig.AuthorizeMemberOf(s.ID().TrustDomain())))
}

// noResumption turns TLS session resumption off (Go's server resumes only
// with session tickets, so no tickets means none). go-spiffe verifies the
// client's X.509-SVID in VerifyPeerCertificate, which Go skips on a resumed
// session: a ticket from before a trust-bundle rotation would let a client
// whose certificate the new bundle refuses carry on for the ticket's
// lifetime (up to 7 days). Verifying again in VerifyConnection would catch
// the bundle, but a resumed client proves possession of a secret from an
// earlier handshake, not of its private key; with no resumption every
// connection is a full handshake, verified against the bundle of the moment
// by the one check go-spiffe makes. Callers keep their connections alive, so
// the cost is one full handshake per connection, not per call.
func noResumption(cfg *tls.Config) *tls.Config {
	cfg.SessionTicketsDisabled = true
	return cfg
}

// OptionalClientTLS is ServerTLS for a listener that also serves callers
// without a client certificate (INTERNAL_AUTH=token+spiffe): a certificate,
// when given, must still be an X.509-SVID of the trust domain. No session
// is resumed here either (see noResumption).
func OptionalClientTLS(s Source) *tls.Config {
	cfg := noResumption(tlsconfig.TLSServerConfig(s))
	cfg.ClientAuth = tls.RequestClientCert
	verify := tlsconfig.VerifyPeerCertificate(s, tlsconfig.AuthorizeMemberOf(s.ID().TrustDomain()))
	cfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return nil // no certificate: a token caller
		}
		return verify(raw, chains)
	}
	return cfg
}

// ClientTLS is a caller's side: it presents its X.509-SVID and
// accepts only the server whose SPIFFE ID is server.
func ClientTLS(s Source, server spiffeid.ID) *tls.Config {
	return tlsconfig.MTLSClientConfig(s, s, tlsconfig.AuthorizeID(server))
}

// DirError is a Config.Dir that holds no loadable identity.
type DirError struct {
	Dir string
	Err error
}

func (e *DirError) Error() string { return fmt.Sprintf("no identity in %s: %v", e.Dir, e.Err) }
func (e *DirError) Unwrap() error { return e.Err }
