//! The Merkle Search Tree (MST): atproto's ordered map from repo paths (`collection/rkey`) to
//! record CIDs, whose root CID is committed to by each signed commit.
//!
//! - [`Mst`] is a working copy of one tree. It loads nodes lazily from a
//!   [`BlockStore`], caches them, and mutates in place with
//!   copy-on-write nodes, so clones are cheap snapshots. Only nodes on the path of a change are
//!   touched; [`Mst::write_out`] encodes and hashes just the modified nodes and returns them as a
//!   [`BlockMap`]. [`Mst::from_entries`] builds a whole tree bottom-up in one pass (imports, first builds).
//! - [`diff()`] (from two roots) and [`diff_trees`] (from two open trees, reusing their cached
//!   nodes) compare two trees: created and deleted nodes, record ops, the sync-1.1 proof sets
//!   (`proof_nodes`, `inductive_proof_nodes`) exactly as the MST test suite defines them, and
//!   the reference implementation's covering proofs; [`Diff::firehose_node_cids`] is what a
//!   `#commit` carries.
//! - [`proof`] builds record proofs for `sync.getRecord` and runs the firehose inversion check
//!   ([`verify_inversion`]).
//!
//! Tree rules (atproto repository spec, "MST Structure"; checklist #42-#48): a key's height is
//! the number of leading zero bits of SHA-256(key) / 2; every key lives in the node at its
//! height; nodes are `{e: [{k, p, t, v}], l}` with prefix-compressed keys and explicit nulls;
//! empty nodes are pruned at the top and bottom but kept in between so links never skip a level.
//! The shape, and so the root CID, depends only on the set of keys and values.
//!
//! Every node read from a store is checked before use (hash, strict encoding, key order and
//! bounds, heights, prefix compression, blessed links, entry and size limits); a hostile block
//! yields a typed [`MstError`], never a panic. Depth is bounded by key heights (at most 128).
//! This module does no I/O itself, and an [`Mst`] is `Send + Sync`.

mod build;
mod diff;
mod iter;
mod node;
pub mod proof;
mod tree;

#[cfg(test)]
mod tests;

use data_model::Cid;
use data_model::cbor::DecodeError;

use crate::blockstore::{BlockMap, BlockStore, StoreError};

pub use diff::{Diff, RecordOp, diff, diff_trees};
pub use iter::Iter;
pub use node::{
    MAX_KEY_LEN, MAX_NODE_BYTES, MAX_NODE_ENTRIES, common_prefix_len, key_height, validate_key,
};
pub use proof::{InversionError, RecordProof, record_proof, verify_inversion};

use node::{Link, Node};
use tree::Source;

/// Why an MST operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MstError {
    /// A node block the operation needed is not in the store (or not in the proof).
    #[error("MST node block {0} is missing")]
    MissingBlock(Cid),
    /// A node block is malformed or not where the tree rules allow it.
    #[error("invalid MST node {cid}: {reason}")]
    InvalidNode {
        /// The offending block.
        cid: Cid,
        /// What is wrong with it. Part of the message, deliberately not a `source`, so
        /// error-chain printers (`{:#}`) do not repeat it.
        reason: Box<InvalidNode>,
    },
    /// A key is not a valid repo path.
    #[error("invalid MST key {key:?}: {reason}")]
    InvalidKey {
        /// The key (lossily decoded).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The change would make a node larger than [`MAX_NODE_ENTRIES`].
    #[error("MST node would exceed {MAX_NODE_ENTRIES} entries")]
    NodeTooLarge,
    /// The block store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An internal invariant was violated (a bug, not bad input).
    #[error("internal MST error: {0}")]
    Internal(&'static str),
}

/// What is wrong with an MST node block (see [`MstError::InvalidNode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNode {
    /// Not strict DAG-CBOR.
    #[error("not strict DAG-CBOR: {0}")]
    Cbor(#[from] DecodeError),
    /// Not exactly `{e: [{k, p, t, v}], l}`.
    #[error("does not match the node schema {{e: [{{k, p, t, v}}], l}}")]
    Schema,
    /// The block is larger than [`MAX_NODE_BYTES`].
    #[error("block too large")]
    TooLarge,
    /// More than [`MAX_NODE_ENTRIES`] entries.
    #[error("{0} entries is more than allowed")]
    TooManyEntries(usize),
    /// The bytes do not hash to the CID.
    #[error("block bytes do not match the CID")]
    HashMismatch,
    /// `p` is longer than the previous key.
    #[error("key prefix length exceeds the previous key")]
    PrefixTooLong,
    /// `p` is shorter than the prefix actually shared with the previous key.
    #[error("key prefix compression is not maximal")]
    PrefixNotMaximal,
    /// Keys are not strictly increasing, or fall outside the range the parent allows.
    #[error("keys out of order or outside the parent's range")]
    KeyOrder,
    /// A key is not a valid repo path.
    #[error("key is not a valid repo path")]
    BadKey,
    /// A link to another node is not a blessed dag-cbor sha2-256 CIDv1 (checklist #41).
    #[error("link {0} to a child node is not a blessed CID")]
    UnblessedLink(Cid),
    /// A key sits at the wrong height.
    #[error("key {key:?} has height {found} but sits at height {expected}")]
    WrongHeight {
        /// The key.
        key: String,
        /// The node's height (from its position).
        expected: u8,
        /// The key's own height.
        found: u8,
    },
    /// A height-0 node links to a subtree.
    #[error("a node at height 0 has a subtree")]
    SubtreeBelowLeaf,
    /// A non-root node with no entries and no subtree.
    #[error("empty non-root node")]
    EmptyNode,
    /// A root with no entries that links to a subtree (empty top nodes must be pruned).
    #[error("root node has no entries but links to a subtree")]
    UntrimmedRoot,
}

/// A working copy of one MST (see the module docs).
///
/// Operations that may need to read nodes take the block store as an argument; the tree does
/// not hold it. Every mutating operation is all-or-nothing: it first loads (and checks) every
/// node it will need, so a missing or invalid block leaves the tree unchanged.
#[derive(Debug, Clone, Default)]
pub struct Mst {
    /// `None` for the empty tree.
    root: Option<Link>,
    /// Height of the root node (0 for the empty tree).
    height: u8,
    /// Blocks encoded by [`Mst::root_cid`] and not yet handed out by [`Mst::write_out`].
    unwritten: BlockMap,
}

impl Mst {
    /// An empty tree.
    pub fn new() -> Mst {
        Mst::default()
    }

    /// The CID of the empty tree's single node `{e: [], l: null}` (checklist #46).
    pub fn empty_root_cid() -> Cid {
        static EMPTY: std::sync::LazyLock<Cid> =
            std::sync::LazyLock::new(|| data_model::cid_for_cbor(&Node::default().encode()));
        *EMPTY
    }

    /// The block of the empty tree's node, `{e: [], l: null}`.
    pub fn empty_root_block() -> Vec<u8> {
        Node::default().encode()
    }

    /// Opens the tree whose root node is `root`. Only the root node is read now (and checked);
    /// the rest is loaded as operations need it. The empty tree's root
    /// ([`Mst::empty_root_cid`]) needs no block.
    pub fn load<S: BlockStore + ?Sized>(store: &S, root: &Cid) -> Result<Mst, MstError> {
        Self::load_from(store, root)
    }

    pub(crate) fn load_from<Src: Source + ?Sized>(src: &Src, root: &Cid) -> Result<Mst, MstError> {
        // The empty tree's node is known; it need not be in the store.
        if *root == Mst::empty_root_cid() {
            return Ok(Mst::new());
        }
        let (node, height) = tree::load_root(src, root)?;
        if node.is_empty() {
            return Ok(Mst::new());
        }
        Ok(Mst {
            root: Some(Link::stored_loaded(*root, node)),
            height,
            unwritten: BlockMap::new(),
        })
    }

    /// True for the empty tree.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Height of the root node (0 for the empty tree).
    pub fn height(&self) -> u8 {
        self.height
    }

    /// The value stored under `key`.
    pub fn get<S: BlockStore + ?Sized>(
        &self,
        store: &S,
        key: &str,
    ) -> Result<Option<Cid>, MstError> {
        self.get_from(store, key)
    }

    pub(crate) fn get_from<Src: Source + ?Sized>(
        &self,
        src: &Src,
        key: &str,
    ) -> Result<Option<Cid>, MstError> {
        match &self.root {
            None => Ok(None),
            Some(root) => tree::get(src, root, self.height, key, key_height(key.as_bytes())),
        }
    }

    /// Sets `key` to `value`, returning the previous value. The key must be a valid repo path
    /// ([`validate_key`]).
    pub fn insert<S: BlockStore + ?Sized>(
        &mut self,
        store: &S,
        key: &str,
        value: Cid,
    ) -> Result<Option<Cid>, MstError> {
        self.insert_from(store, key, value)
    }

    pub(crate) fn insert_from<Src: Source + ?Sized>(
        &mut self,
        src: &Src,
        key: &str,
        value: Cid,
    ) -> Result<Option<Cid>, MstError> {
        validate_key(key.as_bytes())?;
        let kh = key_height(key.as_bytes());
        // Phase 1 (read-only): load every node the change touches, check limits, record the
        // search path.
        let path = match &self.root {
            Some(root) => tree::preload_insert(src, root, self.height, key, kh)?,
            None => tree::SearchPath::empty(),
        };
        if path.value() == Some(value) {
            return Ok(Some(value));
        }
        // Phase 2: mutate along the recorded path; every node needed is now in memory.
        tree::insert(
            &mut self.root,
            &mut self.height,
            &path,
            node::Key::new(key.as_bytes()),
            kh,
            value,
        )
    }

    /// Removes `key`, returning its value (or `None` if it was absent; the tree is then
    /// unchanged).
    pub fn remove<S: BlockStore + ?Sized>(
        &mut self,
        store: &S,
        key: &str,
    ) -> Result<Option<Cid>, MstError> {
        self.remove_from(store, key)
    }

    pub(crate) fn remove_from<Src: Source + ?Sized>(
        &mut self,
        src: &Src,
        key: &str,
    ) -> Result<Option<Cid>, MstError> {
        let kh = key_height(key.as_bytes());
        let Some(root) = &self.root else {
            return Ok(None);
        };
        let path = tree::preload_remove(src, root, self.height, key, kh)?;
        if path.value().is_none() {
            return Ok(None);
        }
        tree::remove(&mut self.root, &mut self.height, &path)
    }

    /// A copy of this tree with `key` set to `value` (this tree is unchanged; unchanged nodes
    /// are shared).
    pub fn with_inserted<S: BlockStore + ?Sized>(
        &self,
        store: &S,
        key: &str,
        value: Cid,
    ) -> Result<Mst, MstError> {
        let mut copy = self.clone();
        copy.insert(store, key, value)?;
        Ok(copy)
    }

    /// A copy of this tree without `key`.
    pub fn with_removed<S: BlockStore + ?Sized>(
        &self,
        store: &S,
        key: &str,
    ) -> Result<Mst, MstError> {
        let mut copy = self.clone();
        copy.remove(store, key)?;
        Ok(copy)
    }

    /// All entries in key order.
    pub fn iter<'a, S: BlockStore + ?Sized>(&'a self, store: &'a S) -> Iter<'a, S> {
        Iter::new(self.root.as_ref(), self.height, store, None, None)
    }

    /// Entries with key `>= start`, in key order.
    pub fn iter_from<'a, S: BlockStore + ?Sized>(
        &'a self,
        store: &'a S,
        start: &'a str,
    ) -> Iter<'a, S> {
        Iter::new(self.root.as_ref(), self.height, store, Some(start), None)
    }

    /// Entries whose key starts with `prefix` (for example `"app.bsky.feed.post/"` for one
    /// collection), in key order.
    pub fn iter_prefix<'a, S: BlockStore + ?Sized>(
        &'a self,
        store: &'a S,
        prefix: &'a str,
    ) -> Iter<'a, S> {
        Iter::new(
            self.root.as_ref(),
            self.height,
            store,
            Some(prefix),
            Some(prefix),
        )
    }

    /// Number of entries (walks, and so loads and checks, the whole tree).
    pub fn count<S: BlockStore + ?Sized>(&self, store: &S) -> Result<usize, MstError> {
        let mut n = 0;
        for item in self.iter(store) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Loads and checks every node of the tree (import validation, checklist #47).
    pub fn verify_all<S: BlockStore + ?Sized>(&self, store: &S) -> Result<(), MstError> {
        self.count(store).map(drop)
    }

    /// The root CID. Encodes and hashes the nodes modified since the last call (only those);
    /// their blocks are kept until [`Mst::write_out`].
    pub fn root_cid(&mut self) -> Cid {
        match &mut self.root {
            None => {
                let bytes = Node::default().encode();
                let cid = data_model::cid_for_cbor(&bytes);
                self.unwritten.insert(cid, bytes);
                cid
            }
            Some(root) => tree::write(root, &mut self.unwritten),
        }
    }

    /// The root CID and the blocks of every node created since the previous `write_out`
    /// (a superset of the nodes that are new relative to the last persisted root: a node
    /// re-created with identical content is included again). Persist them before dropping the
    /// tree's in-memory copies.
    pub fn write_out(&mut self) -> (Cid, BlockMap) {
        let cid = self.root_cid();
        (cid, std::mem::take(&mut self.unwritten))
    }

    /// True when there are modifications not yet encoded by [`Mst::root_cid`]/[`Mst::write_out`].
    pub fn is_dirty(&self) -> bool {
        self.root.as_ref().is_some_and(Link::is_dirty)
    }
}
