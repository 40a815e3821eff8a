//! Repository benchmarks (criterion, small sample sizes): a one-record commit into a large
//! repository (time, plus the number of blocks it writes, printed once), full CAR export, and
//! CAR import with full verification.
//!
//! Size: `REPO_BENCH_RECORDS` records (default 100 000). Run with
//! `cargo bench -p repo --bench repo`; CI runs `-- --test` (each benchmark once).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crypto::{Curve, Keypair};
use data_model::Value;
use repo::blockstore::MemoryBlockStore;
use repo::repo::{Record, Repo, VerifyOptions, WriteOp, verify_car};
use syntax::{Did, RepoPath, Tid};

const COLLECTIONS: [&str; 4] = [
    "app.bsky.feed.like",
    "app.bsky.feed.post",
    "app.bsky.feed.repost",
    "app.bsky.graph.follow",
];

fn records() -> usize {
    std::env::var("REPO_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn did() -> Did {
    "did:plc:benchbenchbenchbenchbenc"
        .parse()
        .expect("valid DID")
}

fn rev(n: u64) -> Tid {
    Tid::new(1_700_000_000_000_000 + n, 1).expect("valid TID")
}

fn create(i: usize) -> WriteOp {
    let collection = COLLECTIONS[i % COLLECTIONS.len()];
    let mut m = BTreeMap::new();
    m.insert("$type".to_owned(), Value::String(collection.to_owned()));
    m.insert(
        "text".to_owned(),
        Value::String(format!("benchmark record {i}")),
    );
    m.insert(
        "createdAt".to_owned(),
        Value::String("2026-01-01T00:00:00.000Z".to_owned()),
    );
    let record = Record::from_value(&Value::Map(m)).expect("map record");
    // TID-like record keys: a time-ordered stream, as real repositories mostly are.
    let rkey = Tid::new(1_600_000_000_000_000 + (i as u64) * 1000, 0).expect("valid TID");
    let path: RepoPath = format!("{collection}/{rkey}").parse().expect("valid path");
    WriteOp::Create { path, record }
}

/// A repository with `n` records, written in commits of 10 000.
fn build(n: usize, key: &Keypair) -> Repo<MemoryBlockStore> {
    let mut repo = Repo::empty(MemoryBlockStore::new(), did());
    let mut r = 0;
    for start in (0..n).step_by(10_000) {
        r += 1;
        let writes: Vec<WriteOp> = (start..(start + 10_000).min(n)).map(create).collect();
        repo.commit(&writes, rev(r), key).expect("commit");
    }
    repo
}

fn benches(c: &mut Criterion) {
    let n = records();
    let key = Keypair::generate(Curve::K256);
    let mut repo = build(n, &key);
    let mut group = c.benchmark_group(format!("repo_{n}"));
    group.sample_size(10);

    let mut car = Vec::new();
    repo.export_car(&mut car).expect("export");
    eprintln!("CAR of {n} records: {} bytes", car.len());
    group.bench_function("car_export", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(car.len());
            repo.export_car(&mut out).expect("export");
            black_box(out.len())
        })
    });

    let opts = VerifyOptions {
        key: Some(key.public_key()),
        did: Some(did()),
        ..VerifyOptions::default()
    };
    group.bench_function("car_import_verify", |b| {
        b.iter(|| {
            let v = verify_car(car.as_slice(), &opts).expect("verify");
            black_box(v.record_count)
        })
    });
    // One-record commit: prepare (MST insert, write-out, diff with proofs), sign, persist.
    let mut i = n;
    let first = repo
        .commit(&[create(i)], rev(1_000_000), &key)
        .expect("commit");
    eprintln!(
        "one-record commit into {n} records: {} blocks written, {} blocks in the #commit",
        first.blocks.len(),
        first.firehose_blocks.len()
    );
    let mut r = 1_000_000;
    group.bench_function("one_record_commit", |b| {
        b.iter(|| {
            i += 1;
            r += 1;
            let data = repo.commit(&[create(i)], rev(r), &key).expect("commit");
            black_box(data.blocks.len())
        })
    });

    group.finish();
}

criterion_group!(repo_benches, benches);
criterion_main!(repo_benches);
