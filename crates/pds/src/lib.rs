//! PDS use cases: accounts, sessions, record writes, sync reads, blobs and preferences, and the
//! storage ports they consume.
//!
//! The `relay` crate authenticates a request, parses it into the types here, makes **one** call
//! on [`Pds`], and maps the result (or the [`Error`], by its [`ErrorKind`]) to XRPC. This crate
//! knows no HTTP, axum or sqlx; the `store` crate implements [`ports`].
//!
//! # Layout
//! - [`ports`]: storage traits (+ conformance suites behind feature `testsuite`).
//! - [`Pds`]: the use cases, one `impl` block per area: `accounts.rs` (createAccount,
//!   describeServer, (de)activation, deletion, status), `sessions.rs` (sessions, app passwords,
//!   service auth), `records.rs` (the single write path and record reads), `sync.rs`
//!   (`com.atproto.sync.*` reads), `blobs.rs`, `preferences.rs`.
//! - [`error`]: [`Error`] / [`ErrorKind`] (XRPC error names).
//! - [`jwt`]: session and service tokens; [`AuthContext`] is what a verified access token
//!   grants.
//! - [`secrets`]: the server secret, sealing of signing keys, argon2id.
//! - [`plc`]: [`PlcClient`] (the relay implements it over HTTP) and [`MemoryPlc`].
//! - `events.rs`: firehose event bodies written with each state change; `repo_cache.rs`:
//!   per-account working copies with fetch-on-miss, and the per-account write lock.
//!
//! # The write path
//! [`Pds::apply_writes`] (and `create_record`/`put_record`/`delete_record`, which call it):
//! check the caller and account status -> validate each record (lexicon catalog for known
//! collections, `$type`, record-key type, data model, size) -> per-account lock -> load the
//! cached repository (missing blocks fetched on demand) -> swap checks -> the engine builds the
//! commit -> sign with the account key (decrypted with the server secret) ->
//! [`ports::RepoStore::apply_commit`] (one transaction: blocks, record index, blob references,
//! head, `#commit` event) -> notify event subscribers -> `{uri, cid, commit{cid, rev}}`.
//!
//! # API by XRPC method
//! Build once: [`Pds::new`]`(`[`PdsConfig`]`, `[`PdsDeps`]`)` (for the SQLite store:
//! [`PdsDeps::from_store`]`(Arc<store::SqliteStore>, blob object store, Arc<Catalog>,
//! Arc<dyn PlcClient>)`). Authenticated calls take the [`AuthContext`] returned by
//! [`Pds::verify_access_token`] (the relay strips `Bearer `); `viewer: Option<&AuthContext>`
//! on public reads lets an account read its own inactive repository (checklist #66).
//!
//! | XRPC method | call |
//! |---|---|
//! | `server.describeServer` | [`Pds::describe_server`] |
//! | `server.createAccount` | [`Pds::create_account`]`(`[`CreateAccount`]`)` -> [`CreatedAccount`] |
//! | `server.createSession` | [`Pds::create_session`]`(identifier, password)` -> [`Session`] |
//! | `server.refreshSession` | [`Pds::refresh_session`]`(refresh_jwt)` -> [`Session`] |
//! | `server.getSession` | [`Pds::get_session`]`(auth)` -> [`Session`] (tokens empty) |
//! | `server.deleteSession` | [`Pds::delete_session`]`(refresh_jwt)` |
//! | `server.createAppPassword` / `listAppPasswords` / `revokeAppPassword` | [`Pds::create_app_password`], [`Pds::list_app_passwords`], [`Pds::revoke_app_password`] |
//! | `server.getServiceAuth` | [`Pds::get_service_auth`]`(auth, aud, exp_secs, lxm)` -> token |
//! | `server.deactivateAccount` / `activateAccount` | [`Pds::deactivate_account`]`(auth, delete_after_ms)`, [`Pds::activate_account`] |
//! | `server.checkAccountStatus` | [`Pds::check_account_status`] -> [`CheckAccountStatus`] |
//! | `server.deleteAccount` | [`Pds::delete_account`]`(did, password, token)` |
//! | `server.requestEmailConfirmation` / `confirmEmail` | [`Pds::request_email_confirmation`]`(auth)`, [`Pds::confirm_email`]`(auth, email, token)` |
//! | `server.requestEmailUpdate` / `updateEmail` | [`Pds::request_email_update`]`(auth)` -> tokenRequired, [`Pds::update_email`]`(auth, email, token)` |
//! | `server.requestPasswordReset` / `resetPassword` | [`Pds::request_password_reset`]`(email)`, [`Pds::reset_password`]`(token, password)` |
//! | `server.requestAccountDelete` | [`Pds::request_account_delete`]`(auth)` |
//! | `identity.requestPlcOperationSignature` / `signPlcOperation` | [`Pds::request_plc_operation_signature`]`(auth)`, [`Pds::sign_plc_operation`]`(auth, token, `[`PlcChanges`]`)` -> op JSON |
//! | `admin.sendEmail` / `updateAccountEmail` / `updateAccountPassword` | [`Pds::admin_send_email`], [`Pds::admin_update_account_email`], [`Pds::admin_update_account_password`] |
//! | `identity.resolveHandle` (local), `/.well-known/atproto-did` | [`Pds::resolve_local_handle`] |
//! | `identity.getRecommendedDidCredentials` | [`Pds::recommended_did_credentials`] -> JSON |
//! | `identity.submitPlcOperation` | [`Pds::submit_plc_operation`]`(auth, &op_json)` |
//! | `identity.updateHandle` | [`Pds::update_handle`]`(auth, handle, externally_verified)` |
//! | admin takedown (`admin.updateSubjectStatus`) | [`Pds::set_takedown`]`(did, Some(ref) / None)` |
//! | `admin.deleteAccount` | [`Pds::admin_delete_account`]`(did)` |
//! | `repo.createRecord` / `putRecord` / `deleteRecord` | [`Pds::create_record`], [`Pds::put_record`], [`Pds::delete_record`] |
//! | `repo.applyWrites` | [`Pds::apply_writes`]`(auth, `[`ApplyWrites`]`)` -> [`WriteResult`] |
//! | `repo.getRecord` / `listRecords` / `describeRepo` | [`Pds::get_record`], [`Pds::list_records`], [`Pds::describe_repo`] |
//! | `repo.importRepo` / `listMissingBlobs` | [`Pds::import_repo`]`(auth, car)` -> [`CommitRef`], [`Pds::list_missing_blobs`] -> [`MissingBlobs`] |
//! | `repo.uploadBlob` | [`Pds::upload_blob`]`(auth, content_type, bytes)` -> [`UploadedBlob`] |
//! | `sync.getBlob` / `listBlobs` | [`Pds::get_blob`] -> [`BlobData`], [`Pds::list_blobs`] -> [`ListBlobs`] |
//! | `sync.getRepo` (`getCheckout`) | [`Pds::get_repo`]`(did, since, viewer)` -> CAR bytes |
//! | `sync.getRecord` | [`Pds::get_record_proof`] -> CAR bytes |
//! | `sync.getBlocks` | [`Pds::get_blocks`] -> CAR bytes |
//! | `sync.getLatestCommit` (`getHead`) | [`Pds::get_latest_commit`] -> [`LatestCommit`] |
//! | `sync.getRepoStatus` / `listRepos` | [`Pds::get_repo_status`], [`Pds::list_repos`] |
//! | `actor.getPreferences` / `putPreferences` | [`Pds::get_preferences`], [`Pds::put_preferences`] |
//! | (background) | [`Pds::collect_temp_blobs`]`(older_than)`, [`Pds::collect_expired_sessions`], [`Pds::delete_due_accounts`] |
//! | (firehose, issue 5) | [`Pds::events`] (the [`ports::EventStore`]), [`Pds::subscribe_events`] |
//!
//! Records cross this API as [`data_model::Value`] (the relay converts JSON with
//! `data_model::json::{from_json, to_json}`); CIDs as [`data_model::Cid`]. Account-management
//! calls refuse app-password sessions themselves (`InvalidToken`, "Bad token scope");
//! [`PROTECTED_METHODS`] and [`PRIVILEGED_METHODS`] are exported for the relay's proxy.
//!
//! # Simplifications (documented, not hidden)
//! - No email 2FA: `AuthFactorTokenRequired` is never produced. Email tokens (confirmation,
//!   update, password reset, deletion, PLC operations) are in `account_tokens.rs`; mail goes
//!   through the [`mailer::Mailer`] port set in [`PdsDeps::mailer`].
//! - Invite codes only when [`PdsConfig::invite_required`] is set (`accounts_admin.rs`).
//! - Bring-your-own DID (`createAccount` with `did`, account migration): [`Pds::create_account`]
//!   takes the DID as given; the caller must first verify the service-auth JWT that proves
//!   control of it (`aud` = this service, `lxm` = `createAccount`, the DID's current key;
//!   checklist #99) with [`service_auth::verify_service_jwt`], as the relay does.
//! - `updateHandle` trusts the caller for handles outside our domains (the relay does the
//!   DNS/HTTPS bidirectional check) and needs [`PlcClient::last_operation`] for did:plc.
//! - Block cleanup: each commit deletes the previous commit block and the MST nodes that left
//!   the tree; old record versions (after updates/deletes) stay, because identical records
//!   share a CID and the store has no reverse index to prove a CID unused.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod account_tokens;
mod accounts;
mod accounts_admin;
mod auth_factor;
mod blobs;
pub mod error;
mod events;
pub use events::{EVENT_FRAME_OVERHEAD, MAX_EVENT_FRAME};
mod import;
pub mod jwt;
pub mod mailer;
pub mod oauth_flow;
pub mod plc;
pub mod ports;
mod preferences;
mod records;
mod repo_cache;
pub mod secrets;
pub mod service_auth;
mod sessions;
mod sync;
mod sync_stream;

use std::sync::Arc;
use std::time::Duration;

use syntax::{Did, TidClock};

pub use account_tokens::PlcChanges;
pub use accounts::{
    AccountStatus, CheckAccountStatus, CreateAccount, CreatedAccount, DescribeServer,
    RESERVED_HANDLE_LABELS,
};
pub use accounts_admin::{AccountInfo, InviteCode, InviteCodePage, ReservedKey};
pub use blobs::{BlobData, ListBlobs, UploadedBlob};
pub use error::{Error, ErrorKind, Result};
pub use import::MissingBlobs;
pub use jwt::{AccessScope, AuthContext};
pub use plc::{MemoryPlc, PlcClient, PlcClientError};
pub use records::{
    ApplyWrites, CommitRef, DescribeRepo, ListRecords, MAX_WRITES_PER_COMMIT, RecordOutput,
    RecordWriteResult, ValidationStatus, Write, WriteOutcome, WriteResult,
};
pub use secrets::{PasswordCost, SecretKey};
pub use sessions::{AppPassword, PRIVILEGED_METHODS, PROTECTED_METHODS, Session};
pub use sync::{LatestCommit, RepoList, RepoListEntry, RepoStatus};
pub use sync_stream::CarStream;

use crate::ports::{AccountStore, BlobMetaStore, EventStore, PreferenceStore, RepoStore, Seq};

/// Configuration values the use cases need (the relay builds it from its config file/env).
#[derive(Clone)]
pub struct PdsConfig {
    /// This service's DID (`did:web:<hostname>`): the `aud` of session tokens and
    /// `describeServer.did`.
    pub service_did: Did,
    /// The public URL of this PDS (`https://pds.example.com`): the `atproto_pds` endpoint in
    /// new DID documents.
    pub public_url: String,
    /// Domains users may take handles under, each with a leading dot (`.pds.example.com`).
    pub available_user_domains: Vec<String>,
    /// The server secret: seals signing keys, keys session tokens.
    pub secret_key: SecretKey,
    /// The PDS's PLC rotation key, listed in every DID it creates.
    pub plc_rotation_key: crypto::Keypair,
    /// Largest accepted blob, in bytes (`describeServer`'s cap; default 100 MB).
    pub blob_upload_limit: u64,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_token_ttl: Duration,
    /// argon2id cost.
    pub password_cost: PasswordCost,
    /// How many accounts' repositories stay loaded.
    pub repo_cache_size: usize,
    /// `describeServer.links.privacyPolicy`.
    pub privacy_policy_url: Option<String>,
    /// `describeServer.links.termsOfService`.
    pub terms_of_service_url: Option<String>,
    /// `describeServer.contact.email`.
    pub contact_email: Option<String>,
    /// How long an emailed token stays valid (15 minutes, as the reference).
    pub email_token_ttl: Duration,
    /// Whether `createAccount` needs an invite code (`describeServer.inviteCodeRequired`).
    pub invite_required: bool,
}

impl PdsConfig {
    /// A config with defaults for everything but the identity of the service and its keys.
    pub fn new(
        service_did: Did,
        public_url: impl Into<String>,
        available_user_domains: Vec<String>,
        secret_key: SecretKey,
        plc_rotation_key: crypto::Keypair,
    ) -> PdsConfig {
        PdsConfig {
            service_did,
            public_url: public_url.into(),
            available_user_domains,
            secret_key,
            plc_rotation_key,
            blob_upload_limit: 100_000_000,
            access_token_ttl: Duration::from_secs(2 * 60 * 60),
            refresh_token_ttl: Duration::from_secs(90 * 24 * 60 * 60),
            password_cost: PasswordCost::Standard,
            repo_cache_size: 1_000,
            privacy_policy_url: None,
            terms_of_service_url: None,
            contact_email: None,
            email_token_ttl: Duration::from_secs(15 * 60),
            invite_required: false,
        }
    }
}

impl std::fmt::Debug for PdsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdsConfig")
            .field("service_did", &self.service_did)
            .field("public_url", &self.public_url)
            .field("available_user_domains", &self.available_user_domains)
            .field("secret_key", &self.secret_key)
            .field(
                "plc_rotation_key",
                &self.plc_rotation_key.public_key().to_did_key(),
            )
            .field("blob_upload_limit", &self.blob_upload_limit)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("password_cost", &self.password_cost)
            .field("repo_cache_size", &self.repo_cache_size)
            .finish_non_exhaustive()
    }
}

/// What the use cases run on: the storage ports, the blob object store, the lexicon catalog
/// and the PLC directory client.
#[derive(Clone)]
pub struct PdsDeps {
    /// Accounts, keys, sessions.
    pub accounts: Arc<dyn AccountStore>,
    /// Repositories.
    pub repos: Arc<dyn RepoStore>,
    /// Blob metadata.
    pub blobs: Arc<dyn BlobMetaStore>,
    /// Preferences.
    pub preferences: Arc<dyn PreferenceStore>,
    /// The sequencer log.
    pub events: Arc<dyn EventStore>,
    /// Blob bytes (local filesystem by default).
    pub blob_store: Arc<dyn object_store::ObjectStore>,
    /// Record lexicons.
    pub catalog: Arc<lexicon::Catalog>,
    /// The PLC directory.
    pub plc: Arc<dyn PlcClient>,
    /// Email tokens and email confirmation.
    pub email_tokens: Arc<dyn ports::EmailTokenStore>,
    /// The email two-factor switch (checklist #129).
    pub auth_factors: Arc<dyn ports::AuthFactorStore>,
    /// Outgoing email ([`mailer::NoMailer`] from [`PdsDeps::from_store`]; the server sets its
    /// own).
    pub mailer: Arc<dyn mailer::Mailer>,
    /// Invite codes, invite switches, account search, reserved keys.
    pub account_admin: Arc<dyn ports::AccountAdminStore>,
    /// Consistent repository snapshots (streamed `getRepo`).
    pub snapshots: Arc<dyn ports::RepoSnapshotStore>,
    /// OAuth requests, codes and sessions.
    pub oauth: Arc<dyn ports::OAuthStore>,
}

impl PdsDeps {
    /// Deps where one store implements every port (the SQLite store does).
    pub fn from_store<S>(
        store: Arc<S>,
        blob_store: Arc<dyn object_store::ObjectStore>,
        catalog: Arc<lexicon::Catalog>,
        plc: Arc<dyn PlcClient>,
    ) -> PdsDeps
    where
        S: AccountStore
            + RepoStore
            + BlobMetaStore
            + PreferenceStore
            + EventStore
            + ports::RepoSnapshotStore
            + ports::AccountAdminStore
            + ports::EmailTokenStore
            + ports::AuthFactorStore
            + ports::OAuthStore
            + 'static,
    {
        PdsDeps {
            accounts: store.clone(),
            account_admin: store.clone(),
            repos: store.clone(),
            blobs: store.clone(),
            preferences: store.clone(),
            events: store.clone(),
            email_tokens: store.clone(),
            auth_factors: store.clone(),
            oauth: store.clone(),
            mailer: Arc::new(mailer::NoMailer),
            snapshots: store,
            blob_store,
            catalog,
            plc,
        }
    }
}

/// The PDS use cases (see the crate docs). Cheap to share: wrap it in an `Arc`.
pub struct Pds {
    config: PdsConfig,
    deps: PdsDeps,
    secret_box: secrets::SecretBox,
    tokens: jwt::SessionTokens,
    clock: TidClock,
    cache: repo_cache::RepoCache,
    new_events: tokio::sync::watch::Sender<Seq>,
    service_jwts: service_auth::ReplayCache,
    /// The OAuth Authorization Server's keys and memories (`None`: the public URL cannot be
    /// an issuer).
    oauth: Option<oauth_flow::OAuthServer>,
}

impl std::fmt::Debug for Pds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pds")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pds {
    /// Builds the use cases from config and deps.
    pub fn new(config: PdsConfig, deps: PdsDeps) -> Pds {
        let secret_box = secrets::SecretBox::new(&config.secret_key);
        let tokens = jwt::SessionTokens::new(&config.secret_key, config.service_did.clone());
        let cache = repo_cache::RepoCache::new(config.repo_cache_size);
        Pds {
            secret_box,
            tokens,
            clock: TidClock::new(),
            cache,
            new_events: tokio::sync::watch::channel(0).0,
            service_jwts: service_auth::ReplayCache::default(),
            oauth: oauth_flow::OAuthServer::new(&config.public_url, &config.secret_key),
            config,
            deps,
        }
    }

    /// Accepts a verified inbound service JWT once: a second use of its `jti` before it
    /// expires is [`service_auth::ServiceAuthError::Replayed`] (checklist #136).
    pub fn accept_service_jwt(
        &self,
        token: &service_auth::VerifiedServiceJwt,
        now_secs: i64,
    ) -> std::result::Result<(), service_auth::ServiceAuthError> {
        self.service_jwts.accept(token, now_secs)
    }

    /// The configuration.
    pub fn config(&self) -> &PdsConfig {
        &self.config
    }

    /// The lexicon catalog.
    pub fn catalog(&self) -> &lexicon::Catalog {
        &self.deps.catalog
    }

    /// The sequencer log (for the firehose, issue 5).
    pub fn events(&self) -> &Arc<dyn EventStore> {
        &self.deps.events
    }

    /// A receiver that sees the latest `seq` written by this process (0 before any): the
    /// firehose wakes on changes and reads the rows from [`Pds::events`].
    pub fn subscribe_events(&self) -> tokio::sync::watch::Receiver<Seq> {
        self.new_events.subscribe()
    }

    fn notify(&self, seq: Option<Seq>) {
        if let Some(seq) = seq {
            self.new_events.send_if_modified(|cur| {
                if seq > *cur {
                    *cur = seq;
                    true
                } else {
                    false
                }
            });
        }
    }
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds as an RFC 3339 datetime string.
pub(crate) fn ms_to_datetime(ms: i64) -> String {
    syntax::Datetime::from_timestamp_micros(ms.saturating_mul(1000))
        .map(syntax::Datetime::into_string)
        .unwrap_or_default()
}
