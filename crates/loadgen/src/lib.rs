//! Load driver for atproto PDS servers: runs the same closed-loop workloads against our relay
//! and the reference PDS (`@atproto/pds`) so their figures can be compared side by side.
//!
//! Workloads: [`create_records`] (one account per worker, a closed loop of
//! `com.atproto.repo.createRecord` per worker: throughput, latency percentiles, errors) and
//! [`get_repo`] (seed one repo through `applyWrites` batches, then time `com.atproto.sync.getRepo`
//! downloads). With a server pid, [`procfs`] adds the server's CPU time per operation and its
//! resident memory. Only loopback targets are accepted ([`xrpc::Xrpc::new`]): this is a
//! benchmark tool, not a load generator for other people's servers.
//!
//! The `loadgen` binary (`src/main.rs`) is the command line over this library; results come out
//! as JSON ([`serde_json`]) and as markdown ([`report`]).

pub mod car;
pub mod create_records;
pub mod duration;
pub mod get_repo;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod time;
pub mod xrpc;

/// Why a load run could not be carried out (per-request failures are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target URL is malformed or not a loopback address.
    #[error("invalid target URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setup call (account creation, seeding) failed, so the run cannot start.
    #[error("{what}: {message}")]
    Setup {
        /// What was being done.
        what: String,
        /// The server's answer or the transport error.
        message: String,
    },
    /// A measured download returned something that is not a CAR file.
    #[error("getRepo returned an invalid CAR: {0}")]
    Car(#[from] car::CarError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// A worker task panicked or was cancelled.
    #[error("worker task failed: {0}")]
    Join(String),
}
