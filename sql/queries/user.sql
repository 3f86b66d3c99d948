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
