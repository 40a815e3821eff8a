//! Commit v3 objects, signed and unsigned (see crate docs).
