-- +goose Up
-- Issue 34: the canonical form (services/common/emailaddr) no longer folds
-- case before IDNA. Pending invitations stored in the old form whose address
-- may differ in the new one, or may stand for another mailbox (a non-ASCII
-- character, an A-label or "ss"), are listed here; the service checks each
-- once at start-up, in Go (NFKC, lower casing and IDNA are not SQL): puts it
-- in the new form or reports it, then removes it from this list. New
-- invitations are stored in the new form and never listed.
CREATE TABLE invitation_emails_to_check (
    invitation_id BIGINT PRIMARY KEY REFERENCES invitations (id) ON DELETE CASCADE
);

INSERT INTO invitation_emails_to_check (invitation_id)
SELECT id FROM invitations
WHERE email LIKE '%ss%' OR email LIKE '%xn--%' OR length(email) <> octet_length(email);

-- +goose Down
DROP TABLE invitation_emails_to_check;
