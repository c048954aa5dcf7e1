//! Browser sign-in with an OIDC provider: the authorization-code flow with
//! PKCE, `state` and `nonce`, ending in an HttpOnly session cookie. No token
//! ever travels in a URL or lands in the browser's storage.
//!
//! `GET /api/v1/auth/oidc/login?provider=&return_to=` → 302 to the provider;
//! `GET /api/v1/auth/oidc/callback?code=&state=` → session cookie, 303 back;
//! `POST /api/v1/auth/logout` → the session is deleted.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::catalog::{PendingLogin, SessionRow, now_ms};
use crate::error::{AppError, AppResult};
use crate::identity::{SESSION_COOKIE, cookie, random_string, sha256_hex};
use crate::upstream;

const LOGIN_COOKIE: &str = "batlehub_login";
const SESSION_SECS: i64 = 12 * 3600;
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub provider: Option<String>,
    pub return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn base_of(app: &App, req: &Request) -> String {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    crate::http::public_base(&app.config.server, req.headers(), peer)
}

/// Only a path on this server: never another origin.
pub fn safe_return(to: Option<&str>) -> String {
    match to {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

fn set_cookie(r: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub async fn providers(State(app): State<App>) -> Response {
    axum::Json(json!({ "providers": app.identity.oidc_providers() })).into_response()
}

pub async fn login(State(app): State<App>, Query(q): Query<LoginQuery>, req: Request) -> AppResult<Response> {
    let provider = app
        .identity
        .oidc_provider(q.provider.as_deref())
        .ok_or_else(|| AppError::not_found("no such OIDC provider"))?;
    let cfg = provider.oidc_config().ok_or_else(|| AppError::not_found("no such OIDC provider"))?;
    let discovery = provider.discovery().await?;
    let authorize = discovery
        .get("authorization_endpoint")
        .and_then(|v| v.as_str())
        .ok_or_else(|| AppError::Unavailable("the provider has no authorization_endpoint".into()))?;
    let base = base_of(&app, &req);
    let state = random_string(32);
    let nonce = random_string(32);
    let verifier = random_string(64);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let recorded = app
        .identity
        .catalog()
        .insert_login(
            &state,
            &PendingLogin {
                provider: provider.name.clone(),
                nonce: nonce.clone(),
                verifier,
                return_to: safe_return(q.return_to.as_deref()),
                created_at: now_ms(),
            },
            app.config.limits.pending_sign_ins,
        )
        .await?;
    if !recorded {
        return Err(AppError::TooManyRequests("too many sign-ins are pending; try again in a few minutes".into()));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &cfg.client_id)
        .append_pair("redirect_uri", &format!("{base}/api/v1/auth/oidc/callback"))
        .append_pair("scope", &cfg.scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if authorize.contains('?') { '&' } else { '?' };
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("{authorize}{sep}{query}"))
            .map_err(|_| AppError::internal("bad authorization URL"))?,
    );
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let secure = if base.starts_with("https://") { "; Secure" } else { "" };
    // Binds the sign-in to this browser: the callback must come back with it.
    set_cookie(
        &mut r,
        format!("{LOGIN_COOKIE}={state}; HttpOnly; SameSite=Lax; Path=/api/v1/auth/oidc; Max-Age=600{secure}"),
    );
    Ok(r)
}

pub async fn callback(State(app): State<App>, Query(q): Query<CallbackQuery>, req: Request) -> AppResult<Response> {
    if let Some(e) = q.error {
        return Err(AppError::bad_request(format!(
            "sign-in refused by the provider: {e} {}",
            q.error_description.unwrap_or_default()
        )));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(AppError::bad_request("the callback needs code and state"));
    };
    if cookie(req.headers(), LOGIN_COOKIE).as_deref() != Some(state.as_str()) {
        return Err(AppError::bad_request("this sign-in did not start in this browser"));
    }
    let pending = app
        .identity
        .catalog()
        .take_login(&state)
        .await?
        .ok_or_else(|| AppError::bad_request("unknown or already used sign-in"))?;
    if now_ms() - pending.created_at > LOGIN_TTL_MS {
        return Err(AppError::bad_request("the sign-in took too long; start again"));
    }
    let provider = app
        .identity
        .oidc_provider(Some(&pending.provider))
        .ok_or_else(|| AppError::not_found("no such OIDC provider"))?;
    let cfg = provider.oidc_config().ok_or_else(|| AppError::not_found("no such OIDC provider"))?;
    let discovery = provider.discovery().await?;
    let token_endpoint = discovery
        .get("token_endpoint")
        .and_then(|v| v.as_str())
        .ok_or_else(|| AppError::Unavailable("the provider has no token_endpoint".into()))?;
    let base = base_of(&app, &req);
    let form_body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &format!("{base}/api/v1/auth/oidc/callback"))
            .append_pair("client_id", &cfg.client_id)
            .append_pair("code_verifier", &pending.verifier);
        if let Some(secret) = &cfg.client_secret {
            form.append_pair("client_secret", secret);
        }
        form.finish()
    };
    let client = upstream::control_client(None).map_err(|e| AppError::internal(e.to_string()))?;
    let answer = upstream::forward(
        &client,
        reqwest::Method::POST,
        token_endpoint,
        &[("content-type", "application/x-www-form-urlencoded".into()), ("accept", "application/json".into())],
        Some(bytes::Bytes::from(form_body)),
        1024 * 1024,
    )
    .await
    .map_err(|e| AppError::Unavailable(format!("token endpoint unreachable: {e}")))?;
    if !answer.status.is_success() {
        return Err(AppError::bad_request(format!("the provider refused the code ({})", answer.status)));
    }
    let tokens: Value = serde_json::from_slice(&answer.body)
        .map_err(|_| AppError::upstream("the token endpoint answered something else than JSON"))?;
    let id_token = tokens
        .get("id_token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| AppError::upstream("the provider sent no id_token"))?;
    let mut principal = provider.authenticate_id_token(id_token, &cfg.client_id, &pending.nonce).await?;
    // The person signed in at the provider, interactively: the session is
    // theirs for its own lifetime, not the ID token's few minutes, and may
    // mint tokens like a static identity (no parent, no short cap).
    principal.lineage = crate::access::Lineage::default();
    let mut r = start_session(&app, &principal, &base, &pending.return_to).await?;
    let secure = if base.starts_with("https://") { "; Secure" } else { "" };
    set_cookie(&mut r, format!("{LOGIN_COOKIE}=; HttpOnly; SameSite=Lax; Path=/api/v1/auth/oidc; Max-Age=0{secure}"));
    Ok(r)
}

/// A new browser session for `principal`: the session row (holding only the
/// secret's hash) and a 303 to `location` that sets the HttpOnly cookie.
/// OIDC sign-in and the web UI's token sign-in both end here.
///
/// The session keeps the principal's lineage: made from an API token, it
/// dies with that token and ends no later than it; made from a provider's
/// bearer token, it ends no later than that token.
pub async fn start_session(
    app: &App,
    principal: &crate::access::Principal,
    base: &str,
    location: &str,
) -> AppResult<Response> {
    let secret = random_string(43);
    let user_id = principal.user_id.clone().ok_or_else(|| AppError::InvalidToken("no user".into()))?;
    let now = now_ms();
    let expires_at =
        principal.lineage.expires_at.map_or(now + SESSION_SECS * 1000, |e| e.min(now + SESSION_SECS * 1000));
    if expires_at <= now {
        return Err(AppError::InvalidToken("the credential has expired".into()));
    }
    let max_age = ((expires_at - now) / 1000).max(1);
    app.identity
        .catalog()
        .insert_session(
            &sha256_hex(&secret),
            &SessionRow {
                user_id,
                role: principal.role.as_str().into(),
                groups: principal.groups.clone(),
                provider: principal.provider.clone(),
                expires_at,
                lineage: principal.lineage.clone(),
            },
        )
        .await
        .map_err(|e| match e {
            crate::catalog::DbError::Denied(_) => AppError::InvalidCredentials,
            other => other.into(),
        })?;
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&safe_return(Some(location))).unwrap_or(HeaderValue::from_static("/")),
    );
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let secure = if base.starts_with("https://") { "; Secure" } else { "" };
    set_cookie(&mut r, format!("{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"));
    Ok(r)
}

/// End the browser session the request carries (if any): the row is
/// deleted and the cookie cleared on `r`.
pub async fn end_session(app: &App, headers: &axum::http::HeaderMap, r: &mut Response) -> AppResult<()> {
    if let Some(secret) = cookie(headers, SESSION_COOKIE) {
        app.identity.catalog().delete_session(&sha256_hex(&secret)).await?;
    }
    set_cookie(r, format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"));
    Ok(())
}

pub async fn logout(State(app): State<App>, req: Request) -> AppResult<Response> {
    let mut r = StatusCode::NO_CONTENT.into_response();
    end_session(&app, req.headers(), &mut r).await?;
    Ok(r)
}
