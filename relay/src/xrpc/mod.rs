//! XRPC plumbing: the `/xrpc/*` router, per-route body limits, method helpers that answer a
//! wrong HTTP method the way the reference does, and the catch-all for methods we do not
//! implement (checklist #124).
//!
//! Handlers live in one submodule per NSID group and stay thin: parse, one domain call, map.
//! Routing rules, matching the reference XRPC server:
//! - `/xrpc/<nsid>` with a syntactically invalid NSID: `400 InvalidRequest` "invalid xrpc path";
//! - an implemented method called with the wrong HTTP method: `400 InvalidRequest`
//!   "Incorrect HTTP method (GET) expected POST";
//! - a method the lexicons know but we do not implement, called with the wrong HTTP method:
//!   the same `400`;
//! - any other valid NSID: proxied when a proxy target applies ([`crate::proxy`]: the
//!   `atproto-proxy` header, or the default AppView for `app.bsky.*`), else
//!   `501 MethodNotImplemented`.

mod actor;
mod admin;
mod email;
pub mod extract;
mod identity;
mod import;
mod migration;
mod plc_ops;
mod repo;
mod server;
mod subscribe;
mod sync;

use std::fmt::Display;
use std::str::FromStr;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{MethodRouter, any, get, post};
use serde::{Deserialize, Deserializer};
use syntax::Nsid;
use tower_http::limit::RequestBodyLimitLayer;

pub use extract::{RawBody, XrpcJson, XrpcQuery};

/// The MIME type of CAR responses.
pub const CAR_MIME: &str = sync::CAR_MIME;
/// The `Content-Security-Policy` of blob responses (checklist #65).
pub const BLOB_CSP: &str = sync::BLOB_CSP;

use crate::error::ApiError;
use crate::server::AppState;

/// A query method (`GET`; `HEAD` too). Other HTTP methods get `400 InvalidRequest`.
pub fn query<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    get(handler).fallback(|method: Method| async move { wrong_method(&method, "GET") })
}

/// A procedure method (`POST`). Other HTTP methods get `400 InvalidRequest`.
pub fn procedure<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    post(handler).fallback(|method: Method| async move { wrong_method(&method, "POST") })
}

fn wrong_method(method: &Method, expected: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "Incorrect HTTP method ({method}) expected {expected}"
    ))
}

/// The `/xrpc/*` routes. JSON methods get the JSON body limit; blob uploads and the catch-all
/// (which may stream a proxied body) get the blob limit; `importRepo` gets `import_repo_limit`.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let config = state.config();
    let json_limit = config.json_body_limit;
    let blob_limit = config.blob_upload_limit;

    let json_routes = Router::new()
        .route("/xrpc/_health", get(server::health))
        .merge(server::routes())
        .merge(repo::routes())
        .merge(sync::routes())
        .merge(subscribe::routes())
        .merge(identity::routes())
        .merge(actor::routes())
        .merge(admin::routes())
        .merge(email::routes().merge(plc_ops::routes()))
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(RequestBodyLimitLayer::new(json_limit));

    let blob_routes = Router::new()
        .merge(repo::blob_routes())
        .route("/xrpc/{*method}", any(catchall))
        .layer(DefaultBodyLimit::max(blob_limit))
        .layer(RequestBodyLimitLayer::new(blob_limit));

    json_routes.merge(blob_routes).merge(import::routes(state))
}

/// The HTTP method the lexicons give `nsid` (`GET` for queries, `POST` for procedures).
fn lexicon_http_method(state: &AppState, nsid: &Nsid) -> Option<Method> {
    match state.pds().catalog().doc(nsid.as_str())?.def("main")? {
        lexicon::Def::Query(_) => Some(Method::GET),
        lexicon::Def::Procedure(_) => Some(Method::POST),
        _ => None,
    }
}

/// Methods we have no handler for: checked, then proxied or `501`.
async fn catchall(
    State(state): State<AppState>,
    Path(method_name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let nsid = match method_name.parse::<Nsid>() {
        Ok(nsid) if !method_name.contains('/') => nsid,
        _ => return Err(ApiError::invalid_request("invalid xrpc path")),
    };
    if let Some(expected) = lexicon_http_method(&state, &nsid) {
        let effective = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        if effective != expected {
            return Err(wrong_method(&method, expected.as_str()));
        }
    }
    let Some(aud) = crate::proxy::requested_target(&state, &nsid, &headers)? else {
        return Err(ApiError::method_not_implemented());
    };
    let auth = crate::auth::access_from_headers(&state, &method, &uri, &headers).await?;
    let target = crate::proxy::resolve_target(&state, &aud).await?;
    let token = state
        .pds()
        .get_service_auth(&auth, &aud, None, Some(nsid.as_str()))
        .await?;
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    crate::proxy::forward(
        &state,
        &target,
        &token,
        method,
        &path_and_query,
        &headers,
        body,
    )
    .await
}

/// Parses one input value (a parameter or a body field), naming it in the error.
pub(crate) fn parse<T>(name: &str, value: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .parse()
        .map_err(|e| ApiError::invalid_request(format!("Invalid {name} {value:?}: {e}")))
}

/// [`parse`] for an optional value.
pub(crate) fn parse_opt<T>(name: &str, value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T: FromStr,
    T::Err: Display,
{
    value.map(|v| parse(name, v)).transpose()
}

/// A record (JSON object) in the atproto data model (`$link`, `$bytes`, blobs).
pub(crate) fn record_from_json(json: &serde_json::Value) -> Result<data_model::Value, ApiError> {
    data_model::json::from_json(json)
        .map_err(|e| ApiError::invalid_request(format!("Invalid record: {e}")))
}

/// A data-model value as atproto JSON.
pub(crate) fn to_json(value: &data_model::Value) -> serde_json::Value {
    data_model::json::to_json(value)
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value
/// (`Some(Some(v))`); use with `#[serde(default, deserialize_with = "double_option")]`.
pub(crate) fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}
