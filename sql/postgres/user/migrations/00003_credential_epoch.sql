-- +goose Up
-- The credential epoch is the password's version: read with the hash at login,
-- bumped by every password change, and checked (under the row's lock) in the
-- transaction that starts a session, so a login that checked an old password
-- cannot start a session once the password has changed.
ALTER TABLE users ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN credential_epoch;
