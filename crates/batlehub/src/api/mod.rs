//! The JSON API under `/api/v1`. Errors are `{"error": "<reason>", "message": "..."}`.

pub mod cache;
pub mod namespaces;
pub mod oidc;
pub mod rules;
pub mod tokens;
pub mod upstream_names;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use crate::access::Principal;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::http::ok_json;

pub fn router() -> Router<App> {
    Router::new()
        .route("/me", get(me))
        .route("/me/namespaces", get(namespaces::my_namespaces))
        .route("/me/namespaces/{registry}/{prefix}/packages", get(namespaces::namespace_packages))
        .route("/registries", get(registries))
        .route(
            "/registries/{registry}/packages/{name}/visibility",
            get(namespaces::get_visibility).put(namespaces::set_visibility),
        )
        .route("/registries/{registry}/packages/{name}/versions/{version}/rules", get(rules::simulate))
        .route("/auth/oidc/providers", get(oidc::providers))
        .route("/auth/oidc/login", get(oidc::login))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route("/auth/logout", post(oidc::logout))
        .route("/auth/tokens", post(tokens::create).get(tokens::list))
        .route("/auth/tokens/{id}", delete(tokens::revoke))
        .route("/admin/tokens", post(tokens::create_for_user).get(tokens::admin_list).delete(tokens::admin_revoke_user))
        .route("/admin/tokens/{id}", delete(tokens::admin_revoke))
        .route("/admin/registries/{registry}/namespaces", get(namespaces::list_claims).post(namespaces::add_claim))
        .route("/admin/registries/{registry}/namespaces/{prefix}", delete(namespaces::delete_claim))
        .route("/admin/registries/{registry}/upstream-names", get(upstream_names::list).post(upstream_names::allow))
        .route("/admin/registries/{registry}/upstream-names/{name}", delete(upstream_names::disallow))
        .route("/admin/registries/{registry}/cache", get(cache::stats))
        .route("/admin/registries/{registry}/cache/evict", post(cache::evict))
        .route("/admin/registries/{registry}/advisories", get(rules::advisories))
        .route("/admin/registries/{registry}/advisories/refresh", post(rules::refresh_advisories))
}

/// The caller, who must have sent valid credentials (401 otherwise).
pub async fn authenticated(app: &App, headers: &HeaderMap) -> AppResult<Principal> {
    let p = app.identity.resolve(headers).await?;
    if p.is_anonymous() {
        return Err(AppError::Unauthenticated);
    }
    Ok(p)
}

pub fn require_admin(p: &Principal) -> AppResult<()> {
    if p.is_admin() { Ok(()) } else { Err(AppError::forbidden("this needs the admin role")) }
}

/// Who the caller is, as the server sees it (200 even when anonymous). A
/// browser signed in with the session cookie also learns its `csrf_token`,
/// which its writes to this API send as `X-CSRF-Token`.
async fn me(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.identity.resolve(&headers).await {
        Ok(p) => {
            let csrf = if p.is_anonymous() {
                None
            } else {
                crate::identity::session_secret(&headers).map(|s| crate::identity::csrf_token(&s))
            };
            let mut body = json!({
                "user_id": p.user_id,
                "role": p.role.as_str(),
                "groups": p.groups,
                "provider": p.provider,
            });
            if let (Some(csrf), Some(obj)) = (csrf, body.as_object_mut()) {
                obj.insert("csrf_token".into(), csrf.into());
            }
            ok_json(body)
        }
        Err(e) => e.into_response(),
    }
}

/// The configured registries: name, type, mode.
async fn registries(State(app): State<App>) -> Response {
    let list: Vec<_> = app
        .config
        .registries
        .iter()
        .map(|r| json!({ "name": r.name, "type": r.kind.as_str(), "mode": r.mode.as_str(), "members": r.members }))
        .collect();
    ok_json(json!({ "registries": list }))
}
