//! The write path: create/put/delete/applyWrites, listing, the exported CAR verifying with the
//! repo engine against the key in the DID document, concurrent writers, swaps (checklist #38,
//! #50, #51, #60, #181, #184).

use std::sync::Arc;

use pds::ports::RepoStore;
use pds::{ApplyWrites, ErrorKind, ValidationStatus, Write, WriteOutcome};
use repo::repo::{VerifyOptions, verify_car};

use crate::harness::{
    create_account, create_post, expect_kind, json_value, nsid, post, rkey, test_pds,
};

#[tokio::test]
async fn write_list_and_export_verifies() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let posts = nsid("app.bsky.feed.post");
    let mut uris = Vec::new();
    for i in 0..7 {
        let r = create_post(&t.pds, &alice, &format!("post {i}"))
            .await
            .expect("create");
        assert_eq!(r.validation_status, Some(ValidationStatus::Valid));
        assert!(
            r.uri
                .as_str()
                .starts_with(&format!("at://{}/app.bsky.feed.post/", alice.did))
        );
        uris.push(r);
    }
    // Revs strictly increase and the head matches getLatestCommit (checklist #38, #60).
    assert!(uris.windows(2).all(|w| w[0].commit.rev < w[1].commit.rev));
    let latest = t
        .pds
        .get_latest_commit(&alice.did, None)
        .await
        .expect("latest");
    assert_eq!(latest.cid, uris[6].commit.cid);

    // Unknown collection, validate unset: accepted, status unknown (checklist #181).
    let custom = t
        .pds
        .put_record(
            &alice.auth,
            alice.repo(),
            nsid("com.example.thing"),
            rkey("self"),
            json_value(serde_json::json!({"x": 1})),
            None,
            None,
            None,
        )
        .await
        .expect("unknown collection");
    assert_eq!(custom.validation_status, Some(ValidationStatus::Unknown));
    let got = t
        .pds
        .get_record(
            &alice.repo(),
            &nsid("com.example.thing"),
            &rkey("self"),
            None,
            None,
        )
        .await
        .expect("get");
    assert_eq!(
        got.value.get("$type").and_then(|v| v.as_str()),
        Some("com.example.thing")
    );
    // validate=false: no status.
    let unvalidated = t
        .pds
        .create_record(
            &alice.auth,
            alice.repo(),
            nsid("com.example.thing"),
            None,
            json_value(serde_json::json!({"y": 2})),
            Some(false),
            None,
        )
        .await
        .expect("validate false");
    assert_eq!(unvalidated.validation_status, None);

    // Paging newest first, then reverse.
    let page1 = t
        .pds
        .list_records(&alice.repo(), &posts, Some(3), None, false, None)
        .await
        .expect("page 1");
    assert_eq!(page1.records.len(), 3);
    assert_eq!(page1.records[0].uri, uris[6].uri, "newest first");
    let page2 = t
        .pds
        .list_records(
            &alice.repo(),
            &posts,
            Some(3),
            page1.cursor.as_deref(),
            false,
            None,
        )
        .await
        .expect("page 2");
    let page3 = t
        .pds
        .list_records(
            &alice.repo(),
            &posts,
            Some(3),
            page2.cursor.as_deref(),
            false,
            None,
        )
        .await
        .expect("page 3");
    assert_eq!(page3.records.len(), 1);
    // As the reference: a non-empty page always has a cursor; the empty page after it has
    // none (checklist #128).
    let page4 = t
        .pds
        .list_records(
            &alice.repo(),
            &posts,
            Some(3),
            page3.cursor.as_deref(),
            false,
            None,
        )
        .await
        .expect("page 4");
    assert!(page4.records.is_empty());
    assert!(page4.cursor.is_none(), "the empty page has no cursor");
    let rev = t
        .pds
        .list_records(&alice.repo(), &posts, Some(100), None, true, None)
        .await
        .expect("reverse");
    assert_eq!(rev.records[0].uri, uris[0].uri);

    // Update and delete.
    let rk = rkey(uris[0].uri.rkey_str().expect("rkey"));
    let updated = t
        .pds
        .put_record(
            &alice.auth,
            alice.repo(),
            posts.clone(),
            rk.clone(),
            post("edited"),
            None,
            Some(Some(uris[0].cid)),
            None,
        )
        .await
        .expect("update with swap");
    let got = t
        .pds
        .get_record(&alice.repo(), &posts, &rk, None, None)
        .await
        .expect("get");
    assert_eq!(got.cid, updated.cid);
    assert_eq!(
        got.value.get("text").and_then(|v| v.as_str()),
        Some("edited")
    );
    let del = t
        .pds
        .delete_record(
            &alice.auth,
            alice.repo(),
            posts.clone(),
            rk.clone(),
            None,
            None,
        )
        .await
        .expect("delete");
    assert!(del.is_some());
    let again = t
        .pds
        .delete_record(
            &alice.auth,
            alice.repo(),
            posts.clone(),
            rk.clone(),
            None,
            None,
        )
        .await
        .expect("idempotent");
    assert!(again.is_none());
    expect_kind(
        t.pds
            .get_record(&alice.repo(), &posts, &rk, None, None)
            .await,
        ErrorKind::RecordNotFound,
        "deleted",
    );

    // The exported repository verifies against the DID document's key (checklist #50, #51).
    let car = t
        .pds
        .get_repo(&alice.did, None, None)
        .await
        .expect("getRepo");
    let doc = pds::PlcClient::resolve(&*t.plc, &alice.did)
        .await
        .expect("resolve")
        .expect("doc");
    let verified = verify_car(
        car.as_slice(),
        &VerifyOptions {
            key: Some(doc.signing_key().expect("key")),
            did: Some(alice.did.clone()),
            ..VerifyOptions::default()
        },
    )
    .expect("CAR verifies");
    assert!(verified.signature_checked);
    // Only reachable blocks remain stored (old commits and replaced MST nodes are deleted with
    // each commit); old record versions are kept (one update and one delete above).
    let stored = t
        .store
        .blocks_since(&alice.did, None)
        .await
        .expect("blocks");
    assert_eq!(
        stored.len() as u64,
        1 + verified.node_count + verified.record_count + 2,
        "commit + nodes + records + 2 old record versions"
    );
    assert_eq!(
        verified.commit_cid,
        t.pds
            .get_latest_commit(&alice.did, None)
            .await
            .expect("latest")
            .cid
    );
    assert_eq!(
        verified.record_count,
        6 + 2,
        "6 posts left + 2 custom records"
    );
    let desc = t
        .pds
        .describe_repo(&"alice.test".parse().expect("handle"))
        .await
        .expect("describe");
    assert_eq!(desc.collections, vec![posts, nsid("com.example.thing")]);
    assert!(desc.did_doc.is_some());
}

#[tokio::test]
async fn apply_writes_batch_and_swaps() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let posts = nsid("app.bsky.feed.post");
    let res = t
        .pds
        .apply_writes(
            &alice.auth,
            ApplyWrites {
                repo: alice.repo(),
                validate: Some(true),
                writes: vec![
                    Write::Create {
                        collection: posts.clone(),
                        rkey: Some(rkey("3kabcdefghijk")),
                        value: post("a"),
                    },
                    Write::Create {
                        collection: posts.clone(),
                        rkey: Some(rkey("3kabcdefghijl")),
                        value: post("b"),
                    },
                    Write::Put {
                        collection: nsid("app.bsky.actor.profile"),
                        rkey: rkey("self"),
                        value: json_value(serde_json::json!({"displayName": "Alice"})),
                        swap_record: Some(None),
                    },
                ],
                swap_commit: None,
            },
        )
        .await
        .expect("batch");
    assert_eq!(res.results.len(), 3);
    assert!(matches!(res.results[2], WriteOutcome::Create { .. }));
    let head = res.commit.cid;

    expect_kind(
        t.pds
            .create_record(
                &alice.auth,
                alice.repo(),
                posts.clone(),
                None,
                post("x"),
                None,
                Some(uris_dummy_cid()),
            )
            .await,
        ErrorKind::InvalidSwap,
        "stale swapCommit",
    );
    t.pds
        .create_record(
            &alice.auth,
            alice.repo(),
            posts.clone(),
            None,
            post("x"),
            None,
            Some(head),
        )
        .await
        .expect("fresh swapCommit");
    expect_kind(
        t.pds
            .apply_writes(
                &alice.auth,
                ApplyWrites {
                    repo: alice.repo(),
                    validate: None,
                    writes: vec![Write::Delete {
                        collection: posts.clone(),
                        rkey: rkey("3kabcdefghijk"),
                        swap_record: Some(uris_dummy_cid()),
                    }],
                    swap_commit: None,
                },
            )
            .await,
        ErrorKind::InvalidSwap,
        "swapRecord mismatch",
    );
    expect_kind(
        t.pds
            .put_record(
                &alice.auth,
                alice.repo(),
                nsid("app.bsky.actor.profile"),
                rkey("self"),
                json_value(serde_json::json!({})),
                None,
                Some(None),
                None,
            )
            .await,
        ErrorKind::InvalidSwap,
        "exists",
    );
    expect_kind(
        t.pds
            .create_record(
                &alice.auth,
                alice.repo(),
                posts.clone(),
                Some(rkey("3kabcdefghijk")),
                post("again"),
                None,
                None,
            )
            .await,
        ErrorKind::InvalidRequest,
        "create existing",
    );
    // None of the failed writes landed: the two batch posts and "x".
    let list = t
        .pds
        .list_records(&alice.repo(), &posts, None, None, false, None)
        .await
        .expect("list");
    assert_eq!(list.records.len(), 3);
}

fn uris_dummy_cid() -> data_model::Cid {
    data_model::cid_for_cbor(b"\xa0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_serialize_per_account_and_all_land() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let bob = create_account(&t, "bob").await;
    let per_task = 5;
    let tasks = 12;
    let mut handles = Vec::new();
    for i in 0..tasks {
        let pds = Arc::clone(&t.pds);
        let (auth, repo) = if i % 3 == 2 {
            (bob.auth.clone(), bob.repo())
        } else {
            (alice.auth.clone(), alice.repo())
        };
        handles.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for j in 0..per_task {
                let r = pds
                    .create_record(
                        &auth,
                        repo.clone(),
                        nsid("app.bsky.feed.post"),
                        None,
                        post(&format!("t{i} p{j}")),
                        None,
                        None,
                    )
                    .await
                    .expect("concurrent create");
                revs.push(r.commit.rev);
            }
            revs
        }));
    }
    for h in handles {
        let revs = h.await.expect("task");
        assert!(revs.windows(2).all(|w| w[0] < w[1]));
    }
    let count = |rows: usize| rows;
    let alice_n = t
        .pds
        .list_records(
            &alice.repo(),
            &nsid("app.bsky.feed.post"),
            Some(100),
            None,
            false,
            None,
        )
        .await
        .expect("list")
        .records
        .len();
    let bob_n = t
        .pds
        .list_records(
            &bob.repo(),
            &nsid("app.bsky.feed.post"),
            Some(100),
            None,
            false,
            None,
        )
        .await
        .expect("list")
        .records
        .len();
    assert_eq!(count(alice_n), 8 * per_task);
    assert_eq!(count(bob_n), 4 * per_task);
    // Both repositories still verify, and the event log is gap-free and ordered.
    for who in [&alice, &bob] {
        let car = t.pds.get_repo(&who.did, None, None).await.expect("getRepo");
        let v = verify_car(car.as_slice(), &VerifyOptions::default()).expect("verifies");
        assert_eq!(
            v.record_count as usize,
            if who.did == alice.did {
                8 * per_task
            } else {
                4 * per_task
            }
        );
    }
    let evs = t
        .pds
        .events()
        .events_after(0, 10_000)
        .await
        .expect("events");
    assert!(
        evs.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "gap-free seqs"
    );
    // Each account creation emits #identity, #account, #commit and #sync.
    assert_eq!(evs.len(), 2 * 4 + tasks * per_task);
}

#[tokio::test]
async fn cold_cache_write_fetches_blocks_on_demand() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    for i in 0..40 {
        create_post(&t.pds, &alice, &format!("p{i}"))
            .await
            .expect("create");
    }
    // A second Pds over the same database starts with an empty cache.
    let deps = pds::PdsDeps::from_store(
        Arc::new(t.store.clone()),
        Arc::new(object_store::memory::InMemory::new()),
        Arc::new(lexicon::Catalog::builder().build()),
        t.plc.clone(),
    );
    let second = pds::Pds::new(t.pds.config().clone(), deps);
    let r = create_post(&second, &alice, "cold")
        .await
        .expect("cold write");
    let car = second
        .get_repo(&alice.did, None, None)
        .await
        .expect("getRepo");
    let v = verify_car(car.as_slice(), &VerifyOptions::default()).expect("verifies");
    assert_eq!(v.commit_cid, r.commit.cid);
    assert_eq!(v.record_count, 41);
    // The first instance's cached head is now stale: its next write reloads and lands, and a
    // swapCommit naming the true head is honoured.
    let r2 = t
        .pds
        .create_record(
            &alice.auth,
            alice.repo(),
            nsid("app.bsky.feed.post"),
            None,
            post("warm again"),
            None,
            Some(r.commit.cid),
        )
        .await
        .expect("stale cache write");
    let latest = second
        .get_latest_commit(&alice.did, None)
        .await
        .expect("latest");
    assert_eq!(latest.cid, r2.commit.cid);
    let again = create_post(&second, &alice, "second again")
        .await
        .expect("second instance reloads too");
    let car = t
        .pds
        .get_repo(&alice.did, None, None)
        .await
        .expect("getRepo");
    let v = verify_car(car.as_slice(), &VerifyOptions::default()).expect("verifies");
    assert_eq!((v.commit_cid, v.record_count), (again.commit.cid, 43));
}

#[tokio::test]
async fn commit_event_body_matches_the_lexicon() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let first = t
        .pds
        .get_latest_commit(&alice.did, None)
        .await
        .expect("latest");
    let r = create_post(&t.pds, &alice, "hello firehose")
        .await
        .expect("create");
    let evs = t.pds.events().events_after(0, 100).await.expect("events");
    let last = evs.last().expect("an event");
    assert_eq!(last.kind, pds::ports::EventKind::Commit);
    let body = data_model::cbor::decode(&last.event).expect("DAG-CBOR body");
    let m = body.as_map().expect("map");
    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
    for k in [
        "repo", "commit", "rev", "since", "blocks", "ops", "rebase", "tooBig", "blobs", "time",
        "prevData",
    ] {
        assert!(keys.contains(&k), "missing {k}: {keys:?}");
    }
    assert!(!keys.contains(&"seq"), "seq is added by the streamer");
    assert_eq!(m["repo"].as_str(), Some(alice.did.as_str()));
    assert_eq!(m["commit"].as_link(), Some(&r.commit.cid));
    assert_eq!(m["rev"].as_str(), Some(r.commit.rev.as_str()));
    assert_eq!(m["since"].as_str(), Some(first.rev.as_str()));
    assert_eq!(m["rebase"], data_model::Value::Bool(false));
    assert_eq!(m["tooBig"], data_model::Value::Bool(false));
    let data_model::Value::List(ops) = &m["ops"] else {
        panic!("ops is a list")
    };
    assert_eq!(ops.len(), 1);
    assert_eq!(
        ops[0].get("action").and_then(|v| v.as_str()),
        Some("create")
    );
    assert_eq!(ops[0].get("cid").and_then(|v| v.as_link()), Some(&r.cid));
    assert!(ops[0].get("prev").is_none(), "creates carry no prev");
    let data_model::Value::Bytes(car) = &m["blocks"] else {
        panic!("blocks are bytes")
    };
    let mut reader = repo::car::CarReader::new(car.as_slice()).expect("CAR");
    assert_eq!(reader.roots(), &[r.commit.cid]);
    let mut cids = Vec::new();
    while let Some((cid, _)) = reader.next_block().expect("block") {
        cids.push(cid);
    }
    assert!(cids.contains(&r.commit.cid) && cids.contains(&r.cid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_concurrent_writes_keep_every_repository_valid() {
    let t = test_pds().await;
    let mut accounts = Vec::new();
    for name in ["ann", "ben", "cat"] {
        accounts.push(create_account(&t, name).await);
    }
    let posts = nsid("app.bsky.feed.post");
    let mut handles = Vec::new();
    for (i, a) in accounts.iter().enumerate() {
        for w in 0..2 {
            let pds = Arc::clone(&t.pds);
            let auth = a.auth.clone();
            let repo = a.repo();
            let posts = posts.clone();
            handles.push(tokio::spawn(async move {
                let mut live = Vec::new();
                for j in 0..12 {
                    let r = pds
                        .create_record(
                            &auth,
                            repo.clone(),
                            posts.clone(),
                            None,
                            post(&format!("{i}/{w}/{j}")),
                            None,
                            None,
                        )
                        .await
                        .expect("create");
                    live.push(rkey(r.uri.rkey_str().expect("rkey")));
                }
                for (j, rk) in live.iter().enumerate() {
                    match j % 4 {
                        0 => {
                            pds.delete_record(
                                &auth,
                                repo.clone(),
                                posts.clone(),
                                rk.clone(),
                                None,
                                None,
                            )
                            .await
                            .expect("delete");
                        }
                        1 | 2 => {
                            pds.put_record(
                                &auth,
                                repo.clone(),
                                posts.clone(),
                                rk.clone(),
                                post("edited"),
                                None,
                                None,
                                None,
                            )
                            .await
                            .expect("update");
                        }
                        _ => {}
                    }
                }
            }));
        }
    }
    for h in handles {
        h.await.expect("task");
    }
    for a in &accounts {
        let car = t.pds.get_repo(&a.did, None, None).await.expect("getRepo");
        let v = verify_car(car.as_slice(), &VerifyOptions::default()).expect("verifies");
        assert_eq!(v.record_count, 2 * 9, "24 created, 6 deleted");
        let listed = t
            .pds
            .list_records(&a.repo(), &posts, Some(100), None, false, None)
            .await
            .expect("list");
        assert_eq!(listed.records.len(), 18);
        for r in &listed.records {
            let rk = rkey(r.uri.rkey_str().expect("rkey"));
            let got = t
                .pds
                .get_record(&a.repo(), &posts, &rk, None, None)
                .await
                .expect("get");
            assert_eq!(got.cid, r.cid);
        }
        let stored = t.store.blocks_since(&a.did, None).await.expect("blocks");
        assert!(stored.len() as u64 >= 1 + v.node_count + v.record_count);
    }
    let evs = t
        .pds
        .events()
        .events_after(0, 100_000)
        .await
        .expect("events");
    assert!(evs.windows(2).all(|w| w[1].seq == w[0].seq + 1), "gap-free");
}
