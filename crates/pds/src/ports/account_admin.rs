//! The operator side of accounts as a storage port: invite codes and their uses, per-account
//! invite switches, account search by email and reserved signing keys
//! ([`AccountAdminStore`], checklist #99, #132). Implemented by `store` next to the other ports;
//! its conformance cases live in `testsuite_account_admin.rs`.

use async_trait::async_trait;
use syntax::Did;

use super::{Millis, StoreResult};

/// `for_account` / `created_by` of invite codes the operator made (not an account's own).
pub const INVITE_ADMIN: &str = "admin";

/// One use of an invite code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteUse {
    /// The account created with it.
    pub used_by: Did,
    /// When.
    pub used_at: Millis,
}

/// An invite code with its uses (most recent first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCodeRow {
    /// The code.
    pub code: String,
    /// How many accounts it may create.
    pub available: i64,
    /// Disabled codes create nothing.
    pub disabled: bool,
    /// The account it belongs to, or [`INVITE_ADMIN`].
    pub for_account: String,
    /// Who made it: an account DID or [`INVITE_ADMIN`].
    pub created_by: String,
    /// Creation time.
    pub created_at: Millis,
    /// Uses, most recent first.
    pub uses: Vec<InviteUse>,
}

/// A code to insert ([`AccountAdminStore::create_invite_codes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInviteCode {
    /// The code (unique).
    pub code: String,
    /// How many accounts it may create.
    pub available: i64,
    /// The account it belongs to, or [`INVITE_ADMIN`].
    pub for_account: String,
    /// Who made it.
    pub created_by: String,
    /// Creation time.
    pub created_at: Millis,
    /// Created disabled (an account whose invites are disabled).
    pub disabled: bool,
}

/// Order of [`AccountAdminStore::list_invite_codes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteSort {
    /// Newest first (`created_at` descending, then code descending).
    Recent,
    /// Most used first (use count descending, then code descending).
    Usage,
}

/// Invite codes, invite switches, email search and reserved signing keys.
///
/// Contract: lookups of absent rows return `Ok(None)`/`Ok(false)`/empty; every method is one
/// transaction.
#[async_trait]
pub trait AccountAdminStore: Send + Sync {
    /// Inserts codes (all or none). A duplicate code is a backend error.
    async fn create_invite_codes(&self, codes: Vec<NewInviteCode>) -> StoreResult<()>;

    /// One code with its uses.
    async fn invite_code(&self, code: &str) -> StoreResult<Option<InviteCodeRow>>;

    /// Atomically records a use of `code` by `used_by` if the code exists, is not disabled and
    /// has uses left; returns whether it did.
    async fn use_invite_code(&self, code: &str, used_by: &Did, now: Millis) -> StoreResult<bool>;

    /// Removes the use of `code` by `used_by` (the account creation it was for failed).
    async fn release_invite_code(&self, code: &str, used_by: &Did) -> StoreResult<()>;

    /// The codes belonging to `did` (`for_account`), newest first.
    async fn account_invite_codes(&self, did: &Did) -> StoreResult<Vec<InviteCodeRow>>;

    /// The code `did` was created with, if any.
    async fn invited_by(&self, did: &Did) -> StoreResult<Option<InviteCodeRow>>;

    /// A page of every code in `sort` order, strictly after the keyset cursor
    /// `(created_at or use count, code)`.
    async fn list_invite_codes(
        &self,
        sort: InviteSort,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<InviteCodeRow>>;

    /// Disables the listed codes and every code belonging to the listed accounts.
    async fn disable_invite_codes(&self, codes: &[String], accounts: &[String]) -> StoreResult<()>;

    /// Sets whether `did` may get new invite codes (the codes it gets are created disabled).
    async fn set_invites_disabled(&self, did: &Did, disabled: bool) -> StoreResult<()>;

    /// Whether `did`'s invites are disabled (false when never set).
    async fn invites_disabled(&self, did: &Did) -> StoreResult<bool>;

    /// Accounts whose email starts with `email_prefix` (case-insensitive; every account when
    /// empty), ordered by DID, strictly after `after`.
    async fn search_accounts(
        &self,
        email_prefix: &str,
        after: Option<&Did>,
        limit: usize,
    ) -> StoreResult<Vec<Did>>;

    /// Stores a sealed signing key reserved under `id` (a DID, or the key's own did:key),
    /// replacing any earlier one.
    async fn put_reserved_key(&self, id: &str, sealed: Vec<u8>, now: Millis) -> StoreResult<()>;

    /// The sealed signing key reserved under `id`.
    async fn reserved_key(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Forgets the key reserved under `id`.
    async fn delete_reserved_key(&self, id: &str) -> StoreResult<()>;
}
