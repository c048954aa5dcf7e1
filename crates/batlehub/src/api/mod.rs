//! The JSON API under `/api/v1`.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::App;
use crate::router::ok_json;

pub fn router() -> Router<App> {
    Router::new().route("/me", get(me)).route("/registries", get(registries))
}

/// Who the caller is, as the server sees it (200 even when anonymous).
async fn me(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.identity.resolve(&headers).await {
        Ok(p) => ok_json(json!({
            "user_id": p.user_id,
            "role": p.role.as_str(),
            "groups": p.groups,
            "provider": p.provider,
        })),
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
