//! Session use cases: `createSession` (handle, DID or email; password or app password),
//! `refreshSession` (single-use refresh tokens), `getSession`, `deleteSession`, access-token
//! verification for the relay, app passwords, and `getServiceAuth` (checklist #129-#131,
//! #134, #137).

use syntax::{Did, Handle, Nsid};

use crate::accounts::AccountStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::jwt::{AccessScope, AuthContext, TokenType};
use crate::ports::{AccountRow, AppPasswordRow, Conflict, RefreshTokenRow, StoreError};
use crate::{Pds, ms_to_datetime, now_ms, secrets};

/// Methods a service token may never be requested for: account management (the reference's
/// `PROTECTED_METHODS`, checklist #137). The relay also refuses to proxy them.
pub const PROTECTED_METHODS: &[&str] = &[
    "com.atproto.admin.sendEmail",
    "com.atproto.identity.requestPlcOperationSignature",
    "com.atproto.identity.signPlcOperation",
    "com.atproto.identity.updateHandle",
    "com.atproto.server.activateAccount",
    "com.atproto.server.confirmEmail",
    "com.atproto.server.createAppPassword",
    "com.atproto.server.deactivateAccount",
    "com.atproto.server.getAccountInviteCodes",
    "com.atproto.server.getSession",
    "com.atproto.server.listAppPasswords",
    "com.atproto.server.requestAccountDelete",
    "com.atproto.server.requestEmailConfirmation",
    "com.atproto.server.requestEmailUpdate",
    "com.atproto.server.revokeAppPassword",
    "com.atproto.server.updateEmail",
];

/// Methods (or `prefix.*` families) that need a full session or a privileged app password (the
/// reference's `PRIVILEGED_METHODS`).
pub const PRIVILEGED_METHODS: &[&str] = &["chat.bsky.*", "com.atproto.server.createAccount"];

/// Whether `nsid` is listed in `list` (exactly, or under a `prefix.*` entry).
pub(crate) fn method_in(list: &[&str], nsid: &str) -> bool {
    list.iter().any(|m| match m.strip_suffix('*') {
        Some(prefix) => nsid.starts_with(prefix),
        None => *m == nsid,
    })
}

/// Most a service token may live, and without `lxm` (seconds).
const SERVICE_TOKEN_MAX_TTL: i64 = 60 * 60;
const SERVICE_TOKEN_MAX_TTL_NO_LXM: i64 = 60;

/// A session: account facts and, for `createSession`/`refreshSession`, the tokens.
#[derive(Clone)]
pub struct Session {
    /// The account DID.
    pub did: Did,
    /// The handle.
    pub handle: Handle,
    /// Email, if any.
    pub email: Option<String>,
    /// Whether the email is confirmed (`confirmEmail`).
    pub email_confirmed: bool,
    /// Whether email two-factor sign-in is on (`emailAuthFactor`, checklist #129).
    pub email_auth_factor: bool,
    /// Hosting status.
    pub active: bool,
    /// `status` when inactive (`deactivated`, `takendown`).
    pub status: Option<&'static str>,
    /// Access JWT (empty for `getSession`).
    pub access_jwt: String,
    /// Refresh JWT (empty for `getSession`).
    pub refresh_jwt: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("email", &self.email)
            .field("active", &self.active)
            .field("status", &self.status)
            .field("access_jwt", &"<redacted>")
            .field("refresh_jwt", &"<redacted>")
            .finish()
    }
}

/// An app password as listed (`password` only right after creation).
#[derive(Clone, PartialEq, Eq)]
pub struct AppPassword {
    /// Name.
    pub name: String,
    /// The password (`xxxx-xxxx-xxxx-xxxx`), only in `createAppPassword`'s answer.
    pub password: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Privileged flag.
    pub privileged: bool,
}

impl std::fmt::Debug for AppPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPassword")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("created_at", &self.created_at)
            .field("privileged", &self.privileged)
            .finish()
    }
}

fn login_failed() -> Error {
    Error::new(ErrorKind::AuthRequired, "Invalid identifier or password")
}

fn session_of(row: &AccountRow, access_jwt: String, refresh_jwt: String) -> Session {
    let status = AccountStatus::of(row);
    Session {
        did: row.did.clone(),
        handle: row.handle.clone(),
        email: row.email.clone(),
        email_confirmed: false,
        email_auth_factor: false,
        active: status.is_active(),
        status: status.status_str(),
        access_jwt,
        refresh_jwt,
    }
}

fn secs(ms: i64) -> i64 {
    ms / 1000
}

impl Pds {
    /// Issues an access token and a stored, single-use refresh token.
    pub(crate) async fn issue_tokens(
        &self,
        did: &Did,
        scope: AccessScope,
        app_password_name: Option<String>,
    ) -> Result<(String, String)> {
        let now = secs(now_ms());
        let access_ttl = i64::try_from(self.config.access_token_ttl.as_secs()).unwrap_or(7200);
        let refresh_ttl =
            i64::try_from(self.config.refresh_token_ttl.as_secs()).unwrap_or(90 * 86_400);
        let jti = secrets::random_hex(16);
        self.deps
            .accounts
            .insert_refresh_token(RefreshTokenRow {
                id: jti.clone(),
                did: did.clone(),
                app_password_name,
                expires_at: (now + refresh_ttl) * 1000,
            })
            .await?;
        Ok((
            self.tokens.access(did, scope, now, access_ttl),
            self.tokens.refresh(did, &jti, now, refresh_ttl),
        ))
    }

    /// Verifies an access JWT (`typ: at+jwt`; a refresh token is refused) and returns what it
    /// grants. Stateless: the use cases check the account itself.
    pub fn verify_access_token(&self, token: &str) -> Result<AuthContext> {
        let claims = self
            .tokens
            .verify(token, TokenType::Access, secs(now_ms()))?;
        self.tokens.access_context(&claims)
    }

    pub(crate) async fn account_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Option<AccountRow>> {
        let identifier = identifier.trim();
        if identifier.starts_with("did:") {
            let Ok(did) = identifier.parse::<Did>() else {
                return Ok(None);
            };
            Ok(self.deps.accounts.account(&did).await?)
        } else if identifier.contains('@') {
            Ok(self.deps.accounts.account_by_email(identifier).await?)
        } else {
            let Ok(handle) = identifier.parse::<Handle>() else {
                return Ok(None);
            };
            Ok(self.deps.accounts.account_by_handle(&handle).await?)
        }
    }

    /// `com.atproto.server.createSession` without a sign-in code: see
    /// [`Pds::create_session_with_factor`].
    pub async fn create_session(&self, identifier: &str, password: &str) -> Result<Session> {
        self.create_session_with_factor(identifier, password, None)
            .await
    }

    /// `com.atproto.server.createSession`: `identifier` is a handle, DID or email; `password`
    /// is the account password or an app password (which gives an app-password session).
    ///
    /// With email two-factor sign-in on, the account password also needs `auth_factor_token`,
    /// the code mailed by a first attempt without it (`AuthFactorTokenRequired`); app passwords
    /// skip the second factor (checklist #129, see `auth_factor.rs`).
    pub async fn create_session_with_factor(
        &self,
        identifier: &str,
        password: &str,
        auth_factor_token: Option<&str>,
    ) -> Result<Session> {
        let row = self
            .account_by_identifier(identifier)
            .await?
            .ok_or_else(login_failed)?;
        let mut grant = None;
        if let Some(hash) = row.password_hash.clone()
            && self.check_password(password.to_owned(), hash).await?
        {
            grant = Some((AccessScope::Full, None));
        }
        if grant.is_none() {
            for app in self.deps.accounts.list_app_passwords(&row.did).await? {
                if self
                    .check_password(password.to_owned(), app.password_hash.clone())
                    .await?
                {
                    grant = Some((
                        AccessScope::AppPassword {
                            privileged: app.privileged,
                        },
                        Some(app.name),
                    ));
                    break;
                }
            }
        }
        let (scope, app_name) = grant.ok_or_else(login_failed)?;
        if row.takedown_ref.is_some() {
            return Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            ));
        }
        if app_name.is_none() {
            self.second_factor(&row, auth_factor_token).await?;
        }
        let (access, refresh) = self.issue_tokens(&row.did, scope, app_name).await?;
        self.with_email_confirmed(session_of(&row, access, refresh))
            .await
    }

    /// `com.atproto.server.refreshSession`: consumes the refresh token (single use) and issues
    /// a new pair with the same grant.
    pub async fn refresh_session(&self, refresh_jwt: &str) -> Result<Session> {
        let now = secs(now_ms());
        let claims = self.tokens.verify(refresh_jwt, TokenType::Refresh, now)?;
        let revoked = || Error::new(ErrorKind::InvalidToken, "Token has been revoked");
        let jti = claims.jti.clone().ok_or_else(revoked)?;
        let stored = self
            .deps
            .accounts
            .refresh_token(&jti)
            .await?
            .ok_or_else(revoked)?;
        if stored.did.as_str() != claims.sub {
            return Err(revoked());
        }
        let row = self
            .deps
            .accounts
            .account(&stored.did)
            .await?
            .ok_or_else(revoked)?;
        if row.takedown_ref.is_some() {
            return Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            ));
        }
        let scope = match &stored.app_password_name {
            None => AccessScope::Full,
            Some(name) => {
                let apps = self.deps.accounts.list_app_passwords(&row.did).await?;
                let app = apps.iter().find(|a| &a.name == name).ok_or_else(revoked)?;
                AccessScope::AppPassword {
                    privileged: app.privileged,
                }
            }
        };
        let access_ttl = i64::try_from(self.config.access_token_ttl.as_secs()).unwrap_or(7200);
        let refresh_ttl =
            i64::try_from(self.config.refresh_token_ttl.as_secs()).unwrap_or(90 * 86_400);
        let new_jti = secrets::random_hex(16);
        let rotated = self
            .deps
            .accounts
            .rotate_refresh_token(
                &jti,
                RefreshTokenRow {
                    id: new_jti.clone(),
                    did: row.did.clone(),
                    app_password_name: stored.app_password_name.clone(),
                    expires_at: (now + refresh_ttl) * 1000,
                },
            )
            .await?;
        if !rotated {
            return Err(revoked());
        }
        self.with_email_confirmed(session_of(
            &row,
            self.tokens.access(&row.did, scope, now, access_ttl),
            self.tokens.refresh(&row.did, &new_jti, now, refresh_ttl),
        ))
        .await
    }

    /// `com.atproto.server.getSession` (tokens left empty); `AccountTakedown` for a taken-down
    /// account, `InvalidToken` for a deleted one.
    pub async fn get_session(&self, auth: &AuthContext) -> Result<Session> {
        let row = self
            .deps
            .accounts
            .account(&auth.did)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::InvalidToken, "Account not found"))?;
        if row.takedown_ref.is_some() {
            return Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            ));
        }
        let mut session = self
            .with_email_confirmed(session_of(&row, String::new(), String::new()))
            .await?;
        if !auth.may_read_email() {
            session.email = None;
            session.email_confirmed = false;
            session.email_auth_factor = false;
        }
        Ok(session)
    }

    /// `com.atproto.server.deleteSession`: revokes the refresh token.
    pub async fn delete_session(&self, refresh_jwt: &str) -> Result<()> {
        let claims = self
            .tokens
            .verify(refresh_jwt, TokenType::Refresh, secs(now_ms()))?;
        if let Some(jti) = claims.jti {
            self.deps.accounts.delete_refresh_token(&jti).await?;
        }
        Ok(())
    }

    /// `com.atproto.server.createAppPassword` (full-access sessions only).
    pub async fn create_app_password(
        &self,
        auth: &AuthContext,
        name: &str,
        privileged: bool,
    ) -> Result<AppPassword> {
        auth.require_full_access()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::invalid(
                "App password name must be 1 to 100 characters",
            ));
        }
        let password = secrets::new_app_password();
        let hash = {
            let p = password.clone();
            let cost = self.config.password_cost;
            tokio::task::spawn_blocking(move || secrets::hash_password(&p, cost))
                .await
                .map_err(|e| Error::internal("password hashing task failed", e))?
                .map_err(|e| Error::internal("password hashing failed", e))?
        };
        let created_at = now_ms();
        match self
            .deps
            .accounts
            .create_app_password(AppPasswordRow {
                did: auth.did.clone(),
                name: name.to_owned(),
                password_hash: hash,
                privileged,
                created_at,
            })
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(Conflict::AppPasswordName)) => {
                return Err(Error::invalid(
                    "could not create app-specific password: name already in use",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(AppPassword {
            name: name.to_owned(),
            password: Some(password),
            created_at: ms_to_datetime(created_at),
            privileged,
        })
    }

    /// `com.atproto.server.listAppPasswords`. App-password sessions may list (not create or
    /// revoke) app passwords, as the reference PDS allows (its handler takes standard access);
    /// the method stays in [`PROTECTED_METHODS`] for service-auth tokens.
    pub async fn list_app_passwords(&self, auth: &AuthContext) -> Result<Vec<AppPassword>> {
        Ok(self
            .deps
            .accounts
            .list_app_passwords(&auth.did)
            .await?
            .into_iter()
            .map(|a| AppPassword {
                name: a.name,
                password: None,
                created_at: ms_to_datetime(a.created_at),
                privileged: a.privileged,
            })
            .collect())
    }

    /// `com.atproto.server.revokeAppPassword` (full-access sessions only); also revokes the
    /// sessions opened with it. Revoking an unknown name is not an error.
    pub async fn revoke_app_password(&self, auth: &AuthContext, name: &str) -> Result<()> {
        auth.require_full_access()?;
        self.deps
            .accounts
            .delete_app_password(&auth.did, name)
            .await?;
        Ok(())
    }

    /// `com.atproto.server.getServiceAuth`: a service JWT for `aud` (a DID, optionally with a
    /// `#service` fragment), valid until `exp` (seconds since the epoch; default now + 60 s),
    /// bound to method `lxm` (checklist #134, #137).
    pub async fn get_service_auth(
        &self,
        auth: &AuthContext,
        aud: &str,
        exp: Option<i64>,
        lxm: Option<&str>,
    ) -> Result<String> {
        let aud_did = aud.split_once('#').map_or(aud, |(d, _)| d);
        aud_did.parse::<Did>().map_err(|_| {
            Error::invalid("aud must be a DID, optionally with a #service fragment")
        })?;
        if let Some(m) = lxm {
            m.parse::<Nsid>()
                .map_err(|_| Error::invalid("lxm must be an NSID"))?;
            if method_in(PROTECTED_METHODS, m) {
                return Err(Error::invalid(
                    "cannot request a service token for a protected method",
                ));
            }
            if method_in(PRIVILEGED_METHODS, m) && !auth.is_privileged() {
                return Err(Error::invalid(format!(
                    "insufficient access to request a service token for {m}"
                )));
            }
        }
        let now = secs(now_ms());
        let exp = exp.unwrap_or(now + SERVICE_TOKEN_MAX_TTL_NO_LXM);
        if exp <= now {
            return Err(Error::new(
                ErrorKind::BadExpiration,
                "expiration is in the past",
            ));
        }
        if exp - now > SERVICE_TOKEN_MAX_TTL {
            return Err(Error::new(
                ErrorKind::BadExpiration,
                "cannot request a token with an expiration more than an hour in the future",
            ));
        }
        if lxm.is_none() && exp - now > SERVICE_TOKEN_MAX_TTL_NO_LXM {
            return Err(Error::new(
                ErrorKind::BadExpiration,
                "cannot request a method-less token with an expiration more than a minute in the future",
            ));
        }
        let row = self.account_row(&auth.did).await?;
        if row.takedown_ref.is_some() {
            return Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            ));
        }
        let key = self.signing_keypair(&auth.did).await?;
        Ok(crate::jwt::service_jwt(&key, &auth.did, aud, lxm, now, exp))
    }

    /// Deletes expired refresh tokens and expired OAuth rows (requests, codes, sessions,
    /// challenge memories): housekeeping for the relay's hourly sweep; returns how many.
    pub async fn collect_expired_sessions(&self) -> Result<u64> {
        let now = now_ms();
        let legacy = self
            .deps
            .accounts
            .delete_expired_refresh_tokens(now)
            .await?;
        let oauth = self.deps.oauth.sweep(now).await?;
        Ok(legacy + oauth)
    }

    /// The account's signing key, decrypted.
    pub(crate) async fn signing_keypair(&self, did: &Did) -> Result<crypto::Keypair> {
        let sealed = self
            .deps
            .accounts
            .signing_key(did)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::RepoNotFound, "Could not find repo"))?;
        crate::accounts::open_key(self, did, &sealed)
    }
}
