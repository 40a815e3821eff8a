//! The repository commit path as plain synchronous SQLite calls on the writer connection's own
//! handle.
//!
//! sqlx runs every statement on a worker thread per connection and hands each one over through
//! a channel: a commit of ten statements costs twenty thread wake-ups. `perf` of the relay at
//! 1,000 `createRecord`/s put those hand-offs (futex wakes, context switches, the tokio side
//! waking again) at about 45 % of the write path's CPU on a 2-core VM, more than SQLite's own
//! work. So the statements of a commit (and of a whole group of commits) run here, in one go,
//! on the same connection: [`with_raw`] takes sqlx's lock on the connection (one hand-off,
//! during which sqlx's worker does nothing with it), wraps the raw `sqlite3*` in a non-owning
//! `rusqlite::Connection` (rusqlite is built on the same `libsqlite3-sys` as sqlx), and runs a
//! closure. Nothing else changes: still one writer connection, the same transactions, the same
//! statements. The group-commit writer (`sqlite.rs`) is a thread of its own that keeps the
//! handle for as long as commits keep arriving (at most 20 ms at a time), so its synchronous
//! SQLite work never blocks a runtime thread and its statements stay prepared across groups;
//! the other callers (account creation, repository import, event appends) run a short closure
//! inside their own sqlx transaction. The decision and its safety argument are in
//! `docs/decisions/0003-commit-path-on-the-raw-sqlite-handle.md`.

use std::collections::BTreeSet;

use data_model::Cid;
use pds::ports::{
    CommitApplied, CommitWrite, Conflict, NewEvent, RecordChange, RepoReplace, Seq, StoreError,
    StoreResult,
};
use repo::blockstore::BlockMap;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use sqlx::SqliteConnection;

use crate::sqlite::parse_cid;

/// A SQLite error from the raw handle as a backend [`StoreError`].
pub(crate) fn raw_db(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

/// A unique-constraint violation as its [`Conflict`] (`crate::sqlite::unique_conflict`),
/// anything else as a backend error.
pub(crate) fn map_unique(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e
        && f.code == ErrorCode::ConstraintViolation
        && matches!(
            f.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
        && let Some(c) = crate::sqlite::unique_conflict(msg)
    {
        return StoreError::Conflict(c);
    }
    raw_db(e)
}

fn constraint(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            Some(f.extended_code)
        }
        _ => None,
    }
}

/// Runs `f` on `conn`'s SQLite handle, synchronously, while sqlx's worker for that connection
/// is parked (see the module docs). Whatever transaction state `f` leaves is the connection's:
/// `f` runs inside a transaction the caller opened through sqlx, or opens and ends its own
/// ([`in_transaction`]).
pub(crate) async fn with_raw<T>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut locked = conn.lock_handle().await.map_err(crate::sqlite::db)?;
    let handle = locked.as_raw_handle().as_ptr();
    // SAFETY: `handle` is the open `sqlite3*` of this sqlx connection, and `locked` guarantees
    // that sqlx's worker thread makes no call on it or its statements until `locked` is
    // dropped, which happens after `raw`. `from_handle` makes a non-owning connection: its
    // drop finalizes only the statements it prepared and never closes the handle. The handle
    // was opened by sqlx in serialized threading mode, so using it from this thread is sound.
    #[allow(unsafe_code)]
    let raw = unsafe { Connection::from_handle(handle) }.map_err(raw_db)?;
    let out = f(&raw);
    drop(raw);
    drop(locked);
    out
}

/// `BEGIN IMMEDIATE`, `f`, then `COMMIT`; on any error `ROLLBACK` (the connection is never
/// left inside a transaction).
pub(crate) fn in_transaction<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    c.execute_batch("BEGIN IMMEDIATE").map_err(raw_db)?;
    let out = f(c).and_then(|v| c.execute_batch("COMMIT").map(|()| v).map_err(raw_db));
    if out.is_err() && !c.is_autocommit() {
        // The original error is what matters; a failed rollback leaves nothing more to do
        // (SQLite rolls back on its own when it cannot).
        let _ = c.execute_batch("ROLLBACK");
    }
    out
}

/// Runs `f` in a savepoint of the current transaction: released on success, rolled back on
/// error (the outer transaction goes on). `Err` only when the savepoint itself fails.
pub(crate) fn in_savepoint<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<StoreResult<T>> {
    c.execute_batch("SAVEPOINT commit_job").map_err(raw_db)?;
    let out = f(c);
    if out.is_ok() {
        c.execute_batch("RELEASE commit_job").map_err(raw_db)?;
    } else {
        c.execute_batch("ROLLBACK TO commit_job; RELEASE commit_job")
            .map_err(raw_db)?;
    }
    Ok(out)
}

/// Appends an event to the log; its `seq`.
pub(crate) fn insert_event(c: &Connection, event: &NewEvent) -> StoreResult<Seq> {
    c.prepare_cached(
        "INSERT INTO repo_seq (did, kind, event, created_at) VALUES (?, ?, ?, ?) RETURNING seq",
    )
    .and_then(|mut s| {
        s.query_row(
            params![
                event.did.as_str(),
                event.kind.as_str(),
                event.event.as_slice(),
                event.created_at
            ],
            |r| r.get::<_, i64>(0),
        )
    })
    .map_err(raw_db)
}

fn account_exists(c: &Connection, did: &str) -> StoreResult<bool> {
    c.prepare_cached("SELECT 1 FROM account WHERE did = ?")
        .and_then(|mut s| s.query_row([did], |_| Ok(())).optional())
        .map(|row| row.is_some())
        .map_err(raw_db)
}

/// Moves the account's head from `prev` to `cid` (compare-and-swap); `NotFound` without an
/// account, `Conflict(HeadMoved)` if the head is not `prev`.
fn swap_root(
    c: &Connection,
    did: &str,
    prev: Option<&Cid>,
    cid: &Cid,
    rev: &str,
    now: i64,
) -> StoreResult<()> {
    let cid = cid.to_string();
    match prev {
        None => {
            let res = c
                .prepare_cached(
                    "INSERT INTO repo_root (did, cid, rev, indexed_at) VALUES (?, ?, ?, ?)",
                )
                .and_then(|mut s| s.execute(params![did, cid, rev, now]));
            match res {
                Ok(_) => Ok(()),
                Err(e) => match constraint(&e) {
                    Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => Err(StoreError::NotFound),
                    Some(
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
                    ) => Err(StoreError::Conflict(Conflict::HeadMoved)),
                    _ => Err(raw_db(e)),
                },
            }
        }
        Some(prev) => {
            // Compare-and-swap in one statement; only a failure needs a second look.
            let changed = c
                .prepare_cached(
                    "UPDATE repo_root SET cid = ?, rev = ?, indexed_at = ? \
                     WHERE did = ? AND cid = ?",
                )
                .and_then(|mut s| s.execute(params![cid, rev, now, did, prev.to_string()]))
                .map_err(raw_db)?;
            if changed == 0 {
                if !account_exists(c, did)? {
                    return Err(StoreError::NotFound);
                }
                return Err(StoreError::Conflict(Conflict::HeadMoved));
            }
            Ok(())
        }
    }
}

/// Stores blocks (an existing CID is kept as it is).
fn insert_blocks(c: &Connection, did: &str, rev: &str, blocks: &BlockMap) -> StoreResult<()> {
    let mut s = c
        .prepare_cached(
            "INSERT OR IGNORE INTO repo_block (did, cid, rev, bytes) VALUES (?, ?, ?, ?)",
        )
        .map_err(raw_db)?;
    for (cid, bytes) in blocks.iter() {
        s.execute(params![did, cid.to_string(), rev, bytes])
            .map_err(raw_db)?;
    }
    Ok(())
}

/// Deletes `removed` blocks of the account, keeping any in `keep`.
fn delete_blocks(c: &Connection, did: &str, removed: &[Cid], keep: &BlockMap) -> StoreResult<()> {
    let mut s = c
        .prepare_cached("DELETE FROM repo_block WHERE did = ? AND cid = ?")
        .map_err(raw_db)?;
    for cid in removed.iter().filter(|c| !keep.contains(c)) {
        s.execute(params![did, cid.to_string()]).map_err(raw_db)?;
    }
    Ok(())
}

/// Deletes the metadata of each blob in `dropped` that no record references any more; the
/// ones deleted (their bytes are the caller's to delete).
fn delete_orphaned_blobs(
    c: &Connection,
    did: &str,
    dropped: BTreeSet<String>,
) -> StoreResult<Vec<Cid>> {
    let mut s = c
        .prepare_cached(
            "DELETE FROM blob WHERE did = ? AND cid = ? AND NOT EXISTS \
             (SELECT 1 FROM record_blob WHERE did = blob.did AND blob_cid = blob.cid)",
        )
        .map_err(raw_db)?;
    let mut orphaned = Vec::new();
    for blob in dropped {
        if s.execute(params![did, blob]).map_err(raw_db)? > 0 {
            orphaned.push(parse_cid(&blob)?);
        }
    }
    Ok(orphaned)
}

/// [`pds::ports::RepoStore::apply_commit`]'s statements, inside the caller's transaction.
pub(crate) fn apply_commit(c: &Connection, commit: &CommitWrite) -> StoreResult<CommitApplied> {
    let did = commit.did.as_str();
    let rev = commit.rev.as_str();
    swap_root(c, did, commit.prev.as_ref(), &commit.cid, rev, commit.now)?;
    insert_blocks(c, did, rev, &commit.blocks)?;
    delete_blocks(c, did, &commit.removed_blocks, &commit.blocks)?;

    // Blobs whose references this commit removed: deleted below if no reference is left.
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    let mut unref = c
        .prepare_cached(
            "DELETE FROM record_blob WHERE did = ? AND collection = ? AND rkey = ? \
             RETURNING blob_cid",
        )
        .map_err(raw_db)?;
    for change in &commit.records {
        let (collection, rkey) = match change {
            RecordChange::Put {
                collection, rkey, ..
            }
            | RecordChange::Delete { collection, rkey } => (collection.as_str(), rkey.as_str()),
        };
        let old = unref
            .query_map(params![did, collection, rkey], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(raw_db)?;
        dropped.extend(old);
        match change {
            RecordChange::Put { cid, blobs, .. } => {
                c.prepare_cached(
                    "INSERT INTO record (did, collection, rkey, cid, rev, indexed_at) \
                     VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (did, collection, rkey) DO UPDATE SET \
                     cid = excluded.cid, rev = excluded.rev, indexed_at = excluded.indexed_at",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        did,
                        collection,
                        rkey,
                        cid.to_string(),
                        rev,
                        commit.now
                    ])
                })
                .map_err(raw_db)?;
                for blob in blobs {
                    let blob_text = blob.to_string();
                    let updated = c
                        .prepare_cached("UPDATE blob SET temp = 0 WHERE did = ? AND cid = ?")
                        .and_then(|mut s| s.execute(params![did, blob_text]))
                        .map_err(raw_db)?;
                    if updated == 0 {
                        return Err(StoreError::Conflict(Conflict::MissingBlob(*blob)));
                    }
                    c.prepare_cached(
                        "INSERT OR IGNORE INTO record_blob (did, blob_cid, collection, rkey) \
                         VALUES (?, ?, ?, ?)",
                    )
                    .and_then(|mut s| s.execute(params![did, blob_text, collection, rkey]))
                    .map_err(raw_db)?;
                }
            }
            RecordChange::Delete { .. } => {
                c.prepare_cached(
                    "DELETE FROM record WHERE did = ? AND collection = ? AND rkey = ?",
                )
                .and_then(|mut s| s.execute(params![did, collection, rkey]))
                .map_err(raw_db)?;
            }
        }
    }
    drop(unref);

    let orphaned_blobs = delete_orphaned_blobs(c, did, dropped)?;
    let seq = commit
        .event
        .as_ref()
        .map(|e| insert_event(c, e))
        .transpose()?;
    Ok(CommitApplied {
        seq,
        orphaned_blobs,
    })
}

/// [`pds::ports::RepoStore::replace_repo`]'s statements, inside the caller's transaction.
pub(crate) fn replace_repo(c: &Connection, r: &RepoReplace) -> StoreResult<CommitApplied> {
    let did = r.did.as_str();
    let rev = r.rev.as_str();
    swap_root(c, did, Some(&r.prev), &r.cid, rev, r.now)?;
    let old: BTreeSet<String> = c
        .prepare_cached("DELETE FROM record_blob WHERE did = ? RETURNING blob_cid")
        .and_then(|mut s| {
            s.query_map([did], |row| row.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<_, _>>())
        })
        .map_err(raw_db)?;
    for sql in [
        "DELETE FROM record WHERE did = ?",
        "DELETE FROM repo_block WHERE did = ?",
    ] {
        c.prepare_cached(sql)
            .and_then(|mut s| s.execute([did]))
            .map_err(raw_db)?;
    }
    insert_blocks(c, did, rev, &r.blocks)?;
    let mut record = c
        .prepare_cached(
            "INSERT INTO record (did, collection, rkey, cid, rev, indexed_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .map_err(raw_db)?;
    let mut reference = c
        .prepare_cached(
            "INSERT OR IGNORE INTO record_blob (did, blob_cid, collection, rkey) \
             VALUES (?, ?, ?, ?)",
        )
        .map_err(raw_db)?;
    for (collection, rkey, cid, blobs) in &r.records {
        record
            .execute(params![
                did,
                collection.as_str(),
                rkey.as_str(),
                cid.to_string(),
                rev,
                r.now
            ])
            .map_err(raw_db)?;
        for blob in blobs {
            reference
                .execute(params![
                    did,
                    blob.to_string(),
                    collection.as_str(),
                    rkey.as_str()
                ])
                .map_err(raw_db)?;
        }
    }
    drop((record, reference));
    // Referenced blobs already uploaded stop being temporary; the others are "missing".
    c.prepare_cached(
        "UPDATE blob SET temp = 0 WHERE did = ?1 AND temp = 1 AND cid IN \
         (SELECT blob_cid FROM record_blob WHERE did = ?1)",
    )
    .and_then(|mut s| s.execute([did]))
    .map_err(raw_db)?;
    let orphaned_blobs = delete_orphaned_blobs(c, did, old)?;
    let seq = r.event.as_ref().map(|e| insert_event(c, e)).transpose()?;
    Ok(CommitApplied {
        seq,
        orphaned_blobs,
    })
}
