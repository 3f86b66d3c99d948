-- Queries of the user service. One file serves both engines: sqlc.arg() becomes
-- `?` for SQLite and `$n` for PostgreSQL, and the SQL below is common to both.

-- name: CreateUser :one
-- email is in canonical form (the service puts it there before it stores it).
INSERT INTO users (email, password_hash, first_name, last_name, is_admin, is_active, created_at, updated_at, email_canonical)
VALUES (sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(first_name), sqlc.arg(last_name),
        sqlc.arg(is_admin), TRUE, sqlc.arg(now), sqlc.arg(now), TRUE)
RETURNING *;

-- name: ListUncheckedEmails :many
-- Accounts whose stored email is not known to be canonical: from before the
-- canonical form, or left as they were because theirs belongs to another.
SELECT id, email FROM users WHERE NOT email_canonical ORDER BY id;

-- name: SetCanonicalEmail :execrows
-- Puts one stored email in its canonical form, if it is still what was read
-- (a replica starting at the same time may have done it). A unique violation
-- means another account has that form already.
UPDATE users SET email = sqlc.arg(canonical), email_canonical = TRUE
WHERE id = sqlc.arg(id) AND email = sqlc.arg(stored) AND NOT email_canonical;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = sqlc.arg(email);

-- name: GetUserByID :one
SELECT * FROM users WHERE id = sqlc.arg(id);

-- name: ReplacePasswordHash :execrows
-- A password change, fenced: it applies only if the credential epoch is still
-- the one read with the hash that the current password was checked against,
-- and bumps it. It is the first statement of the transaction that also ends
-- the user's sessions, so the row stays locked until they are ended (see
-- HoldCredentials for why that order matters).
UPDATE users SET password_hash = sqlc.arg(password_hash), credential_epoch = credential_epoch + 1,
                 updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND credential_epoch = sqlc.arg(credential_epoch);

-- name: HoldCredentials :execrows
-- The fence a new session passes, first in the transaction that creates it:
-- one row if the user is active and the password is still the one checked
-- (same credential epoch), none otherwise. It is an UPDATE that changes
-- nothing so that it takes the row's write lock, which makes it race-free on
-- both engines:
--   PostgreSQL (READ COMMITTED): a plain SELECT, or a conditional INSERT ...
--   SELECT, reads the last committed row without waiting, so it would pass
--   while a password change sat uncommitted between bumping the epoch and
--   ending the sessions, and its session would outlive the change. An UPDATE
--   waits for the change's row lock instead, then re-evaluates its WHERE on
--   the committed row (the bumped epoch: no row). If it gets the lock first,
--   the change's own UPDATE waits until this session is committed, and the
--   change then ends it with the others.
--   SQLite: every transaction takes the single write lock at BEGIN
--   (_txlock=immediate), so this one runs wholly before a change (which ends
--   the session it made) or wholly after it (and finds the bumped epoch).
UPDATE users SET credential_epoch = credential_epoch
WHERE id = sqlc.arg(id) AND credential_epoch = sqlc.arg(credential_epoch) AND is_active;

-- name: SetUserActive :execrows
UPDATE users SET is_active = sqlc.arg(is_active), updated_at = sqlc.arg(now) WHERE id = sqlc.arg(id);

-- name: CreateSessionFamily :exec
INSERT INTO session_families (id, user_id, created_at, expires_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(now), sqlc.arg(expires_at));

-- name: GetSessionFamily :one
SELECT * FROM session_families WHERE id = sqlc.arg(id);

-- name: LockSessionFamily :one
-- A refresh reads its family with this, inside the transaction that spends
-- its token: an UPDATE that changes nothing, so that it waits for a
-- concurrent revocation's row lock and then returns the committed row
-- (PostgreSQL re-reads the row it waited for), instead of the pre-revocation
-- row a plain SELECT would return under READ COMMITTED. A revocation that
-- comes after it waits until the rotation is committed, and ends the new
-- token with the family. (SQLite: one writer at a time, see HoldCredentials.)
UPDATE session_families SET revoked_at = revoked_at WHERE id = sqlc.arg(id)
RETURNING *;

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

-- name: ListSeenMemberships :many
-- What was seen of a user's properties, read in the transaction that
-- replaces it (so that first_seen_at survives a login that sees it again).
SELECT property_id, first_seen_at FROM seen_memberships WHERE user_id = sqlc.arg(user_id);

-- name: ForgetSeenMemberships :exec
-- The first half of replacing what a login or refresh saw (its transaction
-- adds the rows it saw).
DELETE FROM seen_memberships WHERE user_id = sqlc.arg(user_id);

-- name: SeeMembership :exec
-- An upsert: two logins of one user at once both delete, then both insert.
INSERT INTO seen_memberships (property_id, user_id, seen_at, first_seen_at)
VALUES (sqlc.arg(property_id), sqlc.arg(user_id), sqlc.arg(seen_at), sqlc.arg(first_seen_at))
ON CONFLICT (property_id, user_id) DO UPDATE SET seen_at = excluded.seen_at;

-- name: SeenMemberSince :one
-- When user_id was first seen as a member of property_id, if it was seen so
-- at a login or refresh at or after seen_at (no row otherwise).
SELECT first_seen_at FROM seen_memberships
WHERE property_id = sqlc.arg(property_id) AND user_id = sqlc.arg(user_id) AND seen_at >= sqlc.arg(seen_at);
