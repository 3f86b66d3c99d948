package internalauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// Token is an accepted static secret and the caller name audit lines (and the
// contract's x-allowed-callers) use for it.
type Token struct {
	Name  string
	value [sha256.Size]byte // only the digest is kept: equal length for constant-time comparison
}

// NewToken checks a secret's strength and keeps its digest.
func NewToken(name, secret string) (Token, error) {
	if len(secret) < MinTokenLength {
		return Token{}, fmt.Errorf("token %q is %d characters, fewer than %d", name, len(secret), MinTokenLength)
	}
	return Token{Name: name, value: sha256.Sum256([]byte(secret))}, nil
}

// ParseTokens reads more accepted tokens written "name=token,name=token"
// . A name may appear more than once, and may be the
// primary token's: two tokens of one caller are how a token is rotated.
func ParseTokens(list string) ([]Token, error) {
	var tokens []Token
	for _, pair := range strings.Split(list, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, secret, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, errors.New("entries must be name=token")
		}
		t, err := NewToken(name, strings.TrimSpace(secret))
		if err != nil {
			return nil, fmt.Errorf("token of %q must be at least %d characters", name, MinTokenLength)
		}
		tokens = append(tokens, t)
	}
	return tokens, nil
}

// MinTokenLength is the shortest static token accepted.
const MinTokenLength = 32

// match returns the caller name of the token among tokens that equals
// presented. It hashes the presented value (so lengths never differ) and
// compares it with every token without stopping early, so the time taken
// reveals neither which token matched nor how much of one did. It is not
// exported: a match that skipped the guard's failure budget, log and hooks
// would be an oracle for guessing.
func match(tokens []Token, presented string) (string, bool) {
	if len(tokens) == 0 || presented == "" {
		return "", false
	}
	var buf [128]byte // a token of usual length is hashed without a heap copy
	digest := sha256.Sum256(append(buf[:0], presented...))
	found := 0
	name := ""
	for _, t := range tokens {
		eq := subtle.ConstantTimeCompare(digest[:], t.value[:])
		if eq == 1 && found == 0 {
			name = t.Name
		}
		found |= eq
	}
	return name, found == 1
}

// Matches reports, in constant time, whether secret is t's secret (a
// service's configuration checking that it does not accept a token it
// presents elsewhere). Only the holder of t can ask it, and t is what the
// guard compares against anyway.
func (t Token) Matches(secret string) bool {
	d := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(d[:], t.value[:]) == 1
}
