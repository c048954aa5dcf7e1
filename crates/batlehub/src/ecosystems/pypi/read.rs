//! PyPI reads: the Simple API (the project list, project pages as PEP 503
//! HTML or PEP 691 JSON), distribution files and their metadata, and the
//! JSON API of local projects.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::names::{self, normalize_version, parse_filename};
use super::op::file_permission;
use super::simple::{self, DistFile, Format, ProjectPage};
use crate::access::Permission;
use crate::catalog::{FileRow, PackageRow, VersionRow};
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Located, PackageView, RequestCtx, Withheld};
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::{DocFetch, Served};
use crate::upstream::{self, CacheKey};

pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn render_page(page: &ProjectPage, format: Format) -> AppResult<Vec<u8>> {
    match format {
        Format::Html => Ok(page.render_html().into_bytes()),
        Format::Json => serde_json::to_vec(&page.render_json()).map_err(|e| AppError::internal(e.to_string())),
    }
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Json => simple::JSON_V1,
    }
}

pub fn with_vary(mut r: Response) -> Response {
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept, Authorization"));
    r
}

/// Where a page links a file: always back here, never at an upstream.
fn file_url(registry_base: &str, project: &str, filename: &str) -> String {
    format!("{registry_base}/packages/{project}/{filename}")
}

/// A local project's page, from rows.
fn local_page(registry_base: &str, view: &PackageView, package: &PackageRow) -> ProjectPage {
    let (versions, files) = (&view.versions, &view.files);
    let by_version: HashMap<&str, &VersionRow> = versions.iter().map(|v| (v.id.as_str(), v)).collect();
    let metadata_files: HashMap<&str, &FileRow> =
        files.iter().filter_map(|f| f.filename.strip_suffix(".metadata").map(|d| (d, f))).collect();
    let mut page_files = Vec::new();
    for f in files.iter().filter(|f| !f.filename.ends_with(".metadata")) {
        let meta: Value = serde_json::from_str(&f.metadata).unwrap_or_else(|_| json!({}));
        let v = by_version.get(f.version_id.as_str());
        page_files.push(DistFile {
            filename: f.filename.clone(),
            url: file_url(registry_base, &package.name, &f.filename),
            hashes: BTreeMap::from([("sha256".to_string(), f.sha256.clone())]),
            requires_python: meta
                .get("requires_python")
                .and_then(|r| r.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            yanked: v.filter(|v| v.yanked).map(|v| v.yanked_reason.clone().unwrap_or_default()),
            core_metadata: metadata_files
                .get(f.filename.as_str())
                .map(|m| BTreeMap::from([("sha256".to_string(), m.sha256.clone())])),
            size: Some(f.size as u64),
            upload_time: Some(http::iso8601(f.created_at)),
        });
    }
    let mut vs: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
    vs.sort_by_key(|v| names::parse_version(v));
    ProjectPage { name: package.display_name.clone(), versions: vs, files: page_files }
}

/// An upstream project page, parsed once per fetched body (PEP 691 JSON or
/// PEP 503 HTML, relative links resolved against the page's URL).
/// The fetch of the upstream simple page of `project` (a normalised name).
pub fn page_fetch(ctx: &RequestCtx, project: &str) -> DocFetch {
    let accept = format!("{}, {}; q=0.2, text/html; q=0.1", simple::JSON_V1, simple::HTML_V1);
    ctx.doc_fetch(CacheKey::new("simple").part(project), format!("{project}/"), &accept)
}

async fn upstream_page(ctx: &RequestCtx, project: &str, force_refresh: bool) -> AppResult<(Arc<ProjectPage>, Served)> {
    let mut fetch = page_fetch(ctx, project);
    fetch.force_refresh = force_refresh;
    let served = ctx.document(fetch).await?;
    let name = project.to_string();
    let page = ctx
        .parsed(&served.doc, move |doc| {
            let page_url = upstream::join_url(&doc.header.source, &format!("{name}/"));
            ProjectPage::parse(&doc.body, doc.header.content_type.as_deref(), &page_url, &name)
        })
        .await?;
    Ok((page, served))
}

/// Each version an upstream page lists, with when it was published (its
/// earliest file's PEP 700 `upload-time`; HTML pages give none).
/// The versions a page lists as the rules see them: a version's time is
/// its earliest file's (PEP 700 `upload-time`); simple pages declare no
/// licences.
fn releases(page: &ProjectPage) -> Vec<crate::rules::Release> {
    let mut releases: Vec<crate::rules::Release> = Vec::new();
    let mut at_index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for f in &page.files {
        let Ok(dist) = parse_filename(&f.filename) else { continue };
        let at = f.upload_time.as_deref().and_then(crate::rules::parse_rfc3339);
        match at_index.get(&dist.version) {
            Some(&i) => {
                let known = &mut releases[i].published_at;
                *known = match (*known, at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            None => {
                at_index.insert(dist.version.clone(), releases.len());
                releases.push(crate::rules::Release { version: dist.version, published_at: at, licence: None });
            }
        }
    }
    releases
}

/// The upstream versions of `project` as the rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, project: &str) -> AppResult<Vec<crate::rules::Release>> {
    let (page, _) = upstream_page(ctx, &names::normalize(project), false).await?;
    Ok(releases(&page))
}

/// What the rules withhold from this caller of an upstream page.
fn withheld(ctx: &RequestCtx, project: &str, page: &ProjectPage) -> AppResult<Option<Withheld>> {
    if !ctx.has_rules() {
        return Ok(None);
    }
    let releases = releases(page);
    let candidates: Vec<crate::rules::Candidate> = releases.iter().map(|r| r.candidate(project)).collect();
    ctx.rules_withheld(&candidates)
}

/// The release an upstream file (or its `.metadata`) belongs to, as the
/// page that lists it says (`None`: not listed).
fn file_release(page: &ProjectPage, filename: &str) -> Option<crate::rules::Release> {
    let wanted = filename.strip_suffix(".metadata").unwrap_or(filename);
    if !page.files.iter().any(|f| f.filename == wanted) {
        return None;
    }
    let dist = parse_filename(wanted).ok()?;
    let at = releases(page).into_iter().find(|r| r.version == dist.version).and_then(|r| r.published_at);
    Some(crate::rules::Release { version: dist.version, published_at: at, licence: None })
}

/// Refuse an upstream file whose version the rules withhold.
fn check_file(ctx: &RequestCtx, project: &str, page: &ProjectPage, filename: &str) -> AppResult<()> {
    match file_release(page, filename) {
        Some(r) if ctx.has_rules() => ctx.rules_verdict(&r.candidate(project)),
        _ => Ok(()),
    }
}

pub async fn project(ctx: &RequestCtx, project: &str, format: Format, headers: &HeaderMap) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(project, &format!("project {project}"), Permission::ReleasesRead).await? {
        let variant = match format {
            Format::Html => "pypi-local-html",
            Format::Json => "pypi-local-json",
        };
        let base = ctx.registry_base();
        let rendered = ctx
            .rendered_local(&local, variant, move |view, package| {
                render_page(&local_page(&base, view, package), format)
            })
            .await?;
        return Ok(with_vary(http::document(headers, &rendered, content_type(format), None)));
    }
    let (upstream, served) = upstream_page(ctx, project, false).await?;
    // Rendered once per fetched body, format and public address.
    let variant = match format {
        Format::Html => "pypi-html",
        Format::Json => "pypi-json",
    };
    let base = ctx.registry_base();
    let withheld = withheld(ctx, project, &upstream)?;
    let render_key = withheld.as_ref().map_or_else(|| base.clone(), |w| w.render_key(&base));
    let project = project.to_string();
    let rendered = ctx
        .rendered((served.doc.generation, variant, render_key), move || {
            let mut page = (*upstream).clone();
            if let Some(w) = &withheld {
                page.files.retain(|f| parse_filename(&f.filename).is_ok_and(|d| w.allows(&d.version)));
                page.versions.retain(|v| w.allows(v));
            }
            for f in &mut page.files {
                f.url = file_url(&base, &project, &f.filename);
            }
            if page.versions.is_empty() {
                // HTML pages carry no PEP 700 `versions`: derive them from the files.
                let mut vs: Vec<String> =
                    page.files.iter().filter_map(|f| parse_filename(&f.filename).ok().map(|d| d.version)).collect();
                vs.sort_by_key(|v| names::parse_version(v));
                vs.dedup();
                page.versions = vs;
            }
            render_page(&page, format)
        })
        .await?;
    Ok(with_vary(http::document(headers, &rendered, content_type(format), Some(served.state))))
}

pub async fn root(ctx: &RequestCtx, format: Format, headers: &HeaderMap) -> AppResult<Response> {
    // Every local project the caller sees (no cap: the listing is loaded
    // once per change of the registries).
    let set = ctx.local_set().await?;
    let mut names: Vec<String> = set.visible().into_iter().map(|(_, r)| r.display_name.clone()).collect();
    names.sort();
    let (body, ct) = match format {
        Format::Html => (simple::render_root_html(&names).into_bytes(), "text/html; charset=utf-8"),
        Format::Json => (simple::render_root_json(&names).to_string().into_bytes(), simple::JSON_V1),
    };
    Ok(http::document(headers, &http::rendered(body), ct, None))
}

/// A distribution file, or (`metadata`) its core metadata (PEP 658).
pub async fn file(ctx: &RequestCtx, project: &str, filename: &str, metadata: bool) -> AppResult<Response> {
    let wanted = if metadata { Permission::ReleasesRead } else { file_permission(filename) };
    let stored_name = if metadata { format!("{filename}.metadata") } else { filename.to_string() };
    if let Some(local) = ctx.read_local(project, &format!("project {project}"), wanted).await? {
        return ctx.serve_local_file(&local, &stored_name).await;
    }
    let key = CacheKey::new(if metadata { "meta" } else { "file" }).part(project).part(&stored_name);
    // Before the cache: a cached file is withheld as a fetched one.
    ctx.rules_check_file(key.as_str(), || async {
        let (page, _) = upstream_page(ctx, project, false).await?;
        Ok(file_release(&page, filename).map(|r| (project.to_string(), r)))
    })
    .await?;
    let content_type = if metadata { "text/plain; charset=utf-8" } else { "application/octet-stream" };
    ctx.upstream_artifact(key, content_type, || async {
        let mut found = None;
        for force in [false, true] {
            let (page, _) = upstream_page(ctx, project, force).await?;
            if let Some(f) = page.files.iter().find(|f| f.filename == filename) {
                // A version only the refreshed page lists is checked here.
                check_file(ctx, project, &page, filename)?;
                found = Some(f.clone());
                break;
            }
        }
        let dist = found.ok_or_else(|| AppError::not_found(format!("{filename} not found")))?;
        let (url, hashes) = if metadata {
            let hashes = dist
                .core_metadata
                .clone()
                .ok_or_else(|| AppError::not_found(format!("{filename} has no metadata file")))?;
            (format!("{}.metadata", dist.url), hashes)
        } else {
            (dist.url.clone(), dist.hashes.clone())
        };
        let expected = hashes
            .get("sha256")
            .and_then(|h| ExpectedDigest::from_hex(h))
            .or_else(|| hashes.get("sha512").and_then(|h| ExpectedDigest::from_hex(h)));
        let located = Located::verified(url, expected)?;
        // A file (and its metadata sidecar) counts as its version's.
        Ok(match super::names::parse_filename(filename) {
            Ok(dist) => located.of_release(project, &dist.version),
            Err(_) => located,
        })
    })
    .await
}

fn file_json(ctx: &RequestCtx, project: &str, f: &FileRow, v: &VersionRow) -> Value {
    let meta: Value = serde_json::from_str(&f.metadata).unwrap_or_else(|_| json!({}));
    let time = http::iso8601(f.created_at);
    json!({
        "filename": f.filename,
        "url": file_url(&ctx.registry_base(), project, &f.filename),
        "digests": { "sha256": f.sha256, "md5": f.md5 },
        "md5_digest": f.md5,
        "size": f.size,
        "packagetype": meta.get("packagetype").cloned().unwrap_or(json!("sdist")),
        "python_version": meta.get("python_version").cloned().unwrap_or(json!("source")),
        "requires_python": meta.get("requires_python").cloned().unwrap_or(Value::Null),
        "upload_time": time.trim_end_matches('Z'),
        "upload_time_iso_8601": time,
        "yanked": v.yanked,
        "yanked_reason": v.yanked_reason,
    })
}

pub async fn json_api(ctx: &RequestCtx, project: &str, version: Option<&str>) -> AppResult<Response> {
    let local = ctx
        .read_local(project, &format!("project {project}"), Permission::ReleasesRead)
        .await?
        .ok_or_else(|| AppError::not_found(format!("project {project} not found in this registry's local packages")))?;
    let (package, versions, files) = (&local.package, &local.view.versions, &local.view.files);
    let dists: Vec<&FileRow> = files.iter().filter(|f| !f.filename.ends_with(".metadata")).collect();
    let mut releases = serde_json::Map::new();
    let mut sorted: Vec<&VersionRow> = versions.iter().collect();
    sorted.sort_by_key(|v| names::parse_version(&v.version));
    for v in &sorted {
        let fs: Vec<Value> =
            dists.iter().filter(|f| f.version_id == v.id).map(|f| file_json(ctx, project, f, v)).collect();
        releases.insert(v.version.clone(), Value::Array(fs));
    }
    let chosen = match version {
        Some(want) => {
            let want =
                normalize_version(want).ok_or_else(|| AppError::not_found(format!("version {want} not found")))?;
            sorted
                .iter()
                .find(|v| v.version == want)
                .copied()
                .ok_or_else(|| AppError::not_found(format!("version {want} not found")))?
        }
        None => sorted
            .iter()
            .rev()
            .find(|v| !v.yanked && names::parse_version(&v.version).is_some_and(|p| !p.any_prerelease()))
            .or_else(|| sorted.last())
            .copied()
            .ok_or_else(|| AppError::not_found(format!("project {project} has no versions")))?,
    };
    let meta: Value = serde_json::from_str(&chosen.metadata).unwrap_or_else(|_| json!({}));
    let info = json!({
        "name": package.display_name,
        "version": chosen.version,
        "summary": meta.get("summary").cloned().unwrap_or(Value::Null),
        "requires_python": meta.get("requires_python").cloned().unwrap_or(Value::Null),
        "requires_dist": meta.get("requires_dist").cloned().unwrap_or(Value::Null),
        "author": meta.get("author").cloned().unwrap_or(Value::Null),
        "license": meta.get("license").cloned().unwrap_or(Value::Null),
        "home_page": meta.get("home_page").cloned().unwrap_or(Value::Null),
        "project_url": format!("{}/simple/{project}/", ctx.registry_base()),
        "package_url": format!("{}/simple/{project}/", ctx.registry_base()),
        "release_url": format!("{}/pypi/{project}/{}/json", ctx.registry_base(), chosen.version),
        "yanked": chosen.yanked,
        "yanked_reason": chosen.yanked_reason,
    });
    let urls: Vec<Value> =
        dists.iter().filter(|f| f.version_id == chosen.id).map(|f| file_json(ctx, project, f, chosen)).collect();
    let mut doc = json!({ "info": info, "last_serial": package.updated_at, "urls": urls, "vulnerabilities": [] });
    if version.is_none() {
        doc["releases"] = Value::Object(releases);
    }
    Ok(http::json(StatusCode::OK, &doc))
}
