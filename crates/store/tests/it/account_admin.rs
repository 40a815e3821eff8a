//! Runs `pds::ports::testsuite_account_admin` (invite codes, invite switches, email search,
//! reserved keys) on a fresh SQLite database per case (checklist #99, #132).

use pds::ports::testsuite_account_admin;
use store::SqliteStore;

use crate::run_suite;

#[tokio::test]
async fn account_admin_port_conformance_suite() {
    run_suite(
        "testsuite_account_admin",
        testsuite_account_admin::cases::<SqliteStore>(),
    )
    .await;
}
