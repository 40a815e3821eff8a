//! MST benchmarks on the workloads of `interop-tests/node/bench-repo.mjs` (the reference
//! `@atproto/repo` on the same machine), for a 100,000-record tree whose keys are random TID
//! record keys over four collections:
//!
//! - `mst_build`: insert every record into an empty tree and compute the root CID;
//!   `mst_build_blocks` also collects every node block (what a first commit stores);
//!   `mst_build_bulk` builds the same tree (and blocks) with [`Mst::from_entries`];
//! - `mst_insert_one`: one new record into the 100k tree, root CID and new blocks; `warm` (the
//!   working copy already holds the nodes) and `cold` (fresh tree loaded from the store);
//! - `mst_diff_1pct`: diff of two 100k trees differing in ~1% of keys (a third each created,
//!   updated, deleted), with record ops and all proof sets, from a cold store.
//!
//! Run with `cargo bench -p repo --bench mst`; `MST_BENCH_RECORDS` changes the tree size.
//! Sample sizes are small so the whole run takes a couple of minutes.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use data_model::{Cid, cid_for_cbor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use repo::blockstore::{BlockMap, BlockStore, MemoryBlockStore};
use repo::mst::{Mst, diff};

const COLLECTIONS: &[&str] = &[
    "app.bsky.feed.post",
    "app.bsky.feed.like",
    "app.bsky.graph.follow",
    "app.bsky.feed.repost",
];

fn records() -> usize {
    std::env::var("MST_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

/// A TID (13 base32-sortable characters) for a random time in 2023-2026 and clock id.
fn random_tid(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    let micros: u64 = rng.gen_range(1_672_531_200_000_000..1_793_491_200_000_000);
    let v = (micros << 10) | rng.gen_range(0..1024u64);
    (0..13)
        .map(|i| ALPHABET[((v >> (60 - 5 * i)) & 31) as usize] as char)
        .collect()
}

fn record_cid(i: usize) -> Cid {
    let mut w = data_model::cbor::Writer::new();
    w.map(2);
    w.text("text");
    w.text(&format!("record {i}"));
    w.text("$type");
    w.text("app.bsky.feed.post");
    cid_for_cbor(&w.into_bytes())
}

/// `n` distinct keys in random order, with their record CIDs.
fn dataset(rng: &mut StdRng, n: usize) -> Vec<(String, Cid)> {
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let key = format!(
            "{}/{}",
            COLLECTIONS[rng.gen_range(0..COLLECTIONS.len())],
            random_tid(rng)
        );
        if seen.insert(key.clone()) {
            let cid = record_cid(out.len());
            out.push((key, cid));
        }
    }
    out
}

fn build(entries: &[(String, Cid)]) -> Mst {
    let none = BlockMap::new();
    let mut mst = Mst::new();
    for (k, v) in entries {
        mst.insert(&none, k, *v).expect("insert");
    }
    mst
}

fn benches(c: &mut Criterion) {
    let n = records();
    let mut rng = StdRng::seed_from_u64(7);
    let entries = dataset(&mut rng, n);

    let mut group = c.benchmark_group("mst");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));

    group.bench_function("mst_build", |b| b.iter(|| build(&entries).root_cid()));
    group.bench_function("mst_build_blocks", |b| {
        b.iter(|| build(&entries).write_out().1.len())
    });
    group.bench_function("mst_build_bulk", |b| {
        b.iter(|| {
            Mst::from_entries(entries.iter().map(|(k, v)| (k, *v)))
                .expect("bulk")
                .write_out()
                .1
                .len()
        })
    });

    // A persisted 100k tree.
    let mut store = MemoryBlockStore::new();
    let mut base = build(&entries);
    let (base_root, blocks) = base.write_out();
    eprintln!(
        "# {n} records: {} MST nodes, height {}",
        blocks.len(),
        base.height()
    );
    store.put_many(blocks).expect("put");

    // One-record insert: report how many blocks a commit writes.
    let new_keys: Vec<(String, Cid)> = dataset(&mut rng, 64);
    {
        let mut copy = base.clone();
        let (k, v) = &new_keys[0];
        copy.insert(&store, k, *v).expect("insert");
        let (_, new_blocks) = copy.write_out();
        eprintln!(
            "# one-record insert into {n}: {} new MST blocks",
            new_blocks.len()
        );
    }
    let mut i = 0;
    group.bench_function("mst_insert_one/warm", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % new_keys.len();
                (base.clone(), &new_keys[i])
            },
            |(mut tree, (k, v))| {
                tree.insert(&store, k, *v).expect("insert");
                tree.write_out()
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("mst_insert_one/cold", |b| {
        b.iter(|| {
            i = (i + 1) % new_keys.len();
            let (k, v) = &new_keys[i];
            let mut tree = Mst::load(&store, &base_root).expect("load");
            tree.insert(&store, k, *v).expect("insert");
            tree.write_out()
        })
    });

    // Two trees differing in ~1% of keys.
    let changes = (n / 100).max(3);
    let mut shuffled: Vec<&(String, Cid)> = entries.iter().collect();
    shuffled.shuffle(&mut rng);
    let extra = dataset(&mut rng, changes);
    let mut other = Mst::load(&store, &base_root).expect("load");
    for i in 0..changes {
        match i % 3 {
            0 => other.insert(&store, &extra[i].0, extra[i].1).map(drop),
            1 => other
                .insert(&store, &shuffled[i].0, record_cid(n + i))
                .map(drop),
            _ => other.remove(&store, &shuffled[i].0).map(drop),
        }
        .expect("change");
    }
    let (other_root, blocks) = other.write_out();
    store.put_many(blocks).expect("put");
    let d = diff(&store, &base_root, &other_root).expect("diff");
    eprintln!(
        "# diff of {n} trees, {changes} changes: {} ops, {} created / {} deleted nodes, {} inductive proof nodes, {} firehose nodes",
        d.record_ops.len(),
        d.created_nodes.len(),
        d.deleted_nodes.len(),
        d.inductive_proof_nodes.len(),
        d.firehose_node_cids().len()
    );
    group.bench_function("mst_diff_1pct", |b| {
        b.iter(|| {
            diff(&store, &base_root, &other_root)
                .expect("diff")
                .record_ops
                .len()
        })
    });
    group.finish();
}

criterion_group!(mst, benches);
criterion_main!(mst);
