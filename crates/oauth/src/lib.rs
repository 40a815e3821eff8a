//! The core of atproto's OAuth profile, for the PDS as Authorization Server and Resource
//! Server (`specs/oauth`, `specs/permission`; checklist sections O and P). Pure functions and
//! small in-memory state, no HTTP and no storage: the `relay` binary maps these onto its
//! endpoints, and `pds` keeps sessions and codes in its stores.
//!
//! - [`dpop`]: DPoP proof verification (RFC 9449): header, signature, `htm`/`htu`, `iat`,
//!   `ath`, and the key's thumbprint the tokens are bound to (checklist #155, #159).
//! - [`nonce`]: server-issued DPoP nonces that rotate and need no storage (checklist #156-#158).
//! - [`replay`]: a bounded cache of recently seen `jti` values (checklist #158, #160).
//! - [`authorization`]: pushed authorization requests, validated against the client's metadata
//!   (checklist #151, #153, #154, #164).
//! - [`client_auth`]: `private_key_jwt` client assertions and the key-set check that revokes
//!   a session whose key is gone (checklist #160).
//! - [`pkce`]: the `S256` code challenge check (checklist #153).
//! - [`scope`]: permission scope strings and the transitional scopes (checklist #164-#169).
//! - [`client_metadata`]: client ID URLs, client metadata documents and redirect URIs
//!   (checklist #147-#150).
//! - [`token`]: DPoP-bound access tokens, opaque refresh tokens, and every lifetime
//!   (checklist #161, #162).
//! - [`server_metadata`]: the protected-resource and authorization-server discovery
//!   documents and the issuer origin they are built from (checklist #143-#146).
//!
//! Status: library only, nothing is wired to HTTP yet.

pub mod authorization;
pub mod client_auth;
pub mod client_metadata;
pub mod dpop;
pub mod nonce;
pub mod pkce;
pub mod replay;
pub mod scope;
pub mod server_metadata;
pub mod token;

/// The OAuth `error` codes this crate's errors are reported under (RFC 6749 §4.1.2.1 and §5.2,
/// RFC 6750 §3.1, RFC 7591 §3.2.2, RFC 9101, RFC 9449 §7.1 and §8). Every module's error type
/// has an `error_code()` giving one of these; the server turns it into the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthErrorCode {
    /// `invalid_request`: a parameter is missing, repeated, malformed or not allowed.
    InvalidRequest,
    /// `invalid_client`: client authentication failed.
    InvalidClient,
    /// `invalid_grant`: a code, refresh token or PKCE verifier is wrong, used or expired.
    InvalidGrant,
    /// `invalid_scope`: a scope the client may not ask for.
    InvalidScope,
    /// `unsupported_response_type`: a `response_type` other than `code`.
    UnsupportedResponseType,
    /// `invalid_client_metadata`: the client's metadata document breaks a rule.
    InvalidClientMetadata,
    /// `invalid_redirect_uri`: a registered redirect URI breaks a rule.
    InvalidRedirectUri,
    /// `request_not_supported`: a request object.
    RequestNotSupported,
    /// `request_uri_not_supported`: a `request_uri` where none may be.
    RequestUriNotSupported,
    /// `invalid_dpop_proof`: the DPoP proof fails a check.
    InvalidDpopProof,
    /// `use_dpop_nonce`: the DPoP proof lacks the current server nonce.
    UseDpopNonce,
    /// `invalid_token`: an access token that is not valid here.
    InvalidToken,
    /// `temporarily_unavailable`: try again shortly (e.g. the replay cache is full).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The code as it goes in the `error` member of an OAuth error response.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            OAuthErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            OAuthErrorCode::RequestNotSupported => "request_not_supported",
            OAuthErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
