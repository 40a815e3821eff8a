//! The OAuth Authorization Server's state as a storage port ([`OAuthStore`]; checklist
//! sections O and P): pushed authorization requests, authorization codes, sessions (one per
//! grant, each a family of access tokens and a rotating refresh token), and the PKCE
//! challenges seen recently.
//!
//! Secrets are stored as SHA-256 digests (codes, refresh tokens), never in clear. Request
//! bodies are opaque JSON text owned by the use cases. Every method is one transaction.

use async_trait::async_trait;
use syntax::Did;

use super::{Millis, StoreResult};

/// A pushed authorization request, waiting behind its `request_uri` for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthRequestRow {
    /// The `request_uri`'s identifier (random, unique).
    pub id: String,
    /// The client that pushed it.
    pub client_id: String,
    /// The validated request and what the use cases keep with it (JSON text).
    pub data: String,
    /// When it stops being usable.
    pub expires_at: Millis,
}

/// What a code grants, as stored when the user approved the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthCodeRow {
    /// SHA-256 of the code.
    pub digest: [u8; 32],
    /// The account that signed in.
    pub did: Did,
    /// The client it was issued to.
    pub client_id: String,
    /// The approved request (JSON text, the request's `data`).
    pub data: String,
    /// When it stops being redeemable.
    pub expires_at: Millis,
}

/// The outcome of [`OAuthStore::take_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeTake {
    /// Unknown or expired.
    Unknown,
    /// Redeemed before: the session it produced (if one was linked) must be revoked.
    Reused {
        /// The session the first redemption created.
        session_id: Option<String>,
    },
    /// Fresh: now marked used.
    Fresh(OAuthCodeRow),
}

/// An OAuth session: the grant behind a chain of refresh tokens and the access tokens they
/// yield.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSessionRow {
    /// Random, unique; access tokens carry it as `jti`.
    pub id: String,
    /// The account.
    pub did: Did,
    /// The client.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The DPoP key thumbprint every token of the session is bound to.
    pub dpop_jkt: String,
    /// For a confidential client: the `kid` and thumbprint of the key it authenticated with
    /// (the session ends when that key leaves the client's key set).
    pub client_key: Option<(String, String)>,
    /// SHA-256 of the current refresh token.
    pub refresh_digest: [u8; 32],
    /// When the session started.
    pub created_at: Millis,
    /// When the current refresh token stops working.
    pub refresh_expires_at: Millis,
    /// When the session ends whatever happens (public clients: two weeks after its start).
    pub expires_at: Millis,
}

/// The outcome of [`OAuthStore::rotate_refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// No live session has this token as its current or previous one.
    Unknown,
    /// The token was the session's previous one, already exchanged: the session is now
    /// revoked (a refresh token used twice means it leaked).
    Reused,
    /// Rotated: the session as it now stands (new digest and expiry).
    Rotated(Box<OAuthSessionRow>),
}

/// OAuth Authorization Server storage.
///
/// Contract:
/// - Expired rows are never returned (`now` is given by the caller); [`OAuthStore::sweep`]
///   deletes them.
/// - A PKCE challenge recorded by [`OAuthStore::put_request`] cannot be recorded again while
///   its memory is live at the caller's `now` ([`super::StoreError::Conflict`] with
///   [`super::Conflict::OAuthChallenge`]; nothing written); once it has expired it may be
///   recorded anew, swept or not.
/// - [`OAuthStore::issue_code`] removes the request and stores the code in one step: a request
///   yields at most one code.
/// - [`OAuthStore::take_code`] marks a code used the first time; every later call reports the
///   reuse and the session linked by [`OAuthStore::create_session`].
/// - Sessions go with their account ([`super::AccountStore::delete_account`]).
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Stores a pushed request and remembers its PKCE `challenge` until
    /// `challenge_expires_at`.
    async fn put_request(
        &self,
        request: &OAuthRequestRow,
        challenge: &str,
        challenge_expires_at: Millis,
        now: Millis,
    ) -> StoreResult<()>;

    /// The live request `id`.
    async fn request(&self, id: &str, now: Millis) -> StoreResult<Option<OAuthRequestRow>>;

    /// Replaces the live request `id` by the code `code` (its `data` may differ from the
    /// request's: the use case records what the user approved).
    /// [`super::StoreError::NotFound`] if the request is gone or expired.
    async fn issue_code(
        &self,
        request_id: &str,
        code: &OAuthCodeRow,
        now: Millis,
    ) -> StoreResult<()>;

    /// Redeems the code whose digest is `digest` (see [`CodeTake`]).
    async fn take_code(&self, digest: &[u8; 32], now: Millis) -> StoreResult<CodeTake>;

    /// Stores a new session, linked to the code it was made from (`code_digest`, so that a
    /// reused code can name it).
    async fn create_session(
        &self,
        session: &OAuthSessionRow,
        code_digest: Option<&[u8; 32]>,
    ) -> StoreResult<()>;

    /// The live session `id`.
    async fn session(&self, id: &str, now: Millis) -> StoreResult<Option<OAuthSessionRow>>;

    /// Exchanges the refresh token whose digest is `old` for `new`, valid until
    /// `refresh_expires_at` (see [`RefreshRotation`]). The previous digest is remembered so
    /// that its reuse revokes the session.
    async fn rotate_refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        refresh_expires_at: Millis,
        now: Millis,
    ) -> StoreResult<RefreshRotation>;

    /// The live session whose current refresh token has digest `digest`.
    async fn session_by_refresh(
        &self,
        digest: &[u8; 32],
        now: Millis,
    ) -> StoreResult<Option<OAuthSessionRow>>;

    /// Ends session `id`; `false` if there was none.
    async fn revoke_session(&self, id: &str) -> StoreResult<bool>;

    /// The account's live sessions, newest first.
    async fn sessions_of(&self, did: &Did, now: Millis) -> StoreResult<Vec<OAuthSessionRow>>;

    /// Deletes expired requests, codes, sessions and challenge memories; returns how many rows
    /// went.
    async fn sweep(&self, now: Millis) -> StoreResult<u64>;
}
