//! The OAuth endpoints (checklist section O): discovery documents, PAR, the authorization
//! page, token and revocation, and the server's JWKS. Handlers stay thin: read the form and
//! headers, resolve the client (its metadata fetched through the SSRF-guarded client without
//! following redirects, or the virtual metadata of the `http://localhost` development client),
//! authenticate confidential clients, check the DPoP proof, then one `pds` call.
//!
//! Errors are OAuth errors (`{"error", "error_description"}`, [`OAuthApiError`]); every
//! response to a request that carried a `DPoP` header gets the current `DPoP-Nonce` (the
//! middleware [`dpop_nonce_header`], for XRPC too).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use oauth::OAuthErrorCode;
use oauth::authorization::ResponseMode;
use oauth::client_metadata::{ClientId, ClientMetadata, MAX_DOCUMENT_BYTES, validate_document};
use pds::oauth_flow::{ApproveError, AuthorizationRedirect, OAuthError, TokenGrant};
use serde_json::json;

use crate::server::AppState;

/// Largest form body accepted on the OAuth endpoints.
const FORM_LIMIT: usize = 64 * 1024;

/// The OAuth routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/oauth/jwks", get(jwks))
        .route("/oauth/par", post(par))
        .route(
            "/oauth/authorize",
            get(authorize_page).post(authorize_submit),
        )
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .layer(axum::extract::DefaultBodyLimit::max(FORM_LIMIT))
}

/// An OAuth error response: 400 (401 for `invalid_client`, 503 for
/// `temporarily_unavailable`) with `{"error", "error_description"}` and `Cache-Control:
/// no-store`.
pub struct OAuthApiError(pub OAuthError);

impl From<OAuthError> for OAuthApiError {
    fn from(e: OAuthError) -> OAuthApiError {
        OAuthApiError(e)
    }
}

fn oauth_error(code: OAuthErrorCode, description: impl Into<String>) -> OAuthApiError {
    OAuthApiError(OAuthError {
        code,
        description: description.into(),
    })
}

impl IntoResponse for OAuthApiError {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({"error": self.0.code.as_str(), "error_description": self.0.description});
        (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(body),
        )
            .into_response()
    }
}

type OResult<T> = Result<T, OAuthApiError>;

fn no_oauth() -> OAuthApiError {
    oauth_error(
        OAuthErrorCode::InvalidRequest,
        "OAuth is not available on this server (its public URL is not an https origin)",
    )
}

async fn protected_resource(State(state): State<AppState>) -> OResult<Response> {
    let issuer = state.pds().oauth_issuer().ok_or_else(no_oauth)?;
    Ok(axum::Json(oauth::server_metadata::protected_resource(issuer, issuer)).into_response())
}

async fn authorization_server(State(state): State<AppState>) -> OResult<Response> {
    let issuer = state.pds().oauth_issuer().ok_or_else(no_oauth)?;
    Ok(axum::Json(oauth::server_metadata::authorization_server(issuer)).into_response())
}

async fn jwks(State(state): State<AppState>) -> OResult<Response> {
    Ok(axum::Json(state.pds().oauth_jwks().ok_or_else(no_oauth)?).into_response())
}

/// The form of a request, every pair kept (repeated parameters are refused by the checks).
fn form(body: &Bytes) -> OResult<Vec<(String, String)>> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map_err(|_| {
        oauth_error(
            OAuthErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        )
    })
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The URL a request reached, as DPoP's `htu` names it: the public URL plus the path.
pub(crate) fn request_url(state: &AppState, uri: &Uri) -> String {
    format!(
        "{}{}",
        state.config().public_url.trim_end_matches('/'),
        uri.path()
    )
}

/// The client named by `client_id`: the localhost development client's virtual metadata, or
/// the discoverable client's document, fetched without redirects through the SSRF guard.
async fn resolve_client(state: &AppState, client_id: &str) -> OResult<ClientMetadata> {
    let id = ClientId::parse(client_id).map_err(OAuthError::from)?;
    if let Some(meta) = id.virtual_metadata() {
        return Ok(meta);
    }
    let url = id.metadata_url().ok_or_else(|| {
        oauth_error(
            OAuthErrorCode::InvalidClientMetadata,
            "client_id has no metadata URL",
        )
    })?;
    let fetch_failed = |what: String| oauth_error(OAuthErrorCode::InvalidClientMetadata, what);
    let request = state
        .http()
        .get_no_redirects(url.as_str())
        .map_err(|e| fetch_failed(format!("client metadata cannot be fetched: {e}")))?
        .header(header::ACCEPT, "application/json");
    let mut response = request.send().await.map_err(|e| {
        fetch_failed(format!(
            "client metadata fetch failed: {}",
            crate::error::source_chain(&e)
        ))
    })?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fetch_failed(format!("client metadata fetch failed: {e}")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            break;
        }
    }
    Ok(validate_document(&id, status, content_type.as_deref(), &body).map_err(OAuthError::from)?)
}

/// A confidential client's authentication: the key it signed with (`kid`, thumbprint) and
/// its current key set.
type ClientAuth = Option<((String, String), serde_json::Value)>;

/// Authenticates a confidential client (`private_key_jwt`); `None` for a public client.
async fn authenticate_client(
    state: &AppState,
    client: &ClientMetadata,
    form: &[(String, String)],
) -> OResult<ClientAuth> {
    if !client.is_confidential() {
        return Ok(None);
    }
    let issuer = state.pds().oauth_issuer().ok_or_else(no_oauth)?;
    let jwks = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => jwks.clone(),
        (None, Some(uri)) => {
            let failed = |e: String| oauth_error(OAuthErrorCode::InvalidClient, e);
            let response = state
                .http()
                .get_no_redirects(uri)
                .map_err(|e| failed(format!("jwks_uri cannot be fetched: {e}")))?
                .send()
                .await
                .map_err(|e| failed(format!("jwks_uri fetch failed: {e}")))?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(failed(format!("jwks_uri answered {}", response.status())));
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| failed(format!("jwks_uri fetch failed: {e}")))?;
            if bytes.len() > MAX_DOCUMENT_BYTES {
                return Err(failed("jwks_uri document too large".into()));
            }
            serde_json::from_slice(&bytes).map_err(|_| failed("jwks_uri is not JSON".into()))?
        }
        (None, None) => {
            return Err(oauth_error(
                OAuthErrorCode::InvalidClient,
                "client has no keys",
            ));
        }
    };
    let assertion = param(form, "client_assertion").ok_or_else(|| {
        oauth_error(
            OAuthErrorCode::InvalidClient,
            "client_assertion is required",
        )
    })?;
    let now = time_secs();
    let checked = oauth::client_auth::verify_assertion(
        param(form, "client_assertion_type"),
        assertion,
        &client.client_id,
        issuer.as_str(),
        &jwks,
        now,
    )
    .map_err(OAuthError::from)?;
    state
        .pds()
        .oauth_once(&format!("assertion:{}:{}", client.client_id, checked.jti))?;
    Ok(Some(((checked.kid, checked.jkt), jwks)))
}

fn time_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn dpop_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("dpop").and_then(|v| v.to_str().ok())
}

fn no_store(body: serde_json::Value, status: StatusCode) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response()
}

/// What PAR and token requests share: the form, the checked DPoP proof, the client's
/// metadata and its authentication.
struct ClientRequest {
    form: Vec<(String, String)>,
    proof: oauth::dpop::DpopProof,
    client: ClientMetadata,
    auth: ClientAuth,
}

/// Reads a PAR or token request: form, DPoP proof (nonce and replay included), the client by
/// its `client_id`, and a confidential client's assertion.
async fn client_request(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> OResult<ClientRequest> {
    let form = form(body)?;
    let proof = state.pds().oauth_dpop(
        dpop_header(headers),
        method.as_str(),
        &request_url(state, uri),
        None,
    )?;
    let client_id = param(&form, "client_id")
        .ok_or_else(|| oauth_error(OAuthErrorCode::InvalidRequest, "client_id is required"))?;
    let client = resolve_client(state, client_id).await?;
    let auth = authenticate_client(state, &client, &form).await?;
    Ok(ClientRequest {
        form,
        proof,
        client,
        auth,
    })
}

/// `POST /oauth/par` (checklist #151).
async fn par(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> OResult<Response> {
    let req = client_request(&state, &method, &uri, &headers, &body).await?;
    let client_key = req.auth.map(|(key, _)| key);
    let pushed = state
        .pds()
        .oauth_par(&req.client, client_key, &req.form, &req.proof)
        .await?;
    Ok(no_store(
        json!({"request_uri": pushed.request_uri, "expires_in": pushed.expires_in}),
        StatusCode::CREATED,
    ))
}

/// `client_id` and `request_uri` of the authorization endpoint.
#[derive(Debug, serde::Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    request_uri: Option<String>,
}

/// `GET /oauth/authorize`: the sign-in and consent page for a pushed request. Without a
/// `request_uri` the request is refused: PAR is mandatory (checklist #151).
async fn authorize_page(
    State(state): State<AppState>,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let (Some(client_id), Some(request_uri)) = (q.client_id, q.request_uri) else {
        return page_error(
            "This sign-in link is incomplete: apps must push their request first (PAR).",
        );
    };
    match state.pds().oauth_pending(&client_id, &request_uri).await {
        Ok(pending) => sign_in_page(
            &client_id,
            &request_uri,
            &pending.request,
            &SignInPage::default(),
        )
        .into_response(),
        Err(e) => page_error(&e.description),
    }
}

/// `POST /oauth/authorize`: the page's form (sign in and approve, or deny).
async fn authorize_submit(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(form) = form(&body) else {
        return page_error("The form could not be read.");
    };
    let (Some(client_id), Some(request_uri)) =
        (param(&form, "client_id"), param(&form, "request_uri"))
    else {
        return page_error("The form is incomplete.");
    };
    let pending = match state.pds().oauth_pending(client_id, request_uri).await {
        Ok(p) => p,
        Err(e) => return page_error(&e.description),
    };
    if param(&form, "decision") == Some("deny") {
        let issuer = state
            .pds()
            .oauth_issuer()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default();
        return redirect_to_client(AuthorizationRedirect {
            redirect_uri: pending.request.redirect_uri.clone(),
            response_mode: pending.request.response_mode,
            params: vec![
                ("error".into(), "access_denied".into()),
                ("error_description".into(), "The user refused".into()),
                ("state".into(), pending.request.state.clone()),
                ("iss".into(), issuer),
            ],
        });
    }
    let identifier = param(&form, "identifier").unwrap_or("");
    let password = param(&form, "password").unwrap_or("");
    let code = param(&form, "code");
    match state
        .pds()
        .oauth_approve(client_id, request_uri, identifier, password, code)
        .await
    {
        Ok(redirect) => redirect_to_client(redirect),
        Err(ApproveError::SignIn(why)) => {
            let page = SignInPage {
                error: Some(why),
                identifier: Some(identifier),
                ask_code: code.is_some(),
            };
            sign_in_page(client_id, request_uri, &pending.request, &page).into_response()
        }
        Err(ApproveError::CodeRequired) => {
            let page = SignInPage {
                error: Some(
                    "We emailed you a sign-in code. Enter it with your password to continue.",
                ),
                identifier: Some(identifier),
                ask_code: true,
            };
            sign_in_page(client_id, request_uri, &pending.request, &page).into_response()
        }
        Err(ApproveError::OAuth(e)) => page_error(&e.description),
        Err(ApproveError::Pds(e)) => {
            tracing::error!(error = %e, "oauth sign-in failed");
            page_error("The server could not complete the sign-in. Try again.")
        }
    }
}

/// Sends the browser back to the client (query, fragment, or an auto-submitted form).
fn redirect_to_client(r: AuthorizationRedirect) -> Response {
    let encoded = serde_urlencoded::to_string(&r.params).unwrap_or_default();
    match r.response_mode {
        ResponseMode::Query => {
            let sep = if r.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            Redirect::to(&format!("{}{sep}{encoded}", r.redirect_uri)).into_response()
        }
        ResponseMode::Fragment => {
            Redirect::to(&format!("{}#{encoded}", r.redirect_uri)).into_response()
        }
        ResponseMode::FormPost => {
            let inputs: String = r
                .params
                .iter()
                .map(|(k, v)| {
                    format!(
                        r#"<input type="hidden" name="{}" value="{}">"#,
                        escape(k),
                        escape(v)
                    )
                })
                .collect();
            page(
                "Returning to the app",
                &format!(
                    r#"<form method="post" action="{}" id="f">{inputs}<noscript><button>Continue</button></noscript></form><script>document.getElementById("f").submit()</script>"#,
                    escape(&r.redirect_uri)
                ),
            )
            .into_response()
        }
    }
}

/// `POST /oauth/token`: `authorization_code` and `refresh_token` grants.
async fn token(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> OResult<Response> {
    let req = client_request(&state, &method, &uri, &headers, &body).await?;
    let (client_key, client_jwks) = match req.auth {
        Some((key, jwks)) => (Some(key), Some(jwks)),
        None => (None, None),
    };
    let form = &req.form;
    let grant = match param(form, "grant_type") {
        Some("authorization_code") => TokenGrant::Code {
            code: param(form, "code")
                .ok_or_else(|| oauth_error(OAuthErrorCode::InvalidRequest, "code is required"))?,
            redirect_uri: param(form, "redirect_uri"),
            code_verifier: param(form, "code_verifier"),
        },
        Some("refresh_token") => TokenGrant::Refresh {
            refresh_token: param(form, "refresh_token").ok_or_else(|| {
                oauth_error(OAuthErrorCode::InvalidRequest, "refresh_token is required")
            })?,
        },
        _ => {
            return Err(oauth_error(
                OAuthErrorCode::InvalidRequest,
                "grant_type must be authorization_code or refresh_token",
            ));
        }
    };
    let tokens = state
        .pds()
        .oauth_token(
            &req.client,
            client_key,
            client_jwks.as_ref(),
            grant,
            &req.proof,
        )
        .await?;
    let body = serde_json::to_value(&tokens).unwrap_or_default();
    Ok(no_store(body, StatusCode::OK))
}

/// `POST /oauth/revoke` (RFC 7009): always 200 for a well-formed request.
async fn revoke(State(state): State<AppState>, body: Bytes) -> OResult<Response> {
    let form = form(&body)?;
    let token = param(&form, "token")
        .ok_or_else(|| oauth_error(OAuthErrorCode::InvalidRequest, "token is required"))?;
    state.pds().oauth_revoke(token).await?;
    Ok(no_store(json!({}), StatusCode::OK))
}

/// Adds `DPoP-Nonce` to every response to a request that carried a `DPoP` header
/// (checklist #156).
pub(crate) async fn dpop_nonce_header(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let dpop = request.headers().contains_key("dpop");
    let mut response = next.run(request).await;
    if dpop
        && let Some(nonce) = state.pds().dpop_nonce()
        && let Ok(v) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert("dpop-nonce", v);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// The authorization page.

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with the headers every authorization page carries: no framing (clickjacking), no
/// caching, no referrer.
fn page(title: &str, body: &str) -> impl IntoResponse + use<> {
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;line-height:1.4}}code{{word-break:break-all}}label{{display:block;margin:.6rem 0 .2rem}}input{{width:100%;padding:.4rem;box-sizing:border-box}}button{{margin:.8rem .4rem 0 0;padding:.5rem 1rem}}.error{{color:#a00}}</style></head><body>{}</body></html>"#,
        escape(title),
        body
    );
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action *; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(html),
    )
}

fn page_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        page(
            "Sign-in failed",
            &format!(
                "<h1>Sign-in failed</h1><p class=\"error\">{}</p>",
                escape(message)
            ),
        ),
    )
        .into_response()
}

/// What the sign-in form shows besides the request.
#[derive(Debug, Default)]
struct SignInPage<'a> {
    /// Why the last attempt failed (or what to do next).
    error: Option<&'a str>,
    /// The identifier typed last time (else the login hint).
    identifier: Option<&'a str>,
    /// Whether to ask for the emailed sign-in code.
    ask_code: bool,
}

/// The sign-in and consent form. The full `client_id` URL is shown, never the client's
/// unverified name or logo (checklist #163).
fn sign_in_page(
    client_id: &str,
    request_uri: &str,
    request: &oauth::authorization::AuthorizationRequest,
    view: &SignInPage<'_>,
) -> impl IntoResponse + use<> {
    let scopes: String = request
        .scope
        .split(' ')
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    let error = view.error.map_or_else(String::new, |e| {
        format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))
    });
    let identifier = view
        .identifier
        .filter(|i| !i.is_empty())
        .or(request.login_hint.as_deref())
        .unwrap_or("");
    let code = if view.ask_code {
        r#"<label for="code">Sign-in code from your email</label>
<input id="code" name="code" autocomplete="one-time-code" required>"#
    } else {
        ""
    };
    let body = format!(
        r#"<h1>Sign in</h1>
<p>The app <code>{client}</code> asks to use your account with these permissions:</p>
<ul>{scopes}</ul>
{error}
<form method="post" action="/oauth/authorize">
<input type="hidden" name="client_id" value="{client}">
<input type="hidden" name="request_uri" value="{request_uri}">
<label for="identifier">Handle or email</label>
<input id="identifier" name="identifier" autocomplete="username" value="{identifier}" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
{code}
<button name="decision" value="approve" type="submit">Sign in and allow</button>
<button name="decision" value="deny" type="submit" formnovalidate>Deny</button>
</form>"#,
        client = escape(client_id),
        request_uri = escape(request_uri),
        identifier = escape(identifier),
    );
    page("Sign in", &body)
}
