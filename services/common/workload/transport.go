package workload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth"
)

// Token mode's TLS (issue 33). A static token, and in the token exchange a
// user's access token, used to cross the network in clear: whoever could
// watch the hop took a user's session. With TLSFiles the internal listener
// presents a certificate and callers verify it; spiffe mode's TLS is the
// SVIDs' (identity), unchanged.

// loadCAs reads the CA certificates (PEM) in file.
func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("holds no PEM certificate")
	}
	return pool, nil
}

// loopbackURL reports whether raw's host is loopback (localhost, 127.0.0.0/8,
// ::1): the one place a call goes over plain HTTP with nobody else on the path.
func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return internalauth.LoopbackHost(u.Hostname())
}

// tokenClientTLS is the TLS of a token-mode caller towards an https://
// callee: its certificate verified against the CA file (or the system's
// CAs), for the host of the URL, as any HTTPS client does.
func (f TLSFiles) tokenClientTLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pool, err := loadCAs(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("internal TLS CA file: %w", err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// tokenServerTLS is the internal listener's TLS in token mode: the
// certificate in the files, read again when they change (a certificate
// renewed on disk, as cert-manager does, is served without a restart).
func (f TLSFiles) tokenServerTLS(log *slog.Logger) (*tls.Config, error) {
	k := &keyPair{cert: f.CertFile, key: f.KeyFile, log: log}
	if err := k.load(time.Now()); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: k.get}, nil
}

// keyPairCheck is how often the files are looked at for a change (at most
// once per handshake, so a busy listener stats them once a second).
const keyPairCheck = time.Second

// keyPair is a certificate and key read from files, and read again once
// they change; a pair that does not load (a renewal half written) keeps the
// last good one and says so in a log line.
type keyPair struct {
	cert, key string
	log       *slog.Logger

	mu      sync.Mutex
	current *tls.Certificate
	stamp   string
	checked time.Time
}

func (k *keyPair) stampOf() (string, error) {
	var out string
	for _, name := range []string{k.cert, k.key} {
		fi, err := os.Stat(name)
		if err != nil {
			return "", fmt.Errorf("internal TLS certificate: %w", err)
		}
		out += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return out, nil
}

// load reads the pair if it changed since the last load; k.mu is held or k
// is not shared yet.
func (k *keyPair) load(now time.Time) error {
	k.checked = now
	stamp, err := k.stampOf()
	if err != nil {
		return err
	}
	if stamp == k.stamp && k.current != nil {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		return fmt.Errorf("internal TLS certificate: %w", err)
	}
	k.current, k.stamp = &pair, stamp
	return nil
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := time.Now(); now.Sub(k.checked) >= keyPairCheck {
		before := k.current
		if err := k.load(now); err != nil {
			k.log.Warn("internal TLS certificate not reloaded; serving the last good one", "error", err.Error())
		} else if k.current != before {
			k.log.Info("internal TLS certificate reloaded", "file", k.cert)
		}
	}
	return k.current, nil
}
