-- The one query of the user service whose SQL differs by engine: it takes a
-- list of ids, as one JSON array (the same Go type on both engines, and one
-- statement text, so it is prepared once), read with jsonb_array_elements_text
-- on PostgreSQL and json_each on SQLite. sql/queries/sqlite/user_profiles.sql
-- is its twin.

-- name: SeenMemberProfiles :many
-- The profiles of the ids seen as members of property_id at a login or
-- refresh at or after seen_at: one query per profiles call, however many ids.
SELECT u.id, u.first_name, u.last_name, u.email
FROM users u JOIN seen_memberships m ON m.user_id = u.id
WHERE m.property_id = sqlc.arg(property_id) AND m.seen_at >= sqlc.arg(seen_at) AND u.id IN (SELECT jsonb_array_elements_text(sqlc.arg(ids)::JSONB)::BIGINT)
ORDER BY u.id;
