//! The admin API of the upstream caches: what a registry holds and its
//! limits (`GET`), and applying those limits now (`POST .../evict`), as
//! `batlehub cache stats|evict` do from the command line. Artifacts are
//! counted across the deployment (the catalog), documents on the node
//! that answers (each node keeps its own).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{authenticated, require_admin};
use crate::app::App;
use crate::config::RegistryConfig;
use crate::error::{AppError, AppResult};

/// The registry called `name`, which must have upstreams to cache.
fn proxying<'a>(app: &'a App, name: &str) -> AppResult<&'a RegistryConfig> {
    let r = app
        .config
        .registries
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| AppError::not_found(format!("no registry named {name}")))?;
    if !r.mode.has_upstream() {
        return Err(AppError::bad_request(format!("{name} is a local registry: it caches nothing")));
    }
    Ok(r)
}

async fn usage(app: &App, r: &RegistryConfig) -> AppResult<Value> {
    let (artifacts, bytes) = app.catalog.cache_usage(&r.name).await?;
    let (documents, document_bytes) = app.blobs.doc_usage(&r.name).await?;
    Ok(json!({
        "registry": r.name,
        "artifacts": artifacts,
        "bytes": bytes,
        "documents": documents,
        "document_bytes": document_bytes,
        "limits": {
            "max_bytes": r.cache.max_bytes,
            "evict_after_days": r.cache.evict_after_days,
            "keep_latest_versions": r.cache.keep_latest_versions,
        },
    }))
}

/// `GET /api/v1/admin/registries/{registry}/cache`.
pub async fn stats(State(app): State<App>, headers: HeaderMap, Path(reg): Path<String>) -> AppResult<Response> {
    require_admin(&authenticated(&app, &headers).await?)?;
    let r = proxying(&app, &reg)?;
    // What was served since the last batch counts.
    app.artifacts.flush_access().await;
    app.documents.flush_access().await;
    Ok(Json(usage(&app, r).await?).into_response())
}

/// `POST /api/v1/admin/registries/{registry}/cache/evict`: the registry's
/// limits applied now; the blobs nothing references any more go with the
/// next garbage collection.
pub async fn evict(State(app): State<App>, headers: HeaderMap, Path(reg): Path<String>) -> AppResult<Response> {
    require_admin(&authenticated(&app, &headers).await?)?;
    let r = proxying(&app, &reg)?;
    app.artifacts.flush_access().await;
    app.documents.flush_access().await;
    let evicted = app.evict_cache(r).await?;
    let mut body = usage(&app, r).await?;
    if let Some(o) = body.as_object_mut() {
        o.insert("evicted".into(), evicted.artifacts.into());
        o.insert("evicted_documents".into(), evicted.documents.into());
    }
    Ok(Json(body).into_response())
}
