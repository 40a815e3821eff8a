//! Block storage trait and in-memory implementation (see crate docs).
