//! The email two-factor switch as a storage port ([`AuthFactorStore`], checklist #129): whether
//! `createSession` with the account password must also present a sign-in code mailed to the
//! account's email (`AuthFactorTokenRequired`). The codes themselves are email tokens with
//! [`super::TokenPurpose::TwoFactor`] ([`super::EmailTokenStore`]).

use async_trait::async_trait;
use syntax::Did;

use super::StoreResult;

/// The per-account email two-factor switch (`emailAuthFactor` of sessions and `updateEmail`).
///
/// Contract: the switch is off for a new account and goes with the account
/// ([`super::AccountStore::delete_account`]); reading an absent account gives `false`, setting
/// it fails with [`super::StoreError::NotFound`].
#[async_trait]
pub trait AuthFactorStore: Send + Sync {
    /// Whether email two-factor sign-in is switched on for the account.
    async fn email_auth_factor(&self, did: &Did) -> StoreResult<bool>;

    /// Switches email two-factor sign-in on or off.
    async fn set_email_auth_factor(&self, did: &Did, on: bool) -> StoreResult<()>;
}
