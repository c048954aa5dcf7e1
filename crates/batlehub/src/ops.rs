//! Operational endpoints: `/livez` (no I/O), `/healthz` (catalog and storage
//! reachable, else 503), `/metrics` (Prometheus text format).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{App, prometheus};
use crate::http::json_status;

pub async fn livez() -> Response {
    json_status(StatusCode::OK, json!({ "status": "ok" }))
}

pub async fn healthz(State(app): State<App>) -> Response {
    let catalog = app.catalog.ping().await;
    let storage = app.blobs.health().await;
    let check = |r: Result<(), String>| match r {
        Ok(()) => json!({ "status": "ok" }),
        Err(e) => json!({ "status": "error", "error": e }),
    };
    let healthy = catalog.is_ok() && storage.is_ok();
    let body = json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "catalog": check(catalog.map_err(|e| e.to_string())),
        "storage": check(storage.map_err(|e| e.to_string())),
    });
    json_status(if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}

pub async fn metrics() -> Response {
    let mut r = prometheus().render().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}
