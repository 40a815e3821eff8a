//! Diff between two MST roots: which nodes were created and deleted, which records changed, and
//! the sync-1.1 proof sets a `#commit` must carry.
//!
//! The node diff walks both trees level by level from the top, skipping every subtree whose
//! root CID appears at the same level in the other tree (equal CIDs mean equal subtrees, and a
//! node can occur only once in a tree). Work is proportional to the number of changed nodes,
//! not to the size of the trees.
//!
//! The proof sets follow `mst-test-suite` (`README.upstream.md`):
//! - `proof_nodes`: for each changed record, the nodes of the new tree on the path from the root
//!   towards the key, as a verifier walks it (stopping one level below the key's height when the
//!   key is absent): inclusion proofs for created/updated records, exclusion proofs for deleted
//!   ones;
//! - `inductive_proof_nodes`: the nodes of the new tree read while applying the inverse of the
//!   ops to it, in descending path order, until the old root is rebuilt (nodes the inversion
//!   itself creates are not counted). See [`super::proof::verify_inversion`].

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};

use data_model::Cid;

use super::node::{Link, Node};
use super::proof::{self, InversionError, PathMode};
use super::tree::{Source, node_ref};
use super::{Mst, MstError};
use crate::blockstore::{BlockMap, BlockStore, CidKey, StoreError};

/// One record change: `old` is `None` for a creation, `new` is `None` for a deletion.
///
/// The same shape as a firehose `repoOp` (`cid` = `new`, `prev` = `old`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordOp {
    /// The repo path (`collection/rkey`).
    pub path: String,
    /// The record CID before the change.
    pub old: Option<Cid>,
    /// The record CID after the change.
    pub new: Option<Cid>,
}

impl RecordOp {
    /// A creation of `path` with value `cid`.
    pub fn create(path: impl Into<String>, cid: Cid) -> RecordOp {
        RecordOp {
            path: path.into(),
            old: None,
            new: Some(cid),
        }
    }

    /// An update of `path` from `old` to `new`.
    pub fn update(path: impl Into<String>, old: Cid, new: Cid) -> RecordOp {
        RecordOp {
            path: path.into(),
            old: Some(old),
            new: Some(new),
        }
    }

    /// A deletion of `path`, whose value was `old`.
    pub fn delete(path: impl Into<String>, old: Cid) -> RecordOp {
        RecordOp {
            path: path.into(),
            old: Some(old),
            new: None,
        }
    }

    /// The firehose action name: `create`, `update` or `delete` (`None` if both CIDs are absent).
    pub fn action(&self) -> Option<&'static str> {
        match (self.old, self.new) {
            (None, Some(_)) => Some("create"),
            (Some(_), Some(_)) => Some("update"),
            (Some(_), None) => Some("delete"),
            (None, None) => None,
        }
    }
}

/// The difference between two MST roots (see the module docs for the proof sets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Nodes in the new tree and not in the old one.
    pub created_nodes: BTreeSet<Cid>,
    /// Nodes in the old tree and not in the new one.
    pub deleted_nodes: BTreeSet<Cid>,
    /// Record changes, sorted by path.
    pub record_ops: Vec<RecordOp>,
    /// Inclusion/exclusion proof nodes (in the new tree) for every changed record.
    pub proof_nodes: BTreeSet<Cid>,
    /// Nodes (in the new tree) needed to invert the ops and get back the old root.
    pub inductive_proof_nodes: BTreeSet<Cid>,
    /// Nodes (in the new tree) of the reference implementation's covering proof for every
    /// changed path (`getCoveringProof` in `@atproto/repo`): consumers built on it need them to
    /// invert the ops. Not part of the MST test suite.
    pub covering_proof_nodes: BTreeSet<Cid>,
}

impl Diff {
    /// The MST node CIDs a `#commit`'s `blocks` should carry (checklist #54): every created
    /// node plus all proof sets, so that both minimal verifiers and `@atproto/repo`-based ones
    /// can invert the ops. Record blocks and the commit block are added by the caller.
    pub fn firehose_node_cids(&self) -> BTreeSet<Cid> {
        let mut out = self.created_nodes.clone();
        out.extend(self.proof_nodes.iter().copied());
        out.extend(self.inductive_proof_nodes.iter().copied());
        out.extend(self.covering_proof_nodes.iter().copied());
        out
    }

    /// Fetches the blocks of `cids` from `store`; fails if one is missing (except the empty
    /// tree's node, whose bytes are known: [`Mst::empty_root_block`]).
    pub fn collect_blocks<'c, S: BlockStore + ?Sized>(
        store: &S,
        cids: impl IntoIterator<Item = &'c Cid>,
    ) -> Result<BlockMap, MstError> {
        let mut out = BlockMap::new();
        for cid in cids {
            let bytes = match store.get(cid)? {
                Some(bytes) => bytes,
                None if *cid == Mst::empty_root_cid() => Mst::empty_root_block(),
                None => return Err(MstError::MissingBlock(*cid)),
            };
            out.insert(*cid, bytes);
        }
        Ok(out)
    }
}

/// A node waiting to be visited by the level walk, with the key range its parent allows.
enum Pending<'a> {
    /// A persisted node of the tree.
    Node {
        link: &'a Link,
        lo: Option<&'a [u8]>,
        hi: Option<&'a [u8]>,
    },
    /// The single node of an empty tree.
    Empty,
}

impl Pending<'_> {
    fn cid(&self) -> Result<Cid, MstError> {
        match self {
            Pending::Node { link, .. } => link
                .cid()
                .copied()
                .ok_or(MstError::Internal("diff of a tree with unwritten changes")),
            Pending::Empty => Ok(Mst::empty_root_cid()),
        }
    }
}

/// The root of `tree` as a pending node.
fn root_pending(tree: &Mst) -> Pending<'_> {
    match &tree.root {
        Some(link) => Pending::Node {
            link,
            lo: None,
            hi: None,
        },
        None => Pending::Empty,
    }
}

/// Visits the unshared nodes of one level: records them in `nodes`, their entries in `kv`, and
/// queues their children. Loaded nodes stay cached in the tree.
fn visit_level<'a, Src: Source + ?Sized>(
    src: &Src,
    level: Vec<(Cid, Pending<'a>)>,
    other: &HashSet<CidKey>,
    h: u8,
    nodes: &mut BTreeSet<Cid>,
    kv: &mut Vec<(&'a str, Cid)>,
) -> Result<Vec<(Cid, Pending<'a>)>, MstError> {
    let mut next = Vec::new();
    for (cid, p) in level {
        if other.contains(&CidKey(cid)) {
            continue;
        }
        nodes.insert(cid);
        let Pending::Node { link, lo, hi } = p else {
            continue;
        };
        let node: &'a Node = node_ref(src, link, h, lo, hi)?;
        for e in &node.entries {
            kv.push((e.key.as_str(), e.value));
        }
        for i in 0..node.slots() {
            let Some(child) = node.slot(i) else { continue };
            let clo = if i == 0 {
                lo
            } else {
                Some(node.entries[i - 1].key.as_bytes())
            };
            let chi = node.entries.get(i).map_or(hi, |e| Some(e.key.as_bytes()));
            let pending = Pending::Node {
                link: child,
                lo: clo,
                hi: chi,
            };
            next.push((pending.cid()?, pending));
        }
    }
    Ok(next)
}

/// Computes the [`Diff`] from the tree at `old_root` to the tree at `new_root`; both must be
/// fully available in `store`.
pub fn diff<S: BlockStore + ?Sized>(
    store: &S,
    old_root: &Cid,
    new_root: &Cid,
) -> Result<Diff, MstError> {
    if old_root == new_root {
        return Ok(Diff::default());
    }
    let old = Mst::load(store, old_root)?;
    let new = Mst::load(store, new_root)?;
    diff_trees(store, &old, &new)
}

/// Like [`diff()`], for two trees already open (their cached nodes are reused and more get
/// cached). Both must be clean: call [`Mst::root_cid`] (or [`Mst::write_out`]) first, and make
/// their blocks available in `store`.
pub fn diff_trees<S: BlockStore + ?Sized>(
    store: &S,
    old: &Mst,
    new: &Mst,
) -> Result<Diff, MstError> {
    let mut out = Diff::default();
    let old_root = root_pending(old).cid()?;
    let new_root = root_pending(new).cid()?;
    if old_root == new_root {
        return Ok(out);
    }
    let (ha, hb) = (old.height, new.height);
    let mut a_level: Vec<(Cid, Pending<'_>)> = Vec::new();
    let mut b_level: Vec<(Cid, Pending<'_>)> = Vec::new();
    let mut deleted_kv: Vec<(&str, Cid)> = Vec::new();
    let mut created_kv: Vec<(&str, Cid)> = Vec::new();
    for h in (0..=ha.max(hb)).rev() {
        if h == ha {
            a_level.push((old_root, root_pending(old)));
        }
        if h == hb {
            b_level.push((new_root, root_pending(new)));
        }
        let a_cids: HashSet<CidKey> = a_level.iter().map(|p| CidKey(p.0)).collect();
        let b_cids: HashSet<CidKey> = b_level.iter().map(|p| CidKey(p.0)).collect();
        a_level = visit_level(
            store,
            std::mem::take(&mut a_level),
            &b_cids,
            h,
            &mut out.deleted_nodes,
            &mut deleted_kv,
        )?;
        b_level = visit_level(
            store,
            std::mem::take(&mut b_level),
            &a_cids,
            h,
            &mut out.created_nodes,
            &mut created_kv,
        )?;
    }

    // Merge-join the entries of deleted and created nodes: a key in both with the same value
    // did not change (its node did, because of a neighbour). Keys are unique within a tree.
    deleted_kv.sort_unstable_by(|a, b| a.0.cmp(b.0));
    created_kv.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let (mut old_it, mut new_it) = (
        deleted_kv.into_iter().peekable(),
        created_kv.into_iter().peekable(),
    );
    loop {
        let op = match (old_it.peek(), new_it.peek()) {
            (None, None) => break,
            (Some(&(k, old_value)), None) => {
                old_it.next();
                RecordOp {
                    path: k.to_owned(),
                    old: Some(old_value),
                    new: None,
                }
            }
            (None, Some(&(k, new_value))) => {
                new_it.next();
                RecordOp {
                    path: k.to_owned(),
                    old: None,
                    new: Some(new_value),
                }
            }
            (Some(&(ko, old_value)), Some(&(kn, new_value))) => match ko.cmp(kn) {
                std::cmp::Ordering::Less => {
                    old_it.next();
                    RecordOp {
                        path: ko.to_owned(),
                        old: Some(old_value),
                        new: None,
                    }
                }
                std::cmp::Ordering::Greater => {
                    new_it.next();
                    RecordOp {
                        path: kn.to_owned(),
                        old: None,
                        new: Some(new_value),
                    }
                }
                std::cmp::Ordering::Equal => {
                    old_it.next();
                    new_it.next();
                    if old_value == new_value {
                        continue;
                    }
                    RecordOp {
                        path: kn.to_owned(),
                        old: Some(old_value),
                        new: Some(new_value),
                    }
                }
            },
        };
        out.record_ops.push(op);
    }

    // Inclusion / exclusion proofs, and the reference covering proofs, in the new tree.
    for op in &out.record_ops {
        proof::path_nodes(
            store,
            new,
            &op.path,
            PathMode::Verifier,
            &mut out.proof_nodes,
        )?;
        proof::covering_nodes(store, new, &op.path, &mut out.covering_proof_nodes)?;
    }

    out.inductive_proof_nodes = inversion_reads(store, new, &new_root, &out.record_ops, &old_root)?;
    Ok(out)
}

/// A [`Source`] that records every persisted node the algorithms use.
pub(crate) struct Recording<'a, S: ?Sized> {
    inner: &'a S,
    pub(crate) used: RefCell<BTreeSet<Cid>>,
}

impl<'a, S: ?Sized> Recording<'a, S> {
    pub(crate) fn new(inner: &'a S) -> Self {
        Recording {
            inner,
            used: RefCell::new(BTreeSet::new()),
        }
    }
}

impl<S: Source + ?Sized> Source for Recording<'_, S> {
    fn read(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read(cid)
    }

    fn touched(&self, cid: &Cid) {
        self.used.borrow_mut().insert(*cid);
    }
}

/// The nodes of `new_tree` (clean, rooted at `new_root`) that inverting `ops` (in descending
/// path order) uses. Works on a copy, so nodes already cached in `new_tree` are reused.
fn inversion_reads<S: BlockStore + ?Sized>(
    store: &S,
    new_tree: &Mst,
    new_root: &Cid,
    ops: &[RecordOp],
    old_root: &Cid,
) -> Result<BTreeSet<Cid>, MstError> {
    if ops.is_empty() {
        return Ok(BTreeSet::new());
    }
    let rec = Recording::new(store);
    // Every operation starts at the root, so the root is always used.
    rec.touched(new_root);
    let mut tree = new_tree.clone();
    match proof::invert_ops(&rec, &mut tree, ops) {
        Ok(()) => {}
        Err(InversionError::Mst(e)) => return Err(e),
        Err(_) => return Err(MstError::Internal("diff ops do not invert on the new tree")),
    }
    // Consistency check (hashes every node the inversion touched, so debug builds only; the
    // inversion itself is covered by the MST test suite and property tests).
    if cfg!(debug_assertions) && tree.root_cid() != *old_root {
        return Err(MstError::Internal(
            "inverting the diff ops did not rebuild the old root",
        ));
    }
    Ok(rec.used.into_inner())
}
