-- Queries of the property service. One file serves both engines: sqlc.arg() becomes
-- `?` for SQLite and `$n` for PostgreSQL, and the SQL below is common to both.

-- name: CreateProperty :one
INSERT INTO properties (name, address, created_by, created_at, updated_at)
VALUES (sqlc.arg(name), sqlc.arg(address), sqlc.arg(created_by), sqlc.arg(now), sqlc.arg(now))
RETURNING *;

-- name: GetProperty :one
SELECT * FROM properties WHERE id = sqlc.arg(id);

-- Writes below carry their own authorization (the caller is an owner of the
-- property *now*, in the same statement) and change only what they were
-- given, so two concurrent requests can neither lose each other's changes nor
-- act on an ownership revoked a moment before. No row means: no such
-- property, or the caller may not change it (the app says which).

-- name: UpdateProperty :one
UPDATE properties
SET name = COALESCE(sqlc.narg(name), name),
    address = COALESCE(sqlc.narg(address), address),
    updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = sqlc.arg(id) AND o.user_id = sqlc.arg(caller) AND o.access_level = 'owner')
RETURNING *;

-- name: DeleteProperty :execrows
DELETE FROM properties
WHERE id = sqlc.arg(id)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = sqlc.arg(id) AND o.user_id = sqlc.arg(caller) AND o.access_level = 'owner');

-- name: ListAllProperties :many
-- One page of every property (an admin's list), with the admin's own access
-- level where they are a member and guest elsewhere.
SELECT p.id, p.name, p.address, p.created_at, COALESCE(m.access_level, 'guest') AS access_level
FROM properties p
LEFT JOIN property_members m ON m.property_id = p.id AND m.user_id = sqlc.arg(user_id)
WHERE p.id > sqlc.arg(after)
ORDER BY p.id
LIMIT CAST(sqlc.arg(page_size) AS BIGINT);

-- name: ListMemberships :many
-- One page of the properties the user has access to, with the access level.
SELECT p.id, p.name, p.address, p.created_at, m.access_level
FROM property_members m
JOIN properties p ON p.id = m.property_id
WHERE m.user_id = sqlc.arg(user_id) AND p.id > sqlc.arg(after)
ORDER BY p.id
LIMIT CAST(sqlc.arg(page_size) AS BIGINT);

-- name: ListUserClaims :many
-- The internal claims endpoint: the user's properties in id order, read straight
-- from the (user_id, property_id) index (no window, no sort). The caller asks for
-- one row more than its page and counts (CountUserClaims) only when that row comes.
SELECT p.id, p.name, m.access_level
FROM property_members m
JOIN properties p ON p.id = m.property_id
WHERE m.user_id = sqlc.arg(user_id)
ORDER BY m.property_id
LIMIT CAST(sqlc.arg(page_size) AS BIGINT);

-- name: CountUserClaims :one
-- How many properties the user has access to in all, when a claims page is full.
SELECT COUNT(*) FROM property_members WHERE user_id = sqlc.arg(user_id);

-- name: PutMember :one
INSERT INTO property_members (property_id, user_id, access_level, created_at)
VALUES (sqlc.arg(property_id), sqlc.arg(user_id), sqlc.arg(access_level), sqlc.arg(now))
ON CONFLICT (property_id, user_id) DO UPDATE SET access_level = excluded.access_level
RETURNING *;

-- name: GetMember :one
SELECT * FROM property_members WHERE property_id = sqlc.arg(property_id) AND user_id = sqlc.arg(user_id);

-- name: ListMembers :many
SELECT * FROM property_members WHERE property_id = sqlc.arg(property_id) ORDER BY user_id;

-- name: CountMembers :one
SELECT COUNT(*) FROM property_members WHERE property_id = sqlc.arg(property_id);

-- name: CountOwners :one
SELECT COUNT(*) FROM property_members WHERE property_id = sqlc.arg(property_id) AND access_level = 'owner';

-- name: DeleteMember :execrows
DELETE FROM property_members WHERE property_id = sqlc.arg(property_id) AND user_id = sqlc.arg(user_id);

-- name: CreateRoom :one
-- Only by a current owner, and only while the property has fewer than 200
-- rooms (the most the contract lets a room list hold).
INSERT INTO rooms (property_id, name, created_at)
SELECT o.property_id, sqlc.arg(name), sqlc.arg(now)
FROM property_members o
WHERE o.property_id = sqlc.arg(property_id) AND o.user_id = sqlc.arg(caller) AND o.access_level = 'owner'
  AND (SELECT COUNT(*) FROM rooms r WHERE r.property_id = o.property_id) < 200
RETURNING *;

-- name: ListRooms :many
SELECT * FROM rooms WHERE property_id = sqlc.arg(property_id) ORDER BY id;

-- name: LockProperty :execrows
-- Taken at the start of a membership change: a row lock on PostgreSQL (SQLite
-- already holds the database write lock), so two owners demoting each other at
-- once cannot leave a property without an owner.
UPDATE properties SET updated_at = sqlc.arg(now) WHERE id = sqlc.arg(id);

-- name: PutInvitation :one
-- Only by a current owner, and only while the property has fewer than 100
-- pending invitations (the most the contract lets a list hold); inviting an
-- address again replaces its invitation (an expired one too), inviter included,
-- and its secret with it: the last mail's secret is the only one that
-- accepts, and the invitation is unsent until that mail is taken
-- (MarkInvitationSent). invited_by_email is the inviter's canonical address
-- from their verified access token: what the invitee sees of who invited them.
INSERT INTO invitations (property_id, email, access_level, invited_by, invited_by_email, created_at, expires_at, secret_hash)
SELECT o.property_id, sqlc.arg(email), sqlc.arg(access_level), sqlc.arg(caller), sqlc.arg(caller_email), sqlc.arg(now),
       sqlc.arg(expires_at), sqlc.arg(secret_hash)
FROM property_members o
WHERE o.property_id = sqlc.arg(property_id) AND o.user_id = sqlc.arg(caller) AND o.access_level = 'owner'
  AND (SELECT COUNT(*) FROM invitations i
       WHERE i.property_id = o.property_id AND i.expires_at > sqlc.arg(now) AND i.email <> sqlc.arg(email)) < 100
  AND TRUE -- SQLite: an upsert of an INSERT ... SELECT needs a WHERE before ON CONFLICT
ON CONFLICT (property_id, email) DO UPDATE
SET access_level = excluded.access_level, invited_by = excluded.invited_by, invited_by_email = excluded.invited_by_email,
    created_at = excluded.created_at, expires_at = excluded.expires_at,
    secret_hash = excluded.secret_hash, sent_at = NULL
RETURNING *;

-- name: RenewInvitationSecret :one
-- An owner sends a pending invitation again: a new secret, and the old one
-- dies; unsent until the new mail is taken. Only by a current owner.
UPDATE invitations SET secret_hash = sqlc.arg(secret_hash), sent_at = NULL
WHERE invitations.id = sqlc.arg(id) AND invitations.property_id = sqlc.arg(property_id)
  AND invitations.expires_at > sqlc.arg(now)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = invitations.property_id AND o.user_id = sqlc.arg(caller) AND o.access_level = 'owner')
RETURNING *;

-- name: MarkInvitationSent :execrows
-- The mail server took the mail of the secret whose hash is given; nothing
-- when the invitation was replaced or sent again meanwhile (that secret is
-- dead, and the newer mail says whether it was sent).
UPDATE invitations SET sent_at = sqlc.arg(now) WHERE id = sqlc.arg(id) AND secret_hash = sqlc.arg(secret_hash);

-- An invitation is its inviter's act only while the inviter owns the
-- property: removing or demoting an owner revokes theirs in the same
-- transaction (RevokeInviterInvitations), and every read below that lists,
-- accepts or declines one also requires that the inviter is an owner now, so
-- that one a revocation raced (an invitation written from a snapshot in which
-- its inviter still owned) is dead too.

-- name: ListPropertyInvitations :many
SELECT i.id, i.property_id, p.name AS property_name, i.email, i.access_level, i.invited_by, i.invited_by_email,
       i.created_at, i.expires_at, i.sent_at
FROM invitations i
JOIN properties p ON p.id = i.property_id
WHERE i.property_id = sqlc.arg(property_id) AND i.expires_at > sqlc.arg(now)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = i.property_id AND o.user_id = i.invited_by AND o.access_level = 'owner')
ORDER BY i.id
LIMIT 100;

-- name: ListEmailInvitations :many
-- One page of the invitations addressed to email (ids above after, by id),
-- from the (email, id) index.
SELECT i.id, i.property_id, p.name AS property_name, i.email, i.access_level, i.invited_by, i.invited_by_email,
       i.created_at, i.expires_at, i.sent_at
FROM invitations i
JOIN properties p ON p.id = i.property_id
WHERE i.email = sqlc.arg(email) AND i.id > sqlc.arg(after) AND i.expires_at > sqlc.arg(now)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = i.property_id AND o.user_id = i.invited_by AND o.access_level = 'owner')
ORDER BY i.id
LIMIT CAST(sqlc.arg(page_size) AS BIGINT);

-- name: CountEmailInvitations :one
-- How many invitations ListEmailInvitations lists in all, over every page.
SELECT COUNT(*)
FROM invitations i
WHERE i.email = sqlc.arg(email) AND i.expires_at > sqlc.arg(now)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = i.property_id AND o.user_id = i.invited_by AND o.access_level = 'owner');

-- name: RevokeInvitation :execrows
-- Only by a current owner of the invitation's property.
DELETE FROM invitations
WHERE invitations.id = sqlc.arg(id) AND invitations.property_id = sqlc.arg(property_id)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = invitations.property_id AND o.user_id = sqlc.arg(caller) AND o.access_level = 'owner');

-- name: RevokeInviterInvitations :execrows
-- Every invitation of the property sent by inviter: run in the transaction
-- that removes or demotes them as an owner.
DELETE FROM invitations WHERE property_id = sqlc.arg(property_id) AND invited_by = sqlc.arg(inviter);

-- name: GetEmailInvitation :one
-- An invitation addressed to email, not expired, whose inviter owns its
-- property now: the only ones its addressee may accept or decline.
SELECT * FROM invitations
WHERE id = sqlc.arg(id) AND email = sqlc.arg(email) AND expires_at > sqlc.arg(now)
  AND EXISTS (SELECT 1 FROM property_members o
              WHERE o.property_id = invitations.property_id AND o.user_id = invitations.invited_by
                AND o.access_level = 'owner');

-- name: DeleteInvitation :execrows
DELETE FROM invitations WHERE id = sqlc.arg(id);

-- name: AddMember :one
-- A new member, by an accepted invitation (an existing member keeps the
-- level they have).
INSERT INTO property_members (property_id, user_id, access_level, created_at)
VALUES (sqlc.arg(property_id), sqlc.arg(user_id), sqlc.arg(access_level), sqlc.arg(now))
ON CONFLICT (property_id, user_id) DO NOTHING
RETURNING *;

-- name: SetMemberLevel :one
-- An existing member's new level; no row: not a member.
UPDATE property_members SET access_level = sqlc.arg(access_level)
WHERE property_id = sqlc.arg(property_id) AND user_id = sqlc.arg(user_id)
RETURNING *;
