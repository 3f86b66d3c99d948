-- +goose Up
-- What the user service has seen itself of who may use which property: the
-- property ids in the property claims it fetched, with its own credential,
-- at each user's last login or refresh (one row per property; a login or
-- refresh that got claims replaces the user's rows). The profiles call
-- (getUserProfiles) answers a subject only about the members of a property
-- it has seen the subject in, never on the caller's say-so. seen_at is unix
-- seconds: how stale a row may be is the call's rule (JWT_TTL for the
-- subject, REFRESH_TTL for the others).
CREATE TABLE seen_memberships (
    property_id BIGINT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seen_at     BIGINT NOT NULL,
    -- When the user was first seen in the property (kept across logins
    -- while they stay seen in it): a subject reads only the people seen in
    -- the property since then, never those who left before it joined.
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (property_id, user_id)
);

CREATE INDEX seen_memberships_by_user ON seen_memberships (user_id);

-- +goose Down
DROP TABLE seen_memberships;
