//! [`EmailTokenStore`] for [`SqliteStore`]: the `email_token` table and
//! `account.email_confirmed_at` (migration `0004_email_tokens.sql`). Token hashes only; the
//! codes never reach this crate.

use async_trait::async_trait;
use pds::ports::{
    Conflict, EmailTokenRow, EmailTokenStore, Millis, StoreError, StoreResult, TokenPurpose,
};
use syntax::Did;

use crate::SqliteStore;
use crate::sqlite::{db, found};

/// A foreign-key violation means the account does not exist.
fn missing_account(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_foreign_key_violation()
    {
        return StoreError::NotFound;
    }
    db(e)
}

#[derive(Debug, thiserror::Error)]
#[error("corrupt email_token row: {0}")]
struct CorruptRow(String);

type TokenTuple = (String, String, Vec<u8>, i64);

fn row((did, purpose, token_hash, requested_at): TokenTuple) -> StoreResult<EmailTokenRow> {
    let did: Did = did
        .parse()
        .map_err(|_| StoreError::backend(CorruptRow(format!("did {did:?}"))))?;
    let purpose = TokenPurpose::parse(&purpose)
        .ok_or_else(|| StoreError::backend(CorruptRow(format!("purpose {purpose:?}"))))?;
    Ok(EmailTokenRow {
        did,
        purpose,
        token_hash,
        requested_at,
    })
}

#[async_trait]
impl EmailTokenStore for SqliteStore {
    async fn put_email_token(&self, token: EmailTokenRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO email_token (did, purpose, token_hash, requested_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (did, purpose) DO UPDATE \
             SET token_hash = excluded.token_hash, requested_at = excluded.requested_at",
        )
        .bind(token.did.as_str())
        .bind(token.purpose.as_str())
        .bind(token.token_hash.as_slice())
        .bind(token.requested_at)
        .execute(&self.write)
        .await
        .map_err(missing_account)?;
        Ok(())
    }

    async fn email_token(
        &self,
        did: &Did,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<EmailTokenRow>> {
        let found: Option<TokenTuple> = sqlx::query_as(
            "SELECT did, purpose, token_hash, requested_at FROM email_token \
             WHERE did = ? AND purpose = ?",
        )
        .bind(did.as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        found.map(row).transpose()
    }

    async fn email_token_by_hash(
        &self,
        purpose: TokenPurpose,
        token_hash: &[u8],
    ) -> StoreResult<Option<EmailTokenRow>> {
        let found: Option<TokenTuple> = sqlx::query_as(
            "SELECT did, purpose, token_hash, requested_at FROM email_token \
             WHERE purpose = ? AND token_hash = ? LIMIT 1",
        )
        .bind(purpose.as_str())
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        found.map(row).transpose()
    }

    async fn take_email_token(
        &self,
        did: &Did,
        purpose: TokenPurpose,
        token_hash: &[u8],
    ) -> StoreResult<bool> {
        let res =
            sqlx::query("DELETE FROM email_token WHERE did = ? AND purpose = ? AND token_hash = ?")
                .bind(did.as_str())
                .bind(purpose.as_str())
                .bind(token_hash)
                .execute(&self.write)
                .await
                .map_err(db)?;
        Ok(res.rows_affected() > 0)
    }

    async fn email_confirmed_at(&self, did: &Did) -> StoreResult<Option<Millis>> {
        let found: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT email_confirmed_at FROM account WHERE did = ?")
                .bind(did.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(found.and_then(|(at,)| at))
    }

    async fn set_email_confirmed(&self, did: &Did, at: Millis) -> StoreResult<()> {
        let res = sqlx::query("UPDATE account SET email_confirmed_at = ? WHERE did = ?")
            .bind(at)
            .bind(did.as_str())
            .execute(&self.write)
            .await
            .map_err(db)?;
        found(&res)?;
        Ok(())
    }

    async fn update_email(&self, did: &Did, email: &str) -> StoreResult<()> {
        let mut tx = self.write.begin().await.map_err(db)?;
        let res =
            sqlx::query("UPDATE account SET email = ?, email_confirmed_at = NULL WHERE did = ?")
                .bind(email)
                .bind(did.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => {
                        StoreError::Conflict(Conflict::Email)
                    }
                    _ => db(e),
                })?;
        found(&res)?;
        sqlx::query("DELETE FROM email_token WHERE did = ?")
            .bind(did.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
