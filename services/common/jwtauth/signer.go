package jwtauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internalauth/subject"
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
	header   string // the encoded header segment, the same in every access token
	subjects *subject.Signer
	maxBytes int // no token is longer (0: no bound)
}

// NewSigner builds a Signer; retired keys stay in the JWKS for verification only.
func NewSigner(key ed25519.PrivateKey, retired []ed25519.PublicKey, s Settings, ttl time.Duration) *Signer {
	pub := key.Public().(ed25519.PublicKey)
	sg := &Signer{key: key, kid: KeyID(pub), settings: s, ttl: ttl, keys: map[string]ed25519.PublicKey{}}
	sg.header, sg.subjects = encodeHeader(sg.kid, AccessTokenType), subject.NewSigner(key, sg.kid, s.Issuer)
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

// LimitBytes bounds every token the signer issues to maxBytes (0: no bound),
// see Sign. Call it before the signer is shared.
func (s *Signer) LimitBytes(maxBytes int) { s.maxBytes = maxBytes }

// ErrTokenTooLarge means a token would be over the byte budget even without
// any property claim.
var ErrTokenTooLarge = errors.New("token over its byte budget without property claims")

// Sign fills the registered claims (iss, aud, iat, exp, nbf) and signs c.
//
// With a byte budget (LimitBytes) the token is at most that long: when c
// would be longer, its property claims are cut to the longest prefix that
// fits and PropertiesTruncated is set, so a verifier knows to ask the
// property service about the rest. The budget is what keeps a token inside
// every header limit on its way (the services' 32 KiB, HAProxy's 16 KiB
// buffer): property names are chosen by owners, and an owner may add anyone
// to a property, so without it one user could make another's token too
// large to send.
func (s *Signer) Sign(c Claims, now time.Time) (string, time.Time, error) {
	exp := now.Add(s.ttl)
	c.Issuer = s.settings.Issuer
	c.Audience = jwt.ClaimStrings{s.settings.Audience}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(exp)
	payload, err := s.fit(&c)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	signing := s.header + "." + payload
	sig, err := jwt.SigningMethodEdDSA.Sign(signing, s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), exp, nil
}

// signatureSegment is the length of every token's third segment.
var signatureSegment = base64.RawURLEncoding.EncodedLen(ed25519.SignatureSize)

// length is the length of a token whose encoded payload is payload.
func (s *Signer) length(payload string) int {
	return len(s.header) + 1 + len(payload) + 1 + signatureSegment
}

// fit encodes c within the byte budget, cutting its property claims (and
// saying so) if it must. The length grows with the number of claims kept, so
// the longest prefix that fits is found by bisection.
func (s *Signer) fit(c *Claims) (string, error) {
	payload, err := encodeClaims(*c)
	if err != nil || s.maxBytes <= 0 || s.length(payload) <= s.maxBytes {
		return payload, err
	}
	all := c.Properties
	c.PropertiesTruncated = true
	best, fitting := -1, ""
	for lo, hi := 0, len(all)-1; lo <= hi; {
		mid := (lo + hi) / 2
		c.Properties = all[:mid]
		p, err := encodeClaims(*c)
		if err != nil {
			return "", err
		}
		if s.length(p) <= s.maxBytes {
			best, fitting, lo = mid, p, mid+1
		} else {
			hi = mid - 1
		}
	}
	if best < 0 {
		return "", fmt.Errorf("%w (budget %d bytes)", ErrTokenTooLarge, s.maxBytes)
	}
	c.Properties = all[:best]
	return fitting, nil
}

// TokenLength is the length of the token any Signer makes of c as it is
// (registered claims included, none filled in): what a byte budget must at
// least allow for such claims.
func TokenLength(c Claims) (int, error) {
	payload, err := encodeClaims(c)
	if err != nil {
		return 0, err
	}
	s := Signer{header: encodeHeader(KeyID(make(ed25519.PublicKey, ed25519.PublicKeySize)), AccessTokenType)}
	return s.length(payload), nil
}

// encodeHeader is the header segment for kid and typ.
func encodeHeader(kid, typ string) string {
	// A map, as golang-jwt's own header is: keys in sorted order.
	h, _ := json.Marshal(map[string]string{"alg": jwt.SigningMethodEdDSA.Alg(), "kid": kid, "typ": typ})
	return base64.RawURLEncoding.EncodeToString(h)
}

// encodeClaims is c's payload segment. golang-jwt (v5.3) writes claims with
// json.Marshal, which escapes <, > and & as \u003c (six bytes for one) for
// HTML pages the JSON never reaches; it has no option to turn that off
// (TokenOption is reserved, and custom encoders are an open proposal,
// golang-jwt/jwt#168 and #301), and a MarshalJSON on Claims would not help,
// since json.Marshal escapes what a marshaler returns too. So the payload is
// written here, with an Encoder that does not escape HTML, and signed with
// golang-jwt's own EdDSA method; its parser reads it as any JSON.
func encodeClaims(c Claims) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
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
