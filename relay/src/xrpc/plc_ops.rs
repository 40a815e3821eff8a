//! PLC operation handlers (issue 4, checklist #100, #111): `com.atproto.identity.`
//! `requestPlcOperationSignature` (mails a token), `signPlcOperation` (the PDS signs an update
//! of the caller's DID with its rotation key; token required) and `submitPlcOperation` (checks
//! the operation keeps this server's rotation key, signing key, endpoint and handle, forwards it
//! to the PLC directory and emits `#identity`). Thin: parse, one `pds` call, map.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{XrpcJson, procedure};
use crate::auth::Access;
use crate::error::ApiError;
use crate::server::AppState;

/// The PLC operation routes.
pub(super) fn routes() -> Router<AppState> {
    const I: &str = "/xrpc/com.atproto.identity.";
    Router::new()
        .route(
            &format!("{I}requestPlcOperationSignature"),
            procedure(request_plc_operation_signature),
        )
        .route(
            &format!("{I}signPlcOperation"),
            procedure(sign_plc_operation),
        )
        .route(
            &format!("{I}submitPlcOperation"),
            procedure(submit_plc_operation),
        )
}

async fn request_plc_operation_signature(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<StatusCode, ApiError> {
    state.pds().request_plc_operation_signature(&auth).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct ServiceInput {
    #[serde(rename = "type")]
    service_type: String,
    endpoint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignPlcOperationInput {
    token: Option<String>,
    rotation_keys: Option<Vec<String>>,
    also_known_as: Option<Vec<String>>,
    verification_methods: Option<BTreeMap<String, String>>,
    services: Option<BTreeMap<String, ServiceInput>>,
}

async fn sign_plc_operation(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<SignPlcOperationInput>,
) -> Result<Json<Value>, ApiError> {
    let changes = pds::PlcChanges {
        rotation_keys: input.rotation_keys,
        also_known_as: input.also_known_as,
        verification_methods: input.verification_methods,
        services: input.services.map(|s| {
            s.into_iter()
                .map(|(name, svc)| {
                    (
                        name,
                        identity::PlcService {
                            service_type: svc.service_type,
                            endpoint: svc.endpoint,
                        },
                    )
                })
                .collect()
        }),
    };
    let operation = state
        .pds()
        .sign_plc_operation(&auth, input.token.as_deref(), changes)
        .await?;
    Ok(Json(json!({ "operation": operation })))
}

#[derive(Deserialize)]
struct SubmitPlcOperationInput {
    operation: Value,
}

async fn submit_plc_operation(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<SubmitPlcOperationInput>,
) -> Result<StatusCode, ApiError> {
    state
        .pds()
        .submit_plc_operation(&auth, &input.operation)
        .await?;
    Ok(StatusCode::OK)
}
