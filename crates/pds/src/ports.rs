//! Storage ports: the small async traits the use cases consume, owned here and implemented by
//! the `store` crate (SQLite today, PostgreSQL later).
//!
//! Every trait documents its contract (missing keys, conflicts, atomicity); the conformance
//! suites in `testsuite` (feature `testsuite`) check it, and `store` runs them on a fresh
//! database per test. Two rules hold for all of them:
//!
//! - **One port method = one transaction.** A method that writes several tables (for example
//!   [`RepoStore::apply_commit`]: blocks, record index, blob references, repo root and the
//!   sequencer event) is all-or-nothing.
//! - **Events are written with the state they announce.** Methods that change what the
//!   firehose reports take the [`NewEvent`] to insert and return its `seq`.
//!
//! The ports hold no secrets in clear: password hashes are argon2id PHC strings and signing
//! keys are encrypted by [`crate::secrets`] before they get here. Times are milliseconds since
//! the Unix epoch ([`Millis`]).

#[cfg(feature = "testsuite")]
pub mod testsuite;
#[cfg(feature = "testsuite")]
pub mod testsuite_account_admin;
#[cfg(feature = "testsuite")]
pub mod testsuite_auth_factor;
#[cfg(feature = "testsuite")]
pub mod testsuite_oauth;

mod account_admin;
pub use account_admin::*;
mod snapshot;
pub use snapshot::{RepoSnapshot, RepoSnapshotStore};
mod email_tokens;
pub use email_tokens::{EmailTokenRow, EmailTokenStore, TokenPurpose};
mod auth_factor;
pub use auth_factor::AuthFactorStore;
mod oauth;
pub use oauth::{
    CodeTake, OAuthCodeRow, OAuthRequestRow, OAuthSessionRow, OAuthStore, RefreshRotation,
};

use async_trait::async_trait;
use data_model::Cid;
use repo::blockstore::BlockMap;
use syntax::{Did, Handle, Nsid, RecordKey, Tid};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// A firehose sequence number (`seq`): strictly increasing, never reused.
pub type Seq = i64;

/// The bound every `seq` stays below: 2^53, the largest integer a JavaScript client reads
/// exactly (checklist #75).
pub const MAX_SEQ: Seq = 1 << 53;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or compare-and-swap condition failed; nothing was written.
    #[error("storage conflict: {0}")]
    Conflict(Conflict),
    /// The row the operation changes does not exist; nothing was written.
    #[error("not found")]
    NotFound,
    /// The backend failed (I/O, SQL, corrupt row). Nothing was written.
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(e))
    }
}

/// Which condition a [`StoreError::Conflict`] hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// An account with this DID exists.
    Did,
    /// Another account has this handle.
    Handle,
    /// Another account has this email.
    Email,
    /// The account already has an app password with this name.
    AppPasswordName,
    /// The repository head is not the `prev` the commit was built on (or, for a first commit,
    /// a head exists already).
    HeadMoved,
    /// A record references a blob this account has not uploaded (checklist #173).
    MissingBlob(Cid),
    /// An OAuth PKCE challenge was used in the last day (checklist #153).
    OAuthChallenge,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Did => f.write_str("DID already in use"),
            Conflict::Handle => f.write_str("handle already in use"),
            Conflict::Email => f.write_str("email already in use"),
            Conflict::AppPasswordName => f.write_str("app password name already in use"),
            Conflict::HeadMoved => f.write_str("repository head moved"),
            Conflict::MissingBlob(cid) => write!(f, "blob {cid} not found"),
            Conflict::OAuthChallenge => f.write_str("code_challenge used before"),
        }
    }
}

/// Result of a port call.
pub type StoreResult<T> = Result<T, StoreError>;

// ---------------------------------------------------------------------------------------------
// Events

/// The type of a sequencer event (the firehose message type without `#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `#commit`.
    Commit,
    /// `#sync`.
    Sync,
    /// `#identity`.
    Identity,
    /// `#account`.
    Account,
    /// `#info`.
    Info,
}

impl EventKind {
    /// The stored name: `commit`, `sync`, `identity`, `account`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Commit => "commit",
            EventKind::Sync => "sync",
            EventKind::Identity => "identity",
            EventKind::Account => "account",
            EventKind::Info => "info",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "commit" => EventKind::Commit,
            "sync" => EventKind::Sync,
            "identity" => EventKind::Identity,
            "account" => EventKind::Account,
            "info" => EventKind::Info,
            _ => return None,
        })
    }
}

/// An event to append to the sequencer log. `event` is the DAG-CBOR message body without
/// `seq` (built in the crate's `events` module); the store assigns `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The account the event is about.
    pub did: Did,
    /// The message type.
    pub kind: EventKind,
    /// The encoded body (without `seq`).
    pub event: Vec<u8>,
    /// When it happened.
    pub created_at: Millis,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its sequence number.
    pub seq: Seq,
    /// The account the event is about.
    pub did: Did,
    /// The message type.
    pub kind: EventKind,
    /// The encoded body (without `seq`).
    pub event: Vec<u8>,
    /// When it was written.
    pub created_at: Millis,
}

/// The durable sequencer log (issue 5 builds `subscribeRepos` on it).
///
/// Contract: `seq` values are strictly increasing in insertion (= commit) order and never
/// reused, even after [`EventStore::prune_events_before`]; committed events have no gaps
/// between them other than pruned or deleted ones.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends one event on its own (for events with no accompanying state change, such as an
    /// `#identity` refresh) and returns its `seq`.
    async fn append_event(&self, event: NewEvent) -> StoreResult<Seq>;

    /// Up to `limit` events with `seq > after`, in `seq` order.
    async fn events_after(&self, after: Seq, limit: usize) -> StoreResult<Vec<StoredEvent>>;

    /// The highest `seq` ever assigned (including pruned rows), or `None` if none was.
    async fn latest_seq(&self) -> StoreResult<Option<Seq>>;

    /// Makes the next `seq` greater than `floor`, unless it already is: the sequence is
    /// raised, never lowered, and no event is written (the gap is allowed; checklist #75).
    /// Returns [`EventStore::latest_seq`] afterwards (`None` when `floor` is not positive
    /// and no event was ever assigned). Called at start-up, before any write.
    async fn raise_seq_floor(&self, floor: Seq) -> StoreResult<Option<Seq>>;

    /// Deletes the oldest events up to, not including, the first one with
    /// `created_at >= before` (all of them if there is none): a prefix in `seq` order, so the
    /// retained log stays a suffix of the log even if clocks made `created_at` slightly
    /// non-monotonic. Records the highest deleted `seq` for [`EventStore::pruned_through`].
    /// Returns how many were deleted.
    async fn prune_events_before(&self, before: Millis) -> StoreResult<u64>;

    /// The highest `seq` removed by [`EventStore::prune_events_before`] (0 if none): a firehose
    /// cursor below it may have missed events (`OutdatedCursor`, checklist #79). Deleting an
    /// account's events does not move it.
    async fn pruned_through(&self) -> StoreResult<Seq>;

    /// The lowest `seq` of a retained event with `created_at >= since` (the start of a
    /// retention window), or `None` if there is none.
    async fn first_seq_since(&self, since: Millis) -> StoreResult<Option<Seq>>;
}

// ---------------------------------------------------------------------------------------------
// Accounts

/// An account to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// The account DID.
    pub did: Did,
    /// The handle (lowercase).
    pub handle: Handle,
    /// Email, if any (unique, case-insensitive).
    pub email: Option<String>,
    /// argon2id PHC string, if the account has a password.
    pub password_hash: Option<String>,
    /// The repo signing key, encrypted by [`crate::secrets::SecretBox`].
    pub encrypted_signing_key: Vec<u8>,
    /// Creation time.
    pub created_at: Millis,
    /// Start deactivated (accounts migrating in, checklist #99).
    pub deactivated: bool,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("encrypted_signing_key", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("deactivated", &self.deactivated)
            .finish()
    }
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// The account DID.
    pub did: Did,
    /// The handle.
    pub handle: Handle,
    /// Email, if any.
    pub email: Option<String>,
    /// argon2id PHC string, if the account has a password.
    pub password_hash: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Set while the account is deactivated.
    pub deactivated_at: Option<Millis>,
    /// When a deactivated account may be deleted.
    pub delete_after: Option<Millis>,
    /// Set while the account is taken down.
    pub takedown_ref: Option<String>,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("deactivated_at", &self.deactivated_at)
            .field("delete_after", &self.delete_after)
            .field("takedown_ref", &self.takedown_ref)
            .finish()
    }
}

/// One line of `listRepos`: an account with a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoListing {
    /// The account DID.
    pub did: Did,
    /// When the account was created (the listing's order, with the DID).
    pub created_at: Millis,
    /// Head commit CID.
    pub head: Cid,
    /// Head rev.
    pub rev: Tid,
    /// Set while deactivated.
    pub deactivated_at: Option<Millis>,
    /// Set while taken down.
    pub takedown_ref: Option<String>,
}

/// An app password as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct AppPasswordRow {
    /// Owner.
    pub did: Did,
    /// Name (unique per account).
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// May be used for DMs and other privileged calls.
    pub privileged: bool,
    /// Creation time.
    pub created_at: Millis,
}

impl std::fmt::Debug for AppPasswordRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPasswordRow")
            .field("did", &self.did)
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("privileged", &self.privileged)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A refresh token as stored (the JWT itself is never stored, only its `jti`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    /// The JWT `jti`.
    pub id: String,
    /// Owner.
    pub did: Did,
    /// The app password the session was opened with, if any.
    pub app_password_name: Option<String>,
    /// Expiry.
    pub expires_at: Millis,
}

/// What [`AccountStore::delete_account`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedAccount {
    /// `seq` of the tombstone event.
    pub seq: Seq,
    /// Blobs whose metadata was deleted: the caller deletes their bytes.
    pub blobs: Vec<Cid>,
}

/// Accounts, their secrets and sessions.
///
/// Contract: lookups of absent rows return `Ok(None)`/`Ok(false)`/empty; changes to an absent
/// account fail with [`StoreError::NotFound`]; uniqueness violations fail with
/// [`StoreError::Conflict`] and write nothing.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account with its encrypted signing key and its first commit, then appends
    /// `events` (in order) and the commit's own event, all in one transaction. Returns the last
    /// `seq` written, if any. Conflicts: [`Conflict::Did`], [`Conflict::Handle`],
    /// [`Conflict::Email`]. `first_commit.prev` must be `None`.
    async fn create_account(
        &self,
        account: NewAccount,
        first_commit: CommitWrite,
        events: Vec<NewEvent>,
    ) -> StoreResult<Option<Seq>>;

    /// The account with this DID.
    async fn account(&self, did: &Did) -> StoreResult<Option<AccountRow>>;

    /// The account with this handle.
    async fn account_by_handle(&self, handle: &Handle) -> StoreResult<Option<AccountRow>>;

    /// The account with this email (case-insensitive).
    async fn account_by_email(&self, email: &str) -> StoreResult<Option<AccountRow>>;

    /// Changes the handle and appends `event` (if any). Conflict: [`Conflict::Handle`].
    async fn update_handle(
        &self,
        did: &Did,
        handle: &Handle,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<Seq>>;

    /// Sets (`Some`) or clears (`None`) the deactivation time and `delete_after`, and appends
    /// `event` (if any).
    async fn set_deactivated(
        &self,
        did: &Did,
        deactivated_at: Option<Millis>,
        delete_after: Option<Millis>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<Seq>>;

    /// [`AccountStore::set_deactivated`] appending several events, in order, in the same
    /// transaction (activation emits `#account`, `#identity` and `#sync`, as the reference
    /// does). Returns the last `seq` written, if any.
    async fn set_deactivated_with_events(
        &self,
        did: &Did,
        deactivated_at: Option<Millis>,
        delete_after: Option<Millis>,
        events: Vec<NewEvent>,
    ) -> StoreResult<Option<Seq>>;

    /// Sets (`Some`) or clears (`None`) a takedown, and appends `event` (if any).
    async fn set_takedown(
        &self,
        did: &Did,
        takedown_ref: Option<String>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<Seq>>;

    /// Replaces the password hash and revokes every refresh token of the account.
    async fn set_password_hash(&self, did: &Did, password_hash: &str) -> StoreResult<()>;

    /// Deletes the account and everything it owns (key, app passwords, tokens, repo, records,
    /// blob metadata, preferences) and its earlier events, then appends `tombstone`: one
    /// transaction.
    async fn delete_account(&self, did: &Did, tombstone: NewEvent) -> StoreResult<DeletedAccount>;

    /// Up to `limit` deactivated accounts whose `delete_after` is at or before `now`.
    async fn accounts_due_for_deletion(&self, now: Millis, limit: usize) -> StoreResult<Vec<Did>>;

    /// Accounts with a repository, in creation order (`created_at`, then DID), starting after
    /// the account created at `after.0` with DID `after.1`.
    async fn list_repos(
        &self,
        after: Option<(Millis, &Did)>,
        limit: usize,
    ) -> StoreResult<Vec<RepoListing>>;

    /// The encrypted signing key.
    async fn signing_key(&self, did: &Did) -> StoreResult<Option<Vec<u8>>>;

    /// Adds an app password. Conflict: [`Conflict::AppPasswordName`].
    async fn create_app_password(&self, row: AppPasswordRow) -> StoreResult<()>;

    /// The account's app passwords, ordered by name.
    async fn list_app_passwords(&self, did: &Did) -> StoreResult<Vec<AppPasswordRow>>;

    /// Deletes an app password and revokes the refresh tokens issued through it. Returns
    /// whether it existed.
    async fn delete_app_password(&self, did: &Did, name: &str) -> StoreResult<bool>;

    /// Stores a new refresh token.
    async fn insert_refresh_token(&self, row: RefreshTokenRow) -> StoreResult<()>;

    /// The refresh token with this id.
    async fn refresh_token(&self, id: &str) -> StoreResult<Option<RefreshTokenRow>>;

    /// Atomically consumes `old_id` and stores `new`: returns `false` (and stores nothing) if
    /// `old_id` does not exist (already used or revoked). This makes refresh tokens single-use
    /// even under concurrent refreshes.
    async fn rotate_refresh_token(&self, old_id: &str, new: RefreshTokenRow) -> StoreResult<bool>;

    /// Revokes one refresh token; returns whether it existed.
    async fn delete_refresh_token(&self, id: &str) -> StoreResult<bool>;

    /// Deletes refresh tokens that expired before `now`; returns how many.
    async fn delete_expired_refresh_tokens(&self, now: Millis) -> StoreResult<u64>;
}

// ---------------------------------------------------------------------------------------------
// Repositories

/// The head of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRoot {
    /// Head commit CID.
    pub cid: Cid,
    /// Head rev.
    pub rev: Tid,
}

/// A change to the record index made by a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    /// A record was created or updated: index it and replace its blob references.
    Put {
        /// Collection.
        collection: Nsid,
        /// Record key.
        rkey: RecordKey,
        /// Record CID (its block is in [`CommitWrite::blocks`]).
        cid: Cid,
        /// Blobs the record references (each must exist for the account; they become
        /// permanent).
        blobs: Vec<Cid>,
    },
    /// A record was deleted: drop it and its blob references.
    Delete {
        /// Collection.
        collection: Nsid,
        /// Record key.
        rkey: RecordKey,
    },
}

/// Everything one commit writes (see [`RepoStore::apply_commit`]).
#[derive(Debug, Clone)]
pub struct CommitWrite {
    /// The account.
    pub did: Did,
    /// New head commit CID.
    pub cid: Cid,
    /// New head rev.
    pub rev: Tid,
    /// The head this commit was built on (`None` for the first commit).
    pub prev: Option<Cid>,
    /// New blocks (commit, MST nodes, records), stored with `rev`.
    pub blocks: BlockMap,
    /// Blocks the new head no longer reaches and that nothing else can share: the previous
    /// commit block and the MST nodes that left the tree. Deleted in the same transaction
    /// (except any that are also in `blocks`). Old record versions are not listed: identical
    /// records share a CID, so they are kept.
    pub removed_blocks: Vec<Cid>,
    /// Record index changes.
    pub records: Vec<RecordChange>,
    /// The `#commit` (or `#sync`) event announcing it.
    pub event: Option<NewEvent>,
    /// Now (record `indexed_at`).
    pub now: Millis,
}

/// What [`RepoStore::apply_commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitApplied {
    /// `seq` of the commit's event, if it had one.
    pub seq: Option<Seq>,
    /// Blobs that lost their last reference: their metadata rows were deleted in the same
    /// transaction; the caller deletes their bytes.
    pub orphaned_blobs: Vec<Cid>,
}

/// A whole repository replacing an account's current one (`importRepo`, see
/// [`RepoStore::replace_repo`]).
#[derive(Debug, Clone)]
pub struct RepoReplace {
    /// The account.
    pub did: Did,
    /// The head being replaced (compare-and-swap).
    pub prev: Cid,
    /// New head commit CID.
    pub cid: Cid,
    /// New head rev.
    pub rev: Tid,
    /// Every block of the new repository (commit, MST nodes, records), stored with `rev`.
    pub blocks: BlockMap,
    /// Every record of the new repository with the blobs it references. Unlike
    /// [`RecordChange::Put`], referenced blobs need not exist yet: they are "missing" until
    /// uploaded ([`BlobMetaStore::list_missing_blobs`]).
    pub records: Vec<(Nsid, RecordKey, Cid, Vec<Cid>)>,
    /// The event announcing it (`#sync` for an active account; none while migrating in).
    pub event: Option<NewEvent>,
    /// Now (record `indexed_at`).
    pub now: Millis,
}

/// A record from the index, with its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Collection.
    pub collection: Nsid,
    /// Record key.
    pub rkey: RecordKey,
    /// Record CID.
    pub cid: Cid,
    /// Rev of the commit that wrote it.
    pub rev: Tid,
    /// The record block (DAG-CBOR).
    pub bytes: Vec<u8>,
}

/// Counts for `checkAccountStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepoStats {
    /// Stored repository blocks.
    pub blocks: u64,
    /// Indexed records.
    pub records: u64,
    /// Distinct blobs referenced by records.
    pub expected_blobs: u64,
    /// Referenced blobs whose metadata is present.
    pub imported_blobs: u64,
}

/// Repository blocks, heads and the record index.
///
/// Contract: blocks are per account (`did`) and immutable; reads of absent blocks simply omit
/// them. [`RepoStore::apply_commit`] is one transaction and a compare-and-swap on the head.
#[async_trait]
pub trait RepoStore: Send + Sync {
    /// The repository head, if the account has one.
    async fn repo_root(&self, did: &Did) -> StoreResult<Option<RepoRoot>>;

    /// One block of the account's repository.
    async fn get_block(&self, did: &Did, cid: &Cid) -> StoreResult<Option<Vec<u8>>>;

    /// Several blocks; absent ones are missing from the result.
    async fn get_blocks(&self, did: &Did, cids: &[Cid]) -> StoreResult<BlockMap>;

    /// Every block of the account (`since = None`) or the blocks written by commits with a rev
    /// greater than `since` (`getRepo?since`, checklist #55).
    async fn blocks_since(&self, did: &Did, since: Option<&Tid>) -> StoreResult<BlockMap>;

    /// Applies one commit in one transaction: checks the head is `commit.prev` (else
    /// [`Conflict::HeadMoved`]), stores the blocks, applies the record index changes and blob
    /// references (a referenced blob must exist for the account, else
    /// [`Conflict::MissingBlob`]; it becomes permanent), deletes blobs left with no reference,
    /// moves the head and appends the event. Fails with [`StoreError::NotFound`] if the account
    /// does not exist.
    async fn apply_commit(&self, commit: CommitWrite) -> StoreResult<CommitApplied>;

    /// Replaces the account's whole repository in one transaction: checks the head is
    /// `replace.prev` (else [`Conflict::HeadMoved`]), drops every stored block, record and
    /// blob reference of the account, stores the new ones (blobs already uploaded become
    /// permanent; blobs that lose their last reference are deleted and returned), moves the
    /// head and appends the event. [`StoreError::NotFound`] if the account does not exist.
    async fn replace_repo(&self, replace: RepoReplace) -> StoreResult<CommitApplied>;

    /// One record from the index.
    async fn record(
        &self,
        did: &Did,
        collection: &Nsid,
        rkey: &RecordKey,
    ) -> StoreResult<Option<RecordRow>>;

    /// A page of one collection ordered by rkey: descending by default, ascending when
    /// `reverse`; `cursor` is exclusive.
    async fn list_records(
        &self,
        did: &Did,
        collection: &Nsid,
        cursor: Option<&RecordKey>,
        limit: usize,
        reverse: bool,
    ) -> StoreResult<Vec<RecordRow>>;

    /// The collections with at least one record, in order.
    async fn collections(&self, did: &Did) -> StoreResult<Vec<Nsid>>;

    /// Block, record and blob counts of the account (all zero for an unknown account).
    async fn repo_stats(&self, did: &Did) -> StoreResult<RepoStats>;
}

// ---------------------------------------------------------------------------------------------
// Blobs

/// Blob metadata as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    /// Owner.
    pub did: Did,
    /// Raw-codec CID of the bytes.
    pub cid: Cid,
    /// MIME type (sniffed or declared).
    pub mime_type: String,
    /// Size in bytes.
    pub size: i64,
    /// True until a record references it.
    pub temp: bool,
    /// Upload time.
    pub created_at: Millis,
}

/// Blob metadata (the bytes live in an object store the use cases own).
#[async_trait]
pub trait BlobMetaStore: Send + Sync {
    /// Records an upload: temporary, or permanent at once if a record already references it
    /// (an imported repository's missing blob). If the account already has this blob,
    /// nothing changes and `false` is returned (re-upload is a no-op, checklist #173).
    async fn put_temp_blob(&self, row: BlobRow) -> StoreResult<bool>;

    /// The metadata of one blob.
    async fn blob(&self, did: &Did, cid: &Cid) -> StoreResult<Option<BlobRow>>;

    /// Permanent (referenced) blobs of the account ordered by CID text, after `cursor`
    /// (exclusive); with `since`, only blobs referenced by records written after that rev.
    async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&Cid>,
        limit: usize,
    ) -> StoreResult<Vec<Cid>>;

    /// Blobs referenced by the account's records but never uploaded (after an import), one
    /// `(blob, collection, rkey)` per blob (some referencing record), ordered by blob CID text,
    /// after `cursor` (exclusive).
    async fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&Cid>,
        limit: usize,
    ) -> StoreResult<Vec<(Cid, Nsid, RecordKey)>>;

    /// Deletes up to `limit` temporary blobs uploaded before `before` and returns them (the
    /// caller deletes their bytes).
    async fn take_expired_temp_blobs(
        &self,
        before: Millis,
        limit: usize,
    ) -> StoreResult<Vec<(Did, Cid)>>;
}

// ---------------------------------------------------------------------------------------------
// Preferences

/// Private preferences: one JSON array per (account, namespace).
#[async_trait]
pub trait PreferenceStore: Send + Sync {
    /// The stored JSON array text, if any.
    async fn preferences(&self, did: &Did, namespace: &str) -> StoreResult<Option<String>>;

    /// Replaces the namespace's preferences. [`StoreError::NotFound`] if the account does not
    /// exist.
    async fn put_preferences(
        &self,
        did: &Did,
        namespace: &str,
        items_json: &str,
    ) -> StoreResult<()>;
}
