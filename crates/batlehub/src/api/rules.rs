//! The rules' simulator: `GET /api/v1/registries/{registry}/packages/{name}/versions/{version}/rules`
//! says whether the caller may have an upstream version and what each of
//! the registry's `[[registries.rules]]` answers, with the reasons a
//! client would be given.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use crate::access::Permission;
use crate::app::App;
use crate::catalog::now_ms;
use crate::ecosystems;
use crate::error::{AppError, AppResult};
use crate::http::ok_json;
use crate::rules::{Caller, Candidate, rfc3339};

pub async fn simulate(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, name, version)): Path<(String, String, String)>,
) -> AppResult<Response> {
    let principal = app.identity.resolve(&headers).await?;
    let registry =
        app.registries.get(&reg).cloned().ok_or_else(|| AppError::not_found(format!("no registry named {reg}")))?;
    crate::registry::require_on(&principal, &registry, Permission::ReleasesRead)?;
    if !registry.mode.has_upstream() {
        return Err(AppError::bad_request(format!("{reg} is a local registry: rules apply to upstream versions")));
    }
    let key = ecosystems::normalize_name(registry.kind, &name)
        .ok_or_else(|| AppError::bad_request(format!("`{name}` is not a {} package name", registry.kind)))?;
    let base = crate::http::public_base(&app.config.server, &headers, None);
    let ctx = ecosystems::request_ctx(app.clone(), registry.clone(), principal.clone(), base);
    let releases = ecosystems::upstream_releases(&ctx, &name).await?;
    let (_, published_at) =
        releases.iter().find(|(v, _)| *v == version).cloned().ok_or_else(|| {
            AppError::not_found(format!("the upstreams of {reg} list no version {version} of {name}"))
        })?;
    let caller = Caller { groups: &principal.groups, admin: principal.is_admin() };
    let candidate = Candidate { name: &key, version: &version, published_at };
    let outcomes = registry.rules.explain(&candidate, &caller, now_ms());
    let rules: Vec<Value> = outcomes
        .iter()
        .map(|(rule, outcome)| match outcome {
            Ok(()) => json!({"type": rule, "allowed": true}),
            Err(d) => json!({
                "type": rule,
                "allowed": false,
                "reason": d.message,
                "available_at": d.available_at.map(rfc3339),
            }),
        })
        .collect();
    Ok(ok_json(json!({
        "registry": reg,
        "package": key,
        "version": version,
        "published_at": published_at.map(rfc3339),
        "allowed": outcomes.iter().all(|(_, o)| o.is_ok()),
        "rules": rules,
    })))
}
