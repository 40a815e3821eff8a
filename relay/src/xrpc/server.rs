//! `com.atproto.server.*` handlers, and the `/xrpc/_health` check.

use axum::Json;
use axum::Router;
use serde_json::{Value, json};

use crate::server::AppState;

/// The `com.atproto.server.*` routes implemented so far.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
}

/// `GET /xrpc/_health`: `{"version": ...}`, as the reference PDS.
pub(super) async fn health() -> Json<Value> {
    Json(json!({ "version": crate::VERSION }))
}
