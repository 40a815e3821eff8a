//! The MST test suite (`../shared/mst-test-suite`, 16,384 `mst-diff` cases over 128 CARs): for
//! every pair of trees, [`repo::mst::diff`] must produce exactly the expected `created_nodes`,
//! `deleted_nodes`, `record_ops`, `proof_nodes` and `inductive_proof_nodes` (checklist #45,
//! #54, #83), and the inversion check must rebuild the old root from the inductive proof.
//!
//! `firehose_cids` is skipped: upstream stores the string "TODO" instead of a CID list.
//!
//! The suite is located at `$MST_TEST_SUITE`, or `<workspace>/../shared/mst-test-suite`. If it
//! is absent the test prints a message and passes, except under CI (`CI` set), where it fails.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use data_model::{Cid, parse_cid};
use repo::blockstore::{BlockMap, BlockStore, MemoryBlockStore};
use repo::car::CarReader;
use repo::mst::{Diff, RecordOp, diff, verify_inversion};
use serde_json::Value;

fn suite_dir() -> PathBuf {
    match std::env::var_os("MST_TEST_SUITE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/mst-test-suite"),
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

/// Loads each CAR once: its root, and its blocks into the shared store.
struct Cars {
    dir: PathBuf,
    roots: HashMap<String, Cid>,
    store: MemoryBlockStore,
}

impl Cars {
    fn root(&mut self, rel: &str) -> Cid {
        if let Some(root) = self.roots.get(rel) {
            return *root;
        }
        let bytes = std::fs::read(self.dir.join(rel)).unwrap();
        let mut reader = CarReader::new(bytes.as_slice()).unwrap();
        let root = reader.roots()[0];
        let mut blocks = BlockMap::new();
        while let Some((cid, block)) = reader.next_block().unwrap() {
            blocks.insert(cid, block);
        }
        self.store.put_many(blocks).unwrap();
        self.roots.insert(rel.to_owned(), root);
        root
    }
}

fn cid_set(v: &Value) -> BTreeSet<Cid> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| parse_cid(c.as_str().unwrap()).unwrap())
        .collect()
}

fn opt_cid(v: &Value) -> Option<Cid> {
    v.as_str().map(|s| parse_cid(s).unwrap())
}

#[derive(Default)]
struct Counts {
    cases: usize,
    created: usize,
    deleted: usize,
    ops: usize,
    proof: usize,
    inductive: usize,
    inversions: usize,
}

fn check(cars: &mut Cars, case: &Value, name: &str, counts: &mut Counts) {
    assert_eq!(case["$type"], "mst-diff", "{name}");
    let a = cars.root(case["inputs"]["mst_a"].as_str().unwrap());
    let b = cars.root(case["inputs"]["mst_b"].as_str().unwrap());
    let results = &case["results"];
    let d: Diff = diff(&cars.store, &a, &b).unwrap_or_else(|e| panic!("{name}: {e}"));
    counts.cases += 1;

    if let Some(v) = results.get("created_nodes") {
        assert_eq!(d.created_nodes, cid_set(v), "{name}: created_nodes");
        counts.created += 1;
    }
    if let Some(v) = results.get("deleted_nodes") {
        assert_eq!(d.deleted_nodes, cid_set(v), "{name}: deleted_nodes");
        counts.deleted += 1;
    }
    if let Some(v) = results.get("record_ops") {
        let expected: Vec<RecordOp> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|op| RecordOp {
                path: op["rpath"].as_str().unwrap().to_owned(),
                old: opt_cid(&op["old_value"]),
                new: opt_cid(&op["new_value"]),
            })
            .collect();
        assert_eq!(d.record_ops, expected, "{name}: record_ops");
        counts.ops += 1;
    }
    if let Some(v) = results.get("proof_nodes") {
        assert_eq!(d.proof_nodes, cid_set(v), "{name}: proof_nodes");
        counts.proof += 1;
    }
    if let Some(v) = results.get("inductive_proof_nodes") {
        assert_eq!(
            d.inductive_proof_nodes,
            cid_set(v),
            "{name}: inductive_proof_nodes"
        );
        counts.inductive += 1;
    }
    // `firehose_cids` is "TODO" upstream (not a CID list), so there is nothing to compare.

    // The inversion check rebuilds tree A from tree B using only the inductive proof blocks.
    if !d.record_ops.is_empty() {
        let blocks = Diff::collect_blocks(&cars.store, &d.inductive_proof_nodes).unwrap();
        verify_inversion(&blocks, &b, &d.record_ops, &a)
            .unwrap_or_else(|e| panic!("{name}: inversion: {e}"));
        counts.inversions += 1;
    }
}

#[test]
fn mst_test_suite() {
    let dir = suite_dir();
    let tests = dir.join("tests");
    if !tests.is_dir() {
        let msg = format!(
            "MST test suite not found at {}; set MST_TEST_SUITE",
            dir.display()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        println!("{msg}");
        return;
    }
    let mut files = Vec::new();
    json_files(&tests, &mut files);
    let mut cars = Cars {
        dir: dir.clone(),
        roots: HashMap::new(),
        store: MemoryBlockStore::new(),
    };
    let mut counts = Counts::default();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let case: Value = serde_json::from_str(&text).unwrap();
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(path)
            .display()
            .to_string();
        check(&mut cars, &case, &name, &mut counts);
    }
    assert!(counts.cases > 0, "mst-test-suite: no cases");
    println!(
        "mst-test-suite/tests: {} cases ({} CARs): created_nodes {}, deleted_nodes {}, record_ops {}, \
         proof_nodes {}, inductive_proof_nodes {}, inversion checks {}",
        counts.cases,
        cars.roots.len(),
        counts.created,
        counts.deleted,
        counts.ops,
        counts.proof,
        counts.inductive,
        counts.inversions
    );
}
