//! Integration tests for the data model: the shared atproto interop vectors (same across
//! implementations) and property tests.

mod props;
mod vectors;
