//! Composer reads: `packages.json`, p2 metadata (local, rendered from rows;
//! upstream, expanded, rewritten and minified again), dist downloads,
//! search and the package list.
//!
//! Every `dist.url` served points back here
//! (`{base}/dist/{vendor}/{package}/{version}.zip`); for an upstream package
//! the original location is looked up server-side in the cached upstream
//! document, so a client can only make BatleHub fetch what a configured
//! upstream lists. `dist.shasum` is the SHA-1 of the archive Composer will
//! download (Composer checks SHA-1): computed at upload for local packages,
//! the upstream's own for upstream ones (verified when given).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::names::{PackageName, is_dev, normalize};
use super::p2;
use crate::access::Permission;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Located, PackageView, RequestCtx};
use crate::upstream::CacheKey;
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::DocFetch;

/// The file name of a local version's archive.
pub fn dist_file(version: &str) -> String {
    format!("{version}.zip")
}

/// The dist URL of `name` (a catalog key) at `version`, when it is a valid
/// package name.
pub fn dist_link(registry_base: &str, name: &str, version: &str) -> Option<String> {
    PackageName::parse(name).ok().map(|n| dist_url(registry_base, &n, version))
}

fn dist_url(registry_base: &str, name: &PackageName, version: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_');
    let v = percent_encoding::utf8_percent_encode(version, SEGMENT);
    format!("{registry_base}/dist/{name}/{v}.zip")
}

/// `packages.json`: where the metadata, the search and the list are.
/// `available-packages` tells Composer that a name not listed does not
/// exist here, so it is sent only by a local registry (whose list is
/// complete), and lists only what the caller may see.
pub async fn root(ctx: &RequestCtx) -> AppResult<Response> {
    let base = ctx.registry_base();
    let mut doc = json!({
        "packages": [],
        "metadata-url": format!("{base}/p2/%package%.json"),
        "search": format!("{base}/search.json?q=%query%&type=%type%"),
        "list": format!("{base}/list.json"),
    });
    if ctx.registry.mode == crate::config::Mode::Local {
        // The whole list (a list cut short would make Composer take the
        // names left out for names that do not exist).
        let set = ctx.local_set().await?;
        let mut names: Vec<String> = set.visible().into_iter().map(|(_, p)| p.name.clone()).collect();
        names.sort();
        doc["available-packages"] = json!(names);
    }
    Ok(http::json(StatusCode::OK, &doc))
}

/// A local package's versions as Composer reads them, newest first.
fn local_versions(base: &str, name: &PackageName, view: &PackageView, dev: bool) -> Vec<Map<String, Value>> {
    let mut out: Vec<(String, Map<String, Value>)> = Vec::new();
    for v in view.versions.iter().filter(|v| !v.yanked && is_dev(&v.version) == dev) {
        let Some(file) = view.files.iter().find(|f| f.version_id == v.id && f.filename == dist_file(&v.version)) else {
            continue;
        };
        let mut m = match serde_json::from_str::<Value>(&v.metadata) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let normalized = normalize(&v.version).unwrap_or_else(|| v.version.clone());
        m.insert("name".into(), json!(name.as_str()));
        m.insert("version".into(), json!(v.version));
        m.insert("version_normalized".into(), json!(normalized.clone()));
        m.insert(
            "dist".into(),
            json!({ "type": "zip", "url": dist_url(base, name, &v.version), "shasum": file.sha1, "reference": file.sha1 }),
        );
        m.insert("time".into(), json!(http::iso8601(v.published_at)));
        m.remove("source");
        out.push((normalized, m));
    }
    out.sort_by(|a, b| compare_normalized(&b.0, &a.0));
    out.into_iter().map(|(_, m)| m).collect()
}

/// Order of normalised versions: numbers numerically, then the stability
/// (dev < alpha < beta < RC < stable < patch).
fn compare_normalized(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(v: &str) -> (Vec<u64>, u8, String) {
        let (nums, rest) = v.split_once('-').unwrap_or((v, ""));
        let nums = nums.split('.').map(|n| n.parse().unwrap_or(0)).collect();
        let lower = rest.to_ascii_lowercase();
        let rank = if rest.is_empty() {
            4
        } else if lower.starts_with("dev") {
            0
        } else if lower.starts_with("alpha") {
            1
        } else if lower.starts_with("beta") {
            2
        } else if lower.starts_with("rc") {
            3
        } else {
            5
        };
        (nums, rank, rest.to_string())
    }
    key(a).cmp(&key(b))
}

/// The fetch of an upstream p2 document.
pub fn p2_fetch(ctx: &RequestCtx, name: &PackageName, dev: bool) -> DocFetch {
    let file = if dev { format!("{name}~dev.json") } else { format!("{name}.json") };
    ctx.doc_fetch(CacheKey::new(if dev { "p2dev" } else { "p2" }).part(name.as_str()), format!("p2/{file}"), "application/json")
}

/// An upstream p2 document's versions of `name`, expanded (parsed once per
/// fetched body).
async fn upstream_versions(ctx: &RequestCtx, name: &PackageName, dev: bool) -> AppResult<(Arc<Vec<Map<String, Value>>>, crate::upstream::documents::Served)> {
    let served = ctx.document(p2_fetch(ctx, name, dev)).await?;
    let package = name.to_string();
    let versions = ctx
        .parsed(&served.doc, move |doc| {
            let value: Value = serde_json::from_slice(&doc.body).map_err(|e| format!("p2 document of {package}: {e}"))?;
            p2::expand(&value, &package)
        })
        .await?;
    Ok((versions, served))
}

/// An upstream p2 document's versions as the rules see them: each with its
/// `time` and its `license` list (a choice among them: `A OR B`).
pub fn releases(versions: &[Map<String, Value>]) -> Vec<crate::rules::Release> {
    versions
        .iter()
        .filter_map(|v| {
            let version = v.get("version").and_then(Value::as_str)?.to_string();
            let published_at = v.get("time").and_then(Value::as_str).and_then(crate::rules::parse_rfc3339);
            let licence = match v.get("license") {
                Some(Value::String(l)) => Some(l.clone()),
                Some(Value::Array(ls)) => {
                    let ls: Vec<&str> = ls.iter().filter_map(Value::as_str).collect();
                    (!ls.is_empty()).then(|| if ls.len() == 1 { ls[0].to_string() } else { format!("({})", ls.join(" OR ")) })
                }
                _ => None,
            };
            Some(crate::rules::Release { version, published_at, licence })
        })
        .collect()
}

/// The upstream versions of `name` (stable and dev) as the rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let name = PackageName::parse(name).map_err(AppError::BadRequest)?;
    let mut all = Vec::new();
    for dev in [false, true] {
        match upstream_versions(ctx, &name, dev).await {
            Ok((versions, _)) => all.extend(releases(&versions)),
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

/// `p2/{vendor}/{package}.json` (`~dev.json`).
pub async fn p2_document(ctx: &RequestCtx, name: &PackageName, dev: bool, headers: &HeaderMap) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(name.as_str(), name.as_str(), Permission::ReleasesRead).await? {
        let variant = if dev { "composer-p2-dev" } else { "composer-p2" };
        let (base, n) = (ctx.registry_base(), name.clone());
        let rendered = ctx
            .rendered_local(&local, variant, move |view, _| {
                let versions = local_versions(&base, &n, view, dev);
                serde_json::to_vec(&p2::minify(n.as_str(), &versions)).map_err(|e| AppError::internal(e.to_string()))
            })
            .await?;
        let modified = local.view.versions.iter().map(|v| v.published_at).chain([local.package.updated_at]).max().unwrap_or(0);
        return Ok(last_modified(headers, http::document(headers, &rendered, "application/json", None), modified));
    }
    let (versions, served) = upstream_versions(ctx, name, dev).await?;
    let modified = served.doc.header.last_modified.as_deref().and_then(http::http_date_ms).unwrap_or(served.doc.header.fetched_at);
    let (base, n) = (ctx.registry_base(), name.clone());
    let variant = if dev { "composer-p2-dev-upstream" } else { "composer-p2-upstream" };
    let withheld = if ctx.has_rules() {
        let releases = releases(&versions);
        let candidates: Vec<_> = releases.iter().map(|r| r.candidate(name.as_str())).collect();
        ctx.rules_withheld(&candidates)?
    } else {
        None
    };
    let render_key = withheld.as_ref().map_or_else(|| base.clone(), |w| w.render_key(&base));
    let rendered = ctx
        .rendered((served.doc.generation, variant, render_key), move || {
            let rewritten: Vec<Map<String, Value>> = versions
                .iter()
                .filter(|v| {
                    let version = v.get("version").and_then(Value::as_str).unwrap_or("");
                    withheld.as_ref().is_none_or(|w| w.allows(version))
                })
                .map(|v| {
                    let mut v = v.clone();
                    let version = v.get("version").and_then(Value::as_str).unwrap_or("").to_string();
                    if let Some(Value::Object(dist)) = v.get_mut("dist") {
                        dist.insert("url".into(), json!(dist_url(&base, &n, &version)));
                    }
                    v
                })
                .collect();
            serde_json::to_vec(&p2::minify(n.as_str(), &rewritten)).map_err(|e| AppError::internal(e.to_string()))
        })
        .await?;
    Ok(last_modified(headers, http::document(headers, &rendered, "application/json", Some(served.state)), modified))
}

/// `Last-Modified` on a metadata response, and 304 for an
/// `If-Modified-Since` at or after it (Composer revalidates p2 documents
/// that way) when the request has no `If-None-Match`.
fn last_modified(headers: &HeaderMap, mut response: Response, modified_ms: i64) -> Response {
    // HTTP dates have whole seconds: a second in which the package changed
    // is given out only once it is over, so that a later change always has
    // a later date (and a revalidation never answers 304 over it).
    let second = modified_ms.max(0) / 1000;
    if crate::catalog::now_ms() < (second + 1) * 1000 {
        return response;
    }
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(second as u64);
    let since = headers
        .get(axum::http::header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    if response.status() == StatusCode::OK
        && !headers.contains_key(axum::http::header::IF_NONE_MATCH)
        && since.is_some_and(|since| when <= since)
    {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.body_mut() = axum::body::Body::empty();
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(when)) {
        response.headers_mut().insert(axum::http::header::LAST_MODIFIED, v);
    }
    response
}

/// `dist/{vendor}/{package}/{version}.zip`.
pub async fn dist(ctx: &RequestCtx, name: &PackageName, version: &str) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(name.as_str(), name.as_str(), Permission::SourceRead).await? {
        let yanked_or_absent = local.view.versions.iter().find(|v| v.version == version).is_none_or(|v| v.yanked);
        if yanked_or_absent {
            return Err(AppError::not_found(format!("{name} {version} not found")));
        }
        return ctx.serve_local_file(&local, &dist_file(version)).await;
    }
    if ctx.has_rules() {
        // Before the cache: a cached dist is withheld as a fetched one.
        check_dist(ctx, name, version).await?;
    }
    let key = CacheKey::new("dist").part(name.as_str()).part(version);
    ctx.upstream_artifact(key, "application/zip", || async {
        for dev in [is_dev(version), !is_dev(version)] {
            let (versions, _) = match upstream_versions(ctx, name, dev).await {
                Ok(found) => found,
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let Some(entry) = versions.iter().find(|v| v.get("version").and_then(Value::as_str) == Some(version)) else {
                continue;
            };
            if ctx.has_rules() {
                // A version only a refreshed document lists is checked here.
                let releases = releases(std::slice::from_ref(entry));
                let candidates: Vec<_> = releases.iter().map(|r| r.candidate(name.as_str())).collect();
                ctx.rules_check_listed(&candidates, version)?;
            }
            let dist = entry.get("dist").ok_or_else(|| AppError::not_found(format!("{name} {version} has no dist")))?;
            let url = dist.get("url").and_then(Value::as_str).ok_or_else(|| AppError::not_found(format!("{name} {version} has no dist")))?;
            let shasum = dist.get("shasum").and_then(Value::as_str).unwrap_or("");
            // Verified when the upstream gives a SHA-1 (many give none for
            // archives of a VCS reference); a zip dist must be a readable ZIP.
            let located = match ExpectedDigest::from_hex(shasum) {
                Some(d) => Located::verified(url.to_string(), Some(d))?,
                None => Located::unverified(url.to_string()),
            };
            let zip = dist.get("type").and_then(Value::as_str).is_none_or(|t| t == "zip");
            let located = located.of_release(name.as_str(), version);
            return Ok(if zip { located.checked_by(check_zip) } else { located });
        }
        Err(AppError::not_found(format!("{name} {version} not found")))
    })
    .await
}

/// Refuse a dist of a version the rules withhold, as the upstream lists it.
async fn check_dist(ctx: &RequestCtx, name: &PackageName, version: &str) -> AppResult<()> {
    for dev in [is_dev(version), !is_dev(version)] {
        match upstream_versions(ctx, name, dev).await {
            Ok((versions, _)) => {
                let releases = releases(&versions);
                let candidates: Vec<_> = releases.iter().map(|r| r.candidate(name.as_str())).collect();
                ctx.rules_check_listed(&candidates, version)?;
            }
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An upstream's zip dist must at least be a ZIP archive whose directory
/// reads.
fn check_zip(path: &std::path::Path) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    zip::ZipArchive::new(std::io::BufReader::new(f)).map(|_| ()).map_err(|e| format!("the dist is not a ZIP archive: {e}"))
}

/// `search.json?q=`: local packages the caller may see.
pub async fn search(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    let q = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "q").map(|(_, v)| v.into_owned()).unwrap_or_default();
    let rows = ctx.visible_packages(&q, 100).await?;
    let base = ctx.registry_base();
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            let description = serde_json::from_str::<Value>(&r.metadata).ok().and_then(|m| m.get("description").cloned()).unwrap_or(json!(""));
            json!({ "name": r.name, "description": description, "url": format!("{base}/p2/{}.json", r.name), "repository": base })
        })
        .collect();
    Ok(http::json(StatusCode::OK, &json!({ "results": results, "total": results.len() })))
}

/// `list.json`: the names of the local packages the caller may see.
pub async fn list(ctx: &RequestCtx) -> AppResult<Response> {
    let set = ctx.local_set().await?;
    let mut names: Vec<String> = set.visible().into_iter().map(|(_, p)| p.name.clone()).collect();
    names.sort();
    Ok(http::json(StatusCode::OK, &json!({ "packageNames": names })))
}
