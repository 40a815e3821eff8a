//! Integration tests for the repo engine (vector-driven).

mod car;
mod commit;
mod commit_proofs;
mod repo_car;
mod repo_commit;
mod mst_interop;
mod mst_suite;
mod mst_props;
