package app

import (
	"context"
	"fmt"

	"jeeves4service/services/common/apperr"
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

// Profiles returns the profile of each id that names an account, in the
// order asked (ids of no account are left out). The validator bounds the
// list; a longer one is refused here too.
func (s *Service) Profiles(ctx context.Context, ids []int64) ([]Profile, error) {
	if len(ids) > MaxProfiles {
		return nil, apperr.InvalidField("At most 500 user ids per call.", "user_ids", "must list at most 500 ids")
	}
	out := make([]Profile, 0, len(ids))
	for _, id := range ids {
		u, err := s.Repo.ByID(ctx, id)
		if apperr.CodeOf(err) == apperr.NotFound {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("profile of user %d: %w", id, err)
		}
		out = append(out, Profile{UserID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email})
	}
	return out, nil
}
