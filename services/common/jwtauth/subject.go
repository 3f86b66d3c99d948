package jwtauth

import (
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// Subject tokens, the JWKS and its fetcher are the internal-call library's
// (package subject): the user service signs them with its access tokens'
// key, and every service verifies both kinds with the same keys. These
// names keep this package's callers as they were.
type (
	SubjectClaims   = subject.Claims
	SubjectRequest  = subject.Request
	SubjectVerifier = subject.Verifier
	KeySource       = subject.KeySource
	RemoteKeys      = subject.RemoteKeys
	JWK             = subject.JWK
	JWKS            = subject.JWKS
)

const (
	// SubjectTokenType is the JOSE typ of a subject token.
	SubjectTokenType = subject.TokenType
	// AccessTokenType is the JOSE typ of an access token.
	AccessTokenType = "JWT"
	// MaxSubjectTTL is the longest a subject token may live (exp - iat).
	MaxSubjectTTL = subject.MaxTTL
	// SubjectLeeway is the clock skew a subject token's verifier allows.
	SubjectLeeway time.Duration = subject.Leeway
	// DefaultJWKSInterval and DefaultJWKSMinRefetch are RemoteKeys' defaults.
	DefaultJWKSInterval   = subject.DefaultJWKSInterval
	DefaultJWKSMinRefetch = subject.DefaultJWKSMinRefetch
)

var (
	// ErrSubjectExpired means a subject token's exp is past, beyond the leeway.
	ErrSubjectExpired = subject.ErrExpired
	// ErrJWKSUnavailable means the JWKS could not be fetched lately and the kid is unknown.
	ErrJWKSUnavailable = subject.ErrJWKSUnavailable
	// ErrUnknownKey means no published key has the token's kid.
	ErrUnknownKey = subject.ErrUnknownKey
	// NewSubjectVerifier returns a SubjectVerifier for tokens of issuer signed with keys.
	NewSubjectVerifier = subject.NewVerifier
	// NewRemoteKeys returns a RemoteKeys for a JWKS URL.
	NewRemoteKeys = subject.NewRemoteKeys
	// KeyID, PublicJWK and ParseJWK: the JWKS's kids and keys.
	KeyID     = subject.KeyID
	PublicJWK = subject.PublicJWK
	ParseJWK  = subject.ParseJWK
)

// SignSubject mints a subject token for req, living ttl (at most
// MaxSubjectTTL) from now, with a random jti.
func (s *Signer) SignSubject(req SubjectRequest, ttl time.Duration, now time.Time) (string, SubjectClaims, error) {
	return s.subjects.Sign(req, ttl, now)
}

// Subjects is the signer of subject tokens (the same key and issuer).
func (s *Signer) Subjects() *subject.Signer { return s.subjects }
