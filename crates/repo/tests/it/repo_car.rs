//! Repository export and import: full CAR round trip (checklist #50, #51), block order (#53),
//! tolerance (#52), verification failures (#41, #47, #56), diff export (#55).

use std::collections::{HashMap, HashSet};

use crypto::{Curve, Keypair};
use data_model::{Cid, Value, cbor};
use repo::blockstore::{BlockMap, BlockStore, MemoryBlockStore};
use repo::car::{CarReader, write_car_to_vec};
use repo::commit::CommitError;
use repo::repo::{Repo, RepoError, VerifyOptions, WriteOp, verify_car, verify_store};

use crate::repo_commit::{COLLECTIONS, build_repo, creates, did, path, record, rev};

fn export(repo: &Repo<MemoryBlockStore>) -> Vec<u8> {
    let mut out = Vec::new();
    repo.export_car(&mut out).unwrap();
    out
}

fn read(car: &[u8]) -> (Vec<Cid>, Vec<(Cid, Vec<u8>)>) {
    let r = CarReader::new(car).unwrap();
    let roots = r.roots().to_vec();
    (roots, r.collect::<Result<Vec<_>, _>>().unwrap())
}

fn opts(key: &Keypair) -> VerifyOptions {
    VerifyOptions {
        key: Some(key.public_key()),
        did: Some(did()),
        ..VerifyOptions::default()
    }
}

fn rewrite(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    write_car_to_vec(roots, blocks.iter().map(|(c, b)| (c, b.as_slice()))).unwrap()
}

#[test]
fn export_import_round_trip() {
    let key = Keypair::generate(Curve::K256);
    let mut repo = build_repo(1000, &key);
    // Some updates and deletes so the tree is not just appends.
    let mut writes: Vec<WriteOp> = (0..50)
        .map(|i| WriteOp::Delete {
            path: path(COLLECTIONS[i % 3], i * 7),
        })
        .collect();
    writes.push(WriteOp::Update {
        path: path(COLLECTIONS[2], 2),
        record: record(COLLECTIONS[2], 9),
    });
    repo.commit(&writes, rev(10_000), &key).unwrap();

    let car = export(&repo);
    let verified = verify_car(car.as_slice(), &opts(&key)).unwrap();
    assert_eq!(&verified.commit_cid, repo.head_cid().unwrap());
    assert_eq!(verified.data(), repo.data().unwrap());
    assert_eq!(verified.rev(), repo.rev().unwrap());
    assert_eq!(verified.record_count, 950);
    assert_eq!(verified.collections.values().sum::<u64>(), 950);
    assert_eq!(verified.collections.len(), 3);
    assert!(verified.signature_checked);
    // The CAR holds exactly the used blocks: commit + nodes + distinct records.
    let (roots, blocks) = read(&car);
    assert_eq!(roots, vec![*repo.head_cid().unwrap()]);
    assert_eq!(blocks.len() as u64, verified.car_blocks);
    assert_eq!(verified.blocks.len(), blocks.len());

    // Import into a fresh store: same root, same records.
    let imported = Repo::import(MemoryBlockStore::new(), verified).unwrap();
    assert_eq!(imported.head_cid(), repo.head_cid());
    for i in 0..1000 {
        let p = path(COLLECTIONS[i % 3], i);
        assert_eq!(
            imported.get_record_at(&p).unwrap(),
            repo.get_record_at(&p).unwrap(),
            "{p}"
        );
    }
    // Re-export gives the identical CAR (deterministic order).
    assert_eq!(export(&imported), car);
    // And verify_store agrees.
    let (_, n) = verify_store(imported.store(), imported.head_cid().unwrap(), &opts(&key)).unwrap();
    assert_eq!(n, 950);
}

#[test]
fn export_block_order_is_streamable() {
    // checklist #53: commit first; every MST node before the blocks it links; records in key order.
    let key = Keypair::generate(Curve::P256);
    let repo = build_repo(300, &key);
    let (roots, blocks) = read(&export(&repo));
    assert_eq!(blocks[0].0, roots[0]);
    let position: HashMap<Cid, usize> = blocks
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (*c, i))
        .collect();
    assert_eq!(position.len(), blocks.len(), "no duplicate blocks");
    let commit = repo.head().unwrap();
    assert_eq!(
        position[commit.data()],
        1,
        "MST root right after the commit"
    );
    let mut record_order = Vec::new();
    for (i, (_, bytes)) in blocks.iter().enumerate().skip(1) {
        let v = cbor::decode(bytes).unwrap();
        let Some(Value::List(entries)) = v.get("e") else {
            record_order.push(i);
            continue;
        };
        let mut links: Vec<Cid> = v
            .get("l")
            .and_then(Value::as_link)
            .into_iter()
            .copied()
            .collect();
        for e in entries {
            links.extend(e.get("v").and_then(Value::as_link).copied());
            links.extend(e.get("t").and_then(Value::as_link).copied());
        }
        for l in links {
            assert!(
                position[&l] > i,
                "node at {i} links to a block written before it"
            );
        }
    }
    assert_eq!(record_order.len(), 300);
    // Records appear in key order (the values are distinct per key here).
    let cids_in_key_order: Vec<Cid> = {
        let mut keys: Vec<(String, Cid)> = (0..300)
            .map(|i| {
                (
                    path(COLLECTIONS[i % 3], i).to_string(),
                    *record(COLLECTIONS[i % 3], i).cid(),
                )
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, c)| c).collect()
    };
    let written: Vec<Cid> = record_order.iter().map(|&i| blocks[i].0).collect();
    assert_eq!(written, cids_in_key_order);
}

#[test]
fn tolerates_shuffled_duplicate_and_extra_blocks() {
    // checklist #52
    let key = Keypair::generate(Curve::K256);
    let repo = build_repo(200, &key);
    let (roots, mut blocks) = read(&export(&repo));
    let n = blocks.len();
    blocks.reverse();
    blocks.swap(3, n / 2);
    blocks.push(blocks[5].clone());
    blocks.push(blocks[0].clone());
    let extra = record("com.example.extra", 1);
    blocks.push((*extra.cid(), extra.bytes().to_vec()));
    let verified = verify_car(rewrite(&roots, &blocks).as_slice(), &opts(&key)).unwrap();
    assert_eq!(verified.record_count, 200);
    assert_eq!(verified.car_blocks as usize, n + 3);
    assert_eq!(
        verified.blocks.len(),
        n,
        "extras and duplicates are not kept"
    );
    assert!(!verified.blocks.contains(extra.cid()));
}

#[test]
fn verification_failures() {
    let key = Keypair::generate(Curve::K256);
    let repo = build_repo(120, &key);
    let (roots, blocks) = read(&export(&repo));
    let commit = repo.head().unwrap().clone();
    let record_cid = *record(COLLECTIONS[0], 0).cid();
    let without = |cid: &Cid| -> Vec<(Cid, Vec<u8>)> {
        blocks.iter().filter(|(c, _)| c != cid).cloned().collect()
    };
    let some_leaf_node = blocks
        .iter()
        .skip(2)
        .find(|(c, b)| c != commit.data() && cbor::decode(b).unwrap().get("e").is_some())
        .unwrap()
        .0;

    // Wrong key.
    let other = Keypair::generate(Curve::K256);
    let err = verify_car(rewrite(&roots, &blocks).as_slice(), &opts(&other)).unwrap_err();
    assert!(
        matches!(err, RepoError::Commit(CommitError::BadSignature(_))),
        "{err:?}"
    );
    // Wrong curve key.
    let p256 = Keypair::generate(Curve::P256);
    assert!(verify_car(rewrite(&roots, &blocks).as_slice(), &opts(&p256)).is_err());
    // Wrong DID (checklist #56).
    let o = VerifyOptions {
        did: Some("did:plc:someoneelse0000000000000".parse().unwrap()),
        ..opts(&key)
    };
    let err = verify_car(rewrite(&roots, &blocks).as_slice(), &o).unwrap_err();
    assert!(matches!(err, RepoError::DidMismatch { .. }), "{err:?}");
    // Missing record block (checklist #51).
    let err = verify_car(
        rewrite(&roots, &without(&record_cid)).as_slice(),
        &opts(&key),
    )
    .unwrap_err();
    assert!(
        matches!(err, RepoError::MissingRecord { cid, .. } if cid == record_cid),
        "{err:?}"
    );
    // Missing MST node.
    let err = verify_car(
        rewrite(&roots, &without(&some_leaf_node)).as_slice(),
        &opts(&key),
    )
    .unwrap_err();
    assert!(matches!(err, RepoError::Mst(_)), "{err:?}");
    // Missing commit block.
    let err = verify_car(rewrite(&roots, &without(&roots[0])).as_slice(), &opts(&key)).unwrap_err();
    assert!(
        matches!(err, RepoError::MissingBlock(c) if c == roots[0]),
        "{err:?}"
    );
    // No root.
    let err = verify_car(rewrite(&[], &blocks).as_slice(), &opts(&key)).unwrap_err();
    assert!(matches!(err, RepoError::NoRoot), "{err:?}");
    // Root that is not a commit (a record).
    let err = verify_car(rewrite(&[record_cid], &blocks).as_slice(), &opts(&key)).unwrap_err();
    assert!(matches!(err, RepoError::Commit(_)), "{err:?}");
    // Tampered commit: change rev, keep sig; re-hash so the CAR itself is consistent.
    let mut tampered = commit.clone();
    tampered.unsigned.rev = rev(99_999);
    let (tcid, tbytes) = tampered.to_block();
    let mut tblocks = without(&roots[0]);
    tblocks.insert(0, (tcid, tbytes));
    let err = verify_car(rewrite(&[tcid], &tblocks).as_slice(), &opts(&key)).unwrap_err();
    assert!(
        matches!(err, RepoError::Commit(CommitError::BadSignature(_))),
        "{err:?}"
    );
    // A record that is not a map.
    let bad = cbor::encode(&Value::Integer(5));
    let bad_cid = data_model::cid_for_cbor(&bad);
    // An MST pointing at a non-map record block.
    let mut mst = repo::mst::Mst::new();
    let none = BlockMap::new();
    mst.insert(&none, "app.bsky.feed.post/abc", bad_cid)
        .unwrap();
    let (root, nodes) = mst.write_out();
    let c = repo::commit::UnsignedCommit::new(did(), root, rev(2)).sign(&key);
    let (ccid, cbytes) = c.to_block();
    let mut store_blocks = vec![(ccid, cbytes)];
    store_blocks.extend(nodes);
    store_blocks.push((bad_cid, bad));
    let err = verify_car(rewrite(&[ccid], &store_blocks).as_slice(), &opts(&key)).unwrap_err();
    assert!(matches!(err, RepoError::InvalidRecord { .. }), "{err:?}");
}

#[test]
fn non_blessed_data_link_is_rejected() {
    // checklist #41: a commit whose data is a raw-codec CID.
    let key = Keypair::generate(Curve::K256);
    let raw = data_model::cid_for_raw(b"x");
    let c = repo::commit::UnsignedCommit::new(did(), raw, rev(1)).sign(&key);
    let (cid, bytes) = c.to_block();
    let car = write_car_to_vec(&[cid], [(&cid, bytes.as_slice())]).unwrap();
    let err = verify_car(car.as_slice(), &opts(&key)).unwrap_err();
    assert!(
        matches!(err, RepoError::Commit(CommitError::NotBlessed { .. })),
        "{err:?}"
    );
}

#[test]
fn misplaced_mst_key_is_rejected() {
    // checklist #47: a node whose keys are out of order fails import.
    let key = Keypair::generate(Curve::K256);
    let rec = record(COLLECTIONS[0], 0);
    // Hand-build a one-node tree with two keys in the wrong order (both at height 0 is not
    // guaranteed, but ordering is checked first either way).
    let mut w = cbor::Writer::new();
    w.map(2);
    w.text("e");
    w.array(2);
    for (k, p) in [("app.bsky.feed.post/b", 0u64), ("app.bsky.feed.post/a", 19)] {
        let suffix = &k.as_bytes()[p as usize..];
        w.map(4);
        w.text("k");
        w.bytes(suffix);
        w.text("p");
        w.uint(p);
        w.text("t");
        w.null();
        w.text("v");
        w.link(rec.cid());
    }
    w.text("l");
    w.null();
    let node = w.into_bytes();
    let node_cid = data_model::cid_for_cbor(&node);
    let c = repo::commit::UnsignedCommit::new(did(), node_cid, rev(1)).sign(&key);
    let (ccid, cbytes) = c.to_block();
    let blocks = vec![
        (ccid, cbytes),
        (node_cid, node),
        (*rec.cid(), rec.bytes().to_vec()),
    ];
    let err = verify_car(rewrite(&[ccid], &blocks).as_slice(), &opts(&key)).unwrap_err();
    assert!(matches!(err, RepoError::Mst(_)), "{err:?}");
}

#[test]
fn diff_export_since_rev() {
    // checklist #55: note the tree at rev1, make two writes, export the diff since then.
    let key = Keypair::generate(Curve::K256);
    let mut repo = build_repo(300, &key);
    let old_store = repo.store().clone();
    let since_data = *repo.data().unwrap();
    let created = repo.commit(&creates(300..301), rev(5000), &key).unwrap();
    let deleted = repo
        .commit(
            &[WriteOp::Delete {
                path: path(COLLECTIONS[0], 0),
            }],
            rev(5001),
            &key,
        )
        .unwrap();
    let mut out = Vec::new();
    let stats = repo.export_diff_car(&since_data, &mut out).unwrap();
    let (roots, blocks) = read(&out);
    assert_eq!(roots, vec![deleted.cid]);
    assert_eq!(blocks[0].0, deleted.cid);
    assert_eq!(stats.records, 1);
    let cids: HashSet<Cid> = blocks.iter().map(|(c, _)| *c).collect();
    assert!(
        cids.contains(&created.ops[0].new.unwrap()),
        "created record present"
    );
    assert!(
        !cids.contains(record(COLLECTIONS[0], 0).cid()),
        "deleted record absent"
    );
    assert!(cids.len() < 20, "{} blocks is not a diff", cids.len());
    // Importable on top of the old state: the old store plus the diff verifies completely.
    let mut store = old_store;
    store.put_many(blocks.into_iter().collect()).unwrap();
    let (commit, n) = verify_store(&store, &roots[0], &opts(&key)).unwrap();
    assert_eq!(n, 300);
    assert_eq!(commit.rev(), &rev(5001));
}

#[test]
fn empty_repo_round_trip() {
    let key = Keypair::generate(Curve::P256);
    let (repo, _) = Repo::create(MemoryBlockStore::new(), did(), &[], rev(1), &key).unwrap();
    let car = export(&repo);
    let v = verify_car(car.as_slice(), &opts(&key)).unwrap();
    assert_eq!(v.record_count, 0);
    assert_eq!(v.node_count, 1);
    assert_eq!(v.blocks.len(), 2);
    let imported = Repo::import(MemoryBlockStore::new(), v).unwrap();
    assert!(imported.collections().unwrap().is_empty());
}
