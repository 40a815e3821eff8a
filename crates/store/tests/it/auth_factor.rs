//! Runs `pds::ports::testsuite_auth_factor` (the email two-factor switch, checklist #129) on a
//! fresh SQLite database per case.

use std::sync::Arc;

use pds::ports::testsuite_auth_factor;
use store::SqliteStore;

#[tokio::test]
async fn checklist_129_auth_factor_port_conformance_suite() {
    let cases = testsuite_auth_factor::cases::<SqliteStore>();
    assert!(!cases.is_empty());
    for case in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("pds.sqlite"))
            .await
            .expect("open");
        println!("auth factor port conformance: {}", case.name);
        (case.run)(Arc::new(store.clone())).await;
        store.close().await;
    }
    println!(
        "pds::ports::testsuite_auth_factor on SQLite: {} cases",
        cases.len()
    );
}
