package jwtauth

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signer issues tokens with one private key and publishes its public key,
// plus any retired public keys, as the JWKS.
type Signer struct {
	key      ed25519.PrivateKey
	kid      string
	settings Settings
	ttl      time.Duration
	jwks     JWKS
	keys     map[string]ed25519.PublicKey
}

// NewSigner builds a Signer; retired keys stay in the JWKS for verification only.
func NewSigner(key ed25519.PrivateKey, retired []ed25519.PublicKey, s Settings, ttl time.Duration) *Signer {
	pub := key.Public().(ed25519.PublicKey)
	sg := &Signer{key: key, kid: KeyID(pub), settings: s, ttl: ttl, keys: map[string]ed25519.PublicKey{}}
	for _, p := range append([]ed25519.PublicKey{pub}, retired...) {
		jwk := PublicJWK(p)
		if _, dup := sg.keys[jwk.Kid]; dup {
			continue
		}
		sg.keys[jwk.Kid] = p
		sg.jwks.Keys = append(sg.jwks.Keys, jwk)
	}
	return sg
}

// Sign fills the registered claims (iss, aud, iat, exp, nbf) and signs c.
func (s *Signer) Sign(c Claims, now time.Time) (string, time.Time, error) {
	exp := now.Add(s.ttl)
	c.Issuer = s.settings.Issuer
	c.Audience = jwt.ClaimStrings{s.settings.Audience}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(exp)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
}

// JWKS returns the published key set.
func (s *Signer) JWKS() JWKS { return s.jwks }

// Key implements KeySource for verifying the service's own tokens.
func (s *Signer) Key(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// Has implements KeySource.
func (s *Signer) Has(kid string) bool {
	_, ok := s.keys[kid]
	return ok
}

// Settings returns the issuer and audience the signer writes.
func (s *Signer) Settings() Settings { return s.settings }
