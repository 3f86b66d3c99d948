package jwtauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrKeyNotHeld means VerifyHeld met a kid that is not among the keys held
// now; Verify would look further (fetch the JWKS).
var ErrKeyNotHeld = errors.New("signing key not held")

// ErrExpired means the token is ours and would be valid but for its exp
// (past Leeway): the client should refresh, not sign in again. Only a token
// whose signature verified gets it, so a forged token cannot pass for an
// expired one (golang-jwt checks claims only after the signature).
var ErrExpired = errors.New("access token expired")

// Leeway is how far past its exp (and before its iat) an access token is
// still accepted, at both services: the issuer's and the verifier's clocks
// may disagree by that much. docs/security.md and the public contract's
// Unauthorized response say so.
const Leeway = 30 * time.Second

// Verifier checks tokens: EdDSA only (the algorithm is pinned, so alg:none and
// HS256-with-the-public-key tricks fail), typ JWT (a subject token is not
// one), exp/iat/iss/aud/sub required.
//
// Successful verifications are remembered for up to a minute (never past the
// token's exp), keyed by the token's SHA-256: an Ed25519 check costs tens of
// microseconds and a client sends the same token on every request (measured:
// public_read went from about 0.7 to near its no-verification baseline). A
// remembered verification counts only while its key is still trusted, so a
// key removed from the JWKS is refused as soon as the key set is refreshed.
type Verifier struct {
	keys     KeySource
	settings Settings
	parser   *jwt.Parser
	// atExpiry checks a token as parser does, but as of the instant at (its
	// exp): whether a token refused for its exp is otherwise good.
	atExpiry func(at time.Time) *jwt.Parser

	mu    sync.RWMutex
	cache map[[sha256.Size]byte]cachedClaims
}

type cachedClaims struct {
	claims Claims
	kid    string
	until  time.Time
}

const (
	verifiedCacheTTL  = time.Minute
	verifiedCacheSize = 10000
)

// NewVerifier returns a Verifier using keys.
func NewVerifier(keys KeySource, s Settings) *Verifier {
	options := func(extra ...jwt.ParserOption) []jwt.ParserOption {
		return append([]jwt.ParserOption{
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(s.Issuer),
			jwt.WithAudience(s.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
		}, extra...)
	}
	return &Verifier{keys: keys, settings: s, parser: jwt.NewParser(options()...),
		atExpiry: func(at time.Time) *jwt.Parser {
			return jwt.NewParser(options(jwt.WithTimeFunc(func() time.Time { return at }))...)
		}}
}

// Verify parses and checks a compact JWT, fetching its key if need be.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	return v.check(ctx, token, true)
}

// VerifyHeld is Verify with the keys held now only: a token whose kid is not
// held fails with ErrKeyNotHeld, and nothing is fetched. It lets a request
// budget be asked before a token can cost a JWKS fetch (see FetchKeys).
func (v *Verifier) VerifyHeld(ctx context.Context, token string) (*Claims, error) {
	return v.check(ctx, token, false)
}

func (v *Verifier) check(ctx context.Context, token string, fetch bool) (*Claims, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	v.mu.RLock()
	hit, ok := v.cache[key]
	v.mu.RUnlock()
	if ok && now.Before(hit.until) && v.keys.Has(hit.kid) {
		c := hit.claims
		return &c, nil
	}
	claims, kid, err := v.verify(ctx, token, fetch)
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
	v.cache[key] = cachedClaims{claims: *claims, kid: kid, until: until}
	v.mu.Unlock()
	return claims, nil
}

func (v *Verifier) verify(ctx context.Context, token string, fetch bool) (*Claims, string, error) {
	claims, kid, err := v.verifyWith(ctx, v.parser, token, fetch)
	if err != nil && errors.Is(err, jwt.ErrTokenExpired) && claims.ExpiresAt != nil {
		// Expired, and signed with a key we trust (the signature is checked
		// before the claims). Checked again as of its exp, every other rule
		// applies: only a token that would then pass is called expired, so a
		// client told so knows a refresh, not a new login, is what it needs.
		if _, _, again := v.verifyWith(ctx, v.atExpiry(claims.ExpiresAt.Time), token, fetch); again == nil {
			return nil, "", fmt.Errorf("verify token: %w (exp %s)", ErrExpired, claims.ExpiresAt.Time.UTC().Format(time.RFC3339))
		}
	}
	if err != nil {
		return nil, "", err
	}
	return claims, kid, nil
}

// verifyWith checks token with parser: the signature, the claims the parser
// asks for, then the claims golang-jwt has no option for.
func (v *Verifier) verifyWith(ctx context.Context, parser *jwt.Parser, token string, fetch bool) (*Claims, string, error) {
	claims := &Claims{}
	var kid string
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// A subject token (or anything else signed with the same key) is
		// never an access token, whatever its claims.
		if typ, _ := t.Header["typ"].(string); typ != AccessTokenType {
			return nil, fmt.Errorf("typ %q is not %s", typ, AccessTokenType)
		}
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		if !fetch && !v.keys.Has(kid) {
			return nil, ErrKeyNotHeld
		}
		return v.keys.Key(ctx, kid)
	})
	if err != nil {
		return claims, "", fmt.Errorf("verify token: %w", err)
	}
	if claims.IssuedAt == nil {
		return claims, "", errors.New("verify token: iat is required")
	}
	if claims.Subject == "" || claims.UserID <= 0 || claims.Subject != fmt.Sprint(claims.UserID) {
		return claims, "", errors.New("verify token: sub and user_id are required and must agree")
	}
	return claims, kid, nil
}
