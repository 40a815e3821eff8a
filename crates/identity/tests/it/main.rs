//! Integration tests for the identity crate: the did:plc audit-log vectors (same across
//! implementations), operation round trips through [`identity::PlcLog`], DID documents, did:web
//! and the handle-resolution core.

mod plc_vectors;
