package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// The files of an identity directory (SPIFFE_DIR); `identity init` writes them.
const (
	SVIDFile      = "svid.pem"        // the X.509-SVID (leaf first)
	SVIDKeyFile   = "svid_key.pem"    // its private key (PKCS#8)
	BundleFile    = "bundle.pem"      // the trust domain's X.509 authorities
	JWTKeyFile    = "jwt_key.pem"     // this workload's JWT-SVID signing key (EC P-256, PKCS#8)
	JWTBundleFile = "jwt_bundle.json" // the trust domain's JWT authorities (a JWKS)
)

var identityFiles = []string{SVIDFile, SVIDKeyFile, BundleFile, JWTKeyFile, JWTBundleFile}

// files is a Source read from an identity directory, read again when a file
// changes (checked every second): replacing the files rotates the identity.
// It mints its own JWT-SVIDs (ES256, MaxJWTLifetime) with its JWT key, whose
// public half is in every service's JWT bundle.
type files struct {
	dir string
	log *slog.Logger
	jwts

	mu     sync.RWMutex
	stamp  string
	svid   *x509svid.SVID
	x509   *x509bundle.Bundle
	jwtb   *jwtbundle.Bundle
	jwtKey crypto.Signer
}

func openFiles(dir string, log *slog.Logger) (*files, error) {
	f := &files{dir: dir, log: log}
	if err := f.load(); err != nil {
		return nil, err
	}
	f.jwts.fetch = f.mint
	log.Info("identity from files", "dir", dir, "spiffe_id", f.ID().String(), "expires", f.svid.Certificates[0].NotAfter)
	return f, nil
}

// stampOf fingerprints the files (size and modification time of each).
func (f *files) stampOf() (string, error) {
	stamp := ""
	for _, name := range identityFiles {
		info, err := os.Stat(filepath.Join(f.dir, name))
		if err != nil {
			return "", err
		}
		stamp += fmt.Sprintf("%s:%d:%d;", name, info.Size(), info.ModTime().UnixNano())
	}
	return stamp, nil
}

func (f *files) load() error {
	stamp, err := f.stampOf()
	if err != nil {
		return err
	}
	svid, err := x509svid.Load(filepath.Join(f.dir, SVIDFile), filepath.Join(f.dir, SVIDKeyFile))
	if err != nil {
		return fmt.Errorf("X.509-SVID: %w", err)
	}
	td := svid.ID.TrustDomain()
	x509b, err := x509bundle.Load(td, filepath.Join(f.dir, BundleFile))
	if err != nil {
		return fmt.Errorf("X.509 bundle: %w", err)
	}
	jwtb, err := jwtbundle.Load(td, filepath.Join(f.dir, JWTBundleFile))
	if err != nil {
		return fmt.Errorf("JWT bundle: %w", err)
	}
	key, err := loadSigner(filepath.Join(f.dir, JWTKeyFile))
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stamp, f.svid, f.x509, f.jwtb, f.jwtKey = stamp, svid, x509b, jwtb, key
	return nil
}

func loadSigner(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWT key %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("JWT key %s: not PEM", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse JWT key %s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("JWT key %s is not an EC key", path)
	}
	return ec, nil
}

func (f *files) ID() spiffeid.ID {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.svid.ID
}

// GetX509SVID implements x509svid.Source.
func (f *files) GetX509SVID() (*x509svid.SVID, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.svid, nil
}

// GetX509BundleForTrustDomain implements x509bundle.Source.
func (f *files) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.x509.GetX509BundleForTrustDomain(td)
}

// GetJWTBundleForTrustDomain implements jwtbundle.Source.
func (f *files) GetJWTBundleForTrustDomain(td spiffeid.TrustDomain) (*jwtbundle.Bundle, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.jwtb.GetJWTBundleForTrustDomain(td)
}

// mint signs a JWT-SVID for audience with the workload's JWT key.
func (f *files) mint(_ context.Context, audience spiffeid.ID) (string, time.Time, error) {
	f.mu.RLock()
	key, sub := f.jwtKey, f.svid.ID.String()
	f.mu.RUnlock()
	now := time.Now()
	exp := now.Add(MaxJWTLifetime)
	signed, err := MintJWTSVID(key, sub, audience.String(), now, exp)
	return signed, exp, err
}

// MintJWTSVID signs a JWT-SVID (ES256, typ JWT, kid = KeyID of the key) with
// sub, aud, iat and exp: what a SPIRE agent hands out, made locally.
func MintJWTSVID(key crypto.Signer, subject, audience string, issuedAt, expires time.Time) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{Subject: subject, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(issuedAt), ExpiresAt: jwt.NewNumericDate(expires)})
	tok.Header["kid"] = KeyID(key.Public())
	tok.Header["typ"] = "JWT"
	signed, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign JWT-SVID: %w", err)
	}
	return signed, nil
}

// Run reads the files again whenever they change, until ctx ends. A change
// that does not load (a file half written) keeps the last good identity.
func (f *files) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp, err := f.stampOf()
		f.mu.RLock()
		same := stamp == f.stamp
		f.mu.RUnlock()
		if err != nil || same {
			continue
		}
		if err := f.load(); err != nil {
			f.log.Error("identity files changed but do not load; keeping the last good identity", "dir", f.dir, "error", err.Error())
			continue
		}
		f.jwts.forget()
		svid, _ := f.GetX509SVID()
		f.log.Info("identity rotated", "spiffe_id", svid.ID.String(), "serial", svid.Certificates[0].SerialNumber.String(),
			"expires", svid.Certificates[0].NotAfter)
	}
}
