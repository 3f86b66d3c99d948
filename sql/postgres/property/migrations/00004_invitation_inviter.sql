-- +goose Up
-- Who sent an invitation, as the invitee can check it: the inviter's
-- canonical address, from the email claim the user service signed into the
-- inviter's access token when they invited ('' for an invitation sent
-- before this column). An invitation is also its inviter's act only while
-- the inviter owns the property: pending ones whose inviter no longer does
-- (left by removals and demotions before they revoked them) are removed.
ALTER TABLE invitations ADD COLUMN invited_by_email TEXT NOT NULL DEFAULT '';

DELETE FROM invitations
WHERE NOT EXISTS (SELECT 1 FROM property_members o
                  WHERE o.property_id = invitations.property_id AND o.user_id = invitations.invited_by
                    AND o.access_level = 'owner');

-- The revocation of one inviter's invitations when they stop owning a property.
CREATE INDEX invitations_by_inviter ON invitations (property_id, invited_by);

-- +goose Down
DROP INDEX invitations_by_inviter;
ALTER TABLE invitations DROP COLUMN invited_by_email;
