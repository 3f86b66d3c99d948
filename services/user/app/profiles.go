package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// MaxProfiles is the most profiles one internal call asks for: one
// property's members (the internal contract's bound).
const MaxProfiles = 500

// Profile is what another service may show of a user: the name and the email.
type Profile struct {
	UserID              int64
	FirstName, LastName string
	Email               string
}

// MembershipRepository keeps what this service has seen itself of who may
// use which property: the property ids of the claims it fetched from the
// property service, with its own credential, at each user's login and
// refresh.
type MembershipRepository interface {
	// SeeMemberships replaces what was seen of userID's properties by
	// propertyIDs, seen at now, in one transaction.
	SeeMemberships(ctx context.Context, userID int64, propertyIDs []int64, now time.Time) error
	// SeenMember says whether userID was seen as a member of propertyID at
	// or after since, and when it was first seen in it (while it has stayed
	// seen in it since).
	SeenMember(ctx context.Context, propertyID, userID int64, since time.Time) (first time.Time, ok bool, err error)
	// SeenMemberProfiles returns the profiles of those of ids seen as
	// members of propertyID at or after since, by id, in one query.
	SeenMemberProfiles(ctx context.Context, propertyID int64, ids []int64, since time.Time) ([]Profile, error)
}

// seenLeeway covers how long after its access token's exp a subject token
// may still be used: the exchange issues none past exp (nor with less than
// 5 s left), and the callee accepts one 5 s past its own exp. A subject
// whose call is accepted was seen within AccessTTL plus this.
const seenLeeway = 10 * time.Second

// ErrNotSeenMember refuses a profiles call for a subject this service has
// not seen as a member of the property at a login or refresh recent enough
// for its access token to be one of that login's.
var ErrNotSeenMember = apperr.New(apperr.Forbidden, "The user has not been seen as a member of this property.")

// MemberProfiles is the answer of a profiles call: the profiles it may
// give, and the ids asked for that it left out (no account, or not seen as
// a member of the property).
type MemberProfiles struct {
	Profiles []Profile
	LeftOut  []int64
}

// Profiles is the profiles call's rule: subject (the user the call is made
// for, whose subject token the guard verified) reads the profiles of the
// ids it shares propertyID with, as this service has seen them itself,
// never as the caller says. The subject must have been seen as a member of
// propertyID since its access token could have been issued (AccessTTL); the
// others within RefreshTTL (an account not seen since has no session whose
// claims could say otherwise) and no earlier than the subject was first seen
// in the property (someone who left before the subject joined is no one it
// shared the property with). A membership that ends stays seen until the
// member's next login or refresh: at most AccessTTL for an active user.
func (s *Service) Profiles(ctx context.Context, subject, propertyID int64, ids []int64) (MemberProfiles, error) {
	if len(ids) > MaxProfiles {
		return MemberProfiles{}, apperr.InvalidField("At most 500 user ids per call.", "user_ids", "must list at most 500 ids")
	}
	now := s.now()
	joined, member, err := s.Repo.SeenMember(ctx, propertyID, subject, now.Add(-s.accessTTL()-seenLeeway))
	if err != nil {
		return MemberProfiles{}, fmt.Errorf("was user %d seen in property %d: %w", subject, propertyID, err)
	}
	if !member {
		return MemberProfiles{}, ErrNotSeenMember
	}
	since := now.Add(-s.refreshTTL())
	if joined.After(since) {
		since = joined
	}
	profiles, err := s.Repo.SeenMemberProfiles(ctx, propertyID, ids, since)
	if err != nil {
		return MemberProfiles{}, fmt.Errorf("profiles of property %d's members: %w", propertyID, err)
	}
	answered := make(map[int64]bool, len(profiles))
	for _, p := range profiles {
		answered[p.UserID] = true
	}
	out := MemberProfiles{Profiles: profiles}
	for _, id := range ids {
		if !answered[id] {
			out.LeftOut = append(out.LeftOut, id)
		}
	}
	return out, nil
}

// defaultAccessTTL is JWT_TTL's default, for a Service built in code without one.
const defaultAccessTTL = 10 * time.Minute

func (s *Service) accessTTL() time.Duration {
	if s.AccessTTL > 0 {
		return s.AccessTTL
	}
	return defaultAccessTTL
}

// propertyIDs are the ids of claims.
func propertyIDs(claims []jwtauth.PropertyClaim) []int64 {
	ids := make([]int64, len(claims))
	for i, c := range claims {
		ids[i] = c.PropertyID
	}
	return ids
}
