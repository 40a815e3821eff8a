//! SQLite implementation of [`RepoSnapshotStore`]: a snapshot is a read transaction on one
//! read connection. In WAL mode a read transaction sees the database as of its first read
//! (here: the head), so every later block read belongs to that same committed state while
//! commits go on beside it. The connection returns to its pool when the snapshot is dropped.
//!
//! The connection is one of the store's inline readers (`sqlite_read.rs`): each page of blocks
//! (at most 500) is read right on the calling thread, where sqlx would hand every query to its
//! worker thread and decode row by row there. A database too busy to start the snapshot falls
//! back to a transaction on sqlx's reader pool.

use async_trait::async_trait;
use data_model::Cid;
use pds::ports::{RepoRoot, RepoSnapshot, RepoSnapshotStore, StoreError, StoreResult};
use sqlx::{Sqlite, Transaction};
use syntax::{Did, Tid};

use crate::SqliteStore;
use crate::sqlite::{db, parse, parse_cid};
use crate::sqlite_read::{HeldConn, is_busy};

/// Most CIDs bound in one `IN (...)` query (well below SQLite's bound-parameter limit).
const IN_CHUNK: usize = 500;

/// A snapshot's page of blocks written after a revision (`did`, `after` CID, `since` rev,
/// limit), shared by the inline and the pooled snapshot.
const BLOCKS_SINCE_SQL: &str = "SELECT cid, bytes FROM repo_block WHERE did = ? AND cid > ? \
     AND rev > ? ORDER BY cid LIMIT ?";

/// The blocks among `n` CIDs (`did`, then the CIDs), for both snapshots. Only `?`
/// placeholders are interpolated.
fn blocks_in_sql(n: usize) -> String {
    let marks = vec!["?"; n].join(",");
    format!("SELECT cid, bytes FROM repo_block WHERE did = ? AND cid IN ({marks})")
}

fn raw(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

/// A snapshot on an inline read connection.
struct InlineSnapshot {
    conn: HeldConn,
    did: Did,
    root: Option<RepoRoot>,
}

/// `BEGIN` and the head: the first read fixes the snapshot.
fn open_inline(c: &rusqlite::Connection, did: &Did) -> rusqlite::Result<Option<(String, String)>> {
    use rusqlite::OptionalExtension as _;
    c.execute_batch("BEGIN")?;
    c.prepare_cached("SELECT cid, rev FROM repo_root WHERE did = ?")?
        .query_row([did.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

fn root_of(row: Option<(String, String)>) -> StoreResult<Option<RepoRoot>> {
    row.map(|(cid, rev)| {
        Ok::<_, StoreError>(RepoRoot {
            cid: parse_cid(&cid)?,
            rev: parse::<Tid>("rev", &rev)?,
        })
    })
    .transpose()
}

/// Runs a `SELECT cid, bytes ...` statement, appending its blocks to `out`.
fn query_blocks(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    out: &mut Vec<(Cid, Vec<u8>)>,
) -> StoreResult<()> {
    let rows = stmt
        .query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(raw)?;
    for row in rows {
        let (cid, bytes) = row.map_err(raw)?;
        out.push((parse_cid(&cid)?, bytes));
    }
    Ok(())
}

#[async_trait]
impl RepoSnapshot for InlineSnapshot {
    fn root(&self) -> Option<&RepoRoot> {
        self.root.as_ref()
    }

    async fn blocks(&mut self, cids: &[Cid]) -> StoreResult<Vec<(Cid, Vec<u8>)>> {
        let c = self.conn.conn()?;
        let mut out = Vec::with_capacity(cids.len());
        for part in cids.chunks(IN_CHUNK) {
            let sql = blocks_in_sql(part.len());
            let mut stmt = c.prepare_cached(&sql).map_err(raw)?;
            let keys: Vec<String> = part.iter().map(Cid::to_string).collect();
            let params = std::iter::once(self.did.as_str()).chain(keys.iter().map(String::as_str));
            query_blocks(&mut stmt, rusqlite::params_from_iter(params), &mut out)?;
        }
        Ok(out)
    }

    async fn blocks_since_page(
        &mut self,
        since: &Tid,
        after: Option<&Cid>,
        limit: usize,
    ) -> StoreResult<Vec<(Cid, Vec<u8>)>> {
        let c = self.conn.conn()?;
        let after = after.map(Cid::to_string).unwrap_or_default();
        let mut stmt = c.prepare_cached(BLOCKS_SINCE_SQL).map_err(raw)?;
        let mut out = Vec::new();
        let params = rusqlite::params![
            self.did.as_str(),
            after,
            since.as_str(),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ];
        query_blocks(&mut stmt, params, &mut out)?;
        Ok(out)
    }
}

fn parse_rows(rows: Vec<(String, Vec<u8>)>) -> StoreResult<Vec<(Cid, Vec<u8>)>> {
    rows.into_iter()
        .map(|(cid, bytes)| Ok((parse_cid(&cid)?, bytes)))
        .collect()
}

struct SqliteSnapshot {
    tx: Transaction<'static, Sqlite>,
    did: Did,
    root: Option<RepoRoot>,
}

#[async_trait]
impl RepoSnapshot for SqliteSnapshot {
    fn root(&self) -> Option<&RepoRoot> {
        self.root.as_ref()
    }

    async fn blocks(&mut self, cids: &[Cid]) -> StoreResult<Vec<(Cid, Vec<u8>)>> {
        let mut out = Vec::with_capacity(cids.len());
        for part in cids.chunks(IN_CHUNK) {
            let sql = blocks_in_sql(part.len());
            let mut q = sqlx::query_as::<_, (String, Vec<u8>)>(sqlx::AssertSqlSafe(sql))
                .bind(self.did.as_str());
            for cid in part {
                q = q.bind(cid.to_string());
            }
            out.extend(parse_rows(q.fetch_all(&mut *self.tx).await.map_err(db)?)?);
        }
        Ok(out)
    }

    async fn blocks_since_page(
        &mut self,
        since: &Tid,
        after: Option<&Cid>,
        limit: usize,
    ) -> StoreResult<Vec<(Cid, Vec<u8>)>> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(BLOCKS_SINCE_SQL)
            .bind(self.did.as_str())
            .bind(after.map(Cid::to_string).unwrap_or_default())
            .bind(since.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db)?;
        parse_rows(rows)
    }
}

#[async_trait]
impl RepoSnapshotStore for SqliteStore {
    async fn repo_snapshot(&self, did: &Did) -> StoreResult<Box<dyn RepoSnapshot>> {
        if let Some(conn) = self.inline.take() {
            match open_inline(conn.conn()?, did) {
                Ok(row) => {
                    return Ok(Box::new(InlineSnapshot {
                        root: root_of(row)?,
                        conn,
                        did: did.clone(),
                    }));
                }
                // Too busy to start here: the pool waits for the lock off the runtime.
                Err(e) if is_busy(&e) => {}
                Err(e) => return Err(raw(e)),
            }
        }
        let mut tx = self.read.begin().await.map_err(db)?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT cid, rev FROM repo_root WHERE did = ?")
                .bind(did.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        Ok(Box::new(SqliteSnapshot {
            tx,
            did: did.clone(),
            root: root_of(row)?,
        }))
    }
}
