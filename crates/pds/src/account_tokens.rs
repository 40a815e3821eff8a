//! Email-token use cases (checklist #130, issue 4): `requestEmailConfirmation` /
//! `confirmEmail`, `requestEmailUpdate` / `updateEmail`, `requestPasswordReset` /
//! `resetPassword`, `requestAccountDelete` (the token `deleteAccount` consumes),
//! `identity.requestPlcOperationSignature` / `signPlcOperation`, and the operator's
//! `admin.sendEmail`, `admin.updateAccountEmail`, `admin.updateAccountPassword`. The email
//! two-factor switch `updateEmail{emailAuthFactor}` is set here too; the sign-in codes are in
//! `auth_factor.rs` (checklist #129).
//!
//! Tokens follow the reference PDS: `XXXXX-XXXXX` from the base32 alphabet (`A-Z2-7`, 50
//! random bits), one per account and purpose (a new request replaces the old one), valid for 15
//! minutes ([`crate::PdsConfig::email_token_ttl`]), case-insensitive on input, single use. Unlike the reference they are stored as an
//! HMAC-SHA256 keyed by the server secret and compared in constant time, and they are never
//! logged. Errors: `InvalidToken` ("Token is invalid": unknown, wrong, reused or for another
//! purpose), `ExpiredToken` ("Token is expired").
//!
//! Deviation from the reference: `requestPasswordReset` answers 200 for an unknown email too
//! (no account enumeration); the reference says "account does not have an email address".

use identity::Operation;
use subtle::ConstantTimeEq;
use syntax::{AtIdentifier, Did};

use crate::accounts::valid_email;
use crate::error::{Error, ErrorKind, Result};
use crate::jwt::AuthContext;
use crate::mailer::Email;
use crate::ports::{AccountRow, Conflict, EmailTokenRow, StoreError, TokenPurpose};
use crate::{Pds, Session, now_ms, secrets};

/// Longest accepted password, in bytes (as `createAccount`).
const MAX_PASSWORD_LEN: usize = 256;

/// The HMAC label that keys token hashes.
const TOKEN_HASH_LABEL: &str = "email-token-v1";

/// What `signPlcOperation` changes: each field present replaces the head operation's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlcChanges {
    /// New `rotationKeys` (did:key strings).
    pub rotation_keys: Option<Vec<String>>,
    /// New `alsoKnownAs` (URIs).
    pub also_known_as: Option<Vec<String>>,
    /// New `verificationMethods` (name -> did:key).
    pub verification_methods: Option<std::collections::BTreeMap<String, String>>,
    /// New `services` (name -> (type, endpoint)).
    pub services: Option<std::collections::BTreeMap<String, identity::PlcService>>,
}

/// A new token: `XXXXX-XXXXX` over `A-Z2-7` (the reference's `getRandomToken`, uppercased).
fn new_token() -> String {
    use rand::RngCore;
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut raw = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let mut out = String::with_capacity(11);
    for (i, b) in raw.iter().enumerate() {
        if i == 5 {
            out.push('-');
        }
        out.push(ALPHABET[usize::from(b & 31)] as char);
    }
    out
}

/// The token as users may type it: surrounding space ignored, any case.
fn normalise(token: &str) -> String {
    token.trim().to_ascii_uppercase()
}

fn invalid_token() -> Error {
    Error::new(ErrorKind::InvalidToken, "Token is invalid")
}

fn expired_token() -> Error {
    Error::new(ErrorKind::ExpiredToken, "Token is expired")
}

fn no_email() -> Error {
    Error::invalid("account does not have an email address")
}

fn check_new_password(password: &str) -> Result<()> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(Error::invalid("Invalid password length."));
    }
    Ok(())
}

impl Pds {
    fn token_hash(&self, token: &str) -> Vec<u8> {
        let key = self.config.secret_key.derive(TOKEN_HASH_LABEL);
        secrets::hmac_sha256(&key, normalise(token).as_bytes()).to_vec()
    }

    /// Issues (replacing any earlier one) a token for `did` and `purpose`; returns it in clear
    /// for the email only.
    pub(crate) async fn issue_email_token(
        &self,
        did: &Did,
        purpose: TokenPurpose,
    ) -> Result<String> {
        let token = new_token();
        self.deps
            .email_tokens
            .put_email_token(EmailTokenRow {
                did: did.clone(),
                purpose,
                token_hash: self.token_hash(&token),
                requested_at: now_ms(),
            })
            .await?;
        Ok(token)
    }

    /// Checks `token` against the stored one (constant time) and its age; returns its hash.
    async fn check_email_token(
        &self,
        did: &Did,
        purpose: TokenPurpose,
        token: &str,
    ) -> Result<Vec<u8>> {
        let hash = self.token_hash(token);
        let row = self
            .deps
            .email_tokens
            .email_token(did, purpose)
            .await?
            .ok_or_else(invalid_token)?;
        if !bool::from(row.token_hash.as_slice().ct_eq(hash.as_slice())) {
            return Err(invalid_token());
        }
        let ttl = i64::try_from(self.config.email_token_ttl.as_millis()).unwrap_or(i64::MAX);
        if now_ms().saturating_sub(row.requested_at) > ttl {
            return Err(expired_token());
        }
        Ok(hash)
    }

    /// [`Pds::check_email_token`], then consumes it (single use, even under concurrency).
    pub(crate) async fn consume_email_token(
        &self,
        did: &Did,
        purpose: TokenPurpose,
        token: &str,
    ) -> Result<()> {
        let hash = self.check_email_token(did, purpose, token).await?;
        if !self
            .deps
            .email_tokens
            .take_email_token(did, purpose, &hash)
            .await?
        {
            // Used concurrently by another request.
            return Err(invalid_token());
        }
        Ok(())
    }

    pub(crate) async fn send_email(&self, to: &str, subject: &str, text: String) -> Result<()> {
        let email = Email {
            to: to.to_owned(),
            subject: subject.to_owned(),
            text,
        };
        self.deps
            .mailer
            .send(&email)
            .await
            .map_err(|e| Error::internal("sending email failed", e))
    }

    async fn email_account(&self, did: &Did) -> Result<(AccountRow, String)> {
        let row = self
            .deps
            .accounts
            .account(did)
            .await?
            .ok_or_else(|| Error::invalid("account not found"))?;
        let email = row.email.clone().ok_or_else(no_email)?;
        Ok((row, email))
    }

    /// Whether the account's current email is confirmed (`emailConfirmed` of sessions).
    pub async fn email_confirmed(&self, did: &Did) -> Result<bool> {
        Ok(self
            .deps
            .email_tokens
            .email_confirmed_at(did)
            .await?
            .is_some())
    }

    /// Fills `session.email_confirmed` and `session.email_auth_factor` (sessions.rs builds
    /// sessions from the account row).
    pub(crate) async fn with_email_confirmed(&self, mut session: Session) -> Result<Session> {
        session.email_confirmed = self.email_confirmed(&session.did).await?;
        session.email_auth_factor = session.email_confirmed
            && self
                .deps
                .auth_factors
                .email_auth_factor(&session.did)
                .await?;
        Ok(session)
    }

    /// `com.atproto.server.requestEmailConfirmation` (full-access sessions): mails a
    /// `confirm_email` token to the account's email.
    pub async fn request_email_confirmation(&self, auth: &AuthContext) -> Result<()> {
        auth.require_full_access()?;
        let (_, email) = self.email_account(&auth.did).await?;
        let token = self
            .issue_email_token(&auth.did, TokenPurpose::ConfirmEmail)
            .await?;
        self.send_email(
            &email,
            "Confirm your email",
            format!(
                "Confirm this email address for your account with this code:\n\n{token}\n\n\
                 The code expires in 15 minutes.\n"
            ),
        )
        .await
    }

    /// `com.atproto.server.confirmEmail`: `email` must be the account's (else `InvalidEmail`),
    /// `token` a valid `confirm_email` token.
    pub async fn confirm_email(&self, auth: &AuthContext, email: &str, token: &str) -> Result<()> {
        auth.require_full_access()?;
        let row = self
            .deps
            .accounts
            .account(&auth.did)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::AccountNotFound, "user not found"))?;
        let matches = row
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email.trim()));
        if !matches {
            return Err(Error::new(ErrorKind::InvalidEmail, "invalid email"));
        }
        self.consume_email_token(&auth.did, TokenPurpose::ConfirmEmail, token)
            .await?;
        self.deps
            .email_tokens
            .set_email_confirmed(&auth.did, now_ms())
            .await?;
        Ok(())
    }

    /// `com.atproto.server.requestEmailUpdate`: returns `tokenRequired`, true when the current
    /// email is confirmed (then an `update_email` token is mailed to it).
    pub async fn request_email_update(&self, auth: &AuthContext) -> Result<bool> {
        auth.require_full_access()?;
        let (_, email) = self.email_account(&auth.did).await?;
        let token_required = self.email_confirmed(&auth.did).await?;
        if token_required {
            let token = self
                .issue_email_token(&auth.did, TokenPurpose::UpdateEmail)
                .await?;
            self.send_email(
                &email,
                "Update your email",
                format!(
                    "Use this code to change the email address of your account:\n\n{token}\n\n\
                     The code expires in 15 minutes.\n"
                ),
            )
            .await?;
        }
        Ok(token_required)
    }

    /// `com.atproto.server.updateEmail`: a token is required (`TokenRequired`) when the current
    /// email is confirmed. The new email starts unconfirmed; all email tokens are dropped, and
    /// email two-factor sign-in is switched off.
    ///
    /// `email_auth_factor` (checklist #129) switches email two-factor sign-in on or off. With
    /// the account's current email (any case) the call changes only the switch: the email keeps
    /// its confirmation and the `update_email` token is consumed (the Bluesky app sends the
    /// current email with the switch). Switching on needs a confirmed email and the current
    /// email (`InvalidRequest` otherwise): codes are only ever mailed to a confirmed address.
    pub async fn update_email(
        &self,
        auth: &AuthContext,
        email: &str,
        token: Option<&str>,
        email_auth_factor: Option<bool>,
    ) -> Result<()> {
        auth.require_full_access()?;
        let email = email.trim();
        if !valid_email(email) {
            return Err(Error::invalid(
                "This email address is not supported, please use a different email.",
            ));
        }
        let row = self.account_row(&auth.did).await?;
        let confirmed = self.email_confirmed(&auth.did).await?;
        let same_email = row
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email));
        if email_auth_factor == Some(true) {
            if !confirmed {
                return Err(Error::invalid(
                    "Confirm your email before enabling email two-factor authentication",
                ));
            }
            if !same_email {
                return Err(Error::invalid(
                    "Email two-factor authentication can only be enabled for the current, \
                     confirmed email",
                ));
            }
        }
        let token = if confirmed {
            let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                Error::new(ErrorKind::TokenRequired, "confirmation token required")
            })?;
            // Checked, not consumed: the update drops every token of the account in the same
            // transaction, and a refused update (email taken) leaves the token usable.
            self.check_email_token(&auth.did, TokenPurpose::UpdateEmail, token)
                .await?;
            Some(token)
        } else {
            None
        };
        if let (true, Some(on)) = (same_email, email_auth_factor) {
            if let Some(token) = token {
                self.consume_email_token(&auth.did, TokenPurpose::UpdateEmail, token)
                    .await?;
            }
            self.deps
                .auth_factors
                .set_email_auth_factor(&auth.did, on)
                .await?;
            return Ok(());
        }
        self.store_email(&auth.did, email).await?;
        // The new email is unconfirmed: no sign-in codes go to it.
        self.deps
            .auth_factors
            .set_email_auth_factor(&auth.did, false)
            .await?;
        Ok(())
    }

    async fn store_email(&self, did: &Did, email: &str) -> Result<()> {
        match self.deps.email_tokens.update_email(did, email).await {
            Err(StoreError::Conflict(Conflict::Email)) => Err(Error::invalid(
                "This email address is already in use, please use a different email.",
            )),
            other => Ok(other?),
        }
    }

    /// `com.atproto.server.requestPasswordReset`: mails a `reset_password` token when an
    /// account has this email. Answers the same whether or not one does (no account
    /// enumeration); a failed send is logged, not reported.
    pub async fn request_password_reset(&self, email: &str) -> Result<()> {
        let Some(row) = self.deps.accounts.account_by_email(email.trim()).await? else {
            return Ok(());
        };
        let Some(to) = row.email.clone() else {
            return Ok(());
        };
        let token = self
            .issue_email_token(&row.did, TokenPurpose::ResetPassword)
            .await?;
        let sent = self
            .send_email(
                &to,
                "Password reset",
                format!(
                    "A password reset was requested for @{}. Use this code to set a new \
                     password:\n\n{token}\n\nThe code expires in 15 minutes. If you did not \
                     ask for it, ignore this email.\n",
                    row.handle
                ),
            )
            .await;
        if let Err(e) = sent {
            tracing::warn!(did = %row.did, error = %e.log_message(), "password reset email not sent");
        }
        Ok(())
    }

    /// `com.atproto.server.resetPassword`: sets the password of the account the
    /// `reset_password` token belongs to and revokes all its sessions (refresh tokens).
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<()> {
        check_new_password(password)?;
        let hash = self.token_hash(token);
        let row = self
            .deps
            .email_tokens
            .email_token_by_hash(TokenPurpose::ResetPassword, &hash)
            .await?
            .ok_or_else(invalid_token)?;
        self.consume_email_token(&row.did, TokenPurpose::ResetPassword, token)
            .await?;
        self.set_password(&row.did, password).await
    }

    async fn set_password(&self, did: &Did, password: &str) -> Result<()> {
        let password = password.to_owned();
        let cost = self.config.password_cost;
        let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password, cost))
            .await
            .map_err(|e| Error::internal("password hashing task failed", e))?
            .map_err(|e| Error::internal("password hashing failed", e))?;
        self.deps.accounts.set_password_hash(did, &hash).await?;
        Ok(())
    }

    /// `com.atproto.server.requestAccountDelete` (full-access sessions): mails the
    /// `delete_account` token that `deleteAccount` requires.
    pub async fn request_account_delete(&self, auth: &AuthContext) -> Result<()> {
        auth.require_full_access()?;
        let (_, email) = self.email_account(&auth.did).await?;
        let token = self
            .issue_email_token(&auth.did, TokenPurpose::DeleteAccount)
            .await?;
        self.send_email(
            &email,
            "Account deletion",
            format!(
                "Use this code to confirm the deletion of your account:\n\n{token}\n\n\
                 The code expires in 15 minutes. If you did not ask for it, change your \
                 password.\n"
            ),
        )
        .await
    }

    /// `com.atproto.identity.requestPlcOperationSignature` (full-access sessions): mails the
    /// `plc_operation` token `signPlcOperation` requires.
    pub async fn request_plc_operation_signature(&self, auth: &AuthContext) -> Result<()> {
        auth.require_full_access()?;
        let (_, email) = self.email_account(&auth.did).await?;
        let token = self
            .issue_email_token(&auth.did, TokenPurpose::PlcOperation)
            .await?;
        self.send_email(
            &email,
            "PLC update requested",
            format!(
                "Use this code to sign an update of your identity (DID document):\n\n{token}\n\n\
                 The code expires in 15 minutes. If you did not ask for it, change your \
                 password.\n"
            ),
        )
        .await
    }

    /// `com.atproto.identity.signPlcOperation` (full-access sessions): consumes a
    /// `plc_operation` token, then signs with this server's rotation key an update on top of
    /// the DID's head operation with `changes` applied, and returns it (JSON) unsubmitted.
    pub async fn sign_plc_operation(
        &self,
        auth: &AuthContext,
        token: Option<&str>,
        changes: PlcChanges,
    ) -> Result<serde_json::Value> {
        auth.require_full_access()?;
        let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            Error::invalid("email confirmation token required to sign PLC operations")
        })?;
        if auth.did.method() != "plc" {
            return Err(Error::invalid("Only did:plc accounts use PLC operations"));
        }
        self.consume_email_token(&auth.did, TokenPurpose::PlcOperation, token)
            .await?;
        let last = self
            .deps
            .plc
            .last_operation(&auth.did)
            .await
            .map_err(|e| {
                Error::new(ErrorKind::UpstreamFailure, "PLC directory unavailable").with_source(e)
            })?
            .ok_or_else(|| Error::invalid("DID is not known to the PLC directory"))?;
        let mut fields = last
            .operation()
            .fields()
            .ok_or_else(|| Error::invalid("Did is tombstoned"))?;
        if let Some(keys) = changes.rotation_keys {
            fields.rotation_keys = keys;
        }
        if let Some(aka) = changes.also_known_as {
            fields.also_known_as = aka;
        }
        if let Some(vm) = changes.verification_methods {
            fields.verification_methods = vm;
        }
        if let Some(services) = changes.services {
            fields.services = services;
        }
        let op = Operation::update(fields, last.cid()).sign(&self.config.plc_rotation_key);
        identity::OpLimits::default()
            .check(&op)
            .map_err(|e| Error::invalid(format!("PLC operation too large: {e}")))?;
        Ok(op.to_json())
    }

    /// `com.atproto.admin.sendEmail` (the relay checks admin auth): sends `content` to the
    /// account's email. `Recipient not found` / no email: `InvalidRequest`.
    pub async fn admin_send_email(
        &self,
        recipient: &Did,
        subject: Option<&str>,
        content: &str,
    ) -> Result<()> {
        let row = self
            .deps
            .accounts
            .account(recipient)
            .await?
            .ok_or_else(|| Error::invalid("Recipient not found"))?;
        let to = row.email.ok_or_else(no_email)?;
        self.send_email(
            &to,
            subject.unwrap_or("Message via your PDS"),
            content.to_owned(),
        )
        .await
    }

    /// `com.atproto.admin.updateAccountEmail` (admin auth): `account` is a DID or handle; the
    /// new email starts unconfirmed.
    pub async fn admin_update_account_email(
        &self,
        account: &AtIdentifier,
        email: &str,
    ) -> Result<()> {
        let row = match account {
            AtIdentifier::Did(did) => self.deps.accounts.account(did).await?,
            AtIdentifier::Handle(handle) => self.deps.accounts.account_by_handle(handle).await?,
        }
        .ok_or_else(|| Error::invalid(format!("Account does not exist: {}", account.as_str())))?;
        let email = email.trim();
        if !valid_email(email) {
            return Err(Error::invalid("This email address is not supported"));
        }
        self.store_email(&row.did, email).await?;
        // The new email is unconfirmed: email two-factor sign-in goes off (checklist #129).
        self.deps
            .auth_factors
            .set_email_auth_factor(&row.did, false)
            .await?;
        Ok(())
    }

    /// `com.atproto.admin.updateAccountPassword` (admin auth): sets the password and revokes
    /// all sessions, as `resetPassword` does.
    pub async fn admin_update_account_password(&self, did: &Did, password: &str) -> Result<()> {
        check_new_password(password)?;
        self.account_row(did).await?;
        self.set_password(did, password).await?;
        // A pending reset code must not undo the operator's choice.
        if let Some(row) = self
            .deps
            .email_tokens
            .email_token(did, TokenPurpose::ResetPassword)
            .await?
        {
            self.deps
                .email_tokens
                .take_email_token(did, TokenPurpose::ResetPassword, &row.token_hash)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_like_the_reference() {
        for _ in 0..100 {
            let t = new_token();
            assert_eq!(t.len(), 11, "{t}");
            assert_eq!(&t[5..6], "-");
            assert!(
                t.chars()
                    .all(|c| c == '-' || c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
                "{t}"
            );
        }
        assert_ne!(new_token(), new_token());
    }

    #[test]
    fn normalise_ignores_case_and_space() {
        assert_eq!(normalise(" abcde-fg234 "), "ABCDE-FG234");
    }
}
