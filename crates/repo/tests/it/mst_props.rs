//! Property tests for the MST with realistic repo paths (`collection/rkey`, TID-like and short
//! record keys): the root depends only on the final key set, whatever the insertion and
//! deletion order (checklist #45); iteration is sorted and complete; a persisted tree loaded
//! lazily behaves like the in-memory one; `diff` finds exactly the changed nodes and records,
//! and its proof blocks let the inversion check rebuild the old root (checklist #54, #83).

use std::collections::{BTreeMap, BTreeSet};

use data_model::{Cid, Value, cid_for_cbor};
use proptest::prelude::*;
use repo::blockstore::{BlockMap, BlockStore, MemoryBlockStore};
use repo::mst::{Diff, Mst, RecordOp, diff, verify_inversion};

const COLLECTIONS: &[&str] = &[
    "app.bsky.feed.like",
    "app.bsky.feed.post",
    "app.bsky.graph.follow",
    "com.example.record",
];

fn path() -> impl Strategy<Value = String> {
    let rkey = prop_oneof![
        3 => "[2-7a-j][2-7a-z]{12}",     // TID
        1 => "[a-z0-9]{1,8}",            // short keys ("self", literal keys)
    ];
    (0..COLLECTIONS.len(), rkey).prop_map(|(c, r)| format!("{}/{r}", COLLECTIONS[c]))
}

fn value(i: u64) -> Cid {
    cid_for_cbor(&data_model::cbor::encode(&Value::Integer(i as i64)))
}

fn build(entries: &[(String, Cid)]) -> Mst {
    let none = BlockMap::new();
    let mut mst = Mst::new();
    for (k, v) in entries {
        mst.insert(&none, k, *v).unwrap();
    }
    mst
}

/// All node CIDs reachable from `root`, found by decoding blocks generically (independent of
/// the MST code under test).
fn all_nodes(store: &MemoryBlockStore, root: &Cid) -> BTreeSet<Cid> {
    let mut out = BTreeSet::new();
    let mut todo = vec![*root];
    while let Some(cid) = todo.pop() {
        if !out.insert(cid) {
            continue;
        }
        let node = data_model::cbor::decode(&store.get(&cid).unwrap().unwrap()).unwrap();
        if let Some(l) = node.get("l").and_then(Value::as_link) {
            todo.push(*l);
        }
        if let Some(Value::List(entries)) = node.get("e") {
            for e in entries {
                if let Some(t) = e.get("t").and_then(Value::as_link) {
                    todo.push(*t);
                }
            }
        }
    }
    out
}

/// Every ordering of `items`.
fn permutations<T: Clone>(items: Vec<T>) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.clone();
        let first = rest.remove(i);
        for mut p in permutations(rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}

fn persist(store: &mut MemoryBlockStore, mst: &mut Mst) -> Cid {
    let (root, blocks) = mst.write_out();
    store.put_many(blocks).unwrap();
    root
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Same map, any history: same root. The history inserts extra keys and deletes them again,
    /// and sets some values twice.
    #[test]
    fn root_is_independent_of_history(
        keys in prop::collection::btree_set(path(), 0..150),
        extra in prop::collection::btree_set(path(), 0..40),
        seed in any::<u64>(),
    ) {
        use rand::{SeedableRng, seq::SliceRandom};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let entries: Vec<(String, Cid)> = keys.iter().enumerate().map(|(i, k)| (k.clone(), value(i as u64))).collect();
        let expected = build(&entries).root_cid();
        let mut shuffled = entries.clone();
        shuffled.shuffle(&mut rng);
        prop_assert_eq!(Mst::from_entries(shuffled).unwrap().root_cid(), expected, "bulk build");

        let none = BlockMap::new();
        let mut ops: Vec<(String, Option<Cid>)> = entries.iter().map(|(k, v)| (k.clone(), Some(*v))).collect();
        for (i, k) in extra.iter().filter(|k| !keys.contains(*k)).enumerate() {
            ops.push((k.clone(), Some(value(10_000 + i as u64))));
        }
        ops.shuffle(&mut rng);
        let mut mst = Mst::new();
        for (k, v) in &ops {
            mst.insert(&none, k, v.unwrap()).unwrap();
        }
        let mut removals: Vec<&String> = extra.iter().filter(|k| !keys.contains(*k)).collect();
        removals.shuffle(&mut rng);
        for k in removals {
            prop_assert!(mst.remove(&none, k).unwrap().is_some());
        }
        prop_assert_eq!(mst.root_cid(), expected);

        // Deleting everything returns to the empty root (checklist #46).
        let mut all: Vec<&String> = keys.iter().collect();
        all.shuffle(&mut rng);
        for k in all {
            prop_assert!(mst.remove(&none, k).unwrap().is_some());
        }
        prop_assert_eq!(mst.root_cid(), Mst::empty_root_cid());
    }

    /// Iteration (all, from a key, by collection) is sorted and complete, in memory and after
    /// a round trip through the store.
    #[test]
    fn iteration_is_sorted_and_complete(
        keys in prop::collection::btree_set(path(), 0..200),
        start in path(),
    ) {
        let model: BTreeMap<String, Cid> = keys.iter().enumerate().map(|(i, k)| (k.clone(), value(i as u64))).collect();
        let entries: Vec<(String, Cid)> = model.iter().rev().map(|(k, v)| (k.clone(), *v)).collect();
        let mut mst = build(&entries);
        let mut store = MemoryBlockStore::new();
        let root = persist(&mut store, &mut mst);
        let loaded = Mst::load(&store, &root).unwrap();
        for tree in [&mst, &loaded] {
            let got: Vec<(String, Cid)> = tree.iter(&store).map(|r| r.map(|(k, v)| (k.to_owned(), v))).collect::<Result<_, _>>().unwrap();
            let want: Vec<(String, Cid)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
            prop_assert_eq!(&got, &want);

            let got: Vec<String> = tree.iter_from(&store, &start).map(|r| r.unwrap().0.to_owned()).collect();
            let want: Vec<String> = model.range(start.clone()..).map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(got, want);

            for c in COLLECTIONS {
                let prefix = format!("{c}/");
                let got: Vec<String> = tree.iter_prefix(&store, &prefix).map(|r| r.unwrap().0.to_owned()).collect();
                let want: Vec<String> = model.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                prop_assert_eq!(got, want);
            }
            prop_assert_eq!(tree.count(&store).unwrap(), model.len());
            for (k, v) in &model {
                prop_assert_eq!(tree.get(&store, k).unwrap(), Some(*v));
            }
            prop_assert_eq!(tree.get(&store, &start).unwrap(), model.get(&start).copied());
        }
    }

    /// `diff(a, b)`: nodes and record ops match an independent computation; applying the ops
    /// to `a` (through the store, lazily) gives `b`; the inversion check rebuilds `a` from the
    /// diff's blocks, and fails when an inductive proof block is missing.
    #[test]
    fn diff_applies_and_inverts(
        base in prop::collection::btree_set(path(), 0..150),
        added in prop::collection::btree_set(path(), 0..12),
        removed_idx in prop::collection::btree_set(0usize..150, 0..12),
        updated_idx in prop::collection::btree_set(0usize..150, 0..6),
    ) {
        let base: Vec<String> = base.into_iter().collect();
        let a_model: BTreeMap<String, Cid> = base.iter().enumerate().map(|(i, k)| (k.clone(), value(i as u64))).collect();
        let mut b_model = a_model.clone();
        for i in &removed_idx {
            if let Some(k) = base.get(*i) { b_model.remove(k); }
        }
        for i in &updated_idx {
            if let Some(k) = base.get(*i) { b_model.insert(k.clone(), value(50_000 + *i as u64)); }
        }
        for (i, k) in added.iter().enumerate() {
            b_model.entry(k.clone()).or_insert(value(90_000 + i as u64));
        }

        let mut store = MemoryBlockStore::new();
        let mut a = build(&a_model.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>());
        let a_root = persist(&mut store, &mut a);
        let mut b = build(&b_model.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>());
        let b_root = persist(&mut store, &mut b);

        let d = diff(&store, &a_root, &b_root).unwrap();
        let a_nodes = all_nodes(&store, &a_root);
        let b_nodes = all_nodes(&store, &b_root);
        prop_assert_eq!(&d.created_nodes, &b_nodes.difference(&a_nodes).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(&d.deleted_nodes, &a_nodes.difference(&b_nodes).copied().collect::<BTreeSet<_>>());

        let mut want_ops = Vec::new();
        for k in a_model.keys().chain(b_model.keys()).collect::<BTreeSet<_>>() {
            let (old, new) = (a_model.get(k).copied(), b_model.get(k).copied());
            if old != new {
                want_ops.push(RecordOp { path: k.clone(), old, new });
            }
        }
        prop_assert_eq!(&d.record_ops, &want_ops);

        // Forward: apply the ops to a lazily loaded `a`; only O(ops * depth) nodes change.
        let mut tree = Mst::load(&store, &a_root).unwrap();
        for op in &d.record_ops {
            match op.new {
                Some(v) => { tree.insert(&store, &op.path, v).unwrap(); }
                None => { tree.remove(&store, &op.path).unwrap(); }
            }
        }
        let (root, new_blocks) = tree.write_out();
        prop_assert_eq!(root, b_root);
        prop_assert!(d.created_nodes.iter().all(|c| new_blocks.contains(c)));

        // Backward: the inversion check with only the diff's blocks.
        let firehose = Diff::collect_blocks(&store, &d.firehose_node_cids()).unwrap();
        verify_inversion(&firehose, &b_root, &d.record_ops, &a_root).unwrap();
        let minimal = Diff::collect_blocks(&store, &d.inductive_proof_nodes).unwrap();
        verify_inversion(&minimal, &b_root, &d.record_ops, &a_root).unwrap();
        // The proof set may hold nodes a given inverter never reads (the suite's sets include
        // neighbour paths), so dropping a node either still verifies or fails on exactly that
        // missing node, never on anything else...
        for dropped in &d.inductive_proof_nodes {
            let mut fewer = minimal.clone();
            fewer.remove(dropped);
            if let Err(err) = verify_inversion(&fewer, &b_root, &d.record_ops, &a_root) {
                prop_assert_eq!(err.missing_block(), Some(dropped));
            }
        }
        // ...and the new root itself is always needed when something changed (the empty
        // tree needs no block: it is synthesized).
        if !d.record_ops.is_empty() && b_root != Mst::empty_root_cid() && minimal.contains(&b_root) {
            let mut fewer = minimal.clone();
            fewer.remove(&b_root);
            let err = verify_inversion(&fewer, &b_root, &d.record_ops, &a_root).unwrap_err();
            prop_assert_eq!(err.missing_block(), Some(&b_root));
        }
        // Other verifiers apply the inverse ops in other orders (indigo: deletions first, then by
        // path; TS: any); the firehose blocks must suffice for every order.
        let mut orders: Vec<Vec<&RecordOp>> = vec![d.record_ops.iter().collect()];
        let mut indigo: Vec<&RecordOp> = d.record_ops.iter().collect();
        indigo.sort_by_key(|op| (op.new.is_some(), op.path.clone()));
        orders.push(indigo);
        let mut shuffled: Vec<&RecordOp> = d.record_ops.iter().collect();
        shuffled.reverse();
        shuffled.rotate_left(d.record_ops.len() / 2);
        orders.push(shuffled);
        if d.record_ops.len() <= 4 {
            orders.extend(permutations(d.record_ops.iter().collect()));
        }
        for order in orders.into_iter().filter(|o| !o.is_empty()) {
            let mut t = Mst::load(&firehose, &b_root).unwrap();
            for op in order {
                match op.old {
                    None => { t.remove(&firehose, &op.path).unwrap(); }
                    Some(old) => { t.insert(&firehose, &op.path, old).unwrap(); }
                }
            }
            prop_assert_eq!(t.root_cid(), a_root);
        }

        // A wrong prevData is rejected.
        if a_root != b_root {
            prop_assert!(verify_inversion(&firehose, &b_root, &d.record_ops, &b_root).is_err());
        }
    }
}
