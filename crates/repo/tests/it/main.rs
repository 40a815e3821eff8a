//! Integration tests for the repo engine (vector-driven).

mod car;
mod commit;
mod commit_proofs;
mod mst_interop;
mod mst_props;
mod mst_suite;
mod repo_car;
mod repo_commit;
