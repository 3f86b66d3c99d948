-- +goose Up
-- email_canonical: the stored email is known to be in its canonical form
-- (services/common/emailaddr), under which accounts are unique and found at
-- login. New accounts are stored canonical. Rows from before are put in that
-- form at start-up, in Go (NFKC, case folding and IDNA are not SQL): in
-- place when no other account has that form, otherwise left as they were,
-- with the flag FALSE, and reported at every start (see the README,
-- Registration and email addresses).
ALTER TABLE users ADD COLUMN email_canonical BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE users DROP COLUMN email_canonical;
