//! The MST algorithms on linked [`Node`]s: lazy loading with checks, lookup, insert (with
//! subtree split), remove (with subtree merge and trimming of empty top nodes), and the
//! write-out that hashes dirty nodes bottom-up.
//!
//! Mutations run in two phases. `preload_*` walks (read-only) every node the change will touch,
//! loading it into the tree's cache, checking limits and recording the key's search path; only
//! then does the mutation run, replaying that path without searching again and without any
//! store access, so it cannot fail half-way on a missing or invalid block. The recursion depth
//! of every algorithm is bounded by the root height, at most 128 (a key's height is at most
//! 256 / 2), so hostile trees cannot exhaust the stack. The set of nodes a mutation reads is
//! exactly the set a stateless verifier needs (it defines the sync-1.1 inductive proof): the
//! search path of the key, the split path below it (insert), the two spines merged when a key
//! is removed, and the chain walked when trimming empty top nodes.

use std::sync::{Arc, OnceLock};

use data_model::{Cid, HASH_SHA2_256, cid_for_cbor};
use sha2::{Digest, Sha256};

use super::node::{Cell, Entry, Key, Link, MAX_NODE_ENTRIES, Node, key_height};
use super::{InvalidNode, MstError};
use crate::blockstore::{BlockMap, BlockStore, StoreError};

/// Where nodes are read from: any [`BlockStore`], or an internal wrapper (for example one that
/// records which blocks were read).
pub(crate) trait Source {
    /// The bytes of `cid`, `None` if absent.
    fn read(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError>;

    /// Called whenever an algorithm uses persisted node `cid`, whether it is read from the
    /// source now or was already cached in the tree. Recording these uses gives the set of
    /// nodes an operation needs (the inductive proof), independently of caching.
    fn touched(&self, _cid: &Cid) {}
}

impl<S: BlockStore + ?Sized> Source for S {
    fn read(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(cid)
    }
}

type Bound<'a> = Option<&'a [u8]>;

/// Reads, hash-checks and decodes a node block (no positional checks).
fn read_node<Src: Source + ?Sized>(src: &Src, cid: &Cid) -> Result<Node, MstError> {
    let bytes = src.read(cid)?.ok_or(MstError::MissingBlock(*cid))?;
    let hash = cid.hash();
    if hash.code() != HASH_SHA2_256 || *hash.digest() != Sha256::digest(&bytes)[..] {
        return Err(MstError::InvalidNode {
            cid: *cid,
            reason: Box::new(InvalidNode::HashMismatch),
        });
    }
    Node::decode(&bytes).map_err(|reason| MstError::InvalidNode {
        cid: *cid,
        reason: Box::new(reason),
    })
}

/// Loads a non-root node at `height` whose keys must lie strictly inside `(lo, hi)`.
pub(crate) fn load<Src: Source + ?Sized>(
    src: &Src,
    cid: &Cid,
    height: u8,
    lo: Bound<'_>,
    hi: Bound<'_>,
) -> Result<Node, MstError> {
    let node = read_node(src, cid)?;
    node.check_position(height, lo, hi, false)
        .map_err(|reason| MstError::InvalidNode {
            cid: *cid,
            reason: Box::new(reason),
        })?;
    Ok(node)
}

/// Loads a root node; its height is the height of its keys (0 for the empty node).
pub(crate) fn load_root<Src: Source + ?Sized>(
    src: &Src,
    cid: &Cid,
) -> Result<(Node, u8), MstError> {
    let node = read_node(src, cid)?;
    let height = node
        .entries
        .first()
        .map_or(0, |e| key_height(e.key.as_bytes()));
    node.check_position(height, None, None, true)
        .map_err(|reason| MstError::InvalidNode {
            cid: *cid,
            reason: Box::new(reason),
        })?;
    Ok((node, height))
}

/// The node behind `link`, loading and caching it if needed.
pub(crate) fn node_ref<'a, Src: Source + ?Sized>(
    src: &Src,
    link: &'a Link,
    height: u8,
    lo: Bound<'_>,
    hi: Bound<'_>,
) -> Result<&'a Node, MstError> {
    match &*link.0 {
        Cell::Dirty(n) => Ok(n),
        Cell::Stored { cid, node } => {
            src.touched(cid);
            if let Some(n) = node.get() {
                return Ok(n);
            }
            let loaded = load(src, cid, height, lo, hi)?;
            Ok(node.get_or_init(|| loaded))
        }
    }
}

const NOT_PRELOADED: MstError = MstError::Internal("node used by a mutation was not preloaded");

/// The node behind `link`, for modification: the link becomes dirty and the node is unshared
/// (copy-on-write). The node must already be loaded (phase 1).
fn node_mut(link: &mut Link) -> Result<&mut Node, MstError> {
    if link.loaded().is_none() {
        return Err(NOT_PRELOADED);
    }
    let cell = Arc::make_mut(&mut link.0);
    if let Cell::Stored { node, .. } = cell {
        let n = node.take().ok_or(NOT_PRELOADED)?;
        *cell = Cell::Dirty(n);
    }
    match cell {
        Cell::Dirty(n) => Ok(n),
        Cell::Stored { .. } => Err(NOT_PRELOADED),
    }
}

/// Takes the node behind `link` by value (for split and merge, which rebuild it). The node must
/// already be loaded (phase 1).
fn take_node(link: Link) -> Result<Node, MstError> {
    match Arc::try_unwrap(link.0) {
        Ok(Cell::Dirty(n)) => Ok(n),
        Ok(Cell::Stored { node, .. }) => node.into_inner().ok_or(NOT_PRELOADED),
        Err(shared) => match &*shared {
            Cell::Dirty(n) => Ok(n.clone()),
            Cell::Stored { node, .. } => node.get().cloned().ok_or(NOT_PRELOADED),
        },
    }
}

/// Bounds of subtree slot `i` of `node`, given the node's own bounds.
fn slot_bounds<'a>(
    node: &'a Node,
    i: usize,
    lo: Bound<'a>,
    hi: Bound<'a>,
) -> (Bound<'a>, Bound<'a>) {
    let l = if i == 0 {
        lo
    } else {
        Some(node.entries[i - 1].key.as_bytes())
    };
    let h = node.entries.get(i).map_or(hi, |e| Some(e.key.as_bytes()));
    (l, h)
}

fn child_height(h: u8) -> Result<u8, MstError> {
    // Height-0 nodes never have subtrees (checked on load, never built), so this cannot fail on
    // a checked tree; report it as an error rather than underflow.
    h.checked_sub(1)
        .ok_or(MstError::Internal("subtree below height 0"))
}

/// Looks `key` (of height `kh`) up in the tree rooted at `root` (height `height`). Reads only
/// the nodes down to height `kh`.
pub(crate) fn get<Src: Source + ?Sized>(
    src: &Src,
    root: &Link,
    height: u8,
    key: &str,
    kh: u8,
) -> Result<Option<Cid>, MstError> {
    let mut link = root;
    let mut h = height;
    let (mut lo, mut hi): (Bound<'_>, Bound<'_>) = (None, None);
    loop {
        if kh > h {
            return Ok(None);
        }
        let node = node_ref(src, link, h, lo, hi)?;
        match node.search(key) {
            Ok(i) => return Ok(Some(node.entries[i].value)),
            Err(i) => {
                if h == kh {
                    return Ok(None);
                }
                let Some(child) = node.slot(i) else {
                    return Ok(None);
                };
                (lo, hi) = slot_bounds(node, i, lo, hi);
                link = child;
                h = child_height(h)?;
            }
        }
    }
}

/// The search path of a key, found by phase 1 and replayed by phase 2 without searching again:
/// at each depth (0 = root), the entry index where the key is or the slot to descend into.
pub(crate) struct SearchPath {
    /// Index per depth.
    idx: Vec<usize>,
    /// Depth at which the key was found, with its value.
    found: Option<(usize, Cid)>,
}

impl SearchPath {
    /// The path in an empty tree.
    pub(crate) fn empty() -> SearchPath {
        SearchPath {
            idx: Vec::new(),
            found: None,
        }
    }

    /// The current value of the key, if present.
    pub(crate) fn value(&self) -> Option<Cid> {
        self.found.map(|(_, v)| v)
    }

    fn at(&self, depth: usize) -> Result<usize, MstError> {
        self.idx.get(depth).copied().ok_or(NOT_PRELOADED)
    }

    fn found_at(&self, depth: usize) -> bool {
        matches!(self.found, Some((d, _)) if d == depth)
    }
}

/// Phase 1 of insert: loads the search path of `key` down to the bottom (the nodes that insert
/// will descend into or split), checks the receiving node has room, and records the path.
pub(crate) fn preload_insert<Src: Source + ?Sized>(
    src: &Src,
    root: &Link,
    height: u8,
    key: &str,
    kh: u8,
) -> Result<SearchPath, MstError> {
    let mut path = SearchPath {
        idx: Vec::with_capacity(usize::from(height) + 1),
        found: None,
    };
    let mut link = root;
    let mut h = height;
    let (mut lo, mut hi): (Bound<'_>, Bound<'_>) = (None, None);
    loop {
        let node = node_ref(src, link, h, lo, hi)?;
        match node.search(key) {
            Ok(i) => {
                path.found = Some((path.idx.len(), node.entries[i].value));
                path.idx.push(i);
                return Ok(path);
            }
            Err(i) => {
                path.idx.push(i);
                if h == kh && node.entries.len() >= MAX_NODE_ENTRIES {
                    return Err(MstError::NodeTooLarge);
                }
                let Some(child) = node.slot(i) else {
                    return Ok(path);
                };
                (lo, hi) = slot_bounds(node, i, lo, hi);
                link = child;
                h = child_height(h)?;
            }
        }
    }
}

/// Wraps a subtree at height `from` in empty nodes until it sits at height `to - 1`.
fn wrap(mut link: Option<Link>, from: u8, to: u8) -> Option<Link> {
    for _ in from.saturating_add(1)..to {
        link = link.map(|l| {
            Link::dirty(Node {
                left: Some(l),
                entries: Vec::new(),
            })
        });
    }
    link
}

/// A new subtree at height `h` holding only `key` (height `kh <= h`), with empty nodes above it.
fn new_chain(h: u8, key: Key, kh: u8, value: Cid) -> Link {
    let mut link = Link::dirty(Node {
        left: None,
        entries: vec![Entry {
            key,
            value,
            right: None,
        }],
    });
    for _ in kh..h {
        link = Link::dirty(Node {
            left: Some(link),
            entries: Vec::new(),
        });
    }
    link
}

/// Phase 2 of insert, along the path found by [`preload_insert`] (empty for an empty tree).
/// Returns the previous value.
pub(crate) fn insert(
    root: &mut Option<Link>,
    height: &mut u8,
    path: &SearchPath,
    key: Key,
    kh: u8,
    value: Cid,
) -> Result<Option<Cid>, MstError> {
    match root {
        None => {
            *root = Some(new_chain(kh, key, kh, value));
            *height = kh;
            Ok(None)
        }
        Some(_) if kh > *height => {
            // The key goes above the current root: split the whole tree around it.
            let old = root.take();
            let (l, r) = split(old, 0, path)?;
            let left = wrap(l, *height, kh);
            let right = wrap(r, *height, kh);
            *root = Some(Link::dirty(Node {
                left,
                entries: vec![Entry { key, value, right }],
            }));
            *height = kh;
            Ok(None)
        }
        Some(link) => insert_at(link, *height, 0, path, key, kh, value),
    }
}

fn insert_at(
    link: &mut Link,
    h: u8,
    depth: usize,
    path: &SearchPath,
    key: Key,
    kh: u8,
    value: Cid,
) -> Result<Option<Cid>, MstError> {
    let node = node_mut(link)?;
    let i = path.at(depth)?;
    if path.found_at(depth) {
        let prev = node.entries[i].value;
        node.entries[i].value = value;
        return Ok(Some(prev));
    }
    if h == kh {
        let sub = node.slot_mut(i).take();
        let (l, r) = split(sub, depth + 1, path)?;
        *node.slot_mut(i) = l;
        node.entries.insert(
            i,
            Entry {
                key,
                value,
                right: r,
            },
        );
        return Ok(None);
    }
    let ch = child_height(h)?;
    match node.slot_mut(i) {
        slot @ None => {
            *slot = Some(new_chain(ch, key, kh, value));
            Ok(None)
        }
        Some(child) => insert_at(child, ch, depth + 1, path, key, kh, value),
    }
}

/// Splits subtree `sub` (at `depth` on the key's search path) into the parts below and above
/// the key, which is not in it. Empty parts become `None`.
fn split(
    sub: Option<Link>,
    depth: usize,
    path: &SearchPath,
) -> Result<(Option<Link>, Option<Link>), MstError> {
    let Some(link) = sub else {
        return Ok((None, None));
    };
    let mut node = take_node(link)?;
    let i = path.at(depth)?;
    let right_entries = node.entries.split_off(i);
    let mid = node.slot_mut(i).take();
    let (ml, mr) = split(mid, depth + 1, path)?;
    *node.slot_mut(i) = ml;
    let right = Node {
        left: mr,
        entries: right_entries,
    };
    Ok((non_empty(node), non_empty(right)))
}

fn non_empty(node: Node) -> Option<Link> {
    if node.is_empty() {
        None
    } else {
        Some(Link::dirty(node))
    }
}

/// Phase 1 of remove: loads the path to `key`, the spines that removing it merges, and the
/// chain walked when trimming empty top nodes; checks merged nodes stay within limits; records
/// the path (`found` is `None` when the key is absent: nothing to do).
pub(crate) fn preload_remove<Src: Source + ?Sized>(
    src: &Src,
    root: &Link,
    height: u8,
    key: &str,
    kh: u8,
) -> Result<SearchPath, MstError> {
    let mut path = SearchPath {
        idx: Vec::with_capacity(usize::from(height) + 1),
        found: None,
    };
    let mut link = root;
    let mut h = height;
    let (mut lo, mut hi): (Bound<'_>, Bound<'_>) = (None, None);
    loop {
        if kh > h {
            return Ok(path);
        }
        let node = node_ref(src, link, h, lo, hi)?;
        match node.search(key) {
            Ok(i) => {
                path.found = Some((path.idx.len(), node.entries[i].value));
                path.idx.push(i);
                if h == 0 {
                    // No subtrees to merge; trimming needs nothing below a height-0 root.
                    return Ok(path);
                }
                let a = node.slot(i);
                let b = node.slot(i + 1);
                let a_lo = if i == 0 {
                    lo
                } else {
                    Some(node.entries[i - 1].key.as_bytes())
                };
                let b_hi = node
                    .entries
                    .get(i + 1)
                    .map_or(hi, |e| Some(e.key.as_bytes()));
                let root_emptied = h == height && node.entries.len() == 1;
                preload_merge(
                    src,
                    a,
                    b,
                    h - 1,
                    a_lo,
                    Some(key.as_bytes()),
                    b_hi,
                    root_emptied,
                )?;
                return Ok(path);
            }
            Err(i) => {
                if h == kh {
                    return Ok(path);
                }
                path.idx.push(i);
                let Some(child) = node.slot(i) else {
                    return Ok(path);
                };
                (lo, hi) = slot_bounds(node, i, lo, hi);
                link = child;
                h = child_height(h)?;
            }
        }
    }
}

/// Loads what merging subtrees `a` (keys in `(a_lo, mid)`) and `b` (keys in `(mid, b_hi)`)
/// needs, and, if `trim` (the merge result becomes the root), what trimming empty top nodes
/// off the result needs.
#[allow(clippy::too_many_arguments)]
fn preload_merge<Src: Source + ?Sized>(
    src: &Src,
    a: Option<&Link>,
    b: Option<&Link>,
    h: u8,
    a_lo: Bound<'_>,
    mid: Bound<'_>,
    b_hi: Bound<'_>,
    trim: bool,
) -> Result<(), MstError> {
    match (a, b) {
        (None, None) => Ok(()),
        (Some(x), None) | (None, Some(x)) => {
            if !trim {
                return Ok(());
            }
            // The surviving subtree becomes the root: walk down while nodes are empty.
            let (lo, hi) = if a.is_some() {
                (a_lo, mid)
            } else {
                (mid, b_hi)
            };
            let mut link = x;
            let mut h = h;
            loop {
                let node = node_ref(src, link, h, lo, hi)?;
                match (&node.left, node.entries.is_empty()) {
                    (Some(child), true) => {
                        link = child;
                        h = child_height(h)?;
                    }
                    _ => return Ok(()),
                }
            }
        }
        (Some(a), Some(b)) => {
            let na = node_ref(src, a, h, a_lo, mid)?;
            let nb = node_ref(src, b, h, mid, b_hi)?;
            if na.entries.len() + nb.entries.len() > MAX_NODE_ENTRIES {
                return Err(MstError::NodeTooLarge);
            }
            if h == 0 {
                return Ok(());
            }
            // The merged node is empty only if both are; then trimming continues below it.
            let trim_below = trim && na.entries.is_empty() && nb.entries.is_empty();
            let inner_lo = na.entries.last().map_or(a_lo, |e| Some(e.key.as_bytes()));
            let inner_hi = nb.entries.first().map_or(b_hi, |e| Some(e.key.as_bytes()));
            preload_merge(
                src,
                na.slot(na.entries.len()),
                nb.left.as_ref(),
                h - 1,
                inner_lo,
                mid,
                inner_hi,
                trim_below,
            )
        }
    }
}

/// Phase 2 of remove, along the path found by [`preload_remove`] (which found the key).
/// Returns the removed value.
pub(crate) fn remove(
    root: &mut Option<Link>,
    height: &mut u8,
    path: &SearchPath,
) -> Result<Option<Cid>, MstError> {
    let prev = remove_in(root, *height, 0, path, true)?;
    // Trim empty nodes off the top (checklist #46).
    loop {
        let node = match root.as_ref() {
            None => {
                *height = 0;
                break;
            }
            Some(link) => link.loaded().ok_or(NOT_PRELOADED)?,
        };
        if !node.entries.is_empty() {
            break;
        }
        let left = node.left.clone();
        if left.is_none() {
            *root = None;
            *height = 0;
            break;
        }
        *root = left;
        *height = child_height(*height)?;
    }
    Ok(prev)
}

fn remove_in(
    slot: &mut Option<Link>,
    h: u8,
    depth: usize,
    path: &SearchPath,
    is_root: bool,
) -> Result<Option<Cid>, MstError> {
    let Some(link) = slot.as_mut() else {
        return Ok(None);
    };
    let node = node_mut(link)?;
    let i = path.at(depth)?;
    let prev = if path.found_at(depth) {
        let removed = node.entries.remove(i);
        let a = node.slot_mut(i).take();
        *node.slot_mut(i) = if h == 0 {
            None
        } else {
            merge(a, removed.right, h - 1)?
        };
        Some(removed.value)
    } else {
        remove_in(node.slot_mut(i), child_height(h)?, depth + 1, path, false)?
    };
    // Prune nodes left empty below the root (checklist #46); the root is trimmed by `remove`.
    if !is_root && node.is_empty() {
        *slot = None;
    }
    Ok(prev)
}

/// Merges adjacent subtrees `a` and `b` (all keys of `a` below all keys of `b`) at height `h`.
fn merge(a: Option<Link>, b: Option<Link>, h: u8) -> Result<Option<Link>, MstError> {
    match (a, b) {
        (None, x) | (x, None) => Ok(x),
        (Some(a), Some(b)) => {
            let mut na = take_node(a)?;
            let nb = take_node(b)?;
            let last = na.entries.len();
            let inner = if h == 0 {
                None
            } else {
                let a_last = na.slot_mut(last).take();
                merge(a_last, nb.left, h - 1)?
            };
            *na.slot_mut(last) = inner;
            na.entries.extend(nb.entries);
            Ok(Some(Link::dirty(na)))
        }
    }
}

/// Encodes and hashes every dirty node under (and including) `link`, bottom-up, adding their
/// blocks to `out` and turning the links into stored ones. Returns the CID of `link`.
pub(crate) fn write(link: &mut Link, out: &mut BlockMap) -> Cid {
    if let Some(cid) = link.cid() {
        return *cid;
    }
    let cell = Arc::make_mut(&mut link.0);
    let node = match cell {
        Cell::Stored { cid, .. } => return *cid,
        Cell::Dirty(node) => node,
    };
    if let Some(l) = node.left.as_mut() {
        write(l, out);
    }
    for e in node.entries.iter_mut() {
        if let Some(r) = e.right.as_mut() {
            write(r, out);
        }
    }
    let bytes = node.encode();
    let cid = cid_for_cbor(&bytes);
    out.insert(cid, bytes);
    let node = std::mem::take(node);
    *cell = Cell::Stored {
        cid,
        node: OnceLock::from(node),
    };
    cid
}
