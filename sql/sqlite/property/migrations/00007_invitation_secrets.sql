-- +goose Up
-- Issue 34: an invitation is accepted with the single-use secret mailed to
-- its address, proof of the mailbox that registering an account is not.
-- secret_hash is the hex SHA-256 of that secret (the secret itself is kept
-- nowhere: only the mail has it); a new one replaces it when the invitation
-- is sent again, and NULL (an invitation from before this migration) is
-- matched by no secret until an owner sends it again. sent_at is when the
-- mail server took the mail; NULL: unsent, as the owner's list shows.
ALTER TABLE invitations ADD COLUMN secret_hash TEXT;
ALTER TABLE invitations ADD COLUMN sent_at INTEGER;

-- +goose Down
ALTER TABLE invitations DROP COLUMN sent_at;
ALTER TABLE invitations DROP COLUMN secret_hash;
