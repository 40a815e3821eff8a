//! The cached working copy of a repository across its periodic reopen: writes on both sides of
//! the reopen land, the repository stays valid and complete, and no write is lost or doubled.

use pds::{ApplyWrites, Write};
use repo::repo::{VerifyOptions, verify_car};

use crate::harness::{create_account, nsid, post, test_pds};

/// More commits than `REOPEN_AFTER_COMMITS` (1024), so the working copy is reopened from the
/// stored head at least once mid-run.
const COMMITS: u64 = 1100;

#[tokio::test]
async fn writes_across_the_working_copy_reopen_all_land_and_verify() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let mut last = None;
    for i in 0..COMMITS {
        let r = t
            .pds
            .apply_writes(
                &alice.auth,
                ApplyWrites {
                    repo: alice.repo(),
                    validate: None,
                    writes: vec![Write::Create {
                        collection: nsid("app.bsky.feed.post"),
                        rkey: None,
                        value: post(&format!("p{i}")),
                    }],
                    swap_commit: last,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("commit {i}: {e}"));
        // swapCommit on every write: each commit builds on exactly the previous one, across
        // the reopen too.
        last = Some(r.commit.cid);
    }
    let car = t
        .pds
        .get_repo(&alice.did, None, None)
        .await
        .expect("getRepo");
    let v = verify_car(car.as_slice(), &VerifyOptions::default()).expect("verifies");
    assert_eq!(Some(v.commit_cid), last);
    assert_eq!(v.record_count, COMMITS);
}
