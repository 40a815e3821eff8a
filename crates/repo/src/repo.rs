//! The repository as a whole (see crate docs).
