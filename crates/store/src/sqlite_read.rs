//! Small reads on the write path's hot loop, run inline on the calling task's thread over
//! plain read-only SQLite connections of our own.
//!
//! sqlx runs every statement on the connection's worker thread and hands it over through a
//! channel: two thread switches per query, which on a 2-core machine cost more than a point
//! lookup itself. `perf` of the relay at 1,000 `createRecord`/s put sqlx's reader threads at
//! 17 % of the relay's CPU for two queries a write (the account row, and the firehose tailer's
//! read of the new events), nearly all of it in the kernel (futex wake-ups, context switches).
//! A point read of an indexed row from the page cache takes microseconds, so these few reads
//! run right where they are asked for, on connections opened by `rusqlite` (the same
//! `libsqlite3-sys` as sqlx), read-only, in WAL mode beside the writer like the reader pool.
//!
//! Only bounded reads come here (one row, or a page of at most [`INLINE_ROWS`] rows): they
//! never keep a runtime thread for long. Anything larger, and any read that finds the
//! database busy (another process holding a lock that WAL readers must wait for, which is
//! rare), goes to the sqlx reader pool instead, which waits off the runtime's threads. The
//! decision is `docs/decisions/0005-hot-reads-inline.md`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pds::ports::{StoreError, StoreResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// The largest page of rows read inline.
pub(crate) const INLINE_ROWS: usize = 256;

/// How long an inline read waits for a lock before giving up (and going to the sqlx pool).
const BUSY_WAIT: Duration = Duration::from_millis(20);

/// Idle connections kept.
const MAX_IDLE: usize = 4;

/// Statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 32;

/// What an inline read gave.
#[derive(Debug)]
pub(crate) enum Inline<T> {
    /// The read's result.
    Done(StoreResult<T>),
    /// The database was busy or a connection could not be opened: read through sqlx instead.
    Fallback,
}

/// A small pool of read-only connections for inline reads.
#[derive(Debug)]
pub(crate) struct InlineReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReaders {
    pub(crate) fn new(path: &Path) -> InlineReaders {
        InlineReaders {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(BUSY_WAIT)?;
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(c)
    }

    /// Runs `f` on an idle connection (opening one if none is idle).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Inline<T> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => match self.open() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open an inline read connection");
                    return Inline::Fallback;
                }
            },
        };
        let out = f(&conn);
        if let Ok(mut v) = self.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(conn);
        }
        match out {
            Err(e) if is_busy(&e) => Inline::Fallback,
            Err(e) => Inline::Done(Err(StoreError::backend(e))),
            Ok(v) => Inline::Done(Ok(v)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the held read connection is gone")]
struct ConnectionGone;

/// A connection taken from [`InlineReaders`] for longer than one closure (a repository
/// snapshot: a read transaction kept across the awaits of a streamed download). Dropping it
/// ends any transaction left open and returns the connection.
#[derive(Debug)]
pub(crate) struct HeldConn {
    readers: Arc<InlineReaders>,
    conn: Option<Connection>,
}

impl HeldConn {
    /// The connection (only `drop` takes it out, so it is always there).
    pub(crate) fn conn(&self) -> StoreResult<&Connection> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::backend(ConnectionGone))
    }
}

impl Drop for HeldConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return; // Unsure state: close it rather than reuse it.
        }
        if let Ok(mut v) = self.readers.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(conn);
        }
    }
}

impl InlineReaders {
    /// An idle connection (or a new one) to keep; `None` if none can be opened.
    pub(crate) fn take(self: &Arc<Self>) -> Option<HeldConn> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => match self.open() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open an inline read connection");
                    return None;
                }
            },
        };
        Some(HeldConn {
            readers: Arc::clone(self),
            conn: Some(conn),
        })
    }
}

/// Whether `e` says the database is locked by someone else.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_database_falls_back_and_a_bad_query_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let owner = Connection::open(&path).expect("open");
        owner
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);",
            )
            .expect("setup");
        let readers = InlineReaders::new(&path);
        let one = |c: &Connection| c.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0));
        assert!(matches!(readers.read(one), Inline::Done(Ok(1))));
        assert!(matches!(
            readers.read(|c| c.query_row("SELECT nope FROM t", [], |r| r.get::<_, i64>(0))),
            Inline::Done(Err(_))
        ));
        // Another process takes the file for itself (exclusive locking mode shuts WAL readers
        // out): the inline read gives up after its short wait, for the pool to wait instead.
        drop(readers);
        owner
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
            .expect("lock");
        let readers = InlineReaders::new(&path);
        assert!(matches!(readers.read(one), Inline::Fallback));
    }
}
