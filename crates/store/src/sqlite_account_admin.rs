//! [`AccountAdminStore`] for [`SqliteStore`]: invite codes and their uses, per-account invite
//! switches, account search by email and reserved signing keys (tables of
//! `migrations/sqlite/0005_invites_and_reserved_keys.sql`). One statement or one transaction
//! per method, writes on the writer pool, reads on the reader pool.

use std::collections::HashMap;

use async_trait::async_trait;
use pds::ports::{
    AccountAdminStore, InviteCodeRow, InviteSort, InviteUse, Millis, NewInviteCode, StoreResult,
};
use sqlx::SqlitePool;
use syntax::Did;

use crate::SqliteStore;
use crate::sqlite::{db, limit_i64, parse};

fn parse_did(value: &str) -> StoreResult<Did> {
    parse("did", value)
}

type CodeTuple = (String, i64, i64, String, String, i64);

const CODE_COLUMNS: &str = "code, available, disabled, for_account, created_by, created_at";

/// Attaches the uses (most recent first) to code rows, keeping their order.
async fn with_uses(pool: &SqlitePool, rows: Vec<CodeTuple>) -> StoreResult<Vec<InviteCodeRow>> {
    let mut uses: HashMap<String, Vec<InviteUse>> = HashMap::new();
    for chunk in rows.chunks(200) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT code, used_by, used_at FROM invite_code_use WHERE code IN ({placeholders}) \
             ORDER BY used_at DESC, used_by"
        );
        let mut q = sqlx::query_as::<_, (String, String, i64)>(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            q = q.bind(&row.0);
        }
        for (code, used_by, used_at) in q.fetch_all(pool).await.map_err(db)? {
            uses.entry(code).or_default().push(InviteUse {
                used_by: parse_did(&used_by)?,
                used_at,
            });
        }
    }
    Ok(rows
        .into_iter()
        .map(
            |(code, available, disabled, for_account, created_by, created_at)| InviteCodeRow {
                uses: uses.remove(&code).unwrap_or_default(),
                code,
                available,
                disabled: disabled != 0,
                for_account,
                created_by,
                created_at,
            },
        )
        .collect())
}

#[async_trait]
impl AccountAdminStore for SqliteStore {
    async fn create_invite_codes(&self, codes: Vec<NewInviteCode>) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db)?;
        for c in &codes {
            sqlx::query(
                "INSERT INTO invite_code (code, available, disabled, for_account, created_by, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&c.code)
            .bind(c.available)
            .bind(i64::from(c.disabled))
            .bind(&c.for_account)
            .bind(&c.created_by)
            .bind(c.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn invite_code(&self, code: &str) -> StoreResult<Option<InviteCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM invite_code WHERE code = ?");
        let row: Option<CodeTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(code)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        Ok(with_uses(&self.read, row.into_iter().collect())
            .await?
            .pop())
    }

    async fn use_invite_code(&self, code: &str, used_by: &Did, now: Millis) -> StoreResult<bool> {
        // One statement: the insert happens only if the code is enabled and has uses left.
        let done = sqlx::query(
            "INSERT OR IGNORE INTO invite_code_use (code, used_by, used_at) \
             SELECT c.code, ?, ? FROM invite_code c WHERE c.code = ? AND c.disabled = 0 \
             AND c.available > (SELECT COUNT(*) FROM invite_code_use u WHERE u.code = c.code)",
        )
        .bind(used_by.as_str())
        .bind(now)
        .bind(code)
        .execute(&self.write)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_invite_code(&self, code: &str, used_by: &Did) -> StoreResult<()> {
        sqlx::query("DELETE FROM invite_code_use WHERE code = ? AND used_by = ?")
            .bind(code)
            .bind(used_by.as_str())
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn account_invite_codes(&self, did: &Did) -> StoreResult<Vec<InviteCodeRow>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM invite_code WHERE for_account = ? \
             ORDER BY created_at DESC, code DESC"
        );
        let rows: Vec<CodeTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(did.as_str())
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        with_uses(&self.read, rows).await
    }

    async fn invited_by(&self, did: &Did) -> StoreResult<Option<InviteCodeRow>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM invite_code WHERE code IN \
             (SELECT code FROM invite_code_use WHERE used_by = ?) LIMIT 1"
        );
        let row: Option<CodeTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(did.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        Ok(with_uses(&self.read, row.into_iter().collect())
            .await?
            .pop())
    }

    async fn list_invite_codes(
        &self,
        sort: InviteSort,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<InviteCodeRow>> {
        let primary = match sort {
            InviteSort::Recent => "created_at",
            InviteSort::Usage => "uses",
        };
        let filter = if after.is_some() {
            format!("WHERE ({primary} < ?1 OR ({primary} = ?1 AND code < ?2))")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM (SELECT c.*, (SELECT COUNT(*) FROM invite_code_use u \
             WHERE u.code = c.code) AS uses FROM invite_code c) {filter} \
             ORDER BY {primary} DESC, code DESC LIMIT ?3"
        );
        let (p, code) = after.unwrap_or((0, String::new()));
        let rows: Vec<CodeTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(p)
            .bind(code)
            .bind(limit_i64(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        with_uses(&self.read, rows).await
    }

    async fn disable_invite_codes(&self, codes: &[String], accounts: &[String]) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db)?;
        for code in codes {
            sqlx::query("UPDATE invite_code SET disabled = 1 WHERE code = ?")
                .bind(code)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        for account in accounts {
            sqlx::query("UPDATE invite_code SET disabled = 1 WHERE for_account = ?")
                .bind(account)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn set_invites_disabled(&self, did: &Did, disabled: bool) -> StoreResult<()> {
        let sql = if disabled {
            "INSERT OR IGNORE INTO account_invites_disabled (did) \
             SELECT did FROM account WHERE did = ?"
        } else {
            "DELETE FROM account_invites_disabled WHERE did = ?"
        };
        sqlx::query(sql)
            .bind(did.as_str())
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn invites_disabled(&self, did: &Did) -> StoreResult<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM account_invites_disabled WHERE did = ?")
                .bind(did.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.is_some())
    }

    async fn search_accounts(
        &self,
        email_prefix: &str,
        after: Option<&Did>,
        limit: usize,
    ) -> StoreResult<Vec<Did>> {
        let escaped: String = email_prefix
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT did FROM account WHERE (?1 = '' OR email LIKE ?2 ESCAPE '\\') \
             AND did > ?3 ORDER BY did LIMIT ?4",
        )
        .bind(email_prefix)
        .bind(format!("{escaped}%"))
        .bind(after.map_or("", Did::as_str))
        .bind(limit_i64(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter().map(|(d,)| parse_did(d)).collect()
    }

    async fn put_reserved_key(&self, id: &str, sealed: Vec<u8>, now: Millis) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO reserved_signing_key (id, encrypted_key, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET encrypted_key = excluded.encrypted_key, \
             created_at = excluded.created_at",
        )
        .bind(id)
        .bind(sealed)
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn reserved_key(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT encrypted_key FROM reserved_signing_key WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(row.map(|(k,)| k))
    }

    async fn delete_reserved_key(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM reserved_signing_key WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }
}
