//! The admin API of the names an upstream serves that may nevertheless be
//! published to a registry (see `RequestCtx::check_write`): the
//! configuration's `allow_upstream_names` plus those allowed here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{authenticated, require_admin};
use crate::app::App;
use crate::ecosystems;
use crate::error::{AppError, AppResult};
use crate::http::iso8601;
use crate::registry::Registry;

fn local_registry<'a>(app: &'a App, name: &str) -> AppResult<&'a std::sync::Arc<Registry>> {
    let r = app.registries.get(name).ok_or_else(|| AppError::not_found(format!("no registry named {name}")))?;
    if !r.mode.has_local() {
        return Err(AppError::bad_request(format!(
            "{name} is not in local or hybrid mode: nothing is published to it"
        )));
    }
    Ok(r)
}

/// `name` as the registry's catalog key, or a 400.
fn key_of(r: &Registry, name: &str) -> AppResult<String> {
    ecosystems::normalize_name(r.kind, name)
        .ok_or_else(|| AppError::bad_request(format!("{name} is not a valid {} package name", r.kind)))
}

pub async fn list(State(app): State<App>, headers: HeaderMap, Path(reg): Path<String>) -> AppResult<Response> {
    require_admin(&authenticated(&app, &headers).await?)?;
    let r = local_registry(&app, &reg)?;
    let mut names: Vec<Value> = {
        let mut configured: Vec<&String> = r.allowed_names.iter().collect();
        configured.sort();
        configured.into_iter().map(|n| json!({ "name": n, "source": "config" })).collect()
    };
    for (name, by, at) in app.catalog.list_upstream_names(&reg).await? {
        if !r.allowed_names.contains(&name) {
            names.push(json!({ "name": name, "source": "api", "allowed_by": by, "allowed_at": iso8601(at) }));
        }
    }
    Ok(Json(json!({ "registry": reg, "names": names })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    pub name: String,
}

pub async fn allow(
    State(app): State<App>,
    headers: HeaderMap,
    Path(reg): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    require_admin(&caller)?;
    let r = local_registry(&app, &reg)?;
    let req: Allow =
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("invalid request body: {e}")))?;
    let key = key_of(r, &req.name)?;
    if r.allowed_names.contains(&key) || !app.catalog.allow_upstream_name(&reg, &key, caller.user_id.as_deref()).await?
    {
        return Err(AppError::conflict(format!("{key} is already allowed in {reg}")));
    }
    Ok((StatusCode::CREATED, Json(json!({ "registry": reg, "name": key }))).into_response())
}

pub async fn disallow(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, name)): Path<(String, String)>,
) -> AppResult<Response> {
    require_admin(&authenticated(&app, &headers).await?)?;
    let r = local_registry(&app, &reg)?;
    let key = key_of(r, &name)?;
    if r.allowed_names.contains(&key) {
        return Err(AppError::conflict(format!("{key} is allowed in the configuration file; remove it there")));
    }
    if app.catalog.disallow_upstream_name(&reg, &key).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found(format!("{key} is not allowed in {reg}")))
    }
}
