-- The OAuth Authorization Server's state (checklist sections O and P; port
-- `pds::ports::OAuthStore`): pushed authorization requests, the PKCE challenges seen recently,
-- authorization codes and sessions.
--
-- Every row carries `expires_at` (milliseconds since the Unix epoch): a row is live while
-- `now < expires_at`, reads filter on it with the caller's `now`, and `sweep` deletes the
-- others. Secrets (codes, refresh tokens) are stored as SHA-256 digests, never in clear.

-- Pushed authorization requests (PAR), waiting behind their `request_uri` for the user to sign
-- in and approve. `data` is the validated request as JSON text, opaque to the store. A request
-- is deleted when it yields its code (at most one code per request).
CREATE TABLE oauth_request (
    id              TEXT    PRIMARY KEY NOT NULL,
    client_id       TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT;

-- PKCE `code_challenge` values recorded with a request, refused again until their memory
-- expires (a challenge seen twice means a replayed or copied authorization request). The
-- primary key is the uniqueness check.
CREATE TABLE oauth_challenge (
    challenge       TEXT    PRIMARY KEY NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT;

-- Authorization codes, by digest. A redeemed code stays (`used = 1`) until it expires so that
-- a second redemption is detected; `session_id` names the session the first redemption made,
-- which a reuse revokes (no foreign key: the code must still name it after the session went).
CREATE TABLE oauth_code (
    digest          BLOB    PRIMARY KEY NOT NULL CHECK (length(digest) = 32),
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    client_id       TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    expires_at      INTEGER NOT NULL,
    used            INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)),
    session_id      TEXT
) STRICT;

-- OAuth sessions: one per grant, the family of a rotating refresh token and the access tokens
-- it yields (their `jti` is `id`). `refresh_digest` is the current refresh token,
-- `prev_refresh_digest` the one it replaced: presenting that one again revokes the session
-- (revoking deletes the row). `client_kid`/`client_jkt` are set together, for confidential
-- clients only. A session ends at `expires_at` whatever happens; its refresh token stops
-- working at `refresh_expires_at`.
CREATE TABLE oauth_session (
    id                  TEXT    PRIMARY KEY NOT NULL,
    did                 TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    client_id           TEXT    NOT NULL,
    scope               TEXT    NOT NULL,
    dpop_jkt            TEXT    NOT NULL,
    client_kid          TEXT,
    client_jkt          TEXT,
    refresh_digest      BLOB    NOT NULL UNIQUE CHECK (length(refresh_digest) = 32),
    prev_refresh_digest BLOB    CHECK (prev_refresh_digest IS NULL
                                       OR length(prev_refresh_digest) = 32),
    created_at          INTEGER NOT NULL,
    refresh_expires_at  INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    CHECK ((client_kid IS NULL) = (client_jkt IS NULL))
) STRICT;
-- Refresh-token reuse detection looks sessions up by their previous token.
CREATE INDEX oauth_session_prev_refresh ON oauth_session (prev_refresh_digest);
-- An account's sessions, newest first (`sessions_of`); also serves the cascade from `account`.
CREATE INDEX oauth_session_did ON oauth_session (did, created_at);
-- The cascade from `account` to its codes.
CREATE INDEX oauth_code_did ON oauth_code (did);
