//! SQLite implementations of the storage ports owned by the `pds` crate
//! ([`pds::ports`]), and the schema migrations (`migrations/sqlite/` at the workspace root,
//! embedded at compile time and applied by [`SqliteStore::open`]).
//!
//! # Connection layout
//! One database file in WAL mode, reached through two pools:
//! - a **writer** pool of exactly one connection, so write transactions serialize in process
//!   order without `SQLITE_BUSY` retries (the `pds` crate still takes a per-account lock so
//!   that repo work for one account is serialized before it reaches the store);
//! - a **reader** pool of several read-only connections; WAL lets them run beside the writer
//!   and see every committed transaction.
//!
//! Repository commits go through a **group-commit** queue: a writer thread applies the commits
//! that queued up while it was busy in one transaction, each in its own savepoint (so a
//! failing one rolls back alone), and answers each caller after the transaction is durable.
//! It runs the statements itself on the writer connection's raw handle (`sqlite_commit.rs`)
//! and takes that connection from the writer pool through the tokio runtime, so
//! [`SqliteStore::open`] must run inside one.
//!
//! Foreign keys are on (deleting an account cascades to everything it owns), `synchronous =
//! NORMAL` (a committed transaction survives a process crash such as SIGKILL; a power loss may
//! lose the transactions committed since the last checkpoint, never corrupt the file: the
//! usual WAL setting for servers), the WAL is checkpointed by a background task off the write
//! path (`checkpoint.rs`), and a busy
//! timeout covers other processes holding the file (backups, the sqlite3 shell).
//!
//! # Migrations
//! `0001_init.sql` (schema, with a comment per table), `0002_firehose.sql` (retention
//! watermark), `0003_write_path_indexes.sql` (drops indexes the write path paid for on every
//! commit), `0004_email_tokens.sql` (emailed one-time codes, hashed; email confirmation time),
//! `0005_invites_and_reserved_keys.sql` (invite codes and their uses, reserved signing keys),
//! `0008_email_auth_factor.sql` (the email sign-in code switch; 0006 and 0007 were never
//! used, and versions only need to increase), `0010_oauth.sql` (the OAuth Authorization Server's
//! requests, PKCE challenges, codes and sessions). Never edit an applied migration; `build.rs`
//! makes cargo re-embed the folder when a file changes.
//!
//! This crate is the only one that knows sqlx. It holds no domain logic: every method is one
//! statement or one transaction implementing the contract documented on its port trait, and it
//! never sees a secret in clear.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod checkpoint;
pub use checkpoint::CheckpointOptions;
mod sqlite;
mod sqlite_account_admin;
mod sqlite_auth_factor;
mod sqlite_commit;
mod sqlite_email;
mod sqlite_oauth;
mod sqlite_read;
mod sqlite_stream;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Connecting failed (bad path, permissions, not a database).
    #[error("cannot open SQLite database {path}: {source}")]
    Connect {
        /// The database file.
        path: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the migrations failed.
    #[error("cannot migrate SQLite database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Pool sizes and timeouts for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections (at least 1).
    pub readers: u32,
    /// How long a statement waits for a lock held by another process.
    pub busy_timeout: Duration,
    /// When the background WAL checkpointer runs.
    pub checkpoint: CheckpointOptions,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            readers: 4,
            busy_timeout: Duration::from_secs(10),
            checkpoint: CheckpointOptions::default(),
        }
    }
}

/// The SQLite database: implements every `pds` storage port ([`pds::ports::AccountStore`],
/// [`pds::ports::RepoStore`], [`pds::ports::BlobMetaStore`], [`pds::ports::PreferenceStore`],
/// [`pds::ports::EventStore`]). Cheap to clone (pools are shared handles).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    commits: sqlite::CommitQueue,
    /// Read-only connections for the few small reads made inline (`sqlite_read.rs`).
    inline: std::sync::Arc<sqlite_read::InlineReaders>,
    /// Stops the WAL checkpointer (`checkpoint.rs`) on [`SqliteStore::close`] or when the
    /// last clone is dropped.
    checkpointer: std::sync::Arc<checkpoint::Checkpointer>,
}

/// The embedded migrations (`migrations/sqlite/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` with default options, applies
    /// pending migrations and starts the commit writer task on the current tokio runtime.
    pub async fn open(path: &Path) -> Result<SqliteStore, OpenError> {
        SqliteStore::open_with(path, &SqliteOptions::default()).await
    }

    /// Opens the database with explicit options (see [`SqliteStore::open`]).
    pub async fn open_with(path: &Path, opts: &SqliteOptions) -> Result<SqliteStore, OpenError> {
        let connect_err = |source| OpenError::Connect {
            path: path.display().to_string(),
            source,
        };
        let base = SqliteConnectOptions::from_str("sqlite://")
            .map_err(connect_err)?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(opts.busy_timeout)
            // Savepoint journals (group commit) and sort scratch stay in memory.
            .pragma("temp_store", "memory");
        // The writer never checkpoints by itself: the checkpointer task does, mostly off the
        // write path (`checkpoint.rs`). An emptied WAL file is cut back to 64 MiB.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("journal_size_limit", "67108864"),
            )
            .await
            .map_err(connect_err)?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(opts.readers.max(1))
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(connect_err)?;
        let commits = sqlite::CommitQueue::start(write.clone());
        let checkpointer = checkpoint::Checkpointer::start(base, write.clone(), opts.checkpoint);
        Ok(SqliteStore {
            write,
            read,
            commits,
            inline: std::sync::Arc::new(sqlite_read::InlineReaders::new(path)),
            checkpointer: std::sync::Arc::new(checkpointer),
        })
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.checkpointer.stop().await;
        self.read.close().await;
        self.write.close().await;
    }
}
