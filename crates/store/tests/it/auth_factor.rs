//! Runs `pds::ports::testsuite_auth_factor` (the email two-factor switch, checklist #129) on a
//! fresh SQLite database per case.

use pds::ports::testsuite_auth_factor;
use store::SqliteStore;

use crate::run_suite;

#[tokio::test]
async fn checklist_129_auth_factor_port_conformance_suite() {
    run_suite(
        "testsuite_auth_factor",
        testsuite_auth_factor::cases::<SqliteStore>(),
    )
    .await;
}
