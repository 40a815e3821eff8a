//! Pushed authorization requests (RFC 9126; `specs/oauth` "Request Fields", "Pushed
//! Authorization Requests (PAR)"; checklist #151, #153, #154, #164).
//!
//! [`parse_par`] turns the form parameters of a PAR request, once the client is known (its
//! metadata validated by [`crate::client_metadata`]) and the request's DPoP proof verified,
//! into the [`AuthorizationRequest`] the server stores behind a `request_uri`:
//! - every parameter at most once (RFC 9126 §2.1); unknown ones are ignored (RFC 6749 §3.1);
//! - `client_id` is the client's; `response_type` is `code`;
//! - PKCE `S256` with a well-formed challenge ([`crate::pkce`]);
//! - `state` present (atproto requires it; it comes back in the redirect);
//! - `redirect_uri` one the client registered (or the only one, when omitted);
//! - `scope` present, including `atproto`, and only scopes the client declared;
//! - `response_mode`, `prompt`, `login_hint` and `dpop_jkt` checked when given; a `request`
//!   object or a `request_uri` is refused (PAR is the only way in).
//!
//! The authorization endpoint accepts nothing else: a request to it without a `request_uri`
//! is refused by the server (checklist #151).

use crate::OAuthErrorCode;
use crate::client_metadata::{ClientMetadata, ClientMetadataError};
use crate::pkce::{self, PkceError};

/// Longest `state`, `login_hint` or `dpop_jkt` accepted.
pub const MAX_PARAM_LEN: usize = 2048;

/// Where the authorization response goes (RFC 6749, OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// In the redirect's query string (the default for `code`).
    Query,
    /// In the redirect's fragment.
    Fragment,
    /// In an auto-submitted form posted to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// `prompt` values the authorization page honours.
pub const PROMPTS: &[&str] = &["none", "login", "consent", "select_account"];

/// A validated authorization request (serialisable, to be stored behind its `request_uri`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Where the code goes back to.
    pub redirect_uri: String,
    /// The client's `state`, returned unchanged.
    pub state: String,
    /// Requested scopes, space-separated, duplicates removed, in request order.
    pub scope: String,
    /// The PKCE challenge (`S256`).
    pub code_challenge: String,
    /// How the response is delivered.
    pub response_mode: ResponseMode,
    /// The account the client expects (a handle or DID), if any: only it may sign in.
    pub login_hint: Option<String>,
    /// `prompt`, if any (one of [`PROMPTS`]).
    pub prompt: Option<String>,
    /// The DPoP key the code is bound to: the PAR proof's, or `dpop_jkt` when no proof came.
    pub dpop_jkt: Option<String>,
}

/// Why a PAR request was refused; [`ParError::error_code`] gives the OAuth error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParError {
    /// A parameter given twice.
    #[error("parameter {0} is repeated")]
    Repeated(String),
    /// A required parameter is missing or empty.
    #[error("parameter {0} is required")]
    Missing(&'static str),
    /// A parameter is longer than [`MAX_PARAM_LEN`].
    #[error("parameter {0} is too long")]
    TooLong(&'static str),
    /// `client_id` is not the authenticated client's.
    #[error("client_id does not match the client")]
    ClientMismatch,
    /// `response_type` other than `code`.
    #[error("response_type must be code")]
    ResponseType,
    /// PKCE parameters refused.
    #[error(transparent)]
    Pkce(#[from] PkceError),
    /// `redirect_uri` not registered by the client.
    #[error(transparent)]
    RedirectUri(ClientMetadataError),
    /// `scope` without `atproto`.
    #[error("scope must include atproto")]
    NoAtproto,
    /// A scope the client's metadata does not declare.
    #[error("scope {0} is not declared in the client's metadata")]
    ScopeNotDeclared(String),
    /// `response_mode` other than `query`, `fragment` or `form_post`.
    #[error("response_mode must be query, fragment or form_post")]
    ResponseMode,
    /// `prompt` other than the supported values.
    #[error("prompt must be one of none, login, consent, select_account")]
    Prompt,
    /// A `request` object or `request_uri` in a PAR request.
    #[error("{0} is not supported in a pushed authorization request")]
    Unsupported(&'static str),
    /// `dpop_jkt` differs from the PAR request's DPoP proof key.
    #[error("dpop_jkt does not match the DPoP proof")]
    DpopJkt,
}

impl ParError {
    /// The OAuth `error` code for the response.
    pub fn error_code(&self) -> OAuthErrorCode {
        match self {
            ParError::ResponseType => OAuthErrorCode::UnsupportedResponseType,
            ParError::NoAtproto | ParError::ScopeNotDeclared(_) => OAuthErrorCode::InvalidScope,
            ParError::RedirectUri(e) => e.error_code(),
            ParError::Unsupported("request") => OAuthErrorCode::RequestNotSupported,
            ParError::Unsupported(_) => OAuthErrorCode::RequestUriNotSupported,
            _ => OAuthErrorCode::InvalidRequest,
        }
    }
}

/// Validates a PAR request's form `params` for `client`, whose DPoP proof (if any) had
/// thumbprint `proof_jkt`.
pub fn parse_par(
    params: &[(String, String)],
    client: &ClientMetadata,
    proof_jkt: Option<&str>,
) -> Result<AuthorizationRequest, ParError> {
    let mut seen: Vec<&str> = Vec::with_capacity(params.len());
    for (k, _) in params {
        if seen.contains(&k.as_str()) {
            return Err(ParError::Repeated(clip(k)));
        }
        seen.push(k);
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let required = |name: &'static str| get(name).ok_or(ParError::Missing(name));
    let bounded = |name: &'static str| match get(name) {
        Some(v) if v.len() > MAX_PARAM_LEN => Err(ParError::TooLong(name)),
        v => Ok(v),
    };

    if get("request").is_some() {
        return Err(ParError::Unsupported("request"));
    }
    if get("request_uri").is_some() {
        return Err(ParError::Unsupported("request_uri"));
    }
    if required("client_id")? != client.client_id {
        return Err(ParError::ClientMismatch);
    }
    if required("response_type")? != "code" {
        return Err(ParError::ResponseType);
    }
    let challenge = required("code_challenge")?;
    pkce::check_challenge(get("code_challenge_method"), challenge)?;
    let state = bounded("state")?.ok_or(ParError::Missing("state"))?;

    let redirect_uri = match get("redirect_uri") {
        Some(uri) => {
            client
                .check_redirect_uri(uri)
                .map_err(ParError::RedirectUri)?;
            uri.to_owned()
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => return Err(ParError::Missing("redirect_uri")),
        },
    };

    let mut scopes: Vec<&str> = Vec::new();
    for s in required("scope")?.split(' ').filter(|s| !s.is_empty()) {
        if !client.scopes().any(|declared| declared == s) {
            return Err(ParError::ScopeNotDeclared(clip(s)));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if !scopes.contains(&"atproto") {
        return Err(ParError::NoAtproto);
    }

    let response_mode = match get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => return Err(ParError::ResponseMode),
    };
    let prompt = match get("prompt") {
        None => None,
        Some(p) if PROMPTS.contains(&p) => Some(p.to_owned()),
        Some(_) => return Err(ParError::Prompt),
    };
    let login_hint = bounded("login_hint")?.map(str::to_owned);
    let dpop_jkt = match (bounded("dpop_jkt")?, proof_jkt) {
        (Some(param), Some(proof)) if param != proof => return Err(ParError::DpopJkt),
        (param, proof) => proof.or(param).map(str::to_owned),
    };

    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        state: state.to_owned(),
        scope: scopes.join(" "),
        code_challenge: challenge.to_owned(),
        response_mode,
        login_hint,
        prompt,
        dpop_jkt,
    })
}

/// A parameter name or value shortened for an error message.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}
