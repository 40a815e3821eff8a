//! The repository as a whole: an MST of records under a signed commit, over a
//! [`BlockStore`].
//!
//! - [`Repo`] opens a repository at its head commit (or starts an empty one), reads records
//!   ([`Repo::get_record`], [`Repo::list_records`], [`Repo::collections`]) and makes commits.
//! - A commit is made in two steps so the signer can live elsewhere:
//!   [`Repo::prepare_commit`] applies [`WriteOp`]s to a snapshot of the tree and returns a
//!   [`PreparedCommit`] (the [`UnsignedCommit`], the new blocks, the firehose ops with `prev`
//!   CIDs, `prevData` and the sync-1.1 proof blocks); [`PreparedCommit::sign`] turns it into
//!   [`CommitData`], which [`Repo::apply_commit`] persists. [`Repo::commit`] does all three.
//!   The new `rev` must be strictly greater than the current one (checklist #38).
//! - [`export`] streams a repository (or a diff since an earlier tree) as a CAR v1.
//! - [`verify`] reads a CAR, checks everything (structure, signature, DID, completeness) and
//!   keeps only the blocks the repository actually uses.
//!
//! What this module does not do: lexicon validation, blob handling, locking, or deciding which
//! key signs (the caller passes a [`crypto::Keypair`]). It has no I/O beyond the
//! `Read`/`Write` a caller passes to export and import.

mod export;
mod verify;

use std::collections::HashSet;

use data_model::cbor::{self, DecodeError};
use data_model::{Cid, Value, cid_for_cbor};
use syntax::{Did, Nsid, RecordKey, RepoPath, Tid, TidClock};

use crate::blockstore::{BlockMap, BlockStore, StoreError};
use crate::car::CarError;
use crate::commit::{Commit, CommitError, UnsignedCommit};
use crate::mst::{self, Mst, MstError, RecordOp};

pub use export::{ExportStats, NodeLink, export_car, export_diff_car, node_links};
pub use verify::{VerifiedRepo, VerifyOptions, verify_blocks, verify_car, verify_store};

/// Largest accepted record block, in bytes (the lexicon limit for records is 1 MiB).
pub const MAX_RECORD_SIZE: usize = 1024 * 1024;

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The block store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The MST is invalid or incomplete.
    #[error(transparent)]
    Mst(#[from] MstError),
    /// The commit block is invalid, or its signature does not verify.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// The CAR could not be read or written.
    #[error(transparent)]
    Car(#[from] CarError),
    /// A block the operation needs is not available (the commit, or a record block).
    #[error("block {0} is missing")]
    MissingBlock(Cid),
    /// A record referenced by the MST is absent (repository incomplete, checklist #51).
    #[error("record block {cid} for {path} is missing")]
    MissingRecord {
        /// The repo path.
        path: String,
        /// The record CID the tree holds.
        cid: Cid,
    },
    /// A record block is not strict DAG-CBOR, not a map, or too large.
    #[error("record {path} is invalid: {reason}")]
    InvalidRecord {
        /// The repo path (empty when the record was not yet attached to a path).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A create targets a path that already holds a record.
    #[error("record {0} already exists")]
    RecordExists(String),
    /// An update or delete targets a path with no record.
    #[error("record {0} does not exist")]
    RecordNotFound(String),
    /// The same path appears twice in one batch of writes.
    #[error("path {0} is written more than once in one commit")]
    DuplicatePath(String),
    /// The new `rev` is not greater than the current one (checklist #38).
    #[error("rev {rev} is not greater than the current rev {current}")]
    RevNotIncreasing {
        /// The current rev.
        current: Tid,
        /// The rejected rev.
        rev: Tid,
    },
    /// The prepared commit was built on a head that is no longer current.
    #[error("prepared commit is stale: the repository head moved")]
    StaleCommit,
    /// The commit is for another account (checklist #56).
    #[error("commit is for {found}, expected {expected}")]
    DidMismatch {
        /// The DID the caller expected.
        expected: Did,
        /// The DID in the commit.
        found: Did,
    },
    /// The operation needs a head commit and the repository has none yet.
    #[error("repository has no commit yet")]
    NoHead,
    /// The CAR header has no root.
    #[error("CAR has no root")]
    NoRoot,
    /// A CAR exceeds [`VerifyOptions::max_total_bytes`].
    #[error("CAR exceeds the size limit")]
    TooLarge,
}

// ---------------------------------------------------------------------------------------------
// Records and writes

/// An encoded record block: strict DAG-CBOR whose top level is a map, and its CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    cid: Cid,
    bytes: Vec<u8>,
}

impl Record {
    /// Encodes a record value (its top level must be a map).
    pub fn from_value(value: &Value) -> Result<Record, RepoError> {
        if value.as_map().is_none() {
            return Err(invalid_record("", "top level is not a map"));
        }
        let bytes = cbor::encode(value);
        if bytes.len() > MAX_RECORD_SIZE {
            return Err(invalid_record("", "larger than 1 MiB"));
        }
        Ok(Record {
            cid: cid_for_cbor(&bytes),
            bytes,
        })
    }

    /// Takes already-encoded record bytes, checking they are strict DAG-CBOR with a map at the
    /// top level.
    pub fn from_cbor(bytes: Vec<u8>) -> Result<Record, RepoError> {
        check_record_bytes("", &bytes)?;
        Ok(Record {
            cid: cid_for_cbor(&bytes),
            bytes,
        })
    }

    /// The record CID (dag-cbor, sha2-256).
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Decodes the record into a [`Value`].
    pub fn to_value(&self) -> Result<Value, RepoError> {
        cbor::decode(&self.bytes).map_err(|e| invalid_record("", &e.to_string()))
    }
}

fn invalid_record(path: &str, reason: &str) -> RepoError {
    RepoError::InvalidRecord {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Checks that `bytes` is a strict DAG-CBOR map of at most [`MAX_RECORD_SIZE`] bytes.
pub(crate) fn check_record_bytes(path: &str, bytes: &[u8]) -> Result<(), RepoError> {
    if bytes.len() > MAX_RECORD_SIZE {
        return Err(invalid_record(path, "larger than 1 MiB"));
    }
    match cbor::decode(bytes) {
        Ok(Value::Map(_)) => Ok(()),
        Ok(_) => Err(invalid_record(path, "top level is not a map")),
        Err(e) => Err(invalid_record(path, &DecodeError::to_string(&e))),
    }
}

/// One write in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Create a record; fails if the path already holds one.
    Create {
        /// Where.
        path: RepoPath,
        /// The record.
        record: Record,
    },
    /// Replace an existing record; fails if the path holds none.
    Update {
        /// Where.
        path: RepoPath,
        /// The new record.
        record: Record,
    },
    /// Delete an existing record; fails if the path holds none.
    Delete {
        /// Where.
        path: RepoPath,
    },
}

impl WriteOp {
    /// The path this op writes.
    pub fn path(&self) -> &RepoPath {
        match self {
            WriteOp::Create { path, .. }
            | WriteOp::Update { path, .. }
            | WriteOp::Delete { path } => path,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commits

/// A commit built but not yet signed: everything [`Repo::prepare_commit`] computed.
#[derive(Debug, Clone)]
pub struct PreparedCommit {
    /// The commit to sign.
    pub unsigned: UnsignedCommit,
    /// The previous commit's rev (`None` for the first commit): the firehose `since`.
    pub since: Option<Tid>,
    /// The previous commit's `data` (MST root): the firehose `prevData`; `None` for the first
    /// commit.
    pub prev_data: Option<Cid>,
    /// One op per write, in write order: path, new CID (`new`, firehose `cid`) and previous
    /// CID (`old`, firehose `prev`). See [`RecordOp::action`].
    pub ops: Vec<RecordOp>,
    /// Blocks to persist: every MST node written by this commit and every created or updated
    /// record (not the commit block, which does not exist before signing).
    pub new_blocks: BlockMap,
    /// The MST nodes a `#commit` must carry so consumers can check it by inversion: created
    /// nodes plus every proof set of [`mst::Diff`] (checklist #54). A subset of the union of
    /// `new_blocks` and the existing tree.
    pub proof_blocks: BlockMap,
    tree: Mst,
    base: Option<Cid>,
}

impl PreparedCommit {
    /// Signs the commit (checklist #36).
    pub fn sign(self, key: &crypto::Keypair) -> CommitData {
        let commit = self.unsigned.clone().sign(key);
        self.into_commit_data(commit)
    }

    /// Attaches a signature produced elsewhere; it is checked against `key` first.
    pub fn with_signature(
        self,
        sig: Vec<u8>,
        key: &crypto::PublicKey,
    ) -> Result<CommitData, RepoError> {
        let commit = self.unsigned.clone().with_signature(sig);
        commit.verify(key)?;
        Ok(self.into_commit_data(commit))
    }

    fn into_commit_data(self, commit: Commit) -> CommitData {
        let (cid, bytes) = commit.to_block();
        let mut blocks = self.new_blocks;
        blocks.insert(cid, bytes.clone());
        let mut firehose_blocks = self.proof_blocks;
        firehose_blocks.insert(cid, bytes);
        for op in &self.ops {
            if let Some(new) = &op.new
                && let Some(b) = blocks.get(new)
            {
                firehose_blocks.insert(*new, b.to_vec());
            }
        }
        CommitData {
            cid,
            commit,
            since: self.since,
            prev_data: self.prev_data,
            ops: self.ops,
            blocks,
            firehose_blocks,
            tree: self.tree,
            base: self.base,
        }
    }
}

/// A signed commit with everything needed to persist it and announce it on the firehose.
#[derive(Debug, Clone)]
pub struct CommitData {
    /// The commit CID.
    pub cid: Cid,
    /// The signed commit.
    pub commit: Commit,
    /// The previous rev (firehose `since`).
    pub since: Option<Tid>,
    /// The previous MST root (firehose `prevData`).
    pub prev_data: Option<Cid>,
    /// Ops in write order (firehose `ops`).
    pub ops: Vec<RecordOp>,
    /// Every block to persist: commit, written MST nodes, created/updated records.
    pub blocks: BlockMap,
    /// The blocks of the firehose `#commit` CAR slice: the commit, created/updated records,
    /// created MST nodes and the proof nodes needed to invert the ops (checklist #54).
    pub firehose_blocks: BlockMap,
    tree: Mst,
    base: Option<Cid>,
}

impl CommitData {
    /// The commit's rev.
    pub fn rev(&self) -> &Tid {
        self.commit.rev()
    }

    /// The new MST root.
    pub fn data(&self) -> &Cid {
        self.commit.data()
    }
}

// ---------------------------------------------------------------------------------------------
// Repo

/// The current head of a repository.
#[derive(Debug, Clone)]
struct Head {
    cid: Cid,
    commit: Commit,
}

/// A repository over a block store (see the module docs).
#[derive(Debug)]
pub struct Repo<S: BlockStore> {
    store: S,
    did: Did,
    head: Option<Head>,
    tree: Mst,
}

impl<S: BlockStore> Repo<S> {
    /// A repository for `did` with no commit yet (its tree is empty). The first
    /// [`Repo::commit`] creates the first commit.
    pub fn empty(store: S, did: Did) -> Repo<S> {
        Repo {
            store,
            did,
            head: None,
            tree: Mst::new(),
        }
    }

    /// Creates a repository and its first commit (empty tree, or `writes` applied to it).
    pub fn create(
        store: S,
        did: Did,
        writes: &[WriteOp],
        rev: Tid,
        key: &crypto::Keypair,
    ) -> Result<(Repo<S>, CommitData), RepoError> {
        let mut repo = Repo::empty(store, did);
        let data = repo.commit(writes, rev, key)?;
        Ok((repo, data))
    }

    /// Opens the repository whose head commit is `commit_cid`. The commit is decoded strictly
    /// and the MST root node loaded and checked; other nodes load on demand.
    pub fn open(store: S, commit_cid: &Cid) -> Result<Repo<S>, RepoError> {
        let bytes = store
            .get(commit_cid)?
            .ok_or(RepoError::MissingBlock(*commit_cid))?;
        let commit = Commit::decode(&bytes)?;
        let tree = Mst::load(&store, commit.data())?;
        Ok(Repo {
            did: commit.did().clone(),
            store,
            head: Some(Head {
                cid: *commit_cid,
                commit,
            }),
            tree,
        })
    }

    /// The account DID.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The head commit CID, if any.
    pub fn head_cid(&self) -> Option<&Cid> {
        self.head.as_ref().map(|h| &h.cid)
    }

    /// The head commit, if any.
    pub fn head(&self) -> Option<&Commit> {
        self.head.as_ref().map(|h| &h.commit)
    }

    /// The current rev, if any.
    pub fn rev(&self) -> Option<&Tid> {
        self.head().map(Commit::rev)
    }

    /// The current MST root (`data`), if there is a commit.
    pub fn data(&self) -> Option<&Cid> {
        self.head().map(Commit::data)
    }

    /// The block store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Consumes the repository, returning its block store.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The next rev from `clock`: strictly greater than the current rev (checklist #38).
    pub fn next_rev(&self, clock: &TidClock) -> Tid {
        match self.rev() {
            Some(rev) => clock.next_after(rev),
            None => clock.next(),
        }
    }

    /// The CID of the record at `path`, if any.
    pub fn get_record_cid(&self, path: &RepoPath) -> Result<Option<Cid>, RepoError> {
        Ok(self.tree.get(&self.store, path.as_str())?)
    }

    /// The record at `collection/rkey`, if any.
    pub fn get_record(
        &self,
        collection: &Nsid,
        rkey: &RecordKey,
    ) -> Result<Option<Record>, RepoError> {
        self.get_record_at(&RepoPath::new(collection, rkey))
    }

    /// The record at `path`, if any.
    pub fn get_record_at(&self, path: &RepoPath) -> Result<Option<Record>, RepoError> {
        let Some(cid) = self.get_record_cid(path)? else {
            return Ok(None);
        };
        let bytes = self
            .store
            .get(&cid)?
            .ok_or_else(|| RepoError::MissingRecord {
                path: path.as_str().to_owned(),
                cid,
            })?;
        Ok(Some(Record { cid, bytes }))
    }

    /// Up to `limit` `(rkey, cid)` pairs of `collection` in ascending key order, starting after
    /// `after` (exclusive) when given: one page of `listRecords`.
    pub fn list_records(
        &self,
        collection: &Nsid,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<(RecordKey, Cid)>, RepoError> {
        let prefix = format!("{}/", collection.as_str());
        let start = match after {
            Some(rkey) => format!("{prefix}{}", rkey.as_str()),
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self.tree.iter_from(&self.store, &start) {
            if out.len() >= limit {
                break;
            }
            let (key, cid) = item?;
            let Some(rkey) = key.strip_prefix(prefix.as_str()) else {
                break;
            };
            if after.is_some_and(|a| a.as_str() == rkey) {
                continue;
            }
            let rkey: RecordKey = rkey.parse().map_err(|_| MstError::InvalidKey {
                key: key.to_owned(),
                reason: "record key is invalid",
            })?;
            out.push((rkey, cid));
        }
        Ok(out)
    }

    /// Every collection with at least one record, in order (`describeRepo`). Skips from one
    /// collection to the next, so the cost is proportional to the number of collections.
    pub fn collections(&self) -> Result<Vec<Nsid>, RepoError> {
        let mut out = Vec::new();
        let mut start = String::new();
        loop {
            let Some(item) = self.tree.iter_from(&self.store, &start).next() else {
                break;
            };
            let (key, _) = item?;
            let collection = key.split_once('/').map_or(key, |(c, _)| c);
            let nsid: Nsid = collection.parse().map_err(|_| MstError::InvalidKey {
                key: key.to_owned(),
                reason: "collection is not an NSID",
            })?;
            // '0' is the byte after '/': the first key past every `collection/...` key.
            start = format!("{collection}0");
            out.push(nsid);
        }
        Ok(out)
    }

    /// Applies `writes` (in order) to a snapshot of the tree and builds the unsigned commit with
    /// `rev`, which must be greater than the current rev. The repository itself is unchanged
    /// until [`Repo::apply_commit`].
    pub fn prepare_commit(
        &self,
        writes: &[WriteOp],
        rev: Tid,
    ) -> Result<PreparedCommit, RepoError> {
        if let Some(current) = self.rev()
            && rev <= *current
        {
            return Err(RepoError::RevNotIncreasing {
                current: *current,
                rev,
            });
        }
        let mut seen = HashSet::with_capacity(writes.len());
        for w in writes {
            if !seen.insert(w.path().as_str()) {
                return Err(RepoError::DuplicatePath(w.path().as_str().to_owned()));
            }
        }

        let mut tree = self.tree.clone();
        let mut records = BlockMap::new();
        let mut ops = Vec::with_capacity(writes.len());
        for w in writes {
            let path = w.path().as_str();
            let old = tree.get(&self.store, path)?;
            match w {
                WriteOp::Create { record, .. } => {
                    if old.is_some() {
                        return Err(RepoError::RecordExists(path.to_owned()));
                    }
                    tree.insert(&self.store, path, record.cid)?;
                    records.insert(record.cid, record.bytes.clone());
                    ops.push(RecordOp::create(path, record.cid));
                }
                WriteOp::Update { record, .. } => {
                    let old = old.ok_or_else(|| RepoError::RecordNotFound(path.to_owned()))?;
                    tree.insert(&self.store, path, record.cid)?;
                    records.insert(record.cid, record.bytes.clone());
                    ops.push(RecordOp::update(path, old, record.cid));
                }
                WriteOp::Delete { .. } => {
                    let old = old.ok_or_else(|| RepoError::RecordNotFound(path.to_owned()))?;
                    tree.remove(&self.store, path)?;
                    ops.push(RecordOp::delete(path, old));
                }
            }
        }

        let (new_root, nodes) = tree.write_out();
        let old_root = self.data().copied().unwrap_or_else(Mst::empty_root_cid);
        let proof_blocks = {
            let mut extra = nodes.clone();
            let empty = Mst::new().write_out().1;
            extra.merge(empty);
            let overlay = Overlay {
                base: &self.store,
                extra: &extra,
            };
            let diff = mst::diff(&overlay, &old_root, &new_root)?;
            mst::Diff::collect_blocks(&overlay, &diff.firehose_node_cids())?
        };
        let mut new_blocks = nodes;
        new_blocks.merge(records);
        Ok(PreparedCommit {
            unsigned: UnsignedCommit::new(self.did.clone(), new_root, rev),
            since: self.rev().copied(),
            prev_data: self.data().copied(),
            ops,
            new_blocks,
            proof_blocks,
            tree,
            base: self.head_cid().copied(),
        })
    }

    /// Persists a signed commit made by [`Repo::prepare_commit`] on the current head, and makes
    /// it the head. Fails with [`RepoError::StaleCommit`] if the head moved since.
    pub fn apply_commit(&mut self, data: &CommitData) -> Result<(), RepoError> {
        if data.base.as_ref() != self.head_cid() {
            return Err(RepoError::StaleCommit);
        }
        self.store.put_many(data.blocks.clone())?;
        self.tree = data.tree.clone();
        self.head = Some(Head {
            cid: data.cid,
            commit: data.commit.clone(),
        });
        Ok(())
    }

    /// Prepares, signs and applies one commit.
    pub fn commit(
        &mut self,
        writes: &[WriteOp],
        rev: Tid,
        key: &crypto::Keypair,
    ) -> Result<CommitData, RepoError> {
        let data = self.prepare_commit(writes, rev)?.sign(key);
        self.apply_commit(&data)?;
        Ok(data)
    }

    /// Like [`Repo::commit`], with the rev taken from `clock` ([`Repo::next_rev`]): always
    /// strictly greater than the current rev, even if the clock is behind it.
    pub fn apply_writes(
        &mut self,
        writes: &[WriteOp],
        clock: &TidClock,
        key: &crypto::Keypair,
    ) -> Result<CommitData, RepoError> {
        let rev = self.next_rev(clock);
        self.commit(writes, rev, key)
    }

    /// Streams the whole repository as a CAR (see [`export_car`] for the block order).
    pub fn export_car<W: std::io::Write>(&self, out: W) -> Result<ExportStats, RepoError> {
        let head = self.head_cid().ok_or(RepoError::NoHead)?;
        export_car(&self.store, head, out)
    }

    /// Streams the changes since the tree whose root was `since_data` (see
    /// [`export_diff_car`]).
    pub fn export_diff_car<W: std::io::Write>(
        &self,
        since_data: &Cid,
        out: W,
    ) -> Result<ExportStats, RepoError> {
        let head = self.head_cid().ok_or(RepoError::NoHead)?;
        export_diff_car(&self.store, head, since_data, out)
    }
}

impl<S: BlockStore> Repo<S> {
    /// Persists the blocks of a verified CAR into `store` and opens the repository at its
    /// commit. Only the blocks the repository uses are stored (checklist #52).
    pub fn import(mut store: S, verified: VerifiedRepo) -> Result<Repo<S>, RepoError> {
        let commit_cid = verified.commit_cid;
        store.put_many(verified.blocks)?;
        Repo::open(store, &commit_cid)
    }
}

/// A read-only view of a store plus extra blocks not yet persisted.
struct Overlay<'a, S: BlockStore + ?Sized> {
    base: &'a S,
    extra: &'a BlockMap,
}

impl<S: BlockStore + ?Sized> BlockStore for Overlay<'_, S> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        match self.extra.get(cid) {
            Some(b) => Ok(Some(b.to_vec())),
            None => self.base.get(cid),
        }
    }

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.extra.contains(cid) || self.base.has(cid)?)
    }

    fn put_many(&mut self, _blocks: BlockMap) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly)
    }
}
