//! XRPC request extractors whose rejections are XRPC errors: [`XrpcJson`] (procedure input),
//! [`RawBody`] (binary input: blobs, CARs) and [`XrpcQuery`] (query parameters, with repeated
//! keys as arrays and `true`/`false` booleans as the spec says, checklist #125).
//!
//! Handlers use these instead of `axum::Json` / `axum::extract::Query` so that a bad body or bad
//! parameters always answer `400 InvalidRequest` (or `413 PayloadTooLarge`) as JSON.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body deserialized into `T`; rejections are XRPC errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct XrpcJson<T>(pub T);

impl<T, S> FromRequest<S> for XrpcJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(XrpcJson(value))
    }
}

/// A whole binary request body (blobs, CARs), read within the route's body limit; a body that
/// cannot be read whole (shorter than its `Content-Length`: the client stopped sending,
/// checklist #172) is `400 InvalidRequest`, an oversized one `413 PayloadTooLarge`.
#[derive(Debug, Clone, Default)]
pub struct RawBody(pub bytes::Bytes);

impl<S> FromRequest<S> for RawBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(RawBody(bytes::Bytes::from_request(req, state).await?))
    }
}

/// Query parameters deserialized into `T` (repeated keys fill `Vec` fields); rejections are
/// `400 InvalidRequest` naming the problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct XrpcQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for XrpcQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_html_form::from_str::<T>(query)
            .map(XrpcQuery)
            .map_err(|e| ApiError::invalid_request(format!("Invalid query parameters: {e}")))
    }
}
