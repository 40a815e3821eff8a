//! Integration tests for the `store` crate: the `pds` port conformance suites run against
//! [`store::SqliteStore`], each case on a fresh database file in its own temporary directory.

mod account_admin;
mod auth_factor;
mod checkpoint;
mod conformance;
mod inline_reads;
mod oauth;
