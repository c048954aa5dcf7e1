//! Configured registries and the machinery every ecosystem shares for local
//! packages: where a name is served from (members, local, upstream), who may
//! see and write it, and committing a publish (blobs first, rows second).
//!
//! Architecture invariant: nothing here knows an ecosystem's wire format.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::HeaderMap;

use crate::access::{self, Decision, Grants, Permission, Principal};
use crate::app::App;
use crate::blobs::PendingBlob;
use crate::catalog::{ClaimRow, FileRow, NewFile, NewVersion, PackageRow, PublishOutcome};
use crate::config::{CacheConfig, Mode, RegistryConfig};
use crate::ecosystems::Kind;
use crate::error::{AppError, AppResult};

/// One configured registry.
#[derive(Debug, Clone)]
pub struct Registry {
    pub name: String,
    pub kind: Kind,
    pub mode: Mode,
    pub upstreams: Vec<String>,
    pub members: Vec<String>,
    pub grants: Grants,
    pub cache: CacheConfig,
    /// Namespace claims from the configuration: `(prefix, group)`.
    pub config_claims: Vec<(String, String)>,
    /// This registry's metric handles, registered once.
    pub metrics: Arc<RegistryMetrics>,
}

/// Metric handles of one registry, made once so that the request path does
/// not build label sets and look them up for every response.
pub struct RegistryMetrics {
    name: String,
    requests: std::sync::RwLock<std::collections::HashMap<u16, metrics::Counter>>,
    pub seconds: metrics::Histogram,
    pub bytes: metrics::Counter,
    pub artifact_hits: metrics::Counter,
}

impl std::fmt::Debug for RegistryMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryMetrics").field("registry", &self.name).finish()
    }
}

impl RegistryMetrics {
    fn new(name: &str) -> RegistryMetrics {
        RegistryMetrics {
            name: name.to_string(),
            requests: Default::default(),
            seconds: metrics::histogram!("batlehub_request_seconds", "registry" => name.to_string()),
            bytes: metrics::counter!("batlehub_bytes_served_total", "registry" => name.to_string()),
            artifact_hits: metrics::counter!("batlehub_cache_total", "registry" => name.to_string(), "kind" => "artifact", "result" => "hit"),
        }
    }

    /// Count a response with `status`.
    pub fn request(&self, status: u16) {
        if let Ok(map) = self.requests.read()
            && let Some(c) = map.get(&status)
        {
            c.increment(1);
            return;
        }
        let counter = metrics::counter!("batlehub_requests_total", "registry" => self.name.clone(), "status" => status.to_string());
        counter.increment(1);
        if let Ok(mut map) = self.requests.write() {
            map.insert(status, counter);
        }
    }
}

impl Registry {
    pub fn from_config(c: &RegistryConfig) -> Registry {
        Registry {
            name: c.name.clone(),
            kind: c.kind,
            mode: c.mode,
            upstreams: c.upstreams.clone(),
            members: c.members.clone(),
            grants: c.grants(),
            cache: c.cache.clone(),
            config_claims: c.namespaces.iter().map(|n| (n.prefix.clone(), access::normalize_group(&n.group))).collect(),
            metrics: Arc::new(RegistryMetrics::new(&c.name)),
        }
    }
}

/// Everything a handler needs about the request it serves.
#[derive(Clone)]
pub struct RequestCtx {
    pub app: App,
    pub registry: Arc<Registry>,
    pub principal: Principal,
    /// The public base URL of the server, without a trailing slash.
    pub base: String,
}

impl RequestCtx {
    /// `{base}/proxy/{registry}`: every URL this registry serves starts here.
    pub fn registry_base(&self) -> String {
        format!("{}/proxy/{}", self.base, self.registry.name)
    }

    /// The registry-level permission check, done before any I/O.
    pub fn require(&self, wanted: Permission) -> AppResult<()> {
        require_on(&self.principal, &self.registry, wanted)
    }

    pub fn require_local_mode(&self) -> AppResult<()> {
        if self.registry.mode.has_local() { Ok(()) } else { Err(AppError::not_local_mode()) }
    }
}

pub fn require_on(principal: &Principal, registry: &Registry, wanted: Permission) -> AppResult<()> {
    match access::decide(principal, &registry.grants, wanted) {
        Decision::Allow => Ok(()),
        Decision::Unauthenticated => Err(AppError::Unauthenticated),
        Decision::Forbidden => Err(AppError::forbidden(format!(
            "{} does not have {wanted} on registry {}",
            principal.label(),
            registry.name
        ))),
    }
}

/// The public base URL: `public_url` when configured, else the request's
/// `Host` (and `X-Forwarded-Host` / `X-Forwarded-Proto`, believed only from
/// `trusted_proxies`).
pub fn public_base(app: &App, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    if let Some(url) = &app.config.server.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let trusted = peer.is_some_and(|p| app.config.server.trusted_proxies.iter().any(|net| net.contains(&p.ip())));
    let header = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.split(',').next().unwrap_or("").trim().to_string())
    };
    let host = trusted
        .then(|| header("x-forwarded-host"))
        .flatten()
        .or_else(|| header("host"))
        .filter(|h| valid_host(h))
        .unwrap_or_else(|| format!("{}:{}", app.config.server.host, app.config.server.port));
    let scheme = trusted
        .then(|| header("x-forwarded-proto"))
        .flatten()
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".to_string());
    format!("{scheme}://{host}")
}

/// A `Host` value safe to write into documents.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Where a package name is read from (short-lived, one per request).
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// A local registry (this one or a member) owns the name. The package row
    /// is absent when only a namespace claim covers the name: it is then not
    /// found, and never looked up upstream.
    Local { registry: Arc<Registry>, package: Option<PackageRow>, claim: Option<ClaimRow> },
    /// Nobody local owns the name: the upstreams serve it.
    Upstream,
}

/// Every namespace claim of `registry`: the configuration's, then the
/// catalog's (claims made through the admin API).
pub async fn claims(app: &App, registry: &str) -> AppResult<Vec<ClaimRow>> {
    let mut out: Vec<ClaimRow> = app
        .registries
        .get(registry)
        .map(|r| {
            r.config_claims
                .iter()
                .map(|(prefix, group)| ClaimRow {
                    registry: registry.to_string(),
                    prefix: prefix.clone(),
                    group_id: group.clone(),
                    claimed_by: Some("config".into()),
                    created_at: 0,
                })
                .collect()
        })
        .unwrap_or_default();
    for c in app.catalog.list_claims(registry).await? {
        if !out.iter().any(|o| o.prefix == c.prefix) {
            out.push(c);
        }
    }
    Ok(out)
}

/// The claim covering `name` in `registry`, if any.
pub async fn claim_for(app: &App, registry: &str, name: &str) -> AppResult<Option<ClaimRow>> {
    let claims = claims(app, registry).await?;
    let pairs: Vec<(String, String)> = claims.iter().map(|c| (c.prefix.clone(), c.group_id.clone())).collect();
    let best = access::longest_claim(name, &pairs).map(|(prefix, _)| prefix.clone());
    Ok(best.and_then(|prefix| claims.into_iter().find(|c| c.prefix == prefix)))
}

/// Decide where `name` (the normalised catalog key) is served from: members
/// first, then this registry's own local packages, then its upstreams. A
/// name that exists locally or falls under a claimed namespace never goes
/// upstream (no dependency confusion).
pub async fn resolve_source(ctx: &RequestCtx, name: &str) -> AppResult<Source> {
    let mut candidates: Vec<Arc<Registry>> = Vec::new();
    for m in &ctx.registry.members {
        if let Some(r) = ctx.app.registries.get(m) {
            candidates.push(Arc::clone(r));
        }
    }
    if ctx.registry.mode.has_local() {
        candidates.push(Arc::clone(&ctx.registry));
    }
    for reg in candidates {
        let package = ctx.app.catalog.get_package(&reg.name, name).await?;
        let claim = claim_for(&ctx.app, &reg.name, name).await?;
        if package.is_some() || claim.is_some() {
            return Ok(Source::Local { registry: reg, package, claim });
        }
    }
    if ctx.registry.mode == Mode::Local || ctx.registry.upstreams.is_empty() {
        return Ok(Source::Local { registry: Arc::clone(&ctx.registry), package: None, claim: None });
    }
    Ok(Source::Upstream)
}

/// Where a package (by its catalog key) is read from, with read access
/// checked: `Some((registry, package))` for a local package the caller may
/// see, `None` when the upstreams serve the name, a 404 when a local registry
/// owns the name but holds nothing (a claim, an unpublished name).
pub async fn read_local(
    ctx: &RequestCtx,
    key: &str,
    display: &str,
    wanted: Permission,
) -> AppResult<Option<(Arc<Registry>, PackageRow)>> {
    match resolve_source(ctx, key).await? {
        Source::Upstream => Ok(None),
        Source::Local { registry, package: Some(package), claim } => {
            check_local_read(ctx, &registry, &package, claim.as_ref(), wanted)?;
            Ok(Some((registry, package)))
        }
        Source::Local { registry, package: None, .. } => {
            if registry.name != ctx.registry.name {
                require_on(&ctx.principal, &registry, wanted)?;
            }
            Err(AppError::not_found(format!("{display} not found")))
        }
    }
}

/// Record a refused request in the audit trail (batched): forbidden
/// requests, and writes attempted without credentials.
pub fn audit_denied(ctx: &RequestCtx, err: &AppError, is_write: bool, action: &str, package: Option<String>) {
    if matches!(err, AppError::Forbidden(_)) || (is_write && matches!(err, AppError::Unauthenticated)) {
        ctx.app.audit.record(crate::catalog::AuditEvent {
            at: crate::catalog::now_ms(),
            registry: Some(ctx.registry.name.clone()),
            action: action.to_string(),
            package,
            version: None,
            principal: Some(ctx.principal.label()),
            outcome: "denied".into(),
            detail: Some(err.to_string()),
        });
    }
}

/// The package `key` of this very registry (never a member's), and the claim
/// covering it: what a write is checked against.
pub async fn own_package(ctx: &RequestCtx, key: &str) -> AppResult<(Option<PackageRow>, Option<ClaimRow>)> {
    let package = ctx.app.catalog.get_package(&ctx.registry.name, key).await?;
    let claim = claim_for(&ctx.app, &ctx.registry.name, key).await?;
    Ok((package, claim))
}

/// An upstream artifact fetch for this registry, with its limits and client.
pub fn artifact_fetch(
    ctx: &RequestCtx,
    key: String,
    url: String,
    expected: Option<crate::upstream::artifacts::ExpectedDigest>,
    content_type: &str,
) -> crate::upstream::artifacts::ArtifactFetch {
    crate::upstream::artifacts::ArtifactFetch {
        registry: ctx.registry.name.clone(),
        key,
        url,
        expected,
        client: ctx.app.upstream.artifact_client_for(&ctx.registry.name).clone(),
        limit: ctx.app.config.limits.max_artifact_size_bytes,
        verify_before_serve: ctx.registry.cache.verify_before_serve_bytes,
        default_content_type: content_type.to_string(),
    }
}

/// Record a successful change in the audit trail (batched).
pub fn audit_ok(ctx: &RequestCtx, action: &str, package: &str, version: Option<&str>) {
    ctx.app.audit.record(crate::catalog::AuditEvent {
        at: crate::catalog::now_ms(),
        registry: Some(ctx.registry.name.clone()),
        action: action.into(),
        package: Some(package.to_string()),
        version: version.map(str::to_string),
        principal: Some(ctx.principal.label()),
        outcome: "ok".into(),
        detail: None,
    });
}

/// Check that the caller may read a local package: `wanted` on the registry
/// that holds it (a member has its own grants) and the package's visibility.
/// An invisible package answers like a missing one (404), or 401 to the
/// anonymous caller.
pub fn check_local_read(
    ctx: &RequestCtx,
    registry: &Registry,
    package: &PackageRow,
    claim: Option<&ClaimRow>,
    wanted: Permission,
) -> AppResult<()> {
    if registry.name != ctx.registry.name {
        require_on(&ctx.principal, registry, wanted)?;
    }
    if access::can_see(&ctx.principal, package.visibility, claim.map(|c| c.group_id.as_str())) {
        return Ok(());
    }
    match access::hidden_decision(&ctx.principal) {
        Decision::Unauthenticated => Err(AppError::Unauthenticated),
        _ => Err(AppError::not_found(format!("{} not found", package.display_name))),
    }
}

/// Check that the caller may publish to, tag, deprecate or unpublish a
/// package (ownership, namespace claim, admin).
pub async fn check_package_write(
    ctx: &RequestCtx,
    package: Option<&PackageRow>,
    claim: Option<&ClaimRow>,
    display: &str,
) -> AppResult<()> {
    let owners = match package {
        Some(p) => ctx.app.catalog.list_owners(&p.id).await?,
        None => Vec::new(),
    };
    let owners: Vec<(bool, String)> = owners.iter().map(|o| (o.is_group(), o.principal_id.clone())).collect();
    if access::may_write_package(&ctx.principal, package.is_some(), &owners, claim.map(|c| c.group_id.as_str())) {
        return Ok(());
    }
    ctx.app.audit.record(crate::catalog::AuditEvent {
        at: crate::catalog::now_ms(),
        registry: Some(ctx.registry.name.clone()),
        action: "write".into(),
        package: Some(display.to_string()),
        version: None,
        principal: Some(ctx.principal.label()),
        outcome: "denied".into(),
        detail: Some("not an owner or namespace member".into()),
    });
    // Under a claim the answer is the same whether the package exists or not,
    // so a refused write never reveals a package the caller may not see.
    Err(match claim {
        Some(c) => AppError::forbidden(format!(
            "{display} is in the namespace {} claimed by group {}; you are not a member",
            c.prefix, c.group_id
        )),
        None => AppError::forbidden(format!("you do not own {display}")),
    })
}

/// A file of a publish, written to a temporary blob and checked.
pub struct PublishFile {
    pub filename: String,
    pub pending: PendingBlob,
    pub content_type: String,
    pub metadata: String,
}

/// Commit a publish: blobs under their content address first, then every row
/// in one transaction. If the rows cannot be written (a conflict, say), blobs
/// this publish added and nothing references are removed again, so neither a
/// row without its blob nor a blob without its row is left.
pub async fn commit_publish(
    app: &App,
    mut version: NewVersion,
    files: Vec<PublishFile>,
    first_owner: Option<&str>,
) -> AppResult<PublishOutcome> {
    let mut added = Vec::new();
    version.files.clear();
    for f in files {
        let committed = app.blobs.commit(f.pending).await?;
        if committed.newly_stored {
            added.push(committed.digests.sha256.clone());
        }
        version.files.push(NewFile {
            filename: f.filename,
            blob: committed.digests,
            content_type: f.content_type,
            metadata: f.metadata,
        });
    }
    match app.catalog.publish_version(&version, first_owner).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            for sha in added {
                if let Ok(false) = app.catalog.blob_referenced(&sha).await {
                    let _ = app.blobs.delete(&sha).await;
                }
            }
            Err(e.into())
        }
    }
}

/// Remove the blobs of deleted files that nothing references any more.
pub async fn release_blobs(app: &App, files: &[FileRow]) {
    for f in files {
        match app.catalog.blob_referenced(&f.sha256).await {
            Ok(false) => {
                if let Err(e) = app.blobs.delete(&f.sha256).await {
                    tracing::warn!(sha256 = %f.sha256, error = %e, "could not delete an unreferenced blob");
                }
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(sha256 = %f.sha256, error = %e, "could not check blob references"),
        }
    }
}
