//! `activateAccount` on an account that is already active: checked and announced again, as
//! the reference does (`#account`, `#identity`, `#sync` of the current head), so a client can
//! make relays re-read the identity and the repo state (checklist #89, #101, #104).

use pds::ports::EventKind;

use crate::harness::{create_account, test_pds};

#[tokio::test]
async fn activating_an_active_account_reannounces_it() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let before = t
        .pds
        .events()
        .latest_seq()
        .await
        .expect("latest")
        .expect("creation events");
    t.pds
        .activate_account(&alice.auth)
        .await
        .expect("activate an active account");
    let evs = t
        .pds
        .events()
        .events_after(before, 10)
        .await
        .expect("events");
    let kinds: Vec<EventKind> = evs.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Account, EventKind::Identity, EventKind::Sync]
    );
    assert!(evs.iter().all(|e| e.did == alice.did));
    let status = t.pds.get_repo_status(&alice.did).await.expect("status");
    assert!(status.active);
}
