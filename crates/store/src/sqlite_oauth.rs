//! [`OAuthStore`] for [`SqliteStore`]: the tables `oauth_request`, `oauth_challenge`,
//! `oauth_code` and `oauth_session` (migration `0010_oauth.sql`), the OAuth Authorization
//! Server's state (checklist sections O and P). Digests only; codes and refresh tokens never
//! reach this crate in clear.
//!
//! A row is live while `now < expires_at`; reads filter on the caller's `now` and
//! [`OAuthStore::sweep`] deletes the rest.
//!
//! [`OAuthStore::put_request`] is given no `now`, so a remembered PKCE challenge is refused
//! until [`OAuthStore::sweep`] has removed it (never earlier than its `expires_at`): the
//! conservative reading of "until its memory expires".

use async_trait::async_trait;
use pds::ports::{
    CodeTake, Conflict, Millis, OAuthCodeRow, OAuthRequestRow, OAuthSessionRow, OAuthStore,
    RefreshRotation, StoreError, StoreResult,
};
use sqlx::{Sqlite, Transaction};
use syntax::Did;

use crate::SqliteStore;
use crate::sqlite::{db, parse};

/// A stored digest that is not 32 bytes long.
#[derive(Debug, thiserror::Error)]
#[error("corrupt oauth row: {0}")]
struct CorruptRow(String);

/// A foreign-key violation means the account does not exist.
fn missing_account(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_foreign_key_violation()
    {
        return StoreError::NotFound;
    }
    db(e)
}

fn digest(what: &str, bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| StoreError::backend(CorruptRow(format!("{what} of {len} bytes"))))
}

/// The columns [`session_row`] reads, in order.
const SESSION_COLUMNS: &str = "id, did, client_id, scope, dpop_jkt, client_kid, client_jkt, \
                               refresh_digest, created_at, refresh_expires_at, expires_at";

type SessionTuple = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Vec<u8>,
    i64,
    i64,
    i64,
);

fn session_row(
    (
        id,
        did,
        client_id,
        scope,
        dpop_jkt,
        client_kid,
        client_jkt,
        refresh_digest,
        created_at,
        refresh_expires_at,
        expires_at,
    ): SessionTuple,
) -> StoreResult<OAuthSessionRow> {
    let client_key = match (client_kid, client_jkt) {
        (Some(kid), Some(jkt)) => Some((kid, jkt)),
        (None, None) => None,
        _ => {
            return Err(StoreError::backend(CorruptRow(format!(
                "session {id:?} with half a client key"
            ))));
        }
    };
    Ok(OAuthSessionRow {
        did: parse::<Did>("did", &did)?,
        client_id,
        scope,
        dpop_jkt,
        client_key,
        refresh_digest: digest("refresh digest", refresh_digest)?,
        created_at,
        refresh_expires_at,
        expires_at,
        id,
    })
}

/// Runs `sql` (a `DELETE` with one `expires_at <= ?` parameter) in `tx`; rows deleted.
async fn delete_expired(
    tx: &mut Transaction<'_, Sqlite>,
    sql: &'static str,
    now: Millis,
) -> StoreResult<u64> {
    let res = sqlx::query(sql)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(res.rows_affected())
}

#[async_trait]
impl OAuthStore for SqliteStore {
    async fn put_request(
        &self,
        request: &OAuthRequestRow,
        challenge: &str,
        challenge_expires_at: Millis,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db)?;
        // A remembered challenge is replaced only once its memory has expired.
        let res = sqlx::query(
            "INSERT INTO oauth_challenge (challenge, expires_at) VALUES (?, ?) \
             ON CONFLICT (challenge) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE oauth_challenge.expires_at <= ?",
        )
        .bind(challenge)
        .bind(challenge_expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if res.rows_affected() == 0 {
            // Dropping `tx` rolls back: nothing written.
            return Err(StoreError::Conflict(Conflict::OAuthChallenge));
        }
        sqlx::query(
            "INSERT INTO oauth_request (id, client_id, data, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&request.id)
        .bind(&request.client_id)
        .bind(&request.data)
        .bind(request.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn request(&self, id: &str, now: Millis) -> StoreResult<Option<OAuthRequestRow>> {
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT id, client_id, data, expires_at FROM oauth_request \
             WHERE id = ? AND expires_at > ?",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        Ok(
            row.map(|(id, client_id, data, expires_at)| OAuthRequestRow {
                id,
                client_id,
                data,
                expires_at,
            }),
        )
    }

    async fn issue_code(
        &self,
        request_id: &str,
        code: &OAuthCodeRow,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let res = sqlx::query("DELETE FROM oauth_request WHERE id = ? AND expires_at > ?")
            .bind(request_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO oauth_code (digest, did, client_id, data, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(code.digest.as_slice())
        .bind(code.did.as_str())
        .bind(&code.client_id)
        .bind(&code.data)
        .bind(code.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(missing_account)?;
        tx.commit().await.map_err(db)
    }

    async fn take_code(&self, digest: &[u8; 32], now: Millis) -> StoreResult<CodeTake> {
        let mut tx = self.write.begin().await.map_err(db)?;
        type CodeTuple = (String, String, String, i64, i64, Option<String>);
        let row: Option<CodeTuple> = sqlx::query_as(
            "SELECT did, client_id, data, expires_at, used, session_id FROM oauth_code \
             WHERE digest = ? AND expires_at > ?",
        )
        .bind(digest.as_slice())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((did, client_id, data, expires_at, used, session_id)) = row else {
            return Ok(CodeTake::Unknown);
        };
        if used != 0 {
            return Ok(CodeTake::Reused { session_id });
        }
        let did: Did = parse("did", &did)?;
        sqlx::query("UPDATE oauth_code SET used = 1 WHERE digest = ?")
            .bind(digest.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(CodeTake::Fresh(OAuthCodeRow {
            digest: *digest,
            did,
            client_id,
            data,
            expires_at,
        }))
    }

    async fn create_session(
        &self,
        session: &OAuthSessionRow,
        code_digest: Option<&[u8; 32]>,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let (kid, jkt) = match &session.client_key {
            Some((kid, jkt)) => (Some(kid.as_str()), Some(jkt.as_str())),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO oauth_session (id, did, client_id, scope, dpop_jkt, client_kid, \
             client_jkt, refresh_digest, created_at, refresh_expires_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.id)
        .bind(session.did.as_str())
        .bind(&session.client_id)
        .bind(&session.scope)
        .bind(&session.dpop_jkt)
        .bind(kid)
        .bind(jkt)
        .bind(session.refresh_digest.as_slice())
        .bind(session.created_at)
        .bind(session.refresh_expires_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(missing_account)?;
        if let Some(code) = code_digest {
            // A code that is gone (swept) has nothing left to name the session to.
            sqlx::query("UPDATE oauth_code SET session_id = ? WHERE digest = ?")
                .bind(&session.id)
                .bind(code.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn session(&self, id: &str, now: Millis) -> StoreResult<Option<OAuthSessionRow>> {
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM oauth_session WHERE id = ? AND expires_at > ?");
        let row: Option<SessionTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(now)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.map(session_row).transpose()
    }

    async fn rotate_refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        refresh_expires_at: Millis,
        now: Millis,
    ) -> StoreResult<RefreshRotation> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let sql = format!(
            "UPDATE oauth_session SET prev_refresh_digest = refresh_digest, \
             refresh_digest = ?, refresh_expires_at = ? \
             WHERE refresh_digest = ? AND expires_at > ? AND refresh_expires_at > ? \
             RETURNING {SESSION_COLUMNS}"
        );
        let rotated: Option<SessionTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(new.as_slice())
            .bind(refresh_expires_at)
            .bind(old.as_slice())
            .bind(now)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(row) = rotated {
            let row = session_row(row)?;
            tx.commit().await.map_err(db)?;
            return Ok(RefreshRotation::Rotated(Box::new(row)));
        }
        // The previous token of a live session, presented again: it leaked; end the session
        // (its access tokens die with it, so this does not wait for the refresh expiry).
        let res = sqlx::query(
            "DELETE FROM oauth_session WHERE prev_refresh_digest = ? AND expires_at > ?",
        )
        .bind(old.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(if res.rows_affected() > 0 {
            RefreshRotation::Reused
        } else {
            RefreshRotation::Unknown
        })
    }

    async fn session_by_refresh(
        &self,
        digest: &[u8; 32],
        now: Millis,
    ) -> StoreResult<Option<OAuthSessionRow>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM oauth_session \
             WHERE refresh_digest = ? AND expires_at > ? AND refresh_expires_at > ?"
        );
        let row: Option<SessionTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(digest.as_slice())
            .bind(now)
            .bind(now)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.map(session_row).transpose()
    }

    async fn revoke_session(&self, id: &str) -> StoreResult<bool> {
        let res = sqlx::query("DELETE FROM oauth_session WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(res.rows_affected() > 0)
    }

    async fn sessions_of(&self, did: &Did, now: Millis) -> StoreResult<Vec<OAuthSessionRow>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM oauth_session WHERE did = ? AND expires_at > ? \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<SessionTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(did.as_str())
            .bind(now)
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.into_iter().map(session_row).collect()
    }

    async fn sweep(&self, now: Millis) -> StoreResult<u64> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let mut n = 0;
        for sql in [
            "DELETE FROM oauth_request WHERE expires_at <= ?",
            "DELETE FROM oauth_challenge WHERE expires_at <= ?",
            "DELETE FROM oauth_code WHERE expires_at <= ?",
            "DELETE FROM oauth_session WHERE expires_at <= ?",
        ] {
            n += delete_expired(&mut tx, sql, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(n)
    }
}
