//! Integration tests for the identity crate: the did:plc audit-log vectors (same across
//! implementations), operation round trips through [`identity::PlcLog`], DID documents, did:web
//! and the handle-resolution core.

mod did_doc;
mod did_web;
mod handle;
mod plc_roundtrip;
mod plc_vectors;
