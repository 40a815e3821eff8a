//! The OAuth Authorization Server and Resource Server use cases (checklist sections O and P),
//! on top of the `oauth` crate's checks and the [`OAuthStore`] port. No HTTP: the relay
//! fetches client metadata (SSRF-guarded), reads headers and forms, and maps [`OAuthError`]
//! onto OAuth error responses.
//!
//! The flow:
//! 1. **PAR** ([`Pds::oauth_par`]): a verified DPoP proof and a validated client; the request
//!    is checked ([`oauth::authorization::parse_par`]) and stored behind a `request_uri` for
//!    five minutes; its PKCE challenge is remembered for a day (reuse refused).
//! 2. **Sign-in and consent** ([`Pds::oauth_pending`], [`Pds::oauth_approve`]): the account
//!    password (not an app password), honouring `login_hint`; the request becomes a one-minute
//!    code, bound to the account.
//! 3. **Token** ([`Pds::oauth_token`]): the code (single use: a second redemption revokes the
//!    session the first one made), PKCE, `redirect_uri`, the DPoP key the request was pushed
//!    with; a new session with a DPoP-bound access token and a refresh token. Refreshing
//!    rotates the refresh token (a reused one revokes the session) and keeps the DPoP key and
//!    the client.
//! 4. **Resource requests** ([`Pds::oauth_verify_access`]): the access token, the proof's key
//!    against `cnf.jkt`, the session still live, and the scopes: `transition:generic` gives
//!    app-password-level access (`transition:chat.bsky` the privileged kind); `atproto` alone
//!    gives nothing on XRPC yet (granular permissions are not enforced).
//!
//! DPoP proofs are checked once per request by [`Pds::oauth_dpop`]: the proof itself, the
//! server nonce (rotating, shared by every process with the server secret) and the replay
//! cache.

use std::sync::Mutex;

use crypto::{Curve, Keypair};
use oauth::OAuthErrorCode;
use oauth::authorization::{AuthorizationRequest, ResponseMode};
use oauth::client_metadata::ClientMetadata;
use oauth::dpop::{DpopProof, IatWindow, ProofTarget};
use oauth::nonce::NonceSource;
use oauth::replay::{ReplayCache, Seen};
use oauth::server_metadata::Issuer;
use oauth::token::{self, AccessClaims, Confirmation, lifetimes};
use serde::{Deserialize, Serialize};

use crate::jwt::{AccessScope, AuthContext};
use crate::ports::{
    CodeTake, Conflict, OAuthCodeRow, OAuthRequestRow, OAuthSessionRow, RefreshRotation, StoreError,
};
use crate::{Pds, now_ms};

/// The prefix of every `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// An OAuth error: the code and a description safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// The OAuth `error` code.
    pub code: OAuthErrorCode,
    /// The `error_description`.
    pub description: String,
}

impl OAuthError {
    fn new(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    fn grant(description: &str) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidGrant, description)
    }

    fn store(e: StoreError) -> OAuthError {
        tracing::error!(error = %e, "oauth storage failed");
        OAuthError::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the server could not complete the request",
        )
    }
}

macro_rules! from_oauth_error {
    ($($t:ty),*) => {$(
        impl From<$t> for OAuthError {
            fn from(e: $t) -> OAuthError {
                OAuthError::new(e.error_code(), e.to_string())
            }
        }
    )*};
}
from_oauth_error!(
    oauth::dpop::DpopError,
    oauth::authorization::ParError,
    oauth::pkce::PkceError,
    oauth::token::TokenError,
    oauth::client_metadata::ClientMetadataError,
    oauth::client_auth::ClientAuthError
);

type OResult<T> = std::result::Result<T, OAuthError>;

/// The Authorization Server's own state: issuer, signing key, nonces, replay memory.
pub(crate) struct OAuthServer {
    issuer: Issuer,
    key: Keypair,
    nonces: NonceSource,
    replay: Mutex<ReplayCache>,
}

impl OAuthServer {
    /// From the public URL and the server secret; `None` when the public URL cannot be an
    /// issuer (not https, except on loopback for development).
    pub(crate) fn new(public_url: &str, secret: &crate::SecretKey) -> Option<OAuthServer> {
        let issuer = match Issuer::parse(public_url.trim_end_matches('/'), true) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(public_url, error = %e, "OAuth disabled: the public URL is not an issuer origin");
                return None;
            }
        };
        let key =
            Keypair::from_private_bytes(Curve::P256, &secret.derive("oauth-signing-key")).ok()?;
        let window = IatWindow::default();
        let ttl = u64::try_from(window.max_age_secs + window.max_ahead_secs + 60).unwrap_or(600);
        Some(OAuthServer {
            issuer,
            key,
            nonces: NonceSource::new(
                secret.derive("oauth-dpop-nonce"),
                oauth::nonce::DEFAULT_PERIOD,
            ),
            replay: Mutex::new(ReplayCache::new(
                std::time::Duration::from_secs(ttl),
                200_000,
            )),
        })
    }
}

/// What a pushed request is stored as.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRequest {
    request: AuthorizationRequest,
    /// The confidential client's key (`kid`, thumbprint) used at PAR.
    client_key: Option<(String, String)>,
}

/// A PAR response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    /// The `request_uri` to send the user's browser to the authorization endpoint with.
    pub request_uri: String,
    /// Seconds it stays usable.
    pub expires_in: i64,
}

/// What the authorization page shows about a pending request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// The full request.
    pub request: AuthorizationRequest,
}

/// Where the browser goes after the user approved or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRedirect {
    /// The client's redirect URI.
    pub redirect_uri: String,
    /// How to deliver the parameters.
    pub response_mode: ResponseMode,
    /// `code`, `state`, `iss` (or `error`, `state`, `iss`).
    pub params: Vec<(String, String)>,
}

/// A token request's grant.
#[derive(Debug, Clone, Copy)]
pub enum TokenGrant<'a> {
    /// `grant_type=authorization_code`.
    Code {
        /// The code.
        code: &'a str,
        /// The `redirect_uri` sent (must be the request's).
        redirect_uri: Option<&'a str>,
        /// The PKCE verifier.
        code_verifier: Option<&'a str>,
    },
    /// `grant_type=refresh_token`.
    Refresh {
        /// The refresh token.
        refresh_token: &'a str,
    },
}

/// A token response (RFC 6749 §5.1 plus atproto's `sub`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `DPoP`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The new refresh token.
    pub refresh_token: String,
    /// Granted scopes.
    pub scope: String,
    /// The account's DID (checklist #161).
    pub sub: String,
}

/// Seconds a refresh token and the whole session live for `client` (checklist #162): a public
/// client's session ends two weeks after sign-in, whatever the refreshes; a confidential
/// client's refresh tokens live 180 days each, its session at most twice that.
fn session_lifetimes(client: &ClientMetadata) -> (i64, i64) {
    if client.is_confidential() {
        (
            lifetimes::CONFIDENTIAL_REFRESH,
            2 * lifetimes::CONFIDENTIAL_REFRESH,
        )
    } else {
        (lifetimes::PUBLIC_SESSION, lifetimes::PUBLIC_SESSION)
    }
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

impl Pds {
    fn oauth_server(&self) -> OResult<&OAuthServer> {
        self.oauth.as_ref().ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "OAuth is not available on this server (its public URL is not https)",
            )
        })
    }

    /// The issuer, when OAuth is available.
    pub fn oauth_issuer(&self) -> Option<&Issuer> {
        self.oauth.as_ref().map(|s| &s.issuer)
    }

    /// The server's OAuth public key as a JWKS document (`/oauth/jwks`).
    pub fn oauth_jwks(&self) -> Option<serde_json::Value> {
        self.oauth.as_ref().map(|s| {
            let mut jwk = s.key.public_key().to_jwk();
            if let Some(o) = jwk.as_object_mut() {
                o.insert("kid".into(), s.key.public_key().jwk_thumbprint().into());
                o.insert("use".into(), "sig".into());
                o.insert("alg".into(), "ES256".into());
            }
            serde_json::json!({ "keys": [jwk] })
        })
    }

    /// The DPoP nonce to send now (every response to a DPoP request carries it).
    pub fn dpop_nonce(&self) -> Option<String> {
        self.oauth.as_ref().map(|s| s.nonces.current(now_secs()))
    }

    /// Checks a request's DPoP proof: the proof (method, URL, `ath` when an access token
    /// comes with it), the server nonce (`use_dpop_nonce` when missing or stale) and replays.
    pub fn oauth_dpop(
        &self,
        proof: Option<&str>,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> OResult<DpopProof> {
        let server = self.oauth_server()?;
        let proof = proof.ok_or_else(|| {
            OAuthError::new(OAuthErrorCode::InvalidDpopProof, "a DPoP proof is required")
        })?;
        let now = now_secs();
        let target = ProofTarget {
            method,
            url,
            access_token,
        };
        let checked = oauth::dpop::verify(proof, &target, now, IatWindow::default())?;
        if !checked
            .nonce
            .as_deref()
            .is_some_and(|n| server.nonces.is_valid(n, now))
        {
            return Err(OAuthError::new(
                OAuthErrorCode::UseDpopNonce,
                "Authorization server requires nonce in DPoP proof",
            ));
        }
        let seen = match server.replay.lock() {
            Ok(mut cache) => cache.check_and_remember(&checked.replay_key(), now),
            Err(_) => Seen::Full,
        };
        match seen {
            Seen::New => Ok(checked),
            Seen::Replayed => Err(OAuthError::new(
                OAuthErrorCode::InvalidDpopProof,
                "DPoP proof replayed",
            )),
            Seen::Full => Err(OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "too many requests; retry shortly",
            )),
        }
    }

    /// Remembers a one-time identifier (a client assertion's `jti`, scoped by the caller) for
    /// the replay window: a second use is refused (checklist #160).
    pub fn oauth_once(&self, key: &str) -> OResult<()> {
        let server = self.oauth_server()?;
        let seen = match server.replay.lock() {
            Ok(mut cache) => cache.check_and_remember(key, now_secs()),
            Err(_) => Seen::Full,
        };
        match seen {
            Seen::New => Ok(()),
            Seen::Replayed => Err(OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "client assertion replayed",
            )),
            Seen::Full => Err(OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "too many requests; retry shortly",
            )),
        }
    }

    /// Pushed authorization request: validates `params` for `client` (authenticated with
    /// `client_key` when confidential) and stores it (checklist #151, #153).
    pub async fn oauth_par(
        &self,
        client: &ClientMetadata,
        client_key: Option<(String, String)>,
        params: &[(String, String)],
        proof: &DpopProof,
    ) -> OResult<PushedRequest> {
        self.oauth_server()?;
        let request = oauth::authorization::parse_par(params, client, Some(&proof.jkt))?;
        let id = token::random_id();
        let now = now_ms();
        let challenge = request.code_challenge.clone();
        let data = serde_json::to_string(&StoredRequest {
            request,
            client_key,
        })
        .map_err(|_| OAuthError::new(OAuthErrorCode::InvalidRequest, "request too odd to store"))?;
        let row = OAuthRequestRow {
            id: id.clone(),
            client_id: client.client_id.clone(),
            data,
            expires_at: now + lifetimes::REQUEST_URI * 1000,
        };
        match self
            .deps
            .oauth
            .put_request(
                &row,
                &challenge,
                now + lifetimes::CHALLENGE_MEMORY * 1000,
                now,
            )
            .await
        {
            Ok(()) => Ok(PushedRequest {
                request_uri: format!("{REQUEST_URI_PREFIX}{id}"),
                expires_in: lifetimes::REQUEST_URI,
            }),
            Err(StoreError::Conflict(Conflict::OAuthChallenge)) => Err(OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "code_challenge was used in an earlier request",
            )),
            Err(e) => Err(OAuthError::store(e)),
        }
    }

    async fn pending_row(
        &self,
        client_id: &str,
        request_uri: &str,
    ) -> OResult<(OAuthRequestRow, StoredRequest)> {
        let id = request_uri
            .strip_prefix(REQUEST_URI_PREFIX)
            .ok_or_else(|| {
                OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    "request_uri is not one of ours",
                )
            })?;
        let row = self
            .deps
            .oauth
            .request(id, now_ms())
            .await
            .map_err(OAuthError::store)?
            .filter(|r| r.client_id == client_id)
            .ok_or_else(|| {
                OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    "unknown or expired request_uri",
                )
            })?;
        let stored: StoredRequest = serde_json::from_str(&row.data).map_err(|_| {
            OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                "unknown or expired request_uri",
            )
        })?;
        Ok((row, stored))
    }

    /// The pending request behind `request_uri` for `client_id` (the authorization page).
    pub async fn oauth_pending(
        &self,
        client_id: &str,
        request_uri: &str,
    ) -> OResult<PendingAuthorization> {
        self.oauth_server()?;
        let (_, stored) = self.pending_row(client_id, request_uri).await?;
        Ok(PendingAuthorization {
            request: stored.request,
        })
    }

    /// The user signed in (account password, and the mailed code when email two-factor
    /// sign-in is on) and approved: the request becomes a code and
    /// the browser goes back to the client with `code`, `state` and `iss` (checklist #154).
    /// A failed sign-in is [`crate::ErrorKind::AuthenticationRequired`]-like: the page shows it
    /// and the request stays usable.
    pub async fn oauth_approve(
        &self,
        client_id: &str,
        request_uri: &str,
        identifier: &str,
        password: &str,
        email_code: Option<&str>,
    ) -> std::result::Result<AuthorizationRedirect, ApproveError> {
        let server = self.oauth_server().map_err(ApproveError::OAuth)?;
        let (row, stored) = self
            .pending_row(client_id, request_uri)
            .await
            .map_err(ApproveError::OAuth)?;
        let account = self
            .account_by_identifier(identifier)
            .await
            .map_err(ApproveError::Pds)?
            .ok_or(ApproveError::SignIn("Invalid identifier or password"))?;
        let ok = match account.password_hash.clone() {
            Some(hash) => self
                .check_password(password.to_owned(), hash)
                .await
                .map_err(ApproveError::Pds)?,
            None => false,
        };
        if !ok {
            return Err(ApproveError::SignIn("Invalid identifier or password"));
        }
        if let Some(hint) = stored.request.login_hint.as_deref() {
            let hint = hint.trim().trim_start_matches('@');
            let matches =
                hint == account.did.as_str() || account.handle.as_str().eq_ignore_ascii_case(hint);
            if !matches {
                return Err(ApproveError::SignIn(
                    "The app asked for another account: sign in as the account it named",
                ));
            }
        }
        if account.takedown_ref.is_some() {
            return Err(ApproveError::SignIn("Account has been taken down"));
        }
        // Email two-factor sign-in: the first attempt mails a code and asks for it; the next
        // one must carry it (checklist #129 holds for OAuth sign-in too).
        match self.second_factor(&account, email_code).await {
            Ok(()) => {}
            Err(e) if e.kind() == crate::ErrorKind::AuthFactorTokenRequired => {
                return Err(ApproveError::CodeRequired);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    crate::ErrorKind::InvalidToken | crate::ErrorKind::ExpiredToken
                ) =>
            {
                return Err(ApproveError::SignIn(
                    "The sign-in code is wrong or has expired",
                ));
            }
            Err(e) => return Err(ApproveError::Pds(e)),
        }
        let code = format!("cod-{}", token::random_id());
        let code_row = OAuthCodeRow {
            digest: crypto::sha256(code.as_bytes()),
            did: account.did.clone(),
            client_id: row.client_id.clone(),
            data: row.data.clone(),
            expires_at: now_ms() + lifetimes::CODE * 1000,
        };
        match self
            .deps
            .oauth
            .issue_code(&row.id, &code_row, now_ms())
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Err(ApproveError::OAuth(OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    "unknown or expired request_uri",
                )));
            }
            Err(e) => return Err(ApproveError::OAuth(OAuthError::store(e))),
        }
        Ok(AuthorizationRedirect {
            redirect_uri: stored.request.redirect_uri,
            response_mode: stored.request.response_mode,
            params: vec![
                ("code".into(), code),
                ("state".into(), stored.request.state),
                ("iss".into(), server.issuer.as_str().to_owned()),
            ],
        })
    }

    /// The token endpoint: a code or a refresh token for `client` (authenticated with
    /// `client_key` when confidential, against its current key set `client_jwks`), with the
    /// request's DPoP proof. A confidential client's session ends when the key it signed in
    /// with has left its key set (checklist #160).
    pub async fn oauth_token(
        &self,
        client: &ClientMetadata,
        client_key: Option<(String, String)>,
        client_jwks: Option<&serde_json::Value>,
        grant: TokenGrant<'_>,
        proof: &DpopProof,
    ) -> OResult<TokenResponse> {
        let server = self.oauth_server()?;
        let now = now_ms();
        let session = match grant {
            TokenGrant::Code {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let digest = crypto::sha256(code.as_bytes());
                let row = match self
                    .deps
                    .oauth
                    .take_code(&digest, now)
                    .await
                    .map_err(OAuthError::store)?
                {
                    CodeTake::Unknown => return Err(OAuthError::grant("unknown or expired code")),
                    CodeTake::Reused { session_id } => {
                        if let Some(id) = session_id {
                            self.deps
                                .oauth
                                .revoke_session(&id)
                                .await
                                .map_err(OAuthError::store)?;
                        }
                        return Err(OAuthError::grant(
                            "code used twice: the tokens it gave are revoked",
                        ));
                    }
                    CodeTake::Fresh(row) => row,
                };
                if row.client_id != client.client_id {
                    return Err(OAuthError::grant("code was issued to another client"));
                }
                let stored: StoredRequest = serde_json::from_str(&row.data)
                    .map_err(|_| OAuthError::grant("unknown or expired code"))?;
                let req = stored.request;
                if redirect_uri.is_some_and(|r| r != req.redirect_uri) {
                    return Err(OAuthError::grant("redirect_uri does not match the request"));
                }
                let verifier = code_verifier.ok_or_else(|| {
                    OAuthError::new(OAuthErrorCode::InvalidRequest, "code_verifier is required")
                })?;
                oauth::pkce::verify_s256(verifier, &req.code_challenge)?;
                if req.dpop_jkt.as_deref().is_some_and(|j| j != proof.jkt) {
                    return Err(OAuthError::grant(
                        "the DPoP key is not the one the request was made with",
                    ));
                }
                if client.is_confidential() && client_key != stored.client_key {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidClient,
                        "client authenticated with another key than at PAR",
                    ));
                }
                let (refresh, refresh_digest) = token::new_refresh_token();
                let (refresh_life, session_life) = session_lifetimes(client);
                let session = OAuthSessionRow {
                    id: token::random_id(),
                    did: row.did.clone(),
                    client_id: client.client_id.clone(),
                    scope: req.scope.clone(),
                    dpop_jkt: proof.jkt.clone(),
                    client_key,
                    refresh_digest,
                    created_at: now,
                    refresh_expires_at: now + refresh_life * 1000,
                    expires_at: now + session_life * 1000,
                };
                self.deps
                    .oauth
                    .create_session(&session, Some(&digest))
                    .await
                    .map_err(OAuthError::store)?;
                (session, refresh)
            }
            TokenGrant::Refresh { refresh_token } => {
                let old = token::refresh_token_digest(refresh_token);
                let current = self
                    .deps
                    .oauth
                    .session_by_refresh(&old, now)
                    .await
                    .map_err(OAuthError::store)?;
                // Checked before rotating: a stolen token presented by someone else must not
                // burn the owner's.
                if let Some(s) = &current {
                    if s.client_id != client.client_id {
                        return Err(OAuthError::grant("refresh token of another client"));
                    }
                    if let (Some((kid, jkt)), Some(jwks)) = (&s.client_key, client_jwks)
                        && !oauth::client_auth::key_still_published(jwks, kid, jkt)
                    {
                        self.deps
                            .oauth
                            .revoke_session(&s.id)
                            .await
                            .map_err(OAuthError::store)?;
                        return Err(OAuthError::grant(
                            "the client's key for this session was removed: the session is revoked",
                        ));
                    }
                    if s.dpop_jkt != proof.jkt {
                        return Err(OAuthError::grant(
                            "the DPoP key is not the one the session is bound to",
                        ));
                    }
                    if client.is_confidential() && client_key != s.client_key {
                        return Err(OAuthError::new(
                            OAuthErrorCode::InvalidClient,
                            "client authenticated with another key than the session's",
                        ));
                    }
                }
                let (refresh, new_digest) = token::new_refresh_token();
                let (life, _) = session_lifetimes(client);
                match self
                    .deps
                    .oauth
                    .rotate_refresh(&old, &new_digest, now + life * 1000, now)
                    .await
                    .map_err(OAuthError::store)?
                {
                    RefreshRotation::Unknown => {
                        return Err(OAuthError::grant("unknown or expired refresh token"));
                    }
                    RefreshRotation::Reused => {
                        return Err(OAuthError::grant(
                            "refresh token used twice: the session is revoked",
                        ));
                    }
                    RefreshRotation::Rotated(s) => (*s, refresh),
                }
            }
        };
        let (session, refresh_token) = session;
        let now_s = now / 1000;
        let exp = (now_s + lifetimes::ACCESS_TOKEN).min(session.expires_at / 1000);
        let claims = AccessClaims {
            iss: server.issuer.as_str().to_owned(),
            aud: self.config.service_did.as_str().to_owned(),
            sub: session.did.as_str().to_owned(),
            client_id: session.client_id.clone(),
            scope: session.scope.clone(),
            cnf: Confirmation {
                jkt: session.dpop_jkt.clone(),
            },
            iat: now_s,
            exp,
            jti: session.id.clone(),
        };
        Ok(TokenResponse {
            access_token: token::sign_access_token(&claims, &server.key),
            token_type: "DPoP",
            expires_in: exp - now_s,
            refresh_token,
            scope: session.scope,
            sub: session.did.as_str().to_owned(),
        })
    }

    /// Token revocation (RFC 7009): a refresh or access token ends its session. Unknown
    /// tokens are not an error.
    pub async fn oauth_revoke(&self, token_text: &str) -> OResult<()> {
        let server = self.oauth_server()?;
        let now = now_ms();
        let digest = token::refresh_token_digest(token_text);
        let session_id = match self
            .deps
            .oauth
            .session_by_refresh(&digest, now)
            .await
            .map_err(OAuthError::store)?
        {
            Some(s) => Some(s.id),
            None => token::verify_access_token(
                token_text,
                &server.key.public_key(),
                server.issuer.as_str(),
                self.config.service_did.as_str(),
                now / 1000,
            )
            .ok()
            .map(|c| c.jti),
        };
        if let Some(id) = session_id {
            self.deps
                .oauth
                .revoke_session(&id)
                .await
                .map_err(OAuthError::store)?;
        }
        Ok(())
    }

    /// The account an OAuth access token names, checking only its signature, issuer, audience
    /// and expiry (for rate-limit keys; never for access, which needs the proof and session).
    pub fn oauth_access_subject(&self, access_token: &str) -> Option<syntax::Did> {
        let server = self.oauth.as_ref()?;
        token::verify_access_token(
            access_token,
            &server.key.public_key(),
            server.issuer.as_str(),
            self.config.service_did.as_str(),
            now_secs(),
        )
        .ok()?
        .sub
        .parse()
        .ok()
    }

    /// Checks an access token presented with `Authorization: DPoP` and its (already
    /// verified, `ath`-checked) proof; returns what it grants on XRPC.
    pub async fn oauth_verify_access(
        &self,
        access_token: &str,
        proof: &DpopProof,
    ) -> OResult<AuthContext> {
        let server = self.oauth_server()?;
        let now = now_ms();
        let claims = token::verify_access_token(
            access_token,
            &server.key.public_key(),
            server.issuer.as_str(),
            self.config.service_did.as_str(),
            now / 1000,
        )?;
        if claims.cnf.jkt != proof.jkt {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "the DPoP proof is not signed with the key the token is bound to",
            ));
        }
        let session = self
            .deps
            .oauth
            .session(&claims.jti, now)
            .await
            .map_err(OAuthError::store)?
            .ok_or_else(|| OAuthError::new(OAuthErrorCode::InvalidToken, "session revoked"))?;
        let scopes = oauth::scope::ScopeSet::parse(&session.scope);
        if !(scopes.has_atproto() && scopes.transition_generic()) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "this server grants XRPC access to OAuth tokens with transition:generic only",
            ));
        }
        Ok(AuthContext {
            did: session.did,
            scope: AccessScope::OAuth {
                privileged: scopes.transition_chat(),
                email: scopes.transition_email(),
            },
        })
    }
}

/// Why [`Pds::oauth_approve`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    /// The sign-in failed; the page says why and the user may try again.
    #[error("{0}")]
    SignIn(&'static str),
    /// The account has email two-factor sign-in on: a code was mailed, and the page must ask
    /// for it (with the password again).
    #[error("a sign-in code was sent to the account's email")]
    CodeRequired,
    /// The request is unusable (unknown, expired): an OAuth error.
    #[error(transparent)]
    OAuth(OAuthError),
    /// The server failed.
    #[error(transparent)]
    Pds(crate::Error),
}
