//! What account migration needs from the network (checklist #99, #100, #115): resolving a DID
//! document (did:plc from the configured PLC directory, did:web from its well-known URL through
//! the SSRF-guarded client, never cached) and verifying the service-auth JWT that authorises
//! `createAccount` with a bring-your-own DID (signed by the DID's current `#atproto` key,
//! `aud` = this service's DID, `lxm` = `com.atproto.server.createAccount`, not expired).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use identity::{DidDocument, DidWebLocation};
use pds::service_auth::{ServiceAuthError, VerifiedServiceJwt, verify_service_jwt};
use syntax::Did;

use crate::error::ApiError;
use crate::server::AppState;

/// The method a bring-your-own-DID `createAccount` token must be bound to.
pub(crate) const CREATE_ACCOUNT_LXM: &str = "com.atproto.server.createAccount";

/// Largest did:web document accepted.
const MAX_DID_DOC_BYTES: usize = 64 * 1024;

/// Fetches `did`'s current DID document. The error text is for the client.
pub(crate) async fn resolve_did_doc(state: &AppState, did: &Did) -> Result<DidDocument, String> {
    match did.method() {
        "plc" => {
            let json = state
                .plc()
                .document(did)
                .await
                .map_err(|e| format!("could not resolve DID: {e}"))?;
            DidDocument::from_json_for(did, &json).map_err(|e| format!("bad DID document: {e}"))
        }
        "web" => {
            let location = DidWebLocation::for_did(did).map_err(|e| e.to_string())?;
            let response = state
                .http()
                .get(&location.document_url())
                .map_err(|e| e.to_string())?
                .send()
                .await
                .map_err(|e| format!("could not fetch DID document: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("DID document fetch: HTTP {}", response.status()));
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| format!("could not fetch DID document: {e}"))?;
            if bytes.len() > MAX_DID_DOC_BYTES {
                return Err("DID document too large".to_owned());
            }
            let json: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("DID document is not JSON: {e}"))?;
            DidDocument::from_json_for(did, &json).map_err(|e| format!("bad DID document: {e}"))
        }
        other => Err(format!("unsupported DID method {other}")),
    }
}

/// A service-auth refusal on the wire: 401 with the reference's error name.
fn auth_error(e: &ServiceAuthError) -> ApiError {
    ApiError::unauthorized(e.name(), e.to_string())
}

/// The bearer token of `headers`, if any (another scheme is an error).
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| auth_error(&ServiceAuthError::BadJwt))?;
    match value.split_once(' ') {
        Some((s, rest)) if s.eq_ignore_ascii_case("Bearer") && !rest.trim().is_empty() => {
            Ok(Some(rest.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "InvalidToken",
            "Unexpected authorization type",
        )),
    }
}

/// Checks that the request carries a service JWT for `createAccount` issued by `did` and
/// signed with its current key. As the reference: no token is `401 AuthenticationRequired`
/// ("Missing auth to create account with did"), a token by another DID likewise, and a bad
/// token gets the JWT error name (`BadJwtAudience`, `BadJwtLexiconMethod`, `JwtExpired`,
/// `BadJwtSignature`, ...).
pub(crate) async fn verify_byo_did_auth(
    state: &AppState,
    headers: &HeaderMap,
    did: &Did,
) -> Result<VerifiedServiceJwt, ApiError> {
    let missing = || {
        ApiError::unauthorized(
            "AuthenticationRequired",
            format!("Missing auth to create account with did: {did}"),
        )
    };
    let token = bearer(headers)?.ok_or_else(missing)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let aud = state.config().service_did.as_str();
    let verified = verify_service_jwt(
        token,
        aud,
        CREATE_ACCOUNT_LXM,
        now,
        |iss, _service| async move {
            let doc = resolve_did_doc(state, &iss)
                .await
                .map_err(ServiceAuthError::UnresolvableIss)?;
            doc.signing_key().map_err(|_| {
                ServiceAuthError::UnresolvableIss("missing or bad key in did doc".to_owned())
            })
        },
    )
    .await
    .map_err(|e| auth_error(&e))?;
    if verified.iss != *did || verified.service.is_some() {
        return Err(missing());
    }
    state
        .pds()
        .accept_service_jwt(&verified, now)
        .map_err(|e| auth_error(&e))?;
    Ok(verified)
}
