//! Runs `pds::ports::testsuite_account_admin` (invite codes, invite switches, email search,
//! reserved keys) on a fresh SQLite database per case (checklist #99, #132).

use std::sync::Arc;

use pds::ports::testsuite_account_admin;
use store::SqliteStore;

#[tokio::test]
async fn account_admin_port_conformance_suite() {
    let cases = testsuite_account_admin::cases::<SqliteStore>();
    assert!(!cases.is_empty());
    for case in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("pds.sqlite"))
            .await
            .expect("open");
        println!("account admin port conformance: {}", case.name);
        (case.run)(Arc::new(store.clone())).await;
        store.close().await;
    }
    println!(
        "pds::ports::testsuite_account_admin on SQLite: {} cases",
        cases.len()
    );
}
