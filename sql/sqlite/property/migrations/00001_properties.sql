-- +goose Up
-- Times are unix seconds in an INTEGER on both engines (see the user schema).
-- user_id refers to the user service's users: that table lives in another
-- service's database, so there is no foreign key to it.
CREATE TABLE properties (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    address    TEXT    NOT NULL DEFAULT '',
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    property_id INTEGER NOT NULL REFERENCES properties (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (property_id, name)
);

CREATE TABLE property_members (
    property_id  INTEGER NOT NULL REFERENCES properties (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL,
    access_level TEXT    NOT NULL CHECK (access_level IN ('owner', 'member', 'guest')),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (property_id, user_id)
);

CREATE INDEX property_members_by_user ON property_members (user_id);

-- +goose Down
DROP TABLE property_members;
DROP TABLE rooms;
DROP TABLE properties;
