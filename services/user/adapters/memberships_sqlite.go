package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	db "github.com/jeeves4service/jeeves4service/gen/db/usersqlite"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// SeeMemberships implements app.MembershipRepository.
func (r *SQLite) SeeMemberships(ctx context.Context, userID int64, propertyIDs []int64, now time.Time) error {
	return msgs.Classify(r.inTx(ctx, func(q *db.Queries) error {
		before, err := q.ListSeenMemberships(ctx, userID)
		if err != nil {
			return err
		}
		if err := q.ForgetSeenMemberships(ctx, userID); err != nil {
			return err
		}
		seenBefore := make(map[int64]int64, len(before))
		for _, b := range before {
			seenBefore[b.PropertyID] = b.FirstSeenAt
		}
		first := firstSeen(propertyIDs, now, seenBefore)
		for _, p := range propertyIDs {
			if err := q.SeeMembership(ctx, db.SeeMembershipParams{PropertyID: p, UserID: userID, SeenAt: now.Unix(),
				FirstSeenAt: first[p]}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// SeenMember implements app.MembershipRepository.
func (r *SQLite) SeenMember(ctx context.Context, propertyID, userID int64, since time.Time) (time.Time, bool, error) {
	first, err := r.q.SeenMemberSince(ctx, db.SeenMemberSinceParams{PropertyID: propertyID, UserID: userID, SeenAt: since.Unix()})
	ok, err := seen(err)
	return time.Unix(first, 0), ok, err
}

// SeenMemberProfiles implements app.MembershipRepository: one query,
// whatever the number of ids (they travel as one JSON array).
func (r *SQLite) SeenMemberProfiles(ctx context.Context, propertyID int64, ids []int64, since time.Time) ([]app.Profile, error) {
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("ids as JSON: %w", err)
	}
	rows, err := r.q.SeenMemberProfiles(ctx, db.SeenMemberProfilesParams{PropertyID: propertyID, SeenAt: since.Unix(), Ids: string(list)})
	out := make([]app.Profile, 0, len(rows))
	for _, row := range rows {
		out = append(out, app.Profile{UserID: row.ID, FirstName: row.FirstName, LastName: row.LastName, Email: row.Email})
	}
	return out, msgs.Classify(err)
}
