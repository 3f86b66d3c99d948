package adapters

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	db "github.com/jeeves4service/jeeves4service/gen/db/propertypg"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// Postgres is the repository on PostgreSQL.
type Postgres struct {
	db *sql.DB
	q  *db.Queries
}

// NewPostgres wraps an open, migrated Postgres database, with every query
// prepared once (database/sql prepares it again on each new connection).
func NewPostgres(ctx context.Context, conn *sql.DB) (*Postgres, error) {
	q, err := db.Prepare(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("prepare property queries: %w", err)
	}
	return &Postgres{db: conn, q: q}, nil
}

func (r *Postgres) inTx(ctx context.Context, fn func(q *db.Queries) error) error {
	return database.InTx(ctx, r.db, func(tx *sql.Tx) error { return fn(r.q.WithTx(tx)) })
}

// CreateWithOwner implements app.Repository.
func (r *Postgres) CreateWithOwner(ctx context.Context, name, address string, owner int64, now time.Time) (app.Membership, error) {
	var out app.Membership
	err := r.inTx(ctx, func(q *db.Queries) error {
		p, err := q.CreateProperty(ctx, db.CreatePropertyParams{Name: name, Address: address, CreatedBy: owner, Now: now.Unix()})
		if err != nil {
			return err
		}
		if _, err := q.PutMember(ctx, db.PutMemberParams{PropertyID: p.ID, UserID: owner, AccessLevel: app.Owner, Now: now.Unix()}); err != nil {
			return err
		}
		out = app.Membership{ID: p.ID, Name: p.Name, Address: p.Address, CreatedAt: p.CreatedAt, AccessLevel: app.Owner}
		return nil
	})
	return out, msgs.Classify(err)
}

// Get implements app.Repository.
func (r *Postgres) Get(ctx context.Context, id int64) (app.PropertyRecord, error) {
	p, err := r.q.GetProperty(ctx, id)
	return app.PropertyRecord(p), msgs.Classify(err)
}

// Member implements app.Repository.
func (r *Postgres) Member(ctx context.Context, propertyID, userID int64) (app.MemberRecord, error) {
	m, err := r.q.GetMember(ctx, db.GetMemberParams{PropertyID: propertyID, UserID: userID})
	return app.MemberRecord(m), database.Classify(err, "No such member.", "")
}

// Memberships implements app.Repository.
func (r *Postgres) Memberships(ctx context.Context, userID, after int64, limit int) ([]app.Membership, error) {
	rows, err := r.q.ListMemberships(ctx, db.ListMembershipsParams{UserID: userID, After: after, PageSize: int64(limit)})
	return convert(rows, func(m db.ListMembershipsRow) app.Membership { return app.Membership(m) }), msgs.Classify(err)
}

// All implements app.Repository.
func (r *Postgres) All(ctx context.Context, admin, after int64, limit int) ([]app.Membership, error) {
	rows, err := r.q.ListAllProperties(ctx, db.ListAllPropertiesParams{UserID: admin, After: after, PageSize: int64(limit)})
	return convert(rows, func(m db.ListAllPropertiesRow) app.Membership { return app.Membership(m) }), msgs.Classify(err)
}

// Claims implements app.Repository.
func (r *Postgres) Claims(ctx context.Context, userID int64, limit int) ([]app.Membership, int, error) {
	rows, err := r.q.ListUserClaims(ctx, db.ListUserClaimsParams{UserID: userID, PageSize: int64(limit) + 1})
	if err != nil {
		return nil, 0, msgs.Classify(err)
	}
	return claimsPage(convert(rows, func(m db.ListUserClaimsRow) app.Membership {
		return app.Membership{ID: m.ID, Name: m.Name, AccessLevel: m.AccessLevel}
	}), limit, func() (int64, error) { return r.q.CountUserClaims(ctx, userID) })
}

// Update implements app.Repository.
func (r *Postgres) Update(ctx context.Context, id, caller int64, name, address *string, now time.Time) (app.PropertyRecord, error) {
	p, err := r.q.UpdateProperty(ctx, db.UpdatePropertyParams{ID: id, Caller: caller, Name: optional(name),
		Address: optional(address), Now: now.Unix()})
	return app.PropertyRecord(p), msgs.Classify(err)
}

// Delete implements app.Repository.
func (r *Postgres) Delete(ctx context.Context, id, caller int64) error {
	n, err := r.q.DeleteProperty(ctx, db.DeletePropertyParams{ID: id, Caller: caller})
	return msgs.Rows(n, err)
}

// Rooms implements app.Repository.
func (r *Postgres) Rooms(ctx context.Context, propertyID int64) ([]app.RoomRecord, error) {
	rows, err := r.q.ListRooms(ctx, propertyID)
	return convert(rows, func(x db.Room) app.RoomRecord { return app.RoomRecord(x) }), msgs.Classify(err)
}

// AddRoom implements app.Repository.
func (r *Postgres) AddRoom(ctx context.Context, propertyID, caller int64, name string, now time.Time) (app.RoomRecord, error) {
	room, err := r.q.CreateRoom(ctx, db.CreateRoomParams{PropertyID: propertyID, Caller: caller, Name: name, Now: now.Unix()})
	return app.RoomRecord(room), database.Classify(err, "No such property.", "This property already has a room with that name.")
}

// Members implements app.Repository.
func (r *Postgres) Members(ctx context.Context, propertyID int64) ([]app.MemberRecord, error) {
	rows, err := r.q.ListMembers(ctx, propertyID)
	return convert(rows, func(m db.PropertyMember) app.MemberRecord { return app.MemberRecord(m) }), msgs.Classify(err)
}

// PutMember implements app.Repository.
func (r *Postgres) PutMember(ctx context.Context, propertyID int64, caller app.Caller, userID int64, level string,
	now time.Time) (app.MemberRecord, error) {
	var out app.MemberRecord
	err := r.inTx(ctx, func(q *db.Queries) error {
		if err := checkMembershipChange(r.membershipRules(ctx, q, propertyID, now), caller, userID, level); err != nil {
			return err
		}
		m, err := q.SetMemberLevel(ctx, db.SetMemberLevelParams{PropertyID: propertyID, UserID: userID, AccessLevel: level})
		if err != nil {
			return err
		}
		out = app.MemberRecord(m)
		if level == app.Owner {
			return nil
		}
		return r.revokeInviter(ctx, q, propertyID, userID)
	})
	return out, msgs.Classify(err)
}

// RemoveMember implements app.Repository.
func (r *Postgres) RemoveMember(ctx context.Context, propertyID int64, caller app.Caller, userID int64, now time.Time) error {
	return msgs.Classify(r.inTx(ctx, func(q *db.Queries) error {
		if err := checkMembershipChange(r.membershipRules(ctx, q, propertyID, now), caller, userID, ""); err != nil {
			return err
		}
		n, err := q.DeleteMember(ctx, db.DeleteMemberParams{PropertyID: propertyID, UserID: userID})
		if err := msgs.Rows(n, err); err != nil {
			return err
		}
		return r.revokeInviter(ctx, q, propertyID, userID)
	}))
}

// revokeInviter removes the pending invitations userID sent to the
// property, in the transaction that removes or demotes them: an invitation
// is its inviter's act only while the inviter is an owner (issue 34: a
// removed co-owner's invitation to a second address of their own made that
// address an owner, who removed the remaining one).
func (r *Postgres) revokeInviter(ctx context.Context, q *db.Queries, propertyID, userID int64) error {
	if _, err := q.RevokeInviterInvitations(ctx, db.RevokeInviterInvitationsParams{PropertyID: propertyID, Inviter: userID}); err != nil {
		return fmt.Errorf("revoke the invitations of user %d to property %d: %w", userID, propertyID, err)
	}
	return nil
}

// membershipRules is what checkMembershipChange reads, inside the transaction.
func (r *Postgres) membershipRules(ctx context.Context, q *db.Queries, propertyID int64, now time.Time) membershipReads {
	return membershipReads{
		lock: func() (int64, error) {
			return q.LockProperty(ctx, db.LockPropertyParams{ID: propertyID, Now: now.Unix()})
		},
		member: func(userID int64) (app.MemberRecord, error) {
			m, err := q.GetMember(ctx, db.GetMemberParams{PropertyID: propertyID, UserID: userID})
			return app.MemberRecord(m), err
		},
		owners: func() (int64, error) { return q.CountOwners(ctx, propertyID) },
	}
}

// Ping implements app.Repository.
func (r *Postgres) Ping(ctx context.Context) error { return database.Ping(ctx, r.db) }
