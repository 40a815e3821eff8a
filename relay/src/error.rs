//! THE one mapping from errors to the XRPC wire: [`ApiError`] is what every handler and extractor
//! returns, and its `IntoResponse` writes `{"error": Name, "message": ...}` with the status
//! (checklist #126, #127).
//!
//! Domain errors (`pds::Error` by its kind, extractor rejections, SSRF errors) become an `ApiError`
//! through `From` impls in this file only, so the status and error name of every failure are
//! decided in one place. Server errors (5xx) are logged here with their whole source chain; the
//! client only sees the generic message of the status (for 500) or a message written for it.
//!
//! What this file does not do: the PLC directory's own `{"message"}` error bodies (they mimic
//! the reference PLC server, see [`crate::plc_directory`]), and the OAuth endpoints' errors,
//! which OAuth clients read as `{"error", "error_description"}` ([`crate::oauth::OAuthApiError`]).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Boxed error source kept for logs.
type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An XRPC error response: status, error name, message, extra headers, and (for logs only) the
/// underlying error.
pub struct ApiError {
    status: StatusCode,
    error: Cow<'static, str>,
    message: Option<String>,
    /// Whether `message` may be sent (always for 4xx; for 5xx only when written for clients).
    public: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
    source: Option<Source>,
}

impl ApiError {
    /// An error with an explicit status, XRPC error name (no whitespace) and message.
    pub fn new(
        status: StatusCode,
        error: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            message: Some(message.into()),
            public: !status.is_server_error() || status == StatusCode::NOT_IMPLEMENTED,
            headers: Vec::new(),
            source: None,
        }
    }

    /// A 5xx whose message was written for clients (e.g. "the desktop is offline"); other 5xx
    /// messages are logged only.
    pub fn server_error_with_public_message(
        status: StatusCode,
        error: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> ApiError {
        let mut api = ApiError::new(status, error, message);
        api.public = true;
        api
    }

    /// 400 `InvalidRequest`.
    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    /// 400 with a method-specific error name (e.g. `InvalidSwap`, `RepoNotFound`).
    pub fn bad_request(error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// 401 with the given error name (`AuthMissing`, `InvalidToken`, `ExpiredToken`, ...) and a
    /// `WWW-Authenticate` header (checklist #127).
    pub fn unauthorized(error: &'static str, message: impl Into<String>) -> ApiError {
        let challenge = match error {
            "InvalidToken" | "ExpiredToken" => r#"Bearer error="invalid_token""#,
            _ => "Bearer",
        };
        ApiError::new(StatusCode::UNAUTHORIZED, error, message).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )
    }

    /// 401 `AuthMissing`: no credentials were sent.
    pub fn auth_missing() -> ApiError {
        ApiError::unauthorized("AuthMissing", "Authentication Required")
    }

    /// 403 `Forbidden` (or a method-specific name given by [`ApiError::new`]).
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 404 `NotFound` (non-XRPC paths; XRPC methods use 400 with a specific name instead).
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// 413 `PayloadTooLarge`.
    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", message)
    }

    /// 501 `MethodNotImplemented`.
    pub fn method_not_implemented() -> ApiError {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "MethodNotImplemented",
            "Method Not Implemented",
        )
    }

    /// 500 `InternalServerError`; `source` is logged, never sent.
    pub fn internal(source: impl Into<Source>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: Cow::Borrowed("InternalServerError"),
            message: None,
            public: false,
            headers: Vec::new(),
            source: Some(source.into()),
        }
    }

    /// 502 `UpstreamFailure` with a client-safe message; `source` is logged, never sent.
    pub fn upstream_failure(message: impl Into<String>, source: impl Into<Source>) -> ApiError {
        ApiError::server_error_with_public_message(
            StatusCode::BAD_GATEWAY,
            "UpstreamFailure",
            message,
        )
        .with_source(source)
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// Attaches the underlying error (logged for 5xx, never sent).
    pub fn with_source(mut self, source: impl Into<Source>) -> ApiError {
        self.source = Some(source.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The XRPC error name.
    pub fn error_name(&self) -> &str {
        &self.error
    }

    /// The message the client will see.
    pub fn public_message(&self) -> String {
        match &self.message {
            // Never send details of server errors unless written for the client.
            Some(m) if self.public && !m.is_empty() => m.clone(),
            _ => default_message(self.status),
        }
    }
}

/// The generic message of a status, as the reference XRPC server words it.
fn default_message(status: StatusCode) -> String {
    match status.as_u16() {
        400 => "Invalid Request",
        401 => "Authentication Required",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Rate Limit Exceeded",
        500 => "Internal Server Error",
        501 => "Method Not Implemented",
        502 => "Upstream Failure",
        503 => "Not Enough Resources",
        504 => "Upstream Timeout",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
    .to_owned()
}

/// `e: cause: cause ...` for logs (and for messages that must say why, as the handle
/// resolver's).
pub(crate) fn source_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ApiError");
        d.field("status", &self.status.as_u16())
            .field("error", &self.error)
            .field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", &source_chain(source.as_ref()));
        }
        d.finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.error,
            self.public_message()
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() && self.status != StatusCode::NOT_IMPLEMENTED {
            match &self.source {
                Some(source) => tracing::error!(
                    status = self.status.as_u16(),
                    error = %self.error,
                    message = self.message.as_deref().unwrap_or(""),
                    cause = %source_chain(source.as_ref()),
                    "request failed"
                ),
                None => tracing::error!(
                    status = self.status.as_u16(),
                    error = %self.error,
                    message = self.message.as_deref().unwrap_or(""),
                    "request failed"
                ),
            }
        }
        let body = serde_json::json!({
            "error": self.error,
            "message": self.public_message(),
        });
        let mut response = (self.status, Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = rejection.status();
        match rejection {
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large("request entity too large")
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::invalid_request(
                "Wrong request encoding (Content-Type): expected application/json",
            ),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::invalid_request(format!("Invalid JSON: {}", e.body_text()))
            }
            JsonRejection::JsonDataError(e) => {
                ApiError::invalid_request(format!("Invalid input: {}", e.body_text()))
            }
            other => ApiError::invalid_request(other.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::payload_too_large("request entity too large");
        }
        // A body shorter than its Content-Length (the client stopped sending), or a broken
        // chunked encoding: nothing of it is used.
        ApiError::invalid_request(format!(
            "The request body could not be read: {}",
            rejection.body_text()
        ))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::invalid_request(format!(
            "Invalid query parameters: {}",
            rejection.body_text()
        ))
    }
}

/// Status and wire name of each domain error kind. Statuses follow the reference PDS: almost
/// every domain refusal is a 400 with a specific name (clients such as `@atproto/api` refresh
/// their session only on `400 ExpiredToken`), bad logins are 401, oversized bodies 413, and
/// failures of the PLC directory 502.
fn pds_status(kind: pds::ErrorKind) -> (StatusCode, &'static str) {
    use pds::ErrorKind as K;
    match kind {
        K::AuthRequired => (StatusCode::UNAUTHORIZED, "AuthenticationRequired"),
        K::AccountTakedown | K::AuthFactorTokenRequired => (StatusCode::UNAUTHORIZED, kind.name()),
        K::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, kind.name()),
        K::UpstreamFailure => (StatusCode::BAD_GATEWAY, kind.name()),
        K::Internal => (StatusCode::INTERNAL_SERVER_ERROR, kind.name()),
        // InvalidRequest, InvalidToken, ExpiredToken, AccountDeactivated, Repo*, RecordNotFound,
        // BlobNotFound, BlockNotFound, InvalidSwap, handle and password errors, BadExpiration,
        // and any kind added later.
        _ => (StatusCode::BAD_REQUEST, kind.name()),
    }
}

impl From<pds::Error> for ApiError {
    fn from(err: pds::Error) -> ApiError {
        let (status, name) = pds_status(err.kind());
        // `message()` hides the context of internal errors; the full `log_message()` reaches
        // only the log, through the source attached below.
        let mut api = ApiError::new(status, name, err.message().to_owned());
        if status == StatusCode::UNAUTHORIZED {
            api = api.with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status.is_server_error() {
            api = api.with_source(err);
        }
        api
    }
}

impl From<crate::ssrf::SsrfError> for ApiError {
    fn from(err: crate::ssrf::SsrfError) -> ApiError {
        ApiError::bad_request("InvalidRequest", err.to_string())
    }
}
