//! Commit-proof fixtures (`firehose/commit-proof-fixtures.json`, same across implementations):
//! build the tree from `keys`, check `rootBeforeCommit` (checklist #45), apply `adds`/`dels`,
//! check `rootAfterCommit`, check the diff's blocks contain every `blocksInProof` (checklist
//! #54), and run the sync-1.1 inversion check (checklist #83) with exactly the proof blocks:
//! it must succeed, and fail with a missing-block error when any one of them is removed.

use data_model::{Cid, parse_cid};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use repo::blockstore::{BlockMap, BlockStore, MemoryBlockStore};
use repo::mst::{Diff, Mst, RecordOp, diff, verify_inversion};
use serde_json::Value;

const FILE: &str = "firehose/commit-proof-fixtures.json";

fn fixtures() -> Vec<Value> {
    let path = format!(
        "{}/../../interop-tests/atproto-interop-tests/{FILE}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Vec<Value>>(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn cid(v: &Value) -> Cid {
    parse_cid(v.as_str().unwrap()).unwrap()
}

/// Builds the tree of `keys` in the given order, all with value `leaf`.
fn build(keys: &[String], leaf: Cid) -> Mst {
    let none = BlockMap::new();
    let mut mst = Mst::new();
    for k in keys {
        mst.insert(&none, k, leaf).unwrap();
    }
    mst
}

fn check(case: &Value) {
    let comment = case["comment"].as_str().unwrap();
    let leaf = cid(&case["leafValue"]);
    let keys = strings(&case["keys"]);
    let adds = strings(&case["adds"]);
    let dels = strings(&case["dels"]);
    let before_expected = cid(&case["rootBeforeCommit"]);
    let after_expected = cid(&case["rootAfterCommit"]);
    let in_proof: Vec<Cid> = case["blocksInProof"]
        .as_array()
        .unwrap()
        .iter()
        .map(cid)
        .collect();

    let mut store = MemoryBlockStore::new();
    let mut mst = build(&keys, leaf);
    let (before, blocks) = mst.write_out();
    assert_eq!(before, before_expected, "{comment}: rootBeforeCommit");
    store.put_many(blocks).unwrap();

    // Same root in other insertion orders (checklist #45).
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for _ in 0..5 {
        let mut shuffled = keys.clone();
        shuffled.shuffle(&mut rng);
        assert_eq!(
            build(&shuffled, leaf).root_cid(),
            before,
            "{comment}: shuffled order"
        );
    }

    // Apply the commit through a tree loaded from the store (lazy loading path).
    let mut tree = Mst::load(&store, &before).unwrap();
    for k in &adds {
        assert_eq!(
            tree.insert(&store, k, leaf).unwrap(),
            None,
            "{comment}: add {k}"
        );
    }
    for k in &dels {
        assert_eq!(
            tree.remove(&store, k).unwrap(),
            Some(leaf),
            "{comment}: del {k}"
        );
    }
    let (after, blocks) = tree.write_out();
    assert_eq!(after, after_expected, "{comment}: rootAfterCommit");
    store.put_many(blocks).unwrap();

    // Building the final key set from scratch gives the same root.
    let mut final_keys: Vec<String> = keys
        .iter()
        .chain(&adds)
        .filter(|k| !dels.contains(k))
        .cloned()
        .collect();
    final_keys.reverse();
    assert_eq!(
        build(&final_keys, leaf).root_cid(),
        after,
        "{comment}: rebuilt from scratch"
    );
    let bulk = Mst::from_entries(final_keys.iter().map(|k| (k, leaf)))
        .unwrap()
        .root_cid();
    assert_eq!(bulk, after, "{comment}: bulk build");

    let d = diff(&store, &before, &after).unwrap();
    let mut expected_ops: Vec<RecordOp> = adds
        .iter()
        .map(|k| RecordOp::create(k.clone(), leaf))
        .chain(dels.iter().map(|k| RecordOp::delete(k.clone(), leaf)))
        .collect();
    expected_ops.sort();
    assert_eq!(d.record_ops, expected_ops, "{comment}: record ops");

    let firehose = d.firehose_node_cids();
    for c in &in_proof {
        assert!(
            firehose.contains(c),
            "{comment}: blocksInProof {c} missing from the diff's blocks"
        );
    }

    // The inversion check succeeds with our firehose blocks, with just the inductive proof
    // nodes, and with exactly blocksInProof.
    let ours = Diff::collect_blocks(&store, &firehose).unwrap();
    verify_inversion(&ours, &after, &d.record_ops, &before).unwrap();
    let minimal = Diff::collect_blocks(&store, &d.inductive_proof_nodes).unwrap();
    verify_inversion(&minimal, &after, &d.record_ops, &before).unwrap();
    let proof = Diff::collect_blocks(&store, &in_proof).unwrap();
    verify_inversion(&proof, &after, &d.record_ops, &before)
        .unwrap_or_else(|e| panic!("{comment}: inversion with blocksInProof: {e}"));
    // Every node our inversion reads is in the reference proof, and removing any one of them
    // makes the check fail with a missing-block error. The reference proof may hold more: its
    // tree code reads extra nodes (those are what `covering_proof_nodes` adds to our blocks).
    let mut not_needed = 0;
    for c in &in_proof {
        let mut fewer = proof.clone();
        fewer.remove(c);
        let result = verify_inversion(&fewer, &after, &d.record_ops, &before);
        if d.inductive_proof_nodes.contains(c) {
            let err = result.expect_err("inversion must fail without a needed proof block");
            assert_eq!(
                err.missing_block(),
                Some(c),
                "{comment}: removing {c}: {err}"
            );
        } else {
            assert!(
                result.is_ok(),
                "{comment}: {c} is not read by the inversion, yet needed"
            );
            not_needed += 1;
        }
    }
    for c in &d.inductive_proof_nodes {
        assert!(
            in_proof.contains(c),
            "{comment}: inversion reads {c}, not in blocksInProof"
        );
    }
    println!(
        "  {comment}: {} blocksInProof, {not_needed} not read by our inversion",
        in_proof.len()
    );
    // A wrong prevData is reported as such.
    assert!(verify_inversion(&proof, &after, &d.record_ops, &after).is_err() || before == after);
}

#[test]
fn commit_proof_fixtures() {
    let cases = fixtures();
    assert!(!cases.is_empty(), "{FILE}: no cases");
    for case in &cases {
        check(case);
    }
    println!("{FILE}: {} cases", cases.len());
}
