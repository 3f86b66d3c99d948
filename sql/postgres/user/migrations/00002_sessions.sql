-- +goose Up
-- A session is a family of refresh tokens: login starts one, each refresh
-- spends a token and adds the next, logout / a password change /
-- deactivation / reuse of a spent token revoke it. expires_at bounds the
-- whole family's life (REFRESH_TTL), not one token's. Only SHA-256 digests of
-- refresh tokens are stored, hex-encoded.
CREATE TABLE session_families (
    id             TEXT    PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    revoked_at     BIGINT, 
    revoked_reason TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX session_families_by_user ON session_families (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES session_families (id) ON DELETE CASCADE,
    user_id    BIGINT  NOT NULL,
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    spent_at   BIGINT 
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE session_families;
