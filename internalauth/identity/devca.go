package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// DevCA is a throwaway X.509 authority for a dev trust domain: what
// a development setup uses instead of a SPIRE server. Its key lives
// only in memory and is never written anywhere: to rotate, run init again.
type DevCA struct {
	td   spiffeid.TrustDomain
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewDevCA makes a CA for trustDomain.
func NewDevCA(trustDomain string) (*DevCA, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, fmt.Errorf("trust domain %q: %w", trustDomain, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{Organization: []string{"internalauth dev CA"}},
		URIs: []*url.URL{td.ID().URL()}, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &DevCA{td: td, cert: cert, key: key}, nil
}

// TrustDomain is the CA's trust domain.
func (ca *DevCA) TrustDomain() spiffeid.TrustDomain { return ca.td }

// BundlePEM is the trust domain's X.509 bundle.
func (ca *DevCA) BundlePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Issue makes an X.509-SVID for spiffe://<td>/<name> valid from notBefore
// to notAfter, returning the certificate and its key as PEM.
func (ca *DevCA) Issue(name string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	id, err := spiffeid.FromSegments(ca.td, name)
	if err != nil {
		return nil, nil, fmt.Errorf("SPIFFE ID for %q: %w", name, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), URIs: []*url.URL{id.URL()}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("create X.509-SVID: %w", err)
	}
	keyPEM, err = pkcs8PEM(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pkcs8PEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// KeyID names a JWT signing key in a JWT bundle: derived from the public key.
func KeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// DefaultSVIDLifetime is how long init's X.509-SVIDs are valid (make run
// makes fresh ones at every start).
const DefaultSVIDLifetime = 24 * time.Hour

// DevTrustDomain is a dev CA and a JWT signing key per service: everything
// needed to write the services' identity directories, and (in tests) to make
// credentials of every kind, good and bad.
type DevTrustDomain struct {
	CA      *DevCA
	JWTKeys map[string]*ecdsa.PrivateKey
}

// NewDevTrustDomain makes a CA for trustDomain and a JWT key for each service.
func NewDevTrustDomain(trustDomain string, services ...string) (*DevTrustDomain, error) {
	ca, err := NewDevCA(trustDomain)
	if err != nil {
		return nil, err
	}
	d := &DevTrustDomain{CA: ca, JWTKeys: map[string]*ecdsa.PrivateKey{}}
	for _, svc := range services {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate JWT key for %s: %w", svc, err)
		}
		d.JWTKeys[svc] = k
	}
	return d, nil
}

// JWTBundle is the trust domain's JWT bundle (a JWKS of every service's JWT key).
func (d *DevTrustDomain) JWTBundle() ([]byte, error) {
	authorities := map[string]crypto.PublicKey{}
	for _, k := range d.JWTKeys {
		authorities[KeyID(k.Public())] = k.Public()
	}
	jwks, err := jwtbundle.FromJWTAuthorities(d.CA.td, authorities).Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode JWT bundle: %w", err)
	}
	return jwks, nil
}

// WriteService writes svc's identity directory: a fresh X.509-SVID valid
// from notBefore to notAfter and its key, the X.509 bundle, svc's JWT key and
// the JWT bundle. Writing it again over a running service rotates it.
func (d *DevTrustDomain) WriteService(dir, svc string, notBefore, notAfter time.Time) error {
	jwtKey, ok := d.JWTKeys[svc]
	if !ok {
		return fmt.Errorf("no JWT key for %s", svc)
	}
	certPEM, keyPEM, err := d.CA.Issue(svc, notBefore, notAfter)
	if err != nil {
		return err
	}
	jwtPEM, err := pkcs8PEM(jwtKey)
	if err != nil {
		return err
	}
	jwks, err := d.JWTBundle()
	if err != nil {
		return err
	}
	return WriteDir(dir, map[string][]byte{SVIDFile: certPEM, SVIDKeyFile: keyPEM,
		BundleFile: d.CA.BundlePEM(), JWTKeyFile: jwtPEM, JWTBundleFile: jwks})
}

// Init creates a dev trust domain: for each service, DIR/<service>/ holds a
// complete identity directory (see WriteService). The CA key is not written
// anywhere. Files are 0600, directories 0700.
func Init(trustDomain, dir string, services []string, lifetime time.Duration) error {
	d, err := NewDevTrustDomain(trustDomain, services...)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, svc := range services {
		if err := d.WriteService(filepath.Join(dir, svc), svc, now.Add(-time.Minute), now.Add(lifetime)); err != nil {
			return err
		}
	}
	return nil
}

// WriteDir writes an identity directory's files, each replaced atomically
// (written beside, then renamed) so that a reader never sees half a file.
func WriteDir(dir string, contents map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for name, data := range contents {
		path := filepath.Join(dir, name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("replace %s: %w", path, err)
		}
	}
	return nil
}
