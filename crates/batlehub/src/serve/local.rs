//! The steps every ecosystem shares for local packages: where a name is read
//! from (with read access and visibility checked), serving a stored file,
//! the write check of a package of this registry, committing a publish,
//! visibility-filtered listings, and the names that must never be asked of
//! an upstream.

use std::collections::HashSet;
use std::sync::Arc;

use axum::response::Response;

use super::RequestCtx;
use crate::access::{self, Permission};
use crate::catalog::{ClaimRow, NewVersion, PackageRow, PublishOutcome};
use crate::error::{AppError, AppResult};
use crate::http::Rendered;
use crate::registry::{self, PackageView, PublishFile, Registry, RegistryListing, Source};
use crate::upstream::artifacts::Artifact;

/// A local package as this request sees it, read access checked.
pub struct Local {
    /// The registry that holds it: this one or a member.
    pub registry: Arc<Registry>,
    pub package: Arc<PackageRow>,
    /// Its versions, files, tags and owners, as current as the package row
    /// (read from memory while the registry is unchanged).
    pub view: Arc<PackageView>,
    /// The whole view when `local = true` rules withheld some of it: what
    /// a download of a withheld file is refused by, with the reason.
    pub hidden: Option<Arc<PackageView>>,
}

/// A package name of this very registry (never a member's) and the claim
/// covering it: what a write is checked against.
pub struct Owned {
    /// The package's catalog key.
    pub key: String,
    pub package: Option<PackageRow>,
    pub claim: Option<ClaimRow>,
}

/// A package the caller may write (`RequestCtx::writable_package`): its row,
/// and the write check to run again inside each write's transaction
/// (`Writable::check`, the `may_write` of the catalog's package writes).
pub struct Writable {
    pub package: PackageRow,
    principal: access::Principal,
    claim_group: Option<String>,
}

impl std::ops::Deref for Writable {
    type Target = PackageRow;
    fn deref(&self) -> &PackageRow {
        &self.package
    }
}

impl Writable {
    /// The write check over the owners as a transaction reads them.
    pub fn check(&self) -> impl Fn(&[(bool, String)]) -> bool + Sync + '_ {
        move |owners| access::may_write_package(&self.principal, true, owners, self.claim_group.as_deref())
    }
}

/// Names that must never be answered from upstream (nor sent to one): every
/// local package of this registry and its members, and every claimed prefix.
pub struct Shadow {
    names: HashSet<String>,
    claims: Vec<(String, String)>,
}

impl Shadow {
    pub fn covers(&self, name: &str) -> bool {
        self.names.contains(name) || access::longest_claim(name, &self.claims).is_some()
    }
}

/// One local registry of a [`LocalSet`].
pub struct ListedRegistry {
    pub registry: Arc<Registry>,
    pub listing: Arc<RegistryListing>,
    pub claims: Vec<ClaimRow>,
    /// Whether the caller may read its packages (a member the caller may
    /// not read still keeps its names off the upstreams).
    pub readable: bool,
}

/// The local registries behind a registry-wide document (every package of
/// the members, then of this registry), loaded once per change of any of
/// them, with what decides which of their packages this caller sees.
pub struct LocalSet {
    pub parts: Vec<ListedRegistry>,
    /// Names what the set holds for this caller (generations, readable
    /// registries, visibility class): two requests with the same key render
    /// the same document. `None` when a generation is unknown (render, do
    /// not keep).
    pub key: Option<String>,
    principal: Arc<crate::access::Principal>,
}

impl LocalSet {
    /// The packages this caller may see, each with its registry's listing;
    /// a name held by several registries is the first's (members first, as
    /// reads resolve it).
    pub fn visible(&self) -> Vec<(&ListedRegistry, &Arc<PackageRow>)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for part in self.parts.iter().filter(|p| p.readable) {
            for row in &part.listing.packages {
                if !seen.insert(row.name.as_str()) {
                    continue;
                }
                let claim = registry::covering(&part.claims, &row.name);
                if access::can_see(&self.principal, row.visibility, claim.as_ref().map(|c| c.group_id.as_str())) {
                    out.push((part, row));
                }
            }
        }
        out
    }

    /// The names the upstreams must never answer: every package and claim
    /// of the set, readable or not.
    pub fn shadow(&self) -> Shadow {
        let mut names = HashSet::new();
        let mut claims = Vec::new();
        for part in &self.parts {
            names.extend(part.listing.packages.iter().map(|p| p.name.clone()));
            claims.extend(part.claims.iter().map(|c| (c.prefix.clone(), c.group_id.clone())));
        }
        Shadow { names, claims }
    }
}

impl RequestCtx {
    /// Every package of this registry's members and of itself, loaded once
    /// per change ([`crate::registry::LocalViews::listing`]), for documents
    /// that list a whole registry: no cap on the number of packages and no
    /// catalog read while nothing changed.
    pub async fn local_set(&self) -> AppResult<LocalSet> {
        let mut regs: Vec<&Arc<Registry>> =
            self.registry.members.iter().filter_map(|m| self.app.registries.get(m)).collect();
        // A proxy holds no packages, but its claims count.
        regs.push(&self.registry);
        let mut parts = Vec::with_capacity(regs.len());
        let mut key = Some(String::new());
        for r in regs {
            let listing = if r.mode.has_local() {
                self.app.views.listing(&self.app.catalog, &r.name).await?
            } else {
                Arc::new(RegistryListing { stamp: self.app.catalog.generation(&r.name), ..Default::default() })
            };
            let readable = r.name == self.registry.name
                || registry::require_on(&self.principal, r, Permission::ReleasesRead).is_ok();
            key = match (key, listing.stamp) {
                (Some(k), Some(g)) => Some(format!("{k}{}:{g}:{}\n", r.name, u8::from(readable))),
                _ => None,
            };
            let claims = registry::claims(&self.app.catalog, r).await?;
            parts.push(ListedRegistry { registry: Arc::clone(r), listing, claims, readable });
        }
        let key = key.map(|k| format!("{k}{}", self.principal.visibility_class()));
        Ok(LocalSet { parts, key, principal: Arc::new(self.principal.clone()) })
    }

    /// Where the package `key` (its catalog key) is read from, with `wanted`
    /// and its visibility checked: `Some` for a local package the caller may
    /// see, `None` when the upstreams serve the name, 404 when a local
    /// registry owns the name but holds nothing (a claim, an unpublished
    /// name), and an invisible package answers 404 (401 to the anonymous).
    pub async fn read_local(&self, key: &str, display: &str, wanted: Permission) -> AppResult<Option<Local>> {
        let app = &self.app;
        match registry::resolve_source(&app.catalog, &app.views, &app.registries, &self.registry, key).await? {
            Source::Upstream => Ok(None),
            Source::Local { registry, view, claim } => {
                let Some(package) = view.package.clone() else {
                    // Owned here (a claim, an unpublished name) but empty.
                    if registry.name != self.registry.name {
                        registry::require_on(&self.principal, &registry, wanted)?;
                    }
                    return Err(AppError::not_found(format!("{display} not found")));
                };
                registry::check_local_read(
                    &self.principal,
                    &self.registry,
                    &registry,
                    &package,
                    claim.as_ref(),
                    wanted,
                )?;
                // Only rules marked `local = true` judge a published package.
                let (view, hidden) = match registry.rules.local.clone() {
                    Some(rules) => {
                        let judged = self.local_rules_view(&registry, &rules, &package, Arc::clone(&view))?;
                        let hidden = (!Arc::ptr_eq(&judged, &view)).then_some(view);
                        (judged, hidden)
                    }
                    None => (view, None),
                };
                Ok(Some(Local { registry, package, view, hidden }))
            }
        }
    }

    /// A local package the caller may see; anything else is a 404.
    pub async fn local_package(&self, key: &str, display: &str, wanted: Permission) -> AppResult<Local> {
        self.read_local(key, display, wanted).await?.ok_or_else(|| AppError::not_found(format!("{display} not found")))
    }

    /// Serve the file `filename` of a local package from the blob store.
    pub async fn serve_local_file(&self, local: &Local, filename: &str) -> AppResult<Response> {
        let Some(file) = local.view.file(filename) else {
            self.refuse_hidden_file(local, filename)?;
            return Err(AppError::not_found(format!("{filename} not found")));
        };
        let (readable, size) = self
            .app
            .blobs
            .open_readable(&file.sha256)
            .await?
            .ok_or_else(|| AppError::internal(format!("blob {} of {filename} is missing", file.sha256)))?;
        let artifact = Artifact::Stored { file: readable, size, content_type: file.content_type.clone() };
        Ok(crate::http::artifact(&local.registry.metrics.bytes, artifact, None))
    }

    /// The rendering `variant` of `local` for this request's base URL, made
    /// by `render` (on the blocking pool) once per view of the package: a
    /// local document is rendered again only after its registry changed.
    pub async fn rendered_local<F>(&self, local: &Local, variant: &'static str, render: F) -> AppResult<Rendered>
    where
        F: FnOnce(&PackageView, &PackageRow) -> AppResult<Vec<u8>> + Send + 'static,
    {
        let (view, package) = (Arc::clone(&local.view), Arc::clone(&local.package));
        let make = move || render(&view, &package);
        if !local.view.kept {
            return crate::http::blocking(move || make().map(crate::http::rendered)).await;
        }
        self.app.rendered.get_or_render((local.view.id, variant, self.base.clone()), make).await
    }

    /// A registry-wide document of `set` (and of the upstream body of
    /// generation `upstream`, if any), `part` naming which one (a subdir),
    /// rendered by `render` on the blocking pool once per change of what it
    /// is made of; every time when a generation of the set is unknown.
    pub async fn rendered_set<F>(
        &self,
        set: &LocalSet,
        variant: &'static str,
        upstream: Option<u64>,
        part: &str,
        render: F,
    ) -> AppResult<Rendered>
    where
        F: FnOnce() -> AppResult<Vec<u8>> + Send + 'static,
    {
        match &set.key {
            Some(k) => {
                let key = format!("{}|{k}|{part}", self.base);
                self.app.rendered.get_or_render((upstream.unwrap_or(0), variant, key), render).await
            }
            None => crate::http::blocking(move || render().map(crate::http::rendered)).await,
        }
    }

    /// The package `key` of this registry and the claim covering it.
    pub async fn own_package(&self, key: &str) -> AppResult<Owned> {
        let package = self.app.catalog.get_package(&self.registry.name, key).await?;
        let claim = registry::claim_for(&self.app.catalog, &self.registry, key).await?;
        Ok(Owned { key: key.to_string(), package, claim })
    }

    /// Check that the caller may write `owned` (ownership, namespace claim,
    /// admin); `display` names it in the refusal, as the publish spells it.
    /// The first publish of a name is also checked against the upstreams.
    pub async fn check_write(&self, owned: &Owned, display: &str) -> AppResult<()> {
        registry::check_package_write(
            &self.app.catalog,
            &self.principal,
            owned.package.as_ref(),
            owned.claim.as_ref(),
            display,
        )
        .await?;
        if owned.package.is_none() {
            self.check_new_name(owned, display).await?;
        }
        Ok(())
    }

    /// A name that an upstream serves may not be published here for the
    /// first time (everyone resolving it would get the publisher's package
    /// instead): 409, unless a namespace claim covers it (the write check
    /// made sure the publisher may write under it) or an admin allowed the
    /// name. The upstreams asked are this registry's and those of every
    /// group registry that serves this one as a member.
    async fn check_new_name(&self, owned: &Owned, spelled: &str) -> AppResult<()> {
        if owned.claim.is_some() || self.registry.allowed_names.contains(&owned.key) {
            return Ok(());
        }
        let mut sources: Vec<&Arc<Registry>> = Vec::new();
        if !self.registry.upstreams.is_empty() {
            sources.push(&self.registry);
        }
        let mut groups: Vec<&Arc<Registry>> = self
            .app
            .registries
            .values()
            .filter(|g| g.members.contains(&self.registry.name) && !g.upstreams.is_empty())
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        sources.extend(groups);
        if sources.is_empty() || self.app.catalog.upstream_name_allowed(&self.registry.name, &owned.key).await? {
            return Ok(());
        }
        for source in sources {
            let on = self.on(Arc::clone(source));
            for fetch in on.upstream_listings(spelled).await? {
                match on.document(fetch).await {
                    Ok(_) => {
                        return Err(AppError::conflict(format!(
                            "{spelled} is served by the upstream of {}: publishing it here would replace it for everyone. \
                             Publish under your team's namespace, or ask an admin to allow the name",
                            source.name
                        )));
                    }
                    Err(AppError::NotFound(_)) => {}
                    Err(e) => {
                        tracing::warn!(registry = %source.name, package = %spelled, error = %e, "upstream name check failed");
                        return Err(AppError::Unavailable(format!(
                            "cannot tell whether the upstream of {} serves {spelled}; try again later",
                            source.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// An existing package of this registry the caller may change (tags,
    /// yanks, owners, unpublish): 404 when absent, 403 when not theirs.
    pub async fn writable_package(&self, key: &str, display: &str) -> AppResult<Writable> {
        let owned = self.own_package(key).await?;
        let Some(package) = &owned.package else {
            return Err(AppError::not_found(format!("{display} not found in registry {}", self.registry.name)));
        };
        self.check_write(&owned, &package.display_name).await?;
        Ok(Writable {
            package: package.clone(),
            principal: self.principal.clone(),
            claim_group: owned.claim.map(|c| c.group_id),
        })
    }

    /// Commit a publish to this registry of the package `owned` (as checked
    /// by `check_write`): blobs first, then every row in one transaction,
    /// where ownership is checked again should the package have appeared
    /// meanwhile; the caller becomes the first owner of a new package. No
    /// blob is ever deleted on a request path: files whose rows are deleted
    /// (unpublish) leave their blobs to the garbage collector.
    pub async fn commit_publish(
        &self,
        owned: &Owned,
        version: NewVersion,
        files: Vec<PublishFile>,
    ) -> AppResult<PublishOutcome> {
        let (blobs, catalog) = (&self.app.blobs, &self.app.catalog);
        registry::commit_publish(blobs, catalog, &self.registry, &self.principal, owned.claim.as_ref(), version, files)
            .await
    }

    /// The local registries this request reads packages from: the members
    /// the caller may read, then this registry if it holds packages.
    pub fn readable_locals(&self) -> Vec<Arc<Registry>> {
        let members = self
            .registry
            .members
            .iter()
            .filter_map(|m| self.app.registries.get(m))
            .filter(|r| registry::require_on(&self.principal, r, Permission::ReleasesRead).is_ok());
        let own = self.registry.mode.has_local().then_some(&self.registry);
        members.chain(own).cloned().collect()
    }

    /// The local packages matching `text` that the caller may see, in the
    /// readable local registries: one catalog query for the rows and one for
    /// the claims of each registry, whatever the number of rows.
    pub async fn visible_packages(&self, text: &str, limit: i64) -> AppResult<Vec<PackageRow>> {
        let locals = self.readable_locals();
        let names: Vec<String> = locals.iter().map(|r| r.name.clone()).collect();
        let rows = self.app.catalog.search_packages(&names, text, limit).await?;
        let mut claims = Vec::with_capacity(locals.len());
        for r in &locals {
            claims.push((r.name.clone(), registry::claims(&self.app.catalog, r).await?));
        }
        Ok(rows
            .into_iter()
            .filter(|row| {
                let claim = claims
                    .iter()
                    .find(|(reg, _)| *reg == row.registry)
                    .and_then(|(_, c)| registry::covering(c, &row.name));
                access::can_see(&self.principal, row.visibility, claim.as_ref().map(|c| c.group_id.as_str()))
            })
            .collect())
    }

    /// The names this registry must never answer from, or send to, an
    /// upstream.
    pub async fn shadow(&self) -> AppResult<Shadow> {
        let mut regs: Vec<&Arc<Registry>> =
            self.registry.members.iter().filter_map(|m| self.app.registries.get(m)).collect();
        // A proxy holds no packages, but its claims count.
        regs.push(&self.registry);
        let reg_names: Vec<String> = regs.iter().map(|r| r.name.clone()).collect();
        let names: HashSet<String> = self.app.catalog.list_package_names(&reg_names).await?.into_iter().collect();
        let mut claims = Vec::new();
        for r in regs {
            for c in registry::claims(&self.app.catalog, r).await? {
                claims.push((c.prefix, c.group_id));
            }
        }
        Ok(Shadow { names, claims })
    }
}
