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
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Most connections open at once, idle or in use (each has its own page cache of up to
/// 2 MiB). Beyond it, reads go to the sqlx pool, which queues them: so many concurrent
/// downloads, say, cannot open a connection each.
const MAX_OPEN: usize = 16;

/// Statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 32;

/// What an inline read gave.
#[derive(Debug)]
pub(crate) enum Inline<T> {
    /// The read's result.
    Done(StoreResult<T>),
    /// The database was busy, every connection is in use, or one could not be opened: read
    /// through sqlx instead.
    Fallback,
}

/// A small pool of read-only connections for inline reads.
#[derive(Debug)]
pub(crate) struct InlineReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Connections open, idle or in use.
    open: AtomicUsize,
}

impl InlineReaders {
    pub(crate) fn new(path: &Path) -> InlineReaders {
        InlineReaders {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
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

    /// An idle connection, or a new one while fewer than [`MAX_OPEN`] are open.
    fn checkout(&self) -> Option<Connection> {
        if let Some(c) = self.idle.lock().ok().and_then(|mut v| v.pop()) {
            return Some(c);
        }
        let reserved = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_OPEN).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            return None;
        }
        match self.open() {
            Ok(c) => Some(c),
            Err(e) => {
                self.open.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(error = %e, "cannot open an inline read connection");
                None
            }
        }
    }

    /// Gives `conn` back (kept idle, or closed beyond [`MAX_IDLE`]).
    fn checkin(&self, conn: Connection) {
        if let Ok(mut v) = self.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(conn);
            return;
        }
        self.discard(conn);
    }

    fn discard(&self, conn: Connection) {
        drop(conn);
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Runs `f` on a connection of the pool.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Inline<T> {
        let Some(conn) = self.checkout() else {
            return Inline::Fallback;
        };
        let out = f(&conn);
        self.checkin(conn);
        match out {
            Err(e) if is_busy(&e) => Inline::Fallback,
            Err(e) => Inline::Done(Err(StoreError::backend(e))),
            Ok(v) => Inline::Done(Ok(v)),
        }
    }

    /// A connection to keep (see [`HeldConn`]); `None` when [`InlineReaders::read`] would
    /// fall back.
    pub(crate) fn take(self: &Arc<Self>) -> Option<HeldConn> {
        Some(HeldConn {
            conn: Some(self.checkout()?),
            readers: Arc::clone(self),
        })
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
            // Unsure state: close it rather than reuse it.
            self.readers.discard(conn);
            return;
        }
        self.readers.checkin(conn);
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

    #[test]
    fn at_most_max_open_connections_then_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        Connection::open(&path)
            .expect("open")
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);",
            )
            .expect("setup");
        let readers = Arc::new(InlineReaders::new(&path));
        let held: Vec<HeldConn> = (0..MAX_OPEN)
            .map(|_| readers.take().expect("under the cap"))
            .collect();
        assert!(readers.take().is_none(), "the cap is reached");
        let one = |c: &Connection| c.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0));
        assert!(matches!(readers.read(one), Inline::Fallback));
        // A held connection left inside a transaction is rolled back and reused.
        let mut held = held.into_iter();
        let first = held.next().expect("one");
        first
            .conn()
            .expect("conn")
            .execute_batch("BEGIN; SELECT * FROM t;")
            .expect("tx");
        drop(first);
        let again = readers.take().expect("the idle one");
        assert!(again.conn().expect("conn").is_autocommit());
        drop(again);
        drop(held);
        assert_eq!(
            readers.open.load(Ordering::Acquire),
            MAX_IDLE,
            "the rest closed"
        );
        assert!(matches!(readers.read(one), Inline::Done(Ok(1))));
    }
}
