//! Email and email-token handlers (issue 4, checklist #130): `com.atproto.server.`
//! `requestEmailConfirmation`, `confirmEmail`, `requestEmailUpdate`, `updateEmail`,
//! `requestPasswordReset`, `resetPassword`, `requestAccountDelete` (its token is consumed by
//! `deleteAccount` in `server.rs`), and the operator's `com.atproto.admin.sendEmail`,
//! `updateAccountEmail`, `updateAccountPassword` (admin HTTP Basic auth). Thin: parse, one
//! `pds` call (`account_tokens.rs`), map.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use syntax::{AtIdentifier, Did};

use super::{XrpcJson, parse, procedure};
use crate::auth::{Access, AdminAuth};
use crate::error::ApiError;
use crate::server::AppState;

/// The email routes.
pub(super) fn routes() -> Router<AppState> {
    const S: &str = "/xrpc/com.atproto.server.";
    const A: &str = "/xrpc/com.atproto.admin.";
    Router::new()
        .route(
            &format!("{S}requestEmailConfirmation"),
            procedure(request_email_confirmation),
        )
        .route(&format!("{S}confirmEmail"), procedure(confirm_email))
        .route(
            &format!("{S}requestEmailUpdate"),
            procedure(request_email_update),
        )
        .route(&format!("{S}updateEmail"), procedure(update_email))
        .route(
            &format!("{S}requestPasswordReset"),
            procedure(request_password_reset),
        )
        .route(&format!("{S}resetPassword"), procedure(reset_password))
        .route(
            &format!("{S}requestAccountDelete"),
            procedure(request_account_delete),
        )
        .route(&format!("{A}sendEmail"), procedure(admin_send_email))
        .route(
            &format!("{A}updateAccountEmail"),
            procedure(admin_update_account_email),
        )
        .route(
            &format!("{A}updateAccountPassword"),
            procedure(admin_update_account_password),
        )
}

async fn request_email_confirmation(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<StatusCode, ApiError> {
    state.pds().request_email_confirmation(&auth).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct ConfirmEmailInput {
    email: String,
    token: String,
}

async fn confirm_email(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<ConfirmEmailInput>,
) -> Result<StatusCode, ApiError> {
    state
        .pds()
        .confirm_email(&auth, &input.email, &input.token)
        .await?;
    Ok(StatusCode::OK)
}

async fn request_email_update(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<Json<Value>, ApiError> {
    let token_required = state.pds().request_email_update(&auth).await?;
    Ok(Json(json!({ "tokenRequired": token_required })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateEmailInput {
    email: String,
    token: Option<String>,
    /// Email two-factor sign-in on/off (checklist #129).
    email_auth_factor: Option<bool>,
}

async fn update_email(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<UpdateEmailInput>,
) -> Result<StatusCode, ApiError> {
    state
        .pds()
        .update_email(
            &auth,
            &input.email,
            input.token.as_deref(),
            input.email_auth_factor,
        )
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct RequestPasswordResetInput {
    email: String,
}

async fn request_password_reset(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<RequestPasswordResetInput>,
) -> Result<StatusCode, ApiError> {
    state.pds().request_password_reset(&input.email).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct ResetPasswordInput {
    token: String,
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    XrpcJson(input): XrpcJson<ResetPasswordInput>,
) -> Result<StatusCode, ApiError> {
    state
        .pds()
        .reset_password(&input.token, &input.password)
        .await?;
    Ok(StatusCode::OK)
}

async fn request_account_delete(
    State(state): State<AppState>,
    Access(auth): Access,
) -> Result<StatusCode, ApiError> {
    state.pds().request_account_delete(&auth).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendEmailInput {
    recipient_did: String,
    content: String,
    subject: Option<String>,
}

async fn admin_send_email(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<SendEmailInput>,
) -> Result<Json<Value>, ApiError> {
    let did: Did = parse("recipientDid", &input.recipient_did)?;
    state
        .pds()
        .admin_send_email(&did, input.subject.as_deref(), &input.content)
        .await?;
    Ok(Json(json!({ "sent": true })))
}

#[derive(Deserialize)]
struct UpdateAccountEmailInput {
    account: String,
    email: String,
}

async fn admin_update_account_email(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<UpdateAccountEmailInput>,
) -> Result<StatusCode, ApiError> {
    let account: AtIdentifier = parse("account", &input.account)?;
    state
        .pds()
        .admin_update_account_email(&account, &input.email)
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct UpdateAccountPasswordInput {
    did: String,
    password: String,
}

async fn admin_update_account_password(
    State(state): State<AppState>,
    _admin: AdminAuth,
    XrpcJson(input): XrpcJson<UpdateAccountPasswordInput>,
) -> Result<StatusCode, ApiError> {
    let did: Did = parse("did", &input.did)?;
    state
        .pds()
        .admin_update_account_password(&did, &input.password)
        .await?;
    Ok(StatusCode::OK)
}
