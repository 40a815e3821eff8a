//! [`PlcClient`]: talks to a PLC directory (ours or `plc.directory`) over HTTP through the
//! SSRF-guarded [`SafeClient`]: submit an operation, read the DID document, state, operation
//! log, audit log (validated by replay) and last operation (checklist #111).

use identity::{AuditEntry, DidDocument, PlcLog, SignedOperation};
use reqwest::StatusCode;
use serde_json::Value as Json;
use syntax::Did;

use crate::ssrf::{SafeClient, SsrfError};

/// Largest response body accepted from a directory (audit logs of busy DIDs are still small).
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Why a PLC directory call failed.
#[derive(Debug, thiserror::Error)]
pub enum PlcClientError {
    /// The directory URL is refused by the outbound policy.
    #[error(transparent)]
    Ssrf(#[from] SsrfError),
    /// The request failed (connection, timeout, ...).
    #[error("PLC directory request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The DID is not registered (404 `DID not registered`).
    #[error("DID not registered: {0}")]
    NotFound(Did),
    /// The directory refused the request; `message` is its `{"message"}` body.
    #[error("PLC directory answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The directory's message (or the raw body, truncated).
        message: String,
    },
    /// The response is not what the API promises.
    #[error("invalid PLC directory response: {0}")]
    InvalidResponse(String),
}

/// A client for one PLC directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PlcClient {
    http: SafeClient,
    base_url: String,
}

impl PlcClient {
    /// A client for the directory at `base_url` (no trailing slash needed).
    pub fn new(http: SafeClient, base_url: &str) -> PlcClient {
        PlcClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The directory's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, did: &Did, suffix: &str) -> String {
        format!("{}/{}{suffix}", self.base_url, did.as_str())
    }

    /// `POST /{did}`: submits a signed operation.
    pub async fn submit(&self, did: &Did, op: &SignedOperation) -> Result<(), PlcClientError> {
        let response = self
            .http
            .post(&self.url(did, ""))?
            .json(&op.to_json())
            .send()
            .await?;
        check(did, response).await.map(|_| ())
    }

    async fn get_json(&self, did: &Did, suffix: &str) -> Result<Json, PlcClientError> {
        let response = self.http.get(&self.url(did, suffix))?.send().await?;
        let body = check(did, response).await?;
        serde_json::from_slice(&body).map_err(|e| PlcClientError::InvalidResponse(e.to_string()))
    }

    /// `GET /{did}`: the DID document as JSON.
    pub async fn document(&self, did: &Did) -> Result<Json, PlcClientError> {
        self.get_json(did, "").await
    }

    /// `GET /{did}/data`: the current state as JSON.
    pub async fn data(&self, did: &Did) -> Result<Json, PlcClientError> {
        self.get_json(did, "/data").await
    }

    /// `GET /{did}/log/last`: the head operation.
    pub async fn last_operation(&self, did: &Did) -> Result<SignedOperation, PlcClientError> {
        let json = self.get_json(did, "/log/last").await?;
        SignedOperation::from_json(&json)
            .map_err(|e| PlcClientError::InvalidResponse(e.to_string()))
    }

    /// `GET /{did}/log/audit`, parsed.
    pub async fn audit_log(&self, did: &Did) -> Result<Vec<AuditEntry>, PlcClientError> {
        let json = self.get_json(did, "/log/audit").await?;
        identity::parse_audit_log(&json).map_err(|e| PlcClientError::InvalidResponse(e.to_string()))
    }

    /// The audit log, validated by replay (signatures, chain, nullification) and checked to be
    /// for `did`: what to trust before building an update on it.
    pub async fn verified_log(&self, did: &Did) -> Result<PlcLog, PlcClientError> {
        let entries = self.audit_log(did).await?;
        let log = identity::validate_audit_log(&entries)
            .map_err(|e| PlcClientError::InvalidResponse(e.to_string()))?;
        if log.did() != did {
            return Err(PlcClientError::InvalidResponse(format!(
                "audit log is for {}, not {did}",
                log.did()
            )));
        }
        Ok(log)
    }
}

/// Returns the body of a 2xx response, or the directory's error.
async fn check(did: &Did, response: reqwest::Response) -> Result<Vec<u8>, PlcClientError> {
    let status = response.status();
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(PlcClientError::InvalidResponse(format!(
            "response larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    let body = read_limited(response).await?;
    if status.is_success() {
        return Ok(body);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(PlcClientError::NotFound(did.clone()));
    }
    let message = serde_json::from_slice::<Json>(&body)
        .ok()
        .and_then(|j| j.get("message").and_then(Json::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(500).collect());
    Err(PlcClientError::Status { status, message })
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, PlcClientError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(PlcClientError::InvalidResponse(format!(
                "response larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The use cases' view of the directory (`pds::PlcClient`): submit, and resolve to a DID
/// document (`None` when the directory does not know the DID or it is tombstoned).
#[async_trait::async_trait]
impl pds::PlcClient for PlcClient {
    async fn submit(&self, did: &Did, op: &SignedOperation) -> Result<(), pds::PlcClientError> {
        PlcClient::submit(self, did, op).await.map_err(|e| match e {
            PlcClientError::Status { status, message } if status.is_client_error() => {
                pds::PlcClientError::Rejected(message)
            }
            other => pds::PlcClientError::Unavailable(Box::new(other)),
        })
    }

    async fn resolve(&self, did: &Did) -> Result<Option<DidDocument>, pds::PlcClientError> {
        match self.document(did).await {
            Ok(json) => DidDocument::from_json_for(did, &json)
                .map(Some)
                .map_err(|e| pds::PlcClientError::Unavailable(Box::new(e))),
            Err(PlcClientError::NotFound(_)) => Ok(None),
            // A tombstoned DID answers 404 ("DID not available") on the reference and 410 on
            // plc.directory.
            Err(PlcClientError::Status { status, .. }) if status == StatusCode::GONE => Ok(None),
            Err(e) => Err(pds::PlcClientError::Unavailable(Box::new(e))),
        }
    }

    async fn last_operation(
        &self,
        did: &Did,
    ) -> Result<Option<SignedOperation>, pds::PlcClientError> {
        match PlcClient::last_operation(self, did).await {
            Ok(op) => Ok(Some(op)),
            Err(PlcClientError::NotFound(_)) => Ok(None),
            Err(e) => Err(pds::PlcClientError::Unavailable(Box::new(e))),
        }
    }
}
