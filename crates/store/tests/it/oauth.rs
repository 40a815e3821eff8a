//! Runs `pds::ports::testsuite_oauth` (the OAuth Authorization Server's state, checklist
//! sections O and P) on a fresh SQLite database per case.

use std::sync::Arc;

use pds::ports::testsuite_oauth;
use store::SqliteStore;

#[tokio::test]
async fn oauth_port_conformance_suite() {
    let cases = testsuite_oauth::cases::<SqliteStore>();
    assert!(!cases.is_empty());
    for case in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("pds.sqlite"))
            .await
            .expect("open");
        println!("oauth port conformance: {}", case.name);
        (case.run)(Arc::new(store.clone())).await;
        store.close().await;
    }
    println!(
        "pds::ports::testsuite_oauth on SQLite: {} cases",
        cases.len()
    );
}
