//! Runs every case of `pds::ports::testsuite` on a fresh SQLite database, and checks the
//! database-level settings the crate promises (WAL, foreign keys, reopen keeps data).

use pds::ports::testsuite;
use pds::ports::{AccountStore, EventStore};
use store::SqliteStore;

#[tokio::test]
async fn port_conformance_suite() {
    crate::run_suite("testsuite", testsuite::cases::<SqliteStore>()).await;
}

#[tokio::test]
async fn reopen_keeps_data_and_reapplies_no_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pds.sqlite");
    let store = SqliteStore::open(&path).await.expect("open");
    let seq = store
        .append_event(pds::ports::NewEvent {
            did: "did:plc:reopen".parse().expect("did"),
            kind: pds::ports::EventKind::Info,
            event: vec![1, 2, 3],
            created_at: 1,
        })
        .await
        .expect("append");
    store.close().await;
    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(store.latest_seq().await.expect("latest"), Some(seq));
    assert!(
        store
            .account(&"did:plc:nobody".parse().expect("did"))
            .await
            .expect("lookup")
            .is_none()
    );
    store.close().await;
}
