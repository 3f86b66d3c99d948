-- +goose Up
-- An owner's invitation of an email address (in canonical form, see package
-- emailaddr) to a property. Nobody is a member by it: the person addressed
-- accepts it (a membership) or declines it, the owner revokes it, and a row
-- whose expires_at is past counts as gone. One per address and property.
CREATE TABLE invitations (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    property_id  BIGINT  NOT NULL REFERENCES properties (id) ON DELETE CASCADE,
    email        TEXT    NOT NULL,
    access_level TEXT    NOT NULL CHECK (access_level IN ('owner', 'member', 'guest')),
    invited_by   BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    UNIQUE (property_id, email)
);

CREATE INDEX invitations_by_email ON invitations (email, id);

-- +goose Down
DROP TABLE invitations;
