//! The repo engine: Merkle Search Tree, signed and unsigned commits, CAR files, diffs and
//! sync-1.1 proofs.
//!
//! # Layout
//! - [`blockstore`]: the [`BlockStore`](blockstore::BlockStore) trait this engine reads and
//!   writes blocks through, and an in-memory implementation.
//! - [`mst`]: the tree itself (nodes, insert/update/delete, ordered iteration), diffs between
//!   two roots, and proofs (record inclusion, sync-1.1 covering proofs, inversion check).
//! - [`car`]: streaming CAR v1 reader and writer.
//! - [`commit`]: commit v3 objects, unsigned and signed.
//! - [`repo`]: the repository as a whole: apply writes to produce a commit, export, and
//!   verify a repository from a CAR.
//!
//! **Architecture invariant:** no tokio, no sqlx, no I/O beyond `std::io::Read`/`Write`
//! passed in by the caller. Storage is reached only through [`blockstore::BlockStore`].

pub mod blockstore;
pub mod car;
pub mod commit;
pub mod mst;
pub mod repo;
