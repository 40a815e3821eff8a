//! Account use cases: `describeServer`, `createAccount` (new did:plc or bring-your-own DID,
//! with an invite code when the server requires one), `deactivateAccount`, `activateAccount`
//! (which first checks the DID document names this server, as the reference does),
//! `checkAccountStatus`, `deleteAccount`, handle updates (own and admin), and the handle rules
//! for new accounts (checklist #26, #99, #112, #123, J).

use identity::{DidDocument, OpLimits, Operation, PlcFields};
use repo::repo::{Repo, RepoError};
use syntax::{Did, Handle};

use crate::error::{Error, ErrorKind, Result};
use crate::jwt::{AccessScope, AuthContext};
use crate::ports::{AccountRow, CommitWrite, Conflict, NewAccount, StoreError};
use crate::repo_cache::CachedBlocks;
use crate::secrets::{self, SecretError};
use crate::{Pds, events, now_ms};

/// Labels that cannot be the first label of a handle on our domains (checklist #123).
pub const RESERVED_HANDLE_LABELS: &[&str] = &[
    "about",
    "abuse",
    "account",
    "accounts",
    "admin",
    "administrator",
    "api",
    "app",
    "apps",
    "atproto",
    "auth",
    "blog",
    "bluesky",
    "bsky",
    "dev",
    "docs",
    "email",
    "feed",
    "feeds",
    "ftp",
    "help",
    "hostmaster",
    "imap",
    "info",
    "login",
    "mail",
    "mod",
    "moderation",
    "no-reply",
    "noreply",
    "ns1",
    "ns2",
    "oauth",
    "official",
    "pds",
    "plc",
    "pop",
    "postmaster",
    "relay",
    "root",
    "security",
    "settings",
    "smtp",
    "staff",
    "status",
    "support",
    "system",
    "team",
    "webmaster",
    "www",
];

/// Shortest and longest first label of a handle on our domains (the reference's limits).
const HANDLE_LABEL_LEN: std::ops::RangeInclusive<usize> = 3..=18;

/// Longest handle (so `_atproto.<handle>` fits a DNS name, checklist #123).
const MAX_HANDLE_LEN: usize = 244;

/// Longest accepted password, in bytes.
const MAX_PASSWORD_LEN: usize = 256;

/// `describeServer` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeServer {
    /// The service DID.
    pub did: Did,
    /// Handle domains (with leading dot).
    pub available_user_domains: Vec<String>,
    /// Whether `createAccount` needs an invite code (config `invite_required`).
    pub invite_code_required: bool,
    /// Always false.
    pub phone_verification_required: bool,
    /// `links.privacyPolicy`.
    pub privacy_policy: Option<String>,
    /// `links.termsOfService`.
    pub terms_of_service: Option<String>,
    /// `contact.email`.
    pub contact_email: Option<String>,
}

/// `createAccount` input.
#[derive(Clone, Default)]
pub struct CreateAccount {
    /// Requested handle (any case; normalised to lowercase).
    pub handle: String,
    /// Email.
    pub email: Option<String>,
    /// Password (absent: the account can only use app passwords created later... i.e. none).
    pub password: Option<String>,
    /// Bring-your-own DID (migration, checklist #99). The relay must have verified the
    /// caller's service-auth JWT for this DID; the account starts deactivated with a fresh
    /// signing key (or the one `reserveSigningKey` kept for the DID), no PLC operation is
    /// submitted and no events are emitted.
    pub did: Option<Did>,
    /// Invite code: required when the server requires invites (else ignored).
    pub invite_code: Option<String>,
    /// A `did:key` placed first in `rotationKeys` (checklist #112).
    pub recovery_key: Option<String>,
}

impl std::fmt::Debug for CreateAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAccount")
            .field("handle", &self.handle)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("did", &self.did)
            .field("recovery_key", &self.recovery_key)
            .finish_non_exhaustive()
    }
}

/// `createAccount` output.
#[derive(Clone)]
pub struct CreatedAccount {
    /// The account DID.
    pub did: Did,
    /// The handle.
    pub handle: Handle,
    /// Access JWT.
    pub access_jwt: String,
    /// Refresh JWT.
    pub refresh_jwt: String,
    /// The DID document (for new did:plc accounts).
    pub did_doc: Option<serde_json::Value>,
}

impl std::fmt::Debug for CreatedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedAccount")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("access_jwt", &"<redacted>")
            .field("refresh_jwt", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Hosting status of an account (checklist #96).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Active.
    Active,
    /// Deactivated by its owner.
    Deactivated,
    /// Taken down by the operator.
    Takendown,
}

impl AccountStatus {
    /// Of a stored account: takedown wins over deactivation.
    pub(crate) fn of(row: &AccountRow) -> AccountStatus {
        if row.takedown_ref.is_some() {
            AccountStatus::Takendown
        } else if row.deactivated_at.is_some() {
            AccountStatus::Deactivated
        } else {
            AccountStatus::Active
        }
    }

    /// `active` as the API reports it.
    pub fn is_active(self) -> bool {
        self == AccountStatus::Active
    }

    /// `status` as the API reports it (`None` when active).
    pub fn status_str(self) -> Option<&'static str> {
        match self {
            AccountStatus::Active => None,
            AccountStatus::Deactivated => Some("deactivated"),
            AccountStatus::Takendown => Some("takendown"),
        }
    }
}

/// `checkAccountStatus` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAccountStatus {
    /// Whether the account is active.
    pub activated: bool,
    /// Whether the DID document names this server and the account's key (did:plc checked
    /// through the directory; did:web counted as valid).
    pub valid_did: bool,
    /// Head commit CID.
    pub repo_commit: data_model::Cid,
    /// Head rev.
    pub repo_rev: syntax::Tid,
    /// Number of stored repository blocks.
    pub repo_blocks: u64,
    /// Number of indexed records.
    pub indexed_records: u64,
    /// Number of private state values (preferences namespaces).
    pub private_state_values: u64,
    /// Blobs referenced by records.
    pub expected_blobs: u64,
    /// Referenced blobs present.
    pub imported_blobs: u64,
}

/// Sealed signing-key plaintext: curve byte (0 = K-256, 1 = P-256) then the 32 key bytes.
pub(crate) fn seal_key(pds: &Pds, did: &Did, key: &crypto::Keypair) -> Vec<u8> {
    seal_key_for(pds, did.as_str(), key)
}

/// [`seal_key`] bound to any id (a reserved key's DID or did:key).
pub(crate) fn seal_key_for(pds: &Pds, id: &str, key: &crypto::Keypair) -> Vec<u8> {
    let mut plain = crypto::Zeroizing::new(Vec::with_capacity(33));
    plain.push(match key.curve() {
        crypto::Curve::K256 => 0,
        crypto::Curve::P256 => 1,
    });
    plain.extend_from_slice(&key.private_bytes()[..]);
    pds.secret_box.seal(&plain, id)
}

pub(crate) fn open_key(pds: &Pds, did: &Did, sealed: &[u8]) -> Result<crypto::Keypair> {
    let plain = pds
        .secret_box
        .open(sealed, did.as_str())
        .map_err(|e| Error::internal("cannot open the account signing key", e))?;
    let curve = match plain.first() {
        Some(0) => crypto::Curve::K256,
        Some(1) => crypto::Curve::P256,
        _ => {
            return Err(Error::internal(
                "sealed signing key has no curve",
                SecretError::Open,
            ));
        }
    };
    crypto::Keypair::from_private_bytes(curve, &plain[1..])
        .map_err(|e| Error::internal("sealed signing key is invalid", e))
}

/// Email syntax accepted by `createAccount` and `updateEmail`.
pub(crate) fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && email.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// did:web must name a host only (checklist #115): `did:web:host` or `did:web:localhost%3Aport`.
fn acceptable_byo_did(did: &Did) -> bool {
    match did.method() {
        "plc" => identity::is_plc_did(did),
        "web" => !did.identifier().contains(':'),
        _ => false,
    }
}

impl Pds {
    /// `com.atproto.server.describeServer`.
    pub fn describe_server(&self) -> DescribeServer {
        DescribeServer {
            did: self.config.service_did.clone(),
            available_user_domains: self.config.available_user_domains.clone(),
            invite_code_required: self.config.invite_required,
            phone_verification_required: false,
            privacy_policy: self.config.privacy_policy_url.clone(),
            terms_of_service: self.config.terms_of_service_url.clone(),
            contact_email: self.config.contact_email.clone(),
        }
    }

    /// Checks a handle for a new account on our domains (syntax, disallowed TLDs, domain,
    /// reserved and length rules) and returns it normalised.
    pub fn check_new_handle(&self, input: &str) -> Result<Handle> {
        let handle: Handle = input
            .parse()
            .map_err(|e| Error::new(ErrorKind::InvalidHandle, format!("Invalid handle: {e}")))?;
        if handle.is_disallowed_tld() {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                "Handle TLD is invalid or disallowed",
            ));
        }
        if handle.as_str().len() > MAX_HANDLE_LEN {
            return Err(Error::new(ErrorKind::InvalidHandle, "Handle too long"));
        }
        let Some(front) = self.config.available_user_domains.iter().find_map(|d| {
            let d = d.to_ascii_lowercase();
            let d = if d.starts_with('.') {
                d
            } else {
                format!(".{d}")
            };
            handle.as_str().strip_suffix(d.as_str())
        }) else {
            return Err(Error::new(
                ErrorKind::UnsupportedDomain,
                "Not a supported handle domain",
            ));
        };
        if front.contains('.') {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                "Invalid characters in handle",
            ));
        }
        if !HANDLE_LABEL_LEN.contains(&front.len()) {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "Handle must be {} to {} characters before the domain",
                    HANDLE_LABEL_LEN.start(),
                    HANDLE_LABEL_LEN.end()
                ),
            ));
        }
        if RESERVED_HANDLE_LABELS.contains(&front) {
            return Err(Error::new(ErrorKind::InvalidHandle, "Reserved handle"));
        }
        Ok(handle)
    }

    async fn hash_password(&self, password: String) -> Result<String> {
        let cost = self.config.password_cost;
        tokio::task::spawn_blocking(move || secrets::hash_password(&password, cost))
            .await
            .map_err(|e| Error::internal("password hashing task failed", e))?
            .map_err(|e| Error::internal("password hashing failed", e))
    }

    /// `com.atproto.server.createAccount` (see [`CreateAccount`]).
    pub async fn create_account(&self, input: CreateAccount) -> Result<CreatedAccount> {
        let handle = self.check_new_handle(&input.handle)?;
        let invite = self.check_invite(input.invite_code.as_deref()).await?;
        if self
            .deps
            .accounts
            .account_by_handle(&handle)
            .await?
            .is_some()
        {
            return Err(Error::new(
                ErrorKind::HandleNotAvailable,
                format!("Handle already taken: {handle}"),
            ));
        }
        let email = match input.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) if valid_email(e) => Some(e.to_owned()),
            Some(_) => return Err(Error::invalid("This email address is not supported")),
        };
        if let Some(e) = &email
            && self.deps.accounts.account_by_email(e).await?.is_some()
        {
            return Err(Error::invalid("This email address is already in use"));
        }
        let password_hash = match input.password {
            None => None,
            Some(p) if p.is_empty() || p.len() > MAX_PASSWORD_LEN => {
                return Err(Error::new(
                    ErrorKind::InvalidPassword,
                    format!("Password must be 1 to {MAX_PASSWORD_LEN} bytes"),
                ));
            }
            Some(p) => Some(self.hash_password(p).await?),
        };

        let mut signing_key = crypto::Keypair::generate(crypto::Curve::K256);
        let (did, deactivated, did_doc) = match input.did {
            Some(did) => {
                if !acceptable_byo_did(&did) {
                    return Err(Error::invalid(
                        "Unsupported DID: use did:plc or a host-only did:web",
                    ));
                }
                if self.deps.accounts.account(&did).await?.is_some() {
                    return Err(Error::invalid("Account already exists"));
                }
                if let Some(reserved) = self.take_reserved_key(&did).await? {
                    signing_key = reserved;
                }
                (did, true, None)
            }
            None => {
                let did = self
                    .create_plc_identity(&handle, &signing_key, input.recovery_key.as_deref())
                    .await?;
                let doc = DidDocument::atproto(
                    &did,
                    Some(&handle),
                    &signing_key.public_key(),
                    &self.config.public_url,
                );
                (did, false, Some(doc.to_json()))
            }
        };

        let now = now_ms();
        let first = Repo::empty(CachedBlocks::default(), did.clone())
            .prepare_commit(&[], self.clock.next())
            .map_err(|e| Error::internal("building the first commit", e))?
            .sign(&signing_key);
        let events = if deactivated {
            Vec::new()
        } else {
            // Checklist #98: #identity, #account (active), the first #commit, then #sync (as
            // the reference does, checklist #89). All four go in the one transaction that
            // creates the account (the commit's own event slot stays empty so #sync can follow
            // it).
            let commit_block = first
                .blocks
                .get(&first.cid)
                .ok_or_else(|| Error::internal("first commit block missing", RepoError::NoHead))?;
            vec![
                events::identity(&did, Some(&handle), now),
                events::account(&did, None, now),
                events::commit(&did, &first, now)?,
                events::sync(&did, &first.cid, commit_block, first.rev(), now)?,
            ]
        };
        let commit_event = None;
        let account = NewAccount {
            did: did.clone(),
            handle: handle.clone(),
            email,
            password_hash,
            encrypted_signing_key: seal_key(self, &did, &signing_key),
            created_at: now,
            deactivated,
        };
        let write = CommitWrite {
            did: did.clone(),
            cid: first.cid,
            rev: *first.rev(),
            prev: None,
            blocks: first.blocks.clone(),
            removed_blocks: Vec::new(),
            records: Vec::new(),
            event: commit_event,
            now,
        };
        if let Some(code) = &invite {
            self.claim_invite(code, &did).await?;
        }
        let created = self
            .deps
            .accounts
            .create_account(account, write, events)
            .await;
        if created.is_err()
            && let Some(code) = &invite
        {
            self.release_invite(code, &did).await;
        }
        let seq = match created {
            Ok(seq) => seq,
            Err(StoreError::Conflict(Conflict::Did)) => {
                return Err(Error::invalid("Account already exists"));
            }
            Err(StoreError::Conflict(Conflict::Handle)) => {
                return Err(Error::new(
                    ErrorKind::HandleNotAvailable,
                    format!("Handle already taken: {handle}"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.notify(seq);
        let (access_jwt, refresh_jwt) = self.issue_tokens(&did, AccessScope::Full, None).await?;
        Ok(CreatedAccount {
            did,
            handle,
            access_jwt,
            refresh_jwt,
            did_doc,
        })
    }

    /// Builds, signs (with the PDS rotation key) and submits a genesis operation; returns the
    /// new DID (checklist #106-#112).
    async fn create_plc_identity(
        &self,
        handle: &Handle,
        signing_key: &crypto::Keypair,
        recovery_key: Option<&str>,
    ) -> Result<Did> {
        let mut rotation_keys = Vec::new();
        if let Some(rk) = recovery_key {
            crypto::PublicKey::from_did_key(rk)
                .map_err(|_| Error::invalid("recoveryKey must be a did:key"))?;
            rotation_keys.push(rk.to_owned());
        }
        let pds_key = self.config.plc_rotation_key.public_key().to_did_key();
        if !rotation_keys.contains(&pds_key) {
            rotation_keys.push(pds_key);
        }
        let fields = PlcFields::atproto(
            rotation_keys,
            &signing_key.public_key(),
            handle,
            &self.config.public_url,
        );
        let op = Operation::genesis(fields).sign(&self.config.plc_rotation_key);
        OpLimits::default()
            .check(&op)
            .map_err(|e| Error::invalid(format!("PLC operation too large: {e}")))?;
        let did = op
            .genesis_did()
            .ok_or_else(|| Error::internal("genesis op has no DID", SecretError::Open))?;
        self.deps.plc.submit(&did, &op).await.map_err(|e| {
            Error::new(
                ErrorKind::UpstreamFailure,
                "PLC directory refused the new DID",
            )
            .with_source(e)
        })?;
        Ok(did)
    }

    /// The account of `did`, or `RepoNotFound`.
    pub(crate) async fn account_row(&self, did: &Did) -> Result<AccountRow> {
        self.deps.accounts.account(did).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::RepoNotFound,
                format!("Could not find repo: {did}"),
            )
        })
    }

    /// `com.atproto.server.deactivateAccount` (full-access sessions only). `delete_after` is
    /// milliseconds since the epoch.
    pub async fn deactivate_account(
        &self,
        auth: &AuthContext,
        delete_after: Option<i64>,
    ) -> Result<()> {
        auth.require_full_access()?;
        let now = now_ms();
        let event = events::account(&auth.did, Some("deactivated"), now);
        let seq = self
            .deps
            .accounts
            .set_deactivated(&auth.did, Some(now), delete_after, Some(event))
            .await?;
        self.notify(seq);
        Ok(())
    }

    /// `com.atproto.server.activateAccount` (full-access sessions only) for accounts whose DID
    /// document this crate can read itself (did:plc); see
    /// [`Pds::activate_account_with_doc`].
    pub async fn activate_account(&self, auth: &AuthContext) -> Result<()> {
        self.activate_account_with_doc(auth, None).await
    }

    /// `com.atproto.server.activateAccount`: a no-op for an active account; otherwise, as the
    /// reference, only once the DID document makes this server the account's PDS (after a
    /// migration the DID update comes first; checklist #99, #100): see
    /// [`Pds::assert_did_doc_for_service`]. `web_doc` is the account's did:web document as
    /// the caller resolved it (this crate does no HTTP); did:plc is read from the directory.
    pub async fn activate_account_with_doc(
        &self,
        auth: &AuthContext,
        web_doc: Option<&DidDocument>,
    ) -> Result<()> {
        auth.require_full_access()?;
        let row = self.account_row(&auth.did).await?;
        // An already active account is checked and announced again too, as the reference
        // does: clients use it to make relays re-read the identity and the repo state.
        self.assert_did_doc_for_service(&auth.did, web_doc).await?;
        let now = now_ms();
        let status = if row.takedown_ref.is_some() {
            Some("takendown")
        } else {
            None
        };
        // As the reference: #account, then (when the account is now active) #identity and a
        // #sync of the current head, so relays re-check the identity and the repo state
        // (checklist #89, #101, #104). No #sync for an account that stays inactive (#93).
        let mut evs = vec![events::account(&auth.did, status, now)];
        if status.is_none() {
            evs.push(events::identity(&auth.did, Some(&row.handle), now));
            if let Some(root) = self.deps.repos.repo_root(&auth.did).await?
                && let Some(block) = self.deps.repos.get_block(&auth.did, &root.cid).await?
            {
                evs.push(events::sync(&auth.did, &root.cid, &block, &root.rev, now)?);
            }
        }
        let seq = self
            .deps
            .accounts
            .set_deactivated_with_events(&auth.did, None, None, evs)
            .await?;
        self.notify(seq);
        Ok(())
    }

    /// Whether the DID document names this server as the account's PDS with the account's
    /// signing key (see [`Pds::assert_did_doc_for_service`]). did:web documents are not
    /// fetched here (no HTTP in this crate) and count as valid.
    pub(crate) async fn did_doc_points_here(&self, did: &Did) -> Result<bool> {
        if did.method() != "plc" {
            return Ok(true);
        }
        match self.assert_did_doc_for_service(did, None).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::InvalidRequest => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Checks, as the reference's `assertValidDidDocumentForService`, that the DID document
    /// makes this server the account's host: for did:plc (read from the PLC directory) the
    /// rotation keys include this server's PLC rotation key; the `#atproto_pds` endpoint is
    /// this server's public URL; the `#atproto` key is the account's signing key. `web_doc`:
    /// the resolved document of a did:web (`None`: "Could not resolve DID"). Each failure is
    /// `InvalidRequest` with the reference's message.
    pub async fn assert_did_doc_for_service(
        &self,
        did: &Did,
        web_doc: Option<&DidDocument>,
    ) -> Result<()> {
        let upstream = |e: crate::plc::PlcClientError| {
            Error::new(ErrorKind::UpstreamFailure, "PLC directory unavailable").with_source(e)
        };
        let (endpoint, signing_key) = if did.method() == "plc" {
            let last = self
                .deps
                .plc
                .last_operation(did)
                .await
                .map_err(upstream)?
                .ok_or_else(|| Error::invalid("Could not resolve DID"))?;
            let fields = last
                .operation()
                .fields()
                .ok_or_else(|| Error::invalid("Could not resolve DID"))?;
            let ours = self.config.plc_rotation_key.public_key().to_did_key();
            if !fields.rotation_keys.contains(&ours) {
                return Err(Error::invalid(
                    "Server rotation key not included in PLC DID data",
                ));
            }
            (
                fields.pds_endpoint().map(str::to_owned),
                fields.atproto_signing_key().map(str::to_owned),
            )
        } else {
            let doc = web_doc.ok_or_else(|| Error::invalid("Could not resolve DID"))?;
            (
                doc.pds_endpoint().ok().map(str::to_owned),
                doc.signing_key().ok().map(|k| k.to_did_key()),
            )
        };
        let here = self.config.public_url.trim_end_matches('/');
        if endpoint.as_deref().map(|e| e.trim_end_matches('/')) != Some(here) {
            return Err(Error::invalid(
                "DID document atproto_pds service endpoint does not match PDS public url",
            ));
        }
        let key = self.signing_keypair(did).await?.public_key().to_did_key();
        if signing_key.as_deref() != Some(key.as_str()) {
            return Err(Error::invalid(
                "DID document verification method does not match expected signing key",
            ));
        }
        Ok(())
    }

    /// `com.atproto.server.checkAccountStatus`.
    pub async fn check_account_status(&self, auth: &AuthContext) -> Result<CheckAccountStatus> {
        let row = self.account_row(&auth.did).await?;
        let root = self
            .deps
            .repos
            .repo_root(&auth.did)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::RepoNotFound, "Could not find repo"))?;
        let stats = self.deps.repos.repo_stats(&auth.did).await?;
        let prefs = self
            .deps
            .preferences
            .preferences(&auth.did, crate::preferences::BSKY_NAMESPACE)
            .await?;
        Ok(CheckAccountStatus {
            activated: row.deactivated_at.is_none(),
            valid_did: self.did_doc_points_here(&auth.did).await.unwrap_or(false),
            repo_commit: root.cid,
            repo_rev: root.rev,
            repo_blocks: stats.blocks,
            indexed_records: stats.records,
            private_state_values: u64::from(prefs.is_some()),
            expected_blobs: stats.expected_blobs,
            imported_blobs: stats.imported_blobs,
        })
    }

    /// `com.atproto.server.deleteAccount`: checks the account password (not an app password)
    /// and consumes the `delete_account` email token (`requestAccountDelete`), then deletes
    /// everything and emits the `#account` tombstone (checklist #102).
    pub async fn delete_account(&self, did: &Did, password: &str, token: &str) -> Result<()> {
        let bad = || Error::new(ErrorKind::AuthRequired, "Invalid did or password");
        let row = self.deps.accounts.account(did).await?.ok_or_else(bad)?;
        let Some(hash) = row.password_hash.clone() else {
            return Err(bad());
        };
        if !self.check_password(password.to_owned(), hash).await? {
            return Err(bad());
        }
        self.consume_email_token(did, crate::ports::TokenPurpose::DeleteAccount, token)
            .await?;
        self.remove_account(did).await
    }

    /// `com.atproto.admin.deleteAccount`: deletes without a password (the relay checks admin
    /// auth). `RepoNotFound` if there is no such account.
    pub async fn admin_delete_account(&self, did: &Did) -> Result<()> {
        self.account_row(did).await?;
        self.remove_account(did).await
    }

    /// Deletes the deactivated accounts whose `deleteAfter` has passed (housekeeping, for a
    /// periodic task); returns how many were deleted.
    pub async fn delete_due_accounts(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let due = self
                .deps
                .accounts
                .accounts_due_for_deletion(now_ms(), 100)
                .await?;
            if due.is_empty() {
                return Ok(total);
            }
            for did in due {
                match self.remove_account(&did).await {
                    Ok(()) => total += 1,
                    // Deleted meanwhile by someone else: nothing left to do.
                    Err(e) if e.kind() == ErrorKind::RepoNotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Deletes everything of `did` under its account lock and emits the tombstone.
    async fn remove_account(&self, did: &Did) -> Result<()> {
        let slot = self.cache.slot(did);
        let mut state = slot.state.lock().await;
        let now = now_ms();
        let deleted = self
            .deps
            .accounts
            .delete_account(did, events::account(did, Some("deleted"), now))
            .await?;
        *state = None;
        drop(state);
        self.cache.remove(did);
        self.notify(Some(deleted.seq));
        for cid in deleted.blobs {
            self.delete_blob_bytes(did, &cid).await;
        }
        Ok(())
    }

    /// `com.atproto.identity.updateHandle` (full-access sessions only, checklist #121): the
    /// handle is stored lowercase, the PLC document's `alsoKnownAs` is updated (did:plc, signed
    /// with the PDS rotation key) and an `#identity` event is emitted.
    ///
    /// A handle on one of our domains follows the `createAccount` rules. Any other handle must
    /// have passed the bidirectional check (checklist #120) in the caller, which says so with
    /// `externally_verified`; otherwise it is refused with `UnsupportedDomain`.
    pub async fn update_handle(
        &self,
        auth: &AuthContext,
        handle: &str,
        externally_verified: bool,
    ) -> Result<()> {
        auth.require_full_access()?;
        self.update_handle_inner(&auth.did, handle, externally_verified)
            .await
    }

    /// `com.atproto.admin.updateAccountHandle` (the relay checks admin auth): any valid handle
    /// (our domains follow the `createAccount` rules; others are taken as given, as the
    /// reference's `allowAnyValid`), PLC `alsoKnownAs` updated for did:plc, `#identity`
    /// emitted.
    pub async fn admin_update_handle(&self, did: &Did, handle: &str) -> Result<()> {
        self.update_handle_inner(did, &handle.to_ascii_lowercase(), true)
            .await
    }

    /// Sets `did`'s handle: one of our domains by the `createAccount` rules, or, when
    /// `any_valid` (verified elsewhere, or an admin), any valid handle outside a disallowed TLD.
    async fn update_handle_inner(&self, did: &Did, handle: &str, any_valid: bool) -> Result<()> {
        let handle = match self.check_new_handle(handle) {
            Ok(h) => h,
            Err(e) if e.kind() == ErrorKind::UnsupportedDomain && any_valid => {
                let h: Handle = handle.parse().map_err(|e| {
                    Error::new(ErrorKind::InvalidHandle, format!("Invalid handle: {e}"))
                })?;
                if h.is_disallowed_tld() {
                    return Err(Error::new(
                        ErrorKind::InvalidHandle,
                        "Handle TLD is invalid or disallowed",
                    ));
                }
                h
            }
            Err(e) => return Err(e),
        };
        self.set_account_handle(did, &handle).await
    }

    /// Moves `did` to `handle` (already checked): uniqueness, PLC `alsoKnownAs` for did:plc,
    /// the stored handle and the `#identity` event.
    async fn set_account_handle(&self, did: &Did, handle: &Handle) -> Result<()> {
        let row = self.account_row(did).await?;
        if let Some(other) = self.deps.accounts.account_by_handle(handle).await?
            && other.did != *did
        {
            return Err(Error::new(
                ErrorKind::HandleNotAvailable,
                format!("Handle already taken: {handle}"),
            ));
        }
        if row.did.method() == "plc" {
            self.submit_plc_handle(&row.did, handle).await?;
        }
        let now = now_ms();
        let seq = self
            .deps
            .accounts
            .update_handle(did, handle, Some(events::identity(did, Some(handle), now)))
            .await?;
        self.notify(seq);
        Ok(())
    }

    /// Submits a PLC update that points `alsoKnownAs` at `handle`.
    async fn submit_plc_handle(&self, did: &Did, handle: &Handle) -> Result<()> {
        let upstream = |e: crate::plc::PlcClientError| {
            Error::new(ErrorKind::UpstreamFailure, "PLC directory update failed").with_source(e)
        };
        let last = self
            .deps
            .plc
            .last_operation(did)
            .await
            .map_err(upstream)?
            .ok_or_else(|| Error::invalid("DID is not known to the PLC directory"))?;
        let mut fields = last
            .operation()
            .fields()
            .ok_or_else(|| Error::invalid("DID is tombstoned"))?;
        if fields.handle().as_ref() == Some(handle) {
            return Ok(());
        }
        fields.set_handle(handle);
        let op = Operation::update(fields, last.cid()).sign(&self.config.plc_rotation_key);
        self.deps.plc.submit(did, &op).await.map_err(upstream)
    }

    /// `com.atproto.identity.getRecommendedDidCredentials`: what the DID document should say
    /// for this account to be hosted here (migration, checklist #100), in the lexicon's JSON
    /// shape: `{rotationKeys, alsoKnownAs, verificationMethods, services}`.
    pub async fn recommended_did_credentials(
        &self,
        auth: &AuthContext,
    ) -> Result<serde_json::Value> {
        let row = self.account_row(&auth.did).await?;
        let key = self.signing_keypair(&auth.did).await?;
        let fields = PlcFields::atproto(
            vec![self.config.plc_rotation_key.public_key().to_did_key()],
            &key.public_key(),
            &row.handle,
            &self.config.public_url,
        );
        let services: serde_json::Map<String, serde_json::Value> = fields
            .services
            .iter()
            .map(|(name, svc)| {
                (
                    name.clone(),
                    serde_json::json!({"type": svc.service_type, "endpoint": svc.endpoint}),
                )
            })
            .collect();
        Ok(serde_json::json!({
            "rotationKeys": fields.rotation_keys,
            "alsoKnownAs": fields.also_known_as,
            "verificationMethods": fields.verification_methods,
            "services": services,
        }))
    }

    /// Takes an account down (`Some(reference)`) or restores it (`None`): the admin
    /// `updateSubjectStatus` use case (the relay checks admin auth). Emits `#account`.
    pub async fn set_takedown(&self, did: &Did, reference: Option<String>) -> Result<()> {
        let row = self.account_row(did).await?;
        let now = now_ms();
        let status = match (&reference, row.deactivated_at) {
            (Some(_), _) => Some("takendown"),
            (None, Some(_)) => Some("deactivated"),
            (None, None) => None,
        };
        let seq = self
            .deps
            .accounts
            .set_takedown(did, reference, Some(events::account(did, status, now)))
            .await?;
        self.notify(seq);
        Ok(())
    }

    pub(crate) async fn check_password(&self, password: String, hash: String) -> Result<bool> {
        tokio::task::spawn_blocking(move || secrets::verify_password(&password, &hash))
            .await
            .map_err(|e| Error::internal("password check task failed", e))
    }
}
