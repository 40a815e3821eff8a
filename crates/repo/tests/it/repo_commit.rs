//! Repository commits: writes, reads, rev ordering (checklist #38), deterministic tree shape
//! (#45, #46), firehose ops and inversion blocks (#54).

use std::collections::BTreeMap;

use crypto::{Curve, Keypair};
use data_model::{Cid, Value};
use repo::blockstore::MemoryBlockStore;
use repo::mst::{Mst, verify_inversion};
use repo::repo::{Record, Repo, RepoError, WriteOp};
use syntax::{Did, Nsid, RecordKey, RepoPath, Tid, TidClock};

pub(crate) const EMPTY_ROOT: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";

pub(crate) fn did() -> Did {
    "did:plc:ewvi7nxzyoun6zhxrhs64oiz".parse().unwrap()
}

pub(crate) fn record(collection: &str, i: usize) -> Record {
    let mut m = BTreeMap::new();
    m.insert("$type".to_owned(), Value::String(collection.to_owned()));
    m.insert(
        "text".to_owned(),
        Value::String(format!("record number {i}")),
    );
    m.insert("n".to_owned(), Value::Integer(i as i64));
    Record::from_value(&Value::Map(m)).unwrap()
}

pub(crate) fn path(collection: &str, i: usize) -> RepoPath {
    // Record keys that sort like TIDs: fixed-width, increasing.
    format!("{collection}/3k{i:011}").parse().unwrap()
}

pub(crate) const COLLECTIONS: [&str; 3] = [
    "app.bsky.feed.like",
    "app.bsky.feed.post",
    "app.bsky.graph.follow",
];

pub(crate) fn creates(range: std::ops::Range<usize>) -> Vec<WriteOp> {
    range
        .map(|i| {
            let c = COLLECTIONS[i % 3];
            WriteOp::Create {
                path: path(c, i),
                record: record(c, i),
            }
        })
        .collect()
}

/// Revs from a fixed base so tests are deterministic and strictly increasing.
pub(crate) fn rev(n: u64) -> Tid {
    Tid::new(1_700_000_000_000_000 + n, 7).unwrap()
}

/// A repo with `n` records written in batches of 100, one commit per batch.
pub(crate) fn build_repo(n: usize, key: &Keypair) -> Repo<MemoryBlockStore> {
    let (mut repo, _) = Repo::create(MemoryBlockStore::new(), did(), &[], rev(0), key).unwrap();
    for (r, start) in (1..).zip((0..n).step_by(100)) {
        repo.commit(&creates(start..(start + 100).min(n)), rev(r), key)
            .unwrap();
    }
    repo
}

#[test]
fn empty_repo_has_the_empty_root() {
    // checklist #46
    let key = Keypair::generate(Curve::K256);
    let (repo, data) = Repo::create(MemoryBlockStore::new(), did(), &[], rev(1), &key).unwrap();
    assert_eq!(data.data().to_string(), EMPTY_ROOT);
    assert_eq!(Mst::empty_root_cid().to_string(), EMPTY_ROOT);
    assert_eq!(repo.data().unwrap().to_string(), EMPTY_ROOT);
    assert_eq!(data.since, None);
    assert_eq!(data.prev_data, None);
    assert!(data.ops.is_empty());
    assert_eq!(data.commit.prev(), None);
    data.commit.verify(&key.public_key()).unwrap();
    assert!(repo.collections().unwrap().is_empty());
    // Reopen from the store at the head.
    let head = *repo.head_cid().unwrap();
    let reopened = Repo::open(repo.into_store(), &head).unwrap();
    assert_eq!(reopened.rev(), Some(&rev(1)));
}

#[test]
fn writes_reads_and_listing() {
    let key = Keypair::generate(Curve::P256);
    let mut repo = build_repo(300, &key);
    let post: Nsid = "app.bsky.feed.post".parse().unwrap();
    // get_record
    let rkey: RecordKey = path("app.bsky.feed.post", 4).rkey();
    let got = repo.get_record(&post, &rkey).unwrap().unwrap();
    assert_eq!(got, record("app.bsky.feed.post", 4));
    assert!(
        repo.get_record(&post, &"nope".parse().unwrap())
            .unwrap()
            .is_none()
    );
    // collections
    let cols: Vec<String> = repo
        .collections()
        .unwrap()
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(cols, COLLECTIONS);
    // list_records with pagination covers every record of the collection once, in order.
    let mut all = Vec::new();
    let mut after: Option<RecordKey> = None;
    loop {
        let page = repo.list_records(&post, after.as_ref(), 17).unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().0.clone());
        all.extend(page);
    }
    assert_eq!(all.len(), 100);
    assert!(all.windows(2).all(|w| w[0].0.as_str() < w[1].0.as_str()));
    // update + delete
    let p4 = path("app.bsky.feed.post", 4);
    let p7 = path("app.bsky.feed.post", 7);
    let new4 = record("app.bsky.feed.post", 10_004);
    let data = repo
        .commit(
            &[
                WriteOp::Update {
                    path: p4.clone(),
                    record: new4.clone(),
                },
                WriteOp::Delete { path: p7.clone() },
            ],
            rev(100),
            &key,
        )
        .unwrap();
    assert_eq!(data.ops.len(), 2);
    assert_eq!(data.ops[0].action(), Some("update"));
    assert_eq!(
        data.ops[0].old,
        Some(*record("app.bsky.feed.post", 4).cid())
    );
    assert_eq!(data.ops[0].new, Some(*new4.cid()));
    assert_eq!(data.ops[1].action(), Some("delete"));
    assert_eq!(data.ops[1].new, None);
    assert_eq!(repo.get_record_at(&p4).unwrap().unwrap(), new4);
    assert!(repo.get_record_at(&p7).unwrap().is_none());
    assert_eq!(repo.list_records(&post, None, 1000).unwrap().len(), 99);
}

#[test]
fn write_errors() {
    let key = Keypair::generate(Curve::K256);
    let mut repo = build_repo(10, &key);
    let head = *repo.head_cid().unwrap();
    let existing = path(COLLECTIONS[0], 0);
    let missing = path(COLLECTIONS[0], 999);
    let r = record(COLLECTIONS[0], 1);
    let cases: Vec<(&str, Vec<WriteOp>)> = vec![
        (
            "create existing",
            vec![WriteOp::Create {
                path: existing.clone(),
                record: r.clone(),
            }],
        ),
        (
            "update missing",
            vec![WriteOp::Update {
                path: missing.clone(),
                record: r.clone(),
            }],
        ),
        (
            "delete missing",
            vec![WriteOp::Delete {
                path: missing.clone(),
            }],
        ),
        (
            "duplicate path",
            vec![
                WriteOp::Create {
                    path: missing.clone(),
                    record: r.clone(),
                },
                WriteOp::Delete {
                    path: missing.clone(),
                },
            ],
        ),
    ];
    for (name, writes) in &cases {
        let err = repo.commit(writes, rev(1000), &key).unwrap_err();
        let ok = match *name {
            "create existing" => matches!(err, RepoError::RecordExists(_)),
            "update missing" | "delete missing" => matches!(err, RepoError::RecordNotFound(_)),
            _ => matches!(err, RepoError::DuplicatePath(_)),
        };
        assert!(ok, "{name}: {err:?}");
        assert_eq!(
            repo.head_cid(),
            Some(&head),
            "{name}: failed commit changed the head"
        );
    }
    // Records must be maps.
    assert!(matches!(
        Record::from_value(&Value::Integer(1)),
        Err(RepoError::InvalidRecord { .. })
    ));
    assert!(matches!(
        Record::from_cbor(vec![0x01]),
        Err(RepoError::InvalidRecord { .. })
    ));
    assert!(matches!(
        Record::from_cbor(vec![0xa1, 0x61]),
        Err(RepoError::InvalidRecord { .. })
    ));
}

#[test]
fn rev_must_increase() {
    // checklist #38
    let key = Keypair::generate(Curve::K256);
    let mut repo = build_repo(5, &key);
    let current = *repo.rev().unwrap();
    for bad in [current, rev(0)] {
        let err = repo.prepare_commit(&creates(5..6), bad).unwrap_err();
        assert!(matches!(err, RepoError::RevNotIncreasing { .. }), "{err:?}");
    }
    // A clock running an hour behind the current rev still produces a greater rev.
    let clock = TidClock::with_clock_id(3).unwrap();
    let ahead = Tid::new(syntax::Tid::now().timestamp_micros() + 3_600_000_000, 0).unwrap();
    repo.commit(&creates(5..6), ahead, &key).unwrap();
    let mut last = current.max(ahead);
    for i in 0..100 {
        let data = repo
            .apply_writes(&creates(6 + i..7 + i), &clock, &key)
            .unwrap();
        let next = *data.rev();
        assert!(next > last, "rev {next} not after {last}");
        last = next;
    }
}

#[test]
fn stale_prepared_commit_is_rejected() {
    let key = Keypair::generate(Curve::K256);
    let mut repo = build_repo(5, &key);
    let a = repo
        .prepare_commit(&creates(5..6), rev(500))
        .unwrap()
        .sign(&key);
    let b = repo
        .prepare_commit(&creates(6..7), rev(501))
        .unwrap()
        .sign(&key);
    repo.apply_commit(&a).unwrap();
    assert!(matches!(repo.apply_commit(&b), Err(RepoError::StaleCommit)));
}

#[test]
fn external_signature() {
    let key = Keypair::generate(Curve::P256);
    let mut repo = build_repo(5, &key);
    let prepared = repo.prepare_commit(&creates(5..8), rev(600)).unwrap();
    let unsigned_bytes = prepared.unsigned.encode();
    let sig = key.sign(&unsigned_bytes).to_vec();
    let other = Keypair::generate(Curve::P256);
    assert!(
        prepared
            .clone()
            .with_signature(sig.clone(), &other.public_key())
            .is_err()
    );
    let data = prepared.with_signature(sig, &key.public_key()).unwrap();
    repo.apply_commit(&data).unwrap();
    assert_eq!(repo.rev(), Some(&rev(600)));
}

#[test]
fn same_records_any_order_same_data_cid() {
    // checklist #45: shape depends only on the key/value set.
    let key = Keypair::generate(Curve::K256);
    let writes = creates(0..250);
    let mut roots = Vec::new();
    // All at once, reversed, interleaved in several commits, and with extra records deleted.
    let (_, a) = Repo::create(MemoryBlockStore::new(), did(), &writes, rev(1), &key).unwrap();
    roots.push(*a.data());
    let mut rev_writes = writes.clone();
    rev_writes.reverse();
    let (_, b) = Repo::create(MemoryBlockStore::new(), did(), &rev_writes, rev(1), &key).unwrap();
    roots.push(*b.data());
    let (mut repo, _) = Repo::create(MemoryBlockStore::new(), did(), &[], rev(1), &key).unwrap();
    let odd: Vec<WriteOp> = writes.iter().skip(1).step_by(2).cloned().collect();
    let even: Vec<WriteOp> = writes.iter().step_by(2).cloned().collect();
    repo.commit(&odd, rev(2), &key).unwrap();
    repo.commit(&creates(1000..1050), rev(3), &key).unwrap();
    repo.commit(&even, rev(4), &key).unwrap();
    let dels: Vec<WriteOp> = creates(1000..1050)
        .into_iter()
        .map(|w| WriteOp::Delete {
            path: w.path().clone(),
        })
        .collect();
    let c = repo.commit(&dels, rev(5), &key).unwrap();
    roots.push(*c.data());
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "{roots:?}");
    // Deleting everything returns to the empty root (checklist #46).
    let all_dels: Vec<WriteOp> = writes
        .iter()
        .map(|w| WriteOp::Delete {
            path: w.path().clone(),
        })
        .collect();
    let d = repo.commit(&all_dels, rev(6), &key).unwrap();
    assert_eq!(d.data().to_string(), EMPTY_ROOT);
}

#[test]
fn firehose_blocks_invert_to_prev_data() {
    // checklist #54: the #commit blocks alone suffice to invert the ops back to prevData.
    let key = Keypair::generate(Curve::K256);
    let mut repo = build_repo(400, &key);
    let batches: Vec<Vec<WriteOp>> = vec![
        creates(400..401),
        vec![WriteOp::Delete {
            path: path(COLLECTIONS[1], 1),
        }],
        vec![WriteOp::Update {
            path: path(COLLECTIONS[2], 2),
            record: record(COLLECTIONS[2], 5000),
        }],
        {
            let mut w = creates(401..420);
            w.push(WriteOp::Delete {
                path: path(COLLECTIONS[0], 3),
            });
            w.push(WriteOp::Update {
                path: path(COLLECTIONS[0], 6),
                record: record(COLLECTIONS[0], 6000),
            });
            w
        },
    ];
    for (i, writes) in batches.iter().enumerate() {
        let since = *repo.rev().unwrap();
        let prev_data = *repo.data().unwrap();
        let data = repo.commit(writes, rev(1000 + i as u64), &key).unwrap();
        assert_eq!(data.since, Some(since));
        assert_eq!(data.prev_data, Some(prev_data));
        assert!(data.firehose_blocks.contains(&data.cid));
        assert!(data.blocks.contains(&data.cid));
        for op in &data.ops {
            if let Some(new) = op.new {
                assert!(
                    data.firehose_blocks.contains(&new),
                    "record block missing from #commit"
                );
            }
        }
        verify_inversion(&data.firehose_blocks, data.data(), &data.ops, &prev_data).unwrap();
        // Fewer blocks than the whole repository.
        assert!(
            data.firehose_blocks.len() < 40,
            "{} blocks",
            data.firehose_blocks.len()
        );
    }
}

#[test]
fn record_cids_are_kept() {
    let key = Keypair::generate(Curve::K256);
    let repo = build_repo(20, &key);
    for i in 0..20 {
        let c = COLLECTIONS[i % 3];
        let cid: Cid = repo.get_record_cid(&path(c, i)).unwrap().unwrap();
        assert_eq!(&cid, record(c, i).cid());
    }
}
