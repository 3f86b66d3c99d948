-- Queries of the user service. One file serves both engines: sqlc.arg() becomes
-- `?` for SQLite and `$n` for PostgreSQL, and the SQL below is common to both.

-- name: CreateUser :one
INSERT INTO users (email, password_hash, first_name, last_name, is_admin, is_active, created_at, updated_at)
VALUES (sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(first_name), sqlc.arg(last_name),
        sqlc.arg(is_admin), TRUE, sqlc.arg(now), sqlc.arg(now))
RETURNING *;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = sqlc.arg(email);

-- name: GetUserByID :one
SELECT * FROM users WHERE id = sqlc.arg(id);

-- name: UpdatePasswordHash :execrows
UPDATE users SET password_hash = sqlc.arg(password_hash), updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id);

-- name: SetUserActive :execrows
UPDATE users SET is_active = sqlc.arg(is_active), updated_at = sqlc.arg(now) WHERE id = sqlc.arg(id);

-- name: CreateSessionFamily :exec
INSERT INTO session_families (id, user_id, created_at, expires_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(now), sqlc.arg(expires_at));

-- name: GetSessionFamily :one
SELECT * FROM session_families WHERE id = sqlc.arg(id);

-- name: RevokeSessionFamily :execrows
UPDATE session_families SET revoked_at = sqlc.arg(now), revoked_reason = sqlc.arg(reason)
WHERE id = sqlc.arg(id) AND revoked_at IS NULL;

-- name: RevokeUserSessions :execrows
UPDATE session_families SET revoked_at = sqlc.arg(now), revoked_reason = sqlc.arg(reason)
WHERE user_id = sqlc.arg(user_id) AND revoked_at IS NULL;

-- name: CreateRefreshToken :exec
INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at)
VALUES (sqlc.arg(token_hash), sqlc.arg(family_id), sqlc.arg(user_id), sqlc.arg(now), sqlc.arg(expires_at));

-- name: SpendRefreshToken :one
-- Marks the token spent if, and only if, it was not spent yet: of concurrent
-- refreshes with one token, exactly one gets the row back.
UPDATE refresh_tokens SET spent_at = sqlc.arg(now)
WHERE token_hash = sqlc.arg(token_hash) AND spent_at IS NULL
RETURNING family_id, user_id, expires_at;

-- name: GetRefreshToken :one
SELECT * FROM refresh_tokens WHERE token_hash = sqlc.arg(token_hash);
