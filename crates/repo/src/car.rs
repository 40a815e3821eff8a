//! Streaming CAR v1 reader and writer (see crate docs).
