package jwtauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A subject token says for whom one internal call is made: the user service
// signs it, with the key it signs access tokens with (so every verifier
// already holds the key, from the JWKS, and checks it without a call per
// request), for one user, one operation of one callee, and one calling
// workload, for at most a minute (see docs/subject-tokens.md).
//
// It must never pass for an access token, nor an access token for it: its
// JOSE header says typ "subject+jwt" where an access token's says "JWT", each
// verifier refuses the other's typ, and each requires claims the other does
// not carry (op, azp and jti here; user_id and the API audience there).
const (
	// SubjectTokenType is the JOSE typ of a subject token.
	SubjectTokenType = "subject+jwt"
	// AccessTokenType is the JOSE typ of an access token.
	AccessTokenType = "JWT"
	// MaxSubjectTTL is the longest a subject token may live (exp - iat).
	MaxSubjectTTL = 60 * time.Second
	// SubjectLeeway is the clock skew a subject token's verifier allows.
	SubjectLeeway = 5 * time.Second
)

// SubjectClaims are a subject token's claims: iss, sub (the user id), aud
// (the callee's identity, one value), iat, exp, jti, and these two.
type SubjectClaims struct {
	jwt.RegisteredClaims
	// Operation is the operationId of the one call the token is for.
	Operation string `json:"op"`
	// AuthorizedParty is the calling workload's identity, in the same form as aud.
	AuthorizedParty string `json:"azp"`
}

// SubjectRequest is what a subject token is minted for.
type SubjectRequest struct {
	// Subject is the user id.
	Subject string
	// Audience is the callee's identity (its SPIFFE ID when the call is
	// made with a JWT-SVID, its service name with a static token).
	Audience string
	// Operation is the callee's operationId.
	Operation string
	// AuthorizedParty is the caller's identity, in the same form as Audience.
	AuthorizedParty string
}

func (r SubjectRequest) check() error {
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

// SignSubject mints a subject token for req, living ttl (at most
// MaxSubjectTTL) from now, with a random jti.
func (s *Signer) SignSubject(req SubjectRequest, ttl time.Duration, now time.Time) (string, SubjectClaims, error) {
	if err := req.check(); err != nil {
		return "", SubjectClaims{}, fmt.Errorf("sign subject token: %w", err)
	}
	if ttl <= 0 || ttl > MaxSubjectTTL {
		return "", SubjectClaims{}, fmt.Errorf("sign subject token: lifetime %s is not within (0, %s]", ttl, MaxSubjectTTL)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", SubjectClaims{}, fmt.Errorf("sign subject token: jti: %w", err)
	}
	c := SubjectClaims{Operation: req.Operation, AuthorizedParty: req.AuthorizedParty}
	c.Issuer, c.Subject, c.Audience = s.settings.Issuer, req.Subject, jwt.ClaimStrings{req.Audience}
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(ttl))
	c.ID = base64.RawURLEncoding.EncodeToString(id[:])
	payload, err := json.Marshal(c)
	if err != nil {
		return "", SubjectClaims{}, fmt.Errorf("sign subject token: %w", err)
	}
	signing := s.subject + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := jwt.SigningMethodEdDSA.Sign(signing, s.key)
	if err != nil {
		return "", SubjectClaims{}, fmt.Errorf("sign subject token: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), c, nil
}

// ErrSubjectExpired means a subject token's exp is past, beyond the leeway.
var ErrSubjectExpired = errors.New("subject token expired")

// SubjectVerifier checks subject tokens: EdDSA only, typ subject+jwt, the
// issuer, every claim present, a lifetime of at most MaxSubjectTTL, and exp
// with SubjectLeeway. Whether aud, op, azp and sub are the ones a call needs
// is the guard's to decide (a 401 for the audience, a 403 for the rest):
// Verify only checks the token is one, and for audience.
//
// Nothing is cached: every subject token is used once (its jti), so a cache
// would hold only misses.
type SubjectVerifier struct {
	keys   KeySource
	issuer string
	now    func() time.Time
}

// NewSubjectVerifier returns a SubjectVerifier for tokens of issuer signed
// with keys (the issuer's JWKS).
func NewSubjectVerifier(keys KeySource, issuer string) *SubjectVerifier {
	return &SubjectVerifier{keys: keys, issuer: issuer, now: time.Now}
}

// WithClock returns a copy of v that reads the time from now (tests).
func (v *SubjectVerifier) WithClock(now func() time.Time) *SubjectVerifier {
	c := *v
	c.now = now
	return &c
}

// Verify parses and checks a subject token meant for audience.
func (v *SubjectVerifier) Verify(ctx context.Context, token, audience string) (*SubjectClaims, error) {
	if v == nil || v.keys == nil {
		return nil, errors.New("verify subject token: no keys") // fail closed
	}
	now := v.now()
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(v.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(SubjectLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	claims := &SubjectClaims{}
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != SubjectTokenType {
			return nil, fmt.Errorf("typ %q is not %s", typ, SubjectTokenType)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		return v.keys.Key(ctx, kid)
	})
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, fmt.Errorf("verify subject token: %w", ErrSubjectExpired)
	}
	if err != nil {
		return nil, fmt.Errorf("verify subject token: %w", err)
	}
	switch {
	case claims.IssuedAt == nil:
		return nil, errors.New("verify subject token: iat is required")
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxSubjectTTL:
		return nil, fmt.Errorf("verify subject token: lives longer than %s", MaxSubjectTTL)
	case claims.Subject == "" || claims.ID == "" || claims.Operation == "" || claims.AuthorizedParty == "":
		return nil, errors.New("verify subject token: sub, jti, op and azp are required")
	case len(claims.Audience) != 1 || claims.Audience[0] != audience:
		return nil, errors.New("verify subject token: not for this audience")
	}
	return claims, nil
}
