//! Integration tests for the `pds` use cases, run against the real SQLite store.
