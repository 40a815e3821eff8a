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
fn empty_root_cid_matches_spec() {
    // checklist #46
    assert_eq!(
        Mst::empty_root_cid().to_string(),
        "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    );
    assert_eq!(Mst::new().root_cid(), Mst::empty_root_cid());
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
