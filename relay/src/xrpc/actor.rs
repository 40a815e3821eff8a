//! `app.bsky.actor.getPreferences` / `putPreferences`: stored locally, not proxied (app
//! passwords cannot read or write the personal-details preference).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{XrpcJson, procedure, query};
use crate::auth::Access;
use crate::error::ApiError;
use crate::server::AppState;

/// The `app.bsky.actor.*` routes served locally.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/xrpc/app.bsky.actor.getPreferences",
            query(get_preferences),
        )
        .route(
            "/xrpc/app.bsky.actor.putPreferences",
            procedure(put_preferences),
        )
}

async fn get_preferences(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<Json<Value>, ApiError> {
    let preferences = state.pds().get_preferences(&auth).await?;
    Ok(Json(json!({ "preferences": preferences })))
}

#[derive(Deserialize)]
struct PutPreferencesInput {
    preferences: Vec<Value>,
}

async fn put_preferences(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<PutPreferencesInput>,
) -> Result<StatusCode, ApiError> {
    state
        .pds()
        .put_preferences(&auth, input.preferences)
        .await?;
    Ok(StatusCode::OK)
}
