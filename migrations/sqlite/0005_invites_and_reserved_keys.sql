-- Invite codes, per-account invite switches and reserved signing keys (issue 4, checklist #99,
-- #132), as the reference PDS keeps them.
--
-- `invite_code.for_account` and `created_by` are an account DID or the literal 'admin' (codes
-- the operator made); they are not foreign keys, so an account's codes and the record of who
-- used which code outlive account deletion, as in the reference. A code may create
-- `available` accounts; its uses are the rows of `invite_code_use`.
CREATE TABLE invite_code (
    code            TEXT    PRIMARY KEY NOT NULL,
    available       INTEGER NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    for_account     TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX invite_code_for_account ON invite_code (for_account);
CREATE INDEX invite_code_created ON invite_code (created_at, code);

CREATE TABLE invite_code_use (
    code            TEXT    NOT NULL REFERENCES invite_code (code) ON DELETE CASCADE,
    used_by         TEXT    NOT NULL,
    used_at         INTEGER NOT NULL,
    PRIMARY KEY (code, used_by)
) STRICT;
CREATE INDEX invite_code_use_used_by ON invite_code_use (used_by);

-- Accounts whose invites the operator disabled (admin.disableAccountInvites). Removed with the
-- account.
CREATE TABLE account_invites_disabled (
    did             TEXT    PRIMARY KEY NOT NULL REFERENCES account (did) ON DELETE CASCADE
) STRICT;

-- Signing keys kept by server.reserveSigningKey until createAccount uses them, keyed by the DID
-- they were reserved for (or, without one, by the key's own did:key). Encrypted at rest like
-- `signing_key` (sealed by the `pds` crate, bound to `id`).
CREATE TABLE reserved_signing_key (
    id              TEXT    PRIMARY KEY NOT NULL,
    encrypted_key   BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
