package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// A session is a family of refresh tokens (RFC 9700, refresh token rotation):
// login starts one; each refresh spends its refresh token and issues the next
// one in the same family, with a new access token whose sid claim names the
// family; presenting a spent token again is theft, and ends the family.
// Logout, a password change and deactivation end families too. The family's
// ExpiresAt (REFRESH_TTL after login) bounds the whole session, however often
// it is refreshed. Only SHA-256 digests of refresh tokens are stored.

// FamilyRecord is a stored session family.
type FamilyRecord struct {
	ID        string
	UserID    int64
	CreatedAt int64
	ExpiresAt int64
	RevokedAt int64 // 0 while the session lives
}

// RefreshRecord is a refresh token to store, by digest.
type RefreshRecord struct {
	Hash      string
	FamilyID  string
	UserID    int64
	ExpiresAt int64
}

// Rotation is what spending a refresh token found.
type Rotation struct {
	Family FamilyRecord
	// Reused: the token had been spent before (nothing was issued).
	Reused bool
}

// SessionRepository is the storage sessions need.
type SessionRepository interface {
	// StartSession stores a family and its first refresh token together, if
	// the user is active and their credential epoch is still epoch (checked
	// in the same transaction, under the user row's lock);
	// ErrCredentialsChanged otherwise.
	StartSession(ctx context.Context, f FamilyRecord, first RefreshRecord, epoch int64) error
	// Rotate spends the refresh token with digest hash and stores next in its
	// family, in one transaction, if the token was unspent and its family is
	// live (read under the family row's lock, so that a revocation is either
	// seen or waits for the rotation, and then ends the new token too). A
	// spent token gives Rotation{Reused: true} with its family and stores nothing; an unknown one apperr.NotFound; one whose family ended
	// or that expired gives the family with RevokedAt set or ExpiresAt past.
	// When next fails, nothing is stored and the token stays unspent.
	Rotate(ctx context.Context, hash string, next func(FamilyRecord) (RefreshRecord, error), now time.Time) (Rotation, error)
	Family(ctx context.Context, id string) (FamilyRecord, error)
	// RevokeFamily and RevokeUserSessions end live families (reason is kept for operators).
	RevokeFamily(ctx context.Context, id, reason string, now time.Time) error
	RevokeUserSessions(ctx context.Context, userID int64, reason string, now time.Time) error
	SetActive(ctx context.Context, userID int64, active bool, now time.Time) error
}

// errSessionEnded refuses a valid access token whose session is over: unlike
// an expired token (the 401 of type token-expired), a refresh cannot help,
// and the detail says so.
var errSessionEnded = apperr.New(apperr.Unauthorized,
	"The session of this access token has ended (logout, password change or deactivation): sign in again.")

var errBadRefresh = apperr.New(apperr.Unauthorized, "The refresh token is not valid.")

// newSecret returns n random bytes, base64url without padding.
func newSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// refreshDigest is how a refresh token is stored and looked up.
func refreshDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Service) refreshTTL() time.Duration {
	if s.RefreshTTL > 0 {
		return s.RefreshTTL
	}
	return 720 * time.Hour
}

// startSession begins a family for u and returns its id and first refresh token.
func (s *Service) startSession(ctx context.Context, u UserRecord, now time.Time) (string, string, error) {
	id, err := newSecret(16)
	if err != nil {
		return "", "", err
	}
	token, err := newSecret(32) // 256 bits
	if err != nil {
		return "", "", err
	}
	f := FamilyRecord{ID: id, UserID: u.ID, CreatedAt: now.Unix(), ExpiresAt: now.Add(s.refreshTTL()).Unix()}
	if err := s.Sessions.StartSession(ctx, f, RefreshRecord{Hash: refreshDigest(token), FamilyID: id, UserID: u.ID,
		ExpiresAt: f.ExpiresAt}, u.CredentialEpoch); err != nil {
		return "", "", err
	}
	return id, token, nil
}

// Refresh spends a refresh token and returns the session's next pair of
// tokens, with property claims fetched again. clientIP is who is asking:
// every failed refresh (an unknown, reused or another session's token, an
// ended or expired session) spends its failed-refresh budget, never its
// failed-login budget. bound, when the request also carried a valid access
// token, is that token: the refresh token must then belong to its session.
func (s *Service) Refresh(ctx context.Context, clientIP, token string, bound *jwtauth.Claims) (Session, error) {
	spent, err := spend(ctx, budgetKey{s.Budgets.RefreshPerIP, ratelimit.IPKey(clientIP)})
	if err != nil {
		return Session{}, err
	}
	sess, err := s.refresh(ctx, clientIP, token, bound)
	if apperr.CodeOf(err) != apperr.Unauthorized {
		spent.refund(ctx) // not a failed guess
	}
	return sess, err
}

func (s *Service) refresh(ctx context.Context, clientIP, token string, bound *jwtauth.Claims) (Session, error) {
	now := s.now()
	next, err := newSecret(32)
	if err != nil {
		return Session{}, err
	}
	rot, err := s.Sessions.Rotate(ctx, refreshDigest(token), func(f FamilyRecord) (RefreshRecord, error) {
		if bound != nil && bound.SessionID != f.ID {
			return RefreshRecord{}, errBadRefresh // another session's token: refused, and not spent
		}
		s.interleave(ctx, InRotation, f.UserID)
		return RefreshRecord{Hash: refreshDigest(next), FamilyID: f.ID, UserID: f.UserID, ExpiresAt: f.ExpiresAt}, nil
	}, now)
	if apperr.CodeOf(err) == apperr.NotFound {
		return Session{}, errBadRefresh
	}
	if err != nil {
		return Session{}, err
	}
	f := rot.Family
	if rot.Reused {
		// A spent token came back: whoever holds the family's tokens now, one
		// of the two is not its owner. End the family for both.
		if err := s.Sessions.RevokeFamily(ctx, f.ID, "reuse", now); err != nil {
			return Session{}, err
		}
		if s.OnReuse != nil {
			s.OnReuse(ctx, f, clientIP)
		}
		return Session{}, errBadRefresh
	}
	if f.RevokedAt != 0 || f.ExpiresAt <= now.Unix() {
		return Session{}, errBadRefresh
	}
	u, err := s.Repo.ByID(ctx, f.UserID)
	if apperr.CodeOf(err) == apperr.NotFound || (err == nil && !u.IsActive) {
		return Session{}, errBadRefresh
	}
	if err != nil {
		return Session{}, err
	}
	sess, err := s.sign(ctx, u, f.ID, now)
	sess.RefreshToken = next
	return sess, err
}

// Logout ends the session the access token belongs to.
func (s *Service) Logout(ctx context.Context, c *jwtauth.Claims) error {
	if _, err := s.liveSession(ctx, c); err != nil {
		return err
	}
	return s.Sessions.RevokeFamily(ctx, c.SessionID, "logout", s.now())
}

// Deactivate stops a user from logging in and ends every session of theirs.
// The order matters: a login's session fence (StartSession) checks is_active
// under the user row's lock, so once the user is inactive no session can
// start, and one that started before is ended by the revocation after.
func (s *Service) Deactivate(ctx context.Context, userID int64) error {
	now := s.now()
	if err := s.Sessions.SetActive(ctx, userID, false, now); err != nil {
		return err
	}
	return s.Sessions.RevokeUserSessions(ctx, userID, "deactivated", now)
}

// activeUser is what /me requires of an access token, and returns its user:
// a live session (liveSession) of a user who still exists and is active.
// Every refusal is Unauthorized; any other error is the database's.
func (s *Service) activeUser(ctx context.Context, c *jwtauth.Claims) (UserRecord, error) {
	if _, err := s.liveSession(ctx, c); err != nil {
		return UserRecord{}, err
	}
	u, err := s.Repo.ByID(ctx, c.UserID)
	if apperr.CodeOf(err) == apperr.NotFound || (err == nil && !u.IsActive) {
		return UserRecord{}, errSessionEnded
	}
	return u, err
}

// SessionLive says whether a verified access token would still be accepted
// by /me (activeUser): false once its session ended (logout, a password
// change, deactivation, a reused refresh token) or its user is gone or
// inactive; an error only when that cannot be decided (the database). The
// token exchange asks it (internalauth.Exchanger.Live), so that a token
// the user service refuses is never exchanged for a subject token.
func (s *Service) SessionLive(ctx context.Context, c *jwtauth.Claims) (bool, error) {
	_, err := s.activeUser(ctx, c)
	switch {
	case err == nil:
		return true, nil
	case apperr.CodeOf(err) == apperr.Unauthorized:
		return false, nil
	default:
		return false, fmt.Errorf("session check: %w", err)
	}
}

// liveSession checks that an access token's session has not ended: the
// user service refuses a token at once after logout, a password change or
// deactivation (the property service, verifying offline, within JWT_TTL).
func (s *Service) liveSession(ctx context.Context, c *jwtauth.Claims) (FamilyRecord, error) {
	if c == nil || c.SessionID == "" {
		return FamilyRecord{}, errSessionEnded
	}
	f, err := s.Sessions.Family(ctx, c.SessionID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return FamilyRecord{}, errSessionEnded
	}
	if err != nil {
		return FamilyRecord{}, err
	}
	if f.UserID != c.UserID || f.RevokedAt != 0 || f.ExpiresAt <= s.now().Unix() {
		return FamilyRecord{}, errSessionEnded
	}
	return f, nil
}
