// Package subject is the subject token: for whom one internal call is made.
// The token service (the service that signs its users in) signs it with the
// key it signs access tokens with, so every verifier already holds the key
// (from the token service's JWKS: RemoteKeys) and checks it without a call
// per request. A token is for one user (sub), one operation (op) of one
// callee (aud) and one calling workload (azp), for at most MaxTTL, and
// carries a jti for the audit line.
//
// It must never pass for an access token, nor an access token for it: its
// JOSE header says typ "subject+jwt" where an access token's says "JWT",
// each verifier refuses the other's typ, and each requires claims the other
// does not carry (op, azp and jti here).
package subject

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// TokenType is the JOSE typ of a subject token.
	TokenType = "subject+jwt"
	// MaxTTL is the longest a subject token may live (exp - iat).
	MaxTTL = 60 * time.Second
	// Leeway is the clock skew a verifier allows.
	Leeway = 5 * time.Second
)

// Claims are a subject token's claims: iss, sub (the user id), aud (the
// callee's identity, one value), iat, exp, jti, and these two.
type Claims struct {
	jwt.RegisteredClaims
	// Operation is the operationId of the one call the token is for.
	Operation string `json:"op"`
	// AuthorizedParty is the calling workload's identity, in the same form as aud.
	AuthorizedParty string `json:"azp"`
}

// Request is what a subject token is minted for.
type Request struct {
	// Subject is the user id.
	Subject string
	// Audience is the callee's identity (its SPIFFE ID when the call is
	// made with a JWT-SVID, its caller name with a static token).
	Audience string
	// Operation is the callee's operationId.
	Operation string
	// AuthorizedParty is the caller's identity, in the same form as Audience.
	AuthorizedParty string
}

func (r Request) check() error {
	switch {
	case r.Subject == "":
		return errors.New("no subject")
	case r.Audience == "":
		return errors.New("no audience")
	case r.Operation == "":
		return errors.New("no operation")
	case r.AuthorizedParty == "":
		return errors.New("no authorized party")
	}
	return nil
}

// Signer mints subject tokens with one Ed25519 key.
type Signer struct {
	key    ed25519.PrivateKey
	issuer string
	header string // the encoded JOSE header, the same for every token
}

// NewSigner returns a Signer for issuer, signing with key, whose public key
// the verifiers find under kid (KeyID of it, in a JWKS the token service
// publishes).
func NewSigner(key ed25519.PrivateKey, kid, issuer string) *Signer {
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid, "typ": TokenType})
	return &Signer{key: key, issuer: issuer, header: base64.RawURLEncoding.EncodeToString(h)}
}

// Sign mints a subject token for req, living ttl (at most MaxTTL) from now,
// with a random jti.
func (s *Signer) Sign(req Request, ttl time.Duration, now time.Time) (string, Claims, error) {
	if err := req.check(); err != nil {
		return "", Claims{}, fmt.Errorf("sign subject token: %w", err)
	}
	if ttl <= 0 || ttl > MaxTTL {
		return "", Claims{}, fmt.Errorf("sign subject token: lifetime %s is not within (0, %s]", ttl, MaxTTL)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Claims{}, fmt.Errorf("sign subject token: jti: %w", err)
	}
	c := Claims{Operation: req.Operation, AuthorizedParty: req.AuthorizedParty}
	c.Issuer, c.Subject, c.Audience = s.issuer, req.Subject, jwt.ClaimStrings{req.Audience}
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(ttl))
	c.ID = base64.RawURLEncoding.EncodeToString(id[:])
	payload, err := json.Marshal(c)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign subject token: %w", err)
	}
	signing := s.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := jwt.SigningMethodEdDSA.Sign(signing, s.key)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign subject token: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), c, nil
}

// ErrExpired means a subject token's exp is past, beyond the leeway.
var ErrExpired = errors.New("subject token expired")

// KeySource finds the public key for a kid (RemoteKeys, or the token
// service's own keys).
type KeySource interface {
	Key(ctx context.Context, kid string) (ed25519.PublicKey, error)
	// Has reports, without fetching anything, whether kid is still trusted.
	Has(kid string) bool
}

// Verifier checks subject tokens: EdDSA only, typ subject+jwt, the issuer,
// every claim present, a lifetime of at most MaxTTL, and exp with Leeway.
// Whether aud, op, azp and sub are the ones a call needs is the guard's to
// decide (a 401 for the audience, a 403 for the rest): Verify only checks
// that the token is one, and for audience.
//
// Nothing is cached: every subject token is used once (its jti), so a cache
// would hold only misses.
type Verifier struct {
	keys   KeySource
	issuer string
	now    func() time.Time
}

// NewVerifier returns a Verifier for tokens of issuer signed with keys.
func NewVerifier(keys KeySource, issuer string) *Verifier {
	return &Verifier{keys: keys, issuer: issuer, now: time.Now}
}

// WithClock returns a copy of v that reads the time from now (tests).
func (v *Verifier) WithClock(now func() time.Time) *Verifier {
	c := *v
	c.now = now
	return &c
}

// Verify parses and checks a subject token meant for audience.
func (v *Verifier) Verify(ctx context.Context, token, audience string) (*Claims, error) {
	if v == nil || v.keys == nil || v.issuer == "" {
		return nil, errors.New("verify subject token: no keys or issuer") // fail closed
	}
	now := v.now()
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(v.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	claims := &Claims{}
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != TokenType {
			return nil, fmt.Errorf("typ %q is not %s", typ, TokenType)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		return v.keys.Key(ctx, kid)
	})
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, fmt.Errorf("verify subject token: %w", ErrExpired)
	}
	if err != nil {
		return nil, fmt.Errorf("verify subject token: %w", err)
	}
	switch {
	case claims.IssuedAt == nil:
		return nil, errors.New("verify subject token: iat is required")
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxTTL:
		return nil, fmt.Errorf("verify subject token: lives longer than %s", MaxTTL)
	case claims.Subject == "" || claims.ID == "" || claims.Operation == "" || claims.AuthorizedParty == "":
		return nil, errors.New("verify subject token: sub, jti, op and azp are required")
	case len(claims.Audience) != 1 || claims.Audience[0] != audience:
		return nil, errors.New("verify subject token: not for this audience")
	}
	return claims, nil
}

// JWK is one public key in a JWKS.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// KeyID derives a stable kid from the public key itself.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256Sum(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// PublicJWK describes pub as a JWK.
func PublicJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: KeyID(pub), Alg: "EdDSA", Use: "sig"}
}

// ParseJWK returns the Ed25519 public key of a JWK, refusing any other kind.
func ParseJWK(k JWK) (ed25519.PublicKey, error) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != "EdDSA") {
		return nil, fmt.Errorf("key %q is not an Ed25519 signing key", k.Kid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q has a malformed x", k.Kid)
	}
	return ed25519.PublicKey(raw), nil
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// ErrUnknownKey means no published key has the token's kid.
var ErrUnknownKey = errors.New("unknown signing key")
