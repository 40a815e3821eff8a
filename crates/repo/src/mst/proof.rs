//! MST proofs: record proofs for `com.atproto.sync.getRecord` (the nodes from the root down to
//! a key prove its presence or absence), and the sync-1.1 inversion check a firehose consumer
//! runs on a `#commit` ([`verify_inversion`], checklist #54, #83).

use std::collections::{BTreeSet, HashSet};

use data_model::Cid;

use super::node::{Link, key_height};
use super::tree::{Source, node_ref};
use super::{Diff, Mst, MstError, RecordOp};
use crate::blockstore::{BlockMap, BlockStore};

/// How far [`path_nodes`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathMode {
    /// Like a verifier that knows key heights: stops at the key, or once below the key's height
    /// (the node one level below is still included), as the MST test suite defines proofs.
    Verifier,
    /// Descends until the key is found or there is no subtree to enter (what a verifier that
    /// ignores heights needs; a superset of `Verifier`).
    Full,
}

/// Adds to `out` the CIDs of the nodes on the path from the root of `tree` (which must be
/// clean, for example freshly loaded) towards `key`.
pub(crate) fn path_nodes<Src: Source + ?Sized>(
    src: &Src,
    tree: &Mst,
    key: &str,
    mode: PathMode,
    out: &mut BTreeSet<Cid>,
) -> Result<(), MstError> {
    let Some(root) = tree.root.as_ref() else {
        out.insert(Mst::empty_root_cid());
        return Ok(());
    };
    let kh = key_height(key.as_bytes());
    let mut link: &Link = root;
    let mut h = tree.height;
    let (mut lo, mut hi): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    loop {
        out.insert(
            *link
                .cid()
                .ok_or(MstError::Internal("proof requested on a modified tree"))?,
        );
        if mode == PathMode::Verifier && kh > h {
            return Ok(());
        }
        let node = node_ref(src, link, h, lo, hi)?;
        let i = match node.search(key) {
            Ok(_) => return Ok(()),
            Err(i) => i,
        };
        let Some(child) = node.slot(i) else {
            return Ok(());
        };
        lo = if i == 0 {
            lo
        } else {
            Some(node.entries[i - 1].key.as_bytes())
        };
        hi = node.entries.get(i).map_or(hi, |e| Some(e.key.as_bytes()));
        link = child;
        h = h
            .checked_sub(1)
            .ok_or(MstError::Internal("subtree below height 0"))?;
    }
}

/// Which walk of the reference implementation's covering proof (`getCoveringProof` in
/// `@atproto/repo`: `proofForKey`, `proofForLeftSib`, `proofForRightSib`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CoverWalk {
    Key,
    LeftSib,
    RightSib,
}

/// Adds to `out` the nodes of the reference implementation's covering proof for `key` in
/// `tree` (which must be clean): the path to the key plus the paths towards its neighbours on
/// both sides. Consumers built on `@atproto/repo` need these nodes to invert an op (their tree
/// code reads more nodes than strictly necessary), so our `#commit`s carry them too.
pub(crate) fn covering_nodes<Src: Source + ?Sized>(
    src: &Src,
    tree: &Mst,
    key: &str,
    out: &mut BTreeSet<Cid>,
) -> Result<(), MstError> {
    let Some(root) = tree.root.as_ref() else {
        out.insert(Mst::empty_root_cid());
        return Ok(());
    };
    for walk in [CoverWalk::Key, CoverWalk::LeftSib, CoverWalk::RightSib] {
        let mut link: &Link = root;
        let mut h = tree.height;
        let (mut lo, mut hi): (Option<&[u8]>, Option<&[u8]>) = (None, None);
        loop {
            let cid = *link
                .cid()
                .ok_or(MstError::Internal("proof requested on a modified tree"))?;
            let node = node_ref(src, link, h, lo, hi)?;
            let (j, found) = match node.search(key) {
                Ok(j) => (j, true),
                Err(j) => (j, false),
            };
            // The slot the walk continues into: the subtree just after the key when it is
            // found (right sibling walk), otherwise the subtree where the key would be.
            let slot = match (walk, found) {
                (CoverWalk::Key, true) => {
                    out.insert(cid);
                    break;
                }
                (CoverWalk::RightSib, true) => j + 1,
                (CoverWalk::LeftSib, true) => j,
                (_, false) => j,
            };
            let child = node.slot(slot);
            // proofForKey leaves out a node where the search ends without finding the key.
            if walk != CoverWalk::Key || child.is_some() {
                out.insert(cid);
            }
            let Some(child) = child else { break };
            lo = if slot == 0 {
                lo
            } else {
                Some(node.entries[slot - 1].key.as_bytes())
            };
            hi = node
                .entries
                .get(slot)
                .map_or(hi, |e| Some(e.key.as_bytes()));
            link = child;
            h = h
                .checked_sub(1)
                .ok_or(MstError::Internal("subtree below height 0"))?;
        }
    }
    Ok(())
}

/// A record proof: the value found (or `None`) and the node blocks that prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProof {
    /// The record CID under the key, `None` if absent.
    pub value: Option<Cid>,
    /// The MST nodes from the root down to the key (or to where the key would be).
    pub blocks: BlockMap,
}

/// Builds the proof of presence or absence of `key` in the tree at `root`, for
/// `com.atproto.sync.getRecord` (checklist #58). The path goes down to the key, or for an
/// absent key down to the last node a search visits, so verifiers that ignore key heights can
/// check it too. The caller adds the commit block and, if present, the record block.
pub fn record_proof<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    key: &str,
) -> Result<RecordProof, MstError> {
    let tree = Mst::load(store, root)?;
    let mut cids = BTreeSet::new();
    path_nodes(store, &tree, key, PathMode::Full, &mut cids)?;
    let value = tree.get(store, key)?;
    let blocks = Diff::collect_blocks(store, &cids)?;
    Ok(RecordProof { value, blocks })
}

/// Why a `#commit` failed the inversion check.
#[derive(Debug, thiserror::Error)]
pub enum InversionError {
    /// A node needed to invert the ops is missing from the blocks (see
    /// [`InversionError::missing_block`]), or a node is invalid.
    #[error(transparent)]
    Mst(#[from] MstError),
    /// Two ops touch the same path.
    #[error("duplicate path {0:?} in ops")]
    DuplicatePath(String),
    /// An op has neither a new nor a previous CID.
    #[error("op for {0:?} has neither a CID nor a previous CID")]
    EmptyOp(String),
    /// The new tree does not hold what an op says it wrote.
    #[error("op for {path:?} says the new tree holds {expected}, it holds {found}")]
    OpMismatch {
        /// The op's path.
        path: String,
        /// What the op says (its new CID, or `none` for a deletion).
        expected: String,
        /// What the new tree holds (a CID or `none`).
        found: String,
    },
    /// The inverted tree's root is not `prevData`.
    #[error("inverting the ops gives root {computed}, but prevData is {expected}")]
    RootMismatch {
        /// `prevData`.
        expected: String,
        /// The root after inversion.
        computed: String,
    },
}

impl InversionError {
    /// The block whose absence made the check fail, if that is the reason.
    pub fn missing_block(&self) -> Option<&Cid> {
        match self {
            InversionError::Mst(MstError::MissingBlock(cid)) => Some(cid),
            _ => None,
        }
    }
}

/// Checks the ops, then applies their inverses to `tree`, in descending path order.
pub(crate) fn invert_ops<Src: Source + ?Sized>(
    src: &Src,
    tree: &mut Mst,
    ops: &[RecordOp],
) -> Result<(), InversionError> {
    let mut seen = HashSet::with_capacity(ops.len());
    for op in ops {
        if !seen.insert(op.path.as_str()) {
            return Err(InversionError::DuplicatePath(op.path.clone()));
        }
        if op.old.is_none() && op.new.is_none() {
            return Err(InversionError::EmptyOp(op.path.clone()));
        }
    }
    let mut sorted: Vec<&RecordOp> = ops.iter().collect();
    sorted.sort_by(|a, b| b.path.cmp(&a.path));
    for op in sorted {
        let found = tree.get_from(src, &op.path)?;
        if found != op.new {
            let show = |c: Option<Cid>| c.map_or_else(|| "none".to_owned(), |c| c.to_string());
            return Err(InversionError::OpMismatch {
                path: op.path.clone(),
                expected: show(op.new),
                found: show(found),
            });
        }
        match op.old {
            None => {
                tree.remove_from(src, &op.path)?;
            }
            Some(old) => {
                tree.insert_from(src, &op.path, old)?;
            }
        }
    }
    Ok(())
}

/// The sync-1.1 inversion check (checklist #83): using **only** `blocks` (the blocks of a
/// `#commit`), loads the tree at `new_root` (the commit's `data`), checks that it holds what
/// each op wrote, applies the inverse of every op (delete what was created, restore the previous
/// CID of what was updated or deleted) and checks that the result is `prev_data`.
///
/// Ops are applied in descending path order; the result does not depend on the order, but the
/// blocks needed can, and this is the order [`diff()`](super::diff()) computes
/// `inductive_proof_nodes` for. Fails with [`InversionError::Mst`]`(`[`MstError::MissingBlock`]`)`
/// if a needed node is not in `blocks`.
pub fn verify_inversion<S: BlockStore + ?Sized>(
    blocks: &S,
    new_root: &Cid,
    ops: &[RecordOp],
    prev_data: &Cid,
) -> Result<(), InversionError> {
    // An empty commit (no ops) changes nothing: no MST block is needed (checklist #87).
    let computed = if ops.is_empty() {
        *new_root
    } else {
        let mut tree = Mst::load(blocks, new_root)?;
        invert_ops(blocks, &mut tree, ops)?;
        tree.root_cid()
    };
    if computed != *prev_data {
        return Err(InversionError::RootMismatch {
            expected: prev_data.to_string(),
            computed: computed.to_string(),
        });
    }
    Ok(())
}
