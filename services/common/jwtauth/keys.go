package jwtauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// LoadOrCreateKey reads a PKCS#8 PEM Ed25519 private key from path, or creates
// one (mode 0600, parent directory 0700) when the file does not exist. A file
// that others can read is refused: the key signs every session.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read signing key %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat signing key %s: %w", path, err)
	}
	owner := os.Getuid()
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	if err := checkKeyMode(path, info.Mode().Perm(), owner, os.Getuid()); err != nil {
		return nil, err
	}
	return decodePEM[ed25519.PrivateKey](data, "PRIVATE KEY", x509.ParsePKCS8PrivateKey, "signing key "+path)
}

// checkKeyMode is PostgreSQL's rule for its TLS key: the signing key is
// private to the service's user (0600 or less), or, when root owns it, may
// also be read by one group (0640 or less). The second is the shape of a
// Kubernetes Secret volume read by a non-root pod through fsGroup, where no
// file can be owned by the pod's user.
func checkKeyMode(path string, mode fs.FileMode, owner, self int) error {
	switch {
	case owner == self && mode&0o077 == 0:
		return nil
	case owner == 0 && mode&0o037 == 0:
		return nil
	case owner != self && owner != 0:
		return fmt.Errorf("signing key %s belongs to uid %d, not to this service (uid %d) or root", path, owner, self)
	}
	return fmt.Errorf("signing key %s is readable or writable by others (mode %o); chmod 600 it", path, mode)
}

// decodePEM reads one PEM block of type blockType with parse and checks the
// key is a K (an Ed25519 key); what names the file in errors.
func decodePEM[K any](data []byte, blockType string, parse func([]byte) (any, error), what string) (K, error) {
	var zero K
	block, _ := pem.Decode(data)
	if block == nil || block.Type != blockType {
		return zero, fmt.Errorf("%s: not a PEM %s", what, blockType)
	}
	parsed, err := parse(block.Bytes)
	if err != nil {
		return zero, fmt.Errorf("parse %s: %w", what, err)
	}
	key, ok := parsed.(K)
	if !ok {
		return zero, fmt.Errorf("%s is not an Ed25519 key", what)
	}
	return key, nil
}

func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory for signing key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create signing key %s: %w", path, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write signing key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write signing key %s: %w", path, err)
	}
	return key, nil
}

// LoadPublicKey reads a PEM PUBLIC KEY (PKIX) Ed25519 key: a retired signing
// key kept in the JWKS so tokens it signed stay valid until they expire.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key %s: %w", path, err)
	}
	return decodePEM[ed25519.PublicKey](data, "PUBLIC KEY", x509.ParsePKIXPublicKey, "public key "+path)
}
