//! `com.atproto.sync.*` handlers (checklist G): CAR exports (`getRepo`, `getRecord`,
//! `getBlocks`, deprecated `getCheckout`), heads (`getLatestCommit`, deprecated `getHead`),
//! `getRepoStatus`, `listRepos`, and blobs (`getBlob` with its security headers, `listBlobs`).
//! No auth is needed; an access token lets an account read its own inactive repo (#66).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use data_model::Cid;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use syntax::{Did, Nsid, RecordKey, Tid};

use super::repo::parse_limit;
use super::{XrpcQuery, parse, parse_opt, query};
use crate::auth::OptionalAccess;
use crate::error::ApiError;
use crate::server::AppState;

/// The `com.atproto.sync.*` routes.
pub(super) fn routes() -> Router<AppState> {
    const P: &str = "/xrpc/com.atproto.sync.";
    Router::new()
        .route(&format!("{P}getRepo"), query(get_repo))
        .route(&format!("{P}getCheckout"), query(get_checkout))
        .route(&format!("{P}getRecord"), query(get_record))
        .route(&format!("{P}getBlocks"), query(get_blocks))
        .route(&format!("{P}getLatestCommit"), query(get_latest_commit))
        .route(&format!("{P}getHead"), query(get_head))
        .route(&format!("{P}getRepoStatus"), query(get_repo_status))
        .route(&format!("{P}listRepos"), query(list_repos))
        .route(&format!("{P}getBlob"), query(get_blob))
        .route(&format!("{P}listBlobs"), query(list_blobs))
}

/// The MIME type of CAR files.
pub(crate) const CAR_MIME: &str = "application/vnd.ipld.car";

/// `Content-Security-Policy` sent with blobs (checklist #65).
pub(crate) const BLOB_CSP: &str = "default-src 'none'; sandbox";

fn car(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, CAR_MIME)], bytes).into_response()
}

/// A streamed CAR: a chunked body fed by the export (bounded memory, checklist #50). A failure
/// mid-export is logged and aborts the body, so the client sees a truncated transfer.
fn car_stream(stream: pds::CarStream) -> Response {
    let stream = stream.inspect_err(|e| tracing::error!(error = %e, "getRepo export failed"));
    (
        [(header::CONTENT_TYPE, CAR_MIME)],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

#[derive(Deserialize)]
struct DidParams {
    did: String,
}

#[derive(Deserialize)]
struct GetRepoParams {
    did: String,
    since: Option<String>,
}

async fn get_repo(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<GetRepoParams>,
) -> Result<Response, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let since = parse_opt::<Tid>("since", params.since.as_deref())?;
    let stream = state
        .pds()
        .get_repo_stream(&did, since.as_ref(), viewer.as_ref())
        .await?;
    Ok(car_stream(stream))
}

async fn get_checkout(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<DidParams>,
) -> Result<Response, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let stream = state
        .pds()
        .get_repo_stream(&did, None, viewer.as_ref())
        .await?;
    Ok(car_stream(stream))
}

#[derive(Deserialize)]
struct GetRecordParams {
    did: String,
    collection: String,
    rkey: String,
}

async fn get_record(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<GetRecordParams>,
) -> Result<Response, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let collection: Nsid = parse("collection", &params.collection)?;
    let rkey: RecordKey = parse("rkey", &params.rkey)?;
    let bytes = state
        .pds()
        .get_record_proof(&did, &collection, &rkey, viewer.as_ref())
        .await?;
    Ok(car(bytes))
}

#[derive(Deserialize)]
struct GetBlocksParams {
    did: String,
    #[serde(default)]
    cids: Vec<String>,
}

async fn get_blocks(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<GetBlocksParams>,
) -> Result<Response, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let cids = params
        .cids
        .iter()
        .map(|c| parse::<Cid>("cids", c))
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = state.pds().get_blocks(&did, &cids, viewer.as_ref()).await?;
    Ok(car(bytes))
}

async fn get_latest_commit(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<DidParams>,
) -> Result<Json<Value>, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let head = state.pds().get_latest_commit(&did, viewer.as_ref()).await?;
    Ok(Json(
        json!({ "cid": head.cid.to_string(), "rev": head.rev.as_str() }),
    ))
}

async fn get_head(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<DidParams>,
) -> Result<Json<Value>, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let head = state.pds().get_latest_commit(&did, viewer.as_ref()).await?;
    Ok(Json(json!({ "root": head.cid.to_string() })))
}

async fn get_repo_status(
    State(state): State<AppState>,
    XrpcQuery(params): XrpcQuery<DidParams>,
) -> Result<Json<Value>, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let s = state.pds().get_repo_status(&did).await?;
    let mut out = Map::new();
    out.insert("did".into(), s.did.as_str().into());
    out.insert("active".into(), s.active.into());
    if let Some(status) = s.status {
        out.insert("status".into(), status.into());
    }
    if let Some(rev) = s.rev {
        out.insert("rev".into(), rev.as_str().into());
    }
    Ok(Json(Value::Object(out)))
}

#[derive(Deserialize)]
struct ListReposParams {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_repos(
    State(state): State<AppState>,
    XrpcQuery(params): XrpcQuery<ListReposParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = parse_limit(params.limit.as_deref(), 1000)?;
    let page = state
        .pds()
        .list_repos(limit, params.cursor.as_deref())
        .await?;
    let repos: Vec<Value> = page
        .repos
        .iter()
        .map(|r| {
            let mut out = Map::new();
            out.insert("did".into(), r.did.as_str().into());
            out.insert("head".into(), r.head.to_string().into());
            out.insert("rev".into(), r.rev.as_str().into());
            out.insert("active".into(), r.active.into());
            if let Some(status) = r.status {
                out.insert("status".into(), status.into());
            }
            Value::Object(out)
        })
        .collect();
    let mut out = Map::new();
    if let Some(cursor) = page.cursor {
        out.insert("cursor".into(), cursor.into());
    }
    out.insert("repos".into(), repos.into());
    Ok(Json(Value::Object(out)))
}

#[derive(Deserialize)]
struct GetBlobParams {
    did: String,
    cid: String,
}

async fn get_blob(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<GetBlobParams>,
) -> Result<Response, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let cid: Cid = parse("cid", &params.cid)?;
    let blob = state.pds().get_blob(&did, &cid, viewer.as_ref()).await?;
    let content_type = HeaderValue::from_str(&blob.mime_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(BLOB_CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        blob.bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ListBlobsParams {
    did: String,
    since: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_blobs(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<ListBlobsParams>,
) -> Result<Json<Value>, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let since = parse_opt::<Tid>("since", params.since.as_deref())?;
    let limit = parse_limit(params.limit.as_deref(), 1000)?;
    let page = state
        .pds()
        .list_blobs(
            &did,
            since.as_ref(),
            limit,
            params.cursor.as_deref(),
            viewer.as_ref(),
        )
        .await?;
    let cids: Vec<String> = page.cids.iter().map(Cid::to_string).collect();
    let mut out = Map::new();
    if let Some(cursor) = page.cursor {
        out.insert("cursor".into(), cursor.into());
    }
    out.insert("cids".into(), cids.into());
    Ok(Json(Value::Object(out)))
}
