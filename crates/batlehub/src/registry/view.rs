//! In-memory views of local packages: what a read needs (the package row,
//! its versions, files, tags and owners) loaded once and kept while the
//! registry's change counter says nothing changed.
//!
//! Architecture invariants: a view is stamped with the registry's
//! generation read *before* it was loaded, and used only while that
//! generation is current ([`Catalog::generation`]): a write through this
//! process is seen by the next request, one through another process within
//! [`crate::catalog::CHANGE_BOUND`], and when the catalog's counters cannot
//! be read nothing cached is used. Absent names are views too (a hybrid
//! registry's upstream names are looked up once per change, not per
//! request). Writes never read views: they check inside their transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use crate::catalog::{Catalog, DbError, DbResult, FileEvent, FileRow, OwnerRow, PackageRow, VersionRow};

/// A local package as last loaded (or the fact that there is none).
#[derive(Debug)]
pub struct PackageView {
    /// Unique in this process: renderings of this view are cached under it.
    pub id: u64,
    stamp: u64,
    /// Whether it is kept (its registry's generation was known): only then
    /// are its renderings worth keeping too.
    pub kept: bool,
    pub package: Option<Arc<PackageRow>>,
    pub versions: Vec<VersionRow>,
    pub files: Vec<FileRow>,
    pub tags: Vec<(String, String)>,
    pub owners: Vec<OwnerRow>,
}

impl PackageView {
    /// No such package (not kept anywhere).
    pub fn absent() -> PackageView {
        PackageView {
            id: 0,
            stamp: 0,
            kept: false,
            package: None,
            versions: Vec::new(),
            files: Vec::new(),
            tags: Vec::new(),
            owners: Vec::new(),
        }
    }

    pub fn file(&self, filename: &str) -> Option<&FileRow> {
        self.files.iter().find(|f| f.filename == filename)
    }

    /// This view with only the versions `keep` lets through, their files
    /// and the tags naming them, as view `id` (its renderings are its own).
    pub fn only(&self, id: u64, keep: &dyn Fn(&VersionRow) -> bool) -> PackageView {
        let versions: Vec<VersionRow> = self.versions.iter().filter(|v| keep(v)).cloned().collect();
        let ids: std::collections::HashSet<&str> = versions.iter().map(|v| v.id.as_str()).collect();
        let names: std::collections::HashSet<&str> = versions.iter().map(|v| v.version.as_str()).collect();
        PackageView {
            id,
            stamp: self.stamp,
            kept: self.kept,
            package: self.package.clone(),
            files: self.files.iter().filter(|f| ids.contains(f.version_id.as_str())).cloned().collect(),
            tags: self.tags.iter().filter(|(_, v)| names.contains(v.as_str())).cloned().collect(),
            owners: self.owners.clone(),
            versions,
        }
    }

    fn weight(&self) -> u32 {
        let p = self
            .package
            .as_ref()
            .map_or(0, |p| p.id.len() + p.registry.len() + p.name.len() + p.display_name.len() + p.metadata.len() + 64);
        let v: usize = self.versions.iter().map(|v| v.id.len() + v.version.len() + v.metadata.len() + 96).sum();
        let f: usize = self
            .files
            .iter()
            .map(|f| f.filename.len() + f.sha512.len() + f.content_type.len() + f.metadata.len() + 256)
            .sum();
        let t: usize = self.tags.iter().map(|(a, b)| a.len() + b.len() + 48).sum();
        let o: usize = self.owners.iter().map(|o| o.principal_id.len() + 80).sum();
        u32::try_from(p + v + f + t + o + 128).unwrap_or(u32::MAX)
    }
}

/// All of one local registry as last loaded: every package, version and
/// file, and its file feed ([`crate::catalog::FileEvent`]). What documents
/// that list a whole registry are rendered from (one load per change of the
/// registry, never a load per package).
#[derive(Debug, Default)]
pub struct RegistryListing {
    /// The registry's generation it was loaded at, when known.
    pub stamp: Option<u64>,
    /// Packages by name.
    pub packages: Vec<Arc<PackageRow>>,
    /// In publish order.
    pub versions: Vec<VersionRow>,
    /// In publish order.
    pub files: Vec<FileRow>,
    /// The feed, in order.
    pub events: Vec<FileEvent>,
}

impl RegistryListing {
    fn weight(&self) -> u32 {
        let p: usize = self
            .packages
            .iter()
            .map(|p| p.id.len() + p.name.len() + p.display_name.len() + p.metadata.len() + 96)
            .sum();
        let v: usize = self.versions.iter().map(|v| v.id.len() + v.version.len() + v.metadata.len() + 96).sum();
        let f: usize = self.files.iter().map(|f| f.filename.len() + f.sha512.len() + f.metadata.len() + 256).sum();
        let e: usize = self.events.iter().map(FileEvent::weight).sum();
        u32::try_from(p + v + f + e + 128).unwrap_or(u32::MAX)
    }

    /// The package named `name`.
    pub fn package(&self, name: &str) -> Option<&Arc<PackageRow>> {
        self.packages.binary_search_by(|p| p.name.as_str().cmp(name)).ok().and_then(|i| self.packages.get(i))
    }
}

/// The views of every local registry, bounded in bytes.
pub struct LocalViews {
    /// Whole registries, keyed by name and generation (a change makes a new
    /// key; old ones age out).
    listings: moka::future::Cache<(String, u64), Arc<RegistryListing>>,
    cache: moka::sync::Cache<String, Arc<PackageView>>,
    next_id: AtomicU64,
    loads: AtomicU64,
}

impl LocalViews {
    pub fn new(max_bytes: u64) -> LocalViews {
        LocalViews {
            listings: moka::future::Cache::builder()
                .weigher(|_k: &(String, u64), v: &Arc<RegistryListing>| v.weight())
                .max_capacity(max_bytes)
                .time_to_idle(Duration::from_secs(600))
                .build(),
            cache: moka::sync::Cache::builder()
                .weigher(|_k: &String, v: &Arc<PackageView>| v.weight())
                .max_capacity(max_bytes)
                .build(),
            // Far from the upstream documents' generations, which share the
            // rendered cache's keys.
            next_id: AtomicU64::new(1 << 62),
            loads: AtomicU64::new(0),
        }
    }

    /// How many views were read from the catalog so far.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// All of `registry`: from memory when current, else loaded once however
    /// many requests ask (kept when the registry's generation is known).
    pub async fn listing(&self, catalog: &Catalog, registry: &str) -> DbResult<Arc<RegistryListing>> {
        let stamp = catalog.generation(registry);
        let load = async {
            self.loads.fetch_add(1, Ordering::Relaxed);
            let rows = catalog.registry_rows(registry).await?;
            let events = catalog.file_events(registry).await?;
            let mut packages: Vec<Arc<PackageRow>> = rows.packages.into_iter().map(Arc::new).collect();
            packages.sort_by(|a, b| a.name.cmp(&b.name));
            Ok::<_, DbError>(Arc::new(RegistryListing {
                stamp,
                packages,
                versions: rows.versions,
                files: rows.files,
                events,
            }))
        };
        let Some(g) = stamp else { return load.await };
        self.listings.try_get_with((registry.to_string(), g), load).await.map_err(|e: Arc<DbError>| match &*e {
            DbError::NotFound => DbError::NotFound,
            other => DbError::Other(sqlx::Error::Protocol(format!("loading registry {registry}: {other}"))),
        })
    }

    /// The view of package `key` of `registry`: from memory when current,
    /// else loaded (and kept when the registry's generation is known).
    pub async fn get(&self, catalog: &Catalog, registry: &str, key: &str) -> DbResult<Arc<PackageView>> {
        let stamp = catalog.generation(registry);
        let map_key = format!("{registry}\0{key}");
        if let Some(g) = stamp
            && let Some(v) = self.cache.get(&map_key)
            && v.stamp == g
        {
            return Ok(v);
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        let package = catalog.get_package(registry, key).await?;
        let mut view = PackageView {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            stamp: stamp.unwrap_or(0),
            kept: stamp.is_some(),
            package: None,
            versions: Vec::new(),
            files: Vec::new(),
            tags: Vec::new(),
            owners: Vec::new(),
        };
        if let Some(p) = package {
            view.versions = catalog.list_versions(&p.id).await?;
            view.files = catalog.list_files(&p.id).await?;
            view.tags = catalog.list_tags(&p.id).await?;
            view.owners = catalog.list_owners(&p.id).await?;
            view.package = Some(Arc::new(p));
        }
        let view = Arc::new(view);
        if stamp.is_some() {
            self.cache.insert(map_key, Arc::clone(&view));
        }
        Ok(view)
    }
}
