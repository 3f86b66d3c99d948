package internalauth

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// MaxSVIDLifetime is the longest a JWT-SVID may still have to live when it
// is presented (five minutes, plus a little for clock skew): a longer-lived
// one, even correctly signed, is refused, so a leaked one is worth minutes.
const MaxSVIDLifetime = 5*time.Minute + 30*time.Second

// SVIDLeeway is the clock skew allowed on a JWT-SVID's exp, nbf and iat.
// jwtsvid.ParseAndValidate checks them with the JOSE library's default of a
// minute, which would make a JWT-SVID worth a minute past its expiry; the
// stricter checks here run after it. Two hosts kept by NTP differ by far
// less than 5 s, and the services' own JWT-SVIDs are renewed at half life.
const SVIDLeeway = 5 * time.Second

// SVIDs is what the guard needs to check SPIFFE credentials: the trust
// domain's JWT authorities and the callee's own SPIFFE ID, which
// every JWT-SVID presented to it must name as its audience.
type SVIDs struct {
	Bundles  jwtbundle.Source
	Audience spiffeid.ID
}

// CallerName is the name a SPIFFE ID gets in audit lines and in the
// contract's x-allowed-callers: its path without the leading slash
// (spiffe://example.org/billing is "billing"). The trust domain
// is not part of it because only the service's own trust domain is trusted.
func CallerName(id spiffeid.ID) string { return strings.TrimPrefix(id.Path(), "/") }

// peerID is the SPIFFE ID in the client certificate the TLS handshake
// verified, if there was one.
func peerID(r *http.Request) (spiffeid.ID, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return spiffeid.ID{}, false, nil
	}
	id, err := x509svid.IDFromCert(r.TLS.PeerCertificates[0])
	if err != nil {
		return spiffeid.ID{}, true, fmt.Errorf("client certificate: %w", err)
	}
	return id, true, nil
}

// notBefore refuses a JWT-SVID whose nbf or iat is more than SVIDLeeway
// ahead of now. The claims' signature has been verified; a claim that is not
// a number has already been refused by the JOSE library.
func notBefore(claims map[string]any, now time.Time) error {
	for _, name := range []string{"nbf", "iat"} {
		v, ok := claims[name].(float64)
		if !ok {
			continue
		}
		at := time.Unix(int64(v), 0)
		if at.Sub(now) > SVIDLeeway {
			return fmt.Errorf("%s is %s, more than %s from now", name, at.UTC(), SVIDLeeway)
		}
	}
	return nil
}

// checkSVID accepts presented when it is a JWT-SVID signed by the trust
// domain, for this service, not expired, short-lived, and issued to the
// workload whose X.509-SVID the connection was made with: a JWT-SVID copied
// out of a request is useless without that workload's private key.
func (s *SVIDs) check(presented string, peer spiffeid.ID, now time.Time) (spiffeid.ID, string, error) {
	svid, err := jwtsvid.ParseAndValidate(presented, s.Bundles, []string{s.Audience.String()})
	if err != nil {
		return spiffeid.ID{}, "invalid_jwt_svid", err
	}
	if now.Sub(svid.Expiry) > SVIDLeeway {
		return spiffeid.ID{}, "jwt_svid_expired", fmt.Errorf("expired at %s, more than %s ago", svid.Expiry, SVIDLeeway)
	}
	if err := notBefore(svid.Claims, now); err != nil {
		return spiffeid.ID{}, "jwt_svid_not_yet_valid", err
	}
	if svid.Expiry.Sub(now) > MaxSVIDLifetime {
		return spiffeid.ID{}, "jwt_svid_lifetime", fmt.Errorf("expires at %s, more than %s away", svid.Expiry, MaxSVIDLifetime)
	}
	if !svid.ID.MemberOf(s.Audience.TrustDomain()) {
		// Only this service's own trust domain names callers (CallerName
		// drops it): a federated domain's "billing" is not ours.
		return spiffeid.ID{}, "subject_mismatch", fmt.Errorf("JWT-SVID of %s, outside the trust domain %s", svid.ID,
			s.Audience.TrustDomain())
	}
	if svid.ID != peer {
		return spiffeid.ID{}, "subject_mismatch", fmt.Errorf("JWT-SVID of %s on a connection of %s", svid.ID, peer)
	}
	return svid.ID, "", nil
}
