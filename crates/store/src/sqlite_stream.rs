//! SQLite implementation of [`RepoSnapshotStore`]: a snapshot is a read transaction on one
//! connection of the reader pool. In WAL mode a read transaction sees the database as of its
//! first read (here: the head), so every later block read belongs to that same committed state
//! while commits go on beside it. The connection returns to the pool when the snapshot is
//! dropped.

use async_trait::async_trait;
use data_model::Cid;
use pds::ports::{RepoRoot, RepoSnapshot, RepoSnapshotStore, StoreError, StoreResult};
use sqlx::{Sqlite, Transaction};
use syntax::{Did, Tid};

use crate::SqliteStore;
use crate::sqlite::{db, parse, parse_cid};

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
        // Well below SQLite's bound-parameter limit.
        for part in cids.chunks(500) {
            let marks = vec!["?"; part.len()].join(",");
            // Only `?` placeholders are interpolated.
            let sql =
                format!("SELECT cid, bytes FROM repo_block WHERE did = ? AND cid IN ({marks})");
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
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT cid, bytes FROM repo_block WHERE did = ? AND cid > ? AND rev > ? \
             ORDER BY cid LIMIT ?",
        )
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
        let mut tx = self.read.begin().await.map_err(db)?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT cid, rev FROM repo_root WHERE did = ?")
                .bind(did.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let root = row
            .map(|(cid, rev)| {
                Ok::<_, StoreError>(RepoRoot {
                    cid: parse_cid(&cid)?,
                    rev: parse::<Tid>("rev", &rev)?,
                })
            })
            .transpose()?;
        Ok(Box::new(SqliteSnapshot {
            tx,
            did: did.clone(),
            root,
        }))
    }
}
