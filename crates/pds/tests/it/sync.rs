//! Sync reads: getRecord proof CARs, getBlocks, getRepo since, listRepos paging (checklist
//! #55, #58, #59, #62).

use pds::ErrorKind;
use repo::car::CarReader;

use crate::harness::{create_account, expect_kind, nsid, post, rkey, test_pds};

fn car_blocks(car: &[u8]) -> (Vec<data_model::Cid>, Vec<data_model::Cid>) {
    let mut r = CarReader::new(car).expect("car header");
    let roots = r.roots().to_vec();
    let mut cids = Vec::new();
    while let Some((cid, _)) = r.next_block().expect("block") {
        cids.push(cid);
    }
    (roots, cids)
}

#[tokio::test]
async fn record_proof_blocks_and_since() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let first = t
        .pds
        .get_latest_commit(&alice.did, None)
        .await
        .expect("latest");
    let mut last = None;
    for i in 0..10 {
        last = Some(
            t.pds
                .put_record(
                    &alice.auth,
                    alice.repo(),
                    nsid("app.bsky.feed.post"),
                    rkey(&format!("3kabcdefghij{}", (b'a' + i) as char)),
                    post("p"),
                    None,
                    None,
                    None,
                )
                .await
                .expect("put"),
        );
    }
    let last = last.expect("wrote");
    let proof = t
        .pds
        .get_record_proof(
            &alice.did,
            &nsid("app.bsky.feed.post"),
            &rkey("3kabcdefghijc"),
            None,
        )
        .await
        .expect("proof");
    let (roots, cids) = car_blocks(&proof);
    assert_eq!(roots, vec![last.commit.cid]);
    assert_eq!(cids[0], last.commit.cid, "commit first");
    assert!(cids.len() >= 3, "commit, at least one node, the record");
    let absent = t
        .pds
        .get_record_proof(
            &alice.did,
            &nsid("app.bsky.feed.post"),
            &rkey("nothere"),
            None,
        )
        .await
        .expect("absence proof");
    let (_, absent_cids) = car_blocks(&absent);
    assert!(absent_cids.len() >= 2);

    let blocks = t
        .pds
        .get_blocks(&alice.did, &[last.commit.cid, last.cid], None)
        .await
        .expect("blocks");
    let (roots, cids) = car_blocks(&blocks);
    assert!(roots.is_empty());
    assert_eq!(cids.len(), 2);
    expect_kind(
        t.pds
            .get_blocks(&alice.did, &[data_model::cid_for_cbor(b"\xa0")], None)
            .await,
        ErrorKind::BlockNotFound,
        "missing",
    );

    let since = t
        .pds
        .get_repo(&alice.did, Some(&first.rev), None)
        .await
        .expect("since");
    let (roots, cids) = car_blocks(&since);
    assert_eq!(roots, vec![last.commit.cid]);
    assert_eq!(cids[0], last.commit.cid);
    assert!(cids.contains(&last.cid));
    let full = t.pds.get_repo(&alice.did, None, None).await.expect("full");
    assert!(
        car_blocks(&full).1.len() < cids.len() + 10,
        "full export has only reachable blocks"
    );
}

#[tokio::test]
async fn list_repos_pages() {
    let t = test_pds().await;
    let mut created = Vec::new();
    for name in ["carol", "alice", "bob"] {
        created.push(create_account(&t, name).await.did);
        // Distinct creation times, so the order is the creation order, not the DID tie-break.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = t
            .pds
            .list_repos(Some(1), cursor.as_deref())
            .await
            .expect("page");
        seen.extend(page.repos.iter().map(|r| r.did.clone()));
        assert!(page.repos.iter().all(|r| r.active));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(seen.len() <= 3);
    }
    assert_eq!(seen, created, "creation order");
    expect_kind(
        t.pds.list_repos(None, Some("not a did")).await,
        ErrorKind::InvalidRequest,
        "cursor",
    );
}
