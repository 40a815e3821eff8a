//! Checklist #48: `importRepo` of hostile repositories. The tree's limits (at most
//! `MAX_NODE_ENTRIES` entries per node, every key at the height its hash gives, no subtree
//! below height 0) are enforced on import: a node one entry over the cap is refused while the
//! same tree at the cap is imported, and a chain of thousands of empty nodes (what an
//! attacker would use to make a walk deep) is refused without a deep walk.

use bytes::Bytes;
use data_model::{Cid, Value};
use pds::ErrorKind;
use repo::car::CarWriter;
use repo::mst::{MAX_NODE_ENTRIES, common_prefix_len, key_height};

use crate::harness::{create_account, map, post, test_pds};

fn block(v: &Value) -> (Cid, Vec<u8>) {
    let bytes = data_model::cbor::encode(v);
    (data_model::cid_for_cbor(&bytes), bytes)
}

/// An MST node: keys in order (prefix-compressed as the format says), all pointing at `value`.
fn node(keys: &[String], value: Cid, left: Option<Cid>) -> (Cid, Vec<u8>) {
    let mut prev: &[u8] = b"";
    let mut entries = Vec::new();
    for k in keys {
        let p = common_prefix_len(prev, k.as_bytes());
        entries.push(map(&[
            ("p", Value::Integer(i64::try_from(p).expect("prefix"))),
            ("k", Value::Bytes(k.as_bytes()[p..].to_vec())),
            ("v", Value::Link(value)),
            ("t", Value::Null),
        ]));
        prev = k.as_bytes();
    }
    block(&map(&[
        ("l", left.map_or(Value::Null, Value::Link)),
        ("e", Value::List(entries)),
    ]))
}

/// A CAR whose commit (unsigned: import re-signs) points at `root`, with `blocks`.
fn car(did: &syntax::Did, root: Cid, blocks: &[(Cid, Vec<u8>)]) -> Bytes {
    let (commit_cid, commit) = block(&map(&[
        ("did", Value::String(did.as_str().to_owned())),
        ("version", Value::Integer(3)),
        ("data", Value::Link(root)),
        ("rev", Value::String(syntax::Tid::now().as_str().to_owned())),
        ("prev", Value::Null),
        ("sig", Value::Bytes(vec![0; 64])),
    ]));
    let mut w = CarWriter::new(Vec::new(), &[commit_cid]).expect("car");
    w.write_block(&commit_cid, &commit).expect("commit block");
    for (cid, bytes) in blocks {
        w.write_block(cid, bytes).expect("block");
    }
    Bytes::from(w.finish().expect("finish"))
}

/// `n` record keys of height 0, in order.
fn flat_keys(n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("app.bsky.feed.post/k{i:08}"))
        .filter(|k| key_height(k.as_bytes()) == 0)
        .take(n)
        .collect()
}

#[tokio::test]
async fn checklist_48_node_entry_cap_is_enforced_on_import() {
    let t = test_pds().await;
    let mallory = create_account(&t, "mallory").await;
    let (did, auth) = (mallory.did, mallory.auth);
    let record = block(&post("one record, referenced by every entry"));
    let keys = flat_keys(MAX_NODE_ENTRIES + 1);

    // One entry over the cap: refused, nothing replaced.
    let over = node(&keys, record.0, None);
    let err = t
        .pds
        .import_repo(&auth, car(&did, over.0, &[over.clone(), record.clone()]))
        .await
        .expect_err("a node over the entry cap");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err:?}");
    assert!(err.message().contains("entries"), "{}", err.message());
    let status = t.pds.check_account_status(&auth).await.expect("status");
    assert_eq!(status.indexed_records, 0);

    // The same tree at the cap: a valid repository, imported whole.
    let at = node(&keys[..MAX_NODE_ENTRIES], record.0, None);
    t.pds
        .import_repo(&auth, car(&did, at.0, &[at, record]))
        .await
        .expect("a node at the cap");
    let status = t.pds.check_account_status(&auth).await.expect("status");
    assert_eq!(status.indexed_records, MAX_NODE_ENTRIES as u64);
}

#[tokio::test]
async fn checklist_48_a_deep_chain_of_nodes_is_refused() {
    let t = test_pds().await;
    let mallory = create_account(&t, "mallory").await;
    let (did, auth) = (mallory.did, mallory.auth);
    let record = block(&post("leaf"));
    // 5,000 nodes, each only a left link to the next, ending in a leaf node: a tree can be at
    // most 128 levels deep, and an empty node below the root is invalid anyway.
    let mut blocks = vec![record.clone()];
    let leaf = node(&flat_keys(1), record.0, None);
    let mut below = leaf.0;
    blocks.push(leaf);
    for _ in 0..5_000 {
        let n = node(&[], record.0, Some(below));
        below = n.0;
        blocks.push(n);
    }
    let started = std::time::Instant::now();
    let err = t
        .pds
        .import_repo(&auth, car(&did, below, &blocks))
        .await
        .expect_err("a chain of empty nodes");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err:?}");
    assert!(
        err.message().contains("invalid MST node"),
        "{}",
        err.message()
    );
    println!(
        "a chain of 5,000 empty nodes refused in {:?}: {}",
        started.elapsed(),
        err.message()
    );
}
