// Package jwtauth issues and verifies the system's JWTs: EdDSA (Ed25519) only,
// with a kid header, and the verifying keys published as a JWKS so that no
// verifier ever holds a signing key.
package jwtauth

import (
	"github.com/golang-jwt/jwt/v5"
)

// PropertyClaim is one property the user may use, as signed into the token.
type PropertyClaim struct {
	PropertyID   int64  `json:"property_id"`
	PropertyName string `json:"property_name"`
	AccessLevel  string `json:"access_level"`
}

// Claims are the JWT's claims. Properties are absent when the property service
// could not be asked at login (PropertiesIncluded is then false).
type Claims struct {
	jwt.RegisteredClaims
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	// Email is the account's address in canonical form (package emailaddr),
	// absent for an account whose stored address has none: what invitations
	// are matched against (username is the stored address, whatever it is).
	Email   string `json:"email,omitempty"`
	IsAdmin bool   `json:"is_admin"`
	TraceID string `json:"trace_id"`
	// SessionID names the session (refresh-token family) the token belongs to.
	SessionID           string          `json:"sid,omitempty"`
	Properties          []PropertyClaim `json:"properties,omitempty"`
	PropertiesIncluded  bool            `json:"properties_included"`
	PropertiesTruncated bool            `json:"properties_truncated,omitempty"`
}

// Settings are the claims every token must carry and every verifier checks.
type Settings struct {
	Issuer   string
	Audience string
}
