//! Runs `pds::ports::testsuite_oauth` (the OAuth Authorization Server's state, checklist
//! sections O and P) on a fresh SQLite database per case.

use pds::ports::testsuite_oauth;
use store::SqliteStore;

use crate::run_suite;

#[tokio::test]
async fn oauth_port_conformance_suite() {
    run_suite("testsuite_oauth", testsuite_oauth::cases::<SqliteStore>()).await;
}
