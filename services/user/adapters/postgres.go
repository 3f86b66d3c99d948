package adapters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	db "github.com/jeeves4service/jeeves4service/gen/db/userpg"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// Postgres is the user repository on PostgreSQL.
type Postgres struct {
	db *sql.DB
	q  *db.Queries
}

// NewPostgres wraps an open, migrated Postgres database, with every query
// prepared once (database/sql prepares it again on each new connection).
func NewPostgres(ctx context.Context, conn *sql.DB) (*Postgres, error) {
	q, err := db.Prepare(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("prepare user queries: %w", err)
	}
	return &Postgres{db: conn, q: q}, nil
}

// Create implements app.Repository.
func (r *Postgres) Create(ctx context.Context, u app.NewUser, now time.Time) (app.UserRecord, error) {
	row, err := r.q.CreateUser(ctx, db.CreateUserParams{Email: u.Email, PasswordHash: u.PasswordHash,
		FirstName: u.FirstName, LastName: u.LastName, IsAdmin: u.IsAdmin, Now: now.Unix()})
	return app.UserRecord(row), msgs.Classify(err)
}

// ByEmail implements app.Repository.
func (r *Postgres) ByEmail(ctx context.Context, email string) (app.UserRecord, error) {
	row, err := r.q.GetUserByEmail(ctx, email)
	return app.UserRecord(row), msgs.Classify(err)
}

// ByID implements app.Repository.
func (r *Postgres) ByID(ctx context.Context, id int64) (app.UserRecord, error) {
	row, err := r.q.GetUserByID(ctx, id)
	return app.UserRecord(row), msgs.Classify(err)
}

// ReplacePassword implements app.Repository: the fenced hash update first
// (it locks the user's row until commit, see HoldCredentials in
// sql/queries/user.sql), then the end of every session of the user.
func (r *Postgres) ReplacePassword(ctx context.Context, id, epoch int64, hash string, now time.Time) error {
	return msgs.Classify(r.inTx(ctx, func(q *db.Queries) error {
		n, err := q.ReplacePasswordHash(ctx, db.ReplacePasswordHashParams{ID: id, CredentialEpoch: epoch, PasswordHash: hash,
			Now: now.Unix()})
		if err != nil {
			return err
		}
		if n == 0 {
			return app.ErrCredentialsChanged
		}
		_, err = q.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{UserID: id, Reason: "password change",
			Now: sql.NullInt64{Int64: now.Unix(), Valid: true}})
		return err
	}))
}

// UncheckedEmails implements app.Repository.
func (r *Postgres) UncheckedEmails(ctx context.Context) ([]app.StoredEmail, error) {
	rows, err := r.q.ListUncheckedEmails(ctx)
	out := make([]app.StoredEmail, 0, len(rows))
	for _, row := range rows {
		out = append(out, app.StoredEmail(row))
	}
	return out, msgs.Classify(err)
}

// SetCanonicalEmail implements app.Repository.
func (r *Postgres) SetCanonicalEmail(ctx context.Context, id int64, stored, canonical string) error {
	n, err := r.q.SetCanonicalEmail(ctx, db.SetCanonicalEmailParams{ID: id, Stored: stored, Canonical: canonical})
	return msgs.Rows(n, err)
}

// Ping implements app.Repository.
func (r *Postgres) Ping(ctx context.Context) error { return database.Ping(ctx, r.db) }

func (r *Postgres) inTx(ctx context.Context, fn func(q *db.Queries) error) error {
	return database.InTx(ctx, r.db, func(tx *sql.Tx) error { return fn(r.q.WithTx(tx)) })
}

// StartSession implements app.SessionRepository: the credential fence
// (HoldCredentials) first, then the family and its first token.
func (r *Postgres) StartSession(ctx context.Context, f app.FamilyRecord, first app.RefreshRecord, epoch int64) error {
	return msgs.Classify(r.inTx(ctx, func(q *db.Queries) error {
		held, err := q.HoldCredentials(ctx, db.HoldCredentialsParams{ID: f.UserID, CredentialEpoch: epoch})
		if err != nil {
			return err
		}
		if held == 0 {
			return app.ErrCredentialsChanged
		}
		if err := q.CreateSessionFamily(ctx, db.CreateSessionFamilyParams{ID: f.ID, UserID: f.UserID, Now: f.CreatedAt,
			ExpiresAt: f.ExpiresAt}); err != nil {
			return err
		}
		return q.CreateRefreshToken(ctx, db.CreateRefreshTokenParams{TokenHash: first.Hash, FamilyID: first.FamilyID,
			UserID: first.UserID, Now: f.CreatedAt, ExpiresAt: first.ExpiresAt})
	}))
}

// Rotate implements app.SessionRepository.
func (r *Postgres) Rotate(ctx context.Context, hash string, next func(app.FamilyRecord) (app.RefreshRecord, error),
	now time.Time) (app.Rotation, error) {
	var out app.Rotation
	err := r.inTx(ctx, func(q *db.Queries) error {
		row, err := q.SpendRefreshToken(ctx, db.SpendRefreshTokenParams{Now: sql.NullInt64{Int64: now.Unix(), Valid: true},
			TokenHash: hash})
		familyID := row.FamilyID
		if errors.Is(err, sql.ErrNoRows) { // unknown, or spent before: reuse
			spentBefore, err := q.GetRefreshToken(ctx, hash)
			if err != nil {
				return err
			}
			out.Reused, familyID = true, spentBefore.FamilyID
		} else if err != nil {
			return err
		}
		read := q.LockSessionFamily // a live rotation waits for, or holds off, a revocation
		if out.Reused {
			read = q.GetSessionFamily // nothing is issued: it is revoked below
		}
		f, err := read(ctx, familyID)
		if err != nil {
			return err
		}
		out.Family = sessionFamily(f.ID, f.UserID, f.CreatedAt, f.ExpiresAt, f.RevokedAt)
		if out.Reused || !live(out.Family, now) {
			return nil
		}
		n, err := next(out.Family)
		if err != nil {
			return err
		}
		return q.CreateRefreshToken(ctx, db.CreateRefreshTokenParams{TokenHash: n.Hash, FamilyID: n.FamilyID, UserID: n.UserID,
			Now: now.Unix(), ExpiresAt: n.ExpiresAt})
	})
	return out, sessionMsgs.Classify(err)
}

// Family implements app.SessionRepository.
func (r *Postgres) Family(ctx context.Context, id string) (app.FamilyRecord, error) {
	f, err := r.q.GetSessionFamily(ctx, id)
	return sessionFamily(f.ID, f.UserID, f.CreatedAt, f.ExpiresAt, f.RevokedAt), sessionMsgs.Classify(err)
}

// RevokeFamily implements app.SessionRepository.
func (r *Postgres) RevokeFamily(ctx context.Context, id, reason string, now time.Time) error {
	_, err := r.q.RevokeSessionFamily(ctx, db.RevokeSessionFamilyParams{ID: id, Reason: reason,
		Now: sql.NullInt64{Int64: now.Unix(), Valid: true}})
	return sessionMsgs.Classify(err)
}

// RevokeUserSessions implements app.SessionRepository.
func (r *Postgres) RevokeUserSessions(ctx context.Context, userID int64, reason string, now time.Time) error {
	_, err := r.q.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{UserID: userID, Reason: reason,
		Now: sql.NullInt64{Int64: now.Unix(), Valid: true}})
	return sessionMsgs.Classify(err)
}

// SetActive implements app.SessionRepository.
func (r *Postgres) SetActive(ctx context.Context, userID int64, active bool, now time.Time) error {
	n, err := r.q.SetUserActive(ctx, db.SetUserActiveParams{ID: userID, IsActive: active, Now: now.Unix()})
	return msgs.Rows(n, err)
}
