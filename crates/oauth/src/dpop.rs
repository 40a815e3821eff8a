//! DPoP proof verification (RFC 9449; `specs/oauth` "Demonstrating Proof of Possession";
//! checklist #155 and #159).
//!
//! A DPoP proof is a JWS in compact form sent in the `DPoP` header with PAR, token and
//! resource requests. [`verify`] checks, in this order, everything RFC 9449 §4.3 asks of a
//! single proof:
//! - three base64url parts, at most [`MAX_PROOF_LEN`] bytes in all;
//! - header `typ` exactly `dpop+jwt`, `alg` `ES256` (required by atproto) or `ES256K`, never
//!   `none` or a MAC, and a public `jwk` on the curve `alg` names (a JWK holding the private
//!   `d` is refused);
//! - the ECDSA signature over `header.payload` with that key (JWS allows high-S signatures, so
//!   they are accepted here, unlike in repository commits);
//! - claims: `jti` (a non-empty string of at most 512 bytes), `htm` equal to the request's
//!   method, `htu` equal to the request's URL without query and fragment (both compared after
//!   URL normalisation: scheme and host case, default ports), `iat` inside the accepted window;
//! - `ath`, the base64url SHA-256 of the access token, when the proof goes with one.
//!
//! What needs state is left to the caller, with the result in hand: the nonce
//! ([`crate::nonce::NonceSource::is_valid`] on [`DpopProof::nonce`]; a missing or stale one is
//! answered `use_dpop_nonce`), the replay check ([`crate::replay::ReplayCache`] keyed by
//! [`DpopProof::replay_key`]), and the token binding (`cnf.jkt` equal to [`DpopProof::jkt`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{Curve, PublicKey};
use serde_json::Value;
use subtle::ConstantTimeEq as _;

/// The longest `DPoP` header accepted: a proof is a few hundred bytes; this leaves room for
/// long URLs and nonces without letting a client make the server parse megabytes.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// The longest `jti` accepted (they go into the replay cache).
pub const MAX_JTI_LEN: usize = 512;

/// How far from the server's clock a proof's `iat` may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IatWindow {
    /// Seconds a proof may be old. Freshness comes from the server's nonce; this bounds how
    /// long the replay cache must remember a `jti`.
    pub max_age_secs: i64,
    /// Seconds a proof may be dated in the future (clients' clocks run ahead too).
    pub max_ahead_secs: i64,
}

impl Default for IatWindow {
    /// Five minutes back, one minute ahead: generous to phones with drifting clocks, while
    /// the nonce (three minutes at most) keeps proofs fresh.
    fn default() -> IatWindow {
        IatWindow {
            max_age_secs: 300,
            max_ahead_secs: 60,
        }
    }
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The HTTP method, as sent (`POST`, `GET`).
    pub method: &'a str,
    /// The full URL the server was reached at (`https://pds.example/oauth/token`); any query
    /// or fragment is ignored.
    pub url: &'a str,
    /// The access token presented with the proof (resource requests): the proof must then
    /// carry its hash in `ath`.
    pub access_token: Option<&'a str>,
}

/// A proof that passed [`verify`].
#[derive(Debug, Clone)]
pub struct DpopProof {
    /// The RFC 7638 thumbprint of the proof's key: what tokens are bound to (`cnf.jkt`).
    pub jkt: String,
    /// The proof's key.
    pub key: PublicKey,
    /// The proof's unique identifier.
    pub jti: String,
    /// When the client says it made the proof (Unix seconds).
    pub iat: i64,
    /// The server nonce the proof carries, if any.
    pub nonce: Option<String>,
}

impl DpopProof {
    /// The replay-cache key: the `jti` scoped to the key that signed it, so one client cannot
    /// burn another's identifiers.
    pub fn replay_key(&self) -> String {
        format!("{}:{}", self.jkt, self.jti)
    }
}

/// Why a proof was refused. All are OAuth `invalid_dpop_proof` (400 at the authorization
/// server, 401 with `WWW-Authenticate: DPoP error="invalid_dpop_proof"` at the resource
/// server); the message says which check failed and is safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// Longer than [`MAX_PROOF_LEN`].
    #[error("DPoP proof is too long")]
    TooLong,
    /// Not a compact JWS of base64url JSON objects.
    #[error("DPoP proof is not a well-formed JWT: {0}")]
    Malformed(&'static str),
    /// `typ` other than `dpop+jwt`.
    #[error("DPoP proof typ must be \"dpop+jwt\"")]
    Typ,
    /// `alg` other than `ES256` or `ES256K`.
    #[error("DPoP proof alg must be ES256 or ES256K")]
    Alg,
    /// The header's `jwk` is missing, private, malformed or on another curve than `alg`.
    #[error("DPoP proof jwk is not a usable public key: {0}")]
    Key(String),
    /// The signature does not verify with the header's key.
    #[error("DPoP proof signature is invalid")]
    Signature,
    /// A required claim is missing or has the wrong type.
    #[error("DPoP proof claim {0} is missing or invalid")]
    Claim(&'static str),
    /// `htm` is not the request's method.
    #[error("DPoP proof htm does not match the request method")]
    Method,
    /// `htu` is not the request's URL.
    #[error("DPoP proof htu does not match the request URL")]
    Url,
    /// `iat` is outside the accepted window.
    #[error("DPoP proof iat is too far from the server's time")]
    Iat,
    /// An access token was presented and `ath` is missing or not its hash.
    #[error("DPoP proof ath does not match the access token")]
    Ath,
}

impl DpopError {
    /// The OAuth error code: `invalid_dpop_proof`.
    pub fn error_code(&self) -> crate::OAuthErrorCode {
        crate::OAuthErrorCode::InvalidDpopProof
    }
}

/// Verifies a DPoP proof for `target` at `now_secs` (Unix seconds); see the module docs for
/// what is checked and what is left to the caller.
pub fn verify(
    proof: &str,
    target: &ProofTarget<'_>,
    now_secs: i64,
    window: IatWindow,
) -> Result<DpopProof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::TooLong);
    }
    let mut parts = proof.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed("expected three dot-separated parts"));
    };
    let header = json_object(h64, "header")?;
    let payload = json_object(p64, "payload")?;
    let signature = URL_SAFE_NO_PAD
        .decode(s64)
        .map_err(|_| DpopError::Malformed("signature is not base64url"))?;

    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(DpopError::Typ);
    }
    let curve = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Curve::from_jwt_alg)
        .ok_or(DpopError::Alg)?;
    let jwk = header
        .get("jwk")
        .ok_or_else(|| DpopError::Key("missing".to_owned()))?;
    let key = PublicKey::from_jwk(jwk).map_err(|e| DpopError::Key(e.to_string()))?;
    if key.curve() != curve {
        return Err(DpopError::Key(format!(
            "a {} key cannot make {} signatures",
            key.curve().jwk_crv(),
            curve.jwt_alg()
        )));
    }
    let signing_input = &proof[..h64.len() + 1 + p64.len()];
    key.verify_allow_high_s(signing_input.as_bytes(), &signature)
        .map_err(|_| DpopError::Signature)?;

    let jti = payload
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(DpopError::Claim("jti"))?;
    let htm = payload
        .get("htm")
        .and_then(Value::as_str)
        .ok_or(DpopError::Claim("htm"))?;
    if htm != target.method {
        return Err(DpopError::Method);
    }
    let htu = payload
        .get("htu")
        .and_then(Value::as_str)
        .ok_or(DpopError::Claim("htu"))?;
    match (normalize_htu(htu), normalize_htu(target.url)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(DpopError::Url),
    }
    let iat = payload
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(DpopError::Claim("iat"))?;
    if iat < now_secs.saturating_sub(window.max_age_secs)
        || iat > now_secs.saturating_add(window.max_ahead_secs)
    {
        return Err(DpopError::Iat);
    }
    if let Some(token) = target.access_token {
        let expected = access_token_hash(token);
        let ath = payload.get("ath").and_then(Value::as_str).unwrap_or("");
        if !bool::from(expected.as_bytes().ct_eq(ath.as_bytes())) {
            return Err(DpopError::Ath);
        }
    }
    let nonce = match payload.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(DpopError::Claim("nonce")),
    };
    Ok(DpopProof {
        jkt: key.jwk_thumbprint(),
        key,
        jti: jti.to_owned(),
        iat,
        nonce,
    })
}

/// `ath`: base64url(SHA-256(access token)), no padding (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::sha256(access_token.as_bytes()))
}

/// An `htu` or request URL without query and fragment, normalised as RFC 9449 §4.3 asks
/// (RFC 3986 §6.2.2-6.2.3: case of scheme and host, default port, percent-encoding case).
/// Only `http` and `https` URLs qualify.
fn normalize_htu(s: &str) -> Option<String> {
    let mut url = url::Url::parse(s).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

fn json_object(
    part: &str,
    what: &'static str,
) -> Result<serde_json::Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        DpopError::Malformed(if what == "header" {
            "header is not base64url"
        } else {
            "payload is not base64url"
        })
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DpopError::Malformed(if what == "header" {
            "header is not a JSON object"
        } else {
            "payload is not a JSON object"
        })),
    }
}
