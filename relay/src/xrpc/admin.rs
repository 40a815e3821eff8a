//! `com.atproto.admin.*` behind admin HTTP Basic auth (checklist #103, #132): account
//! (repo) takedowns and their status (`updateSubjectStatus`, `getSubjectStatus`; record and
//! blob subjects are not supported yet), account views (`getAccountInfo(s)`,
//! `searchAccounts`), `updateAccountHandle`, `deleteAccount`, and invite administration
//! (`getInviteCodes`, `disableInviteCodes`, `disableAccountInvites`, `enableAccountInvites`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use syntax::Did;

use super::{XrpcJson, XrpcQuery, parse, parse_opt, procedure, query};
use crate::auth::AdminAuth;
use crate::error::ApiError;
use crate::server::AppState;

/// The admin routes.
pub(super) fn routes() -> Router<AppState> {
    const A: &str = "/xrpc/com.atproto.admin.";
    Router::new()
        .route(
            &format!("{A}updateSubjectStatus"),
            procedure(update_subject_status),
        )
        .route(&format!("{A}getSubjectStatus"), query(get_subject_status))
        .route(&format!("{A}getAccountInfo"), query(get_account_info))
        .route(&format!("{A}getAccountInfos"), query(get_account_infos))
        .route(&format!("{A}searchAccounts"), query(search_accounts))
        .route(
            &format!("{A}updateAccountHandle"),
            procedure(update_account_handle),
        )
        .route(&format!("{A}deleteAccount"), procedure(delete_account))
        .route(&format!("{A}getInviteCodes"), query(get_invite_codes))
        .route(
            &format!("{A}disableInviteCodes"),
            procedure(disable_invite_codes),
        )
        .route(
            &format!("{A}disableAccountInvites"),
            procedure(disable_account_invites),
        )
        .route(
            &format!("{A}enableAccountInvites"),
            procedure(enable_account_invites),
        )
}

#[derive(Deserialize)]
struct Takedown {
    applied: bool,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

#[derive(Deserialize)]
struct UpdateSubjectStatusInput {
    subject: Value,
    takedown: Option<Takedown>,
}

const REPO_REF: &str = "com.atproto.admin.defs#repoRef";

async fn update_subject_status(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<UpdateSubjectStatusInput>,
) -> Result<Json<Value>, ApiError> {
    if input.subject.get("$type").and_then(Value::as_str) != Some(REPO_REF) {
        return Err(ApiError::invalid_request(
            "Only repo subjects (com.atproto.admin.defs#repoRef) are supported",
        ));
    }
    let did = input
        .subject
        .get("did")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request("subject.did is required"))?;
    let did: Did = parse("subject.did", did)?;
    let Some(takedown) = input.takedown else {
        return Ok(Json(json!({ "subject": input.subject })));
    };
    let reference = takedown.applied.then(|| {
        takedown
            .reference
            .clone()
            .unwrap_or_else(|| format!("takedown:{}", syntax::Datetime::now().as_str()))
    });
    state.pds().set_takedown(&did, reference.clone()).await?;
    let mut status = json!({ "applied": takedown.applied });
    if let Some(r) = reference {
        status["ref"] = Value::String(r);
    }
    Ok(Json(
        json!({ "subject": input.subject, "takedown": status }),
    ))
}

#[derive(Deserialize)]
struct SubjectStatusParams {
    did: Option<String>,
    uri: Option<String>,
    blob: Option<String>,
}

/// Repo subjects only: `{subject: repoRef, takedown: {applied, ref?}, deactivated: {applied}}`;
/// `400 NotFound` for an unknown account.
async fn get_subject_status(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcQuery(params): XrpcQuery<SubjectStatusParams>,
) -> Result<Json<Value>, ApiError> {
    if params.uri.is_some() || params.blob.is_some() {
        return Err(ApiError::invalid_request(
            "Only repo subjects (did) are supported",
        ));
    }
    let did = params
        .did
        .ok_or_else(|| ApiError::invalid_request("No provided subject"))?;
    let did: Did = parse("did", &did)?;
    let (takedown_ref, deactivated) = state.pds().admin_subject_status(&did).await?;
    let mut takedown = json!({ "applied": takedown_ref.is_some() });
    if let Some(r) = takedown_ref {
        takedown["ref"] = Value::String(r);
    }
    Ok(Json(json!({
        "subject": { "$type": REPO_REF, "did": did.as_str() },
        "takedown": takedown,
        "deactivated": { "applied": deactivated },
    })))
}

/// `com.atproto.admin.defs#accountView` JSON.
fn account_view(a: pds::AccountInfo) -> Value {
    let mut out = Map::new();
    out.insert("did".into(), a.did.as_str().into());
    out.insert("handle".into(), a.handle.as_str().into());
    if let Some(email) = a.email {
        out.insert("email".into(), email.into());
    }
    if let Some(at) = a.email_confirmed_at {
        out.insert("emailConfirmedAt".into(), at.into());
    }
    out.insert("indexedAt".into(), a.indexed_at.into());
    if let Some(code) = a.invited_by {
        out.insert("invitedBy".into(), super::server::invite_code_json(code));
    }
    out.insert(
        "invites".into(),
        Value::Array(
            a.invites
                .into_iter()
                .map(super::server::invite_code_json)
                .collect(),
        ),
    );
    out.insert("invitesDisabled".into(), a.invites_disabled.into());
    if let Some(at) = a.deactivated_at {
        out.insert("deactivatedAt".into(), at.into());
    }
    Value::Object(out)
}

#[derive(Deserialize)]
struct DidParam {
    did: String,
}

async fn get_account_info(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcQuery(params): XrpcQuery<DidParam>,
) -> Result<Json<Value>, ApiError> {
    let did: Did = parse("did", &params.did)?;
    Ok(Json(account_view(
        state.pds().admin_account_info(&did).await?,
    )))
}

#[derive(Deserialize)]
struct DidsParam {
    #[serde(default)]
    dids: Vec<String>,
}

async fn get_account_infos(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcQuery(params): XrpcQuery<DidsParam>,
) -> Result<Json<Value>, ApiError> {
    let dids = params
        .dids
        .iter()
        .map(|d| parse::<Did>("dids", d))
        .collect::<Result<Vec<_>, _>>()?;
    let infos = state.pds().admin_account_infos(&dids).await?;
    let infos: Vec<Value> = infos.into_iter().map(account_view).collect();
    Ok(Json(json!({ "infos": infos })))
}

#[derive(Deserialize)]
struct SearchAccountsParams {
    email: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

async fn search_accounts(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcQuery(params): XrpcQuery<SearchAccountsParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = parse_opt::<usize>("limit", params.limit.as_deref())?.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_request("limit must be 1 to 100"));
    }
    let (accounts, cursor) = state
        .pds()
        .admin_search_accounts(params.email.as_deref(), params.cursor.as_deref(), limit)
        .await?;
    let mut out = Map::new();
    if let Some(c) = cursor {
        out.insert("cursor".into(), c.into());
    }
    out.insert(
        "accounts".into(),
        Value::Array(accounts.into_iter().map(account_view).collect()),
    );
    Ok(Json(Value::Object(out)))
}

#[derive(Deserialize)]
struct UpdateAccountHandleInput {
    did: String,
    handle: String,
}

async fn update_account_handle(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<UpdateAccountHandleInput>,
) -> Result<StatusCode, ApiError> {
    let did: Did = parse("did", &input.did)?;
    state.pds().admin_update_handle(&did, &input.handle).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct AdminDeleteAccountInput {
    did: String,
}

async fn delete_account(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<AdminDeleteAccountInput>,
) -> Result<StatusCode, ApiError> {
    let did: Did = parse("did", &input.did)?;
    state.pds().admin_delete_account(&did).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct GetInviteCodesParams {
    sort: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

async fn get_invite_codes(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcQuery(params): XrpcQuery<GetInviteCodesParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = parse_opt::<usize>("limit", params.limit.as_deref())?.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_request("limit must be 1 to 500"));
    }
    let page = state
        .pds()
        .admin_invite_codes(params.sort.as_deref(), params.cursor.as_deref(), limit)
        .await?;
    let mut out = Map::new();
    if let Some(c) = page.cursor {
        out.insert("cursor".into(), c.into());
    }
    out.insert(
        "codes".into(),
        Value::Array(
            page.codes
                .into_iter()
                .map(super::server::invite_code_json)
                .collect(),
        ),
    );
    Ok(Json(Value::Object(out)))
}

#[derive(Deserialize)]
struct DisableInviteCodesInput {
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
}

async fn disable_invite_codes(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<DisableInviteCodesInput>,
) -> Result<StatusCode, ApiError> {
    state
        .pds()
        .disable_invite_codes(&input.codes, &input.accounts)
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct AccountInvitesInput {
    account: String,
}

async fn disable_account_invites(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<AccountInvitesInput>,
) -> Result<StatusCode, ApiError> {
    let did: Did = parse("account", &input.account)?;
    state.pds().set_account_invites_disabled(&did, true).await?;
    Ok(StatusCode::OK)
}

async fn enable_account_invites(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<AccountInvitesInput>,
) -> Result<StatusCode, ApiError> {
    let did: Did = parse("account", &input.account)?;
    state
        .pds()
        .set_account_invites_disabled(&did, false)
        .await?;
    Ok(StatusCode::OK)
}
