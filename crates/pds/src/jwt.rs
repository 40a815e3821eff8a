//! JSON Web Tokens: legacy session tokens (HS256 under a subkey of the server secret) and
//! inter-service tokens (ES256K/ES256 signed by the account's repo key).
//!
//! Session tokens (checklist #129, #130): the access JWT has header `typ: at+jwt`, the refresh
//! JWT `typ: refresh+jwt`; each verifier accepts only its own type, so one can never be used as
//! the other. Both carry `sub` (the DID), `aud` (this service's DID), `iat`, `exp`, `scope`
//! (`com.atproto.access`, `com.atproto.appPass`, `com.atproto.appPassPrivileged` or
//! `com.atproto.refresh`) and `jti`: for refresh tokens the stored token id that makes them
//! single-use and revocable, for access tokens a random id that makes each one unique.
//!
//! Service tokens (checklist #134): header `{typ: JWT, alg}`, body `{iss, aud, exp, iat, lxm?,
//! jti}`, signature = low-S compact ECDSA over `header.body`, base64url without padding.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use syntax::Did;

use crate::error::{Error, ErrorKind, Result};

/// Scope claim of a full-access token.
pub const SCOPE_ACCESS: &str = "com.atproto.access";
/// Scope claim of an app-password token.
pub const SCOPE_APP_PASS: &str = "com.atproto.appPass";
/// Scope claim of a privileged app-password token.
pub const SCOPE_APP_PASS_PRIVILEGED: &str = "com.atproto.appPassPrivileged";
/// Scope claim of a refresh token.
pub const SCOPE_REFRESH: &str = "com.atproto.refresh";

/// What a verified access token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessScope {
    /// Logged in with the account password: everything.
    Full,
    /// Logged in with an app password: no account management (checklist #131); `privileged`
    /// app passwords may also use DMs and other privileged methods.
    AppPassword {
        /// Whether the app password is privileged.
        privileged: bool,
    },
    /// An OAuth access token with `transition:generic`: what an app password grants
    /// (`transition:chat.bsky` makes it privileged), and the account's email only with
    /// `transition:email` (checklist #165).
    OAuth {
        /// `transition:chat.bsky` was granted.
        privileged: bool,
        /// `transition:email` was granted.
        email: bool,
    },
}

impl AccessScope {
    fn claim(self) -> &'static str {
        match self {
            AccessScope::Full => SCOPE_ACCESS,
            AccessScope::AppPassword { privileged: false } => SCOPE_APP_PASS,
            AccessScope::AppPassword { privileged: true } => SCOPE_APP_PASS_PRIVILEGED,
            // Never issued as a session token; the nearest session kind if it ever were.
            AccessScope::OAuth {
                privileged: false, ..
            } => SCOPE_APP_PASS,
            AccessScope::OAuth {
                privileged: true, ..
            } => SCOPE_APP_PASS_PRIVILEGED,
        }
    }

    fn from_claim(s: &str) -> Option<AccessScope> {
        Some(match s {
            SCOPE_ACCESS => AccessScope::Full,
            SCOPE_APP_PASS => AccessScope::AppPassword { privileged: false },
            SCOPE_APP_PASS_PRIVILEGED => AccessScope::AppPassword { privileged: true },
            _ => return None,
        })
    }
}

/// The caller of an authenticated use case, from [`crate::Pds::verify_access_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// The account.
    pub did: Did,
    /// What the token grants.
    pub scope: AccessScope,
}

impl AuthContext {
    /// True for password (not app-password) sessions.
    pub fn is_full_access(&self) -> bool {
        self.scope == AccessScope::Full
    }

    /// True for full sessions, privileged app passwords and OAuth with `transition:chat.bsky`.
    pub fn is_privileged(&self) -> bool {
        match self.scope {
            AccessScope::Full => true,
            AccessScope::AppPassword { privileged } | AccessScope::OAuth { privileged, .. } => {
                privileged
            }
        }
    }

    /// Whether the caller may see the account's email (`getSession`): every session token,
    /// but OAuth only with `transition:email`.
    pub fn may_read_email(&self) -> bool {
        !matches!(self.scope, AccessScope::OAuth { email: false, .. })
    }

    /// Fails with `InvalidToken` unless this is a full-access session (account management).
    pub fn require_full_access(&self) -> Result<()> {
        if self.is_full_access() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InvalidToken, "Bad token scope"))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SessionClaims {
    pub(crate) scope: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jti: Option<String>,
}

/// Which session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    Access,
    Refresh,
}

impl TokenType {
    fn typ(self) -> &'static str {
        match self {
            TokenType::Access => "at+jwt",
            TokenType::Refresh => "refresh+jwt",
        }
    }
}

/// Issues and verifies session tokens.
#[derive(Clone)]
pub(crate) struct SessionTokens {
    key: [u8; 32],
    service_did: Did,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokens")
            .field("service_did", &self.service_did)
            .finish_non_exhaustive()
    }
}

fn invalid_token(msg: &str) -> Error {
    Error::new(ErrorKind::InvalidToken, msg)
}

impl SessionTokens {
    pub(crate) fn new(secret: &crate::secrets::SecretKey, service_did: Did) -> SessionTokens {
        SessionTokens {
            key: secret.derive("pds session jwt hs256 v1"),
            service_did,
        }
    }

    fn sign(&self, typ: TokenType, claims: &SessionClaims) -> String {
        let header = Header {
            alg: "HS256".to_owned(),
            typ: typ.typ().to_owned(),
        };
        let signing_input = format!("{}.{}", b64_json(&header), b64_json(claims));
        let sig = crate::secrets::hmac_sha256(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(sig))
    }

    pub(crate) fn access(&self, did: &Did, scope: AccessScope, now: i64, ttl: i64) -> String {
        self.sign(
            TokenType::Access,
            &SessionClaims {
                scope: scope.claim().to_owned(),
                sub: did.as_str().to_owned(),
                aud: self.service_did.as_str().to_owned(),
                iat: now,
                exp: now + ttl,
                // A random id makes every access token unique, even two issued for one
                // account in the same second (clients compare tokens after a refresh).
                jti: Some(crate::secrets::random_hex(16)),
            },
        )
    }

    pub(crate) fn refresh(&self, did: &Did, jti: &str, now: i64, ttl: i64) -> String {
        self.sign(
            TokenType::Refresh,
            &SessionClaims {
                scope: SCOPE_REFRESH.to_owned(),
                sub: did.as_str().to_owned(),
                aud: self.service_did.as_str().to_owned(),
                iat: now,
                exp: now + ttl,
                jti: Some(jti.to_owned()),
            },
        )
    }

    /// Verifies a token of type `want` (signature, `typ`, `aud`, `exp`, scope) at time `now`
    /// (seconds).
    pub(crate) fn verify(&self, token: &str, want: TokenType, now: i64) -> Result<SessionClaims> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid_token("Malformed token"));
        };
        let header: Header = decode_json(h).ok_or_else(|| invalid_token("Malformed token"))?;
        if header.alg != "HS256" {
            return Err(invalid_token("Invalid token algorithm"));
        }
        if header.typ != want.typ() {
            return Err(invalid_token("Invalid token type"));
        }
        let sig = B64
            .decode(s)
            .map_err(|_| invalid_token("Malformed token"))?;
        let signing_input_len = h.len() + 1 + p.len();
        let expected =
            crate::secrets::hmac_sha256(&self.key, &token.as_bytes()[..signing_input_len]);
        if !constant_time_eq(&expected, &sig) {
            return Err(invalid_token("Token could not be verified"));
        }
        let claims: SessionClaims =
            decode_json(p).ok_or_else(|| invalid_token("Malformed token"))?;
        if claims.aud != self.service_did.as_str() {
            return Err(invalid_token("Token audience is not this service"));
        }
        let scope_ok = match want {
            TokenType::Access => AccessScope::from_claim(&claims.scope).is_some(),
            TokenType::Refresh => claims.scope == SCOPE_REFRESH && claims.jti.is_some(),
        };
        if !scope_ok {
            return Err(invalid_token("Bad token scope"));
        }
        if claims.exp <= now {
            return Err(Error::new(ErrorKind::ExpiredToken, "Token has expired"));
        }
        Ok(claims)
    }

    pub(crate) fn access_context(&self, claims: &SessionClaims) -> Result<AuthContext> {
        let did: Did = claims
            .sub
            .parse()
            .map_err(|_| invalid_token("Malformed token subject"))?;
        let scope = AccessScope::from_claim(&claims.scope)
            .ok_or_else(|| invalid_token("Bad token scope"))?;
        Ok(AuthContext { did, scope })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn b64_json<T: Serialize>(v: &T) -> String {
    // Serializing these plain structs to JSON cannot fail.
    B64.encode(serde_json::to_vec(v).unwrap_or_default())
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Option<T> {
    let bytes = B64.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[derive(Serialize)]
struct ServiceClaims<'a> {
    iat: i64,
    iss: &'a str,
    aud: &'a str,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lxm: Option<&'a str>,
    jti: String,
}

/// A service JWT signed by `key` (see the module docs).
pub(crate) fn service_jwt(
    key: &crypto::Keypair,
    iss: &Did,
    aud: &str,
    lxm: Option<&str>,
    now: i64,
    exp: i64,
) -> String {
    let header = Header {
        alg: key.curve().jwt_alg().to_owned(),
        typ: "JWT".to_owned(),
    };
    let claims = ServiceClaims {
        iat: now,
        iss: iss.as_str(),
        aud,
        exp,
        lxm,
        jti: crate::secrets::random_hex(16),
    };
    let signing_input = format!("{}.{}", b64_json(&header), b64_json(&claims));
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig))
}

#[cfg(test)]
mod tests;
