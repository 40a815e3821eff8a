//! Email tokens and email confirmation as a storage port ([`EmailTokenStore`]): the one-time
//! codes mailed for email confirmation, email update, password reset, account deletion, PLC
//! operations and two-factor sign-in (at most one per account and purpose), and the account's
//! `email_confirmed_at`.
//!
//! Tokens never reach the store in clear: the `pds` crate stores a keyed hash
//! ([`EmailTokenRow::token_hash`]) and compares it in constant time.

use async_trait::async_trait;
use syntax::Did;

use super::{Millis, StoreResult};

/// What an email token may be used for (the reference PDS's purposes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    /// `server.confirmEmail`.
    ConfirmEmail,
    /// `server.updateEmail` when the current email is confirmed.
    UpdateEmail,
    /// `server.resetPassword`.
    ResetPassword,
    /// `server.deleteAccount`.
    DeleteAccount,
    /// `identity.signPlcOperation`.
    PlcOperation,
    /// `server.createSession` sign-in code when email two-factor is on (checklist #129).
    TwoFactor,
}

impl TokenPurpose {
    /// Every purpose.
    pub const ALL: [TokenPurpose; 6] = [
        TokenPurpose::ConfirmEmail,
        TokenPurpose::UpdateEmail,
        TokenPurpose::ResetPassword,
        TokenPurpose::DeleteAccount,
        TokenPurpose::PlcOperation,
        TokenPurpose::TwoFactor,
    ];

    /// The stored name (`confirm_email`, `update_email`, `reset_password`, `delete_account`,
    /// `plc_operation`, `2fa_code`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::ConfirmEmail => "confirm_email",
            TokenPurpose::UpdateEmail => "update_email",
            TokenPurpose::ResetPassword => "reset_password",
            TokenPurpose::DeleteAccount => "delete_account",
            TokenPurpose::PlcOperation => "plc_operation",
            TokenPurpose::TwoFactor => "2fa_code",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<TokenPurpose> {
        TokenPurpose::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// An email token as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailTokenRow {
    /// The account.
    pub did: Did,
    /// Its purpose.
    pub purpose: TokenPurpose,
    /// Keyed hash of the normalised token (never the token itself).
    pub token_hash: Vec<u8>,
    /// When it was issued (tokens expire 15 minutes later).
    pub requested_at: Millis,
}

impl std::fmt::Debug for EmailTokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailTokenRow")
            .field("did", &self.did)
            .field("purpose", &self.purpose)
            .field("token_hash", &"<redacted>")
            .field("requested_at", &self.requested_at)
            .finish()
    }
}

/// Email tokens and email confirmation.
///
/// Contract: tokens belong to an account and go with it ([`super::AccountStore::delete_account`]
/// removes them); changes to an absent account fail with [`super::StoreError::NotFound`].
#[async_trait]
pub trait EmailTokenStore: Send + Sync {
    /// Stores the account's token for `row.purpose`, replacing any earlier one (a new request
    /// invalidates the previous code).
    async fn put_email_token(&self, row: EmailTokenRow) -> StoreResult<()>;

    /// The account's token for `purpose`.
    async fn email_token(
        &self,
        did: &Did,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<EmailTokenRow>>;

    /// The token of any account with this purpose and hash (`resetPassword` knows no DID).
    async fn email_token_by_hash(
        &self,
        purpose: TokenPurpose,
        token_hash: &[u8],
    ) -> StoreResult<Option<EmailTokenRow>>;

    /// Deletes the account's token for `purpose` if it still has this hash; returns whether it
    /// did. Two concurrent uses of one token: exactly one sees `true` (single use).
    async fn take_email_token(
        &self,
        did: &Did,
        purpose: TokenPurpose,
        token_hash: &[u8],
    ) -> StoreResult<bool>;

    /// When the account's current email was confirmed (`None`: not confirmed, or no account).
    async fn email_confirmed_at(&self, did: &Did) -> StoreResult<Option<Millis>>;

    /// Marks the account's current email confirmed at `at`.
    async fn set_email_confirmed(&self, did: &Did, at: Millis) -> StoreResult<()>;

    /// Changes the account's email (stored as given; unique case-insensitively, else
    /// [`super::Conflict::Email`]), clears its confirmation and deletes all its email tokens, in
    /// one transaction.
    async fn update_email(&self, did: &Did, email: &str) -> StoreResult<()>;
}
