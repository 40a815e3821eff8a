//! Per-account working copies of repositories, and the per-account write lock.
//!
//! The repo engine is synchronous and reads blocks through `repo::blockstore::BlockStore`; the
//! store is async. So each account's [`Repo`] runs over [`CachedBlocks`], an in-memory map
//! that answers "missing" for blocks it has not seen. [`with_fetch`] runs an engine operation
//! and, whenever it fails with a missing block, fetches that block from the
//! [`RepoStore`](crate::ports::RepoStore) and retries (the engine's mutating operations are
//! all-or-nothing, so a retry starts clean). Nodes the tree has decoded stay in the tree; the
//! block map keeps only the last commit's blocks (what the next commit's diff mostly walks),
//! so an idle cached account costs one commit's worth of bytes plus its decoded nodes, and a
//! copy is dropped and reopened from the stored head every [`REOPEN_AFTER_COMMITS`] commits so
//! its decoded nodes cannot grow with the repository.
//!
//! [`RepoCache`] keeps the loaded repositories of recently active accounts in an LRU. Each
//! entry's async mutex is also **the per-account lock** of the write path: writes to one
//! account serialize on it, different accounts proceed in parallel. An entry is only evicted
//! while nobody holds it, so two locks for one account never coexist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use data_model::Cid;
use lru::LruCache;
use repo::blockstore::{BlockMap, BlockStore, StoreError as BlockStoreError};
use repo::mst::MstError;
use repo::repo::{Repo, RepoError};
use syntax::Did;

use crate::error::{Error, Result};
use crate::ports::RepoStore;

/// Most missing blocks one operation may fetch before it is considered a bug (a repository of
/// a million records has a tree of about 10 levels; a commit touches a few nodes per level).
const MAX_FETCHES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
#[error("block cache lock poisoned")]
struct Poisoned;

/// An in-memory, shareable block map used as the engine's block store (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct CachedBlocks {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    blocks: HashMap<Cid, Vec<u8>>,
}

impl CachedBlocks {
    pub(crate) fn insert(&self, cid: Cid, bytes: Vec<u8>) {
        if let Ok(mut g) = self.inner.lock() {
            g.blocks.entry(cid).or_insert(bytes);
        }
    }

    /// After a commit: keep only that commit's blocks (the nodes the next commit's diff walks
    /// are mostly the ones this commit wrote), so the map never grows beyond one commit's
    /// worth; anything else is fetched again on demand.
    pub(crate) fn keep_only(&self, blocks: &BlockMap) {
        if let Ok(mut g) = self.inner.lock() {
            g.blocks.clear();
            for (cid, bytes) in blocks.iter() {
                g.blocks.insert(*cid, bytes.to_vec());
            }
        }
    }
}

impl BlockStore for CachedBlocks {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockStoreError> {
        let g = self
            .inner
            .lock()
            .map_err(|_| BlockStoreError::Backend(Box::new(Poisoned)))?;
        Ok(g.blocks.get(cid).cloned())
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockStoreError> {
        let g = self
            .inner
            .lock()
            .map_err(|_| BlockStoreError::Backend(Box::new(Poisoned)))?;
        Ok(g.blocks.contains_key(cid))
    }

    fn put_many(&mut self, blocks: BlockMap) -> Result<(), BlockStoreError> {
        for (cid, bytes) in blocks {
            self.insert(cid, bytes);
        }
        Ok(())
    }
}

/// The block a failed engine operation was missing, if that is why it failed.
pub(crate) fn missing_block(e: &RepoError) -> Option<Cid> {
    match e {
        RepoError::MissingBlock(cid)
        | RepoError::Mst(MstError::MissingBlock(cid))
        | RepoError::MissingRecord { cid, .. } => Some(*cid),
        _ => None,
    }
}

/// Runs `op`, fetching missing blocks of `did` into `cache` and retrying (module docs).
/// Engine errors other than a missing block are returned as they are.
pub(crate) async fn with_fetch<T>(
    store: &dyn RepoStore,
    did: &Did,
    cache: &CachedBlocks,
    mut op: impl FnMut() -> Result<T, RepoError>,
) -> Result<Result<T, RepoError>> {
    for _ in 0..MAX_FETCHES {
        match op() {
            Err(e) => match missing_block(&e) {
                Some(cid) => {
                    let bytes = store.get_block(did, &cid).await?.ok_or_else(|| {
                        Error::internal("repository block missing from the store", e)
                    })?;
                    cache.insert(cid, bytes);
                }
                None => return Ok(Err(e)),
            },
            ok => return Ok(ok),
        }
    }
    Err(Error::internal(
        "too many block fetches for one repository operation",
        Poisoned,
    ))
}

/// Commits after which a working copy is reopened from its head (see [`LoadedRepo::count_commit`]).
pub(crate) const REOPEN_AFTER_COMMITS: u32 = 1024;

/// A loaded repository and its account key.
pub(crate) struct LoadedRepo {
    pub(crate) repo: Repo<CachedBlocks>,
    pub(crate) blocks: CachedBlocks,
    pub(crate) key: Option<crypto::Keypair>,
    /// Commits applied to `repo` since it was opened.
    pub(crate) commits_since_open: u32,
}

impl LoadedRepo {
    /// A working copy freshly opened over `blocks`.
    pub(crate) fn new(repo: Repo<CachedBlocks>, blocks: CachedBlocks) -> LoadedRepo {
        LoadedRepo {
            repo,
            blocks,
            key: None,
            commits_since_open: 0,
        }
    }

    /// Counts a commit applied to the working copy; `false` once the copy has served
    /// [`REOPEN_AFTER_COMMITS`] commits and should be dropped (the next write reopens it from
    /// the stored head). Every node the tree decodes or creates stays in the tree, so a
    /// long-lived copy grows with every record written (about 270 bytes per commit measured
    /// with 8 busy accounts); reopening bounds the memory of a cached account by what that many
    /// commits touch, whatever the repository's size, for one root fetch per that many commits.
    pub(crate) fn count_commit(&mut self) -> bool {
        self.commits_since_open += 1;
        self.commits_since_open < REOPEN_AFTER_COMMITS
    }
}

/// One account's slot: the lock and, when loaded, the working copy.
#[derive(Default)]
pub(crate) struct AccountSlot {
    pub(crate) state: tokio::sync::Mutex<Option<LoadedRepo>>,
}

/// The LRU of account slots (module docs).
pub(crate) struct RepoCache {
    slots: Mutex<LruCache<Did, Arc<AccountSlot>>>,
    capacity: usize,
}

impl RepoCache {
    pub(crate) fn new(capacity: usize) -> RepoCache {
        RepoCache {
            slots: Mutex::new(LruCache::unbounded()),
            capacity: capacity.max(1),
        }
    }

    /// The slot of `did` (created if absent). Evicts idle least-recently-used slots beyond the
    /// capacity.
    pub(crate) fn slot(&self, did: &Did) -> Arc<AccountSlot> {
        let Ok(mut slots) = self.slots.lock() else {
            // A poisoned map only loses caching, never correctness of the lock: hand out a
            // fresh slot (the store's compare-and-swap on the head still guards writes).
            return Arc::new(AccountSlot::default());
        };
        let slot = slots
            .get_or_insert(did.clone(), || Arc::new(AccountSlot::default()))
            .clone();
        let mut skipped = 0;
        while slots.len() > self.capacity && skipped < slots.len() {
            let Some((_, lru)) = slots.peek_lru() else {
                break;
            };
            if Arc::strong_count(lru) == 1 {
                slots.pop_lru();
            } else {
                // In use: make it most recent and look at the next one.
                if let Some((k, v)) = slots.pop_lru() {
                    slots.put(k, v);
                }
                skipped += 1;
            }
        }
        slot
    }

    /// Forgets `did` (after account deletion).
    pub(crate) fn remove(&self, did: &Did) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.pop(did);
        }
    }
}
