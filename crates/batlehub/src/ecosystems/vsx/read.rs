//! Extension reads: VSIX downloads and assets (the guide's direct URL, the
//! gallery's and OpenVSX's), OpenVSX's extension, namespace, search and
//! query documents, and the gallery's `extensionquery`.
//!
//! A name a local registry holds (or a claim covers) is answered from the
//! catalog only and never asked upstream; any other from the upstream,
//! whose VSIX files are cached once fetched and whose assets come from the
//! URLs it gives. An icon is served as an image only in a raster format:
//! an SVG (script on this origin) never is.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{self, Release, Urls};
use super::names::{self, Asset, ExtId};
use super::op::{Version, Want};
use super::upstream::Flavour;
use super::vsix;
use crate::access::Permission;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Local, Located, RequestCtx};
use crate::upstream::CacheKey;
use crate::upstream::documents::CacheState;

const JSON: &str = "application/json";
/// The largest `extensionquery` body read.
const MAX_QUERY: usize = 64 * 1024;

/// Where an extension's releases come from.
pub enum Source {
    Local(Local),
    Upstream(Option<CacheState>),
}

/// Every release of `id` (newest first) and where they come from; `None`
/// when nobody has it.
pub async fn releases_of<F: Flavour>(ctx: &RequestCtx, id: &ExtId) -> AppResult<Option<(Vec<Release>, Source)>> {
    if let Some(local) = ctx.read_local(&id.key(), &id.display(), Permission::ReleasesRead).await? {
        let releases = model::local_releases(&local.package.display_name, &local.view.versions, &local.view.files);
        return Ok((!releases.is_empty()).then_some((releases, Source::Local(local))));
    }
    let Some((releases, state)) = F::releases(ctx, id).await? else { return Ok(None) };
    Ok(Some((allowed_releases::<F>(ctx, id, releases).await?, Source::Upstream(Some(state)))))
}

/// Upstream releases as the rules see them: a version's time (`0` is
/// none) and licence are its own, read from its document where the listing
/// does not give them and a rule reads them.
async fn candidates_of<F: Flavour>(ctx: &RequestCtx, releases: &[Release]) -> AppResult<Vec<crate::rules::Release>> {
    let rules = &ctx.registry.rules;
    rules_view::<F>(ctx, releases, rules.needs_times() || rules.needs_licences()).await
}

/// Each version of `releases` once (its first platform's), as the rules
/// see it; with its own document's time and licence when `details` (read a
/// few at a time).
async fn rules_view<F: Flavour>(ctx: &RequestCtx, releases: &[Release], details: bool) -> AppResult<Vec<crate::rules::Release>> {
    use futures_util::StreamExt;
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<Release> = releases.iter().filter(|r| seen.insert(r.version.as_str())).cloned().collect();
    let read: Vec<AppResult<crate::rules::Release>> = futures_util::stream::iter(firsts)
        .map(|r| async move {
            let full = if details { F::detailed(ctx, &r).await? } else { r };
            Ok(crate::rules::Release {
                version: full.version.clone(),
                published_at: Some(full.meta.timestamp).filter(|t| *t > 0),
                licence: Some(full.meta.license.clone()).filter(|l| !l.is_empty()),
            })
        })
        .buffered(8)
        .collect()
        .await;
    read.into_iter().collect()
}

/// Of an upstream extension's releases, those the rules let this caller
/// have (a 403 with the newest one's reason when none).
async fn allowed_releases<F: Flavour>(ctx: &RequestCtx, id: &ExtId, releases: Vec<Release>) -> AppResult<Vec<Release>> {
    if !ctx.has_rules() {
        return Ok(releases);
    }
    let key = id.key();
    let found = candidates_of::<F>(ctx, &releases).await?;
    let candidates: Vec<_> = found.iter().map(|r| r.candidate(&key)).collect();
    Ok(match ctx.rules_withheld(&candidates)? {
        Some(w) => releases.into_iter().filter(|r| w.allows(&r.version)).collect(),
        None => releases,
    })
}

/// One upstream release in full, as the rules let this caller have it:
/// `version` (refused with the rule's reason when withheld) or the newest
/// allowed, on `platform` or universal.
async fn upstream_release<F: Flavour>(
    ctx: &RequestCtx,
    id: &ExtId,
    version: Option<&str>,
    platform: Option<&str>,
) -> AppResult<Option<Release>> {
    if !ctx.has_rules() {
        return F::release(ctx, id, version, platform).await;
    }
    let Some((all, _)) = F::releases(ctx, id).await? else { return Ok(None) };
    if let Some(v) = version {
        let listed: Vec<Release> = all.iter().filter(|r| r.version == v).take(1).cloned().collect();
        let found = candidates_of::<F>(ctx, &listed).await?;
        let key = id.key();
        let candidates: Vec<_> = found.iter().map(|r| r.candidate(&key)).collect();
        ctx.rules_check_listed(&candidates, v)?;
        return F::release(ctx, id, version, platform).await;
    }
    let allowed = allowed_releases::<F>(ctx, id, all).await?;
    match model::pick(&allowed, None, platform) {
        Some(newest) => F::release(ctx, id, Some(&newest.version), platform).await,
        None => Ok(None),
    }
}

/// The upstream versions of `id` as the rules see them.
pub async fn upstream_releases<F: Flavour>(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let id = ExtId::parse(name).map_err(AppError::BadRequest)?;
    let Some((all, _)) = F::releases(ctx, &id).await? else {
        return Err(AppError::not_found(format!("Extension not found: {}", id.display())));
    };
    rules_view::<F>(ctx, &all, true).await
}

fn not_found(id: &ExtId, version: &Version, platform: Option<&str>) -> AppError {
    let v = version.exact().unwrap_or("latest");
    match platform {
        Some(p) => AppError::not_found(format!("Extension not found: {} {v} ({p})", id.display())),
        None => AppError::not_found(format!("Extension not found: {} {v}", id.display())),
    }
}

/// One release in full, and where it comes from.
async fn release_of<F: Flavour>(
    ctx: &RequestCtx,
    id: &ExtId,
    version: &Version,
    platform: Option<&str>,
) -> AppResult<(Release, Source)> {
    if let Some(local) = ctx.read_local(&id.key(), &id.display(), Permission::ReleasesRead).await? {
        let releases = model::local_releases(&local.package.display_name, &local.view.versions, &local.view.files);
        let r = model::pick(&releases, version.exact(), platform).cloned().ok_or_else(|| not_found(id, version, platform))?;
        return Ok((r, Source::Local(local)));
    }
    let r = upstream_release::<F>(ctx, id, version.exact(), platform).await?.ok_or_else(|| not_found(id, version, platform))?;
    if let Some(p) = platform
        && r.platform != p
        && r.platform != names::UNIVERSAL
    {
        return Err(not_found(id, version, Some(p)));
    }
    Ok((r, Source::Upstream(None)))
}

fn with_header(mut r: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

fn attachment(r: Response, file: &str) -> Response {
    with_header(r, header::CONTENT_DISPOSITION, &format!("attachment; filename=\"{file}\""))
}

/// A content type the upstream's assets are served with, by asset.
fn static_type(asset: Asset, meta: &vsix::Meta) -> &'static str {
    match asset {
        Asset::Manifest => JSON,
        Asset::Readme | Asset::Changelog => "text/markdown; charset=utf-8",
        Asset::VsixManifest | Asset::License => "text/plain; charset=utf-8",
        Asset::Icon => vsix::icon_type(meta.icon_type.as_deref().map(icon_ext).unwrap_or("")),
    }
}

/// A file name standing for an icon's content type (for [`vsix::icon_type`]).
fn icon_ext(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "x.png",
        "image/jpeg" => "x.jpg",
        "image/gif" => "x.gif",
        "image/webp" => "x.webp",
        _ => "",
    }
}

/// A release's VSIX, asset or digest.
pub async fn file<F: Flavour>(
    ctx: &RequestCtx,
    id: &ExtId,
    version: &Version,
    platform: Option<&str>,
    want: Want,
) -> AppResult<Response> {
    let (r, source) = release_of::<F>(ctx, id, version, platform).await?;
    let name = names::download_name(&r.id, &r.version, &r.platform);
    match source {
        Source::Local(local) => {
            let vsix_file = names::vsix_file(&r.id, &r.version, &r.platform);
            match want {
                Want::Vsix => Ok(attachment(ctx.serve_local_file(&local, &vsix_file).await?, &name)),
                Want::Sha256 => {
                    let f = local.view.file(&vsix_file).ok_or_else(|| not_found(id, version, platform))?;
                    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], f.sha256.clone()).into_response())
                }
                Want::Asset(a) if r.assets.contains(&a) => {
                    let served = ctx.serve_local_file(&local, &names::asset_file(&r.platform, &r.version, a)).await?;
                    Ok(if a == Asset::Icon && r.meta.icon_type.as_deref() == Some("application/octet-stream") {
                        attachment(served, "icon")
                    } else {
                        served
                    })
                }
                Want::Asset(a) => Err(AppError::not_found(format!("{} {} has no {}", r.id.display(), r.version, a.file_name()))),
            }
        }
        Source::Upstream(_) => upstream_file::<F>(ctx, &r, want, &name).await,
    }
}

async fn upstream_file<F: Flavour>(ctx: &RequestCtx, r: &Release, want: Want, name: &str) -> AppResult<Response> {
    let key = |kind: &'static str| CacheKey::new(kind).part(&r.id.key()).part(&r.version).part(&r.platform);
    match want {
        Want::Vsix => {
            let served = ctx.upstream_artifact(key("vsix"), "application/octet-stream", || F::locate(ctx, r)).await?;
            Ok(attachment(served, name))
        }
        Want::Sha256 => {
            let url = r.upstream.as_ref().and_then(|u| u.sha256.clone()).ok_or_else(|| {
                AppError::not_found(format!("the upstream gives no SHA-256 of {} {}", r.id.display(), r.version))
            })?;
            let fetch = ctx.doc_fetch_at(key("openvsx-sha256"), &url, "text/plain")?;
            let served = ctx.document(fetch).await?;
            let text = String::from_utf8_lossy(&served.doc.body);
            let hexed = text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
            if hexed.len() != 64 || !hexed.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AppError::upstream("the upstream's SHA-256 is not one"));
            }
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], hexed).into_response())
        }
        Want::Asset(a) => {
            let url = r
                .upstream
                .as_ref()
                .and_then(|u| u.assets.get(&a).cloned())
                .ok_or_else(|| AppError::not_found(format!("{} {} has no {}", r.id.display(), r.version, a.file_name())))?;
            let content_type = static_type(a, &r.meta);
            let served = ctx
                .upstream_artifact(key("vsx-asset").part(a.file_name()), content_type, || async {
                    Ok(Located::unverified(ctx.check_upstream_url(&url)?.to_string()).of_release(&r.id.key(), &r.version))
                })
                .await?;
            Ok(if content_type == "application/octet-stream" { attachment(served, a.file_name()) } else { served })
        }
    }
}

fn document(headers: &HeaderMap, value: &Value, state: Option<CacheState>) -> AppResult<Response> {
    let body = serde_json::to_vec(value).map_err(|e| AppError::internal(e.to_string()))?;
    Ok(http::document(headers, &http::rendered(body), JSON, state))
}

fn state_of(source: &Source) -> Option<CacheState> {
    match source {
        Source::Local(_) => None,
        Source::Upstream(s) => *s,
    }
}

/// `api/{ns}/{ext}[/{platform}][/{version}]`.
pub async fn extension<F: Flavour>(
    ctx: &RequestCtx,
    id: &ExtId,
    platform: Option<&str>,
    version: &Version,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let (releases, source) = releases_of::<F>(ctx, id).await?.ok_or_else(|| not_found(id, version, platform))?;
    let state = state_of(&source);
    let r = match source {
        Source::Local(_) => model::pick(&releases, version.exact(), platform).cloned(),
        Source::Upstream(_) => upstream_release::<F>(ctx, id, version.exact(), platform).await?,
    }
    .ok_or_else(|| not_found(id, version, platform))?;
    let urls = Urls { base: &ctx.registry_base() };
    document(headers, &model::openvsx_extension(&urls, &r, &releases), state)
}

/// The newest release of each local package the caller may see whose id
/// holds `text`, at most `limit`.
async fn local_matches(ctx: &RequestCtx, text: &str, limit: i64) -> AppResult<Vec<Vec<Release>>> {
    let rows = ctx.visible_packages(text, limit).await?;
    let mut out = Vec::new();
    for row in rows {
        if let Some(local) = ctx.read_local(&row.name, &row.display_name, Permission::ReleasesRead).await? {
            let releases = model::local_releases(&local.package.display_name, &local.view.versions, &local.view.files);
            if !releases.is_empty() {
                out.push(releases);
            }
        }
    }
    Ok(out)
}

fn param<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// `api/-/search?query=&size=&offset=`: the local extensions.
pub async fn search(ctx: &RequestCtx, params: &[(String, String)], headers: &HeaderMap) -> AppResult<Response> {
    let text = param(params, "query").unwrap_or("");
    let size = param(params, "size").and_then(|s| s.parse::<usize>().ok()).unwrap_or(18).min(100);
    let offset = param(params, "offset").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0).min(10_000);
    let all = local_matches(ctx, text, (offset + size) as i64 + 1).await?;
    let urls = Urls { base: &ctx.registry_base() };
    let mut all = all;
    all.sort_by_key(|rs| rs.first().map(|r| r.id.key()));
    let hits: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(size)
        .filter_map(|rs| model::pick(rs, None, None))
        .map(|r| model::search_entry(&urls, r))
        .collect();
    document(headers, &json!({"offset": offset, "totalSize": all.len(), "extensions": hits}), None)
}

/// `api/-/query?extensionId=&extensionVersion=&targetPlatform=&includeAllVersions=`.
pub async fn query<F: Flavour>(ctx: &RequestCtx, params: &[(String, String)], headers: &HeaderMap) -> AppResult<Response> {
    let id = match (param(params, "extensionId"), param(params, "namespaceName"), param(params, "extensionName")) {
        (Some(id), _, _) => ExtId::parse(id),
        (None, Some(ns), Some(n)) => ExtId::of(ns, n),
        _ => return Err(AppError::bad_request("give extensionId, or namespaceName and extensionName")),
    }
    .map_err(AppError::BadRequest)?;
    let version = param(params, "extensionVersion");
    if let Some(v) = version {
        names::check_version(v).map_err(AppError::BadRequest)?;
    }
    let platform = param(params, "targetPlatform");
    if let Some(p) = platform {
        names::check_platform(p).map_err(AppError::BadRequest)?;
    }
    let all_versions = param(params, "includeAllVersions") == Some("true");
    let urls = Urls { base: &ctx.registry_base() };
    let Some((releases, source)) = releases_of::<F>(ctx, &id).await? else {
        return document(headers, &json!({"extensions": []}), None);
    };
    let state = state_of(&source);
    let chosen: Vec<Release> = if all_versions {
        releases.iter().filter(|r| platform.is_none_or(|p| r.platform == p)).cloned().collect()
    } else {
        match source {
            Source::Local(_) => model::pick(&releases, version, platform).cloned().into_iter().collect(),
            Source::Upstream(_) => upstream_release::<F>(ctx, &id, version, platform).await?.into_iter().collect(),
        }
    };
    let extensions: Vec<Value> = chosen.iter().map(|r| model::openvsx_extension(&urls, r, &releases)).collect();
    document(headers, &json!({"extensions": extensions}), state)
}

/// `api/{namespace}`: the namespace's local extensions.
pub async fn namespace(ctx: &RequestCtx, ns: &str, headers: &HeaderMap) -> AppResult<Response> {
    let prefix = format!("{}.", ns.to_ascii_lowercase());
    let base = ctx.registry_base();
    let mut extensions = serde_json::Map::new();
    for rs in local_matches(ctx, &prefix, 1000).await? {
        if let Some(r) = rs.first().filter(|r| r.id.key().starts_with(&prefix)) {
            extensions.insert(r.id.name.clone(), json!(format!("{base}/api/{}/{}", r.id.publisher, r.id.name)));
        }
    }
    if extensions.is_empty() {
        return Err(AppError::not_found(format!("Namespace not found: {ns}")));
    }
    document(headers, &json!({"name": ns, "extensions": extensions, "verified": false, "access": "restricted"}), None)
}

/// One criterion of a gallery filter.
struct Criterion {
    filter_type: u64,
    value: String,
}

/// The gallery's `extensionquery`: each filter's matches, shaped by the
/// query's flags. Names (`filterType` 7) are looked up here and upstream;
/// search text, categories and tags match the local extensions.
pub async fn gallery_query<F: Flavour>(ctx: &RequestCtx, headers: &HeaderMap, body: axum::body::Body) -> AppResult<Response> {
    let bytes = http::read_small_body(body, MAX_QUERY).await?;
    let q: Value = serde_json::from_slice(&bytes).map_err(|e| AppError::bad_request(format!("the query is not JSON: {e}")))?;
    let flags = q.get("flags").and_then(Value::as_u64).unwrap_or(0);
    let filters = q.get("filters").and_then(Value::as_array).cloned().unwrap_or_default();
    if filters.len() > 16 {
        return Err(AppError::bad_request("at most 16 filters"));
    }
    let urls_base = ctx.registry_base();
    let urls = Urls { base: &urls_base };
    let mut results = Vec::new();
    let mut stale = None;
    for f in &filters {
        let criteria: Vec<Criterion> = f
            .get("criteria")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(64)
            .filter_map(|c| {
                let filter_type = c.get("filterType").and_then(Value::as_u64)?;
                let value = c.get("value").and_then(Value::as_str).unwrap_or("").to_string();
                Some(Criterion { filter_type, value })
            })
            .collect();
        let page = f.get("pageNumber").and_then(Value::as_u64).unwrap_or(1).clamp(1, 1000) as usize;
        let size = f.get("pageSize").and_then(Value::as_u64).unwrap_or(50).clamp(1, 100) as usize;
        let names: Vec<&str> = criteria.iter().filter(|c| c.filter_type == 7).map(|c| c.value.as_str()).collect();
        let guids: Vec<&str> = criteria.iter().filter(|c| c.filter_type == 4).map(|c| c.value.as_str()).collect();
        let mut found: Vec<Vec<Release>> = Vec::new();
        if !names.is_empty() {
            for name in names.iter().take(100) {
                let Ok(id) = ExtId::parse(name) else { continue };
                if let Some((rs, source)) = releases_of::<F>(ctx, &id).await? {
                    if let Some(CacheState::Stale) = state_of(&source) {
                        stale = Some(CacheState::Stale);
                    }
                    found.push(rs);
                }
            }
        } else {
            let text = criteria.iter().find(|c| c.filter_type == 10).map(|c| c.value.to_ascii_lowercase()).unwrap_or_default();
            let words: Vec<&str> = text.split_whitespace().collect();
            let category = criteria.iter().find(|c| c.filter_type == 5).map(|c| c.value.clone());
            let tag = criteria.iter().find(|c| c.filter_type == 1).map(|c| c.value.clone());
            for rs in local_matches(ctx, "", 1000).await? {
                let Some(latest) = model::pick(&rs, None, None) else { continue };
                let m = &latest.meta;
                let hay = format!("{} {} {} {}", latest.id.key(), m.display_name, m.description, m.tags.join(" ")).to_ascii_lowercase();
                let matches = words.iter().all(|w| hay.contains(w))
                    && (guids.is_empty() || guids.iter().any(|g| g.eq_ignore_ascii_case(&model::guid(&latest.id.key()))))
                    && category.as_ref().is_none_or(|c| m.categories.iter().any(|x| x.eq_ignore_ascii_case(c)))
                    && tag.as_ref().is_none_or(|t| m.tags.iter().any(|x| x.eq_ignore_ascii_case(t)));
                if matches {
                    found.push(rs);
                }
            }
        }
        let total = found.len();
        let extensions: Vec<Value> = found
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .filter_map(|rs| model::gallery_extension(&urls, rs, flags))
            .collect();
        results.push(json!({
            "extensions": extensions,
            "pagingToken": null,
            "resultMetadata": [{"metadataType": "ResultCount", "metadataItems": [{"name": "TotalCount", "count": total}]}],
        }));
    }
    let mut response = document(headers, &json!({"results": results}), stale)?;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// `vscode/item?itemName=`: to the extension's document.
pub fn item(ctx: &RequestCtx, id: &ExtId) -> Response {
    let to = format!("{}/api/{}/{}", ctx.registry_base(), id.publisher, id.name);
    with_header(StatusCode::SEE_OTHER.into_response(), header::LOCATION, &to)
}

/// Kept for the Upload card's answer and the publish response.
pub fn published(ctx: &RequestCtx, r: &Release) -> Value {
    let urls = Urls { base: &ctx.registry_base() };
    model::openvsx_extension(&urls, r, std::slice::from_ref(r))
}
