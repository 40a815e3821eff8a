//! MST nodes in memory and on the wire: the [`Node`]/[`Entry`]/[`Key`]/[`Link`] types, key
//! heights, key syntax, and the node codec (encode with prefix compression; strict decode that checks
//! everything a single block can prove about itself).
//!
//! Checks that need the node's position in the tree (expected height, key bounds inherited from
//! the parent, "no empty non-root node") are done by [`Node::check_position`], called by the
//! loader in `tree.rs`, which knows the position.

use std::sync::{Arc, OnceLock};

use data_model::cbor::{Reader, Writer};
use data_model::{CODEC_DAG_CBOR, Cid, is_blessed};
use sha2::{Digest, Sha256};

use super::{InvalidNode, MstError};

/// Keys longer than this are rejected (the reference implementation's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Most entries a node may hold. Honest trees (fanout 4) almost never exceed a few dozen; the
/// bound stops mined keys from producing huge nodes (checklist #48).
pub const MAX_NODE_ENTRIES: usize = 2048;

/// Largest accepted MST node block, in bytes.
pub const MAX_NODE_BYTES: usize = 512 * 1024;

/// Height of `key` in the tree: the number of leading zero bits of SHA-256(key), divided by two
/// and rounded down, which gives a fanout of 4 (checklist #42).
pub fn key_height(key: &[u8]) -> u8 {
    let digest = Sha256::digest(key);
    let mut zeros: u32 = 0;
    for byte in digest.iter() {
        if *byte == 0 {
            zeros += 8;
        } else {
            zeros += byte.leading_zeros();
            break;
        }
    }
    // At most 256 / 2 = 128, which fits in a u8.
    (zeros / 2) as u8
}

/// Length of the common prefix of two byte strings (used for key prefix compression).
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count()
}

fn valid_key_part(part: &[u8]) -> bool {
    !part.is_empty()
        && part
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'-' | b':' | b'.'))
}

/// Checks that `key` is a valid MST key: a repo path `<collection>/<record key>`, at most
/// [`MAX_KEY_LEN`] bytes, exactly one `/`, both parts non-empty and made of
/// `A-Za-z0-9 _ ~ - : .` (the rule the reference implementation applies).
pub fn validate_key(key: &[u8]) -> Result<(), MstError> {
    let bad = |reason: &'static str| MstError::InvalidKey {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    if key.len() > MAX_KEY_LEN {
        return Err(bad("longer than 1024 bytes"));
    }
    let mut parts = key.split(|b| *b == b'/');
    let (Some(collection), Some(rkey), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("not of the form <collection>/<record key>"));
    };
    if !valid_key_part(collection) || !valid_key_part(rkey) {
        return Err(bad("empty part or character outside A-Za-z0-9_~-:."));
    }
    Ok(())
}

/// A child pointer: a subtree that is either persisted (known CID, node loaded on demand and
/// cached) or modified in memory (CID not yet computed). One machine word: the cell is shared
/// between snapshots of a tree, so a node loaded through one snapshot is cached for all.
#[derive(Debug, Clone)]
pub(crate) struct Link(pub(crate) Arc<Cell>);

/// What a [`Link`] points to.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    /// A persisted node. `node` is filled the first time the node is loaded.
    Stored { cid: Cid, node: OnceLock<Node> },
    /// A node created or modified in memory since the last write-out.
    Dirty(Node),
}

impl Link {
    /// A persisted, not yet loaded node.
    pub(crate) fn stored(cid: Cid) -> Link {
        Link(Arc::new(Cell::Stored {
            cid,
            node: OnceLock::new(),
        }))
    }

    /// A persisted node that is already in memory.
    pub(crate) fn stored_loaded(cid: Cid, node: Node) -> Link {
        Link(Arc::new(Cell::Stored {
            cid,
            node: OnceLock::from(node),
        }))
    }

    /// A new in-memory node.
    pub(crate) fn dirty(node: Node) -> Link {
        Link(Arc::new(Cell::Dirty(node)))
    }

    /// The CID, if known (not dirty).
    pub(crate) fn cid(&self) -> Option<&Cid> {
        match &*self.0 {
            Cell::Stored { cid, .. } => Some(cid),
            Cell::Dirty(_) => None,
        }
    }

    /// True for a node modified since the last write-out.
    pub(crate) fn is_dirty(&self) -> bool {
        matches!(&*self.0, Cell::Dirty(_))
    }

    /// The node, if it is in memory.
    pub(crate) fn loaded(&self) -> Option<&Node> {
        match &*self.0 {
            Cell::Stored { node, .. } => node.get(),
            Cell::Dirty(node) => Some(node),
        }
    }
}

/// Keys up to this many bytes are stored inline in their entry (almost every repo path:
/// `app.bsky.feed.post/` + a 13-character TID is 32 bytes), so a node search touches only the
/// node's own memory.
const INLINE_KEY: usize = 46;

/// An MST key: a validated repo path (ASCII), inline when short.
#[derive(Clone)]
pub(crate) enum Key {
    /// `len` bytes of `buf`.
    Inline { len: u8, buf: [u8; INLINE_KEY] },
    /// A longer key.
    Heap(Arc<[u8]>),
}

impl Key {
    /// A key holding `bytes` (already validated by the caller).
    pub(crate) fn new(bytes: &[u8]) -> Key {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE_KEY => {
                let mut buf = [0u8; INLINE_KEY];
                buf[..bytes.len()].copy_from_slice(bytes);
                Key::Inline { len, buf }
            }
            _ => Key::Heap(Arc::from(bytes)),
        }
    }

    /// The key's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }

    /// The key as text. Keys are validated repo paths (ASCII) when created, so this never
    /// falls back to the empty string.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One key/value pair of a node plus the subtree to its right.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The full (uncompressed) key.
    pub(crate) key: Key,
    /// The record CID, kept exactly as given (checklist #49).
    pub(crate) value: Cid,
    /// Subtree holding the keys between this entry and the next.
    pub(crate) right: Option<Link>,
}

/// An MST node: a left subtree and sorted entries. Its height is implied by its position.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// Subtree holding the keys before the first entry.
    pub(crate) left: Option<Link>,
    /// Entries in strictly increasing key order.
    pub(crate) entries: Vec<Entry>,
}

impl Node {
    /// Number of subtree slots (entries + 1).
    pub(crate) fn slots(&self) -> usize {
        self.entries.len() + 1
    }

    /// The subtree at slot `i` (0 = `left`, `i` = right of entry `i - 1`).
    pub(crate) fn slot(&self, i: usize) -> Option<&Link> {
        if i == 0 {
            self.left.as_ref()
        } else {
            self.entries[i - 1].right.as_ref()
        }
    }

    /// Mutable subtree slot `i`.
    pub(crate) fn slot_mut(&mut self, i: usize) -> &mut Option<Link> {
        if i == 0 {
            &mut self.left
        } else {
            &mut self.entries[i - 1].right
        }
    }

    /// Binary search for `key`: `Ok(i)` if entry `i` has it, `Err(i)` for the subtree slot it
    /// would descend into.
    pub(crate) fn search(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|e| e.key.as_bytes().cmp(key.as_bytes()))
    }

    /// True for the node of an empty tree (no entries, no subtree).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.left.is_none()
    }

    /// Encodes the node as its canonical DAG-CBOR block `{e: [{k, p, t, v}], l}`, with key
    /// prefix compression inside the node and explicit nulls (checklist #43, #44). Every
    /// subtree must already have a CID (callers hash children first).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(16 + self.entries.len() * 90);
        w.map(2);
        w.text("e");
        w.array(self.entries.len());
        let mut prev: &[u8] = &[];
        for e in &self.entries {
            let key = e.key.as_bytes();
            let p = common_prefix_len(prev, key);
            // Map keys in canonical order: k, p, t, v (all one byte long).
            w.map(4);
            w.text("k");
            w.bytes(&key[p..]);
            w.text("p");
            w.uint(p as u64);
            w.text("t");
            w.nullable_link(e.right.as_ref().and_then(Link::cid));
            w.text("v");
            w.link(&e.value);
            prev = key;
        }
        w.text("l");
        w.nullable_link(self.left.as_ref().and_then(Link::cid));
        w.into_bytes()
    }

    /// Strictly decodes an MST node block. Checks canonical CBOR, the exact schema, prefix
    /// compression (`p` is exactly the shared prefix with the previous key), strict key order,
    /// key syntax, the entry limit and that subtree links are blessed dag-cbor CIDs
    /// (checklist #41, #43, #44, #47, #48). Heights are checked by [`Node::check_position`].
    pub(crate) fn decode(bytes: &[u8]) -> Result<Node, InvalidNode> {
        if bytes.len() > MAX_NODE_BYTES {
            return Err(InvalidNode::TooLarge);
        }
        let mut r = Reader::new(bytes);
        expect_map(&mut r, 2)?;
        expect_key(&mut r, "e")?;
        let n = r.read_array_len()?;
        if n > MAX_NODE_ENTRIES {
            return Err(InvalidNode::TooManyEntries(n));
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(n);
        let mut prev: Vec<u8> = Vec::new();
        for _ in 0..n {
            expect_map(&mut r, 4)?;
            expect_key(&mut r, "k")?;
            let suffix = r.read_bytes()?;
            expect_key(&mut r, "p")?;
            let p = r.read_u64()?;
            expect_key(&mut r, "t")?;
            let right = r.read_nullable_link()?;
            expect_key(&mut r, "v")?;
            let value = r.read_link()?;

            let p = usize::try_from(p).map_err(|_| InvalidNode::PrefixTooLong)?;
            if p > prev.len() {
                return Err(InvalidNode::PrefixTooLong);
            }
            // Mandatory, maximal compression: the suffix must not start with the byte that
            // follows the shared prefix in the previous key. The first entry has p = 0.
            if p < prev.len() && suffix.first() == Some(&prev[p]) {
                return Err(InvalidNode::PrefixNotMaximal);
            }
            prev.truncate(p);
            prev.extend_from_slice(suffix);
            if let Some(last) = entries.last()
                && last.key.as_bytes() >= prev.as_slice()
            {
                return Err(InvalidNode::KeyOrder);
            }
            validate_key(&prev).map_err(|_| InvalidNode::BadKey)?;
            let right = match right {
                Some(cid) => Some(Link::stored(check_node_link(cid)?)),
                None => None,
            };
            entries.push(Entry {
                key: Key::new(&prev),
                value,
                right,
            });
        }
        expect_key(&mut r, "l")?;
        let left = match r.read_nullable_link()? {
            Some(cid) => Some(Link::stored(check_node_link(cid)?)),
            None => None,
        };
        r.finish()?;
        Ok(Node { left, entries })
    }

    /// Checks what the node's position implies: every key has height `height`, keys lie
    /// strictly inside `(lo, hi)`, a height-0 node has no subtrees, and a non-root node is not
    /// empty (a keyless non-root node must link further down: "no empty nodes at the bottom").
    pub(crate) fn check_position(
        &self,
        height: u8,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
        is_root: bool,
    ) -> Result<(), InvalidNode> {
        for e in &self.entries {
            let h = key_height(e.key.as_bytes());
            if h != height {
                return Err(InvalidNode::WrongHeight {
                    key: e.key.as_str().to_owned(),
                    expected: height,
                    found: h,
                });
            }
        }
        if let (Some(first), Some(lo)) = (self.entries.first(), lo)
            && first.key.as_bytes() <= lo
        {
            return Err(InvalidNode::KeyOrder);
        }
        if let (Some(last), Some(hi)) = (self.entries.last(), hi)
            && last.key.as_bytes() >= hi
        {
            return Err(InvalidNode::KeyOrder);
        }
        if self.entries.is_empty() {
            match (&self.left, is_root) {
                (None, false) => return Err(InvalidNode::EmptyNode),
                (Some(_), true) => return Err(InvalidNode::UntrimmedRoot),
                _ => {}
            }
        }
        if height == 0 && (self.left.is_some() || self.entries.iter().any(|e| e.right.is_some())) {
            return Err(InvalidNode::SubtreeBelowLeaf);
        }
        Ok(())
    }
}

fn expect_map(r: &mut Reader<'_>, len: usize) -> Result<(), InvalidNode> {
    if r.read_map_len()? != len {
        return Err(InvalidNode::Schema);
    }
    Ok(())
}

fn expect_key(r: &mut Reader<'_>, key: &str) -> Result<(), InvalidNode> {
    if r.read_text()? != key {
        return Err(InvalidNode::Schema);
    }
    Ok(())
}

/// Links between MST nodes must be blessed: CIDv1, dag-cbor, sha2-256 (checklist #41).
fn check_node_link(cid: Cid) -> Result<Cid, InvalidNode> {
    if !is_blessed(&cid) || cid.codec() != CODEC_DAG_CBOR {
        return Err(InvalidNode::UnblessedLink(cid));
    }
    Ok(cid)
}
