package adapters

import (
	"context"
	"database/sql"

	"jeeves4service/services/common/database"
	"jeeves4service/services/user/app"
)

// Open opens (and migrates) the user database at url and returns the
// repository for its engine, and the connection pool to close when done.
func Open(ctx context.Context, url string) (app.Repository, *sql.DB, error) {
	return database.OpenFor(ctx, url, "user",
		func(ctx context.Context, c *sql.DB) (app.Repository, error) { return NewSQLite(ctx, c) },
		func(ctx context.Context, c *sql.DB) (app.Repository, error) { return NewPostgres(ctx, c) })
}

// msgs is what this repository says when a row is missing or duplicated.
var msgs = database.Messages{NotFound: "No such user.", Conflict: "That email is already registered."}
