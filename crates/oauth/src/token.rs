//! OAuth tokens (`specs/oauth` "Tokens and Session Lifetime"; checklist #161, #162).
//!
//! - **Access tokens** are JWTs (RFC 9068, `typ: at+jwt`) signed by the Authorization
//!   Server's own key (`ES256` or `ES256K`), so the Resource Server, the same process, checks
//!   them without a lookup: `iss`, `aud`, `sub` (the account DID), `client_id`, `scope`,
//!   `cnf.jkt` (the DPoP key they are bound to), `iat`, `exp` and `jti` (the session they
//!   belong to, which the caller looks up to honour revocation). Legacy session tokens are
//!   HS256; a verifier of one kind refuses the other by its algorithm.
//! - **Refresh tokens** are opaque random strings; only their SHA-256 is stored, and each is
//!   used once (the caller rotates them, bound to the session's DPoP key and `client_id`).
//!
//! [`lifetimes`] gathers how long each artefact lives.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{Curve, Keypair, PublicKey};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long each OAuth artefact lives (seconds).
pub mod lifetimes {
    /// A pushed authorization request's `request_uri` (RFC 9126 suggests 5-600 s).
    pub const REQUEST_URI: i64 = 300;
    /// An authorization code: redeemed at once by a working client.
    pub const CODE: i64 = 60;
    /// An access token: under the spec's 30 minutes, and at most the 15 it allows for tokens
    /// that cannot be revoked, although these can (the session is checked on each use).
    pub const ACCESS_TOKEN: i64 = 15 * 60;
    /// A public client's whole session: at most two weeks (checklist #162).
    pub const PUBLIC_SESSION: i64 = 14 * 24 * 3600;
    /// A confidential client's refresh token: at most 180 days each (checklist #162).
    pub const CONFIDENTIAL_REFRESH: i64 = 180 * 24 * 3600;
    /// How long a `code_challenge` is remembered to refuse its reuse (checklist #153).
    pub const CHALLENGE_MEMORY: i64 = 24 * 3600;
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The Authorization Server's issuer origin.
    pub iss: String,
    /// The Resource Server the token is for (the PDS's service DID).
    pub aud: String,
    /// The account's DID.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The DPoP key binding.
    pub cnf: Confirmation,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The session (token family) identifier.
    pub jti: String,
}

/// RFC 7800 confirmation: the DPoP key's thumbprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 7638 thumbprint of the DPoP key.
    pub jkt: String,
}

/// Why an access token was refused: `invalid_token` (401) in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS of JSON objects.
    #[error("access token is malformed")]
    Malformed,
    /// Not an `at+jwt` signed with the server's algorithm.
    #[error("access token is not an OAuth access token")]
    Kind,
    /// The signature does not verify with the server's key.
    #[error("access token signature is invalid")]
    Signature,
    /// Another issuer or audience.
    #[error("access token is not for this server")]
    Audience,
    /// Past `exp`, or issued in the future.
    #[error("access token has expired")]
    Expired,
}

impl TokenError {
    /// The OAuth error code: `invalid_token`.
    pub fn error_code(&self) -> crate::OAuthErrorCode {
        crate::OAuthErrorCode::InvalidToken
    }
}

/// Signs `claims` as an access token with the server's key.
pub fn sign_access_token(claims: &AccessClaims, key: &Keypair) -> String {
    let header = serde_json::json!({"typ": "at+jwt", "alg": key.curve().jwt_alg()});
    // Serialising these plain structs cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let body = serde_json::to_vec(claims).unwrap_or_default();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(body)
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Verifies an access token signed by `key` for issuer `iss` and audience `aud` at
/// `now_secs`. The DPoP binding (`cnf.jkt` against the request's proof) and the session's
/// liveness (`jti`) are the caller's next checks.
pub fn verify_access_token(
    token: &str,
    key: &PublicKey,
    iss: &str,
    aud: &str,
    now_secs: i64,
) -> Result<AccessClaims, TokenError> {
    if token.len() > 8 * 1024 {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed);
    let header: Value = serde_json::from_slice(&decode(h64)?).map_err(|_| TokenError::Malformed)?;
    if header.get("typ").and_then(Value::as_str) != Some("at+jwt")
        || header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Curve::from_jwt_alg)
            != Some(key.curve())
    {
        return Err(TokenError::Kind);
    }
    // Low-S only: we made the signature ourselves.
    key.verify(
        &token.as_bytes()[..h64.len() + 1 + p64.len()],
        &decode(s64)?,
    )
    .map_err(|_| TokenError::Signature)?;
    let claims: AccessClaims =
        serde_json::from_slice(&decode(p64)?).map_err(|_| TokenError::Malformed)?;
    if claims.iss != iss || claims.aud != aud {
        return Err(TokenError::Audience);
    }
    // A minute of tolerance for `iat`: several processes may sign with one key.
    if claims.exp <= now_secs || claims.iat > now_secs.saturating_add(60) {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// A new refresh token and the SHA-256 digest to store in its place.
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("rt-{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = refresh_token_digest(&token);
    (token, digest)
}

/// The stored form of a refresh token (look-ups compare digests, never tokens).
pub fn refresh_token_digest(token: &str) -> [u8; 32] {
    crypto::sha256(token.as_bytes())
}

/// A random identifier (sessions, codes, request URIs): 128 bits, base64url.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
