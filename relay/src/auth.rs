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
        let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
        Ok(Access(state.pds().verify_access_token(&token)?))
    }
}

/// [`Access`] from a header map (for handlers that also need the raw request).
pub fn access_from_headers(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<pds::AuthContext, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(ApiError::auth_missing)?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("InvalidToken", "Malformed authorization header"))?;
    let token = match value.split_once(' ') {
        Some((s, rest)) if s.eq_ignore_ascii_case("Bearer") && !rest.trim().is_empty() => {
            rest.trim()
        }
        _ => {
            return Err(ApiError::unauthorized(
                "InvalidToken",
                "Unexpected authorization type",
            ));
        }
    };
    Ok(state.pds().verify_access_token(token)?)
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
        let OptionalBearer(token) = OptionalBearer::from_request_parts(parts, state).await?;
        match token {
            Some(BearerToken(token)) => Ok(OptionalAccess(Some(
                state.pds().verify_access_token(&token)?,
            ))),
            None => Ok(OptionalAccess(None)),
        }
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
