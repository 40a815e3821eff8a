//! Account migration, receiving side (checklist #100): `com.atproto.repo.importRepo` (a CAR
//! body, `application/vnd.ipld.car`, at most `import_repo_limit` bytes) and
//! `com.atproto.repo.listMissingBlobs`. Both take the account's access token and work while
//! the account is deactivated, which is when a migration runs (as the reference: only a
//! takedown refuses them). Thin: parse, one `pds` call, map.
//!
//! [`routes`] carries its own body limit, so `mod.rs` merges it beside (not inside) the JSON
//! and blob routers.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower_http::limit::RequestBodyLimitLayer;

use super::{CAR_MIME, RawBody, XrpcQuery, procedure, query, repo::parse_limit};
use crate::auth::Access;
use crate::error::ApiError;
use crate::server::AppState;

const P: &str = "/xrpc/com.atproto.repo.";

/// The largest `listMissingBlobs` page (the lexicon's bound).
const MAX_MISSING_BLOBS_LIMIT: u32 = 1000;

/// `importRepo` (body limit `import_repo_limit`) and `listMissingBlobs`.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    let limit = state.config().import_repo_limit;
    Router::new()
        .route(&format!("{P}importRepo"), procedure(import_repo))
        .route(&format!("{P}listMissingBlobs"), query(list_missing_blobs))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
}

/// The request's MIME type without parameters, lowercased; `None` when absent or empty.
fn request_encoding(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or(value).trim();
    (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
}

async fn import_repo(
    State(state): State<AppState>,
    Access(auth): Access,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    // The reference's XRPC server checks the lexicon's input encoding first.
    match request_encoding(&headers) {
        None => {
            return Err(ApiError::invalid_request(
                "Request encoding (Content-Type) required but not provided",
            ));
        }
        Some(encoding) if encoding != CAR_MIME => {
            return Err(ApiError::invalid_request(format!(
                "Wrong request encoding (Content-Type): {encoding}"
            )));
        }
        Some(_) => {}
    }
    if body.is_empty() {
        return Err(ApiError::invalid_request(
            "A request body is expected but none was provided",
        ));
    }
    state.pds().import_repo(&auth, body).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct ListMissingBlobsParams {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_missing_blobs(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcQuery(params): XrpcQuery<ListMissingBlobsParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = parse_limit(params.limit.as_deref(), MAX_MISSING_BLOBS_LIMIT)?;
    let page = state
        .pds()
        .list_missing_blobs(&auth, limit, params.cursor.as_deref())
        .await?;
    let blobs: Vec<Value> = page
        .blobs
        .iter()
        .map(|(cid, uri)| json!({ "cid": cid.to_string(), "recordUri": uri.to_string() }))
        .collect();
    let mut out = Map::new();
    if let Some(cursor) = page.cursor {
        out.insert("cursor".into(), cursor.into());
    }
    out.insert("blobs".into(), blobs.into());
    Ok(Json(Value::Object(out)))
}
