//! `com.atproto.identity.resolveHandle`, `updateHandle`, `/.well-known/atproto-did`
//! (checklist #116-#122) and this service's own `/.well-known/did.json` (for a did:web
//! service DID, checklist #115).
//!
//! Handles on this server's domains are answered from the account table; any other handle goes
//! through `identity::resolve_handle` over DNS TXT and HTTPS well-known.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use syntax::{AtIdentifier, Did, Handle};

use super::{XrpcJson, XrpcQuery, parse, procedure, query};
use crate::auth::Access;
use crate::error::ApiError;
use crate::server::AppState;

/// The `com.atproto.identity.*` routes, and `/.well-known/atproto-did`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/xrpc/com.atproto.identity.resolveHandle",
            query(resolve_handle),
        )
        .route(
            "/xrpc/com.atproto.identity.updateHandle",
            procedure(update_handle),
        )
        .route(
            "/xrpc/com.atproto.identity.getRecommendedDidCredentials",
            query(get_recommended_did_credentials),
        )
        .route("/.well-known/atproto-did", get(well_known_atproto_did))
        .route("/.well-known/did.json", get(well_known_did_json))
}

/// True if `handle` is under one of this server's handle domains.
fn is_local(state: &AppState, handle: &Handle) -> bool {
    state
        .config()
        .service_handle_domains
        .iter()
        .any(|d| handle.as_str().ends_with(d.as_str()))
}

/// The DID of a local account with `handle`, if any.
async fn local_did(state: &AppState, handle: &Handle) -> Result<Option<Did>, ApiError> {
    match state
        .pds()
        .describe_repo(&AtIdentifier::Handle(handle.clone()))
        .await
    {
        Ok(d) => Ok(Some(d.did)),
        Err(e) if e.kind() == pds::ErrorKind::RepoNotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct ResolveHandleParams {
    handle: String,
}

async fn resolve_handle(
    State(state): State<AppState>,
    XrpcQuery(params): XrpcQuery<ResolveHandleParams>,
) -> Result<Json<Value>, ApiError> {
    let handle: Handle = parse("handle", &params.handle)?;
    let not_found = || ApiError::bad_request("HandleNotFound", "Unable to resolve handle");
    if let Some(did) = local_did(&state, &handle).await? {
        return Ok(Json(json!({ "did": did.as_str() })));
    }
    if is_local(&state, &handle) {
        return Err(not_found());
    }
    match identity::resolve_handle(state.handle_resolver(), &handle).await {
        Ok((did, _method)) => Ok(Json(json!({ "did": did.as_str() }))),
        Err(e) => {
            tracing::debug!(handle = %handle, error = %e, "handle resolution failed");
            Err(not_found())
        }
    }
}

#[derive(Deserialize)]
struct UpdateHandleInput {
    handle: String,
}

/// A handle outside our domains must already resolve (DNS TXT or HTTPS well-known) to the
/// caller's DID; the PLC update then makes the DID document claim it back (checklist #120).
async fn update_handle(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<UpdateHandleInput>,
) -> Result<StatusCode, ApiError> {
    let handle: Handle = parse("handle", &input.handle.to_ascii_lowercase())?;
    let externally_verified = if is_local(&state, &handle) {
        false
    } else {
        match identity::resolve_handle(state.handle_resolver(), &handle).await {
            Ok((did, _)) if did == auth.did => true,
            Ok(_) => {
                return Err(ApiError::invalid_request(
                    "External handle did not resolve to DID",
                ));
            }
            Err(e) => {
                return Err(ApiError::invalid_request(format!(
                    "External handle did not resolve: {e}"
                )));
            }
        }
    };
    state
        .pds()
        .update_handle(&auth, handle.as_str(), externally_verified)
        .await?;
    Ok(StatusCode::OK)
}

/// `com.atproto.identity.getRecommendedDidCredentials` (checklist #100): what the account's
/// DID document should hold for this server to host it (rotation key, `#atproto` key, handle,
/// `#atproto_pds` endpoint).
async fn get_recommended_did_credentials(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.pds().recommended_did_credentials(&auth).await?))
}

/// `GET /.well-known/atproto-did` on `<handle>`: the DID as text, for local accounts.
async fn well_known_atproto_did(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _port)| h);
    let user_not_found = || {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "User not found",
        )
            .into_response()
    };
    let Ok(handle) = host.to_ascii_lowercase().parse::<Handle>() else {
        return Ok(user_not_found());
    };
    match local_did(&state, &handle).await? {
        Some(did) => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            did.into_string(),
        )
            .into_response()),
        None => Ok(user_not_found()),
    }
}

/// `GET /.well-known/did.json`: this service's DID document when its DID is a did:web.
async fn well_known_did_json(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    if config.service_did.method() != "web" {
        return Err(ApiError::not_found("Not Found"));
    }
    Ok(Json(json!({
        "@context": [identity::CONTEXT_DID_V1],
        "id": config.service_did.as_str(),
        "service": [{
            "id": "#atproto_pds",
            "type": identity::ATPROTO_PDS_TYPE,
            "serviceEndpoint": config.public_url,
        }],
    })))
}
