//! Service proxying for XRPC methods this server does not implement (checklist #135, #139-#142):
//! the `atproto-proxy: <did>#<service_id>` header names the target, or `app.bsky.*` methods go
//! to the configured default AppView. The caller must hold a valid access token for an account
//! here; the request is forwarded with a fresh service JWT (`iss` = the account, `aud` = the full
//! `did#service_id`, `lxm` = the method) signed with the account key by `pds`.
//!
//! Every upstream URL goes through the SSRF-guarded client, including DID-document fetches for
//! `did:web` targets and redirects. Request headers forwarded: the content and language
//! negotiation ones and `atproto-accept-labelers`; response headers returned: content type and
//! encoding, `atproto-repo-rev`, `atproto-content-labelers`, rate-limit and cache headers. The
//! upstream's own XRPC errors pass through unchanged; failing to reach it is
//! `502 UpstreamFailure`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use identity::{DidDocument, DidWebLocation};
use syntax::{Did, Nsid};

use crate::error::ApiError;
use crate::server::AppState;

/// The proxy request header.
pub const ATPROTO_PROXY: &str = "atproto-proxy";

/// How long a resolved service endpoint is reused.
const ENDPOINT_TTL: Duration = Duration::from_secs(10 * 60);

/// Request headers passed to the upstream service.
const FORWARD_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "atproto-accept-labelers",
    "content-encoding",
    "content-language",
    "content-type",
    "x-bsky-topics",
];

/// Response headers passed back to the client.
const FORWARD_RESPONSE_HEADERS: &[&str] = &[
    "atproto-content-labelers",
    "atproto-repo-rev",
    "cache-control",
    "content-encoding",
    "content-language",
    "content-type",
    "ratelimit-limit",
    "ratelimit-policy",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
];

/// Where a proxied call goes: the service reference (`did#id`, the JWT `aud`) and its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    /// `did#service_id`.
    pub aud: String,
    /// Base URL of the service (no trailing slash).
    pub url: String,
}

/// Resolved service endpoints, by `did#id`, for [`ENDPOINT_TTL`].
#[derive(Debug, Default)]
pub struct EndpointCache {
    entries: Mutex<HashMap<String, (Instant, String)>>,
}

impl EndpointCache {
    fn get(&self, aud: &str) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(aud)
            .filter(|(at, _)| at.elapsed() < ENDPOINT_TTL)
            .map(|(_, url)| url.clone())
    }

    fn put(&self, aud: &str, url: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(aud.to_owned(), (Instant::now(), url.to_owned()));
        }
    }
}

/// A parsed `atproto-proxy` header value: `did#service_id`.
fn parse_proxy_header(value: &str) -> Result<(Did, String), ApiError> {
    let (did, id) = value
        .split_once('#')
        .ok_or_else(|| ApiError::invalid_request("no service id specified"))?;
    if id.is_empty() {
        return Err(ApiError::invalid_request("no service id specified"));
    }
    let did: Did = did
        .parse()
        .map_err(|e| ApiError::invalid_request(format!("invalid proxy DID: {e}")))?;
    Ok((did, id.to_owned()))
}

/// Which service a call to `nsid` should go to, if any: the `atproto-proxy` header, else the
/// default AppView for `app.bsky.*`. `Ok(None)`: no proxy applies (the caller answers 501).
/// Does not resolve anything yet.
pub fn requested_target(
    state: &AppState,
    nsid: &Nsid,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    if let Some(value) = headers.get(ATPROTO_PROXY) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::invalid_request("invalid atproto-proxy header"))?;
        parse_proxy_header(value)?;
        return Ok(Some(value.to_owned()));
    }
    if nsid.as_str().starts_with("app.bsky.")
        && let Some(appview) = &state.config().appview
    {
        return Ok(Some(appview.did.clone()));
    }
    Ok(None)
}

/// Resolves a service reference to its URL: the configured AppView directly, otherwise the
/// DID document's service entry with that id (checklist #139).
pub async fn resolve_target(state: &AppState, aud: &str) -> Result<ProxyTarget, ApiError> {
    if let Some(appview) = &state.config().appview
        && appview.did == aud
    {
        return Ok(ProxyTarget {
            aud: aud.to_owned(),
            url: appview.url.clone(),
        });
    }
    if let Some(url) = state.proxy_endpoints().get(aud) {
        return Ok(ProxyTarget {
            aud: aud.to_owned(),
            url,
        });
    }
    let (did, id) = parse_proxy_header(aud)?;
    let doc = resolve_did(state, &did).await?;
    let wanted_relative = format!("#{id}");
    let wanted_absolute = format!("{did}#{id}");
    let service = doc
        .service
        .iter()
        .find(|s| s.id == wanted_relative || s.id == wanted_absolute)
        .ok_or_else(|| ApiError::invalid_request("could not resolve proxy did service url"))?;
    let url = service.service_endpoint.trim_end_matches('/').to_owned();
    if !identity::is_http_origin(&url) {
        return Err(ApiError::invalid_request(
            "proxy service endpoint is not an http(s) origin",
        ));
    }
    state.proxy_endpoints().put(aud, &url);
    Ok(ProxyTarget {
        aud: aud.to_owned(),
        url,
    })
}

/// Fetches a DID document: did:plc from the PLC directory, did:web from its well-known URL.
async fn resolve_did(state: &AppState, did: &Did) -> Result<DidDocument, ApiError> {
    let unresolvable = |e: &dyn std::fmt::Display| {
        ApiError::invalid_request(format!("could not resolve proxy did: {e}"))
    };
    match did.method() {
        "plc" => {
            let json = state
                .plc()
                .document(did)
                .await
                .map_err(|e| unresolvable(&e))?;
            DidDocument::from_json_for(did, &json).map_err(|e| unresolvable(&e))
        }
        "web" => {
            let location = DidWebLocation::for_did(did).map_err(|e| unresolvable(&e))?;
            let response = state
                .http()
                .get(&location.document_url())
                .map_err(|e| unresolvable(&e))?
                .send()
                .await
                .map_err(|e| unresolvable(&e))?;
            if !response.status().is_success() {
                return Err(unresolvable(&format!("HTTP {}", response.status())));
            }
            let json: serde_json::Value = response.json().await.map_err(|e| unresolvable(&e))?;
            DidDocument::from_json_for(did, &json).map_err(|e| unresolvable(&e))
        }
        other => Err(unresolvable(&format!("unsupported DID method {other}"))),
    }
}

/// Forwards one request to `target` with the service JWT `token` and returns the upstream's
/// answer (status, selected headers, streamed body).
pub async fn forward(
    state: &AppState,
    target: &ProxyTarget,
    token: &str,
    method: Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let url = format!("{}{path_and_query}", target.url);
    let mut request = state
        .http()
        .request(method.clone(), &url)?
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    for name in FORWARD_REQUEST_HEADERS {
        for value in headers.get_all(*name) {
            request = request.header(*name, value.clone());
        }
    }
    if method == Method::POST {
        request = request.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let upstream = request.send().await.map_err(|e| {
        if e.is_timeout() {
            ApiError::server_error_with_public_message(
                StatusCode::GATEWAY_TIMEOUT,
                "UpstreamTimeout",
                "Upstream service timed out",
            )
            .with_source(e)
        } else {
            ApiError::upstream_failure("pipethrough network error", e)
        }
    })?;
    let mut response = Response::builder().status(upstream.status().as_u16());
    for name in FORWARD_RESPONSE_HEADERS {
        for value in upstream.headers().get_all(*name) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                response = response.header(name, value);
            }
        }
    }
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .map_err(ApiError::internal)
}
