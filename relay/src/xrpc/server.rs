//! `com.atproto.server.*` handlers (accounts, sessions, app passwords, service auth), and the
//! `/xrpc/_health` check. Each handler parses, makes one `pds` call, and maps the result to the
//! lexicon's output (checklist #129-#131, #137, J).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use syntax::{Datetime, Did};

use super::{XrpcJson, XrpcQuery, parse, parse_opt, procedure, query};
use crate::auth::{Access, BearerToken};
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

async fn create_account(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<CreateAccountInput>,
) -> Result<Json<Value>, ApiError> {
    if input.did.is_some() {
        // Migration needs the old PDS's service-auth JWT verified here first (checklist #99,
        // #136); until then a caller could claim any DID.
        return Err(ApiError::invalid_request(
            "Bringing an existing DID (account migration) is not supported yet",
        ));
    }
    let created = state
        .pds()
        .create_account(pds::CreateAccount {
            handle: input.handle,
            email: input.email,
            password: input.password,
            did: None,
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
    out.insert("active".into(), s.active.into());
    put_opt(&mut out, "status", s.status);
    Json(Value::Object(out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionInput {
    identifier: String,
    password: String,
}

async fn create_session(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<CreateSessionInput>,
) -> Result<Json<Value>, ApiError> {
    let session = state
        .pds()
        .create_session(&input.identifier, &input.password)
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

async fn activate_account(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<StatusCode, ApiError> {
    state.pds().activate_account(&auth).await?;
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
}

async fn delete_account(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<DeleteAccountInput>,
) -> Result<StatusCode, ApiError> {
    let did: Did = parse("did", &input.did)?;
    state.pds().delete_account(&did, &input.password).await?;
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
