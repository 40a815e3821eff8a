//! Client identification for the atproto OAuth profile: which `client_id` strings are
//! acceptable, what to fetch for them, how a fetched client metadata document is judged, and
//! which `redirect_uri` values a client may register and use (`specs/oauth`, "Clients",
//! "Client ID Metadata Document", "Localhost Client Development", "Request Fields",
//! "Confidential Client Authentication").
//!
//! Nothing here does I/O. The caller fetches the document named by
//! [`ClientId::metadata_url`] through its SSRF-guarded HTTP client (no redirects followed, the
//! body capped at [`MAX_DOCUMENT_BYTES`]), then hands the status, `Content-Type` and body to
//! [`validate_document`], which returns the checked [`ClientMetadata`] or a
//! [`ClientMetadataError`] whose message is fit to send back as `error_description` under the
//! code given by [`ClientMetadataError::error_code`].
//!
//! Checklist items covered:
//!
//! - #147, client metadata discovery: [`ClientId::parse`] accepts an `https` URL without port,
//!   credentials, fragment or IP/local host, with a path, in canonical form;
//!   [`validate_document`] wants status 200 exactly (no redirect, no other 2xx), an
//!   `application/json` body no larger than [`MAX_DOCUMENT_BYTES`], and a `client_id` equal to
//!   the URL character for character.
//! - #148, document rules ([`ClientMetadata::validate`]): `dpop_bound_access_tokens: true`,
//!   `grant_types` with `authorization_code`, `response_types` with `code`, `scope` with
//!   `atproto`, at least one redirect URI; a confidential client uses `private_key_jwt` with
//!   exactly one of `jwks` / `jwks_uri` and a supported signing algorithm, never `none`.
//! - #149, redirect URIs: web clients register `https` URIs (no explicit default port);
//!   native clients register a private-use scheme equal to the reversed `client_id` host
//!   written `scheme:/path`, or `https` on the `client_id` origin; loopback `http://127.0.0.1`
//!   and `http://[::1]` belong to the `http://localhost` client only.
//!   [`ClientMetadata::check_redirect_uri`] matches a requested URI exactly, except that a
//!   loopback URI matches whatever its port.
//! - #150, the `http://localhost` development client: [`ClientId::Loopback`] carries the
//!   `redirect_uri` and `scope` query parameters (defaults `http://127.0.0.1/`,
//!   `http://[::1]/` and `atproto`), and [`ClientId::virtual_metadata`] builds the public
//!   native client the spec describes.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::OAuthErrorCode;

/// Largest client metadata document accepted, in bytes (64 KiB). A real document is well
/// under 10 KiB even with a JWKS; the fetching client should stop reading past this size.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Longest `client_id` accepted, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 2048;

/// Origin of the development client (`specs/oauth`, "Localhost Client Development").
pub const LOOPBACK_CLIENT_ORIGIN: &str = "http://localhost";

/// Redirect URIs of the development client when its `client_id` names none.
pub const DEFAULT_LOOPBACK_REDIRECT_URIS: [&str; 2] = ["http://127.0.0.1/", "http://[::1]/"];

/// Scope of the development client when its `client_id` names none.
pub const DEFAULT_LOOPBACK_SCOPE: &str = "atproto";

/// `client_name` given to the development client's virtual metadata.
pub const LOOPBACK_CLIENT_NAME: &str = "Development client";

/// Client assertion signing algorithms this server verifies (those of the `crypto` crate).
pub const SUPPORTED_SIGNING_ALGS: [&str; 2] = ["ES256", "ES256K"];

/// Longest piece of client input echoed back inside an error message.
const ECHO_MAX: usize = 200;

/// Top-level domains that never name a public host: RFC 2606 / RFC 6761 special-use names,
/// `.local` (RFC 6762), `.onion` (RFC 7686), `.alt` (RFC 9476), `.internal`, and `.arpa`.
const NON_PUBLIC_TLDS: [&str; 9] = [
    "localhost",
    "local",
    "test",
    "invalid",
    "example",
    "internal",
    "alt",
    "onion",
    "arpa",
];

/// What is wrong with one redirect URI (inside [`ClientMetadataError::RedirectUri`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriProblem {
    /// Not an absolute URL.
    #[error("it is not a valid absolute URL")]
    NotUrl,
    /// Carries a `#fragment` (RFC 6749 §3.1.2).
    #[error("it must not contain a fragment")]
    Fragment,
    /// Carries `user:password@`.
    #[error("it must not contain credentials")]
    Credentials,
    /// Uses the `localhost` name (RFC 8252 §8.3).
    #[error("use the loopback IP address 127.0.0.1 or [::1] instead of \"localhost\"")]
    LocalhostName,
    /// A loopback URI registered by a client other than the `http://localhost` one.
    #[error(
        "loopback redirect URIs (http://127.0.0.1, http://[::1]) are only allowed for the \
         http://localhost development client"
    )]
    LoopbackNotAllowed,
    /// The `http://localhost` client registered something other than a loopback URI.
    #[error(
        "the http://localhost development client may only use http://127.0.0.1 or \
         http://[::1] redirect URIs"
    )]
    LoopbackClientNeedsLoopback,
    /// `http` on a host that is not a loopback IP address.
    #[error("the http scheme is only allowed for loopback (127.0.0.1 or [::1]) redirect URIs")]
    HttpNotLoopback,
    /// `https` on a loopback address or a name that is not public.
    #[error("an https redirect URI must be on a public host name")]
    HostNotPublic,
    /// An explicit default port (`:443`).
    #[error("it must not include the default port number")]
    DefaultPort,
    /// A native client's `https` URI on another origin than its `client_id`.
    #[error("a native client's https redirect URI must have the same origin as its client_id")]
    NativeHttpsOrigin,
    /// A private-use scheme registered by a web client.
    #[error("custom URI schemes are only allowed for native clients (application_type \"native\")")]
    CustomSchemeForWeb,
    /// A private-use scheme other than the reversed `client_id` host.
    #[error("the custom URI scheme must be the client_id host name in reverse order ({expected}:)")]
    CustomSchemeMismatch {
        /// The scheme the client must use.
        expected: String,
    },
    /// A private-use scheme not followed by exactly `:/` and a path.
    #[error("a custom URI scheme must be followed by \":/\" and a path, with a single slash")]
    CustomSchemeForm,
}

/// Why a `client_id`, a client metadata document or a redirect URI was rejected. Each message
/// is fit to send to the client as `error_description`; [`ClientMetadataError::error_code`]
/// gives the `error` code to send with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientMetadataError {
    // ---- client_id (invalid_request) ----
    /// The `client_id` is longer than [`MAX_CLIENT_ID_LEN`].
    #[error("client_id is too long (at most {MAX_CLIENT_ID_LEN} bytes)")]
    ClientIdTooLong,
    /// The `client_id` is not an absolute URL.
    #[error("client_id must be a URL")]
    ClientIdNotUrl,
    /// Neither `https` nor the `http://localhost` development origin.
    #[error("client_id must be an https URL (or http://localhost for development)")]
    ClientIdScheme,
    /// The URL has `user:password@`.
    #[error("client_id must not contain credentials")]
    ClientIdCredentials,
    /// The URL has a `#fragment`.
    #[error("client_id must not contain a fragment")]
    ClientIdFragment,
    /// The URL names a port, even the default one.
    #[error("client_id must not include a port number")]
    ClientIdPort,
    /// The host is an IP address or not a public domain name.
    #[error("client_id host must be a public domain name, not an IP address or a local name")]
    ClientIdHost,
    /// The path is empty (`/`) or ends with `/`.
    #[error(
        "client_id must have a path not ending in \"/\" (e.g. \"/oauth-client-metadata.json\")"
    )]
    ClientIdPath,
    /// The URL is not written the way a URL parser writes it back (case, dot segments...).
    #[error("client_id must be in canonical form ({expected:?})")]
    ClientIdNotCanonical {
        /// The canonical spelling.
        expected: String,
    },
    /// The `http://localhost` client_id has a path other than `/`.
    #[error("the http://localhost client_id must not have a path (other than \"/\")")]
    LoopbackClientIdPath,
    /// The `http://localhost` client_id has a query parameter other than `scope` and
    /// `redirect_uri`.
    #[error("unexpected {name:?} query parameter in the http://localhost client_id")]
    LoopbackClientIdParam {
        /// The parameter's name.
        name: String,
    },
    /// The `http://localhost` client_id has more than one `scope` parameter.
    #[error("the http://localhost client_id must have at most one \"scope\" query parameter")]
    LoopbackClientIdDuplicateScope,

    // ---- fetching the document (invalid_client_metadata) ----
    /// [`validate_document`] was called for the `http://localhost` client, which has no
    /// document to fetch.
    #[error("the http://localhost client has no metadata document to fetch")]
    NotDiscoverable,
    /// The document URL answered with a redirect.
    #[error(
        "client metadata request was redirected (HTTP {status}); the document must be served directly with status 200"
    )]
    MetadataRedirect {
        /// The HTTP status received.
        status: u16,
    },
    /// The document URL answered with a status other than 200.
    #[error("client metadata request returned HTTP {status}; status 200 is required")]
    MetadataStatus {
        /// The HTTP status received.
        status: u16,
    },
    /// The response is not `application/json`.
    #[error("client metadata must be served as application/json (got {content_type:?})")]
    MetadataContentType {
        /// The `Content-Type` received, if any.
        content_type: Option<String>,
    },
    /// The body is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("client metadata document is too large (at most {MAX_DOCUMENT_BYTES} bytes)")]
    MetadataTooLarge,
    /// The body is not a JSON object.
    #[error("client metadata document is not a JSON object: {0}")]
    MetadataNotJson(String),
    /// A member has the wrong type or value.
    #[error("client metadata document is malformed: {0}")]
    MetadataMalformed(String),

    // ---- document rules (invalid_client_metadata) ----
    /// `client_id` is missing from the document.
    #[error("client metadata must contain a client_id")]
    ClientIdMissing,
    /// `client_id` differs from the URL the document was fetched from.
    #[error(
        "client metadata client_id {found:?} does not match the URL it was fetched from ({expected:?})"
    )]
    ClientIdMismatch {
        /// The `client_id` the document was fetched for.
        expected: String,
        /// The `client_id` in the document (shortened if long).
        found: String,
    },
    /// `dpop_bound_access_tokens` is missing or not `true`.
    #[error("dpop_bound_access_tokens must be true")]
    DpopRequired,
    /// `grant_types` lacks `authorization_code`.
    #[error("grant_types must include \"authorization_code\"")]
    GrantTypeMissing,
    /// `grant_types` lists a grant this server does not support.
    #[error(
        "grant type {grant_type:?} is not supported (only \"authorization_code\" and \"refresh_token\")"
    )]
    GrantTypeUnsupported {
        /// The unsupported grant type.
        grant_type: String,
    },
    /// `response_types` lacks `code`.
    #[error("response_types must include \"code\"")]
    ResponseTypeMissing,
    /// `response_types` lists an implicit-flow type (containing `token`).
    #[error("response type {response_type:?} is not allowed (PKCE requires \"code\")")]
    ResponseTypeUnsupported {
        /// The rejected response type.
        response_type: String,
    },
    /// `scope` is missing or empty.
    #[error("client metadata must declare a scope")]
    ScopeMissing,
    /// `scope` is not a space-separated list of scope tokens.
    #[error("scope must be a list of scope values separated by single spaces")]
    ScopeMalformed,
    /// `scope` lacks `atproto`.
    #[error("scope must include \"atproto\"")]
    ScopeMissingAtproto,
    /// `redirect_uris` is missing or empty.
    #[error("at least one redirect_uri is required")]
    RedirectUrisMissing,
    /// A registered (or, for the development client, query) redirect URI breaks a rule.
    #[error("redirect_uri {uri:?} is not allowed: {problem}")]
    RedirectUri {
        /// The redirect URI (shortened if long).
        uri: String,
        /// What is wrong with it.
        problem: RedirectUriProblem,
    },
    /// `token_endpoint_auth_method` is neither `none` nor `private_key_jwt`.
    #[error(
        "token_endpoint_auth_method {method:?} is not supported (use \"private_key_jwt\" or \"none\")"
    )]
    AuthMethodUnsupported {
        /// The rejected method.
        method: String,
    },
    /// Metadata for the `http://localhost` client that is not a public native client.
    #[error("the http://localhost development client must be a public native client")]
    LoopbackClientType,
    /// `token_endpoint_auth_signing_alg` is `none`.
    #[error("token_endpoint_auth_signing_alg must not be \"none\"")]
    SigningAlgNone,
    /// A `private_key_jwt` client without `token_endpoint_auth_signing_alg`.
    #[error("token_endpoint_auth_signing_alg is required with private_key_jwt")]
    SigningAlgMissing,
    /// `token_endpoint_auth_signing_alg` names an algorithm this server does not verify.
    #[error(
        "token_endpoint_auth_signing_alg {alg:?} is not supported (use \"ES256\" or \"ES256K\")"
    )]
    SigningAlgUnsupported {
        /// The rejected algorithm.
        alg: String,
    },
    /// A public client (`none`) declaring a signing algorithm.
    #[error(
        "token_endpoint_auth_signing_alg must not be set when token_endpoint_auth_method is \"none\""
    )]
    SigningAlgForPublicClient,
    /// A `private_key_jwt` client with neither `jwks` nor `jwks_uri`.
    #[error("private_key_jwt requires jwks or jwks_uri")]
    JwksMissing,
    /// A `private_key_jwt` client with both `jwks` and `jwks_uri`.
    #[error("jwks and jwks_uri are mutually exclusive")]
    JwksBoth,
    /// `jwks` is not `{"keys": [...]}` with at least one key object.
    #[error("jwks must be an object with a non-empty \"keys\" array of JWK objects")]
    JwksMalformed,
    /// A key in `jwks` carries private material (`d` or `k`).
    #[error("jwks must contain only public keys")]
    JwksPrivateKey,
    /// No key in `jwks` is a P-256 or secp256k1 public key.
    #[error("jwks contains no usable public key (EC P-256 or secp256k1)")]
    JwksNoUsableKey,
    /// `jwks_uri` is not an `https` URL on a public host.
    #[error("jwks_uri must be an https URL on a public host, without credentials or fragment")]
    JwksUriInvalid,
    /// `client_uri` is not an `https` URL on the `client_id` host.
    #[error("client_uri must be an https URL with the same host name as client_id")]
    ClientUriInvalid,
    /// `logo_uri`, `tos_uri` or `policy_uri` is not an `https` URL.
    #[error("{field} must be an https URL")]
    InsecureUri {
        /// The member's name.
        field: &'static str,
    },

    // ---- authorization request (invalid_request) ----
    /// The `redirect_uri` of a request is not one the client registered.
    #[error("redirect_uri {uri:?} is not registered in the client metadata")]
    RedirectUriNotRegistered {
        /// The requested redirect URI (shortened if long).
        uri: String,
    },
}

impl ClientMetadataError {
    /// The OAuth `error` code to report this error under.
    pub fn error_code(&self) -> OAuthErrorCode {
        use ClientMetadataError as E;
        match self {
            E::ClientIdTooLong
            | E::ClientIdNotUrl
            | E::ClientIdScheme
            | E::ClientIdCredentials
            | E::ClientIdFragment
            | E::ClientIdPort
            | E::ClientIdHost
            | E::ClientIdPath
            | E::ClientIdNotCanonical { .. }
            | E::LoopbackClientIdPath
            | E::LoopbackClientIdParam { .. }
            | E::LoopbackClientIdDuplicateScope
            | E::RedirectUriNotRegistered { .. } => OAuthErrorCode::InvalidRequest,
            E::RedirectUri { .. } => OAuthErrorCode::InvalidRedirectUri,
            _ => OAuthErrorCode::InvalidClientMetadata,
        }
    }

    fn redirect(uri: &str, problem: RedirectUriProblem) -> Self {
        ClientMetadataError::RedirectUri {
            uri: clip(uri),
            problem,
        }
    }
}

/// A validated `client_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientId {
    /// An `https` URL naming the client metadata document; the URL's text is the `client_id`
    /// exactly (it is accepted only in canonical form).
    Discoverable(Url),
    /// The `http://localhost` development client, with the metadata its query parameters give.
    Loopback(LoopbackClientId),
}

/// The `http://localhost` development client's `client_id` and what its query parameters say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoopbackClientId {
    raw: String,
    redirect_uris: Vec<String>,
    scope: String,
}

impl LoopbackClientId {
    /// The `client_id` exactly as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The `redirect_uri` query parameters, or [`DEFAULT_LOOPBACK_REDIRECT_URIS`] when there
    /// are none.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    /// The `scope` query parameter, or [`DEFAULT_LOOPBACK_SCOPE`] when there is none.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The virtual metadata document of this client (`specs/oauth`, "Localhost Client
    /// Development"): a public native client.
    pub fn metadata(&self) -> ClientMetadata {
        ClientMetadata {
            client_id: self.raw.clone(),
            application_type: ApplicationType::Native,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            response_types: vec!["code".into()],
            redirect_uris: self.redirect_uris.clone(),
            scope: self.scope.clone(),
            token_endpoint_auth_method: Some("none".into()),
            token_endpoint_auth_signing_alg: None,
            dpop_bound_access_tokens: true,
            jwks: None,
            jwks_uri: None,
            client_name: Some(LOOPBACK_CLIENT_NAME.into()),
            client_uri: None,
            logo_uri: None,
            tos_uri: None,
            policy_uri: None,
        }
    }
}

impl ClientId {
    /// Parses and checks a `client_id` (checklist #147, #150).
    ///
    /// A discoverable `client_id` must be an `https` URL with a host that is a public domain
    /// name (not an IP address, not `localhost`, `.local`, `.test`...), no port (not even
    /// `:443`), no credentials, no fragment, a path other than `/` that does not end with `/`,
    /// and be spelled in canonical form (lowercase host, no dot segments, ...), so that the
    /// string is exactly the URL that gets fetched. A query is allowed.
    ///
    /// The development `client_id` is `http://localhost` with no port, an empty path or `/`,
    /// no fragment, and only `redirect_uri` (repeatable; `http://127.0.0.1` or `http://[::1]`)
    /// and `scope` (at most once; must include `atproto`) query parameters.
    pub fn parse(s: &str) -> Result<ClientId, ClientMetadataError> {
        if s.len() > MAX_CLIENT_ID_LEN {
            return Err(ClientMetadataError::ClientIdTooLong);
        }
        let url = Url::parse(s).map_err(|_| ClientMetadataError::ClientIdNotUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if matches!(url.host(), Some(Host::Domain("localhost"))) => {
                return parse_loopback(s, &url).map(ClientId::Loopback);
            }
            _ => return Err(ClientMetadataError::ClientIdScheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ClientMetadataError::ClientIdCredentials);
        }
        if s.contains('#') {
            return Err(ClientMetadataError::ClientIdFragment);
        }
        if url.port().is_some() || raw_authority_has_port(s) {
            return Err(ClientMetadataError::ClientIdPort);
        }
        match url.host() {
            Some(Host::Domain(d)) if is_public_domain(d) => {}
            _ => return Err(ClientMetadataError::ClientIdHost),
        }
        if url.path().ends_with('/') {
            return Err(ClientMetadataError::ClientIdPath);
        }
        if url.as_str() != s {
            return Err(ClientMetadataError::ClientIdNotCanonical {
                expected: clip(url.as_str()),
            });
        }
        Ok(ClientId::Discoverable(url))
    }

    /// The `client_id` string, exactly as the client sent it.
    pub fn as_str(&self) -> &str {
        match self {
            ClientId::Discoverable(url) => url.as_str(),
            ClientId::Loopback(l) => l.as_str(),
        }
    }

    /// True for the `http://localhost` development client.
    pub fn is_loopback(&self) -> bool {
        matches!(self, ClientId::Loopback(_))
    }

    /// The URL to fetch the metadata document from (the `client_id` itself), or `None` for
    /// the development client, which has no document.
    pub fn metadata_url(&self) -> Option<&Url> {
        match self {
            ClientId::Discoverable(url) => Some(url),
            ClientId::Loopback(_) => None,
        }
    }

    /// The development client's virtual metadata ([`LoopbackClientId::metadata`]), or `None`
    /// for a discoverable client.
    pub fn virtual_metadata(&self) -> Option<ClientMetadata> {
        match self {
            ClientId::Discoverable(_) => None,
            ClientId::Loopback(l) => Some(l.metadata()),
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientId {
    type Err = ClientMetadataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClientId::parse(s)
    }
}

/// `application_type` (OpenID Connect Dynamic Client Registration §2), `web` by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    /// A web service or browser app: `https` redirect URIs.
    #[default]
    Web,
    /// A mobile or desktop app: private-use scheme or same-origin `https` redirect URIs.
    Native,
}

/// A client metadata document: the members atproto uses; others are ignored. Members the
/// spec requires but which are absent deserialize to empty values, so that
/// [`ClientMetadata::validate`] can say precisely what is missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    /// `client_id`: the URL the document was fetched from.
    pub client_id: String,
    /// `application_type`: `web` (default) or `native`.
    pub application_type: ApplicationType,
    /// `grant_types`: must include `authorization_code`.
    pub grant_types: Vec<String>,
    /// `response_types`: must include `code`.
    pub response_types: Vec<String>,
    /// `redirect_uris`: at least one.
    pub redirect_uris: Vec<String>,
    /// `scope`: space-separated, must include `atproto`.
    pub scope: String,
    /// `token_endpoint_auth_method`: `none` (public, the default) or `private_key_jwt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// `token_endpoint_auth_signing_alg`: required with `private_key_jwt`, never `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// `dpop_bound_access_tokens`: must be `true`.
    pub dpop_bound_access_tokens: bool,
    /// `jwks`: the confidential client's public keys, `{"keys": [...]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// `jwks_uri`: where the confidential client's JWKS is published instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `client_name`: not verified; show only for trusted clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// `client_uri`: homepage on the `client_id` host; show only for trusted clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// `logo_uri`: `https` only; show only for trusted clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// `tos_uri`: `https` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// `policy_uri`: `https` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
}

/// Checks the fetch of a discoverable client's metadata document and the document itself
/// (checklist #147-#149): status exactly 200, `Content-Type: application/json`, a body of at
/// most [`MAX_DOCUMENT_BYTES`] holding a JSON object, then [`ClientMetadata::validate`].
pub fn validate_document(
    client_id: &ClientId,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ClientMetadata, ClientMetadataError> {
    if client_id.is_loopback() {
        return Err(ClientMetadataError::NotDiscoverable);
    }
    match status {
        200 => {}
        300..=399 => return Err(ClientMetadataError::MetadataRedirect { status }),
        _ => return Err(ClientMetadataError::MetadataStatus { status }),
    }
    if !content_type.is_some_and(is_json_media_type) {
        return Err(ClientMetadataError::MetadataContentType {
            content_type: content_type.map(clip),
        });
    }
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ClientMetadataError::MetadataTooLarge);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ClientMetadataError::MetadataNotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ClientMetadataError::MetadataNotJson(
            "the top-level value must be an object".into(),
        ));
    }
    let metadata: ClientMetadata = serde_json::from_value(value)
        .map_err(|e| ClientMetadataError::MetadataMalformed(e.to_string()))?;
    metadata.validate(client_id)?;
    Ok(metadata)
}

impl ClientMetadata {
    /// Checks the document against the atproto rules for `client_id` (checklist #148, #149),
    /// in this order: `client_id` present and equal; `dpop_bound_access_tokens`;
    /// `grant_types`; `response_types`; `scope`; `redirect_uris` (each one against
    /// `application_type` and the `client_id`); client authentication (`none` or
    /// `private_key_jwt` with exactly one of `jwks` / `jwks_uri` and a supported signing
    /// algorithm); `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`.
    ///
    /// Also fit for re-checking a cached document, and for the development client's virtual
    /// metadata (which must be a public native client).
    pub fn validate(&self, client_id: &ClientId) -> Result<(), ClientMetadataError> {
        if self.client_id.is_empty() {
            return Err(ClientMetadataError::ClientIdMissing);
        }
        if self.client_id != client_id.as_str() {
            return Err(ClientMetadataError::ClientIdMismatch {
                expected: clip(client_id.as_str()),
                found: clip(&self.client_id),
            });
        }
        if !self.dpop_bound_access_tokens {
            return Err(ClientMetadataError::DpopRequired);
        }

        if !self.grant_types.iter().any(|g| g == "authorization_code") {
            return Err(ClientMetadataError::GrantTypeMissing);
        }
        if let Some(g) = self
            .grant_types
            .iter()
            .find(|g| *g != "authorization_code" && *g != "refresh_token")
        {
            return Err(ClientMetadataError::GrantTypeUnsupported {
                grant_type: clip(g),
            });
        }

        if !self.response_types.iter().any(|r| r == "code") {
            return Err(ClientMetadataError::ResponseTypeMissing);
        }
        if let Some(r) = self
            .response_types
            .iter()
            .find(|r| r.split(' ').any(|part| part == "token"))
        {
            return Err(ClientMetadataError::ResponseTypeUnsupported {
                response_type: clip(r),
            });
        }

        check_scope(&self.scope)?;

        if self.redirect_uris.is_empty() {
            return Err(ClientMetadataError::RedirectUrisMissing);
        }
        for uri in &self.redirect_uris {
            check_registered_redirect_uri(uri, client_id, self.application_type)
                .map_err(|problem| ClientMetadataError::redirect(uri, problem))?;
        }

        self.check_client_auth()?;
        if client_id.is_loopback()
            && (self.application_type != ApplicationType::Native || self.is_confidential())
        {
            return Err(ClientMetadataError::LoopbackClientType);
        }

        if let Some(client_uri) = &self.client_uri {
            let ok = match (Url::parse(client_uri), client_id) {
                (Ok(u), ClientId::Discoverable(id)) => {
                    u.scheme() == "https" && u.host_str() == id.host_str()
                }
                _ => false,
            };
            if !ok {
                return Err(ClientMetadataError::ClientUriInvalid);
            }
        }
        for (field, value) in [
            ("logo_uri", &self.logo_uri),
            ("tos_uri", &self.tos_uri),
            ("policy_uri", &self.policy_uri),
        ] {
            if let Some(v) = value
                && !Url::parse(v).is_ok_and(|u| u.scheme() == "https")
            {
                return Err(ClientMetadataError::InsecureUri { field });
            }
        }
        Ok(())
    }

    /// True for a confidential client (`token_endpoint_auth_method` is `private_key_jwt`).
    pub fn is_confidential(&self) -> bool {
        self.token_endpoint_auth_method.as_deref() == Some("private_key_jwt")
    }

    /// The declared scope values.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Checks the `redirect_uri` of an authorization request against the registered ones
    /// (checklist #149, #150): an exact string match, or, for a registered loopback URI
    /// (`http://127.0.0.1`, `http://[::1]`), the same host, path and query on any port.
    pub fn check_redirect_uri(&self, requested: &str) -> Result<(), ClientMetadataError> {
        let matches = self
            .redirect_uris
            .iter()
            .any(|registered| registered == requested || loopback_matches(registered, requested));
        if matches {
            Ok(())
        } else {
            Err(ClientMetadataError::RedirectUriNotRegistered {
                uri: clip(requested),
            })
        }
    }

    fn check_client_auth(&self) -> Result<(), ClientMetadataError> {
        if self.token_endpoint_auth_signing_alg.as_deref() == Some("none") {
            return Err(ClientMetadataError::SigningAlgNone);
        }
        match self.token_endpoint_auth_method.as_deref() {
            None | Some("none") => {
                if self.token_endpoint_auth_signing_alg.is_some() {
                    return Err(ClientMetadataError::SigningAlgForPublicClient);
                }
                Ok(())
            }
            Some("private_key_jwt") => {
                let alg = self
                    .token_endpoint_auth_signing_alg
                    .as_deref()
                    .ok_or(ClientMetadataError::SigningAlgMissing)?;
                if !SUPPORTED_SIGNING_ALGS.contains(&alg) {
                    return Err(ClientMetadataError::SigningAlgUnsupported { alg: clip(alg) });
                }
                match (&self.jwks, &self.jwks_uri) {
                    (None, None) => Err(ClientMetadataError::JwksMissing),
                    (Some(_), Some(_)) => Err(ClientMetadataError::JwksBoth),
                    (Some(jwks), None) => check_jwks(jwks),
                    (None, Some(uri)) => check_jwks_uri(uri),
                }
            }
            Some(other) => Err(ClientMetadataError::AuthMethodUnsupported {
                method: clip(other),
            }),
        }
    }
}

fn check_jwks(jwks: &serde_json::Value) -> Result<(), ClientMetadataError> {
    let keys = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .filter(|k| !k.is_empty())
        .ok_or(ClientMetadataError::JwksMalformed)?;
    let mut usable = false;
    for key in keys {
        let obj = key.as_object().ok_or(ClientMetadataError::JwksMalformed)?;
        if obj.contains_key("d") || obj.contains_key("k") {
            return Err(ClientMetadataError::JwksPrivateKey);
        }
        usable |= crypto::PublicKey::from_jwk(key).is_ok();
    }
    if usable {
        Ok(())
    } else {
        Err(ClientMetadataError::JwksNoUsableKey)
    }
}

fn check_jwks_uri(uri: &str) -> Result<(), ClientMetadataError> {
    let url = Url::parse(uri).map_err(|_| ClientMetadataError::JwksUriInvalid)?;
    let ok = url.scheme() == "https"
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
        && matches!(url.host(), Some(Host::Domain(d)) if is_public_domain(d));
    if ok {
        Ok(())
    } else {
        Err(ClientMetadataError::JwksUriInvalid)
    }
}

fn check_scope(scope: &str) -> Result<(), ClientMetadataError> {
    if scope.is_empty() {
        return Err(ClientMetadataError::ScopeMissing);
    }
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), joined by single spaces.
    let well_formed = scope.split(' ').all(|token| {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    });
    if !well_formed {
        return Err(ClientMetadataError::ScopeMalformed);
    }
    if !scope.split(' ').any(|token| token == "atproto") {
        return Err(ClientMetadataError::ScopeMissingAtproto);
    }
    Ok(())
}

/// Parses the query-carrying `http://localhost` client_id. `url` is `s` parsed, with scheme
/// `http` and host `localhost`.
fn parse_loopback(s: &str, url: &Url) -> Result<LoopbackClientId, ClientMetadataError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientMetadataError::ClientIdCredentials);
    }
    if s.contains('#') {
        return Err(ClientMetadataError::ClientIdFragment);
    }
    if url.port().is_some() || raw_authority_has_port(s) {
        return Err(ClientMetadataError::ClientIdPort);
    }
    let Some(rest) = s.strip_prefix(LOOPBACK_CLIENT_ORIGIN) else {
        // E.g. `HTTP://LocalHost`: the same URL, spelled differently.
        let mut expected = url.clone();
        expected.set_path("");
        return Err(ClientMetadataError::ClientIdNotCanonical {
            expected: clip(expected.as_str()),
        });
    };
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let query = if rest.is_empty() {
        ""
    } else if let Some(q) = rest.strip_prefix('?') {
        q
    } else {
        return Err(ClientMetadataError::LoopbackClientIdPath);
    };

    let mut scope: Option<String> = None;
    let mut redirect_uris = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "scope" => {
                if scope.is_some() {
                    return Err(ClientMetadataError::LoopbackClientIdDuplicateScope);
                }
                check_scope(&value)?;
                scope = Some(value.into_owned());
            }
            "redirect_uri" => {
                check_loopback_redirect_uri(&value)
                    .map_err(|problem| ClientMetadataError::redirect(&value, problem))?;
                redirect_uris.push(value.into_owned());
            }
            other => {
                return Err(ClientMetadataError::LoopbackClientIdParam { name: clip(other) });
            }
        }
    }
    if redirect_uris.is_empty() {
        redirect_uris = DEFAULT_LOOPBACK_REDIRECT_URIS
            .iter()
            .map(|u| (*u).to_owned())
            .collect();
    }
    Ok(LoopbackClientId {
        raw: s.to_owned(),
        redirect_uris,
        scope: scope.unwrap_or_else(|| DEFAULT_LOOPBACK_SCOPE.to_owned()),
    })
}

/// A redirect URI for the development client: `http` on a loopback IP address.
fn check_loopback_redirect_uri(uri: &str) -> Result<(), RedirectUriProblem> {
    let url = Url::parse(uri).map_err(|_| RedirectUriProblem::NotUrl)?;
    check_common(uri, &url)?;
    if url.scheme() == "http" && is_loopback_ip_host(&url) {
        return Ok(());
    }
    if matches!(url.host(), Some(Host::Domain("localhost"))) {
        return Err(RedirectUriProblem::LocalhostName);
    }
    Err(RedirectUriProblem::LoopbackClientNeedsLoopback)
}

/// Rules shared by every redirect URI: no fragment, no credentials.
fn check_common(uri: &str, url: &Url) -> Result<(), RedirectUriProblem> {
    if url.fragment().is_some() || uri.contains('#') {
        return Err(RedirectUriProblem::Fragment);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUriProblem::Credentials);
    }
    Ok(())
}

/// A registered redirect URI against the client's type (checklist #149).
fn check_registered_redirect_uri(
    uri: &str,
    client_id: &ClientId,
    application_type: ApplicationType,
) -> Result<(), RedirectUriProblem> {
    let client_url = match client_id {
        ClientId::Loopback(_) => return check_loopback_redirect_uri(uri),
        ClientId::Discoverable(u) => u,
    };
    let url = Url::parse(uri).map_err(|_| RedirectUriProblem::NotUrl)?;
    check_common(uri, &url)?;
    match url.scheme() {
        "http" => {
            if matches!(url.host(), Some(Host::Domain("localhost"))) {
                Err(RedirectUriProblem::LocalhostName)
            } else if is_loopback_ip_host(&url) {
                Err(RedirectUriProblem::LoopbackNotAllowed)
            } else {
                Err(RedirectUriProblem::HttpNotLoopback)
            }
        }
        "https" => {
            let public = match url.host() {
                Some(Host::Domain(d)) => is_public_domain(d),
                Some(Host::Ipv4(ip)) => !ip.is_loopback() && !ip.is_unspecified(),
                Some(Host::Ipv6(ip)) => !ip.is_loopback() && !ip.is_unspecified(),
                None => false,
            };
            if !public {
                return Err(RedirectUriProblem::HostNotPublic);
            }
            if url.port().is_none() && raw_authority_has_port(uri) {
                return Err(RedirectUriProblem::DefaultPort);
            }
            if application_type == ApplicationType::Native && url.origin() != client_url.origin() {
                return Err(RedirectUriProblem::NativeHttpsOrigin);
            }
            Ok(())
        }
        scheme => {
            if application_type == ApplicationType::Web {
                return Err(RedirectUriProblem::CustomSchemeForWeb);
            }
            let expected = client_url
                .host_str()
                .map(reverse_domain)
                .unwrap_or_default();
            if expected.is_empty() || scheme != expected {
                return Err(RedirectUriProblem::CustomSchemeMismatch { expected });
            }
            // `scheme:/path`: after the colon, exactly one slash (RFC 8252 §7.1).
            let after = uri.get(scheme.len() + 1..).unwrap_or("");
            if !after.starts_with('/') || after.starts_with("//") {
                return Err(RedirectUriProblem::CustomSchemeForm);
            }
            Ok(())
        }
    }
}

/// RFC 8252 §7.3: a registered loopback redirect URI matches a requested one that differs
/// only by port.
fn loopback_matches(registered: &str, requested: &str) -> bool {
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    reg.scheme() == "http"
        && is_loopback_ip_host(&reg)
        && req.scheme() == "http"
        && req.host() == reg.host()
        && req.path() == reg.path()
        && req.query() == reg.query()
        && req.fragment().is_none()
        && !requested.contains('#')
        && req.username().is_empty()
        && req.password().is_none()
}

fn is_loopback_ip_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        _ => false,
    }
}

/// A domain name that can name a public host: at least two labels, no empty label (so no
/// trailing dot), and not under a special-use top-level domain.
fn is_public_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    let tld = labels.last().copied().unwrap_or("");
    !NON_PUBLIC_TLDS
        .iter()
        .any(|special| tld.eq_ignore_ascii_case(special))
}

/// `app.example.com` -> `com.example.app`.
fn reverse_domain(host: &str) -> String {
    host.split('.').rev().collect::<Vec<_>>().join(".")
}

/// True if the authority of the URL text `s` names a port, even an empty or default one
/// (which a URL parser drops: `https://example.com:443/` parses without a port).
fn raw_authority_has_port(s: &str) -> bool {
    let Some(start) = s.find("://") else {
        return false;
    };
    let rest = &s[start + 3..];
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let after_host = if host_port.starts_with('[') {
        host_port.find(']').map_or("", |i| &host_port[i + 1..])
    } else {
        host_port
    };
    after_host.contains(':')
}

/// `application/json`, with or without parameters, in any letter case.
fn is_json_media_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Client input, shortened for echoing in an error message.
fn clip(s: &str) -> String {
    if s.len() <= ECHO_MAX {
        return s.to_owned();
    }
    let mut end = ECHO_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
