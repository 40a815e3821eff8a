-- Email two-factor sign-in (checklist #129, `AuthFactorTokenRequired`): the account switch
-- `updateEmail{emailAuthFactor}` sets, and the sign-in codes `createSession` mails when it is on.
--
-- The switch is per account, off by default. The `pds` crate only honours it while the email is
-- confirmed, and turns it off when the email changes.
ALTER TABLE account ADD COLUMN email_auth_factor INTEGER NOT NULL DEFAULT 0
    CHECK (email_auth_factor IN (0, 1));

-- Sign-in codes are email tokens with purpose '2fa_code' (same format, 15-minute lifetime,
-- single use). SQLite cannot change a CHECK constraint in place, so `email_token` (from
-- 0004_email_tokens.sql) is rebuilt with the wider purpose list; rows are kept. Nothing
-- references this table, so it can be dropped with foreign keys on.
CREATE TABLE email_token_new (
    did             TEXT    NOT NULL REFERENCES account (did) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('confirm_email', 'update_email',
                                'reset_password', 'delete_account', 'plc_operation',
                                '2fa_code')),
    token_hash      BLOB    NOT NULL,
    requested_at    INTEGER NOT NULL,
    PRIMARY KEY (did, purpose)
) STRICT;
INSERT INTO email_token_new (did, purpose, token_hash, requested_at)
    SELECT did, purpose, token_hash, requested_at FROM email_token;
DROP TABLE email_token;
ALTER TABLE email_token_new RENAME TO email_token;
-- `resetPassword` finds the account by its token.
CREATE INDEX email_token_hash ON email_token (purpose, token_hash);
