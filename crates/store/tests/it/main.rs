//! Integration tests for the `store` crate: the `pds` port conformance suites run against
//! [`store::SqliteStore`], each case on a fresh database file in its own temporary directory.

mod account_admin;
mod auth_factor;
mod checkpoint;
mod conformance;
mod inline_reads;
mod oauth;

use std::sync::Arc;

use pds::ports::testsuite::Case;
use store::SqliteStore;

/// Runs every case of one port conformance suite, each on a fresh database in its own
/// temporary directory, and prints what ran.
pub(crate) async fn run_suite(suite: &str, cases: Vec<Case<SqliteStore>>) {
    assert!(!cases.is_empty(), "{suite}: no cases");
    for case in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("pds.sqlite"))
            .await
            .expect("open");
        println!("{suite}: {}", case.name);
        (case.run)(Arc::new(store.clone())).await;
        store.close().await;
    }
    println!("pds::ports::{suite} on SQLite: {} cases", cases.len());
}
