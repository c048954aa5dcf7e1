//! NuGet reads: the service index, the flat container (versions, `.nupkg`,
//! `.nuspec`), registrations, search and autocomplete; local packages from
//! rows, upstream ones through the upstream's own resources.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::names::{PackageId, Version};
use super::nupkg;
use super::op::Content;
use super::render::{self, Entry, Query, Urls};
use super::upstream;
use crate::access::Permission;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Local, Located, RequestCtx};
use crate::upstream::CacheKey;

fn urls(ctx: &RequestCtx) -> Urls {
    Urls::new(ctx.registry_base())
}

fn to_vec(v: &Value) -> AppResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| AppError::internal(e.to_string()))
}

/// The display id of a local package.
fn display(local: &Local) -> String {
    local.package.display_name.clone()
}

/// `nuget/v3/index.json`.
pub fn service_index(ctx: &RequestCtx) -> Response {
    http::json(StatusCode::OK, &render::service_index(&urls(ctx)))
}

/// `nuget/v3/flat/{id}/index.json`.
pub async fn versions(ctx: &RequestCtx, id: &PackageId, headers: &HeaderMap) -> AppResult<Response> {
    let lid = id.lower();
    if let Some(local) = ctx.read_local(&lid, id.as_str(), Permission::ReleasesRead).await? {
        let l = lid.clone();
        let rendered = ctx
            .rendered_local(&local, "nuget-flat", move |view, _| {
                let keys: Vec<String> = render::entries(&l, &view.versions, &view.files).iter().map(|e| e.version.key()).collect();
                if keys.is_empty() {
                    return Err(AppError::not_found(format!("{l} has no versions")));
                }
                to_vec(&render::flat_index(&keys))
            })
            .await?;
        return Ok(http::document(headers, &rendered, "application/json", None));
    }
    let (keys, served, _) = upstream::versions(ctx, id).await?;
    let withheld = withheld(ctx, id).await?;
    let render_key = withheld.as_ref().map_or_else(String::new, |w| w.render_key(""));
    let rendered = ctx
        .rendered((served.doc.generation, "nuget-flat-upstream", render_key), move || {
            let keys: Vec<String> = keys.iter().filter(|k| withheld.as_ref().is_none_or(|w| w.allows(k))).cloned().collect();
            to_vec(&render::flat_index(&keys))
        })
        .await?;
    Ok(http::document(headers, &rendered, "application/json", Some(served.state)))
}

/// What the rules withhold from this caller of an upstream package.
async fn withheld(ctx: &RequestCtx, id: &PackageId) -> AppResult<Option<crate::serve::Withheld>> {
    if !ctx.has_rules() {
        return Ok(None);
    }
    let (lid, releases) = (id.lower(), upstream::releases(ctx, id).await?);
    let candidates: Vec<_> = releases.iter().map(|r| r.candidate(&lid)).collect();
    ctx.rules_withheld(&candidates)
}

/// Refuse an upstream version the rules withhold from this caller.
async fn check_version(ctx: &RequestCtx, id: &PackageId, version: &Version) -> AppResult<()> {
    if !ctx.has_rules() {
        return Ok(());
    }
    let (lid, releases) = (id.lower(), upstream::releases(ctx, id).await?);
    let candidates: Vec<_> = releases.iter().map(|r| r.candidate(&lid)).collect();
    ctx.rules_check_listed(&candidates, &version.key())
}

/// The upstream versions of `id` as the rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, id: &str) -> AppResult<Vec<crate::rules::Release>> {
    let id = PackageId::parse(id).map_err(AppError::BadRequest)?;
    upstream::releases(ctx, &id).await
}

/// A local version by its parsed version (listed or not).
fn local_entry<'a>(lid: &str, local: &'a Local, version: &Version) -> Option<Entry<'a>> {
    render::entries(lid, &local.view.versions, &local.view.files).into_iter().find(|e| &e.version == version)
}

/// `nuget/v3/flat/{id}/{version}/{id}.{version}.nupkg` and `{id}.nuspec`.
/// Unlisted versions are still served, as nuget.org does (an exact
/// restore keeps working).
pub async fn content(ctx: &RequestCtx, id: &PackageId, version: &Version, content: Content, headers: &HeaderMap) -> AppResult<Response> {
    let (lid, vkey) = (id.lower(), version.key());
    if let Some(local) = ctx.read_local(&lid, id.as_str(), Permission::ReleasesRead).await? {
        if local_entry(&lid, &local, version).is_none() {
            return Err(AppError::not_found(format!("{id} {} not found", version.normalized())));
        }
        let file = match content {
            Content::Nupkg => render::nupkg_file(&lid, &vkey),
            Content::Nuspec => render::nuspec_file(&lid, &vkey),
        };
        return ctx.serve_local_file(&local, &file).await;
    }
    // Before the cache: a cached package is withheld as a fetched one.
    check_version(ctx, id, version).await?;
    match content {
        Content::Nupkg => nupkg_upstream(ctx, id, version).await,
        Content::Nuspec => nuspec_upstream(ctx, id, version, headers).await,
    }
}

/// The feed of the first upstream whose flat container lists `version`.
async fn feed_with(ctx: &RequestCtx, id: &PackageId, version: &Version) -> AppResult<upstream::Feed> {
    let lid = id.lower();
    for url in &ctx.registry.upstreams {
        let feed = upstream::feed(ctx, url).await?;
        let Some(fetch) = upstream::flat_fetch(ctx, &feed, &lid)? else { continue };
        let served = match ctx.document(fetch).await {
            Ok(s) => s,
            Err(AppError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let listed = serde_json::from_slice::<Value>(&served.doc.body)
            .ok()
            .and_then(|v| v.get("versions").and_then(Value::as_array).cloned())
            .is_some_and(|a| a.iter().filter_map(Value::as_str).any(|s| Version::parse(s).ok().as_ref() == Some(version)));
        if listed {
            return Ok(feed);
        }
    }
    Err(AppError::not_found(format!("{id} {} not found", version.normalized())))
}

async fn nupkg_upstream(ctx: &RequestCtx, id: &PackageId, version: &Version) -> AppResult<Response> {
    let (lid, vkey) = (id.lower(), version.key());
    let key = CacheKey::new("nupkg").part(&lid).part(&vkey);
    ctx.upstream_artifact(key, "application/octet-stream", || async {
        let feed = feed_with(ctx, id, version).await?;
        let base = feed.resources.package_base.clone().ok_or_else(|| AppError::not_found("no flat container upstream"))?;
        let url = format!("{base}{lid}/{vkey}/{lid}.{vkey}.nupkg");
        // Verified when the upstream gives a hash (its registration's or
        // catalog's packageHash); either way the package must be a readable
        // .nupkg whose .nuspec names this id and version.
        let located = match upstream::digest(ctx, &feed, &lid, version).await? {
            Some(d) => Located::verified(url, Some(d))?,
            None => Located::unverified(url),
        };
        let (want_id, want_version) = (lid.clone(), version.clone());
        Ok(located.of_release(&lid, &vkey).checked_by(move |path| check_nupkg(path, &want_id, &want_version)))
    })
    .await
}

/// An upstream `.nupkg` must be a package whose `.nuspec` is this id and
/// version.
fn check_nupkg(path: &std::path::Path, lid: &str, version: &Version) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let (spec, _) = nupkg::read_nupkg(std::io::BufReader::new(f)).map_err(|e| format!("not a NuGet package: {e}"))?;
    let v = Version::parse(&spec.version).map_err(|e| format!("its .nuspec: {e}"))?;
    if spec.id.to_ascii_lowercase() != lid || &v != version {
        return Err(format!("the package is {} {}, not the one asked for", spec.id, spec.version));
    }
    Ok(())
}

async fn nuspec_upstream(ctx: &RequestCtx, id: &PackageId, version: &Version, headers: &HeaderMap) -> AppResult<Response> {
    let (lid, vkey) = (id.lower(), version.key());
    let feed = feed_with(ctx, id, version).await?;
    let base = feed.resources.package_base.clone().ok_or_else(|| AppError::not_found("no flat container upstream"))?;
    let key = CacheKey::new("nuget-nuspec").part(&feed.tag).part(&lid).part(&vkey);
    let served = ctx.document(ctx.doc_fetch_at(key, &format!("{base}{lid}/{vkey}/{lid}.nuspec"), "*/*")?).await?;
    let body = served.doc.body.clone();
    let rendered = ctx.rendered((served.doc.generation, "nuget-nuspec", String::new()), move || Ok(body.to_vec())).await?;
    Ok(http::document(headers, &rendered, "application/xml", Some(served.state)))
}

/// `nuget/v3/registration/{id}/index.json`.
pub async fn registration(ctx: &RequestCtx, id: &PackageId, headers: &HeaderMap) -> AppResult<Response> {
    let (lid, u) = (id.lower(), urls(ctx));
    if let Some(local) = ctx.read_local(&lid, id.as_str(), Permission::ReleasesRead).await? {
        let name = display(&local);
        let rendered = ctx
            .rendered_local(&local, "nuget-registration", move |view, _| {
                let entries = render::entries(&lid, &view.versions, &view.files);
                if entries.is_empty() {
                    return Err(AppError::not_found(format!("{name} has no versions")));
                }
                to_vec(&render::registration_index(&u, &lid, &name, &entries))
            })
            .await?;
        return Ok(http::document(headers, &rendered, "application/json", None));
    }
    let (doc, served, _) = upstream::first_registration(ctx, id).await?;
    let withheld = withheld(ctx, id).await?;
    let render_key = withheld.as_ref().map_or_else(|| u.registry.clone(), |w| w.render_key(&u.registry));
    let rendered = ctx
        .rendered((served.doc.generation, "nuget-registration-upstream", render_key), move || {
            let mut out = upstream::rewrite_registration(&doc, &u, &lid);
            if let Some(w) = &withheld {
                upstream::withhold_leaves(&mut out, &|v| w.allows(v));
            }
            to_vec(&out)
        })
        .await?;
    Ok(http::document(headers, &rendered, "application/json", Some(served.state)))
}

/// `nuget/v3/registration/{id}/page/{lower}/{upper}.json`.
pub async fn registration_page(ctx: &RequestCtx, id: &PackageId, lower: &Version, upper: &Version) -> AppResult<Response> {
    let (lid, u) = (id.lower(), urls(ctx));
    let missing = || AppError::not_found(format!("no page {}/{} of {id}", lower.key(), upper.key()));
    if let Some(local) = ctx.read_local(&lid, id.as_str(), Permission::ReleasesRead).await? {
        let entries = render::entries(&lid, &local.view.versions, &local.view.files);
        let page = render::registration_page(&u, &lid, &display(&local), &entries, lower, upper).ok_or_else(missing)?;
        return Ok(http::json(StatusCode::OK, &page));
    }
    let (index, _, feed) = upstream::first_registration(ctx, id).await?;
    let found = index.get("items").and_then(Value::as_array).into_iter().flatten().find(|p| {
        let b = |k: &str| p.get(k).and_then(Value::as_str).and_then(|s| Version::parse(s).ok());
        b("lower").as_ref() == Some(lower) && b("upper").as_ref() == Some(upper)
    });
    let page = upstream::page(ctx, &feed, &lid, found.ok_or_else(missing)?).await?;
    let mut out = upstream::rewrite_page_doc(&page, &u, &lid, lower, upper);
    if let Some(w) = withheld(ctx, id).await? {
        upstream::withhold_leaves(&mut out, &|v| w.allows(v));
    }
    Ok(http::json(StatusCode::OK, &out))
}

/// `nuget/v3/registration/{id}/{version}.json`.
pub async fn registration_leaf(ctx: &RequestCtx, id: &PackageId, version: &Version) -> AppResult<Response> {
    let (lid, vkey, u) = (id.lower(), version.key(), urls(ctx));
    let missing = || AppError::not_found(format!("{id} {} not found", version.normalized()));
    if let Some(local) = ctx.read_local(&lid, id.as_str(), Permission::ReleasesRead).await? {
        let e = local_entry(&lid, &local, version).ok_or_else(missing)?;
        let listed = !e.row.yanked;
        let published = if listed { http::iso8601(e.row.published_at) } else { render::UNLISTED_PUBLISHED.to_string() };
        return Ok(http::json(StatusCode::OK, &render::registration_leaf(&u, &lid, &vkey, listed, &published)));
    }
    check_version(ctx, id, version).await?;
    let (index, _, feed) = upstream::first_registration(ctx, id).await?;
    let leaf = upstream::find_leaf(ctx, &feed, &lid, &index, version).await?.ok_or_else(missing)?;
    let entry = leaf.get("catalogEntry").cloned().unwrap_or(Value::Null);
    let listed = entry.get("listed").and_then(Value::as_bool).unwrap_or(true);
    let published = entry.get("published").and_then(Value::as_str).unwrap_or(render::UNLISTED_PUBLISHED).to_string();
    Ok(http::json(StatusCode::OK, &render::registration_leaf(&u, &lid, &vkey, listed, &published)))
}

/// The local packages matching a query the caller may see, as search
/// results (newest version first within each, ids in name order).
async fn local_results(ctx: &RequestCtx, q: &Query) -> AppResult<Vec<(String, Value)>> {
    let u = urls(ctx);
    let mut out = Vec::new();
    let mut rows = ctx.visible_packages(&q.q, 1000).await?;
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    for row in rows {
        let versions = ctx.app.catalog.list_versions(&row.id).await?;
        let files = ctx.app.catalog.list_files(&row.id).await?;
        let entries = render::entries(&row.name, &versions, &files);
        if let Some(result) = render::search_result(&u, &row.name, &row.display_name, &entries, q) {
            out.push((row.name.clone(), result));
        }
    }
    Ok(out)
}

/// `nuget/v3/query`: local packages first, then the upstream's (names that
/// are ours taken out), `skip` and `take` over both.
pub async fn search(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    let q = Query::parse(query);
    let local: Vec<Value> = local_results(ctx, &q).await?.into_iter().map(|(_, v)| v).collect();
    let local_total = local.len();
    let mut data: Vec<Value> = local.into_iter().skip(q.skip).take(q.take).collect();
    let mut total = local_total as u64;
    if ctx.registry.mode.has_upstream() && !ctx.registry.upstreams.is_empty() {
        let shown = data.len();
        let mut params = q.forwarded.clone();
        params.push(("skip".into(), q.skip.saturating_sub(local_total).to_string()));
        params.push(("take".into(), q.take.saturating_sub(shown).to_string()));
        if let Some(body) = upstream::forward(ctx, false, &params).await? {
            let shadow = Arc::new(ctx.shadow().await?);
            let u = urls(ctx);
            let (found, upstream_total) = http::blocking(move || Ok(upstream::rewrite_search(&body, &u, &|id| shadow.covers(id)))).await?;
            total += upstream_total;
            data.extend(found.into_iter().take(q.take.saturating_sub(shown)));
        }
    }
    Ok(http::json(StatusCode::OK, &json!({ "totalHits": total, "data": data })))
}

/// `nuget/v3/autocomplete`: ids matching `q`, or (`id=`) one id's versions.
pub async fn autocomplete(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    let q = Query::parse(query);
    if let Some(id) = &q.id {
        let id = PackageId::parse(id).map_err(AppError::BadRequest)?;
        let lid = id.lower();
        let versions: Vec<String> = match ctx.read_local(&lid, id.as_str(), Permission::ReleasesRead).await? {
            Some(local) => render::entries(&lid, &local.view.versions, &local.view.files).iter().filter(|e| q.shows(e)).map(|e| e.version.normalized()).collect(),
            None => match upstream::versions(ctx, &id).await {
                Ok((keys, _, _)) => keys
                    .iter()
                    .filter(|k| q.prerelease || Version::parse(k).is_ok_and(|v| !v.is_prerelease()))
                    .cloned()
                    .collect(),
                Err(AppError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e),
            },
        };
        return Ok(http::json(StatusCode::OK, &json!({ "totalHits": versions.len(), "data": versions })));
    }
    let local: Vec<Value> = local_results(ctx, &q)
        .await?
        .into_iter()
        .map(|(_, v)| v.get("id").cloned().unwrap_or(Value::Null))
        .collect();
    let local_total = local.len();
    let mut data: Vec<Value> = local.into_iter().skip(q.skip).take(q.take).collect();
    let mut total = local_total as u64;
    if ctx.registry.mode.has_upstream() && !ctx.registry.upstreams.is_empty() {
        let shown = data.len();
        let mut params = q.forwarded.clone();
        params.push(("skip".into(), q.skip.saturating_sub(local_total).to_string()));
        params.push(("take".into(), q.take.saturating_sub(shown).to_string()));
        if let Some(body) = upstream::forward(ctx, true, &params).await? {
            let shadow = Arc::new(ctx.shadow().await?);
            let u = urls(ctx);
            let (found, upstream_total) = http::blocking(move || Ok(upstream::rewrite_search(&body, &u, &|id| shadow.covers(id)))).await?;
            total += upstream_total;
            data.extend(found.into_iter().take(q.take.saturating_sub(shown)));
        }
    }
    Ok(http::json(StatusCode::OK, &json!({ "totalHits": total, "data": data })))
}
