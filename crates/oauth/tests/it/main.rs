//! Integration tests of the oauth crate, one module per source module.

mod client_metadata;
mod scope;
