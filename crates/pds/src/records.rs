//! Record use cases: the single write path ([`Pds::apply_writes`], which `createRecord`,
//! `putRecord` and `deleteRecord` call) and the record reads (`getRecord`, `listRecords`,
//! `describeRepo`). Checklist #31, #34, #38, #173, #181-#184.

use data_model::{BlobRef, Cid, Value};
use repo::repo::{Record, RepoError, WriteOp};
use syntax::{AtIdentifier, AtUri, Did, Nsid, RecordKey, RepoPath, Tid};

use crate::accounts::AccountStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::jwt::AuthContext;
use crate::ports::{AccountRow, CommitWrite, Conflict, RecordChange, StoreError};
use crate::repo_cache::{CachedBlocks, LoadedRepo, with_fetch};
use crate::{Pds, events, now_ms};

/// Most writes in one `applyWrites` (the reference's limit).
pub const MAX_WRITES_PER_COMMIT: usize = 200;

/// One write of [`ApplyWrites`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create a record; `rkey` defaults to a new TID. Fails if the record exists.
    Create {
        /// Collection.
        collection: Nsid,
        /// Record key (default: a TID).
        rkey: Option<RecordKey>,
        /// The record (a map; `$type` is set to `collection` when missing).
        value: Value,
    },
    /// Replace an existing record (`applyWrites#update`).
    Update {
        /// Collection.
        collection: Nsid,
        /// Record key.
        rkey: RecordKey,
        /// The new record.
        value: Value,
        /// Expected current CID.
        swap_record: Option<Cid>,
    },
    /// Create or replace (`putRecord`). `swap_record`: `None` = no check, `Some(None)` = must
    /// not exist, `Some(Some(cid))` = must currently be `cid`.
    Put {
        /// Collection.
        collection: Nsid,
        /// Record key.
        rkey: RecordKey,
        /// The record.
        value: Value,
        /// Compare-and-swap condition.
        swap_record: Option<Option<Cid>>,
    },
    /// Delete an existing record.
    Delete {
        /// Collection.
        collection: Nsid,
        /// Record key.
        rkey: RecordKey,
        /// Expected current CID.
        swap_record: Option<Cid>,
    },
}

/// `com.atproto.repo.applyWrites` input.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyWrites {
    /// The repository (handle or DID); must be the caller's.
    pub repo: AtIdentifier,
    /// `true`: validate, fail on unknown lexicons; `false`: skip lexicon validation; `None`:
    /// validate known collections (checklist #181).
    pub validate: Option<bool>,
    /// The writes, applied in order in one commit.
    pub writes: Vec<Write>,
    /// Expected current head commit.
    pub swap_commit: Option<Cid>,
}

/// Whether a written record was validated against its lexicon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationStatus {
    /// Validated.
    Valid,
    /// The lexicon is unknown; not validated.
    Unknown,
}

impl ValidationStatus {
    /// `valid` / `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Valid => "valid",
            ValidationStatus::Unknown => "unknown",
        }
    }
}

/// The commit a write produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRef {
    /// Commit CID.
    pub cid: Cid,
    /// Commit rev.
    pub rev: Tid,
}

/// The outcome of one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Created.
    Create {
        /// `at://did/collection/rkey`.
        uri: AtUri,
        /// Record CID.
        cid: Cid,
        /// `None` when `validate: false`.
        validation_status: Option<ValidationStatus>,
    },
    /// Updated (also `Put` of an existing record).
    Update {
        /// `at://did/collection/rkey`.
        uri: AtUri,
        /// Record CID.
        cid: Cid,
        /// `None` when `validate: false`.
        validation_status: Option<ValidationStatus>,
    },
    /// Deleted.
    Delete,
}

/// `applyWrites` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResult {
    /// The new commit.
    pub commit: CommitRef,
    /// One outcome per write, in order.
    pub results: Vec<WriteOutcome>,
}

/// `createRecord` / `putRecord` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWriteResult {
    /// `at://did/collection/rkey`.
    pub uri: AtUri,
    /// Record CID.
    pub cid: Cid,
    /// The new commit.
    pub commit: CommitRef,
    /// `None` when `validate: false`.
    pub validation_status: Option<ValidationStatus>,
}

/// One record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOutput {
    /// `at://did/collection/rkey`.
    pub uri: AtUri,
    /// Record CID.
    pub cid: Cid,
    /// The record.
    pub value: Value,
}

/// `listRecords` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRecords {
    /// The page.
    pub records: Vec<RecordOutput>,
    /// Present when there may be more.
    pub cursor: Option<String>,
}

/// `describeRepo` output.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeRepo {
    /// Handle.
    pub handle: syntax::Handle,
    /// DID.
    pub did: Did,
    /// The DID document, when the PLC directory has it.
    pub did_doc: Option<serde_json::Value>,
    /// Collections with records.
    pub collections: Vec<Nsid>,
    /// Always true for local accounts (handle checked at creation).
    pub handle_is_correct: bool,
}

/// A write after validation, before the repository is touched.
#[derive(Clone)]
struct Prepared {
    kind: Kind,
    collection: Nsid,
    rkey: RecordKey,
    record: Option<Record>,
    blobs: Vec<BlobRef>,
    status: Option<ValidationStatus>,
    /// `None`: no check; `Some(None)`: must not exist; `Some(Some(c))`: must be `c`.
    swap: Option<Option<Cid>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Create,
    Update,
    Put,
    Delete,
}

fn path_of(collection: &Nsid, rkey: &RecordKey) -> RepoPath {
    RepoPath::new(collection, rkey)
}

fn uri_of(did: &Did, collection: &Nsid, rkey: &RecordKey) -> AtUri {
    AtUri::for_record(&AtIdentifier::from(did.clone()), collection, rkey)
}

fn map_repo_error(e: RepoError) -> Error {
    match e {
        RepoError::RecordExists(p) => Error::invalid(format!("Record already exists: {p}")),
        RepoError::RecordNotFound(p) => Error::invalid(format!("Could not find record: {p}")),
        RepoError::DuplicatePath(p) => Error::invalid(format!(
            "Record {p} is written more than once in one request"
        )),
        RepoError::InvalidRecord { reason, .. } => {
            Error::invalid(format!("Invalid record: {reason}"))
        }
        RepoError::Mst(repo::mst::MstError::InvalidKey { key, reason }) => {
            Error::invalid(format!("Invalid record path {key:?}: {reason}"))
        }
        other => Error::internal("repository engine failure", other),
    }
}

fn swap_error(msg: &str) -> Error {
    Error::new(ErrorKind::InvalidSwap, msg)
}

impl Pds {
    /// Resolves a repo identifier to a local account.
    pub(crate) async fn resolve_repo(&self, repo: &AtIdentifier) -> Result<AccountRow> {
        let row = if let Some(did) = repo.as_did() {
            self.deps.accounts.account(did).await?
        } else if let Some(handle) = repo.as_handle() {
            self.deps.accounts.account_by_handle(handle).await?
        } else {
            None
        };
        row.ok_or_else(|| {
            Error::new(
                ErrorKind::RepoNotFound,
                format!("Could not find repo: {}", repo.as_str()),
            )
        })
    }

    /// The DID of the local account with `handle`, whatever its status, without any network
    /// call (for `resolveHandle` and `/.well-known/atproto-did` on our domains).
    pub async fn resolve_local_handle(&self, handle: &syntax::Handle) -> Result<Option<Did>> {
        Ok(self
            .deps
            .accounts
            .account_by_handle(handle)
            .await?
            .map(|a| a.did))
    }

    /// The caller's account, writable: the repo must be the caller's and active.
    async fn writable_account(
        &self,
        auth: &AuthContext,
        repo: &AtIdentifier,
    ) -> Result<AccountRow> {
        let row = self.resolve_repo(repo).await?;
        if row.did != auth.did {
            return Err(Error::new(
                ErrorKind::AuthRequired,
                "The repo is not the authenticated account's",
            ));
        }
        match AccountStatus::of(&row) {
            AccountStatus::Active => Ok(row),
            AccountStatus::Deactivated => Err(Error::new(
                ErrorKind::AccountDeactivated,
                "Account is deactivated",
            )),
            AccountStatus::Takendown => Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            )),
        }
    }

    /// Validates and encodes one record value (checklist #31, #181-#183).
    fn prepare_record(
        &self,
        collection: &Nsid,
        rkey: &RecordKey,
        mut value: Value,
        validate: Option<bool>,
    ) -> Result<(Record, Vec<BlobRef>, Option<ValidationStatus>)> {
        let Value::Map(m) = &mut value else {
            return Err(Error::invalid("Record must be an object"));
        };
        match m.get("$type") {
            None => {
                m.insert(
                    "$type".to_owned(),
                    Value::String(collection.as_str().to_owned()),
                );
            }
            Some(Value::String(t)) if t == collection.as_str() => {}
            Some(Value::String(t)) => {
                return Err(Error::invalid(format!(
                    "Invalid $type: expected {collection}, got {t}"
                )));
            }
            Some(_) => return Err(Error::invalid("Invalid $type: must be a string")),
        }
        let catalog = &self.deps.catalog;
        let known = catalog.is_known_collection(collection);
        let status = match (validate, known) {
            (Some(false), _) => None,
            (Some(true), false) => {
                return Err(Error::invalid(format!("Lexicon not found: {collection}")));
            }
            (_, false) => Some(ValidationStatus::Unknown),
            (_, true) => {
                if let Some(rule) = catalog.record_key_type(collection) {
                    rule.check(rkey)
                        .map_err(|e| Error::invalid(format!("Invalid record key: {e}")))?;
                }
                catalog
                    .validate_record(collection, &value)
                    .map_err(|e| Error::invalid(format!("Invalid {collection} record: {e}")))?;
                Some(ValidationStatus::Valid)
            }
        };
        let blobs = value.blob_refs();
        let record = Record::from_value(&value).map_err(map_repo_error)?;
        Ok((record, blobs, status))
    }

    fn prepare_writes(&self, writes: Vec<Write>, validate: Option<bool>) -> Result<Vec<Prepared>> {
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            let (kind, collection, rkey, value, swap) = match w {
                Write::Create {
                    collection,
                    rkey,
                    value,
                } => {
                    let rkey = rkey.unwrap_or_else(|| RecordKey::from(self.clock.next()));
                    (Kind::Create, collection, rkey, Some(value), None)
                }
                Write::Update {
                    collection,
                    rkey,
                    value,
                    swap_record,
                } => (
                    Kind::Update,
                    collection,
                    rkey,
                    Some(value),
                    swap_record.map(Some),
                ),
                Write::Put {
                    collection,
                    rkey,
                    value,
                    swap_record,
                } => (Kind::Put, collection, rkey, Some(value), swap_record),
                Write::Delete {
                    collection,
                    rkey,
                    swap_record,
                } => (Kind::Delete, collection, rkey, None, swap_record.map(Some)),
            };
            let (record, blobs, status) = match value {
                Some(v) => {
                    let (r, b, s) = self.prepare_record(&collection, &rkey, v, validate)?;
                    (Some(r), b, s)
                }
                None => (None, Vec::new(), None),
            };
            out.push(Prepared {
                kind,
                collection,
                rkey,
                record,
                blobs,
                status,
                swap,
            });
        }
        Ok(out)
    }

    /// Every blob a record references must have been uploaded by the account, with the size
    /// and MIME type the upload reported (checklist #173, #174: the lexicon's `accept` and
    /// `maxSize` were checked against these values). The store re-checks existence inside the
    /// commit transaction.
    async fn check_blob_refs(&self, did: &Did, prepared: &[Prepared]) -> Result<()> {
        for blob in prepared.iter().flat_map(|p| &p.blobs) {
            let meta = self
                .deps
                .blobs
                .blob(did, &blob.cid)
                .await?
                .ok_or_else(|| Error::invalid(format!("Could not find blob: {}", blob.cid)))?;
            if blob.size.is_some_and(|s| s != meta.size) {
                return Err(Error::invalid(format!(
                    "Blob {} size does not match the upload ({} bytes)",
                    blob.cid, meta.size
                )));
            }
            if blob.mime_type != meta.mime_type {
                return Err(Error::invalid(format!(
                    "Blob {} MIME type does not match the upload ({})",
                    blob.cid, meta.mime_type
                )));
            }
        }
        Ok(())
    }

    /// The account's working copy, loaded from the stored head if it is not cached. A cached
    /// copy is trusted: this process is the only writer, and the store's compare-and-swap on
    /// the head catches anything else (the write path then reloads and retries once).
    pub(crate) async fn loaded_repo<'a>(
        &self,
        did: &Did,
        state: &'a mut Option<LoadedRepo>,
    ) -> Result<&'a mut LoadedRepo> {
        if state.is_none() {
            let root = self
                .deps
                .repos
                .repo_root(did)
                .await?
                .ok_or_else(|| Error::new(ErrorKind::RepoNotFound, "Could not find repo"))?;
            let blocks = CachedBlocks::default();
            let repo = with_fetch(&*self.deps.repos, did, &blocks, || {
                repo::repo::Repo::open(blocks.clone(), &root.cid)
            })
            .await?
            .map_err(|e| Error::internal("cannot open repository", e))?;
            *state = Some(LoadedRepo::new(repo, blocks));
        }
        state
            .as_mut()
            .ok_or_else(|| Error::internal("repository slot empty", RepoError::NoHead))
    }

    /// `com.atproto.repo.applyWrites`: the one write path (see the crate docs).
    pub async fn apply_writes(
        &self,
        auth: &AuthContext,
        input: ApplyWrites,
    ) -> Result<WriteResult> {
        let account = self.writable_account(auth, &input.repo).await?;
        if input.writes.is_empty() {
            return Err(Error::invalid("No writes given"));
        }
        if input.writes.len() > MAX_WRITES_PER_COMMIT {
            return Err(Error::invalid(format!(
                "Too many writes. Max: {MAX_WRITES_PER_COMMIT}"
            )));
        }
        let prepared = self.prepare_writes(input.writes, input.validate)?;
        let did = account.did;
        self.check_blob_refs(&did, &prepared).await?;

        let slot = self.cache.slot(&did);
        let mut state = slot.state.lock().await;
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let res = self
                .commit_locked(
                    &did,
                    &mut state,
                    prepared.clone(),
                    input.swap_commit,
                    attempt == 1,
                )
                .await;
            match res {
                // The stored head is not the cached one: reload and try once more.
                Ok(None) if attempt < 2 => *state = None,
                Ok(None) => {
                    break Err(Error::internal(
                        "repository head keeps moving under the account lock",
                        StoreError::Conflict(Conflict::HeadMoved),
                    ));
                }
                Ok(Some(done)) => break Ok(done),
                Err(e) => {
                    // The working copy only changes after a successful store commit, but an
                    // internal failure may leave it unsure (or stale: another process may have
                    // moved the head and deleted blocks it still points at): reload, and try
                    // once more.
                    if e.kind() == ErrorKind::Internal {
                        *state = None;
                        if attempt < 2 {
                            tracing::warn!(%did, error = %e.log_message(), "write failed, reloading the repository and retrying");
                            continue;
                        }
                    }
                    break Err(e);
                }
            }
        };
        drop(state);
        let (result, orphaned, seq) = result?;
        self.notify(seq);
        for cid in orphaned {
            self.delete_blob_bytes(&did, &cid).await;
        }
        Ok(result)
    }

    async fn commit_locked(
        &self,
        did: &Did,
        state: &mut Option<LoadedRepo>,
        prepared: Vec<Prepared>,
        swap_commit: Option<Cid>,
        first_attempt: bool,
    ) -> Result<Option<(WriteResult, Vec<Cid>, Option<i64>)>> {
        // A cached copy may be stale (another process wrote): on a swap mismatch, reload once
        // before reporting it. `Ok(None)` asks the caller to reload and retry.
        let from_cache = state.is_some();
        let loaded = self.loaded_repo(did, state).await?;
        let recheck = first_attempt && from_cache;
        if let Some(expected) = swap_commit
            && loaded.repo.head_cid() != Some(&expected)
        {
            if recheck {
                return Ok(None);
            }
            return Err(swap_error("Commit was at a different head than swapCommit"));
        }

        // Current values, swap checks, engine ops and index changes.
        let mut ops = Vec::with_capacity(prepared.len());
        let mut changes = Vec::with_capacity(prepared.len());
        let mut outcomes = Vec::with_capacity(prepared.len());
        for p in prepared {
            let path = path_of(&p.collection, &p.rkey);
            let repo = &loaded.repo;
            let current = with_fetch(&*self.deps.repos, did, &loaded.blocks, || {
                repo.get_record_cid(&path)
            })
            .await?
            .map_err(map_repo_error)?;
            if let Some(expected) = p.swap
                && current != expected
            {
                return Err(swap_error(
                    "Record was at a different version than swapRecord",
                ));
            }
            let uri = uri_of(did, &p.collection, &p.rkey);
            match (p.kind, p.record) {
                (Kind::Delete, _) => {
                    ops.push(WriteOp::Delete { path });
                    changes.push(RecordChange::Delete {
                        collection: p.collection,
                        rkey: p.rkey,
                    });
                    outcomes.push(WriteOutcome::Delete);
                }
                (kind, Some(record)) => {
                    let cid = *record.cid();
                    let create = kind == Kind::Create || (kind == Kind::Put && current.is_none());
                    if create {
                        ops.push(WriteOp::Create { path, record });
                        outcomes.push(WriteOutcome::Create {
                            uri,
                            cid,
                            validation_status: p.status,
                        });
                    } else {
                        ops.push(WriteOp::Update { path, record });
                        outcomes.push(WriteOutcome::Update {
                            uri,
                            cid,
                            validation_status: p.status,
                        });
                    }
                    changes.push(RecordChange::Put {
                        collection: p.collection,
                        rkey: p.rkey,
                        cid,
                        blobs: p.blobs.iter().map(|b| b.cid).collect(),
                    });
                }
                (_, None) => {
                    return Err(Error::internal("write without a record", RepoError::NoHead));
                }
            }
        }

        let rev = loaded.repo.next_rev(&self.clock);
        let repo = &loaded.repo;
        let prepared_commit = with_fetch(&*self.deps.repos, did, &loaded.blocks, || {
            repo.prepare_commit(&ops, rev)
        })
        .await?
        .map_err(map_repo_error)?;
        if loaded.key.is_none() {
            loaded.key = Some(self.signing_keypair(did).await?);
        }
        let key = loaded
            .key
            .as_ref()
            .ok_or_else(|| Error::internal("signing key not loaded", RepoError::NoHead))?;
        let data = prepared_commit.sign(key);
        let removed_blocks = self.unreachable_after(did, loaded, &data).await?;
        let now = now_ms();
        let event = events::commit(did, &data, now)?;
        let write = CommitWrite {
            did: did.clone(),
            cid: data.cid,
            rev: *data.rev(),
            prev: loaded.repo.head_cid().copied(),
            blocks: data.blocks.clone(),
            removed_blocks,
            records: changes,
            event: Some(event),
            now,
        };
        let applied = match self.deps.repos.apply_commit(write).await {
            Ok(a) => a,
            Err(StoreError::Conflict(Conflict::HeadMoved)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // The commit is durable from here on: never report failure (a retry would apply the
        // writes twice). If the working copy cannot follow, drop it; the next write reloads.
        let cached = loaded.repo.apply_commit(&data);
        loaded.blocks.keep_only(&data.blocks);
        match cached {
            Err(e) => {
                tracing::warn!(%did, error = %e, "cached repository out of step; dropping it");
                *state = None;
            }
            Ok(()) if !loaded.count_commit() => *state = None,
            Ok(()) => {}
        }
        Ok(Some((
            WriteResult {
                commit: CommitRef {
                    cid: data.cid,
                    rev: *data.rev(),
                },
                results: outcomes,
            },
            applied.orphaned_blobs,
            applied.seq,
        )))
    }

    /// The blocks `data` makes unreachable and that nothing else can share: the current commit
    /// block and the MST nodes of the current tree that the new tree lacks (old record
    /// versions are kept: identical records share a CID).
    async fn unreachable_after(
        &self,
        did: &Did,
        loaded: &LoadedRepo,
        data: &repo::repo::CommitData,
    ) -> Result<Vec<Cid>> {
        let (Some(head), Some(old_root)) = (loaded.repo.head_cid(), loaded.repo.data()) else {
            return Ok(Vec::new());
        };
        // The new nodes are not persisted yet: make them visible to the diff.
        for (cid, bytes) in data.blocks.iter() {
            loaded.blocks.insert(*cid, bytes.to_vec());
        }
        let new_root = *data.data();
        let blocks = &loaded.blocks;
        let diff = with_fetch(&*self.deps.repos, did, blocks, || {
            repo::mst::diff(blocks, old_root, &new_root).map_err(RepoError::from)
        })
        .await?
        .map_err(|e| Error::internal("diffing the commit for block cleanup", e))?;
        let mut removed: Vec<Cid> = diff.deleted_nodes.into_iter().collect();
        removed.push(*head);
        Ok(removed)
    }

    /// `com.atproto.repo.createRecord`.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_record(
        &self,
        auth: &AuthContext,
        repo: AtIdentifier,
        collection: Nsid,
        rkey: Option<RecordKey>,
        value: Value,
        validate: Option<bool>,
        swap_commit: Option<Cid>,
    ) -> Result<RecordWriteResult> {
        let res = self
            .apply_writes(
                auth,
                ApplyWrites {
                    repo,
                    validate,
                    writes: vec![Write::Create {
                        collection,
                        rkey,
                        value,
                    }],
                    swap_commit,
                },
            )
            .await?;
        single_result(res)
    }

    /// `com.atproto.repo.putRecord` (create or replace).
    #[allow(clippy::too_many_arguments)]
    pub async fn put_record(
        &self,
        auth: &AuthContext,
        repo: AtIdentifier,
        collection: Nsid,
        rkey: RecordKey,
        value: Value,
        validate: Option<bool>,
        swap_record: Option<Option<Cid>>,
        swap_commit: Option<Cid>,
    ) -> Result<RecordWriteResult> {
        let res = self
            .apply_writes(
                auth,
                ApplyWrites {
                    repo,
                    validate,
                    writes: vec![Write::Put {
                        collection,
                        rkey,
                        value,
                        swap_record,
                    }],
                    swap_commit,
                },
            )
            .await?;
        single_result(res)
    }

    /// `com.atproto.repo.deleteRecord`. Deleting a record that does not exist is a no-op
    /// returning `None` (as the reference does), unless `swap_record` expected one.
    pub async fn delete_record(
        &self,
        auth: &AuthContext,
        repo: AtIdentifier,
        collection: Nsid,
        rkey: RecordKey,
        swap_record: Option<Cid>,
        swap_commit: Option<Cid>,
    ) -> Result<Option<CommitRef>> {
        let account = self.writable_account(auth, &repo).await?;
        let exists = self
            .deps
            .repos
            .record(&account.did, &collection, &rkey)
            .await?
            .is_some();
        if !exists {
            if swap_record.is_some() {
                return Err(swap_error(
                    "Record was at a different version than swapRecord",
                ));
            }
            return Ok(None);
        }
        let res = self
            .apply_writes(
                auth,
                ApplyWrites {
                    repo,
                    validate: None,
                    writes: vec![Write::Delete {
                        collection,
                        rkey,
                        swap_record,
                    }],
                    swap_commit,
                },
            )
            .await?;
        Ok(Some(res.commit))
    }

    /// Refuses inactive repositories to the public (checklist #66): a deactivated account may
    /// still read its own (migration needs it); a taken-down one may not.
    pub(crate) fn check_readable(
        &self,
        row: &AccountRow,
        viewer: Option<&AuthContext>,
    ) -> Result<()> {
        let own = viewer.is_some_and(|v| v.did == row.did);
        match AccountStatus::of(row) {
            AccountStatus::Active => Ok(()),
            AccountStatus::Deactivated if own => Ok(()),
            AccountStatus::Deactivated => Err(Error::new(
                ErrorKind::RepoDeactivated,
                format!("Repo has been deactivated: {}", row.did),
            )),
            AccountStatus::Takendown => Err(Error::new(
                ErrorKind::RepoTakendown,
                format!("Repo has been takendown: {}", row.did),
            )),
        }
    }

    /// `com.atproto.repo.getRecord`; with `cid`, only that version.
    pub async fn get_record(
        &self,
        repo: &AtIdentifier,
        collection: &Nsid,
        rkey: &RecordKey,
        cid: Option<&Cid>,
        viewer: Option<&AuthContext>,
    ) -> Result<RecordOutput> {
        let row = self.resolve_repo(repo).await?;
        self.check_readable(&row, viewer)?;
        let uri = uri_of(&row.did, collection, rkey);
        let not_found = || {
            Error::new(
                ErrorKind::RecordNotFound,
                format!("Could not locate record: {uri}"),
            )
        };
        let rec = self
            .deps
            .repos
            .record(&row.did, collection, rkey)
            .await?
            .ok_or_else(not_found)?;
        if cid.is_some_and(|c| *c != rec.cid) {
            return Err(not_found());
        }
        let value = data_model::cbor::decode(&rec.bytes)
            .map_err(|e| Error::internal("stored record does not decode", e))?;
        Ok(RecordOutput {
            uri,
            cid: rec.cid,
            value,
        })
    }

    /// `com.atproto.repo.listRecords`: newest first (descending rkey) unless `reverse`;
    /// `limit` is clamped to 1..=100 (default 50); `cursor` is the last rkey of the previous
    /// page. As the reference, every non-empty page carries a cursor (its last rkey), even the
    /// last one; an empty page carries none (checklist #128).
    pub async fn list_records(
        &self,
        repo: &AtIdentifier,
        collection: &Nsid,
        limit: Option<u32>,
        cursor: Option<&str>,
        reverse: bool,
        viewer: Option<&AuthContext>,
    ) -> Result<ListRecords> {
        let row = self.resolve_repo(repo).await?;
        self.check_readable(&row, viewer)?;
        let limit = limit.unwrap_or(50).clamp(1, 100) as usize;
        let cursor = match cursor {
            None | Some("") => None,
            Some(c) => Some(
                c.parse::<RecordKey>()
                    .map_err(|_| Error::invalid("Invalid cursor"))?,
            ),
        };
        let rows = self
            .deps
            .repos
            .list_records(&row.did, collection, cursor.as_ref(), limit, reverse)
            .await?;
        let next = rows.last().map(|r| r.rkey.as_str().to_owned());
        let mut records = Vec::with_capacity(rows.len());
        for r in rows {
            let value = data_model::cbor::decode(&r.bytes)
                .map_err(|e| Error::internal("stored record does not decode", e))?;
            records.push(RecordOutput {
                uri: uri_of(&row.did, &r.collection, &r.rkey),
                cid: r.cid,
                value,
            });
        }
        Ok(ListRecords {
            records,
            cursor: next,
        })
    }

    /// `com.atproto.repo.describeRepo`.
    pub async fn describe_repo(&self, repo: &AtIdentifier) -> Result<DescribeRepo> {
        let row = self.resolve_repo(repo).await?;
        self.check_readable(&row, None)?;
        let collections = self.deps.repos.collections(&row.did).await?;
        let did_doc = match row.did.method() {
            "plc" => self
                .deps
                .plc
                .resolve(&row.did)
                .await
                .ok()
                .flatten()
                .map(|d| d.to_json()),
            _ => None,
        };
        Ok(DescribeRepo {
            handle: row.handle,
            did: row.did,
            did_doc,
            collections,
            handle_is_correct: true,
        })
    }
}

fn single_result(res: WriteResult) -> Result<RecordWriteResult> {
    match res.results.into_iter().next() {
        Some(WriteOutcome::Create {
            uri,
            cid,
            validation_status,
        })
        | Some(WriteOutcome::Update {
            uri,
            cid,
            validation_status,
        }) => Ok(RecordWriteResult {
            uri,
            cid,
            commit: res.commit,
            validation_status,
        }),
        _ => Err(Error::internal(
            "write produced no record",
            RepoError::NoHead,
        )),
    }
}
