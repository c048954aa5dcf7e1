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
use crate::rules::{Caller, Denial, Release, rfc3339};

/// An upstream package's versions as a caller's rules judge them: each
/// release with every rule's answer, newest first.
pub struct Judged {
    pub key: String,
    pub releases: Vec<(Release, Outcomes)>,
}

/// Every rule's answer for one version, in order.
pub type Outcomes = Vec<(&'static str, Result<(), Denial>)>;

impl Judged {
    pub fn allowed(outcomes: &[(&'static str, Result<(), Denial>)]) -> bool {
        outcomes.iter().all(|(_, o)| o.is_ok())
    }
}

/// Judge the upstream versions of `name` in `registry` for `principal`:
/// refused like a read of the package (the registry's read permission), a
/// local package (rules do not apply to it) is a 400 and a name the
/// registry owns (claimed, or invisible) is never asked of an upstream.
pub async fn judge_upstream(
    app: &App,
    registry: &std::sync::Arc<crate::registry::Registry>,
    principal: &crate::access::Principal,
    base: String,
    name: &str,
) -> AppResult<Judged> {
    crate::registry::require_on(principal, registry, Permission::ReleasesRead)?;
    let reg = &registry.name;
    if !registry.mode.has_upstream() {
        return Err(AppError::bad_request(format!("{reg} is a local registry: rules apply to upstream versions")));
    }
    let key = ecosystems::normalize_name(registry.kind, name)
        .ok_or_else(|| AppError::bad_request(format!("`{name}` is not a {} package name", registry.kind)))?;
    let ctx = ecosystems::request_ctx(app.clone(), registry.clone(), principal.clone(), base);
    if ctx.read_local(&key, name, Permission::ReleasesRead).await?.is_some() {
        return Err(AppError::bad_request(format!("{name} is published to {reg}: rules apply to upstream versions")));
    }
    let mut releases = ecosystems::upstream_releases(&ctx, name).await?;
    let order = registry.version_order;
    releases.sort_by(|a, b| order(&b.version, &a.version));
    let caller = Caller { groups: &principal.groups, admin: principal.is_admin() };
    let now = now_ms();
    let judged = releases
        .into_iter()
        .map(|r| {
            let outcomes = registry.rules.explain(&r.candidate(&key), &caller, now);
            (r, outcomes)
        })
        .collect();
    Ok(Judged { key, releases: judged })
}

pub async fn simulate(
    State(app): State<App>,
    headers: HeaderMap,
    Path((reg, name, version)): Path<(String, String, String)>,
) -> AppResult<Response> {
    let principal = app.identity.resolve(&headers).await?;
    let registry =
        app.registries.get(&reg).cloned().ok_or_else(|| AppError::not_found(format!("no registry named {reg}")))?;
    let base = crate::http::public_base(&app.config.server, &headers, None);
    let judged = judge_upstream(&app, &registry, &principal, base, &name).await?;
    let (release, outcomes) =
        judged.releases.iter().find(|(r, _)| r.version == version).ok_or_else(|| {
            AppError::not_found(format!("the upstreams of {reg} list no version {version} of {name}"))
        })?;
    let rules: Vec<Value> = outcomes
        .iter()
        .map(|(rule, outcome)| match outcome {
            Ok(()) => json!({"type": rule, "allowed": true}),
            Err(d) => json!({
                "type": rule,
                "allowed": false,
                "reason": d.message,
                "available_at": d.available_at.map(rfc3339),
                "advisories": d.advisories,
            }),
        })
        .collect();
    Ok(ok_json(json!({
        "registry": reg,
        "package": judged.key,
        "version": version,
        "published_at": release.published_at.map(rfc3339),
        "licence": release.licence,
        "allowed": Judged::allowed(outcomes),
        "rules": rules,
    })))
}

/// What one advisories rule holds now.
fn advisories_status(rule: &crate::rules::AdvisoryRule) -> Value {
    let index = rule.data.get();
    json!({
        "source": rule.source.to_string(),
        "refresh_seconds": rule.refresh_ms / 1000,
        "min_severity": rule.min_severity.map(|s| s.as_str()),
        "records": index.records,
        "packages": index.packages(),
        "unreadable": index.unreadable,
        "read_at": index.loaded_at.map(rfc3339),
    })
}

fn advisories_registry(app: &App, reg: &str) -> AppResult<std::sync::Arc<crate::registry::Registry>> {
    app.registries.get(reg).cloned().ok_or_else(|| AppError::not_found(format!("no registry named {reg}")))
}

/// `GET /api/v1/admin/registries/{registry}/advisories`: each advisories
/// rule's source and what was read from it.
pub async fn advisories(State(app): State<App>, headers: HeaderMap, Path(reg): Path<String>) -> AppResult<Response> {
    super::require_admin(&super::authenticated(&app, &headers).await?)?;
    let registry = advisories_registry(&app, &reg)?;
    let rules: Vec<Value> = registry.rules.advisories().map(advisories_status).collect();
    Ok(ok_json(json!({"registry": reg, "advisories": rules})))
}

/// `POST /api/v1/admin/registries/{registry}/advisories/refresh`: every
/// advisories rule's source read now (not waiting for its `refresh`). A
/// source that cannot be read answers 502 (the last data read stays).
pub async fn refresh_advisories(
    State(app): State<App>,
    headers: HeaderMap,
    Path(reg): Path<String>,
) -> AppResult<Response> {
    super::require_admin(&super::authenticated(&app, &headers).await?)?;
    let registry = advisories_registry(&app, &reg)?;
    if registry.rules.advisories().next().is_none() {
        return Err(AppError::bad_request(format!("{reg} has no advisories rule")));
    }
    let client = crate::upstream::control_client(None).map_err(|e| AppError::internal(format!("{e:#}")))?;
    let mut rules = Vec::new();
    for rule in registry.rules.advisories() {
        if let Err(e) = crate::upstream::advisories::refresh(rule, &client).await {
            tracing::warn!(registry = %reg, source = %rule.source, error = %format!("{e:#}"), "advisories could not be read; the last ones read stay in force");
            return Err(AppError::Upstream(format!("reading the advisories of {}: {e:#}", rule.source)));
        }
        rules.push(advisories_status(rule));
    }
    Ok(ok_json(json!({"registry": reg, "advisories": rules})))
}
