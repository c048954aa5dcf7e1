//! Team namespaces and visibility: the admin claim API, the caller's
//! namespaces and their packages, and changing a package's visibility.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{authenticated, require_admin};
use crate::access::{self, Principal, Visibility};
use crate::app::App;
use crate::catalog::PackageRow;
use crate::ecosystems;
use crate::error::{AppError, AppResult};
use crate::http::iso8601;
use crate::registry::Registry;

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
        "source": c.claimed_via,
    })
}

pub async fn list_claims(State(app): State<App>, headers: HeaderMap, Path(reg): Path<String>) -> AppResult<Response> {
    require_admin(&authenticated(&app, &headers).await?)?;
    registry_of(&app, &reg)?;
    let claims: Vec<Value> = app.claims(&reg).await?.iter().map(claim_json).collect();
    Ok(Json(json!({ "namespaces": claims })).into_response())
}

pub async fn add_claim(
    State(app): State<App>,
    headers: HeaderMap,
    Path(reg): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let req: NewClaim =
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("invalid request body: {e}")))?;
    let (prefix, group) = create_claim(&app, &caller, &reg, &req.prefix, &req.group, "api").await?;
    Ok((StatusCode::CREATED, Json(json!({ "registry": reg, "prefix": prefix, "group": group }))).into_response())
}

/// `prefix` in the spelling of `r`'s package keys (a claim must match every
/// spelling of a name), or a 400 saying why it cannot be a prefix.
fn normalized_prefix(r: &Registry, prefix: &str) -> AppResult<String> {
    ecosystems::normalize_prefix(r.kind, prefix).map_err(AppError::bad_request)
}

/// Claim `prefix` of `reg` for `group` (admins only); returns the prefix
/// and the group as stored.
pub async fn create_claim(
    app: &App,
    caller: &Principal,
    reg: &str,
    prefix: &str,
    group: &str,
    via: &str,
) -> AppResult<(String, String)> {
    require_admin(caller)?;
    let r = registry_of(app, reg)?;
    let prefix = normalized_prefix(r, prefix)?;
    if group.trim().is_empty() || group.len() > 256 || group.chars().any(char::is_control) {
        return Err(AppError::bad_request("group must be 1 to 256 printable characters"));
    }
    if app.claims(reg).await?.iter().any(|c| c.prefix.eq_ignore_ascii_case(&prefix)) {
        return Err(AppError::conflict(format!("prefix {prefix} is already claimed")));
    }
    app.catalog.add_claim_via(reg, &prefix, group, caller.user_id.as_deref(), via).await?;
    tracing::info!(target: "batlehub::change", registry = reg, prefix = %prefix, group, by = %caller.label(), via, "claim");
    Ok((prefix, access::normalize_group(group)))
}

pub async fn delete_claim(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, prefix)): Path<(String, String)>,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    remove_claim(&app, &caller, &reg, &prefix).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Drop a claim made through the API (admins only; configured claims stay).
pub async fn remove_claim(app: &App, caller: &Principal, reg: &str, prefix: &str) -> AppResult<()> {
    require_admin(caller)?;
    let r = registry_of(app, reg)?;
    let key = normalized_prefix(r, prefix).unwrap_or_else(|_| prefix.to_string());
    if r.config_claims.iter().any(|(p, _)| *p == key) {
        return Err(AppError::conflict(format!(
            "prefix {prefix} is claimed in the configuration file; remove it there"
        )));
    }
    // A claim stored before prefixes were normalised is found as written.
    let deleted = app.catalog.delete_claim(reg, &key).await? || app.catalog.delete_claim(reg, prefix).await?;
    if !deleted {
        return Err(AppError::not_found(format!("prefix {prefix} is not claimed")));
    }
    tracing::info!(target: "batlehub::change", registry = reg, prefix, by = %caller.label(), "claim-removed");
    Ok(())
}

/// A namespace claim of one of the caller's groups.
#[derive(Debug, Clone)]
pub struct MyNamespace {
    pub registry: String,
    pub prefix: String,
    pub group: String,
    pub package_count: usize,
}

/// The claims whose group the caller is in, across registries.
pub async fn namespaces_of(app: &App, caller: &Principal) -> AppResult<Vec<MyNamespace>> {
    let mut out = Vec::new();
    let mut names: Vec<&String> = app.registries.keys().collect();
    names.sort();
    for reg in names {
        let claims: Vec<_> = app.claims(reg).await?.into_iter().filter(|c| caller.in_group(&c.group_id)).collect();
        if claims.is_empty() {
            continue;
        }
        let packages = app.catalog.list_package_names(std::slice::from_ref(reg)).await?;
        for c in claims {
            let package_count = packages.iter().filter(|n| access::claim_covers(&c.prefix, n)).count();
            out.push(MyNamespace { registry: reg.clone(), prefix: c.prefix, group: c.group_id, package_count });
        }
    }
    Ok(out)
}

pub async fn my_namespaces(State(app): State<App>, headers: HeaderMap) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let out: Vec<Value> = namespaces_of(&app, &caller)
        .await?
        .into_iter()
        .map(|n| json!({ "registry": n.registry, "prefix": n.prefix, "group": n.group, "package_count": n.package_count }))
        .collect();
    Ok(Json(Value::Array(out)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Page {
    pub page: Option<usize>,
    pub per_page: Option<usize>,
}

/// One published version under a namespace.
#[derive(Debug, Clone)]
pub struct NamespaceItem {
    pub name: String,
    pub version: String,
    pub visibility: Visibility,
    pub published_by: Option<String>,
    pub published_at: i64,
    pub yanked: bool,
    /// The caller owns the package (as a user or through a group).
    pub owned: bool,
}

/// Every published version under a namespace the caller's group claims
/// (admins see every namespace), newest first within each package.
pub async fn namespace_items(app: &App, caller: &Principal, reg: &str, prefix: &str) -> AppResult<Vec<NamespaceItem>> {
    let r = registry_of(app, reg)?;
    let key = normalized_prefix(r, prefix).unwrap_or_else(|_| prefix.to_string());
    let claim = app
        .claims(reg)
        .await?
        .into_iter()
        .find(|c| c.prefix == key || c.prefix == prefix)
        .ok_or_else(|| AppError::not_found(format!("prefix {prefix} is not claimed in {reg}")))?;
    if !caller.is_admin() && !caller.in_group(&claim.group_id) {
        return Err(AppError::forbidden(format!("you are not a member of {}", claim.group_id)));
    }
    let mut packages: Vec<PackageRow> = app
        .catalog
        .search_packages(&[reg.to_string()], "", 1000)
        .await?
        .into_iter()
        .filter(|p| access::claim_covers(&claim.prefix, &p.name))
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    let mut items = Vec::new();
    for p in &packages {
        let owned = is_owner(app, caller, &p.id).await?;
        for v in app.catalog.list_versions(&p.id).await?.iter().rev() {
            items.push(NamespaceItem {
                name: p.display_name.clone(),
                version: v.version.clone(),
                visibility: p.visibility,
                published_by: v.published_by.clone(),
                published_at: v.published_at,
                yanked: v.yanked,
                owned,
            });
        }
    }
    Ok(items)
}

async fn is_owner(app: &App, caller: &Principal, package_id: &str) -> AppResult<bool> {
    let owners = app.catalog.list_owners(package_id).await?;
    Ok(owners.iter().any(|o| {
        if o.is_group() {
            caller.in_group(&o.principal_id)
        } else {
            caller.user_id.as_deref() == Some(o.principal_id.as_str())
        }
    }))
}

pub async fn namespace_packages(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, prefix)): Path<(String, String)>,
    Query(q): Query<Page>,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let page = q.page.unwrap_or(1).max(1);
    let per_page = q.per_page.unwrap_or(50).clamp(1, 200);
    let items = namespace_items(&app, &caller, &reg, &prefix).await?;
    let total = items.len();
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|i| {
            json!({
                "name": i.name,
                "version": i.version,
                "visibility": i.visibility.as_str(),
                "published_by": i.published_by,
                "published_at": iso8601(i.published_at),
                "yanked": i.yanked,
                "owned": i.owned,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "total": total, "page": page, "per_page": per_page })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVisibility {
    pub visibility: String,
}

async fn package_of(app: &App, reg: &str, name: &str) -> AppResult<(std::sync::Arc<Registry>, PackageRow)> {
    let r = registry_of(app, reg)?.clone();
    let key = crate::ecosystems::normalize_name(r.kind, name)
        .ok_or_else(|| AppError::bad_request(format!("invalid package name `{name}`")))?;
    let p = app
        .catalog
        .get_package(reg, &key)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{name} not found in {reg}")))?;
    Ok((r, p))
}

pub async fn get_visibility(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, name)): Path<(String, String)>,
) -> AppResult<Response> {
    let caller = authenticated(&app, &headers).await?;
    let (_, p) = package_of(&app, &reg, &name).await?;
    let claim = app.claim_for(&reg, &p.name).await?;
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
    let req: SetVisibility =
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("invalid request body: {e}")))?;
    let (display, wanted) = change_visibility(&app, &caller, &reg, &name, &req.visibility).await?;
    Ok(Json(json!({ "registry": reg, "name": display, "visibility": wanted.as_str() })).into_response())
}

/// Change a package's visibility (the JSON API and the web UI both come
/// here); returns the package's display name and the new level.
pub async fn change_visibility(
    app: &App,
    caller: &Principal,
    reg: &str,
    name: &str,
    wanted: &str,
) -> AppResult<(String, Visibility)> {
    let wanted = Visibility::parse(wanted)
        .ok_or_else(|| AppError::bad_request(format!("unknown visibility `{wanted}`: public, internal or team")))?;
    let (_, p) = package_of(app, reg, name).await?;
    let claim = app.claim_for(reg, &p.name).await?;
    let group = claim.as_ref().map(|c| c.group_id.as_str());
    if !access::can_see(caller, p.visibility, group) {
        return Err(AppError::not_found(format!("{name} not found in {reg}")));
    }
    let owner = is_owner(app, caller, &p.id).await?;
    let member = group.is_some_and(|g| caller.in_group(g));
    if !(caller.is_admin() || member || owner) {
        return Err(AppError::forbidden(format!(
            "only admins, owners of {name} and members of its namespace group may change its visibility"
        )));
    }
    if wanted == Visibility::Team && claim.is_none() {
        return Err(AppError::conflict(format!(
            "{name} is under no namespace claim: team visibility needs a claiming group"
        )));
    }
    // Again inside the change's transaction: an owner removed meanwhile
    // (neither admin nor member) may no longer change it.
    let caller_owns =
        |owners: &[(bool, String)]| {
            owners.iter().any(|(is_group, id)| {
                if *is_group { caller.in_group(id) } else { caller.user_id.as_deref() == Some(id.as_str()) }
            })
        };
    let may_change = |owners: &[(bool, String)]| caller.is_admin() || member || caller_owns(owners);
    app.catalog.set_visibility(&p.id, wanted, &may_change).await?;
    tracing::info!(target: "batlehub::change", registry = reg, package = %p.display_name, visibility = wanted.as_str(), by = %caller.label(), "visibility");
    app.audit.record(crate::catalog::AuditEvent {
        at: crate::catalog::now_ms(),
        registry: Some(reg.to_string()),
        action: "visibility".into(),
        package: Some(p.display_name.clone()),
        version: None,
        principal: Some(caller.label()),
        outcome: "ok".into(),
        detail: Some(wanted.as_str().into()),
    });
    Ok((p.display_name, wanted))
}
