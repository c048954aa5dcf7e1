//! `/packages`: search the packages published here (only those the viewer
//! may see), and a page per package: versions, files, sizes, publisher,
//! visibility, yanked state and the install command.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Nav, Viewer, copyable, date, size, visibility_badge};
use crate::access::{self, Permission};
use crate::app::App;
use crate::catalog::PackageRow;
use crate::ecosystems;
use crate::error::{AppError, AppResult};
use crate::registry::{self, Registry};
use crate::setup::Target;

const MAX_RESULTS: usize = 100;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    /// An upstream package to look up (`registry` and `upstream`): what its
    /// registry's rules say of its versions.
    pub registry: Option<String>,
    pub upstream: Option<String>,
}

/// Whether the viewer may see `p` of `reg`: the registry's read permission
/// and the package's visibility, as the registry endpoints decide.
async fn visible(app: &App, v: &Viewer, reg: &Registry, p: &PackageRow) -> AppResult<bool> {
    if registry::require_on(&v.principal, reg, Permission::ReleasesRead).is_err() {
        return Ok(false);
    }
    let claim = app.claim_for(&reg.name, &p.name).await?;
    Ok(access::can_see(&v.principal, p.visibility, claim.as_ref().map(|c| c.group_id.as_str())))
}

pub async fn search(State(app): State<App>, v: Viewer, Query(q): Query<SearchQuery>) -> Response {
    if let (Some(reg), Some(name)) =
        (q.registry.as_deref(), q.upstream.as_deref().map(str::trim).filter(|n| !n.is_empty()))
    {
        let Some(reg) = app.registries.get(reg).cloned() else {
            return v.error(StatusCode::NOT_FOUND, &format!("No registry {reg}."));
        };
        return upstream_package(&app, &v, &reg, name).await;
    }
    let proxies: Vec<String> = {
        let mut names: Vec<String> =
            app.registries.values().filter(|r| r.mode.has_upstream()).map(|r| r.name.clone()).collect();
        names.sort();
        names
    };
    let text = q.q.unwrap_or_default();
    let text = text.trim();
    let regs = super::local_registries(&app);
    let names: Vec<String> = regs.iter().map(|r| r.name.clone()).collect();
    let by_name: HashMap<&str, &Arc<Registry>> = regs.iter().map(|r| (r.name.as_str(), r)).collect();
    let rows = match app.catalog.search_packages(&names, text, 1000).await {
        Ok(rows) => rows,
        Err(e) => return v.app_error(&e.into()),
    };
    let mut results = Vec::new();
    for p in rows {
        let Some(reg) = by_name.get(p.registry.as_str()) else { continue };
        match visible(&app, &v, reg, &p).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => return v.app_error(&e),
        }
        let latest = match app.catalog.list_versions(&p.id).await {
            Ok(vs) => vs.iter().rev().find(|v| !v.yanked).or(vs.last()).map(|v| v.version.clone()),
            Err(e) => return v.app_error(&e.into()),
        };
        results.push((p, reg.kind, latest));
        if results.len() >= MAX_RESULTS {
            break;
        }
    }
    let body = html! {
        h1 { "Packages" }
        section.card {
            form.search method="get" action="/packages" role="search" {
                input type="search" name="q" value=(text) aria-label="Package name" placeholder="Search packages by name";
                button type="submit" { "Search" }
            }
        }
        section.card {
            @if results.is_empty() {
                p.empty {
                    @if text.is_empty() { "No packages are published here yet, or none you may see." }
                    @else { "No package you may see matches “" (text) "”." }
                }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Registry" } th { "Type" } th { "Latest" } th { "Visibility" } th { "Updated" } } }
                    tbody {
                        @for (p, kind, latest) in &results {
                            @let href = format!("/packages/{}/{}", p.registry, p.display_name);
                            tr data-href=(href) {
                                td { a href=(href) { (p.display_name) } }
                                td { (p.registry) }
                                td { (kind.as_str()) }
                                td { (latest.as_deref().unwrap_or("—")) }
                                td { (visibility_badge(p.visibility)) }
                                td { (date(p.updated_at)) }
                            }
                        }
                    }
                } }
                @if results.len() >= MAX_RESULTS { p.muted { "Showing the first " (MAX_RESULTS) " matches; refine the search." } }
            }
            p.muted { "Packages published to this server's local and hybrid registries. Cached upstream packages are served by the proxies but not listed." }
        }
        @if !proxies.is_empty() {
            section.card {
                h2 { "Check an upstream package" }
                p.muted { "Which versions of a package a proxy's supply-chain rules block for you, and why." }
                form.search method="get" action="/packages" {
                    select name="registry" aria-label="Registry" {
                        @for r in &proxies { option value=(r) { (r) } }
                    }
                    input type="search" name="upstream" aria-label="Name of an upstream package" placeholder="Package name";
                    button type="submit" { "Check" }
                }
            }
        }
    };
    super::page(&v, "Packages", Nav::Packages, body)
}

/// How many upstream versions an upstream package's page lists.
const UPSTREAM_VERSIONS_SHOWN: usize = 200;

/// A package the registry's upstreams serve: its versions, newest first,
/// as the registry's rules judge them for the viewer (what the simulator
/// answers), blocked ones marked with each rule's reason.
async fn upstream_package(app: &App, v: &Viewer, reg: &Arc<Registry>, name: &str) -> Response {
    let judged = match crate::api::rules::judge_upstream(app, reg, &v.principal, v.base.clone(), name).await {
        Ok(j) => j,
        Err(AppError::NotFound(_) | AppError::Forbidden(_) | AppError::Unauthenticated) => {
            return v.error(StatusCode::NOT_FOUND, &format!("No package {name} in {} that you may see.", reg.name));
        }
        Err(e) => return v.app_error(&e),
    };
    let blocked = judged.releases.iter().filter(|(_, o)| !crate::api::rules::Judged::allowed(o)).count();
    let kinds: Vec<&str> = reg.rules.rules.iter().map(|r| r.kind()).collect();
    let body = html! {
        p.muted { a href="/packages" { "Packages" } " / " (reg.name) }
        h1 { (name) " " span.badge { "upstream" } }
        section.card {
            h2 { "Rules" }
            @if kinds.is_empty() {
                p.muted { "This registry has no rules: every upstream version is served." }
            } @else {
                p { (reg.name) " applies " (kinds.join(", ")) " rules to its upstream versions. "
                    strong data-blocked=(blocked) { (blocked) " of " (judged.releases.len()) } " versions are blocked for you." }
            }
        }
        section.card {
            h2 { "Versions" }
            @if judged.releases.is_empty() { p.empty { "No versions." } }
            div.table-wrap { table {
                thead { tr { th { "Version" } th { "Published" } th { "Licence" } th { "Rules" } } }
                tbody {
                    @for (release, outcomes) in judged.releases.iter().take(UPSTREAM_VERSIONS_SHOWN) {
                        @let allowed = crate::api::rules::Judged::allowed(outcomes);
                        tr data-version=(release.version) data-allowed=(allowed) {
                            td { strong { (release.version) } }
                            td { @match release.published_at { Some(t) => { (date(t)) } None => { span.muted { "not given" } } } }
                            td { @match &release.licence { Some(l) => { code { (l) } } None => { span.muted { "not given" } } } }
                            td {
                                @if allowed { span.badge.allowed { "allowed" } }
                                @for (kind, outcome) in outcomes {
                                    @if let Err(d) = outcome {
                                        div.rule-reason data-rule=(kind) { span.badge.blocked { "blocked: " (kind) } " " (d.message) }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            @if judged.releases.len() > UPSTREAM_VERSIONS_SHOWN {
                p.muted { "The newest " (UPSTREAM_VERSIONS_SHOWN) " versions are shown." }
            }
        }
    };
    super::page(v, name, Nav::Packages, body)
}

pub async fn package(State(app): State<App>, v: Viewer, Path((reg_name, name)): Path<(String, String)>) -> Response {
    let not_found = || v.error(StatusCode::NOT_FOUND, &format!("No package {name} in {reg_name} that you may see."));
    let Some(reg) = app.registries.get(&reg_name).cloned() else { return not_found() };
    let Some(key) = ecosystems::normalize_name(reg.kind, &name) else { return not_found() };
    let p = match app.catalog.get_package(&reg_name, &key).await {
        Ok(Some(p)) => p,
        Ok(None) if reg.mode.has_upstream() => return upstream_package(&app, &v, &reg, &name).await,
        Ok(None) => return not_found(),
        Err(e) => return v.app_error(&AppError::from(e)),
    };
    match visible(&app, &v, &reg, &p).await {
        Ok(true) => {}
        Ok(false) => return not_found(),
        Err(e) => return v.app_error(&e),
    }
    let (versions, files, owners, tags) = match tokio::try_join!(
        app.catalog.list_versions(&p.id),
        app.catalog.list_files(&p.id),
        app.catalog.list_owners(&p.id),
        app.catalog.list_tags(&p.id)
    ) {
        Ok(x) => x,
        Err(e) => return v.app_error(&e.into()),
    };
    let claim = app.claim_for(&reg_name, &p.name).await.ok().flatten();
    // Users install through the group that serves this registry, if any.
    let group = app.config.registries.iter().find(|g| g.kind == reg.kind && g.members.contains(&reg.name));
    let through = group.map_or(reg.name.as_str(), |g| g.name.as_str());
    let target = Target::named(&v.base, through, &app.config.registries);
    let install = ecosystems::install_command(reg.kind, &target, &p.display_name);
    let registry_url = format!("{}/proxy/{}", v.base, reg.name);
    let body = html! {
        p.muted { a href="/packages" { "Packages" } " / " (reg.name) }
        h1 { (p.display_name) " " (visibility_badge(p.visibility)) }
        div.grid {
            section.card {
                h2 { "Install" }
                (copyable("install-command", &install))
                @if let Some(g) = group {
                    p.muted { "Through " strong { (g.name) } ", the registry your clients are configured with; published to " (reg.name) "." }
                }
            }
            section.card {
                h2 { "About" }
                dl.facts {
                    dt { "Registry" } dd { (reg.name) " (" (reg.kind.as_str()) ", " (reg.mode.as_str()) ")" }
                    dt { "Visibility" } dd { (p.visibility.as_str()) }
                    dt { "Namespace" } dd { @if let Some(c) = &claim { code { (c.prefix) } " · " (c.group_id) } @else { span.muted { "none" } } }
                    dt { "Owners" } dd {
                        @if owners.is_empty() { span.muted { "none" } }
                        @else { (owners.iter().map(|o| if o.is_group() { format!("group:{}", o.principal_id) } else { o.principal_id.clone() }).collect::<Vec<_>>().join(", ")) }
                    }
                    dt { "Created" } dd { (date(p.created_at)) }
                }
            }
        }
        section.card {
            h2 { "Versions" }
            @if versions.is_empty() { p.empty { "No versions." } }
            div.table-wrap { table {
                thead { tr { th { "Version" } th { "Published" } th { "Publisher" } th { "Files" } } }
                tbody {
                    @for ver in versions.iter().rev() {
                        tr data-version=(ver.version) {
                            td {
                                strong { (ver.version) }
                                @for (tag, _) in tags.iter().filter(|(_, tv)| *tv == ver.version) {
                                    " " span.badge.dist-tag data-tag=(tag) { (tag) }
                                }
                                @if ver.yanked {
                                    " " span.badge.yanked title=(ver.yanked_reason.as_deref().unwrap_or("")) { "yanked" }
                                }
                                @if let Some(msg) = ecosystems::deprecation(reg.kind, ver) {
                                    div.deprecated { span.badge.yanked { "deprecated" } " " (msg) }
                                }
                            }
                            td { (date(ver.published_at)) }
                            td { (ver.published_by.as_deref().unwrap_or("—")) }
                            td {
                                @for f in files.iter().filter(|f| f.version_id == ver.id) {
                                    @let entry = ecosystems::file_entry(reg.kind, &registry_url, &p, ver, f);
                                    @if !entry.hidden {
                                        div data-file=(f.filename) {
                                            @match &entry.url {
                                                Some(url) => { a href=(url) download { code { (f.filename) } } }
                                                None => { code { (f.filename) } }
                                            }
                                            " " span.muted { (size(f.size)) " · sha256 " (f.sha256.get(..12).unwrap_or("")) "…" }
                                            @if entry.withdrawn { " " span.badge.yanked { "yanked" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    super::page(&v, &p.display_name, Nav::Packages, body)
}
