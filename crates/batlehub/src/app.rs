//! The application: everything a request may need, built once from the
//! configuration, plus the background loops that batch writes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::blobs::BlobStore;
use crate::catalog::Catalog;
use crate::catalog::ClaimRow;
use crate::catalog::audit::Auditor;
use crate::config::Config;
use crate::error::AppResult;
use crate::http::RenderedCache;
use crate::identity::Identity;
use crate::registry::{self, LocalViews, Registries, Registry};
use crate::upstream::Upstream;
use crate::upstream::artifacts::{ArtifactCache, Evicted};
use crate::upstream::derived::ParsedCache;
use crate::upstream::documents::DocumentCache;

pub type App = Arc<AppState>;

pub struct AppState {
    pub config: Config,
    pub catalog: Catalog,
    pub blobs: BlobStore,
    pub identity: Arc<Identity>,
    pub upstream: Upstream,
    pub documents: Arc<DocumentCache>,
    pub artifacts: Arc<ArtifactCache>,
    /// Upstream documents parsed once per fetched body.
    pub parsed: ParsedCache,
    /// Documents derived from upstream bodies (rewritten packuments, simple
    /// pages, index validators), rendered once per input.
    pub rendered: RenderedCache,
    pub registries: Registries,
    /// Local packages as last read, while their registry is unchanged.
    pub views: LocalViews,
    pub audit: Auditor,
    /// What the rules allow of each upstream listing, per class of caller.
    pub judgements: JudgementCache,
    pub release_facts: ReleaseFacts,
}

/// The listings' judgements remembered, by a hash of (registry, caller
/// class, rules' data generation, the candidates): bounded in bytes.
pub type JudgementCache = moka::sync::Cache<u64, Arc<crate::rules::Judgement>>;

/// How much memory the remembered judgements may hold.
pub const JUDGEMENT_CACHE_BYTES: u64 = 32 << 20;

pub fn judgement_cache() -> JudgementCache {
    moka::sync::Cache::builder()
        .max_capacity(JUDGEMENT_CACHE_BYTES)
        .weigher(|_k: &u64, v: &Arc<crate::rules::Judgement>| v.weight())
        .build()
}

/// The upstream release each file checked by the rules belongs to (its
/// version, time and licence), by a hash of (registry, file): a cached
/// file's next download is judged without reading its listing again.
pub type ReleaseFacts = moka::sync::Cache<u64, Arc<(String, crate::rules::Release)>>;

/// How much memory the remembered releases may hold.
pub const RELEASE_FACTS_BYTES: u64 = 16 << 20;

pub fn release_facts() -> ReleaseFacts {
    moka::sync::Cache::builder()
        .max_capacity(RELEASE_FACTS_BYTES)
        .weigher(|_k: &u64, r: &Arc<(String, crate::rules::Release)>| {
            let (name, r) = r.as_ref();
            u32::try_from(name.len() + r.version.len() + r.licence.as_ref().map_or(0, String::len) + 96)
                .unwrap_or(u32::MAX)
        })
        .build()
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Histogram buckets of every timing, in seconds.
const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// `# HELP` for every series BatleHub exports.
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!("batlehub_requests_total", "Registry requests (under /proxy/), by registry and status");
    describe_histogram!(
        "batlehub_request_seconds",
        Unit::Seconds,
        "Time to answer a registry request (until its headers), by registry"
    );
    describe_counter!("batlehub_bytes_served_total", Unit::Bytes, "Artifact bytes served, by registry");
    describe_counter!(
        "batlehub_cache_total",
        "Cache lookups by registry, kind (document, artifact) and result (hit, miss, revalidated, stale)"
    );
    describe_histogram!(
        "batlehub_upstream_request_seconds",
        Unit::Seconds,
        "Upstream fetches, by registry and kind (document, artifact)"
    );
    describe_counter!(
        "batlehub_upstream_errors_total",
        "Upstream fetches that failed (refused, unreachable, bad status, integrity), by registry"
    );
    describe_counter!(
        "batlehub_upstream_negative_hits_total",
        "Requests answered from a remembered upstream 404, by registry"
    );
    describe_counter!("batlehub_argon2_verifications_total", "Static tokens checked against an Argon2 hash");
    describe_counter!(
        "batlehub_cache_evictions_total",
        "Cached upstream artifacts forgotten by a registry's cache limits, by registry"
    );
    metrics::describe_gauge!(
        "batlehub_cache_bytes",
        Unit::Bytes,
        "Bytes of cached upstream artifacts, by registry (as of the last eviction pass)"
    );
    describe_counter!(
        "batlehub_rate_limited_total",
        "Registry requests refused with 429 for going over the registry's rate limit, by registry"
    );
    describe_counter!(
        "batlehub_http_requests_total",
        "Every HTTP request, by surface (proxy, api, ui, ops) and status"
    );
    describe_histogram!(
        "batlehub_http_request_seconds",
        Unit::Seconds,
        "Time to answer a request of the web UI, the JSON API or the operational endpoints, by surface"
    );
}

/// The process-wide metrics recorder (installed once, shared by every app in
/// the process, as tests run several).
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        // Timings are histograms (buckets aggregate across replicas and do
        // not decay to 0 when idle, as summaries' quantiles do).
        let builder = PrometheusBuilder::new();
        let builder = builder.set_buckets(LATENCY_BUCKETS).unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        describe_metrics();
        handle
    })
}

impl AppState {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        prometheus();
        crate::tls::install_crypto_provider();
        let catalog = Catalog::connect(&config.database.url, config.database.max_connections)
            .await
            .with_context(|| format!("opening the catalog at {}", config.database.url))?;
        let limits = &config.limits;
        let blobs = BlobStore::open(&config.storage)
            .await
            .with_context(|| format!("opening the blob store at {}", config.storage.path.display()))?
            .with_hot_cache_bytes(limits.blob_cache_bytes)
            .with_leases(catalog.clone());
        let identity = Arc::new(Identity::new(&config, catalog.clone())?);
        // Nothing made in the name of a static identity that is gone, or
        // lost its role, is served: checked before the first request.
        let reconciled = identity.reconcile().await.context("invalidating tokens of removed identities")?;
        if reconciled != crate::identity::Reconciled::default() {
            tracing::warn!(
                tokens = reconciled.tokens,
                legacy_tokens = reconciled.legacy_tokens,
                sessions = reconciled.sessions,
                "revoked tokens and ended sessions whose identity is gone from the configuration, lost its role, or predates provider-scoped user ids"
            );
        }
        let upstream = Upstream::new(&config)?;
        let documents =
            Arc::new(DocumentCache::new(blobs.clone(), limits.max_document_size_bytes, limits.document_cache_bytes));
        let artifacts = Arc::new(ArtifactCache::new(blobs.clone(), catalog.clone(), limits.artifact_index_bytes));
        let parsed = ParsedCache::new(limits.parsed_cache_bytes);
        let rendered = RenderedCache::new(limits.rendered_cache_bytes);
        let registries =
            config.registries.iter().map(|r| (r.name.clone(), Arc::new(Registry::from_config(r)))).collect();
        let views = LocalViews::new(limits.local_view_bytes);
        // Views are used only once the change counters have been read.
        if let Err(e) = catalog.poll_changes().await {
            tracing::warn!(error = %e, "cannot read the catalog's change counters yet");
        }
        let app = Arc::new(AppState {
            config,
            catalog,
            blobs,
            identity,
            upstream,
            documents,
            artifacts,
            registries,
            parsed,
            rendered,
            views,
            audit: Auditor::default(),
            judgements: judgement_cache(),
            release_facts: release_facts(),
        });
        spawn_change_poller(Arc::downgrade(&app));
        spawn_flusher(Arc::downgrade(&app));
        spawn_collector(Arc::downgrade(&app));
        let rule_sets: Vec<(String, Arc<crate::rules::RuleSet>)> =
            app.config.registries.iter().map(|r| (r.name.clone(), Arc::clone(&r.rule_set))).collect();
        if rule_sets.iter().any(|(_, rules)| rules.advisories().next().is_some()) {
            let client = crate::upstream::control_client(None)?;
            crate::upstream::advisories::start(&rule_sets, &client, &Arc::downgrade(&app)).await?;
        }
        Ok(app)
    }

    /// Every namespace claim of the registry called `name` (none for an
    /// unknown name).
    pub async fn claims(&self, name: &str) -> AppResult<Vec<ClaimRow>> {
        match self.registries.get(name) {
            Some(r) => registry::claims(&self.catalog, r).await,
            None => Ok(Vec::new()),
        }
    }

    /// The claim covering package `key` in the registry called `name`.
    pub async fn claim_for(&self, name: &str, key: &str) -> AppResult<Option<ClaimRow>> {
        Ok(registry::covering(&self.claims(name).await?, key))
    }

    /// The registry called `name`.
    pub fn registry(&self, name: &str) -> Option<&Arc<Registry>> {
        self.registries.get(name)
    }

    /// Apply every registry's cache limits now (`[registries.cache]`
    /// `max_bytes`, `evict_after_days`, `keep_latest_versions`), after
    /// writing the batched access times; what went.
    pub async fn evict_caches(&self) -> Evicted {
        self.artifacts.flush_access().await;
        self.documents.flush_access().await;
        let mut gone = Evicted::default();
        for r in &self.config.registries {
            match self.evict_cache(r).await {
                Ok(n) => gone += n,
                Err(e) => tracing::warn!(registry = %r.name, error = %e, "cache eviction failed"),
            }
        }
        gone
    }

    /// Apply one registry's cache limits now (to its cached artifacts and
    /// the documents on this node's disk); what went.
    pub async fn evict_cache(&self, r: &crate::config::RegistryConfig) -> AppResult<Evicted> {
        let limits = eviction_limits(r);
        if limits.is_none() {
            return Ok(Evicted::default());
        }
        Ok(self.artifacts.evict(&r.name, &limits).await?)
    }

    /// Write what is batched (audit rows, token use) now.
    pub async fn flush(&self) {
        let events = self.audit.take();
        if let Err(e) = self.catalog.insert_audit_events(&events).await {
            tracing::warn!(error = %e, count = events.len(), "could not write audit events");
        }
        self.identity.flush_touched().await;
        self.artifacts.flush_access().await;
        self.documents.flush_access().await;
    }
}

/// A registry's `[registries.cache]` limits as eviction applies them.
pub fn eviction_limits(r: &crate::config::RegistryConfig) -> crate::catalog::EvictionLimits {
    crate::catalog::EvictionLimits {
        max_bytes: r.cache.max_bytes,
        unused_since: r.cache.evict_after_days.map(|d| {
            crate::catalog::now_ms().saturating_sub(i64::try_from(d.saturating_mul(86_400_000)).unwrap_or(i64::MAX))
        }),
        keep_latest: r.cache.keep_latest_versions,
        order: r.version_order,
    }
}

fn spawn_flusher(app: std::sync::Weak<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { break };
            app.flush().await;
            // Cache limits once every 30 s.
            ticks += 1;
            if ticks % 15 == 0 {
                app.evict_caches().await;
            }
        }
    });
}

/// Read the catalog's change counters every `POLL_INTERVAL`, so that views
/// of what another process changed are dropped within `CHANGE_BOUND`.
fn spawn_change_poller(app: std::sync::Weak<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::catalog::POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { break };
            match tokio::time::timeout(crate::catalog::CHANGE_BOUND, app.catalog.poll_changes()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the catalog's change counters"),
                Err(_) => tracing::warn!("reading the catalog's change counters timed out"),
            }
        }
    });
}

/// Collect unreferenced blobs every `[storage] gc_interval_secs` (never
/// when 0), the first time one interval after start-up. Replicas may all
/// run it: each deletion is decided inside a catalog transaction.
fn spawn_collector(app: std::sync::Weak<AppState>) {
    let Some(every) = app.upgrade().map(|a| a.config.storage.gc_interval_secs) else { return };
    if every == 0 {
        return;
    }
    let period = Duration::from_secs(every);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { break };
            let grace = Duration::from_secs(app.config.storage.gc_grace_secs);
            match crate::blobs::collect_garbage(&app.blobs, &app.catalog, grace).await {
                Ok(r) if r.deleted > 0 => {
                    tracing::info!(deleted = r.deleted, examined = r.examined, "blob garbage collected")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "blob garbage collection failed"),
            }
        }
    });
}
