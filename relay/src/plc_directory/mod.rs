//! The local PLC directory: the did:plc directory HTTP API, served by `relay plc serve` and
//! mountable in tests ([`router`]), plus a client for any PLC directory ([`PlcClient`]).
//!
//! Routes (as the reference `did-method-plc` server, checklist #111):
//! `POST /{did}` submit an operation (full validation by `identity::PlcLog`: strict parse,
//! limits, genesis DID derivation, signatures, rotation-key authority, `prev` chain, 72-hour
//! recovery), `GET /{did}` DID document (`application/did+ld+json`), `/{did}/data`,
//! `/{did}/log`, `/{did}/log/audit`, `/{did}/log/last`, `/export`, `/_health`.
//! Errors are `{"message": ...}` with the reference's statuses: 400 for a refused operation, 404
//! `DID not registered: <did>` and (tombstoned) `DID not available: <did>`.
//!
//! Storage: [`PlcDirectory`] (in memory, or an append-only JSON-lines file; see `store.rs`).

mod client;
mod store;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value as Json, json};

pub use client::{PlcClient, PlcClientError};
pub use store::{Lookup, PlcDirectory, PlcStoreError, SubmitError};

/// Largest accepted request body (an operation is at most 7,500 bytes of DAG-CBOR).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Most entries one `/export` page returns.
pub const MAX_EXPORT_COUNT: usize = 1000;

/// A PLC directory error response: `{"message": ...}` with a status.
#[derive(Debug)]
struct PlcHttpError {
    status: StatusCode,
    message: String,
}

impl PlcHttpError {
    fn new(status: StatusCode, message: impl Into<String>) -> PlcHttpError {
        PlcHttpError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for PlcHttpError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "message": self.message }))).into_response()
    }
}

impl From<SubmitError> for PlcHttpError {
    fn from(err: SubmitError) -> PlcHttpError {
        match err {
            SubmitError::Storage(e) => {
                tracing::error!(error = %e, "PLC directory storage failed");
                PlcHttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            other => PlcHttpError::new(StatusCode::BAD_REQUEST, other.to_string()),
        }
    }
}

/// The directory's HTTP API over `directory`, ready to serve or to nest.
pub fn router(directory: Arc<PlcDirectory>) -> Router {
    Router::new()
        .route("/_health", get(health))
        .route("/export", get(export))
        .route("/{did}", get(document).post(submit))
        .route("/{did}/data", get(data))
        .route("/{did}/log", get(operation_log))
        .route("/{did}/log/audit", get(audit_log))
        .route("/{did}/log/last", get(last_operation))
        .fallback(|| async { PlcHttpError::new(StatusCode::NOT_FOUND, "Not Found") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(directory)
        .layer(axum::middleware::map_response(json_413))
}

/// The body-limit rejection as a `{"message"}` body.
async fn json_413(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return PlcHttpError::new(StatusCode::PAYLOAD_TOO_LARGE, "request entity too large")
            .into_response();
    }
    response
}

type Dir = State<Arc<PlcDirectory>>;

async fn health() -> axum::Json<Json> {
    axum::Json(json!({ "version": crate::VERSION }))
}

async fn submit(
    State(dir): Dir,
    Path(did): Path<String>,
    body: Bytes,
) -> Result<StatusCode, PlcHttpError> {
    let op: Json = serde_json::from_slice(&body).map_err(|e| {
        PlcHttpError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}"))
    })?;
    let entry = dir.submit(&did, &op).await?;
    tracing::info!(did = %entry.did, cid = %entry.cid, "PLC operation accepted");
    Ok(StatusCode::OK)
}

fn found(did: &str, lookup: Lookup<Json>) -> Result<Json, PlcHttpError> {
    match lookup {
        Lookup::Found(json) => Ok(json),
        Lookup::NotRegistered => Err(PlcHttpError::new(
            StatusCode::NOT_FOUND,
            format!("DID not registered: {did}"),
        )),
        Lookup::Tombstoned => Err(PlcHttpError::new(
            StatusCode::NOT_FOUND,
            format!("DID not available: {did}"),
        )),
    }
}

async fn document(State(dir): Dir, Path(did): Path<String>) -> Result<Response, PlcHttpError> {
    let doc = found(&did, dir.document(&did).await)?;
    Ok((
        [(header::CONTENT_TYPE, "application/did+ld+json")],
        doc.to_string(),
    )
        .into_response())
}

async fn data(State(dir): Dir, Path(did): Path<String>) -> Result<axum::Json<Json>, PlcHttpError> {
    found(&did, dir.data(&did).await).map(axum::Json)
}

async fn operation_log(
    State(dir): Dir,
    Path(did): Path<String>,
) -> Result<axum::Json<Json>, PlcHttpError> {
    found(&did, dir.operation_log(&did).await).map(axum::Json)
}

async fn audit_log(
    State(dir): Dir,
    Path(did): Path<String>,
) -> Result<axum::Json<Json>, PlcHttpError> {
    found(&did, dir.audit_log(&did).await).map(axum::Json)
}

async fn last_operation(
    State(dir): Dir,
    Path(did): Path<String>,
) -> Result<axum::Json<Json>, PlcHttpError> {
    found(&did, dir.last_operation(&did).await).map(axum::Json)
}

#[derive(Deserialize)]
struct ExportParams {
    count: Option<String>,
    after: Option<String>,
}

/// `GET /export?count=&after=`: audit entries as JSON lines, oldest first.
async fn export(
    State(dir): Dir,
    Query(params): Query<ExportParams>,
) -> Result<Response, PlcHttpError> {
    let count = match params.count.as_deref() {
        None => MAX_EXPORT_COUNT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_EXPORT_COUNT),
            _ => {
                return Err(PlcHttpError::new(
                    StatusCode::BAD_REQUEST,
                    "Invalid count parameter",
                ));
            }
        },
    };
    let after = match params.after.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<syntax::Datetime>().map_err(|e| {
            PlcHttpError::new(
                StatusCode::BAD_REQUEST,
                format!("Invalid after parameter: {e}"),
            )
        })?),
    };
    let lines: Vec<String> = dir
        .export(count, after.as_ref())
        .await
        .iter()
        .map(Json::to_string)
        .collect();
    Ok((
        [(header::CONTENT_TYPE, "application/jsonlines")],
        lines.join("\n"),
    )
        .into_response())
}
