//! `com.atproto.server.*` handlers (accounts, sessions, app passwords, service auth, invite
//! codes, reserved signing keys), `com.atproto.temp.checkSignupQueue`, and the `/xrpc/_health`
//! check. Each handler parses, makes one `pds` call, and maps the result to the lexicon's output
//! (checklist #99, #129-#131, #137, J). `createAccount` with a `did` (migration) first verifies
//! the caller's service-auth JWT for that DID ([`super::migration`]).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use syntax::{Datetime, Did};

use super::{XrpcJson, XrpcQuery, parse, parse_opt, procedure, query};
use crate::auth::{Access, AdminAuth, BearerToken};
use crate::error::ApiError;
use crate::server::AppState;

/// The `com.atproto.server.*` routes.
pub(super) fn routes() -> Router<AppState> {
    const P: &str = "/xrpc/com.atproto.server.";
    Router::new()
        .route(&format!("{P}describeServer"), query(describe_server))
        .route(&format!("{P}createAccount"), procedure(create_account))
        .route(&format!("{P}createSession"), procedure(create_session))
        .route(&format!("{P}refreshSession"), procedure(refresh_session))
        .route(&format!("{P}getSession"), query(get_session))
        .route(&format!("{P}deleteSession"), procedure(delete_session))
        .route(
            &format!("{P}createAppPassword"),
            procedure(create_app_password),
        )
        .route(&format!("{P}listAppPasswords"), query(list_app_passwords))
        .route(
            &format!("{P}revokeAppPassword"),
            procedure(revoke_app_password),
        )
        .route(
            &format!("{P}deactivateAccount"),
            procedure(deactivate_account),
        )
        .route(&format!("{P}activateAccount"), procedure(activate_account))
        .route(
            &format!("{P}checkAccountStatus"),
            query(check_account_status),
        )
        .route(&format!("{P}deleteAccount"), procedure(delete_account))
        .route(&format!("{P}getServiceAuth"), query(get_service_auth))
        .route(
            &format!("{P}createInviteCode"),
            procedure(create_invite_code),
        )
        .route(
            &format!("{P}createInviteCodes"),
            procedure(create_invite_codes),
        )
        .route(
            &format!("{P}getAccountInviteCodes"),
            query(get_account_invite_codes),
        )
        .route(
            &format!("{P}reserveSigningKey"),
            procedure(reserve_signing_key),
        )
        .route(
            "/xrpc/com.atproto.temp.checkSignupQueue",
            query(check_signup_queue),
        )
}

/// `GET /xrpc/_health`: `{"version": ...}`, as the reference PDS.
pub(super) async fn health() -> Json<Value> {
    Json(json!({ "version": crate::VERSION }))
}

/// Inserts `key: value` when `value` is `Some`.
fn put_opt(obj: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        obj.insert(key.to_owned(), v.into());
    }
}

async fn describe_server(State(state): State<AppState>) -> Json<Value> {
    let d = state.pds().describe_server();
    let mut out = Map::new();
    out.insert("did".into(), d.did.as_str().into());
    out.insert(
        "availableUserDomains".into(),
        json!(d.available_user_domains),
    );
    out.insert("inviteCodeRequired".into(), d.invite_code_required.into());
    out.insert(
        "phoneVerificationRequired".into(),
        d.phone_verification_required.into(),
    );
    let mut links = Map::new();
    put_opt(&mut links, "privacyPolicy", d.privacy_policy);
    put_opt(&mut links, "termsOfService", d.terms_of_service);
    if !links.is_empty() {
        out.insert("links".into(), Value::Object(links));
    }
    if let Some(email) = d.contact_email {
        out.insert("contact".into(), json!({ "email": email }));
    }
    Json(Value::Object(out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAccountInput {
    handle: String,
    email: Option<String>,
    password: Option<String>,
    did: Option<String>,
    invite_code: Option<String>,
    recovery_key: Option<String>,
}

/// With `did` (bring-your-own DID, account migration, checklist #99): the request must carry
/// a service JWT from that DID (its current signing key, `aud` this service, `lxm`
/// `createAccount`); the account is created deactivated with a fresh signing key
/// (`getRecommendedDidCredentials` tells the client what to put in the DID document).
async fn create_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    XrpcJson(input): XrpcJson<CreateAccountInput>,
) -> Result<Json<Value>, ApiError> {
    let did = match input.did.as_deref() {
        Some(d) => {
            let did: Did = parse("did", d)?;
            super::migration::verify_byo_did_auth(&state, &headers, &did).await?;
            Some(did)
        }
        None => None,
    };
    let created = state
        .pds()
        .create_account(pds::CreateAccount {
            handle: input.handle,
            email: input.email,
            password: input.password,
            did,
            invite_code: input.invite_code,
            recovery_key: input.recovery_key,
        })
        .await?;
    let mut out = Map::new();
    out.insert("accessJwt".into(), created.access_jwt.into());
    out.insert("refreshJwt".into(), created.refresh_jwt.into());
    out.insert("handle".into(), created.handle.as_str().into());
    out.insert("did".into(), created.did.as_str().into());
    put_opt(&mut out, "didDoc", created.did_doc);
    Ok(Json(Value::Object(out)))
}

/// A session as `createSession`/`refreshSession`/`getSession` return it (tokens only when set).
fn session_json(s: pds::Session) -> Json<Value> {
    let mut out = Map::new();
    if !s.access_jwt.is_empty() {
        out.insert("accessJwt".into(), s.access_jwt.into());
        out.insert("refreshJwt".into(), s.refresh_jwt.into());
    }
    out.insert("handle".into(), s.handle.as_str().into());
    out.insert("did".into(), s.did.as_str().into());
    put_opt(&mut out, "email", s.email);
    out.insert("emailConfirmed".into(), s.email_confirmed.into());
    out.insert("emailAuthFactor".into(), s.email_auth_factor.into());
    out.insert("active".into(), s.active.into());
    put_opt(&mut out, "status", s.status);
    Json(Value::Object(out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionInput {
    identifier: String,
    password: String,
    /// The sign-in code mailed when email two-factor sign-in is on (checklist #129).
    auth_factor_token: Option<String>,
}

async fn create_session(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<CreateSessionInput>,
) -> Result<Json<Value>, ApiError> {
    let session = state
        .pds()
        .create_session_with_factor(
            &input.identifier,
            &input.password,
            input.auth_factor_token.as_deref(),
        )
        .await?;
    Ok(session_json(session))
}

async fn refresh_session(
    State(state): State<AppState>,
    BearerToken(refresh): BearerToken,
) -> Result<Json<Value>, ApiError> {
    Ok(session_json(state.pds().refresh_session(&refresh).await?))
}

async fn get_session(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<Json<Value>, ApiError> {
    Ok(session_json(state.pds().get_session(&auth).await?))
}

async fn delete_session(
    State(state): State<AppState>,
    BearerToken(refresh): BearerToken,
) -> Result<StatusCode, ApiError> {
    state.pds().delete_session(&refresh).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct CreateAppPasswordInput {
    name: String,
    #[serde(default)]
    privileged: bool,
}

fn app_password_json(p: pds::AppPassword) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), p.name.into());
    put_opt(&mut out, "password", p.password);
    out.insert("createdAt".into(), p.created_at.into());
    out.insert("privileged".into(), p.privileged.into());
    Value::Object(out)
}

async fn create_app_password(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<CreateAppPasswordInput>,
) -> Result<Json<Value>, ApiError> {
    let created = state
        .pds()
        .create_app_password(&auth, &input.name, input.privileged)
        .await?;
    Ok(Json(app_password_json(created)))
}

async fn list_app_passwords(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<Json<Value>, ApiError> {
    let passwords = state.pds().list_app_passwords(&auth).await?;
    let passwords: Vec<Value> = passwords.into_iter().map(app_password_json).collect();
    Ok(Json(json!({ "passwords": passwords })))
}

#[derive(Deserialize)]
struct RevokeAppPasswordInput {
    name: String,
}

async fn revoke_app_password(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<RevokeAppPasswordInput>,
) -> Result<StatusCode, ApiError> {
    state.pds().revoke_app_password(&auth, &input.name).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeactivateAccountInput {
    delete_after: Option<String>,
}

async fn deactivate_account(
    State(state): State<AppState>,
    Access(auth): Access,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    // The input is optional: an empty body means no `deleteAfter`.
    let input: DeactivateAccountInput = if body.iter().all(u8::is_ascii_whitespace) {
        DeactivateAccountInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid_request(format!("Invalid input: {e}")))?
    };
    let delete_after = parse_opt::<Datetime>("deleteAfter", input.delete_after.as_deref())?
        .map(|d| d.timestamp_micros() / 1000);
    state.pds().deactivate_account(&auth, delete_after).await?;
    Ok(StatusCode::OK)
}

/// A did:web account's document is fetched here (SSRF-guarded) for the DID check; did:plc is
/// read from the directory by `pds` (checklist #99, #100).
async fn activate_account(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<StatusCode, ApiError> {
    let web_doc = if auth.did.method() == "web" {
        match super::migration::resolve_did_doc(&state, &auth.did).await {
            Ok(doc) => Some(doc),
            Err(e) => {
                tracing::debug!(did = %auth.did, error = %e, "did:web resolution failed");
                None
            }
        }
    } else {
        None
    };
    state
        .pds()
        .activate_account_with_doc(&auth, web_doc.as_ref())
        .await?;
    Ok(StatusCode::OK)
}

async fn check_account_status(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<Json<Value>, ApiError> {
    let s = state.pds().check_account_status(&auth).await?;
    Ok(Json(json!({
        "activated": s.activated,
        "validDid": s.valid_did,
        "repoCommit": s.repo_commit.to_string(),
        "repoRev": s.repo_rev.as_str(),
        "repoBlocks": s.repo_blocks,
        "indexedRecords": s.indexed_records,
        "privateStateValues": s.private_state_values,
        "expectedBlobs": s.expected_blobs,
        "importedBlobs": s.imported_blobs,
    })))
}

#[derive(Deserialize)]
struct DeleteAccountInput {
    did: String,
    password: String,
    token: String,
}

async fn delete_account(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<DeleteAccountInput>,
) -> Result<StatusCode, ApiError> {
    let did: Did = parse("did", &input.did)?;
    state
        .pds()
        .delete_account(&did, &input.password, &input.token)
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct GetServiceAuthParams {
    aud: String,
    exp: Option<String>,
    lxm: Option<String>,
}

async fn get_service_auth(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcQuery(params): XrpcQuery<GetServiceAuthParams>,
) -> Result<Json<Value>, ApiError> {
    let exp = parse_opt::<i64>("exp", params.exp.as_deref())?;
    let token = state
        .pds()
        .get_service_auth(&auth, &params.aud, exp, params.lxm.as_deref())
        .await?;
    Ok(Json(json!({ "token": token })))
}

/// `com.atproto.server.defs#inviteCode` JSON.
pub(super) fn invite_code_json(c: pds::InviteCode) -> Value {
    let uses: Vec<Value> = c
        .uses
        .into_iter()
        .map(|(by, at)| json!({ "usedBy": by.as_str(), "usedAt": at }))
        .collect();
    json!({
        "code": c.code,
        "available": c.available,
        "disabled": c.disabled,
        "forAccount": c.for_account,
        "createdBy": c.created_by,
        "createdAt": c.created_at,
        "uses": uses,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInviteCodeInput {
    use_count: i64,
    for_account: Option<String>,
}

/// Admin auth, as the reference (`adminToken`).
async fn create_invite_code(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<CreateInviteCodeInput>,
) -> Result<Json<Value>, ApiError> {
    let code = state
        .pds()
        .create_invite_code(input.for_account, input.use_count)
        .await?;
    Ok(Json(json!({ "code": code })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInviteCodesInput {
    #[serde(default = "one")]
    code_count: usize,
    use_count: i64,
    #[serde(default)]
    for_accounts: Vec<String>,
}

fn one() -> usize {
    1
}

async fn create_invite_codes(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<CreateInviteCodesInput>,
) -> Result<Json<Value>, ApiError> {
    let made = state
        .pds()
        .create_invite_codes(input.for_accounts, input.code_count, input.use_count)
        .await?;
    let codes: Vec<Value> = made
        .into_iter()
        .map(|(account, codes)| json!({ "account": account, "codes": codes }))
        .collect();
    Ok(Json(json!({ "codes": codes })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetAccountInviteCodesParams {
    include_used: Option<String>,
    create_available: Option<String>,
}

async fn get_account_invite_codes(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcQuery(params): XrpcQuery<GetAccountInviteCodesParams>,
) -> Result<Json<Value>, ApiError> {
    let include_used = parse_opt::<bool>("includeUsed", params.include_used.as_deref())?;
    // `createAvailable` is accepted and has no effect (no periodic per-account codes).
    parse_opt::<bool>("createAvailable", params.create_available.as_deref())?;
    let codes = state
        .pds()
        .account_invite_codes(&auth, include_used.unwrap_or(true))
        .await?;
    let codes: Vec<Value> = codes.into_iter().map(invite_code_json).collect();
    Ok(Json(json!({ "codes": codes })))
}

#[derive(Deserialize, Default)]
struct ReserveSigningKeyInput {
    did: Option<String>,
}

/// Public, as the reference: reserves a signing key for a DID about to migrate here.
async fn reserve_signing_key(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: ReserveSigningKeyInput = if body.iter().all(u8::is_ascii_whitespace) {
        ReserveSigningKeyInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid_request(format!("Invalid input: {e}")))?
    };
    let did = parse_opt::<Did>("did", input.did.as_deref())?;
    let key = state.pds().reserve_signing_key(did.as_ref()).await?;
    Ok(Json(json!({ "signingKey": key.signing_key })))
}

/// `com.atproto.temp.checkSignupQueue`: there is no signup queue here.
async fn check_signup_queue(Access(_auth): Access) -> Json<Value> {
    Json(json!({ "activated": true }))
}
