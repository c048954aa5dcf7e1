//! Operational endpoints: `/livez` (no I/O), `/healthz` (catalog and storage
//! reachable, else 503; free disk against `[storage] min_free_bytes`),
//! `/metrics` (Prometheus text format).

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
    let disk = app.blobs.disk_space().await;
    let check = |r: Result<(), String>| match r {
        Ok(()) => json!({ "status": "ok" }),
        Err(e) => json!({ "status": "error", "error": e }),
    };
    let healthy = catalog.is_ok() && storage.is_ok();
    // A disk below its reserve still serves what is cached and takes
    // publishes: the replica is degraded (200), not down.
    let low = disk.as_ref().is_ok_and(|d| d.low());
    let disk = match disk {
        Ok(d) => json!({
            "status": if d.low() { "low" } else { "ok" },
            "free_bytes": d.free,
            "min_free_bytes": d.min_free,
        }),
        Err(e) => json!({ "status": "error", "error": e.to_string() }),
    };
    let body = json!({
        "status": if !healthy { "unavailable" } else if low { "degraded" } else { "ok" },
        "catalog": check(catalog.map_err(|e| e.to_string())),
        "storage": check(storage.map_err(|e| e.to_string())),
        "disk": disk,
    });
    json_status(if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}

pub async fn metrics() -> Response {
    let mut r = prometheus().render().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}
