package adapters

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	db "jeeves4service/gen/db/userpg"
	"jeeves4service/services/common/database"
	"jeeves4service/services/user/app"
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

// SetPasswordHash implements app.Repository.
func (r *Postgres) SetPasswordHash(ctx context.Context, id int64, hash string, now time.Time) error {
	n, err := r.q.UpdatePasswordHash(ctx, db.UpdatePasswordHashParams{ID: id, PasswordHash: hash, Now: now.Unix()})
	return msgs.Rows(n, err)
}

// Ping implements app.Repository.
func (r *Postgres) Ping(ctx context.Context) error { return database.Ping(ctx, r.db) }
