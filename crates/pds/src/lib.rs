//! PDS use cases and the storage ports they consume (see [`ports`]).
//!
//! This crate knows no HTTP, axum or sqlx: the `relay` crate parses requests and maps
//! [`ports::StoreError`]-derived domain errors to XRPC; the `store` crate implements the ports.

pub mod ports;
