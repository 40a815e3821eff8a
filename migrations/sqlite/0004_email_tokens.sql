-- Email tokens and email confirmation (issue 4, checklist #130): the one-time codes mailed for
-- `confirmEmail`, `updateEmail`, `resetPassword`, `deleteAccount` and `signPlcOperation`.
--
-- At most one token per (account, purpose): a new request replaces the old code. `token_hash`
-- is an HMAC-SHA256 of the code keyed by the server secret (the `pds` crate computes it); the
-- code itself is never stored. Tokens expire 15 minutes after `requested_at` (checked by the
-- `pds` crate) and are deleted when used. Removed with the account (ON DELETE CASCADE).
CREATE TABLE email_token (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('confirm_email', 'update_email',
                                'reset_password', 'delete_account', 'plc_operation')),
    token_hash      BLOB    NOT NULL,
    requested_at    INTEGER NOT NULL,
    PRIMARY KEY (did, purpose)
) STRICT;
-- `resetPassword` finds the account by its token.
CREATE INDEX email_token_hash ON email_token (purpose, token_hash);

-- When the account's current email was confirmed (NULL: not confirmed). `updateEmail` clears it.
ALTER TABLE account ADD COLUMN email_confirmed_at INTEGER;
