//! Authentication extractors: the raw `Authorization` credentials ([`BearerToken`],
//! [`OptionalBearer`]), verified sessions ([`Access`], [`OptionalAccess`]) and admin HTTP Basic
//! auth ([`AdminAuth`], checklist #132).
//!
//! Token *verification* (access vs refresh JWT `typ`, expiry, revocation, app-password scope)
//! belongs to `pds`: [`Access`] calls `Pds::verify_access_token` and maps its error through
//! [`crate::error`]; refresh tokens are passed to `pds` as a [`BearerToken`] by the handlers
//! that take one (`refreshSession`, `deleteSession`). This file only parses headers and checks
//! the admin password, in constant time.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;

use crate::error::ApiError;
use crate::server::AppState;

/// A `Bearer` token from the `Authorization` header. Missing: `401 AuthMissing`; another
/// scheme or an empty token: `401 InvalidToken`.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(pub String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Splits `Authorization: <scheme> <credentials>`; the scheme is case-insensitive.
fn authorization<'a>(parts: &'a Parts, scheme: &str) -> Result<Option<&'a str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("InvalidToken", "Malformed authorization header"))?;
    match value.split_once(' ') {
        Some((s, rest)) if s.eq_ignore_ascii_case(scheme) && !rest.trim().is_empty() => {
            Ok(Some(rest.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "InvalidToken",
            "Unexpected authorization type",
        )),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match authorization(parts, "Bearer")? {
            Some(token) => Ok(BearerToken(token.to_owned())),
            None => Err(ApiError::auth_missing()),
        }
    }
}

/// An optional `Bearer` token: `None` when there is no `Authorization` header; another scheme
/// is still `401 InvalidToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalBearer(pub Option<BearerToken>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalBearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(OptionalBearer(
            authorization(parts, "Bearer")?.map(|t| BearerToken(t.to_owned())),
        ))
    }
}

/// A verified access token (`typ: at+jwt`): who is calling and with what scope (full session
/// or app password). Missing: `401 AuthMissing`; invalid, expired, or a refresh token: the
/// `pds` error (`400 InvalidToken` / `400 ExpiredToken`, checklist #130).
#[derive(Debug, Clone)]
pub struct Access(pub pds::AuthContext);

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Access(
            authenticate(state, &parts.method, &parts.uri, &parts.headers)
                .await?
                .ok_or_else(ApiError::auth_missing)?,
        ))
    }
}

/// The caller of a request, from its `Authorization` header: a legacy session token
/// (`Bearer`) or an OAuth access token (`DPoP`, with its proof in the `DPoP` header, checklist
/// #155). `None` without the header.
pub async fn authenticate(
    state: &AppState,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> Result<Option<pds::AuthContext>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("InvalidToken", "Malformed authorization header"))?;
    let (scheme, token) = match value.split_once(' ') {
        Some((s, rest)) if !rest.trim().is_empty() => (s, rest.trim()),
        _ => {
            return Err(ApiError::unauthorized(
                "InvalidToken",
                "Unexpected authorization type",
            ));
        }
    };
    if scheme.eq_ignore_ascii_case("Bearer") {
        if is_oauth_token(token) {
            return Err(ApiError::unauthorized(
                "InvalidToken",
                "OAuth access tokens are DPoP-bound: send them as Authorization: DPoP",
            ));
        }
        return Ok(Some(state.pds().verify_access_token(token)?));
    }
    if !scheme.eq_ignore_ascii_case("DPoP") {
        return Err(ApiError::unauthorized(
            "InvalidToken",
            "Unexpected authorization type",
        ));
    }
    let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
    let url = crate::oauth::request_url(state, uri);
    let pds = state.pds();
    let checked = pds
        .oauth_dpop(proof, method.as_str(), &url, Some(token))
        .map_err(dpop_rejection)?;
    Ok(Some(
        pds.oauth_verify_access(token, &checked)
            .await
            .map_err(dpop_rejection)?,
    ))
}

/// Whether a token's JOSE header says it is one of our OAuth access tokens (ES256/ES256K;
/// legacy session tokens are HS256).
fn is_oauth_token(token: &str) -> bool {
    let Some(header) = token.split('.').next() else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|h| {
        matches!(
            h.get("alg").and_then(|a| a.as_str()),
            Some("ES256" | "ES256K")
        ) && h.get("typ").and_then(|t| t.as_str()) == Some("at+jwt")
    })
}

/// A refused DPoP-authenticated request: 401 with a `WWW-Authenticate: DPoP` challenge naming
/// the OAuth error (`use_dpop_nonce`, `invalid_dpop_proof`, `invalid_token`), which OAuth
/// clients read to retry with the nonce or refresh (checklist #157).
fn dpop_rejection(e: pds::oauth_flow::OAuthError) -> ApiError {
    let code = e.code.as_str();
    let description = e.description.replace(['"', '\\'], "'");
    let challenge =
        format!(r#"DPoP algs="ES256 ES256K", error="{code}", error_description="{description}""#);
    let name = match e.code {
        oauth::OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
        oauth::OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
        _ => "InvalidToken",
    };
    let mut api = ApiError::new(axum::http::StatusCode::UNAUTHORIZED, name, e.description);
    if let Ok(v) = axum::http::HeaderValue::from_str(&challenge) {
        api = api.with_header(axum::http::header::WWW_AUTHENTICATE, v);
    }
    api
}

/// [`Access`] from a request's parts (for handlers that also need the raw request).
pub async fn access_from_headers(
    state: &AppState,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> Result<pds::AuthContext, ApiError> {
    authenticate(state, method, uri, headers)
        .await?
        .ok_or_else(ApiError::auth_missing)
}

/// An access token if one was sent (public reads that serve more to the owner, checklist #66).
/// A token that was sent but does not verify is still an error.
#[derive(Debug, Clone)]
pub struct OptionalAccess(pub Option<pds::AuthContext>);

impl FromRequestParts<AppState> for OptionalAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(OptionalAccess(
            authenticate(state, &parts.method, &parts.uri, &parts.headers).await?,
        ))
    }
}

/// Proof that the request carried `Authorization: Basic base64(admin:<admin_password>)`.
/// Without a configured admin password every admin request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bad = || ApiError::unauthorized("AuthenticationRequired", "Invalid admin credentials");
        let credentials = authorization(parts, "Basic")
            .map_err(|_| bad())?
            .ok_or_else(ApiError::auth_missing)?;
        let Some(expected) = &state.config().admin_password else {
            return Err(bad());
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
        let user_ok = constant_time_eq(user.as_bytes(), b"admin");
        let password_ok = constant_time_eq(password.as_bytes(), expected.expose().as_bytes());
        if user_ok & password_ok {
            Ok(AdminAuth)
        } else {
            Err(bad())
        }
    }
}

/// Compares two byte strings without an early exit on the first difference (the length is not
/// secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
