//! The MST algorithms on linked [`Node`]s: lazy loading with checks, lookup, insert (with
//! subtree split), remove (with subtree merge and trimming of empty top nodes), and the
//! write-out that hashes dirty nodes bottom-up.
//!
//! Mutations run in two phases. `preload_*` walks (read-only) every node the change will touch,
//! loading it into the tree's cache and checking limits; only then does the mutation run, so it
//! cannot fail half-way on a missing or invalid block. The set of nodes a mutation reads is
//! exactly the set a stateless verifier needs (it defines the sync-1.1 inductive proof): the
//! search path of the key, the split path below it (insert), the two spines merged when a key
//! is removed, and the chain walked when trimming empty top nodes.

use std::sync::Arc;

use data_model::{Cid, HASH_SHA2_256, cid_for_cbor};
use sha2::{Digest, Sha256};

use super::node::{Entry, Link, MAX_NODE_ENTRIES, Node, key_height};
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

type Bound<'a> = Option<&'a str>;

/// Reads, hash-checks and decodes a node block (no positional checks).
fn read_node<Src: Source + ?Sized>(src: &Src, cid: &Cid) -> Result<Node, MstError> {
    let bytes = src.read(cid)?.ok_or(MstError::MissingBlock(*cid))?;
    let hash = cid.hash();
    if hash.code() != HASH_SHA2_256 || hash.digest() != Sha256::digest(&bytes).as_slice() {
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
) -> Result<Arc<Node>, MstError> {
    let node = read_node(src, cid)?;
    node.check_position(height, lo, hi, false)
        .map_err(|reason| MstError::InvalidNode {
            cid: *cid,
            reason: Box::new(reason),
        })?;
    Ok(Arc::new(node))
}

/// Loads a root node; its height is the height of its keys (0 for the empty node).
pub(crate) fn load_root<Src: Source + ?Sized>(
    src: &Src,
    cid: &Cid,
) -> Result<(Arc<Node>, u8), MstError> {
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
    Ok((Arc::new(node), height))
}

/// The node behind `link`, loading and caching it if needed.
pub(crate) fn node_ref<'a, Src: Source + ?Sized>(
    src: &Src,
    link: &'a Link,
    height: u8,
    lo: Bound<'_>,
    hi: Bound<'_>,
) -> Result<&'a Node, MstError> {
    match link {
        Link::Dirty(n) => Ok(n),
        Link::Stored { cid, node } => {
            src.touched(cid);
            if let Some(n) = node.get() {
                return Ok(n);
            }
            let loaded = load(src, cid, height, lo, hi)?;
            Ok(node.get_or_init(|| loaded))
        }
    }
}

/// The node behind `link`, for modification: the link becomes dirty and the node is unshared
/// (copy-on-write).
fn node_mut<'a, Src: Source + ?Sized>(
    src: &Src,
    link: &'a mut Link,
    height: u8,
    lo: Bound<'_>,
    hi: Bound<'_>,
) -> Result<&'a mut Node, MstError> {
    if let Link::Stored { cid, node } = link {
        src.touched(cid);
        let arc = match node.take() {
            Some(n) => n,
            None => load(src, cid, height, lo, hi)?,
        };
        *link = Link::Dirty(arc);
    }
    match link {
        Link::Dirty(arc) => Ok(Arc::make_mut(arc)),
        Link::Stored { .. } => Err(MstError::Internal("link not dirty after loading")),
    }
}

/// Takes the node behind `link` by value (for split and merge, which rebuild it).
fn take_node<Src: Source + ?Sized>(
    src: &Src,
    link: Link,
    height: u8,
    lo: Bound<'_>,
    hi: Bound<'_>,
) -> Result<Node, MstError> {
    let arc = match link {
        Link::Dirty(arc) => arc,
        Link::Stored { cid, node } => {
            src.touched(&cid);
            match node.into_inner() {
                Some(n) => n,
                None => load(src, &cid, height, lo, hi)?,
            }
        }
    };
    Ok(Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone()))
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
        Some(&*node.entries[i - 1].key)
    };
    let h = node.entries.get(i).map_or(hi, |e| Some(&*e.key));
    (l, h)
}

/// Owned version of [`slot_bounds`], for use while the node is mutably borrowed.
fn slot_bounds_owned(
    node: &Node,
    i: usize,
    lo: Option<&Arc<str>>,
    hi: Option<&Arc<str>>,
) -> (Option<Arc<str>>, Option<Arc<str>>) {
    let l = if i == 0 {
        lo.cloned()
    } else {
        Some(node.entries[i - 1].key.clone())
    };
    let h = node
        .entries
        .get(i)
        .map_or_else(|| hi.cloned(), |e| Some(e.key.clone()));
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

/// Phase 1 of insert: loads the search path of `key` down to the bottom (the nodes that insert
/// will descend into or split), checks the receiving node has room, and returns the current
/// value of `key`.
pub(crate) fn preload_insert<Src: Source + ?Sized>(
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
        let node = node_ref(src, link, h, lo, hi)?;
        match node.search(key) {
            Ok(i) => return Ok(Some(node.entries[i].value)),
            Err(i) => {
                if h == kh && node.entries.len() >= MAX_NODE_ENTRIES {
                    return Err(MstError::NodeTooLarge);
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
fn new_chain(h: u8, key: Arc<str>, kh: u8, value: Cid) -> Link {
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

/// Phase 2 of insert. Returns the previous value.
pub(crate) fn insert<Src: Source + ?Sized>(
    src: &Src,
    root: &mut Option<Link>,
    height: &mut u8,
    key: Arc<str>,
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
            let (l, r) = split(src, old, *height, &key, None, None)?;
            let left = wrap(l, *height, kh);
            let right = wrap(r, *height, kh);
            *root = Some(Link::dirty(Node {
                left,
                entries: vec![Entry { key, value, right }],
            }));
            *height = kh;
            Ok(None)
        }
        Some(link) => insert_at(src, link, *height, None, None, key, kh, value),
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_at<Src: Source + ?Sized>(
    src: &Src,
    link: &mut Link,
    h: u8,
    lo: Option<&Arc<str>>,
    hi: Option<&Arc<str>>,
    key: Arc<str>,
    kh: u8,
    value: Cid,
) -> Result<Option<Cid>, MstError> {
    let node = node_mut(src, link, h, lo.map(|s| &**s), hi.map(|s| &**s))?;
    match node.search(&key) {
        Ok(i) => {
            let prev = node.entries[i].value;
            node.entries[i].value = value;
            Ok(Some(prev))
        }
        Err(i) => {
            let (clo, chi) = slot_bounds_owned(node, i, lo, hi);
            if h == kh {
                let sub = node.slot_mut(i).take();
                let (l, r) = if sub.is_some() {
                    split(
                        src,
                        sub,
                        child_height(h)?,
                        &key,
                        clo.as_deref(),
                        chi.as_deref(),
                    )?
                } else {
                    (None, None)
                };
                *node.slot_mut(i) = l;
                node.entries.insert(
                    i,
                    Entry {
                        key,
                        value,
                        right: r,
                    },
                );
                Ok(None)
            } else {
                let ch = child_height(h)?;
                match node.slot_mut(i) {
                    slot @ None => {
                        *slot = Some(new_chain(ch, key, kh, value));
                        Ok(None)
                    }
                    Some(child) => {
                        insert_at(src, child, ch, clo.as_ref(), chi.as_ref(), key, kh, value)
                    }
                }
            }
        }
    }
}

/// Splits subtree `sub` (at height `h`, keys inside `(lo, hi)`) into the parts below and above
/// `key`, which is not in it. Empty parts become `None`.
fn split<Src: Source + ?Sized>(
    src: &Src,
    sub: Option<Link>,
    h: u8,
    key: &str,
    lo: Bound<'_>,
    hi: Bound<'_>,
) -> Result<(Option<Link>, Option<Link>), MstError> {
    let Some(link) = sub else {
        return Ok((None, None));
    };
    let mut node = take_node(src, link, h, lo, hi)?;
    let i = node.search(key).unwrap_or_else(|i| i);
    let right_entries = node.entries.split_off(i);
    let mid = node.slot_mut(i).take();
    let (ml, mr) = if mid.is_some() {
        let clo: Option<Arc<str>> = node.entries.last().map(|e| e.key.clone());
        let chi: Option<Arc<str>> = right_entries.first().map(|e| e.key.clone());
        split(
            src,
            mid,
            child_height(h)?,
            key,
            clo.as_deref().or(lo),
            chi.as_deref().or(hi),
        )?
    } else {
        (None, None)
    };
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
/// chain walked when trimming empty top nodes; checks merged nodes stay within limits. Returns
/// the current value (`None`: nothing to do).
pub(crate) fn preload_remove<Src: Source + ?Sized>(
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
            Ok(i) => {
                let value = node.entries[i].value;
                if h == 0 {
                    // No subtrees to merge; trimming needs nothing below a height-0 root.
                    return Ok(Some(value));
                }
                let ch = h - 1;
                let a = node.slot(i);
                let b = node.slot(i + 1);
                let a_lo = if i == 0 {
                    lo
                } else {
                    Some(&*node.entries[i - 1].key)
                };
                let b_hi = node.entries.get(i + 1).map_or(hi, |e| Some(&*e.key));
                let root_emptied = h == height && node.entries.len() == 1;
                preload_merge(src, a, b, ch, a_lo, Some(key), b_hi, root_emptied)?;
                return Ok(Some(value));
            }
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
            let inner_lo = na.entries.last().map_or(a_lo, |e| Some(&*e.key));
            let inner_hi = nb.entries.first().map_or(b_hi, |e| Some(&*e.key));
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

/// Phase 2 of remove. Returns the removed value.
pub(crate) fn remove<Src: Source + ?Sized>(
    src: &Src,
    root: &mut Option<Link>,
    height: &mut u8,
    key: &str,
    kh: u8,
) -> Result<Option<Cid>, MstError> {
    let prev = remove_in(src, root, *height, None, None, key, kh, true)?;
    // Trim empty nodes off the top (checklist #46).
    loop {
        let Some(link) = root.as_ref() else {
            *height = 0;
            break;
        };
        let node = node_ref(src, link, *height, None, None)?;
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

#[allow(clippy::too_many_arguments)]
fn remove_in<Src: Source + ?Sized>(
    src: &Src,
    slot: &mut Option<Link>,
    h: u8,
    lo: Option<&Arc<str>>,
    hi: Option<&Arc<str>>,
    key: &str,
    kh: u8,
    is_root: bool,
) -> Result<Option<Cid>, MstError> {
    let Some(link) = slot.as_mut() else {
        return Ok(None);
    };
    let node = node_mut(src, link, h, lo.map(|s| &**s), hi.map(|s| &**s))?;
    let prev = match node.search(key) {
        Ok(i) => {
            let removed = node.entries.remove(i);
            let a = node.slot_mut(i).take();
            let merged = if h == 0 {
                None
            } else {
                let (a_lo, b_hi) = slot_bounds_owned(node, i, lo, hi);
                merge(
                    src,
                    a,
                    removed.right,
                    h - 1,
                    a_lo.as_deref(),
                    key,
                    b_hi.as_deref(),
                )?
            };
            *node.slot_mut(i) = merged;
            Some(removed.value)
        }
        Err(i) => {
            if h <= kh {
                return Ok(None);
            }
            let (clo, chi) = slot_bounds_owned(node, i, lo, hi);
            remove_in(
                src,
                node.slot_mut(i),
                h - 1,
                clo.as_ref(),
                chi.as_ref(),
                key,
                kh,
                false,
            )?
        }
    };
    // Prune nodes left empty below the root (checklist #46); the root is trimmed by `remove`.
    if !is_root && node.is_empty() {
        *slot = None;
    }
    Ok(prev)
}

/// Merges adjacent subtrees `a` (keys in `(lo, mid)`) and `b` (keys in `(mid, hi)`) at height
/// `h` into one.
fn merge<Src: Source + ?Sized>(
    src: &Src,
    a: Option<Link>,
    b: Option<Link>,
    h: u8,
    lo: Bound<'_>,
    mid: &str,
    hi: Bound<'_>,
) -> Result<Option<Link>, MstError> {
    match (a, b) {
        (None, x) | (x, None) => Ok(x),
        (Some(a), Some(b)) => {
            let mut na = take_node(src, a, h, lo, Some(mid))?;
            let nb = take_node(src, b, h, Some(mid), hi)?;
            let last = na.entries.len();
            let inner = if h == 0 {
                None
            } else {
                let a_last = na.slot_mut(last).take();
                let inner_lo: Option<Arc<str>> = na.entries.last().map(|e| e.key.clone());
                let inner_hi: Option<Arc<str>> = nb.entries.first().map(|e| e.key.clone());
                merge(
                    src,
                    a_last,
                    nb.left,
                    h - 1,
                    inner_lo.as_deref().or(lo),
                    mid,
                    inner_hi.as_deref().or(hi),
                )?
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
    let arc = match link {
        Link::Stored { cid, .. } => return *cid,
        Link::Dirty(arc) => arc,
    };
    let node = Arc::make_mut(arc);
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
    let node = arc.clone();
    *link = Link::stored_loaded(cid, node);
    cid
}
