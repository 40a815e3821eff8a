//! Integration tests of the firehose crate on the real SQLite store (a fresh database per
//! test): cursor rules, backfill/live cutover under concurrent writes, ConsumerTooSlow,
//! restart, retention and crawler scheduling (checklist #71-#80).

mod crawler;
mod cursors;
mod harness;
mod live;
mod restart;
