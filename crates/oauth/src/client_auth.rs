//! Confidential client authentication with `private_key_jwt` (RFC 7523; `specs/oauth`
//! "Confidential Client Authentication"; checklist #160).
//!
//! A confidential client signs a short JWT (the client assertion) with a key published in its
//! metadata's `jwks` (or behind `jwks_uri`, fetched by the caller) and sends it with PAR and
//! token requests. [`verify_assertion`] checks it against that key set:
//! - `client_assertion_type` is `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`;
//! - header `alg` `ES256` or `ES256K` (never `none`), and a `kid` naming one EC key of the set
//!   on that curve (a key marked for encryption, or holding a private `d`, does not qualify);
//! - the signature over `header.payload` with that key;
//! - `iss` and `sub` equal the `client_id`, `aud` is (or contains) the issuer, `jti` is a
//!   non-empty string, `iat` is under a minute old (at most 10 s ahead), `exp`, when present,
//!   is in the future.
//!
//! The result names the key (`kid`, `alg`, thumbprint) so the session can be bound to it and
//! revoked when the key leaves the client's key set; the `jti`'s uniqueness is the caller's
//! check, with [`crate::replay::ReplayCache`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{Curve, PublicKey};
use serde_json::Value;

/// The only `client_assertion_type` atproto uses.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How old an assertion's `iat` may be (the spec: accept assertions under a minute old).
pub const MAX_ASSERTION_AGE_SECS: i64 = 60;

/// How far ahead of the server's clock an assertion's `iat` may be.
pub const MAX_ASSERTION_AHEAD_SECS: i64 = 10;

/// The longest assertion accepted.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// An assertion that passed [`verify_assertion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAssertion {
    /// The signing key's `kid` in the client's key set.
    pub kid: String,
    /// The algorithm used (`ES256` or `ES256K`).
    pub alg: &'static str,
    /// The RFC 7638 thumbprint of the signing key.
    pub jkt: String,
    /// The assertion's unique identifier (for the replay check).
    pub jti: String,
    /// When the client made it (Unix seconds).
    pub iat: i64,
}

/// Why a client assertion was refused: OAuth `invalid_client` (401) in every case; the
/// message says which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    /// `client_assertion_type` is missing or not [`JWT_BEARER`].
    #[error("client_assertion_type must be {JWT_BEARER}")]
    AssertionType,
    /// Not a compact JWS of JSON objects, or too long.
    #[error("client_assertion is not a well-formed JWT")]
    Malformed,
    /// `alg` other than `ES256`/`ES256K`.
    #[error("client_assertion alg must be ES256 or ES256K")]
    Alg,
    /// No `kid`, or none of the client's keys has it with a matching curve.
    #[error("client_assertion kid does not name a usable key of the client")]
    UnknownKey,
    /// The client's key set is not a JWKS.
    #[error("the client's jwks is not a valid key set")]
    Jwks,
    /// The signature does not verify.
    #[error("client_assertion signature is invalid")]
    Signature,
    /// A claim is missing or wrong.
    #[error("client_assertion claim {0} is missing or invalid")]
    Claim(&'static str),
    /// `iat` too old or too far ahead, or `exp` passed.
    #[error("client_assertion is expired or not yet valid")]
    Expired,
}

impl ClientAuthError {
    /// The OAuth error code: `invalid_client`.
    pub fn error_code(&self) -> crate::OAuthErrorCode {
        crate::OAuthErrorCode::InvalidClient
    }
}

/// Verifies a client assertion for `client_id` at the Authorization Server `issuer`, against
/// the client's key set `jwks` (`{"keys": [...]}`), at `now_secs`.
pub fn verify_assertion(
    assertion_type: Option<&str>,
    assertion: &str,
    client_id: &str,
    issuer: &str,
    jwks: &Value,
    now_secs: i64,
) -> Result<ClientAssertion, ClientAuthError> {
    if assertion_type != Some(JWT_BEARER) {
        return Err(ClientAuthError::AssertionType);
    }
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(ClientAuthError::Malformed);
    }
    let mut parts = assertion.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ClientAuthError::Malformed);
    };
    let header = object(h64)?;
    let claims = object(p64)?;
    let signature = URL_SAFE_NO_PAD
        .decode(s64)
        .map_err(|_| ClientAuthError::Malformed)?;

    let curve = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Curve::from_jwt_alg)
        .ok_or(ClientAuthError::Alg)?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(ClientAuthError::UnknownKey)?;
    let key = find_key(jwks, kid, curve)?;
    let signing_input = &assertion[..h64.len() + 1 + p64.len()];
    key.verify_allow_high_s(signing_input.as_bytes(), &signature)
        .map_err(|_| ClientAuthError::Signature)?;

    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(ClientAuthError::Claim(name))
    };
    if text("iss")? != client_id {
        return Err(ClientAuthError::Claim("iss"));
    }
    if text("sub")? != client_id {
        return Err(ClientAuthError::Claim("sub"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !aud_ok {
        return Err(ClientAuthError::Claim("aud"));
    }
    let jti = text("jti")?;
    if jti.is_empty() || jti.len() > crate::dpop::MAX_JTI_LEN {
        return Err(ClientAuthError::Claim("jti"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(ClientAuthError::Claim("iat"))?;
    if iat < now_secs.saturating_sub(MAX_ASSERTION_AGE_SECS)
        || iat > now_secs.saturating_add(MAX_ASSERTION_AHEAD_SECS)
    {
        return Err(ClientAuthError::Expired);
    }
    match claims.get("exp") {
        None => {}
        Some(exp) => match exp.as_i64() {
            Some(exp) if exp > now_secs => {}
            Some(_) => return Err(ClientAuthError::Expired),
            None => return Err(ClientAuthError::Claim("exp")),
        },
    }
    Ok(ClientAssertion {
        kid: kid.to_owned(),
        alg: curve.jwt_alg(),
        jkt: key.jwk_thumbprint(),
        jti: jti.to_owned(),
        iat,
    })
}

/// Whether the key a session was bound to (`kid` and thumbprint) is still in the client's key
/// set: when it is gone, the session must be revoked (checklist #160).
pub fn key_still_published(jwks: &Value, kid: &str, jkt: &str) -> bool {
    [Curve::P256, Curve::K256]
        .into_iter()
        .any(|curve| find_key(jwks, kid, curve).is_ok_and(|k| k.jwk_thumbprint() == jkt))
}

/// The key called `kid` on `curve` in a JWKS; keys meant for encryption or carrying a private
/// part are skipped.
fn find_key(jwks: &Value, kid: &str, curve: Curve) -> Result<PublicKey, ClientAuthError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(ClientAuthError::Jwks)?;
    keys.iter()
        .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        .filter(|k| {
            k.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .find_map(|k| PublicKey::from_jwk(k).ok().filter(|p| p.curve() == curve))
        .ok_or(ClientAuthError::UnknownKey)
}

fn object(part: &str) -> Result<serde_json::Map<String, Value>, ClientAuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ClientAuthError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ClientAuthError::Malformed),
    }
}
