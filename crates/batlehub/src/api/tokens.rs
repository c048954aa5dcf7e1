//! API tokens: `POST/GET /api/v1/auth/tokens`, `DELETE /api/v1/auth/tokens/{id}`
//! for the caller; for admins, `POST /api/v1/admin/tokens` (a token for a
//! named user), `GET /api/v1/admin/tokens?user_id=` (any user's tokens),
//! `DELETE /api/v1/admin/tokens/{id}` and `DELETE /api/v1/admin/tokens?user_id=`
//! (every token and session of a user).
//!
//! A token made by a caller descends from the caller's credential
//! (`Identity::mint_for`): it is revoked with the token the caller used,
//! and its end is capped by that token's, and by an hour for a provider's
//! bearer token (`identity::capped_expiry`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{authenticated, require_admin};
use crate::access::Role;
use crate::app::App;
use crate::catalog::{ApiTokenRow, now_ms};
use crate::error::{AppError, AppResult};
use crate::http::iso8601;

pub const DEFAULT_DAYS: i64 = 90;
pub const MAX_DAYS: i64 = 365;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminCreateToken {
    pub user_id: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub role: Option<String>,
    pub name: String,
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// Validate a token request; returns (role, expiry in epoch ms).
pub fn check_request(name: &str, days: Option<i64>, role: Option<&str>, ceiling: Role) -> AppResult<(Role, i64)> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::bad_request("name must be 1 to 100 printable characters"));
    }
    let days = days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::bad_request(format!("expires_in_days must be between 1 and {MAX_DAYS}")));
    }
    let role = match role {
        None => Role::User.min(ceiling),
        Some(r) => Role::parse(r).ok_or_else(|| AppError::bad_request(format!("unknown role `{r}`: user or admin")))?,
    };
    if role == Role::Anonymous {
        return Err(AppError::bad_request("a token's role must be user or admin"));
    }
    if role > ceiling {
        return Err(AppError::forbidden(format!(
            "a {} may not create a token with role {}",
            ceiling.as_str(),
            role.as_str()
        )));
    }
    Ok((role, now_ms() + days * 24 * 3600 * 1000))
}

fn created(secret: &str, row: &ApiTokenRow) -> Response {
    (
        StatusCode::CREATED,
        Json(json!({
            "id": row.id,
            "name": row.name,
            "token": secret,
            "role": row.role,
            "user_id": row.user_id,
            "groups": row.groups,
            "expires_at": row.expires_at.map(iso8601),
            "created_at": iso8601(row.created_at),
        })),
    )
        .into_response()
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> AppResult<T> {
    serde_json::from_slice(body).map_err(|e| AppError::bad_request(format!("invalid request body: {e}")))
}

pub async fn create(State(app): State<App>, headers: HeaderMap, body: axum::body::Bytes) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let req: CreateToken = parse_body(&body)?;
    let (role, expires_at) = check_request(&req.name, req.expires_in_days, req.role.as_deref(), caller.role)?;
    let (secret, row) = app.identity.mint_for(&caller, req.name.trim(), role, expires_at, None).await?;
    Ok(created(&secret, &row))
}

/// A user id named by an admin: 1 to 256 printable characters.
pub fn check_user_id(user_id: &str) -> AppResult<&str> {
    let user_id = user_id.trim();
    if user_id.is_empty() || user_id.len() > 256 || user_id.chars().any(char::is_control) {
        return Err(AppError::bad_request("user_id must be 1 to 256 printable characters"));
    }
    Ok(user_id)
}

pub async fn create_for_user(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    require_admin(&caller)?;
    let req: AdminCreateToken = parse_body(&body)?;
    let user_id = check_user_id(&req.user_id)?;
    if req.groups.iter().any(|g| g.is_empty() || g.len() > 256 || g.chars().any(char::is_control)) {
        return Err(AppError::bad_request("groups must be 1 to 256 printable characters each"));
    }
    let (role, expires_at) = check_request(&req.name, req.expires_in_days, req.role.as_deref(), caller.role)?;
    let (secret, row) =
        app.identity.mint_for(&caller, req.name.trim(), role, expires_at, Some((user_id, &req.groups))).await?;
    Ok(created(&secret, &row))
}

/// A token as listed (never its secret).
pub fn token_json(t: &ApiTokenRow, now: i64) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "user_id": t.user_id,
        "role": t.role,
        "groups": t.groups,
        "created_at": iso8601(t.created_at),
        "expires_at": t.expires_at.map(iso8601),
        "last_used_at": t.last_used_at.map(iso8601),
        "revoked": t.revoked_at.is_some(),
        "active": t.is_active(now),
        "parent_id": t.parent_id,
        "origin": t.origin,
    })
}

pub async fn list(State(app): State<App>, headers: HeaderMap) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let user = caller.user_id.clone().ok_or(AppError::Unauthenticated)?;
    let now = now_ms();
    let tokens: Vec<Value> = app.catalog.list_api_tokens(&user).await?.iter().map(|t| token_json(t, now)).collect();
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

pub async fn revoke(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let user = caller.user_id.clone().ok_or(AppError::Unauthenticated)?;
    if app.catalog.revoke_api_token(&id, &user).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found("no such token"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    #[serde(default)]
    pub user_id: Option<String>,
}

/// How many tokens an admin listing without `user_id` shows at most.
pub const ADMIN_LIST_LIMIT: i64 = 500;

/// Tokens an admin sees: one user's, or everybody's newest.
pub async fn admin_tokens(app: &App, user_id: Option<&str>) -> AppResult<Vec<ApiTokenRow>> {
    Ok(match user_id {
        Some(u) => app.catalog.list_api_tokens(check_user_id(u)?).await?,
        None => app.catalog.list_all_api_tokens(ADMIN_LIST_LIMIT).await?,
    })
}

/// `GET /api/v1/admin/tokens?user_id=`: a user's tokens (every user's
/// newest without `user_id`), for admins.
pub async fn admin_list(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    require_admin(&caller)?;
    let Query(q) = query.map_err(|e| AppError::bad_request(format!("invalid query: {e}")))?;
    let now = now_ms();
    let tokens: Vec<Value> =
        admin_tokens(&app, q.user_id.as_deref()).await?.iter().map(|t| token_json(t, now)).collect();
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// `DELETE /api/v1/admin/tokens/{id}`: revoke any user's token (and what
/// was made with it), for admins.
pub async fn admin_revoke(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    require_admin(&caller)?;
    if app.catalog.revoke_api_token_by_id(&id).await? {
        tracing::info!(admin = %caller.label(), token = %id, "an admin revoked a token");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found("no such active token"))
    }
}

/// `DELETE /api/v1/admin/tokens?user_id=`: revoke every token of a user
/// (and what was made with them) and end the user's browser sessions.
pub async fn admin_revoke_user(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    require_admin(&caller)?;
    let Query(q) = query.map_err(|e| AppError::bad_request(format!("invalid query: {e}")))?;
    let user = check_user_id(q.user_id.as_deref().ok_or_else(|| AppError::bad_request("user_id is required"))?)?;
    let done = app.catalog.revoke_user_tokens(user).await?;
    tracing::info!(admin = %caller.label(), user, tokens = done.tokens, sessions = done.sessions, "an admin revoked a user's tokens");
    Ok(Json(json!({ "user_id": user, "revoked_tokens": done.tokens, "ended_sessions": done.sessions })).into_response())
}
