package adapters

import (
	"context"
	"database/sql"
	"errors"
	"time"

	db "github.com/jeeves4service/jeeves4service/gen/db/propertysqlite"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

// PutInvitation implements app.Repository.
func (r *SQLite) PutInvitation(ctx context.Context, propertyID, caller int64, callerEmail, email, level, secretHash string,
	now, expires time.Time) (app.InvitationRecord, error) {
	var out app.InvitationRecord
	err := r.inTx(ctx, func(q *db.Queries) error {
		inv, err := q.PutInvitation(ctx, db.PutInvitationParams{PropertyID: propertyID, Caller: caller, CallerEmail: callerEmail,
			Email: email, AccessLevel: level, Now: now.Unix(), ExpiresAt: expires.Unix(), SecretHash: hashValue(secretHash)})
		if err != nil {
			return err
		}
		p, err := q.GetProperty(ctx, propertyID)
		out = invitationRecord(inv.ID, inv.PropertyID, p.Name, inv.Email, inv.AccessLevel, inv.InvitedBy, inv.InvitedByEmail,
			inv.CreatedAt, inv.ExpiresAt, inv.SentAt)
		return err
	})
	return out, msgs.Classify(err)
}

// RenewInvitationSecret implements app.Repository.
func (r *SQLite) RenewInvitationSecret(ctx context.Context, propertyID, id, caller int64, secretHash string,
	now time.Time) (app.InvitationRecord, error) {
	var out app.InvitationRecord
	err := r.inTx(ctx, func(q *db.Queries) error {
		inv, err := q.RenewInvitationSecret(ctx, db.RenewInvitationSecretParams{ID: id, PropertyID: propertyID, Caller: caller,
			Now: now.Unix(), SecretHash: hashValue(secretHash)})
		if err != nil {
			return err
		}
		p, err := q.GetProperty(ctx, propertyID)
		out = invitationRecord(inv.ID, inv.PropertyID, p.Name, inv.Email, inv.AccessLevel, inv.InvitedBy, inv.InvitedByEmail,
			inv.CreatedAt, inv.ExpiresAt, inv.SentAt)
		return err
	})
	return out, msgs.Classify(err)
}

// MarkInvitationSent implements app.Repository. No row (the invitation was
// replaced, sent again or is gone meanwhile) is no error: that mail's
// secret is dead, and the newer state stands.
func (r *SQLite) MarkInvitationSent(ctx context.Context, id int64, secretHash string, now time.Time) error {
	_, err := r.q.MarkInvitationSent(ctx, db.MarkInvitationSentParams{ID: id, SecretHash: hashValue(secretHash),
		Now: sql.NullInt64{Int64: now.Unix(), Valid: true}})
	return msgs.Classify(err)
}

// PropertyInvitations implements app.Repository.
func (r *SQLite) PropertyInvitations(ctx context.Context, propertyID int64, now time.Time) ([]app.InvitationRecord, error) {
	rows, err := r.q.ListPropertyInvitations(ctx, db.ListPropertyInvitationsParams{PropertyID: propertyID, Now: now.Unix()})
	return convert(rows, func(x db.ListPropertyInvitationsRow) app.InvitationRecord {
			return invitationRecord(x.ID, x.PropertyID, x.PropertyName, x.Email, x.AccessLevel, x.InvitedBy, x.InvitedByEmail,
				x.CreatedAt, x.ExpiresAt, x.SentAt)
		}),
		msgs.Classify(err)
}

// EmailInvitations implements app.Repository.
func (r *SQLite) EmailInvitations(ctx context.Context, email string, after int64, limit int,
	now time.Time) ([]app.InvitationRecord, int, error) {
	rows, err := r.q.ListEmailInvitations(ctx, db.ListEmailInvitationsParams{Email: email, After: after, Now: now.Unix(),
		PageSize: int64(limit)})
	if err != nil {
		return nil, 0, msgs.Classify(err)
	}
	return invitationPage(convert(rows, func(x db.ListEmailInvitationsRow) app.InvitationRecord {
		return invitationRecord(x.ID, x.PropertyID, x.PropertyName, x.Email, x.AccessLevel, x.InvitedBy, x.InvitedByEmail,
			x.CreatedAt, x.ExpiresAt, x.SentAt)
	}),
		after, limit, func() (int64, error) {
			return r.q.CountEmailInvitations(ctx, db.CountEmailInvitationsParams{Email: email, Now: now.Unix()})
		})
}

// RevokeInvitation implements app.Repository.
func (r *SQLite) RevokeInvitation(ctx context.Context, propertyID, id, caller int64) error {
	n, err := r.q.RevokeInvitation(ctx, db.RevokeInvitationParams{ID: id, PropertyID: propertyID, Caller: caller})
	return msgs.Rows(n, err)
}

// AcceptInvitation implements app.Repository.
func (r *SQLite) AcceptInvitation(ctx context.Context, id int64, email, secretHash string, userID int64,
	now time.Time) (app.MemberRecord, error) {
	var out app.MemberRecord
	err := r.inTx(ctx, func(q *db.Queries) error {
		inv, err := q.GetEmailInvitation(ctx, db.GetEmailInvitationParams{ID: id, Email: email, Now: now.Unix()})
		if err != nil {
			return err
		}
		if !secretMatches(inv.SecretHash, secretHash) {
			return sql.ErrNoRows // the same answer as no invitation: nothing says the id exists
		}
		if _, err := q.LockProperty(ctx, db.LockPropertyParams{ID: inv.PropertyID, Now: now.Unix()}); err != nil {
			return err
		}
		// Again under the property's lock, and this read is the one that
		// counts: a removal or demotion of the inviter that committed while
		// this waited for the lock has revoked the invitation, or left its
		// inviter no owner (both: no row), and another owner's invitation of
		// the same address since has replaced its level and inviter.
		if inv, err = q.GetEmailInvitation(ctx, db.GetEmailInvitationParams{ID: id, Email: email, Now: now.Unix()}); err != nil {
			return err
		}
		// And the secret again: an invitation sent again (a new secret) or
		// replaced at another level while this waited is the old secret's no
		// more (review of issue 34).
		if !secretMatches(inv.SecretHash, secretHash) {
			return sql.ErrNoRows
		}
		m, err := q.GetMember(ctx, db.GetMemberParams{PropertyID: inv.PropertyID, UserID: userID})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			n, err := q.CountMembers(ctx, inv.PropertyID)
			if err != nil {
				return err
			}
			if n >= app.MaxMembers {
				return errPropertyFull
			}
			if m, err = q.AddMember(ctx, db.AddMemberParams{PropertyID: inv.PropertyID, UserID: userID,
				AccessLevel: inv.AccessLevel, Now: now.Unix()}); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		out = app.MemberRecord(m)
		_, err = q.DeleteInvitation(ctx, inv.ID)
		return err
	})
	return out, msgs.Classify(err)
}

// DeclineInvitation implements app.Repository.
func (r *SQLite) DeclineInvitation(ctx context.Context, id int64, email string, now time.Time) error {
	return msgs.Classify(r.inTx(ctx, func(q *db.Queries) error {
		inv, err := q.GetEmailInvitation(ctx, db.GetEmailInvitationParams{ID: id, Email: email, Now: now.Unix()})
		if err != nil {
			return err
		}
		_, err = q.DeleteInvitation(ctx, inv.ID)
		return err
	}))
}
