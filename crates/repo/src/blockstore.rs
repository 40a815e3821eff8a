//! Content-addressed block storage: the [`BlockStore`] trait the repo engine reads and writes
//! blocks through, an in-memory implementation ([`MemoryBlockStore`]) and [`BlockMap`], an
//! ordered `Cid -> bytes` map used to collect the new blocks of a commit or the blocks of a
//! firehose message (it is itself a read/write block store).
//!
//! The trait is deliberately small and synchronous: the engine has no async runtime. A SQL
//! implementation lives in the `store` crate and must pass the same conformance suite,
//! [`testsuite::blockstore_conformance`].
//!
//! This module does not decode blocks and does not know what an MST or a commit is.

use std::collections::{BTreeMap, HashMap};

use data_model::Cid;

/// Why a block store operation failed. A missing block is *not* an error (see
/// [`BlockStore::get`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage backend failed (I/O, database, ...). The operation had no effect.
    #[error("block store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store refuses writes (for example a read-only view).
    #[error("block store is read-only")]
    ReadOnly,
}

/// A content-addressed block store: CID -> bytes.
///
/// Contract, for every implementation:
/// - **Missing keys.** [`get`](BlockStore::get) of an absent CID returns `Ok(None)` and
///   [`has`](BlockStore::has) returns `Ok(false)`; `Err` is reserved for backend failures.
/// - **Immutability.** A block never changes once stored. Storing a CID that is already present
///   is a no-op (the stored bytes are kept). Callers guarantee that the bytes hash to the CID;
///   stores do not re-hash on write (readers that do not trust the store verify on read, as the
///   MST loader does).
/// - **Atomicity.** [`put_many`](BlockStore::put_many) is all-or-nothing: on `Ok` every block is
///   durable and visible to later reads; on `Err` none of them became visible.
/// - **No deletion** through this trait: garbage collection is a storage-layer concern.
pub trait BlockStore {
    /// The bytes of block `cid`, or `None` if the store does not hold it.
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether the store holds block `cid`.
    fn has(&self, cid: &Cid) -> Result<bool, StoreError>;

    /// Stores every block of `blocks` atomically (see the trait docs).
    fn put_many(&mut self, blocks: BlockMap) -> Result<(), StoreError>;

    /// Fetches several blocks; absent CIDs are simply missing from the result. Backends with
    /// round-trip costs should override this with a batched query.
    fn get_many(&self, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        let mut out = BlockMap::new();
        for cid in cids {
            if let Some(bytes) = self.get(cid)? {
                out.insert(*cid, bytes);
            }
        }
        Ok(out)
    }
}

impl<S: BlockStore + ?Sized> BlockStore for &mut S {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(cid)
    }
    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        (**self).has(cid)
    }
    fn put_many(&mut self, blocks: BlockMap) -> Result<(), StoreError> {
        (**self).put_many(blocks)
    }
    fn get_many(&self, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        (**self).get_many(cids)
    }
}

impl<S: BlockStore + ?Sized> BlockStore for Box<S> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(cid)
    }
    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        (**self).has(cid)
    }
    fn put_many(&mut self, blocks: BlockMap) -> Result<(), StoreError> {
        (**self).put_many(blocks)
    }
    fn get_many(&self, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        (**self).get_many(cids)
    }
}

/// A CID as a hash-map key that hashes only 8 bytes of its digest (CIDs are already uniformly
/// distributed hashes; hashing all ~100 bytes of a `Cid` with SipHash is needlessly slow).
/// Equality still compares the whole CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CidKey(pub(crate) Cid);

impl std::hash::Hash for CidKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let digest = self.0.hash().digest();
        let mut tail = [0u8; 8];
        let n = digest.len().min(8);
        tail[..n].copy_from_slice(&digest[digest.len() - n..]);
        state.write_u64(u64::from_le_bytes(tail) ^ self.0.codec());
    }
}

/// An in-memory [`BlockStore`] backed by a `HashMap`. Used by tests, benchmarks and as a
/// scratch store (for example to verify an imported CAR before persisting it).
#[derive(Debug, Clone, Default)]
pub struct MemoryBlockStore {
    blocks: HashMap<CidKey, Vec<u8>>,
}

impl MemoryBlockStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when the store holds no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Stores one block (no-op if the CID is already present).
    pub fn insert(&mut self, cid: Cid, bytes: Vec<u8>) {
        self.blocks.entry(CidKey(cid)).or_insert(bytes);
    }

    /// Iterates over all blocks, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Cid, &[u8])> {
        self.blocks.iter().map(|(c, b)| (&c.0, b.as_slice()))
    }
}

impl BlockStore for MemoryBlockStore {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.blocks.get(&CidKey(*cid)).cloned())
    }

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.blocks.contains_key(&CidKey(*cid)))
    }

    fn put_many(&mut self, blocks: BlockMap) -> Result<(), StoreError> {
        self.blocks.reserve(blocks.len());
        for (cid, bytes) in blocks {
            self.insert(cid, bytes);
        }
        Ok(())
    }
}

/// An ordered map of blocks, `Cid -> bytes` (ordered by CID, so iteration and CAR output are
/// deterministic). Collects the new blocks of a commit or diff, holds the blocks of a firehose
/// message, and serves as a [`BlockStore`] over exactly those blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockMap {
    blocks: BTreeMap<Cid, Vec<u8>>,
}

impl BlockMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a block; returns false (and keeps the existing bytes) if the CID was already present.
    pub fn insert(&mut self, cid: Cid, bytes: Vec<u8>) -> bool {
        match self.blocks.entry(cid) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(bytes);
                true
            }
        }
    }

    /// The bytes of block `cid`.
    pub fn get(&self, cid: &Cid) -> Option<&[u8]> {
        self.blocks.get(cid).map(Vec::as_slice)
    }

    /// Whether block `cid` is present.
    pub fn contains(&self, cid: &Cid) -> bool {
        self.blocks.contains_key(cid)
    }

    /// Removes block `cid`, returning its bytes.
    pub fn remove(&mut self, cid: &Cid) -> Option<Vec<u8>> {
        self.blocks.remove(cid)
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Total size of all block bytes (not counting CIDs).
    pub fn byte_size(&self) -> usize {
        self.blocks.values().map(Vec::len).sum()
    }

    /// Iterates in CID order.
    pub fn iter(&self) -> impl Iterator<Item = (&Cid, &[u8])> {
        self.blocks.iter().map(|(c, b)| (c, b.as_slice()))
    }

    /// The CIDs, in order.
    pub fn cids(&self) -> impl Iterator<Item = &Cid> {
        self.blocks.keys()
    }

    /// Moves every block of `other` into `self` (existing CIDs keep their bytes).
    pub fn merge(&mut self, other: BlockMap) {
        for (cid, bytes) in other {
            self.insert(cid, bytes);
        }
    }
}

impl IntoIterator for BlockMap {
    type Item = (Cid, Vec<u8>);
    type IntoIter = std::collections::btree_map::IntoIter<Cid, Vec<u8>>;
    fn into_iter(self) -> Self::IntoIter {
        self.blocks.into_iter()
    }
}

impl FromIterator<(Cid, Vec<u8>)> for BlockMap {
    fn from_iter<T: IntoIterator<Item = (Cid, Vec<u8>)>>(iter: T) -> Self {
        let mut map = BlockMap::new();
        map.extend(iter);
        map
    }
}

impl Extend<(Cid, Vec<u8>)> for BlockMap {
    fn extend<T: IntoIterator<Item = (Cid, Vec<u8>)>>(&mut self, iter: T) {
        for (cid, bytes) in iter {
            self.insert(cid, bytes);
        }
    }
}

impl BlockStore for BlockMap {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.blocks.get(cid).cloned())
    }

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.blocks.contains_key(cid))
    }

    fn put_many(&mut self, blocks: BlockMap) -> Result<(), StoreError> {
        self.merge(blocks);
        Ok(())
    }
}

/// The [`BlockStore`] conformance suite, shared by every implementation (memory here, SQLite
/// and PostgreSQL in the `store` crate). It panics (via `assert!`) on the first violation, so
/// call it from a `#[test]`.
#[doc(hidden)]
pub mod testsuite {
    use data_model::{Cid, cid_for_cbor, cid_for_raw};

    use super::{BlockMap, BlockStore};

    fn block(i: u32) -> (Cid, Vec<u8>) {
        // A tiny valid DAG-CBOR byte string per index, so CIDs are real dag-cbor CIDs.
        let mut bytes = vec![0x44];
        bytes.extend_from_slice(&i.to_be_bytes());
        (cid_for_cbor(&bytes), bytes)
    }

    /// Runs every conformance check against fresh stores from `make`.
    pub fn blockstore_conformance<S: BlockStore>(make: impl Fn() -> S) {
        missing_blocks_are_none(make());
        put_then_get(make());
        put_is_idempotent_and_immutable(make());
        empty_put_many_is_ok(make());
        many_blocks_and_get_many(make());
        raw_codec_blocks(make());
    }

    fn missing_blocks_are_none<S: BlockStore>(store: S) {
        let (cid, _) = block(1);
        assert_eq!(
            store
                .get(&cid)
                .expect("get on a missing block must not fail"),
            None
        );
        assert!(
            !store
                .has(&cid)
                .expect("has on a missing block must not fail")
        );
        let got = store
            .get_many(&[cid])
            .expect("get_many on missing blocks must not fail");
        assert!(got.is_empty(), "get_many must omit missing blocks");
    }

    fn put_then_get<S: BlockStore>(mut store: S) {
        let (c1, b1) = block(1);
        let (c2, b2) = block(2);
        let (c3, _) = block(3);
        let map: BlockMap = [(c1, b1.clone()), (c2, b2.clone())].into_iter().collect();
        store.put_many(map).expect("put_many");
        assert_eq!(store.get(&c1).expect("get").as_deref(), Some(b1.as_slice()));
        assert_eq!(store.get(&c2).expect("get").as_deref(), Some(b2.as_slice()));
        assert!(store.has(&c1).expect("has"));
        assert!(!store.has(&c3).expect("has"));
        assert_eq!(store.get(&c3).expect("get"), None);
    }

    fn put_is_idempotent_and_immutable<S: BlockStore>(mut store: S) {
        let (c1, b1) = block(7);
        let once: BlockMap = [(c1, b1.clone())].into_iter().collect();
        store.put_many(once.clone()).expect("first put");
        store
            .put_many(once)
            .expect("second put of the same block must succeed");
        // A second put with different bytes for the same CID must not replace the original
        // (callers never do this; a store may either ignore it or report an error).
        let bogus: BlockMap = [(c1, vec![0xf6])].into_iter().collect();
        let _ = store.put_many(bogus);
        assert_eq!(store.get(&c1).expect("get").as_deref(), Some(b1.as_slice()));
    }

    fn empty_put_many_is_ok<S: BlockStore>(mut store: S) {
        store.put_many(BlockMap::new()).expect("empty put_many");
    }

    fn many_blocks_and_get_many<S: BlockStore>(mut store: S) {
        let blocks: BlockMap = (0..500).map(block).collect();
        store
            .put_many(blocks.clone())
            .expect("put_many of 500 blocks");
        for (cid, bytes) in blocks.iter() {
            assert_eq!(store.get(cid).expect("get").as_deref(), Some(bytes));
        }
        let mut wanted: Vec<Cid> = blocks.cids().copied().step_by(7).collect();
        let (missing, _) = block(10_000);
        wanted.push(missing);
        let got = store.get_many(&wanted).expect("get_many");
        assert_eq!(got.len(), wanted.len() - 1);
        assert!(!got.contains(&missing));
        for (cid, bytes) in got.iter() {
            assert_eq!(blocks.get(cid), Some(bytes));
        }
    }

    fn raw_codec_blocks<S: BlockStore>(mut store: S) {
        // Blobs and records may use the raw codec; the store must key on the full CID.
        let bytes = vec![1, 2, 3];
        let raw = cid_for_raw(&bytes);
        let cbor = cid_for_cbor(&bytes);
        store
            .put_many([(raw, bytes.clone())].into_iter().collect())
            .expect("put raw");
        assert!(store.has(&raw).expect("has"));
        assert!(
            !store.has(&cbor).expect("has"),
            "same digest, different codec is another block"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_blockstore_conformance() {
        testsuite::blockstore_conformance(MemoryBlockStore::new);
    }

    #[test]
    fn blockmap_conformance() {
        testsuite::blockstore_conformance(BlockMap::new);
    }

    #[test]
    fn boxed_dyn_blockstore_conformance() {
        testsuite::blockstore_conformance(|| -> Box<dyn BlockStore> {
            Box::new(MemoryBlockStore::new())
        });
    }
}
