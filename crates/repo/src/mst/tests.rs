//! Unit tests for the MST: encoding, structure rules, mutations, iteration and proofs on small
//! hand-built trees. Vector-driven and property tests live in `tests/it/mst_*.rs`.

use data_model::{Cid, cid_for_cbor};

use super::*;
use crate::blockstore::{BlockMap, BlockStore, MemoryBlockStore};

fn leaf(i: u32) -> Cid {
    cid_for_cbor(&[
        0x1a,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ])
}

#[test]
fn trees_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Mst>();
    check::<Diff>();
}

#[test]
fn empty_root_cid_matches_spec() {
    // checklist #46
    assert_eq!(
        Mst::empty_root_cid().to_string(),
        "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    );
    assert_eq!(Mst::new().root_cid(), Mst::empty_root_cid());
    assert_eq!(
        cid_for_cbor(&Mst::empty_root_block()),
        Mst::empty_root_cid()
    );
    // The empty tree needs no block to be opened.
    let none = BlockMap::new();
    let empty = Mst::load(&none, &Mst::empty_root_cid()).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.count(&none).unwrap(), 0);
}

#[test]
fn insert_get_remove_roundtrip() {
    let store = MemoryBlockStore::new();
    let mut mst = Mst::new();
    for i in 0..500 {
        mst.insert(&store, &format!("app.bsky.feed.post/{i:06}"), leaf(i))
            .unwrap();
    }
    for i in 0..500 {
        assert_eq!(
            mst.get(&store, &format!("app.bsky.feed.post/{i:06}"))
                .unwrap(),
            Some(leaf(i))
        );
    }
    assert_eq!(mst.count(&store).unwrap(), 500);
    for i in 0..500 {
        assert_eq!(
            mst.remove(&store, &format!("app.bsky.feed.post/{i:06}"))
                .unwrap(),
            Some(leaf(i))
        );
    }
    assert!(mst.is_empty());
    assert_eq!(mst.root_cid(), Mst::empty_root_cid());
}

#[test]
fn write_out_and_reload() {
    let mut store = MemoryBlockStore::new();
    let mut mst = Mst::new();
    for i in 0..300 {
        mst.insert(&store, &format!("com.example.thing/{i:05}"), leaf(i))
            .unwrap();
    }
    let (root, blocks) = mst.write_out();
    store.put_many(blocks).unwrap();
    let loaded = Mst::load(&store, &root).unwrap();
    let all: Vec<(String, Cid)> = loaded
        .iter(&store)
        .map(|r| r.map(|(k, v)| (k.to_string(), v)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 300);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    // One more insert touches O(depth) nodes.
    let mut next = loaded.clone();
    next.insert(&store, "com.example.thing/99999", leaf(9))
        .unwrap();
    let (_, new_blocks) = next.write_out();
    assert!(
        new_blocks.len() <= usize::from(next.height()) + 2,
        "{} blocks",
        new_blocks.len()
    );
    // Missing block: a fresh load with an empty store fails with a typed error.
    let empty = BlockMap::new();
    assert!(matches!(
        Mst::load(&empty, &root),
        Err(MstError::MissingBlock(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Hostile and malformed nodes (checklist #41, #43, #44, #47, #48): typed errors, never panics.

use data_model::cbor::Writer;

/// The `n`-th key (in increasing order) of the form `com.example.t/kNNNN` with height `h`.
fn key_at(h: u8, n: usize) -> String {
    (0..)
        .map(|i| format!("com.example.t/k{i:06}"))
        .filter(|k| key_height(k.as_bytes()) == h)
        .nth(n)
        .unwrap()
}

/// One raw entry: (p, k suffix, t, v).
type RawEntry<'a> = (u64, &'a [u8], Option<Cid>, Cid);

/// Encodes a node block by hand, exactly as given (no compression or checks).
fn raw_node(left: Option<Cid>, entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut w = Writer::new();
    w.map(2);
    w.text("e");
    w.array(entries.len());
    for (p, k, t, v) in entries {
        w.map(4);
        w.text("k");
        w.bytes(k);
        w.text("p");
        w.uint(*p);
        w.text("t");
        w.nullable_link(t.as_ref());
        w.text("v");
        w.link(v);
    }
    w.text("l");
    w.nullable_link(left.as_ref());
    w.into_bytes()
}

fn put(store: &mut MemoryBlockStore, bytes: Vec<u8>) -> Cid {
    let cid = cid_for_cbor(&bytes);
    store.insert(cid, bytes);
    cid
}

/// Loads the tree at `root` and walks all of it; returns the error reason, if any.
fn load_all(store: &MemoryBlockStore, root: &Cid) -> Result<usize, MstError> {
    Mst::load(store, root)?.count(store)
}

fn reason(r: Result<usize, MstError>) -> InvalidNode {
    match r {
        Err(MstError::InvalidNode { reason, .. }) => *reason,
        other => panic!("expected an invalid-node error, got {other:?}"),
    }
}

/// A two-level tree: height-1 key `top` and height-0 key `low` below it, on the correct side.
fn two_level(store: &mut MemoryBlockStore, top: &str, low: &str) -> Cid {
    let child = put(store, raw_node(None, &[(0, low.as_bytes(), None, leaf(1))]));
    if low < top {
        put(
            store,
            raw_node(Some(child), &[(0, top.as_bytes(), None, leaf(2))]),
        )
    } else {
        put(
            store,
            raw_node(None, &[(0, top.as_bytes(), Some(child), leaf(2))]),
        )
    }
}

#[test]
fn well_formed_hand_built_tree_loads() {
    // Sanity check of the helpers.
    let mut store = MemoryBlockStore::new();
    let (k0, k1) = (key_at(0, 0), key_at(1, 0));
    let root = two_level(&mut store, &k1, &k0);
    assert_eq!(load_all(&store, &root).unwrap(), 2);
    assert_eq!(
        Mst::from_entries([(k0, leaf(1)), (k1, leaf(2))])
            .unwrap()
            .root_cid(),
        root
    );
}

#[test]
fn key_at_wrong_height_is_rejected() {
    let mut store = MemoryBlockStore::new();
    // A height-1 key where a height-0 node belongs.
    let (a, b) = (key_at(1, 0), key_at(1, 1));
    let root = two_level(&mut store, &a, &b);
    assert!(matches!(
        reason(load_all(&store, &root)),
        InvalidNode::WrongHeight { .. }
    ));
    // Mixed heights in one node.
    let (c, d) = (key_at(0, 0), key_at(1, 0));
    let (x, y) = if c < d { (c, d) } else { (d, c) };
    let n = common_prefix_len(x.as_bytes(), y.as_bytes());
    let mixed = put(
        &mut store,
        raw_node(
            None,
            &[
                (0, x.as_bytes(), None, leaf(1)),
                (n as u64, &y.as_bytes()[n..], None, leaf(2)),
            ],
        ),
    );
    assert!(matches!(
        reason(load_all(&store, &mixed)),
        InvalidNode::WrongHeight { .. }
    ));
}

#[test]
fn key_order_and_bounds_are_checked() {
    let mut store = MemoryBlockStore::new();
    let (a, b) = (key_at(0, 0), key_at(0, 1));
    let shared = common_prefix_len(a.as_bytes(), b.as_bytes());
    // Out of order inside a node (b then a, correctly compressed).
    let bad = put(
        &mut store,
        raw_node(
            None,
            &[
                (0, b.as_bytes(), None, leaf(1)),
                (shared as u64, &a.as_bytes()[shared..], None, leaf(2)),
            ],
        ),
    );
    assert_eq!(reason(load_all(&store, &bad)), InvalidNode::KeyOrder);
    // Duplicate key.
    let p = a.len() as u64;
    let dup = put(
        &mut store,
        raw_node(
            None,
            &[(0, a.as_bytes(), None, leaf(1)), (p, b"", None, leaf(2))],
        ),
    );
    assert_eq!(reason(load_all(&store, &dup)), InvalidNode::KeyOrder);
    // A child whose key lies on the wrong side of its parent's key.
    let (low, top) = (key_at(0, 0), key_at(1, 0));
    let child = put(
        &mut store,
        raw_node(None, &[(0, low.as_bytes(), None, leaf(1))]),
    );
    let wrong_side = if low < top {
        put(
            &mut store,
            raw_node(None, &[(0, top.as_bytes(), Some(child), leaf(2))]),
        )
    } else {
        put(
            &mut store,
            raw_node(Some(child), &[(0, top.as_bytes(), None, leaf(2))]),
        )
    };
    assert_eq!(reason(load_all(&store, &wrong_side)), InvalidNode::KeyOrder);
}

#[test]
fn prefix_compression_is_checked() {
    let mut store = MemoryBlockStore::new();
    let (a, b) = (key_at(0, 0), key_at(0, 1));
    let shared = common_prefix_len(a.as_bytes(), b.as_bytes());
    assert!(shared > 0);
    // Not maximal: b written with p = 0.
    let lazy = put(
        &mut store,
        raw_node(
            None,
            &[
                (0, a.as_bytes(), None, leaf(1)),
                (0, b.as_bytes(), None, leaf(2)),
            ],
        ),
    );
    assert_eq!(
        reason(load_all(&store, &lazy)),
        InvalidNode::PrefixNotMaximal
    );
    // p longer than the previous key.
    let long = put(
        &mut store,
        raw_node(
            None,
            &[
                (0, a.as_bytes(), None, leaf(1)),
                (a.len() as u64 + 1, b"x", None, leaf(2)),
            ],
        ),
    );
    assert_eq!(reason(load_all(&store, &long)), InvalidNode::PrefixTooLong);
    // First entry with p > 0.
    let first = put(
        &mut store,
        raw_node(None, &[(1, a.as_bytes(), None, leaf(1))]),
    );
    assert_eq!(reason(load_all(&store, &first)), InvalidNode::PrefixTooLong);
    // Correct compression loads.
    let good = put(
        &mut store,
        raw_node(
            None,
            &[
                (0, a.as_bytes(), None, leaf(1)),
                (shared as u64, &b.as_bytes()[shared..], None, leaf(2)),
            ],
        ),
    );
    assert_eq!(load_all(&store, &good).unwrap(), 2);
}

#[test]
fn structure_rules_are_checked() {
    let mut store = MemoryBlockStore::new();
    let (k0, k1) = (key_at(0, 0), key_at(1, 0));
    // Empty node below the root.
    let empty = put(&mut store, raw_node(None, &[]));
    let root = put(
        &mut store,
        raw_node(Some(empty), &[(0, k1.as_bytes(), None, leaf(1))]),
    );
    assert_eq!(reason(load_all(&store, &root)), InvalidNode::EmptyNode);
    // Keyless root linking down (the top was not trimmed).
    let leaf_node = put(
        &mut store,
        raw_node(None, &[(0, k0.as_bytes(), None, leaf(1))]),
    );
    let untrimmed = put(&mut store, raw_node(Some(leaf_node), &[]));
    assert_eq!(
        reason(load_all(&store, &untrimmed)),
        InvalidNode::UntrimmedRoot
    );
    // A height-0 node with a subtree.
    let below = put(
        &mut store,
        raw_node(Some(leaf_node), &[(0, k0.as_bytes(), None, leaf(1))]),
    );
    assert_eq!(
        reason(load_all(&store, &below)),
        InvalidNode::SubtreeBelowLeaf
    );
    // The empty tree itself is fine.
    assert_eq!(load_all(&store, &empty).unwrap(), 0);
}

#[test]
fn links_and_encoding_are_checked() {
    let mut store = MemoryBlockStore::new();
    let k1 = key_at(1, 0);
    // A child link that is not a blessed dag-cbor CID (raw codec).
    let raw_link = data_model::cid_for_raw(b"not a node");
    let root = put(
        &mut store,
        raw_node(Some(raw_link), &[(0, k1.as_bytes(), None, leaf(1))]),
    );
    assert!(matches!(
        reason(load_all(&store, &root)),
        InvalidNode::UnblessedLink(_)
    ));
    // Leaf values may be any CID and are kept exactly (checklist #49).
    let k0 = key_at(0, 0);
    let odd = put(
        &mut store,
        raw_node(None, &[(0, k0.as_bytes(), None, raw_link)]),
    );
    let tree = Mst::load(&store, &odd).unwrap();
    assert_eq!(tree.get(&store, &k0).unwrap(), Some(raw_link));
    // Bytes that do not hash to their CID.
    let good = raw_node(None, &[(0, k0.as_bytes(), None, leaf(1))]);
    let wrong_cid = cid_for_cbor(b"something else");
    store.insert(wrong_cid, good.clone());
    assert_eq!(
        reason(load_all(&store, &wrong_cid)),
        InvalidNode::HashMismatch
    );
    // Schema violations: extra key, missing `l`, `t` omitted, trailing bytes, floats.
    let mut extra = Writer::new();
    extra.map(3);
    extra.text("e");
    extra.array(0);
    extra.text("l");
    extra.null();
    extra.text("x");
    extra.null();
    let extra = put(&mut store, extra.into_bytes());
    assert_eq!(reason(load_all(&store, &extra)), InvalidNode::Schema);
    let mut no_l = Writer::new();
    no_l.map(1);
    no_l.text("e");
    no_l.array(0);
    let no_l = put(&mut store, no_l.into_bytes());
    assert_eq!(reason(load_all(&store, &no_l)), InvalidNode::Schema);
    let mut trailing = good.clone();
    trailing.push(0);
    let trailing = put(&mut store, trailing);
    assert!(matches!(
        reason(load_all(&store, &trailing)),
        InvalidNode::Cbor(_)
    ));
    let mut no_t = Writer::new();
    no_t.map(2);
    no_t.text("e");
    no_t.array(1);
    no_t.map(3);
    no_t.text("k");
    no_t.bytes(k0.as_bytes());
    no_t.text("p");
    no_t.uint(0);
    no_t.text("v");
    no_t.link(&leaf(1));
    no_t.text("l");
    no_t.null();
    let no_t = put(&mut store, no_t.into_bytes());
    assert_eq!(reason(load_all(&store, &no_t)), InvalidNode::Schema);
    // Invalid key syntax.
    let bad_key = put(
        &mut store,
        raw_node(None, &[(0, b"no-slash-here", None, leaf(1))]),
    );
    assert_eq!(reason(load_all(&store, &bad_key)), InvalidNode::BadKey);
}

#[test]
fn entry_limit_is_enforced() {
    // checklist #48: a node with more than MAX_NODE_ENTRIES entries is rejected on load.
    let mut store = MemoryBlockStore::new();
    let keys: Vec<String> = (0..)
        .map(|i| format!("com.example.t/k{i:06}"))
        .filter(|k| key_height(k.as_bytes()) == 0)
        .take(MAX_NODE_ENTRIES + 1)
        .collect();
    let entries: Vec<RawEntry<'_>> = keys
        .iter()
        .map(|k| (0, k.as_bytes(), None, leaf(1)))
        .collect();
    // Without compression the block is also non-canonical; the count check comes first.
    let root = put(&mut store, raw_node(None, &entries));
    assert_eq!(
        reason(load_all(&store, &root)),
        InvalidNode::TooManyEntries(MAX_NODE_ENTRIES + 1)
    );
    // Building such a node is refused too.
    assert!(matches!(
        Mst::from_entries(keys.iter().map(|k| (k, leaf(1)))),
        Err(MstError::NodeTooLarge)
    ));
}

#[test]
fn invalid_keys_are_refused_on_insert() {
    let store = BlockMap::new();
    let mut mst = Mst::new();
    for bad in [
        "",
        "noslash",
        "a/b/c",
        "/rkey",
        "coll/",
        "coll/has space",
        "coll/ünïcode",
    ] {
        assert!(
            matches!(
                mst.insert(&store, bad, leaf(1)),
                Err(MstError::InvalidKey { .. })
            ),
            "{bad:?}"
        );
    }
    let long = format!("coll/{}", "x".repeat(MAX_KEY_LEN));
    assert!(matches!(
        mst.insert(&store, &long, leaf(1)),
        Err(MstError::InvalidKey { .. })
    ));
    assert!(mst.is_empty());
}

#[test]
fn failed_mutation_leaves_tree_unchanged() {
    // A tree whose deeper nodes are missing: mutations that need them fail cleanly and the
    // tree (and its root CID) is unchanged.
    let mut full = MemoryBlockStore::new();
    let mut mst = Mst::new();
    for i in 0..400 {
        mst.insert(&full, &format!("com.example.thing/{i:05}"), leaf(i))
            .unwrap();
    }
    let (root, blocks) = mst.write_out();
    full.put_many(blocks).unwrap();
    let only_root: BlockMap = [(root, full.get(&root).unwrap().unwrap())]
        .into_iter()
        .collect();
    let mut partial = Mst::load(&only_root, &root).unwrap();
    assert!(matches!(
        partial.insert(&only_root, "com.example.thing/00100x", leaf(1)),
        Err(MstError::MissingBlock(_))
    ));
    assert!(matches!(
        partial.remove(&only_root, "com.example.thing/00100"),
        Err(MstError::MissingBlock(_))
    ));
    assert_eq!(partial.root_cid(), root);
    // With the full store the same tree works.
    assert_eq!(
        partial.remove(&full, "com.example.thing/00100").unwrap(),
        Some(leaf(100))
    );
}

proptest::proptest! {
    /// Arbitrary bytes stored as a node (under their true CID) never panic the loader.
    #[test]
    fn random_blocks_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let mut store = MemoryBlockStore::new();
        let cid = put(&mut store, bytes);
        let _ = load_all(&store, &cid);
    }

    /// Mutating a valid node block one byte at a time gives a valid tree or a typed error.
    #[test]
    fn mutated_blocks_never_panic(pos in 0usize..400, byte in proptest::prelude::any::<u8>()) {
        let mut store = MemoryBlockStore::new();
        let entries: Vec<(String, Cid)> = (0..6).map(|i| (key_at(0, i), leaf(i as u32))).collect();
        let (_, blocks) = Mst::from_entries(entries).unwrap().write_out();
        let (_, mut bytes) = blocks.into_iter().next().unwrap();
        let i = pos % bytes.len();
        bytes[i] = byte;
        let cid = put(&mut store, bytes);
        let _ = load_all(&store, &cid);
    }
}

#[test]
fn record_proofs_prove_presence_and_absence() {
    // checklist #58: the proof blocks alone answer `get` for the key, present or absent.
    let mut store = MemoryBlockStore::new();
    let entries: Vec<(String, Cid)> = (0..500)
        .map(|i| (format!("app.bsky.feed.post/{:06}", i * 2), leaf(i)))
        .collect();
    let mut mst = Mst::from_entries(entries.clone()).unwrap();
    let (root, blocks) = mst.write_out();
    store.put_many(blocks).unwrap();
    for (k, v) in entries.iter().step_by(37) {
        let proof = record_proof(&store, &root, k).unwrap();
        assert_eq!(proof.value, Some(*v));
        assert!(proof.blocks.contains(&root));
        assert!(proof.blocks.len() <= usize::from(mst.height()) + 1);
        let tree = Mst::load(&proof.blocks, &root).unwrap();
        assert_eq!(tree.get(&proof.blocks, k).unwrap(), Some(*v));
    }
    for i in (1..1000).step_by(42) {
        let absent = format!("app.bsky.feed.post/{i:06}");
        let proof = record_proof(&store, &root, &absent).unwrap();
        assert_eq!(proof.value, None);
        let tree = Mst::load(&proof.blocks, &root).unwrap();
        assert_eq!(tree.get(&proof.blocks, &absent).unwrap(), None);
    }
    // The empty tree proves every absence with its single (known) node.
    let proof = record_proof(&store, &Mst::empty_root_cid(), "a.b/c").unwrap();
    assert_eq!(proof.value, None);
    assert!(proof.blocks.contains(&Mst::empty_root_cid()));
}
