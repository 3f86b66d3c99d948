package adapters

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// Open opens (and migrates) the user database at url and returns the
// repository for its engine, and the connection pool to close when done.
func Open(ctx context.Context, url string, traced *database.Traced) (app.Store, *sql.DB, error) {
	return database.OpenFor(ctx, url, "user", traced,
		func(ctx context.Context, c *sql.DB) (app.Store, error) { return NewSQLite(ctx, c) },
		func(ctx context.Context, c *sql.DB) (app.Store, error) { return NewPostgres(ctx, c) })
}

// msgs is what this repository says when a row is missing or duplicated.
var msgs = database.Messages{NotFound: "No such user.", Conflict: "That email is already registered."}

// sessionMsgs is what the session store says when a row is missing.
var sessionMsgs = database.Messages{NotFound: "No such session.", Conflict: "That session already exists."}

// sessionFamily converts a stored family (the same columns on both engines).
func sessionFamily(id string, userID, created, expires int64, revoked sql.NullInt64) app.FamilyRecord {
	return app.FamilyRecord{ID: id, UserID: userID, CreatedAt: created, ExpiresAt: expires, RevokedAt: revoked.Int64}
}

// live reports whether a family may still issue tokens at now.
func live(f app.FamilyRecord, now time.Time) bool {
	return f.RevokedAt == 0 && f.ExpiresAt > now.Unix()
}

// seen turns a lookup of one row into whether it was there.
func seen(err error) (bool, error) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, msgs.Classify(err)
	}
	return true, nil
}

// firstSeen gives each of the properties seen now the time its user was
// first seen in it: kept from before (property id to unix seconds) while the
// user stays seen in it, now for a property new to them.
func firstSeen(properties []int64, now time.Time, before map[int64]int64) map[int64]int64 {
	out := make(map[int64]int64, len(properties))
	for _, p := range properties {
		if first, ok := before[p]; ok {
			out[p] = first
		} else {
			out[p] = now.Unix()
		}
	}
	return out
}
