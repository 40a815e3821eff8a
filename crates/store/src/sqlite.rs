//! The port implementations for [`SqliteStore`]: one `impl` block per trait, each method one
//! statement or one transaction (writes go to the single-connection writer pool, reads to the
//! read-only pool). Text columns are parsed back into their `syntax`/`data-model` types; a row
//! that does not parse is reported as a backend error (corruption), never a panic.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use data_model::Cid;
use pds::ports::{
    AccountRow, AccountStore, AppPasswordRow, BlobMetaStore, BlobRow, CommitApplied, CommitWrite,
    Conflict, DeletedAccount, EventKind, EventStore, Millis, NewAccount, NewEvent, PreferenceStore,
    RecordRow, RefreshTokenRow, RepoListing, RepoReplace, RepoRoot, RepoStats, RepoStore, Seq,
    StoreError, StoreResult, StoredEvent,
};
use repo::blockstore::BlockMap;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use syntax::{Did, Handle, Nsid, RecordKey, Tid};

use crate::SqliteStore;
use crate::sqlite_commit::{self, in_savepoint, in_transaction, with_raw};
use crate::sqlite_read::{INLINE_ROWS, Inline};
use rusqlite::OptionalExtension;

/// A row whose text does not parse back into its type.
#[derive(Debug, thiserror::Error)]
#[error("corrupt row: {0}")]
struct CorruptRow(String);

/// A database error as a backend [`StoreError`] (shared by the `sqlite_*` modules).
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::backend(CorruptRow(format!("{what} {value:?}")))
}

/// Parses a text column; a value that does not parse is a corrupt row.
pub(crate) fn parse<T: std::str::FromStr>(what: &str, value: &str) -> StoreResult<T> {
    value.parse().map_err(|_| corrupt(what, value))
}

/// Parses a CID column; a value that does not parse is a corrupt row.
pub(crate) fn parse_cid(value: &str) -> StoreResult<Cid> {
    data_model::parse_cid(value).map_err(|_| corrupt("cid", value))
}

/// `Ok` if the statement changed a row, else [`StoreError::NotFound`] (an `UPDATE`/`DELETE`
/// keyed by a missing primary key).
pub(crate) fn found(res: &SqliteQueryResult) -> StoreResult<()> {
    if res.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The [`Conflict`] a unique-constraint violation with this message stands for, by the
/// constraint's columns (shared with the raw-handle path, `sqlite_commit.rs`).
pub(crate) fn unique_conflict(msg: &str) -> Option<Conflict> {
    if msg.contains("account.handle") {
        Some(Conflict::Handle)
    } else if msg.contains("account.email") {
        Some(Conflict::Email)
    } else if msg.contains("account.did") {
        Some(Conflict::Did)
    } else if msg.contains("app_password.") {
        Some(Conflict::AppPasswordName)
    } else {
        None
    }
}

/// Maps a unique-constraint violation to a [`Conflict`] by the constraint's columns.
fn map_unique(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
        && let Some(c) = unique_conflict(d.message())
    {
        return StoreError::Conflict(c);
    }
    db(e)
}

async fn insert_event(conn: &mut SqliteConnection, event: &NewEvent) -> StoreResult<Seq> {
    with_raw(conn, |c| sqlite_commit::insert_event(c, event)).await
}

/// The columns of an [`AccountTuple`], in order.
const ACCOUNT_COLUMNS: &str =
    "did, handle, email, password_hash, created_at, deactivated_at, delete_after, takedown_ref";

type AccountTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

fn account_row(t: AccountTuple) -> StoreResult<AccountRow> {
    let (did, handle, email, password_hash, created_at, deactivated_at, delete_after, takedown) = t;
    Ok(AccountRow {
        did: parse("did", &did)?,
        handle: parse("handle", &handle)?,
        email,
        password_hash,
        created_at,
        deactivated_at,
        delete_after,
        takedown_ref: takedown,
    })
}

impl SqliteStore {
    /// The account whose `column` (a unique column of `account`) equals `key`.
    async fn account_where(
        &self,
        column: &'static str,
        key: &str,
    ) -> StoreResult<Option<AccountRow>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM account WHERE {column} = ?");
        let inline = self.inline.read(|c| {
            c.prepare_cached(&sql)?
                .query_row([key], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })
                .optional()
        });
        if let Inline::Done(row) = inline {
            return row?.map(account_row).transpose();
        }
        let row: Option<AccountTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.map(account_row).transpose()
    }

    /// One `UPDATE` of an account row (`NotFound` if it matched none; a unique violation is
    /// its [`Conflict`]) and the events announcing it, in one transaction on the writer
    /// connection's raw handle; the last event's `seq`.
    async fn update_account(
        &self,
        sql: &'static str,
        params: impl rusqlite::Params + Send,
        events: &[NewEvent],
    ) -> StoreResult<Option<Seq>> {
        let mut conn = self.write.acquire().await.map_err(db)?;
        with_raw(&mut conn, |c| {
            in_transaction(c, |c| {
                let changed = c
                    .prepare_cached(sql)
                    .and_then(|mut s| s.execute(params))
                    .map_err(sqlite_commit::map_unique)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let mut seq = None;
                for event in events {
                    seq = Some(sqlite_commit::insert_event(c, event)?);
                }
                Ok(seq)
            })
        })
        .await
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(
        &self,
        account: NewAccount,
        first_commit: CommitWrite,
        events: Vec<NewEvent>,
    ) -> StoreResult<Option<Seq>> {
        if first_commit.prev.is_some() || first_commit.did != account.did {
            return Err(StoreError::Conflict(Conflict::HeadMoved));
        }
        let mut tx = self.write.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO account (did, handle, email, password_hash, created_at, deactivated_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(account.did.as_str())
        .bind(account.handle.as_str())
        .bind(account.email.as_deref())
        .bind(account.password_hash.as_deref())
        .bind(account.created_at)
        .bind(account.deactivated.then_some(account.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        sqlx::query("INSERT INTO signing_key (did, encrypted_key) VALUES (?, ?)")
            .bind(account.did.as_str())
            .bind(account.encrypted_signing_key.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let mut last = None;
        for event in &events {
            last = Some(insert_event(&mut tx, event).await?);
        }
        let applied = with_raw(&mut tx, |c| sqlite_commit::apply_commit(c, &first_commit)).await?;
        tx.commit().await.map_err(db)?;
        Ok(applied.seq.or(last))
    }

    async fn account(&self, did: &Did) -> StoreResult<Option<AccountRow>> {
        self.account_where("did", did.as_str()).await
    }

    async fn account_by_handle(&self, handle: &Handle) -> StoreResult<Option<AccountRow>> {
        self.account_where("handle", handle.as_str()).await
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Option<AccountRow>> {
        self.account_where("email", email).await
    }

    async fn update_handle(
        &self,
        did: &Did,
        handle: &Handle,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<Seq>> {
        self.update_account(
            "UPDATE account SET handle = ?1 WHERE did = ?2",
            (handle.as_str(), did.as_str()),
            event.as_slice(),
        )
        .await
    }

    async fn set_deactivated(
        &self,
        did: &Did,
        deactivated_at: Option<Millis>,
        delete_after: Option<Millis>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<Seq>> {
        self.set_deactivated_with_events(
            did,
            deactivated_at,
            delete_after,
            event.into_iter().collect(),
        )
        .await
    }

    async fn set_deactivated_with_events(
        &self,
        did: &Did,
        deactivated_at: Option<Millis>,
        delete_after: Option<Millis>,
        events: Vec<NewEvent>,
    ) -> StoreResult<Option<Seq>> {
        self.update_account(
            "UPDATE account SET deactivated_at = ?1, delete_after = ?2 WHERE did = ?3",
            (deactivated_at, delete_after, did.as_str()),
            &events,
        )
        .await
    }

    async fn set_takedown(
        &self,
        did: &Did,
        takedown_ref: Option<String>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<Seq>> {
        self.update_account(
            "UPDATE account SET takedown_ref = ?1 WHERE did = ?2",
            (takedown_ref, did.as_str()),
            event.as_slice(),
        )
        .await
    }

    async fn set_password_hash(&self, did: &Did, password_hash: &str) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let res = sqlx::query("UPDATE account SET password_hash = ? WHERE did = ?")
            .bind(password_hash)
            .bind(did.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        found(&res)?;
        sqlx::query("DELETE FROM refresh_token WHERE did = ?")
            .bind(did.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn delete_account(&self, did: &Did, tombstone: NewEvent) -> StoreResult<DeletedAccount> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let blobs: Vec<(String,)> = sqlx::query_as("SELECT cid FROM blob WHERE did = ?")
            .bind(did.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let res = sqlx::query("DELETE FROM account WHERE did = ?")
            .bind(did.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        found(&res)?;
        sqlx::query("DELETE FROM repo_seq WHERE did = ?")
            .bind(did.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let seq = insert_event(&mut tx, &tombstone).await?;
        tx.commit().await.map_err(db)?;
        let blobs = blobs
            .iter()
            .map(|(c,)| parse_cid(c))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(DeletedAccount { seq, blobs })
    }

    async fn accounts_due_for_deletion(&self, now: Millis, limit: usize) -> StoreResult<Vec<Did>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT did FROM account WHERE deactivated_at IS NOT NULL \
             AND delete_after IS NOT NULL AND delete_after <= ? ORDER BY delete_after LIMIT ?",
        )
        .bind(now)
        .bind(limit_i64(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter().map(|(d,)| parse("did", d)).collect()
    }

    async fn list_repos(
        &self,
        after: Option<(Millis, &Did)>,
        limit: usize,
    ) -> StoreResult<Vec<RepoListing>> {
        type Row = (String, i64, String, String, Option<i64>, Option<String>);
        let (after_at, after_did) = after.map_or((i64::MIN, ""), |(at, d)| (at, d.as_str()));
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT a.did, a.created_at, r.cid, r.rev, a.deactivated_at, a.takedown_ref \
             FROM account a JOIN repo_root r ON r.did = a.did \
             WHERE (a.created_at, a.did) > (?, ?) ORDER BY a.created_at, a.did LIMIT ?",
        )
        .bind(after_at)
        .bind(after_did)
        .bind(limit_i64(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(
                |(did, created_at, cid, rev, deactivated_at, takedown_ref)| {
                    Ok(RepoListing {
                        did: parse("did", &did)?,
                        created_at,
                        head: parse_cid(&cid)?,
                        rev: parse("rev", &rev)?,
                        deactivated_at,
                        takedown_ref,
                    })
                },
            )
            .collect()
    }

    async fn signing_key(&self, did: &Did) -> StoreResult<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT encrypted_key FROM signing_key WHERE did = ?")
                .bind(did.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.map(|(k,)| k))
    }

    async fn create_app_password(&self, row: AppPasswordRow) -> StoreResult<()> {
        let res = sqlx::query(
            "INSERT INTO app_password (did, name, password_hash, privileged, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(row.did.as_str())
        .bind(&row.name)
        .bind(&row.password_hash)
        .bind(i64::from(row.privileged))
        .bind(row.created_at)
        .execute(&self.write)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(map_unique(e)),
        }
    }

    async fn list_app_passwords(&self, did: &Did) -> StoreResult<Vec<AppPasswordRow>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT name, password_hash, privileged, created_at FROM app_password \
             WHERE did = ? ORDER BY name",
        )
        .bind(did.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(name, password_hash, privileged, created_at)| AppPasswordRow {
                    did: did.clone(),
                    name,
                    password_hash,
                    privileged: privileged != 0,
                    created_at,
                },
            )
            .collect())
    }

    async fn delete_app_password(&self, did: &Did, name: &str) -> StoreResult<bool> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let res = sqlx::query("DELETE FROM app_password WHERE did = ? AND name = ?")
            .bind(did.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM refresh_token WHERE did = ? AND app_password_name = ?")
            .bind(did.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(res.rows_affected() > 0)
    }

    async fn insert_refresh_token(&self, row: RefreshTokenRow) -> StoreResult<()> {
        insert_refresh(&self.write, &row).await
    }

    async fn refresh_token(&self, id: &str) -> StoreResult<Option<RefreshTokenRow>> {
        let row: Option<(String, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT id, did, app_password_name, expires_at FROM refresh_token WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        row.map(|(id, did, app_password_name, expires_at)| {
            Ok(RefreshTokenRow {
                id,
                did: parse("did", &did)?,
                app_password_name,
                expires_at,
            })
        })
        .transpose()
    }

    async fn rotate_refresh_token(&self, old_id: &str, new: RefreshTokenRow) -> StoreResult<bool> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let res = sqlx::query("DELETE FROM refresh_token WHERE id = ?")
            .bind(old_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if res.rows_affected() == 0 {
            return Ok(false);
        }
        insert_refresh(&mut *tx, &new).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn delete_refresh_token(&self, id: &str) -> StoreResult<bool> {
        let res = sqlx::query("DELETE FROM refresh_token WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(res.rows_affected() > 0)
    }

    async fn delete_expired_refresh_tokens(&self, now: Millis) -> StoreResult<u64> {
        let res = sqlx::query("DELETE FROM refresh_token WHERE expires_at < ?")
            .bind(now)
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(res.rows_affected())
    }
}

async fn insert_refresh<'c, E>(executor: E, row: &RefreshTokenRow) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let res = sqlx::query(
        "INSERT INTO refresh_token (id, did, app_password_name, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(&row.id)
    .bind(row.did.as_str())
    .bind(row.app_password_name.as_deref())
    .bind(row.expires_at)
    .execute(executor)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => Err(StoreError::NotFound),
        Err(e) => Err(db(e)),
    }
}

/// A `LIMIT` bound (saturating).
pub(crate) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

type RecordTuple = (String, String, String, String, Vec<u8>);

fn record_row(t: RecordTuple) -> StoreResult<RecordRow> {
    let (collection, rkey, cid, rev, bytes) = t;
    Ok(RecordRow {
        collection: parse("collection", &collection)?,
        rkey: parse("rkey", &rkey)?,
        cid: parse_cid(&cid)?,
        rev: parse("rev", &rev)?,
        bytes,
    })
}

#[async_trait]
impl RepoStore for SqliteStore {
    async fn repo_root(&self, did: &Did) -> StoreResult<Option<RepoRoot>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT cid, rev FROM repo_root WHERE did = ?")
                .bind(did.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        row.map(|(cid, rev)| {
            Ok(RepoRoot {
                cid: parse_cid(&cid)?,
                rev: parse::<Tid>("rev", &rev)?,
            })
        })
        .transpose()
    }

    async fn get_block(&self, did: &Did, cid: &Cid) -> StoreResult<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT bytes FROM repo_block WHERE did = ? AND cid = ?")
                .bind(did.as_str())
                .bind(cid.to_string())
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.map(|(b,)| b))
    }

    async fn get_blocks(&self, did: &Did, cids: &[Cid]) -> StoreResult<BlockMap> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        let mut out = BlockMap::new();
        for cid in cids {
            let row: Option<(Vec<u8>,)> =
                sqlx::query_as("SELECT bytes FROM repo_block WHERE did = ? AND cid = ?")
                    .bind(did.as_str())
                    .bind(cid.to_string())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
            if let Some((bytes,)) = row {
                out.insert(*cid, bytes);
            }
        }
        Ok(out)
    }

    async fn blocks_since(&self, did: &Did, since: Option<&Tid>) -> StoreResult<BlockMap> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT cid, bytes FROM repo_block WHERE did = ? AND rev > ?")
                .bind(did.as_str())
                .bind(since.map_or("", Tid::as_str))
                .fetch_all(&self.read)
                .await
                .map_err(db)?;
        let mut out = BlockMap::new();
        for (cid, bytes) in rows {
            out.insert(parse_cid(&cid)?, bytes);
        }
        Ok(out)
    }

    async fn apply_commit(&self, commit: CommitWrite) -> StoreResult<CommitApplied> {
        self.commits.apply(commit).await
    }

    async fn replace_repo(&self, r: RepoReplace) -> StoreResult<CommitApplied> {
        let mut conn = self.write.acquire().await.map_err(db)?;
        with_raw(&mut conn, |c| {
            in_transaction(c, |c| sqlite_commit::replace_repo(c, &r))
        })
        .await
    }

    async fn record(
        &self,
        did: &Did,
        collection: &Nsid,
        rkey: &RecordKey,
    ) -> StoreResult<Option<RecordRow>> {
        let row: Option<RecordTuple> = sqlx::query_as(
            "SELECT r.collection, r.rkey, r.cid, r.rev, b.bytes FROM record r \
             JOIN repo_block b ON b.did = r.did AND b.cid = r.cid \
             WHERE r.did = ? AND r.collection = ? AND r.rkey = ?",
        )
        .bind(did.as_str())
        .bind(collection.as_str())
        .bind(rkey.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        row.map(record_row).transpose()
    }

    async fn list_records(
        &self,
        did: &Did,
        collection: &Nsid,
        cursor: Option<&RecordKey>,
        limit: usize,
        reverse: bool,
    ) -> StoreResult<Vec<RecordRow>> {
        let sql = match (reverse, cursor.is_some()) {
            (false, false) => {
                "SELECT r.collection, r.rkey, r.cid, r.rev, b.bytes FROM record r \
                 JOIN repo_block b ON b.did = r.did AND b.cid = r.cid \
                 WHERE r.did = ? AND r.collection = ? ORDER BY r.rkey DESC LIMIT ?"
            }
            (false, true) => {
                "SELECT r.collection, r.rkey, r.cid, r.rev, b.bytes FROM record r \
                 JOIN repo_block b ON b.did = r.did AND b.cid = r.cid \
                 WHERE r.did = ? AND r.collection = ? AND r.rkey < ? \
                 ORDER BY r.rkey DESC LIMIT ?"
            }
            (true, false) => {
                "SELECT r.collection, r.rkey, r.cid, r.rev, b.bytes FROM record r \
                 JOIN repo_block b ON b.did = r.did AND b.cid = r.cid \
                 WHERE r.did = ? AND r.collection = ? ORDER BY r.rkey ASC LIMIT ?"
            }
            (true, true) => {
                "SELECT r.collection, r.rkey, r.cid, r.rev, b.bytes FROM record r \
                 JOIN repo_block b ON b.did = r.did AND b.cid = r.cid \
                 WHERE r.did = ? AND r.collection = ? AND r.rkey > ? \
                 ORDER BY r.rkey ASC LIMIT ?"
            }
        };
        let mut q = sqlx::query_as::<_, RecordTuple>(sql)
            .bind(did.as_str())
            .bind(collection.as_str());
        if let Some(c) = cursor {
            q = q.bind(c.as_str());
        }
        let rows = q
            .bind(limit_i64(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.into_iter().map(record_row).collect()
    }

    async fn collections(&self, did: &Did) -> StoreResult<Vec<Nsid>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT collection FROM record WHERE did = ? ORDER BY collection",
        )
        .bind(did.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter().map(|(c,)| parse("collection", c)).collect()
    }

    async fn repo_stats(&self, did: &Did) -> StoreResult<RepoStats> {
        let (blocks, records, expected, imported): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM repo_block WHERE did = ?1), \
             (SELECT count(*) FROM record WHERE did = ?1), \
             (SELECT count(DISTINCT blob_cid) FROM record_blob WHERE did = ?1), \
             (SELECT count(*) FROM blob b WHERE b.did = ?1 AND EXISTS \
               (SELECT 1 FROM record_blob rb WHERE rb.did = b.did AND rb.blob_cid = b.cid))",
        )
        .bind(did.as_str())
        .fetch_one(&self.read)
        .await
        .map_err(db)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(RepoStats {
            blocks: n(blocks),
            records: n(records),
            expected_blobs: n(expected),
            imported_blobs: n(imported),
        })
    }
}

#[async_trait]
impl BlobMetaStore for SqliteStore {
    async fn put_temp_blob(&self, row: BlobRow) -> StoreResult<bool> {
        let res = sqlx::query(
            "INSERT OR IGNORE INTO blob (did, cid, mime_type, size, temp, created_at) \
             VALUES (?1, ?2, ?3, ?4, \
             NOT EXISTS (SELECT 1 FROM record_blob WHERE did = ?1 AND blob_cid = ?2), ?5)",
        )
        .bind(row.did.as_str())
        .bind(row.cid.to_string())
        .bind(&row.mime_type)
        .bind(row.size)
        .bind(row.created_at)
        .execute(&self.write)
        .await;
        match res {
            Ok(r) => Ok(r.rows_affected() > 0),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(db(e)),
        }
    }

    async fn blob(&self, did: &Did, cid: &Cid) -> StoreResult<Option<BlobRow>> {
        let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT mime_type, size, temp, created_at FROM blob WHERE did = ? AND cid = ?",
        )
        .bind(did.as_str())
        .bind(cid.to_string())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        Ok(row.map(|(mime_type, size, temp, created_at)| BlobRow {
            did: did.clone(),
            cid: *cid,
            mime_type,
            size,
            temp: temp != 0,
            created_at,
        }))
    }

    async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&Cid>,
        limit: usize,
    ) -> StoreResult<Vec<Cid>> {
        let cursor = cursor.map(Cid::to_string).unwrap_or_default();
        let rows: Vec<(String,)> = match since {
            None => {
                sqlx::query_as(
                    "SELECT cid FROM blob WHERE did = ? AND temp = 0 AND cid > ? \
                     ORDER BY cid LIMIT ?",
                )
                .bind(did.as_str())
                .bind(&cursor)
                .bind(limit_i64(limit))
                .fetch_all(&self.read)
                .await
            }
            Some(since) => {
                sqlx::query_as(
                    "SELECT DISTINCT rb.blob_cid FROM record_blob rb JOIN record r \
                     ON r.did = rb.did AND r.collection = rb.collection AND r.rkey = rb.rkey \
                     WHERE rb.did = ? AND r.rev > ? AND rb.blob_cid > ? \
                     ORDER BY rb.blob_cid LIMIT ?",
                )
                .bind(did.as_str())
                .bind(since.as_str())
                .bind(&cursor)
                .bind(limit_i64(limit))
                .fetch_all(&self.read)
                .await
            }
        }
        .map_err(db)?;
        rows.iter().map(|(c,)| parse_cid(c)).collect()
    }

    async fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&Cid>,
        limit: usize,
    ) -> StoreResult<Vec<(Cid, Nsid, RecordKey)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT rb.blob_cid, rb.collection, rb.rkey FROM record_blob rb \
             WHERE rb.did = ?1 AND rb.blob_cid > ?2 AND NOT EXISTS \
             (SELECT 1 FROM blob b WHERE b.did = rb.did AND b.cid = rb.blob_cid) \
             GROUP BY rb.blob_cid ORDER BY rb.blob_cid LIMIT ?3",
        )
        .bind(did.as_str())
        .bind(cursor.map(Cid::to_string).unwrap_or_default())
        .bind(limit_i64(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|(b, c, r)| Ok((parse_cid(b)?, parse("collection", c)?, parse("rkey", r)?)))
            .collect()
    }

    async fn take_expired_temp_blobs(
        &self,
        before: Millis,
        limit: usize,
    ) -> StoreResult<Vec<(Did, Cid)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "DELETE FROM blob WHERE rowid IN (SELECT rowid FROM blob \
             WHERE temp = 1 AND created_at < ? LIMIT ?) RETURNING did, cid",
        )
        .bind(before)
        .bind(limit_i64(limit))
        .fetch_all(&self.write)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|(d, c)| Ok((parse("did", d)?, parse_cid(c)?)))
            .collect()
    }
}

#[async_trait]
impl PreferenceStore for SqliteStore {
    async fn preferences(&self, did: &Did, namespace: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT items_json FROM preference WHERE did = ? AND namespace = ?")
                .bind(did.as_str())
                .bind(namespace)
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.map(|(j,)| j))
    }

    async fn put_preferences(
        &self,
        did: &Did,
        namespace: &str,
        items_json: &str,
    ) -> StoreResult<()> {
        let res = sqlx::query(
            "INSERT INTO preference (did, namespace, items_json) VALUES (?, ?, ?) \
             ON CONFLICT (did, namespace) DO UPDATE SET items_json = excluded.items_json",
        )
        .bind(did.as_str())
        .bind(namespace)
        .bind(items_json)
        .execute(&self.write)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(db(e)),
        }
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append_event(&self, event: NewEvent) -> StoreResult<Seq> {
        let mut conn = self.write.acquire().await.map_err(db)?;
        insert_event(&mut conn, &event).await
    }

    async fn events_after(&self, after: Seq, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        const SQL: &str = "SELECT seq, did, kind, event, created_at FROM repo_seq WHERE seq > ? \
             ORDER BY seq LIMIT ?";
        let inline = if limit <= INLINE_ROWS {
            self.inline.read(|c| {
                c.prepare_cached(SQL)?
                    .query_map(rusqlite::params![after, limit_i64(limit)], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
        } else {
            Inline::Fallback
        };
        let rows: Vec<(i64, String, String, Vec<u8>, i64)> = match inline {
            Inline::Done(rows) => rows?,
            Inline::Fallback => sqlx::query_as(SQL)
                .bind(after)
                .bind(limit_i64(limit))
                .fetch_all(&self.read)
                .await
                .map_err(db)?,
        };
        rows.into_iter()
            .map(|(seq, did, kind, event, created_at)| {
                Ok(StoredEvent {
                    seq,
                    did: parse("did", &did)?,
                    kind: EventKind::parse(&kind).ok_or_else(|| corrupt("event kind", &kind))?,
                    event,
                    created_at,
                })
            })
            .collect()
    }

    async fn latest_seq(&self) -> StoreResult<Option<Seq>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT seq FROM sqlite_sequence WHERE name = 'repo_seq'")
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.map(|(s,)| s))
    }

    async fn raise_seq_floor(&self, floor: Seq) -> StoreResult<Option<Seq>> {
        // `sqlite_sequence` holds AUTOINCREMENT's high-water mark: the next rowid is one more
        // than the larger of it and the table's largest rowid. Two monotone single-statement
        // writes, not a read-then-write transaction: a write statement takes the write lock
        // up front (so the busy timeout applies), where upgrading a read snapshot another
        // connection has since written past fails at once with SQLITE_BUSY.
        if floor > 0 {
            sqlx::query(
                "INSERT INTO sqlite_sequence (name, seq) SELECT 'repo_seq', ? \
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'repo_seq')",
            )
            .bind(floor)
            .execute(&self.write)
            .await
            .map_err(db)?;
            sqlx::query("UPDATE sqlite_sequence SET seq = ? WHERE name = 'repo_seq' AND seq < ?")
                .bind(floor)
                .bind(floor)
                .execute(&self.write)
                .await
                .map_err(db)?;
        }
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT seq FROM sqlite_sequence WHERE name = 'repo_seq'")
                .fetch_optional(&self.write)
                .await
                .map_err(db)?;
        Ok(row.map(|(s,)| s))
    }

    async fn prune_events_before(&self, before: Millis) -> StoreResult<u64> {
        // A prefix by seq: scan from the oldest row to the first one inside the window (cheap
        // when pruning runs regularly; no index on created_at is needed).
        let mut tx = self.write.begin().await.map_err(db)?;
        let keep: Option<(i64,)> =
            sqlx::query_as("SELECT seq FROM repo_seq WHERE created_at >= ? ORDER BY seq LIMIT 1")
                .bind(before)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let keep = keep.map_or(i64::MAX, |(s,)| s);
        let (through,): (Option<i64>,) =
            sqlx::query_as("SELECT max(seq) FROM repo_seq WHERE seq < ?")
                .bind(keep)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let Some(through) = through else {
            return Ok(0);
        };
        let res = sqlx::query("DELETE FROM repo_seq WHERE seq <= ?")
            .bind(through)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO repo_seq_pruned (id, through_seq) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET through_seq = max(through_seq, excluded.through_seq)",
        )
        .bind(through)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(res.rows_affected())
    }

    async fn pruned_through(&self) -> StoreResult<Seq> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT through_seq FROM repo_seq_pruned WHERE id = 1")
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.map_or(0, |(s,)| s))
    }

    async fn first_seq_since(&self, since: Millis) -> StoreResult<Option<Seq>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT seq FROM repo_seq WHERE created_at >= ? ORDER BY seq LIMIT 1")
                .bind(since)
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.map(|(s,)| s))
    }
}

/// Group commit for [`RepoStore::apply_commit`]: commits queued while the writer was busy are
/// applied together in one SQLite transaction, each inside its own savepoint, so one failing
/// commit (head moved, missing blob) rolls back alone while the others share the cost of the
/// transaction (WAL frames of shared pages, the commit itself). A lone commit skips the
/// savepoint. Replies are sent only after the transaction is durable.
#[derive(Debug, Clone)]
pub(crate) struct CommitQueue {
    jobs: flume::Sender<CommitJob>,
}

#[derive(Debug)]
struct CommitJob {
    write: CommitWrite,
    reply: tokio::sync::oneshot::Sender<StoreResult<CommitApplied>>,
}

/// Most commits applied in one transaction.
const MAX_GROUP: usize = 64;

/// Most commits waiting for the writer (callers beyond it wait to enqueue).
const QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
#[error("the commit writer has stopped")]
struct WriterStopped;

#[derive(Debug, thiserror::Error)]
#[error("group commit failed: {0}")]
struct GroupFailed(String);

impl CommitQueue {
    /// Starts the writer thread; must be called inside a tokio runtime (the thread uses it to
    /// take the writer connection from the pool).
    pub(crate) fn start(pool: SqlitePool) -> CommitQueue {
        let (jobs, rx) = flume::bounded(QUEUE);
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name("store-commit-writer".into())
            .spawn(move || run_commit_writer(&runtime, &pool, &rx));
        if let Err(e) = spawned {
            // Without the thread every commit fails with `WriterStopped` (the receiver is
            // gone); nothing else of the store is affected.
            tracing::error!(error = %e, "cannot start the commit writer thread");
        }
        CommitQueue { jobs }
    }

    async fn apply(&self, write: CommitWrite) -> StoreResult<CommitApplied> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send_async(CommitJob { write, reply })
            .await
            .map_err(|_| StoreError::backend(WriterStopped))?;
        rx.await.map_err(|_| StoreError::backend(WriterStopped))?
    }
}

/// How long the writer keeps the writer connection while commits keep arriving, before it
/// gives other writers (sessions, blobs, account changes, the checkpointer) their turn.
const HOLD: Duration = Duration::from_millis(20);

/// How long the writer waits, connection in hand, for the next commit after a group (within
/// `HOLD`). Taking the connection costs a round trip through sqlx's worker thread and loses
/// the prepared statements (they belong to the raw connection wrapper); at 1,000 commits a
/// second, commits arrive about a millisecond apart, so without the wait the writer let go
/// of the connection after nearly every commit.
const LINGER: Duration = Duration::from_millis(5);

/// Statements the writer keeps prepared (the commit path uses about twenty).
const STATEMENT_CACHE: usize = 64;

/// The commit writer: a thread of its own, so that it is never queued behind the runtime's
/// tasks (a firehose push wakes a task per subscriber; an async writer was rescheduled behind
/// all of them at each await, which capped the write rate under a busy firehose). Jobs are
/// taken in groups (`MAX_GROUP`); while more keep arriving (`LINGER` apart at most), and for
/// at most `HOLD`, the writer keeps the connection and its raw handle (no hand-off,
/// statements stay prepared), then returns the connection to the pool. Ends when every
/// sender is gone.
fn run_commit_writer(
    runtime: &tokio::runtime::Handle,
    pool: &SqlitePool,
    rx: &flume::Receiver<CommitJob>,
) {
    // The pool's connection bookkeeping (returning a connection) spawns on the runtime.
    let _context = runtime.enter();
    while let Ok(first) = rx.recv() {
        let mut conn = match runtime.block_on(pool.acquire()) {
            Ok(conn) => conn,
            Err(e) => {
                fail_group(take_group(first, rx), &e.to_string());
                continue;
            }
        };
        // The closure blocks this thread (not a runtime worker) while it waits for commits.
        let outcome = runtime.block_on(with_raw(&mut conn, |c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            let started = Instant::now();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                apply_group(c, take_group(job, rx));
                let left = HOLD.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                next = rx.recv_timeout(left.min(LINGER)).ok();
            }
            Ok(())
        }));
        if let Err(e) = outcome {
            // The raw handle could not be had: the closure, and the job it held, were dropped
            // unrun, so that caller gets `WriterStopped`; nothing was written.
            tracing::error!(error = %e, "commit writer cannot use the writer connection");
        }
    }
}

/// `first` and whatever else is already queued, up to `MAX_GROUP`.
fn take_group(first: CommitJob, rx: &flume::Receiver<CommitJob>) -> Vec<CommitJob> {
    let mut group = vec![first];
    while group.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    group
}

fn fail_group(group: Vec<CommitJob>, msg: &str) {
    for job in group {
        let _ = job
            .reply
            .send(Err(StoreError::backend(GroupFailed(msg.to_owned()))));
    }
}

/// Applies a group of commits in one transaction, each but a lone one in its own savepoint
/// (`sqlite_commit.rs`); answers each caller once the transaction is committed.
fn apply_group(c: &rusqlite::Connection, group: Vec<CommitJob>) {
    let outcome = in_transaction(c, |c| {
        if let [job] = group.as_slice() {
            // Alone: its failure is the transaction's.
            return sqlite_commit::apply_commit(c, &job.write).map(|a| vec![Ok(a)]);
        }
        group
            .iter()
            .map(|job| in_savepoint(c, |c| sqlite_commit::apply_commit(c, &job.write)))
            .collect()
    });
    match outcome {
        Ok(results) => {
            for (job, res) in group.into_iter().zip(results) {
                let _ = job.reply.send(res);
            }
        }
        Err(e) if group.len() == 1 => {
            // A lone commit's own error (a conflict, say) goes back as it is.
            if let Some(job) = group.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
        // The whole transaction is gone: nothing of the group was written.
        Err(e) => fail_group(group, &e.to_string()),
    }
}
