//! The application: everything a request may need, built once from the
//! configuration, plus the background loops that batch writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::blobs::BlobStore;
use crate::catalog::{AuditEvent, Catalog};
use crate::config::Config;
use crate::identity::Identity;
use crate::registry::Registry;
use crate::upstream::Upstream;
use crate::upstream::artifacts::ArtifactCache;
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
    pub registries: HashMap<String, Arc<Registry>>,
    pub audit: Auditor,
    /// Derived documents (rewritten packuments...), keyed by their inputs.
    pub rendered: moka::future::Cache<String, Rendered>,
    pub eco: crate::ecosystems::EcosystemState,
}

/// A rendered document and its validator.
#[derive(Clone)]
pub struct Rendered {
    pub body: bytes::Bytes,
    pub etag: String,
}

/// Audit rows, written in batches off the request path.
#[derive(Default)]
pub struct Auditor {
    pending: Mutex<Vec<AuditEvent>>,
}

impl Auditor {
    pub fn record(&self, event: AuditEvent) {
        if let Ok(mut p) = self.pending.lock() {
            p.push(event);
        }
    }

    fn take(&self) -> Vec<AuditEvent> {
        self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
    }
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide metrics recorder (installed once, shared by every app in
/// the process, as tests run several).
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

impl AppState {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        prometheus();
        crate::upstream::install_crypto_provider();
        let catalog = Catalog::connect(&config.database.url, config.database.max_connections)
            .await
            .with_context(|| format!("opening the catalog at {}", config.database.url))?;
        let blobs = BlobStore::open(&config.storage)
            .await
            .with_context(|| format!("opening the blob store at {}", config.storage.path.display()))?;
        let identity = Arc::new(Identity::new(&config, catalog.clone())?);
        let upstream = Upstream::new(&config)?;
        let documents =
            Arc::new(DocumentCache::new(blobs.clone(), config.limits.max_document_size_bytes, 512 * 1024 * 1024));
        let artifacts = Arc::new(ArtifactCache::new(blobs.clone(), catalog.clone()));
        let registries =
            config.registries.iter().map(|r| (r.name.clone(), Arc::new(Registry::from_config(r)))).collect();
        let rendered = moka::future::Cache::builder()
            .weigher(|_k: &String, v: &Rendered| v.body.len().min(u32::MAX as usize) as u32)
            .max_capacity(256 * 1024 * 1024)
            .time_to_idle(Duration::from_secs(3600))
            .build();
        let app = Arc::new(AppState {
            config,
            catalog,
            blobs,
            identity,
            upstream,
            documents,
            artifacts,
            registries,
            audit: Auditor::default(),
            rendered,
            eco: Default::default(),
        });
        spawn_flusher(Arc::downgrade(&app));
        Ok(app)
    }

    /// Write what is batched (audit rows, token use) now.
    pub async fn flush(&self) {
        let events = self.audit.take();
        if let Err(e) = self.catalog.insert_audit_events(&events).await {
            tracing::warn!(error = %e, count = events.len(), "could not write audit events");
        }
        self.identity.flush_touched().await;
    }
}

fn spawn_flusher(app: std::sync::Weak<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { break };
            app.flush().await;
        }
    });
}
