//! Configured registries and the rules every ecosystem shares for local
//! packages: where a name is served from (members, local, upstream), who may
//! see and write it, and committing a publish (blobs first, rows second).
//!
//! Architecture invariants: nothing here knows an ecosystem's wire format,
//! and nothing here knows the application or a request: every function is
//! given the catalog, the blob store and the caller it needs.

pub mod rate;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;

pub use self::view::{LocalViews, PackageView, RegistryListing};

use crate::access::{self, Decision, Grants, Permission, Principal};
use crate::blobs::{BlobStore, PendingBlob};
use crate::catalog::{Catalog, ClaimRow, NewFile, NewVersion, PackageRow, PublishOutcome};
use crate::config::{CacheConfig, Mode, RegistryConfig};
use crate::error::{AppError, AppResult};
use crate::kinds::Kind;

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
    /// Names an upstream serves that may be published here anyway (the
    /// configuration's `allow_upstream_names`, as catalog keys).
    pub allowed_names: std::collections::HashSet<String>,
    /// The type's own settings (`[registries.options]`), checked by its
    /// ecosystem when the configuration was loaded.
    pub options: toml::Table,
    /// Request rate limits, when configured.
    pub rate: Option<Arc<rate::RateLimits>>,
    /// `[registries.limits]` as configured (the publish quotas).
    pub limits: crate::config::LimitsConfigOfRegistry,
    /// Supply-chain rules (`[[registries.rules]]`), parsed.
    pub rules: Arc<crate::rules::RuleSet>,
    /// The type's version order, oldest first.
    pub version_order: crate::config::VersionOrder,
    /// Every claim (configured and catalog) as last read, at which
    /// generation of the registry ([`Catalog::generation`]).
    claims_cache: Arc<std::sync::Mutex<Option<CachedClaims>>>,
}

/// The registry generation claims were read at, and the claims.
type CachedClaims = (u64, Vec<ClaimRow>);

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
        // The documented series exist from start-up, at 0.
        metrics::counter!("batlehub_upstream_errors_total", "registry" => name.to_string()).increment(0);
        metrics::counter!("batlehub_rate_limited_total", "registry" => name.to_string()).increment(0);
        metrics::counter!("batlehub_cache_evictions_total", "registry" => name.to_string()).increment(0);
        for kind in ["document", "artifact"] {
            for result in ["hit", "miss"] {
                metrics::counter!("batlehub_cache_total", "registry" => name.to_string(), "kind" => kind, "result" => result)
                    .increment(0);
            }
        }
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
            allowed_names: c.allow_upstream_names.iter().cloned().collect(),
            options: c.options.clone(),
            rate: rate::RateLimits::new(&c.limits).map(Arc::new),
            limits: c.limits.clone(),
            rules: Arc::clone(&c.rule_set),
            version_order: c.version_order,
            claims_cache: Arc::default(),
        }
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

/// The configured registries by name.
pub type Registries = HashMap<String, Arc<Registry>>;

/// Where a package name is read from (short-lived, one per request).
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// A local registry (this one or a member) owns the name. The package row
    /// is absent when only a namespace claim covers the name: it is then not
    /// found, and never looked up upstream.
    Local { registry: Arc<Registry>, view: Arc<PackageView>, claim: Option<ClaimRow> },
    /// Nobody local owns the name: the upstreams serve it.
    Upstream,
}

/// Every namespace claim of `registry`: the configuration's, then the
/// catalog's (claims made through the admin API).
pub async fn claims(catalog: &Catalog, registry: &Registry) -> AppResult<Vec<ClaimRow>> {
    // A claim made through this process applies at once; one made through
    // another, within `CHANGE_BOUND` (the registry's generation changes).
    let generation = catalog.generation(&registry.name);
    if let Some(g) = generation
        && let Ok(cache) = registry.claims_cache.lock()
        && let Some((seen, claims)) = cache.as_ref()
        && *seen == g
    {
        return Ok(claims.clone());
    }
    let mut out: Vec<ClaimRow> = registry
        .config_claims
        .iter()
        .map(|(prefix, group)| ClaimRow {
            registry: registry.name.clone(),
            prefix: prefix.clone(),
            group_id: group.clone(),
            claimed_by: Some("config".into()),
            claimed_via: "config".into(),
            created_at: 0,
        })
        .collect();
    for c in catalog.list_claims(&registry.name).await? {
        if !out.iter().any(|o| o.prefix == c.prefix) {
            out.push(c);
        }
    }
    if let Some(g) = generation
        && let Ok(mut cache) = registry.claims_cache.lock()
    {
        *cache = Some((g, out.clone()));
    }
    Ok(out)
}

/// The claim among `claims` covering `name` (the longest prefix), if any.
pub fn covering(claims: &[ClaimRow], name: &str) -> Option<ClaimRow> {
    claims.iter().filter(|c| access::claim_covers(&c.prefix, name)).max_by_key(|c| c.prefix.len()).cloned()
}

/// The claim covering `name` in `registry`, if any.
pub async fn claim_for(catalog: &Catalog, registry: &Registry, name: &str) -> AppResult<Option<ClaimRow>> {
    Ok(covering(&claims(catalog, registry).await?, name))
}

/// Decide where `name` (the normalised catalog key) is served from for a
/// request to `registry`: members first, then its own local packages, then
/// its upstreams. A name that exists locally or falls under a claimed
/// namespace never goes upstream (no dependency confusion).
pub async fn resolve_source(
    catalog: &Catalog,
    views: &LocalViews,
    registries: &Registries,
    registry: &Arc<Registry>,
    name: &str,
) -> AppResult<Source> {
    let members = registry.members.iter().filter_map(|m| registries.get(m));
    let own = registry.mode.has_local().then_some(registry);
    let mut last = None;
    for reg in members.chain(own) {
        let view = views.get(catalog, &reg.name, name).await?;
        let claim = claim_for(catalog, reg, name).await?;
        if view.package.is_some() || claim.is_some() {
            return Ok(Source::Local { registry: Arc::clone(reg), view, claim });
        }
        last = Some(view);
    }
    let none = || Arc::new(PackageView::absent());
    // A proxy's own claims reserve names too: a claimed name is never
    // fetched from its upstreams.
    if !registry.mode.has_local()
        && let Some(claim) = claim_for(catalog, registry, name).await?
    {
        return Ok(Source::Local { registry: Arc::clone(registry), view: none(), claim: Some(claim) });
    }
    if registry.mode == Mode::Local || registry.upstreams.is_empty() {
        let view = last.unwrap_or_else(none);
        return Ok(Source::Local { registry: Arc::clone(registry), view, claim: None });
    }
    Ok(Source::Upstream)
}

/// Check that the caller may read a local package: `wanted` on the registry
/// that holds it (a member has its own grants) and the package's visibility.
/// An invisible package answers like a missing one (404), or 401 to the
/// anonymous caller.
pub fn check_local_read(
    principal: &Principal,
    serving: &Registry,
    holder: &Registry,
    package: &PackageRow,
    claim: Option<&ClaimRow>,
    wanted: Permission,
) -> AppResult<()> {
    if holder.name != serving.name {
        require_on(principal, holder, wanted)?;
    }
    if access::can_see(principal, package.visibility, claim.map(|c| c.group_id.as_str())) {
        return Ok(());
    }
    match access::hidden_decision(principal) {
        Decision::Unauthenticated => Err(AppError::Unauthenticated),
        _ => Err(AppError::not_found(format!("{} not found", package.display_name))),
    }
}

/// Check that `principal` may publish to, tag, deprecate or unpublish a
/// package (ownership, namespace claim, admin). Under a claim the answer is
/// the same whether the package exists or not, so a refused write never
/// reveals a package the caller may not see.
pub async fn check_package_write(
    catalog: &Catalog,
    principal: &Principal,
    package: Option<&PackageRow>,
    claim: Option<&ClaimRow>,
    display: &str,
) -> AppResult<()> {
    let owners = match package {
        Some(p) => catalog.list_owners(&p.id).await?,
        None => Vec::new(),
    };
    let owners: Vec<(bool, String)> = owners.iter().map(|o| (o.is_group(), o.principal_id.clone())).collect();
    if access::may_write_package(principal, package.is_some(), &owners, claim.map(|c| c.group_id.as_str())) {
        return Ok(());
    }
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

/// Commit a publish by `principal` (the first owner of a new package): blobs
/// under their content address first (each leased in the catalog before it
/// is stored), then every row in one transaction, where the write check runs
/// again if the package exists by then (`claim` is the namespace claim
/// covering it). If the rows cannot be written (a conflict, a refusal),
/// nothing is deleted here: a concurrent publish of the same bytes may have
/// just referenced the blob. Blobs nothing references are removed by the
/// garbage collector once their lease is older than the grace period
/// (`blobs::collect_garbage`).
pub async fn commit_publish(
    blobs: &BlobStore,
    catalog: &Catalog,
    registry: &Registry,
    principal: &Principal,
    claim: Option<&ClaimRow>,
    mut version: NewVersion,
    files: Vec<PublishFile>,
) -> AppResult<PublishOutcome> {
    let quotas = publish_quotas(catalog, registry, principal, claim).await?;
    version.files.clear();
    for f in files {
        let committed = blobs.commit(f.pending).await?;
        version.files.push(NewFile {
            filename: f.filename,
            blob: committed.digests,
            content_type: f.content_type,
            metadata: f.metadata,
        });
    }
    // The write check again, inside the transaction, for a package that
    // appeared since the caller's check (a concurrent first publish).
    let claim_group = claim.map(|c| c.group_id.as_str());
    let may_write = |owners: &[(bool, String)]| access::may_write_package(principal, true, owners, claim_group);
    Ok(catalog.publish_version(&version, principal.user_id.as_deref(), &may_write, &quotas).await?)
}

/// The quotas a publish by `principal` counts against (`[registries.limits]`
/// `user_quota`, and the `group_quotas` entry of the group whose claim covers
/// the package: everything under that group's prefixes here). Admins have
/// none.
async fn publish_quotas(
    catalog: &Catalog,
    registry: &Registry,
    principal: &Principal,
    claim: Option<&ClaimRow>,
) -> AppResult<Vec<crate::catalog::Quota>> {
    use crate::catalog::{Quota, QuotaScope};
    let mut quotas = Vec::new();
    if principal.is_admin() {
        return Ok(quotas);
    }
    if let (Some(q), Some(user)) = (&registry.limits.user_quota, &principal.user_id) {
        quotas.push(Quota {
            holder: user.clone(),
            scope: QuotaScope::Publisher(user.clone()),
            versions: q.versions,
            bytes: q.bytes,
        });
    }
    if let Some(c) = claim
        && let Some((group, q)) =
            registry.limits.group_quotas.iter().find(|(g, _)| access::normalize_group(g) == c.group_id)
    {
        let prefixes: Vec<String> = claims(catalog, registry)
            .await?
            .into_iter()
            .filter(|o| o.group_id == c.group_id)
            .map(|o| o.prefix)
            .collect();
        quotas.push(Quota {
            holder: format!("group {group}"),
            scope: QuotaScope::Prefixes(prefixes),
            versions: q.versions,
            bytes: q.bytes,
        });
    }
    Ok(quotas)
}
