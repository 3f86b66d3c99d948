-- Issue 34: pending invitations stored in the canonical form from before it
-- (see the migration 00006), checked once each at start-up.

-- name: InvitationEmailsToCheck :many
SELECT i.id, i.property_id, i.email
FROM invitation_emails_to_check c JOIN invitations i ON i.id = c.invitation_id
ORDER BY i.id;

-- name: SetInvitationEmail :execrows
-- Puts one invitation's email in its new form, if it is still what was read.
UPDATE invitations SET email = sqlc.arg(canonical)
WHERE id = sqlc.arg(id) AND email = sqlc.arg(stored);

-- name: InvitationEmailChecked :exec
DELETE FROM invitation_emails_to_check WHERE invitation_id = sqlc.arg(id);
