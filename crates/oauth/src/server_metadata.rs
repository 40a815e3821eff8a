//! The two discovery documents (`specs/oauth` "Server Metadata"; checklist #143-#146):
//! `/.well-known/oauth-protected-resource` (RFC 9728), which the PDS serves as Resource
//! Server, and `/.well-known/oauth-authorization-server` (RFC 8414), which it serves as its own
//! Authorization Server. Both are built from one [`Issuer`], an origin checked the way clients
//! check it: `https`, no path, no query, no default port.
//!
//! The documents describe what the rest of this crate implements: `S256` only, DPoP with
//! `ES256`/`ES256K`, PAR required, client ID metadata documents, public clients (`none`) and
//! confidential ones (`private_key_jwt` with ES256/ES256K).

use serde_json::{Value, json};

/// Why an issuer origin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    /// Not an absolute URL.
    #[error("the issuer is not a URL")]
    NotAUrl,
    /// Not `https` (`http` only on a loopback host, when allowed for development).
    #[error("the issuer must be an https origin")]
    Scheme,
    /// Has a path other than `/`, a query, a fragment or user info.
    #[error("the issuer must be an origin: no path, query, fragment or user info")]
    NotAnOrigin,
    /// Names the scheme's default port (`:443`), which clients compare as a different string.
    #[error("the issuer must not name the default port")]
    DefaultPort,
}

/// An Authorization Server's issuer: its origin, as clients compare it (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    /// Checks `origin` (`https://pds.example.com`). `allow_http_loopback` admits
    /// `http://localhost`, `http://127.0.0.1` and `http://[::1]` with any port, for
    /// development and tests only.
    pub fn parse(origin: &str, allow_http_loopback: bool) -> Result<Issuer, IssuerError> {
        let url = url::Url::parse(origin).map_err(|_| IssuerError::NotAUrl)?;
        let loopback = matches!(
            url.host(),
            Some(url::Host::Domain("localhost"))
                | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        );
        match url.scheme() {
            "https" => {}
            "http" if allow_http_loopback && loopback => {}
            _ => return Err(IssuerError::Scheme),
        }
        if url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.host().is_none()
        {
            return Err(IssuerError::NotAnOrigin);
        }
        // `url` drops a default port while parsing; a written one is refused so that the
        // operator's configured string is what clients will see.
        let after_scheme = origin.split_once("://").map_or("", |(_, rest)| rest);
        let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
        let host_end = if authority.starts_with('[') {
            authority.find(']').map_or(authority.len(), |i| i + 1)
        } else {
            0
        };
        if url.port().is_none() && authority[host_end..].contains(':') {
            return Err(IssuerError::DefaultPort);
        }
        Ok(Issuer(url.origin().ascii_serialization()))
    }

    /// The origin, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `issuer` + `path` (`/oauth/token`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

/// Paths of the Authorization Server's endpoints, relative to the issuer.
pub mod paths {
    /// Pushed authorization requests (RFC 9126).
    pub const PAR: &str = "/oauth/par";
    /// The authorization endpoint (the sign-in and consent page).
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// The token endpoint.
    pub const TOKEN: &str = "/oauth/token";
    /// Token revocation (RFC 7009).
    pub const REVOKE: &str = "/oauth/revoke";
    /// The server's public keys.
    pub const JWKS: &str = "/oauth/jwks";
}

/// The scopes this server grants.
pub const SCOPES_SUPPORTED: &[&str] = &[
    "atproto",
    "transition:generic",
    "transition:chat.bsky",
    "transition:email",
];

/// Algorithms accepted for DPoP proofs and client assertions.
pub const SIGNING_ALGS: &[&str] = &["ES256", "ES256K"];

/// The Resource Server's document (checklist #143): exactly one authorization server, the
/// issuer's origin. `resource` is the PDS's own origin (the same as the issuer when the PDS
/// is its own Authorization Server, as here).
pub fn protected_resource(resource: &Issuer, authorization_server: &Issuer) -> Value {
    json!({
        "resource": resource.as_str(),
        "authorization_servers": [authorization_server.as_str()],
        "scopes_supported": [],
        "bearer_methods_supported": ["header"],
        "resource_documentation": "https://atproto.com",
    })
}

/// The Authorization Server's document (checklist #144-#146).
pub fn authorization_server(issuer: &Issuer) -> Value {
    json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.endpoint(paths::AUTHORIZE),
        "token_endpoint": issuer.endpoint(paths::TOKEN),
        "pushed_authorization_request_endpoint": issuer.endpoint(paths::PAR),
        "revocation_endpoint": issuer.endpoint(paths::REVOKE),
        "jwks_uri": issuer.endpoint(paths::JWKS),
        "require_pushed_authorization_requests": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": true,
        "request_parameter_supported": false,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "subject_types_supported": ["public"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "dpop_signing_alg_values_supported": SIGNING_ALGS,
        "client_id_metadata_document_supported": true,
        "protected_resources": [issuer.as_str()],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page", "popup", "touch"],
    })
}
