//! `com.atproto.admin.updateSubjectStatus` for account (repo) takedowns, behind admin HTTP
//! Basic auth (checklist #103, #132). Record and blob subjects are not supported yet.

use axum::extract::State;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use syntax::Did;

use super::{XrpcJson, parse, procedure};
use crate::auth::AdminAuth;
use crate::error::ApiError;
use crate::server::AppState;

/// The admin routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/xrpc/com.atproto.admin.updateSubjectStatus",
        procedure(update_subject_status),
    )
}

#[derive(Deserialize)]
struct Takedown {
    applied: bool,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

#[derive(Deserialize)]
struct UpdateSubjectStatusInput {
    subject: Value,
    takedown: Option<Takedown>,
}

const REPO_REF: &str = "com.atproto.admin.defs#repoRef";

async fn update_subject_status(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<UpdateSubjectStatusInput>,
) -> Result<Json<Value>, ApiError> {
    if input.subject.get("$type").and_then(Value::as_str) != Some(REPO_REF) {
        return Err(ApiError::invalid_request(
            "Only repo subjects (com.atproto.admin.defs#repoRef) are supported",
        ));
    }
    let did = input
        .subject
        .get("did")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request("subject.did is required"))?;
    let did: Did = parse("subject.did", did)?;
    let Some(takedown) = input.takedown else {
        return Ok(Json(json!({ "subject": input.subject })));
    };
    let reference = takedown.applied.then(|| {
        takedown
            .reference
            .clone()
            .unwrap_or_else(|| format!("takedown:{}", syntax::Datetime::now().as_str()))
    });
    state.pds().set_takedown(&did, reference.clone()).await?;
    let mut status = json!({ "applied": takedown.applied });
    if let Some(r) = reference {
        status["ref"] = Value::String(r);
    }
    Ok(Json(
        json!({ "subject": input.subject, "takedown": status }),
    ))
}
