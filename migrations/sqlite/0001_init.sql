-- Initial schema of the PDS database (SQLite). Owned by the `store` crate, which embeds this
-- folder with `sqlx::migrate!` and applies it on open. Never edit an applied migration: add a
-- new numbered file instead.
--
-- Conventions:
--   * DIDs, handles, NSIDs, record keys, revs (TIDs) and CIDs are stored as their canonical
--     text, so rows are readable with the sqlite3 shell and the schema ports to PostgreSQL.
--   * Times are INTEGER milliseconds since the Unix epoch (UTC).
--   * Secrets are never stored in clear: passwords are argon2id PHC strings, signing keys are
--     encrypted by the `pds` crate before they reach the store (opaque BLOBs here).
--   * Everything that belongs to one account carries its `did` and is removed with the account
--     by `delete_account` (one transaction), except its events in `repo_seq` (see there).

-- One row per hosted account. The handle lives here (one current handle per account, stored
-- lowercase, unique). Hosting status (checklist #96) is derived:
-- takendown (takedown_ref set) > deactivated (deactivated_at set) > active.
CREATE TABLE account (
    did             TEXT    PRIMARY KEY NOT NULL,
    handle          TEXT    NOT NULL UNIQUE,
    email           TEXT    UNIQUE COLLATE NOCASE,
    -- argon2id PHC string; NULL for accounts that cannot log in with a password.
    password_hash   TEXT,
    created_at      INTEGER NOT NULL,
    deactivated_at  INTEGER,
    -- When a deactivated account may be deleted for good (deactivateAccount{deleteAfter}).
    delete_after    INTEGER,
    takedown_ref    TEXT
) STRICT;

-- The account's repo signing key (#atproto verification method), encrypted at rest with the
-- server's secret key (XChaCha20-Poly1305, random nonce; format owned by `pds::secrets`).
CREATE TABLE signing_key (
    did             TEXT    PRIMARY KEY NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    encrypted_key   BLOB    NOT NULL
) STRICT;

-- App passwords (`xxxx-xxxx-xxxx-xxxx`): argon2id hash, unique name per account.
CREATE TABLE app_password (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    privileged      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (did, name)
) STRICT;

-- Refresh tokens (legacy sessions). A token is single-use: refreshing deletes its row and
-- inserts the next one in the same transaction; deleting the row revokes it. `id` is the
-- JWT's `jti`. `app_password_name` ties the session to an app password, so revoking the app
-- password revokes its sessions.
CREATE TABLE refresh_token (
    id                  TEXT    PRIMARY KEY NOT NULL,
    did                 TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    app_password_name   TEXT,
    expires_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX refresh_token_did ON refresh_token (did);

-- The head of each account's repository: current commit CID and rev. Updated by
-- `apply_commit` with a compare-and-swap on `cid`.
CREATE TABLE repo_root (
    did             TEXT    PRIMARY KEY NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    cid             TEXT    NOT NULL,
    rev             TEXT    NOT NULL,
    indexed_at      INTEGER NOT NULL
) STRICT;

-- Repository blocks (commits, MST nodes, records), per account. `rev` is the rev of the commit
-- that first wrote the block: `getRepo?since=<rev>` returns the blocks with a greater rev.
-- Blocks are immutable; a block written again keeps its first row.
CREATE TABLE repo_block (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    cid             TEXT    NOT NULL,
    rev             TEXT    NOT NULL,
    bytes           BLOB    NOT NULL,
    PRIMARY KEY (did, cid)
) STRICT;
CREATE INDEX repo_block_rev ON repo_block (did, rev);

-- Index of the current records of each repository (mirrors the MST; maintained by
-- `apply_commit` in the same transaction). `listRecords` pages by rkey within a collection.
CREATE TABLE record (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    collection      TEXT    NOT NULL,
    rkey            TEXT    NOT NULL,
    cid             TEXT    NOT NULL,
    rev             TEXT    NOT NULL,
    indexed_at      INTEGER NOT NULL,
    PRIMARY KEY (did, collection, rkey)
) STRICT;
CREATE INDEX record_rev ON record (did, rev);

-- Blob metadata. The bytes live in the object store under a key derived from (did, cid).
-- A blob is *temporary* (`temp = 1`) from upload until a record references it, then permanent;
-- temporary blobs are not served or listed and are collected after a grace period
-- (checklist #173). A permanent blob whose last reference goes away is deleted.
CREATE TABLE blob (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    cid             TEXT    NOT NULL,
    mime_type       TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    temp            INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (did, cid)
) STRICT;
CREATE INDEX blob_temp ON blob (temp, created_at);

-- Which record references which blob (one row per (record, blob) pair).
CREATE TABLE record_blob (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    blob_cid        TEXT    NOT NULL,
    collection      TEXT    NOT NULL,
    rkey            TEXT    NOT NULL,
    PRIMARY KEY (did, blob_cid, collection, rkey)
) STRICT;
CREATE INDEX record_blob_record ON record_blob (did, collection, rkey);

-- Private account preferences (`app.bsky.actor.getPreferences`), one JSON array per namespace.
CREATE TABLE preference (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    namespace       TEXT    NOT NULL,
    items_json      TEXT    NOT NULL,
    PRIMARY KEY (did, namespace)
) STRICT;

-- The sequencer: the durable event log behind `com.atproto.sync.subscribeRepos`.
--   * `seq` is AUTOINCREMENT: strictly increasing and never reused, even after pruning. Rows
--     are inserted in the same transaction as the state change they announce, and writes are
--     serialized (one writer), so seq order is commit order and there are no gaps among
--     committed rows (a rolled-back insert also rolls back the counter).
--   * `kind` is the message type without '#': commit, sync, identity, account, info.
--   * `event` is the DAG-CBOR message body *without* `seq` (seq is only known at insert time);
--     a streamer adds `seq` when it frames the row, so replay costs no re-encoding of blocks.
--   * `created_at` drives the retention window (issue 5): prune `created_at < cutoff`.
--   * Account deletion keeps only the tombstone: the deleted account's earlier rows are
--     removed and its final `#account` event is kept (the reference does the same).
CREATE TABLE repo_seq (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    did             TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    event           BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX repo_seq_did ON repo_seq (did);
CREATE INDEX repo_seq_created_at ON repo_seq (created_at);
