//! [`AuthFactorStore`] for [`SqliteStore`]: `account.email_auth_factor` (migration
//! `0008_email_auth_factor.sql`), the email two-factor switch of checklist #129.

use async_trait::async_trait;
use pds::ports::{AuthFactorStore, StoreResult};
use syntax::Did;

use crate::SqliteStore;
use crate::sqlite::{db, found};

#[async_trait]
impl AuthFactorStore for SqliteStore {
    async fn email_auth_factor(&self, did: &Did) -> StoreResult<bool> {
        let on: Option<(i64,)> =
            sqlx::query_as("SELECT email_auth_factor FROM account WHERE did = ?")
                .bind(did.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        Ok(on.is_some_and(|(v,)| v != 0))
    }

    async fn set_email_auth_factor(&self, did: &Did, on: bool) -> StoreResult<()> {
        let res = sqlx::query("UPDATE account SET email_auth_factor = ? WHERE did = ?")
            .bind(i64::from(on))
            .bind(did.as_str())
            .execute(&self.write)
            .await
            .map_err(db)?;
        found(&res)
    }
}
