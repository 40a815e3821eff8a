//! The Merkle Search Tree (see crate docs).
