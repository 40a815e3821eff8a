//! Email two-factor sign-in (checklist #129, `AuthFactorTokenRequired`): when an account has
//! switched it on (`updateEmail{emailAuthFactor: true}`, see `account_tokens.rs`), a
//! `createSession` with the account password and no `authFactorToken` mails a sign-in code
//! (an email token with purpose [`TokenPurpose::TwoFactor`]: `XXXXX-XXXXX`, 15 minutes, single
//! use, a new attempt replaces the previous code) and answers `AuthFactorTokenRequired`; the
//! next attempt with the code logs in. A wrong or used code is `InvalidToken`, an old one
//! `ExpiredToken`, as for every email token.
//!
//! The reference PDS we test against (0.4.217) declares `authFactorToken`, `emailAuthFactor`
//! and `AuthFactorTokenRequired` in its lexicons but does not act on them (Bluesky's entryway
//! does); this follows the lexicon and the Bluesky app's flow. Choices of ours:
//! - app passwords skip the second factor (they are the way in for clients that cannot ask
//!   for a code, and they cannot manage the account);
//! - the switch counts only while the email is confirmed, and goes off when the email
//!   changes, so codes are only mailed to a confirmed address.

use crate::Pds;
use crate::error::{Error, ErrorKind, Result};
use crate::ports::{AccountRow, TokenPurpose};

impl Pds {
    /// Whether email two-factor sign-in is in force for the account: switched on and the email
    /// confirmed (`emailAuthFactor` of sessions).
    pub async fn email_auth_factor(&self, did: &syntax::Did) -> Result<bool> {
        Ok(self.deps.auth_factors.email_auth_factor(did).await?
            && self.email_confirmed(did).await?)
    }

    /// The second factor of a password login: nothing to do when email two-factor sign-in is
    /// off; else consumes `token`, or, without one, mails a new sign-in code and refuses with
    /// `AuthFactorTokenRequired`.
    pub(crate) async fn second_factor(&self, row: &AccountRow, token: Option<&str>) -> Result<()> {
        let Some(to) = row.email.as_deref() else {
            return Ok(());
        };
        if !self.email_auth_factor(&row.did).await? {
            return Ok(());
        }
        if let Some(token) = token.filter(|t| !t.trim().is_empty()) {
            return self
                .consume_email_token(&row.did, TokenPurpose::TwoFactor, token)
                .await;
        }
        let code = self
            .issue_email_token(&row.did, TokenPurpose::TwoFactor)
            .await?;
        self.send_email(
            to,
            "Sign in code",
            format!(
                "Someone (hopefully you) is signing in to @{} with its password. Enter this \
                 code to finish signing in:\n\n{code}\n\nThe code expires in 15 minutes. If \
                 this was not you, change your password.\n",
                row.handle
            ),
        )
        .await?;
        Err(Error::new(
            ErrorKind::AuthFactorTokenRequired,
            "A sign in code has been sent to your email address",
        ))
    }
}
