//! Team namespaces and visibility: the admin claim API, the caller's
//! namespaces and their packages, and changing a package's visibility.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{authenticated, require_admin};
use crate::access::{self, Visibility};
use crate::app::App;
use crate::catalog::PackageRow;
use crate::error::{AppError, AppResult};
use crate::http::iso8601;
use crate::registry::{self, Registry};

fn registry_of<'a>(app: &'a App, name: &str) -> AppResult<&'a std::sync::Arc<Registry>> {
    app.registries.get(name).ok_or_else(|| AppError::not_found(format!("no registry named {name}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClaim {
    pub prefix: String,
    pub group: String,
}

fn claim_json(c: &crate::catalog::ClaimRow) -> Value {
    json!({
        "registry": c.registry,
        "prefix": c.prefix,
        "group": c.group_id,
        "claimed_by": c.claimed_by,
        "source": if c.claimed_by.as_deref() == Some("config") { "config" } else { "api" },
    })
}

pub async fn list_claims(State(app): State<App>, headers: HeaderMap, Path(reg): Path<String>) -> AppResult<Response> {
    require_admin(&authenticated(&app, &headers).await?)?;
    registry_of(&app, &reg)?;
    let claims: Vec<Value> = registry::claims(&app, &reg).await?.iter().map(claim_json).collect();
    Ok(Json(json!({ "namespaces": claims })).into_response())
}

pub async fn add_claim(State(app): State<App>, headers: HeaderMap, Path(reg): Path<String>, body: axum::body::Bytes) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    require_admin(&caller)?;
    registry_of(&app, &reg)?;
    let req: NewClaim = serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("invalid request body: {e}")))?;
    if req.prefix.is_empty() || req.prefix.len() > 200 || req.prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AppError::bad_request("prefix must be 1 to 200 characters, without spaces"));
    }
    if req.group.trim().is_empty() || req.group.len() > 256 || req.group.chars().any(char::is_control) {
        return Err(AppError::bad_request("group must be 1 to 256 printable characters"));
    }
    if registry::claims(&app, &reg).await?.iter().any(|c| c.prefix == req.prefix) {
        return Err(AppError::conflict(format!("prefix {} is already claimed", req.prefix)));
    }
    app.catalog.add_claim(&reg, &req.prefix, &req.group, caller.user_id.as_deref()).await?;
    let group = access::normalize_group(&req.group);
    Ok((StatusCode::CREATED, Json(json!({ "registry": reg, "prefix": req.prefix, "group": group }))).into_response())
}

pub async fn delete_claim(State(app): State<App>, headers: HeaderMap, Path((reg, prefix)): Path<(String, String)>) -> AppResult<Response> {
    require_admin(&authenticated(&app, &headers).await?)?;
    let r = registry_of(&app, &reg)?;
    if r.config_claims.iter().any(|(p, _)| *p == prefix) {
        return Err(AppError::conflict(format!("prefix {prefix} is claimed in the configuration file; remove it there")));
    }
    if app.catalog.delete_claim(&reg, &prefix).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found(format!("prefix {prefix} is not claimed")))
    }
}

/// The claims whose group the caller is in, across registries.
pub async fn my_namespaces(State(app): State<App>, headers: HeaderMap) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let mut out = Vec::new();
    let mut names: Vec<&String> = app.registries.keys().collect();
    names.sort();
    for reg in names {
        for c in registry::claims(&app, reg).await? {
            if !caller.in_group(&c.group_id) {
                continue;
            }
            let count = app
                .catalog
                .list_package_names(std::slice::from_ref(reg))
                .await?
                .iter()
                .filter(|n| access::claim_covers(&c.prefix, n))
                .count();
            out.push(json!({ "registry": reg, "prefix": c.prefix, "group": c.group_id, "package_count": count }));
        }
    }
    Ok(Json(Value::Array(out)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Page {
    pub page: Option<usize>,
    pub per_page: Option<usize>,
}

/// Every published version under a namespace the caller's group claims.
pub async fn namespace_packages(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, prefix)): Path<(String, String)>,
    Query(q): Query<Page>,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    registry_of(&app, &reg)?;
    let claim = registry::claims(&app, &reg)
        .await?
        .into_iter()
        .find(|c| c.prefix == prefix)
        .ok_or_else(|| AppError::not_found(format!("prefix {prefix} is not claimed in {reg}")))?;
    if !caller.is_admin() && !caller.in_group(&claim.group_id) {
        return Err(AppError::forbidden(format!("you are not a member of {}", claim.group_id)));
    }
    let page = q.page.unwrap_or(1).max(1);
    let per_page = q.per_page.unwrap_or(50).clamp(1, 200);
    let mut packages: Vec<PackageRow> = app
        .catalog
        .search_packages(std::slice::from_ref(&reg), "", 1000)
        .await?
        .into_iter()
        .filter(|p| access::claim_covers(&prefix, &p.name))
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    let mut items = Vec::new();
    for p in &packages {
        for v in app.catalog.list_versions(&p.id).await?.iter().rev() {
            items.push(json!({
                "name": p.display_name,
                "version": v.version,
                "visibility": p.visibility.as_str(),
                "published_by": v.published_by,
                "published_at": iso8601(v.published_at),
                "yanked": v.yanked,
            }));
        }
    }
    let total = items.len();
    let items: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    Ok(Json(json!({ "items": items, "total": total, "page": page, "per_page": per_page })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVisibility {
    pub visibility: String,
}

async fn package_of(app: &App, reg: &str, name: &str) -> AppResult<(std::sync::Arc<Registry>, PackageRow)> {
    let r = registry_of(app, reg)?.clone();
    let key = crate::ecosystems::normalize_name(r.kind, name).ok_or_else(|| AppError::bad_request(format!("invalid package name `{name}`")))?;
    let p = app.catalog.get_package(reg, &key).await?.ok_or_else(|| AppError::not_found(format!("{name} not found in {reg}")))?;
    Ok((r, p))
}

pub async fn get_visibility(State(app): State<App>, headers: HeaderMap, Path((reg, name)): Path<(String, String)>) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let (_, p) = package_of(&app, &reg, &name).await?;
    let claim = registry::claim_for(&app, &reg, &p.name).await?;
    if !access::can_see(&caller, p.visibility, claim.as_ref().map(|c| c.group_id.as_str())) {
        return Err(AppError::not_found(format!("{name} not found in {reg}")));
    }
    Ok(Json(json!({ "registry": reg, "name": p.display_name, "visibility": p.visibility.as_str() })).into_response())
}

/// Admins, members of the claiming group and the package's owners may change it.
pub async fn set_visibility(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let req: SetVisibility = serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("invalid request body: {e}")))?;
    let wanted = Visibility::parse(&req.visibility)
        .ok_or_else(|| AppError::bad_request(format!("unknown visibility `{}`: public, internal or team", req.visibility)))?;
    let (_, p) = package_of(&app, &reg, &name).await?;
    let claim = registry::claim_for(&app, &reg, &p.name).await?;
    let group = claim.as_ref().map(|c| c.group_id.as_str());
    if !access::can_see(&caller, p.visibility, group) {
        return Err(AppError::not_found(format!("{name} not found in {reg}")));
    }
    let owners = app.catalog.list_owners(&p.id).await?;
    let owner = owners.iter().any(|o| if o.is_group() { caller.in_group(&o.principal_id) } else { caller.user_id.as_deref() == Some(o.principal_id.as_str()) });
    let member = group.is_some_and(|g| caller.in_group(g));
    if !(caller.is_admin() || member || owner) {
        return Err(AppError::forbidden(format!("only admins, owners of {name} and members of its namespace group may change its visibility")));
    }
    if wanted == Visibility::Team && claim.is_none() {
        return Err(AppError::conflict(format!("{name} is under no namespace claim: team visibility needs a claiming group")));
    }
    app.catalog.set_visibility(&p.id, wanted).await?;
    app.audit.record(crate::catalog::AuditEvent {
        at: crate::catalog::now_ms(),
        registry: Some(reg.clone()),
        action: "visibility".into(),
        package: Some(p.display_name.clone()),
        version: None,
        principal: Some(caller.label()),
        outcome: "ok".into(),
        detail: Some(wanted.as_str().into()),
    });
    Ok(Json(json!({ "registry": reg, "name": p.display_name, "visibility": wanted.as_str() })).into_response())
}
