//! `com.atproto.identity.resolveHandle`, `updateHandle`, `/.well-known/atproto-did`
//! (checklist #116-#122), this service's own `/.well-known/did.json` (for a did:web service
//! DID, checklist #115), and the newer resolution methods `resolveDid`, `resolveIdentity` and
//! `refreshIdentity` (#113, #120).
//!
//! Handles on this server's domains are answered from the account table; any other handle goes
//! through `identity::resolve_handle` over DNS TXT and HTTPS well-known. DID documents come
//! from the PLC directory (did:plc) or the did:web well-known URL, fetched fresh each time (no
//! cache, so `refreshIdentity` is `resolveIdentity`). `resolveIdentity` reports the handle only
//! when it checks both ways (the DID document claims it and it resolves to the DID), else
//! `handle.invalid`, as the lexicon says.

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
        .route("/xrpc/com.atproto.identity.resolveDid", query(resolve_did))
        .route(
            "/xrpc/com.atproto.identity.resolveIdentity",
            query(resolve_identity),
        )
        .route(
            "/xrpc/com.atproto.identity.refreshIdentity",
            procedure(refresh_identity),
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

/// The DID `handle` resolves to: local accounts from the account table, others over DNS and
/// HTTPS. `HandleNotFound` when it resolves to nothing.
async fn handle_to_did(state: &AppState, handle: &Handle) -> Result<Did, ApiError> {
    let not_found = || ApiError::bad_request("HandleNotFound", "Unable to resolve handle");
    if let Some(did) = local_did(state, handle).await? {
        return Ok(did);
    }
    if is_local(state, handle) {
        return Err(not_found());
    }
    match identity::resolve_handle(state.handle_resolver(), handle).await {
        Ok((did, _method)) => Ok(did),
        Err(e) => {
            tracing::debug!(handle = %handle, error = %e, "handle resolution failed");
            Err(not_found())
        }
    }
}

async fn resolve_handle(
    State(state): State<AppState>,
    XrpcQuery(params): XrpcQuery<ResolveHandleParams>,
) -> Result<Json<Value>, ApiError> {
    let handle: Handle = parse("handle", &params.handle)?;
    let did = handle_to_did(&state, &handle).await?;
    Ok(Json(json!({ "did": did.as_str() })))
}

fn did_not_found(did: &Did) -> ApiError {
    ApiError::bad_request("DidNotFound", format!("DID not found: {did}"))
}

fn did_deactivated(did: &Did) -> ApiError {
    ApiError::bad_request("DidDeactivated", format!("DID deactivated: {did}"))
}

/// The current DID document of `did`, as published (JSON) and parsed: did:plc from the PLC
/// directory (404: `DidNotFound`, 410 tombstone: `DidDeactivated`), did:web from its
/// well-known URL (404/410 likewise). Other failures are `UpstreamFailure`.
async fn fetch_did_document(
    state: &AppState,
    did: &Did,
) -> Result<(Value, identity::DidDocument), ApiError> {
    use crate::plc_directory::PlcClientError;
    let json = match did.method() {
        "plc" => match state.plc().document(did).await {
            Ok(json) => json,
            Err(PlcClientError::NotFound(_)) => return Err(did_not_found(did)),
            Err(PlcClientError::Status { status, .. }) if status == StatusCode::GONE => {
                return Err(did_deactivated(did));
            }
            Err(e) => return Err(ApiError::upstream_failure("Could not resolve DID", e)),
        },
        "web" => {
            let location =
                identity::DidWebLocation::for_did(did).map_err(|_| did_not_found(did))?;
            let response = state
                .http()
                .get(&location.document_url())
                .map_err(|e| ApiError::upstream_failure("Could not resolve DID", e))?
                .send()
                .await
                .map_err(|e| ApiError::upstream_failure("Could not resolve DID", e))?;
            match response.status() {
                StatusCode::NOT_FOUND => return Err(did_not_found(did)),
                StatusCode::GONE => return Err(did_deactivated(did)),
                s if !s.is_success() => {
                    return Err(ApiError::upstream_failure(
                        "Could not resolve DID",
                        format!("did:web document: HTTP {s}"),
                    ));
                }
                _ => {}
            }
            response
                .json::<Value>()
                .await
                .map_err(|e| ApiError::upstream_failure("Could not resolve DID", e))?
        }
        _ => return Err(did_not_found(did)),
    };
    let doc = identity::DidDocument::from_json_for(did, &json)
        .map_err(|e| ApiError::upstream_failure("Invalid DID document", e))?;
    Ok((json, doc))
}

#[derive(Deserialize)]
struct ResolveDidParams {
    did: String,
}

/// `com.atproto.identity.resolveDid`: the DID document, handle not checked.
async fn resolve_did(
    State(state): State<AppState>,
    XrpcQuery(params): XrpcQuery<ResolveDidParams>,
) -> Result<Json<Value>, ApiError> {
    let did: Did = parse("did", &params.did)?;
    let (json, _) = fetch_did_document(&state, &did).await?;
    Ok(Json(json!({ "didDoc": json })))
}

/// `identityInfo` for a handle or DID, with the bidirectional handle check.
async fn identity_info(state: &AppState, identifier: &str) -> Result<Value, ApiError> {
    let id: AtIdentifier = parse("identifier", identifier)?;
    let (did, asked_handle) = match id {
        AtIdentifier::Did(did) => (did, None),
        AtIdentifier::Handle(handle) => {
            let handle: Handle = parse("identifier", &handle.as_str().to_ascii_lowercase())?;
            (handle_to_did(state, &handle).await?, Some(handle))
        }
    };
    let (json, doc) = fetch_did_document(state, &did).await?;
    let claimed = doc
        .handle()
        .and_then(|h| h.as_str().to_ascii_lowercase().parse::<Handle>().ok());
    let verified = match (claimed, asked_handle) {
        // Asked by handle: it resolved to this DID; the document must claim it back.
        (Some(claimed), Some(asked)) => (claimed == asked).then_some(asked),
        // Asked by DID: the handle the document claims must resolve to this DID.
        (Some(claimed), None) => match handle_to_did(state, &claimed).await {
            Ok(back) if back == did => Some(claimed),
            _ => None,
        },
        (None, _) => None,
    };
    let handle = verified.map_or_else(|| "handle.invalid".to_owned(), Handle::into_string);
    Ok(json!({ "did": did.as_str(), "handle": handle, "didDoc": json }))
}

#[derive(Deserialize)]
struct ResolveIdentityParams {
    identifier: String,
}

/// `com.atproto.identity.resolveIdentity`.
async fn resolve_identity(
    State(state): State<AppState>,
    XrpcQuery(params): XrpcQuery<ResolveIdentityParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(identity_info(&state, &params.identifier).await?))
}

/// `com.atproto.identity.refreshIdentity`: nothing is cached, so this resolves afresh, like
/// `resolveIdentity`.
async fn refresh_identity(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<ResolveIdentityParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(identity_info(&state, &input.identifier).await?))
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
