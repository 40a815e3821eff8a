//! Integration tests for the `pds` use cases, run against the real SQLite store (a fresh
//! database per test), a local-filesystem object store, the vendored lexicons and the
//! in-memory PLC directory.

mod accounts;
mod activation;
mod bad_input;
mod blobs;
mod conformance_gaps;
mod email_tokens;
mod harness;
mod hostile_car;
mod listing;
mod migration;
mod records;
mod sync;
mod sync_stream;
mod throughput;
mod working_copy;
