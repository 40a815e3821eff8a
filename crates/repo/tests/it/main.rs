//! Integration tests for the repo engine (vector-driven).

mod car;
mod commit;
mod commit_proofs;
