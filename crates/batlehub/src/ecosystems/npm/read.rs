//! npm reads: packuments (local ones rendered from rows, upstream ones
//! rewritten once per fetched body), version manifests, tarballs, dist-tags,
//! search and audit.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::names::NpmName;
use super::render::{self, ABBREVIATED, UpstreamPackument};
use crate::access::Permission;
use crate::catalog::{PackageRow, now_ms};
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Located, PackageView, RequestCtx, Withheld};
use crate::upstream::documents::{DocFetch, Served};
use crate::upstream::{self, CacheKey};
use crate::upstream::artifacts::ExpectedDigest;

fn wants_abbreviated(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(ABBREVIATED))
}

fn local_packument(name: &NpmName, view: &PackageView, package: &PackageRow, registry_base: &str) -> Value {
    render::local_packument(name, package, &view.versions, &view.files, &view.tags, &view.owners, registry_base)
}

/// The fetch of the upstream packument of `name`.
pub fn packument_fetch(ctx: &RequestCtx, name: &NpmName) -> DocFetch {
    ctx.doc_fetch(CacheKey::new("packument").part(&name.full()), name.escaped(), "application/json")
}

/// The upstream packument of `name`, parsed once per fetched body.
async fn upstream_packument(
    ctx: &RequestCtx,
    name: &NpmName,
    force_refresh: bool,
) -> AppResult<(Arc<UpstreamPackument>, Served)> {
    let mut fetch = packument_fetch(ctx, name);
    fetch.force_refresh = force_refresh;
    let served = ctx.document(fetch).await?;
    let parsed = ctx.parsed(&served.doc, |doc| UpstreamPackument::parse(&doc.body)).await?;
    Ok((parsed, served))
}

/// The upstream versions of `name` with their publish times.
pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let name = NpmName::parse(name).map_err(AppError::BadRequest)?;
    let (parsed, _) = upstream_packument(ctx, &name, false).await?;
    let key = name.full();
    Ok(parsed.candidates(&key).iter().map(crate::rules::Candidate::to_release).collect())
}

/// What the rules withhold from this caller of an upstream packument.
/// Judged once per fetched body (`generation`) and class of caller.
fn withheld(ctx: &RequestCtx, key: &str, parsed: &UpstreamPackument, generation: u64) -> AppResult<Option<Withheld>> {
    ctx.rules_withheld_of(generation, || parsed.candidates(key))
}

/// The packument's dist-tags as this caller may see them (only the tags
/// are copied, never the whole packument).
fn visible_tags(parsed: &UpstreamPackument, withheld: Option<&Withheld>) -> Value {
    let tags = parsed.value.get("dist-tags").and_then(|t| t.as_object());
    match (tags, withheld) {
        (None, _) => json!({}),
        (Some(t), None) => Value::Object(t.clone()),
        (Some(t), Some(w)) => Value::Object(render::retarget_tags(t, &w.allowed)),
    }
}

/// Refuse an upstream version the rules withhold from this caller.
fn check_version(ctx: &RequestCtx, key: &str, parsed: &UpstreamPackument, version: &str) -> AppResult<()> {
    if ctx.has_rules() {
        ctx.rules_verdict(&parsed.candidate(key, version))?;
    }
    Ok(())
}

pub async fn packument(ctx: &RequestCtx, name: &NpmName, headers: &HeaderMap) -> AppResult<Response> {
    let abbreviated = wants_abbreviated(headers);
    let content_type = if abbreviated { ABBREVIATED } else { "application/json" };
    let key = name.full();
    if let Some(local) = ctx.read_local(&key, &key, Permission::ReleasesRead).await? {
        let variant = if abbreviated { "npm-local-abbreviated" } else { "npm-local-full" };
        let (name, base) = (name.clone(), ctx.registry_base());
        let rendered = ctx
            .rendered_local(&local, variant, move |view, package| {
                let doc = local_packument(&name, view, package, &base);
                let doc = if abbreviated { render::abbreviate(&doc) } else { doc };
                serde_json::to_vec(&doc).map_err(|e| AppError::internal(e.to_string()))
            })
            .await?;
        return Ok(http::document(headers, &rendered, content_type, None));
    }
    let (parsed, served) = upstream_packument(ctx, name, false).await?;
    let base = ctx.registry_base();
    let variant = if abbreviated { "npm-abbreviated" } else { "npm-full" };
    let name = name.clone();
    let withheld = withheld(ctx, &key, &parsed, served.doc.generation)?;
    // What the rules withhold is part of the rendering's key.
    let render_key = withheld.as_ref().map_or_else(|| base.clone(), |w| w.render_key(&base));
    let rendered = ctx
        .rendered((served.doc.generation, variant, render_key), move || {
            let mut doc = parsed.rewritten(&name, &base);
            if let Some(w) = &withheld {
                render::withhold(&mut doc, &w.allowed);
            }
            let doc = if abbreviated { render::abbreviate(&doc) } else { doc };
            serde_json::to_vec(&doc).map_err(|e| AppError::internal(e.to_string()))
        })
        .await?;
    Ok(http::document(headers, &rendered, content_type, Some(served.state)))
}

pub async fn version(ctx: &RequestCtx, name: &NpmName, spec: &str) -> AppResult<Response> {
    let key = name.full();
    let manifest = if let Some(local) = ctx.read_local(&key, &key, Permission::ReleasesRead).await? {
        render::resolve_spec(&local_packument(name, &local.view, &local.package, &ctx.registry_base()), spec)
    } else {
        let (parsed, served) = upstream_packument(ctx, name, false).await?;
        let listed = parsed.value.get("versions").and_then(|v| v.get(spec)).is_some();
        if listed {
            check_version(ctx, &key, &parsed, spec)?;
            parsed.version_manifest(spec, name, &ctx.registry_base())
        } else {
            // A dist-tag: resolved among the versions the caller may have.
            let tags = visible_tags(&parsed, withheld(ctx, &key, &parsed, served.doc.generation)?.as_ref());
            tags.get(spec).and_then(|v| v.as_str()).and_then(|v| parsed.version_manifest(v, name, &ctx.registry_base()))
        }
    };
    match manifest {
        Some(manifest) => Ok(http::json(StatusCode::OK, &manifest)),
        None => Err(AppError::not_found(format!("version {spec} of {name} not found"))),
    }
}

pub async fn tarball(ctx: &RequestCtx, name: &NpmName, filename: &str) -> AppResult<Response> {
    let key = name.full();
    if let Some(local) = ctx.read_local(&key, &key, Permission::SourceRead).await? {
        return ctx.serve_local_file(&local, filename).await;
    }
    let cache_key = CacheKey::new("tarball").part(&key).part(filename);
    // Before the cache: a cached tarball is withheld as a fetched one.
    ctx.rules_check_file(cache_key.as_str(), || async {
        let (parsed, _) = upstream_packument(ctx, name, false).await?;
        Ok(parsed.tarballs.get(filename).map(|source| (key.clone(), parsed.candidate(&key, &source.version).to_release())))
    })
    .await?;
    ctx.upstream_artifact(cache_key, "application/octet-stream", || async {
        let (mut parsed, _) = upstream_packument(ctx, name, false).await?;
        if !parsed.tarballs.contains_key(filename) {
            // A version newer than our cached packument: ask once more.
            parsed = upstream_packument(ctx, name, true).await?.0;
        }
        let source = parsed.tarballs.get(filename).ok_or_else(|| AppError::not_found(format!("{filename} not found")))?;
        // A version only the refreshed packument lists is checked here.
        check_version(ctx, &key, &parsed, &source.version)?;
        let expected = source
            .integrity
            .as_deref()
            .and_then(ExpectedDigest::from_sri)
            .or_else(|| source.shasum.as_deref().and_then(ExpectedDigest::from_hex));
        Ok(Located::verified(source.url.clone(), expected)?.of_release(&key, &source.version))
    })
    .await
}

pub async fn dist_tags(ctx: &RequestCtx, name: &NpmName) -> AppResult<Response> {
    let key = name.full();
    let tags = if let Some(local) = ctx.read_local(&key, &key, Permission::ReleasesRead).await? {
        local_packument(name, &local.view, &local.package, &ctx.registry_base()).get("dist-tags").cloned()
    } else {
        let (parsed, served) = upstream_packument(ctx, name, false).await?;
        Some(visible_tags(&parsed, withheld(ctx, &key, &parsed, served.doc.generation)?.as_ref()))
    };
    Ok(http::json(StatusCode::OK, &tags.unwrap_or_else(|| json!({}))))
}

pub async fn search(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let text = param("text").unwrap_or_default();
    let size = param("size").and_then(|s| s.parse::<usize>().ok()).unwrap_or(20).clamp(1, 250);
    let from = param("from").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);

    let mut objects = Vec::new();
    for row in ctx.visible_packages(&text, 250).await? {
        let Ok(name) = NpmName::parse(&row.name) else { continue };
        let versions = ctx.app.catalog.list_versions(&row.id).await?;
        let tags = ctx.app.catalog.list_tags(&row.id).await?;
        let latest = tags
            .iter()
            .find(|(t, _)| t == "latest")
            .map(|(_, v)| v.clone())
            .or_else(|| render::highest_version(versions.iter().map(|v| v.version.as_str())));
        let Some(latest) = latest else { continue };
        let manifest: Value = versions
            .iter()
            .find(|v| v.version == latest)
            .and_then(|v| serde_json::from_str(&v.metadata).ok())
            .unwrap_or_else(|| json!({}));
        let owners = ctx.app.catalog.list_owners(&row.id).await?;
        let maintainers: Vec<Value> =
            owners.iter().filter(|o| !o.is_group()).map(|o| json!({"username": o.principal_id, "email": ""})).collect();
        objects.push(json!({
            "package": {
                "name": name.full(),
                "scope": name.scope().unwrap_or("unscoped"),
                "version": latest,
                "description": manifest.get("description").cloned().unwrap_or(json!("")),
                "keywords": manifest.get("keywords").cloned().unwrap_or(json!([])),
                "date": render::iso8601(row.updated_at),
                "links": {},
                "publisher": {"username": row.created_by.clone().unwrap_or_default(), "email": ""},
                "maintainers": maintainers,
            },
            "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0}},
            "searchScore": 100000.0,
            "flags": {},
        }));
    }
    let local_total = objects.len();
    let mut total = local_total;
    if ctx.registry.mode.has_upstream() && !ctx.registry.upstreams.is_empty() {
        let shadow = Arc::new(ctx.shadow().await?);
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("text", &text)
            .append_pair("size", &size.to_string())
            .append_pair("from", &from.saturating_sub(local_total).to_string())
            .finish();
        for base in &ctx.registry.upstreams {
            let url = upstream::join_url(base, &format!("-/v1/search?{q}"));
            let client = ctx.app.upstream.client_for(&ctx.registry.name);
            let accept = [("accept", "application/json".to_string())];
            match upstream::forward(client, reqwest::Method::GET, &url, &accept, None, 16 * 1024 * 1024).await {
                Ok(f) if f.status.is_success() => {
                    // The answer is parsed off the async threads, and names
                    // that are ours are dropped from it.
                    let shadow = Arc::clone(&shadow);
                    let (found, upstream_total) = http::blocking(move || {
                        let v: Value = serde_json::from_slice(&f.body).unwrap_or_else(|_| json!({}));
                        let mut upstream_total = v.get("total").and_then(|t| t.as_u64()).unwrap_or(0) as usize;
                        let mut found = Vec::new();
                        for o in v.get("objects").and_then(|o| o.as_array()).cloned().unwrap_or_default() {
                            let n = o.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()).unwrap_or("");
                            if n.is_empty() || shadow.covers(n) {
                                upstream_total = upstream_total.saturating_sub(1);
                                continue;
                            }
                            found.push(o);
                        }
                        Ok((found, upstream_total))
                    })
                    .await?;
                    objects.extend(found);
                    total += upstream_total;
                    break;
                }
                Ok(f) => tracing::warn!(url = %upstream::redact(&url), status = %f.status, "upstream search failed"),
                Err(e) => tracing::warn!(url = %upstream::redact(&url), error = %e, "upstream search failed"),
            }
        }
    }
    let page: Vec<Value> = if from < local_total {
        objects.into_iter().skip(from).take(size).collect()
    } else {
        // Upstream results were already asked from the right offset.
        objects.into_iter().skip(local_total).take(size).collect()
    };
    Ok(http::json(StatusCode::OK, &json!({ "objects": page, "total": total, "time": render::iso8601(now_ms()) })))
}

/// Remove every name that is ours from an `npm audit` quick report's tree:
/// the `requires` and `dependencies` of every level (bounded depth).
fn drop_shadowed(node: &mut Value, shadow: &crate::serve::Shadow, depth: usize) {
    let Some(obj) = node.as_object_mut() else { return };
    if let Some(Value::Object(requires)) = obj.get_mut("requires") {
        requires.retain(|n, _| !shadow.covers(n));
    }
    if let Some(Value::Object(deps)) = obj.get_mut("dependencies") {
        deps.retain(|n, _| !shadow.covers(n));
        if depth < 256 {
            for dep in deps.values_mut() {
                drop_shadowed(dep, shadow, depth + 1);
            }
        } else {
            deps.clear();
        }
    }
}

/// `npm audit`: forwarded to the upstream (without names that are ours), or
/// an empty report where there is no upstream.
pub async fn audit(ctx: &RequestCtx, quick: bool, parts: &Parts, body: Body) -> AppResult<Response> {
    let empty = || {
        if quick {
            json!({
                "actions": [], "advisories": {}, "muted": [],
                "metadata": {
                    "vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0},
                    "dependencies": 0, "devDependencies": 0, "optionalDependencies": 0, "totalDependencies": 0
                }
            })
        } else {
            json!({})
        }
    };
    if !ctx.registry.mode.has_upstream() || ctx.registry.upstreams.is_empty() {
        return Ok(http::json(StatusCode::OK, &empty()));
    }
    let raw = http::read_small_body(body, 32 * 1024 * 1024).await?;
    let gzipped = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    // Never tell the upstream which private packages we have.
    let shadow = ctx.shadow().await?;
    let payload = http::blocking(move || {
        let mut payload = if gzipped {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .take(128 * 1024 * 1024)
                .read_to_end(&mut out)
                .map_err(|e| AppError::bad_request(format!("the audit report is not valid gzip: {e}")))?;
            out
        } else {
            raw.to_vec()
        };
        match serde_json::from_slice::<Value>(&payload) {
            // Bulk: `{name: [versions]}`.
            Ok(Value::Object(mut map)) if !quick => {
                map.retain(|n, _| !shadow.covers(n));
                if map.is_empty() {
                    return Ok(None);
                }
                payload = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
            }
            // Quick: the whole tree, `requires` and `dependencies` at every level.
            Ok(mut tree) if quick => {
                drop_shadowed(&mut tree, &shadow, 0);
                payload = serde_json::to_vec(&tree).unwrap_or_default();
            }
            // What does not parse is not forwarded: it could hold anything.
            _ => return Err(AppError::bad_request("the audit report is not JSON")),
        }
        Ok(Some(bytes::Bytes::from(payload)))
    })
    .await?;
    let Some(payload) = payload else { return Ok(http::json(StatusCode::OK, &json!({}))) };
    let path = if quick { "-/npm/v1/security/audits/quick" } else { "-/npm/v1/security/advisories/bulk" };
    let client = ctx.app.upstream.client_for(&ctx.registry.name);
    let headers = [("content-type", "application/json".to_string()), ("accept", "application/json".to_string())];
    let mut last = None;
    for base in &ctx.registry.upstreams {
        let url = upstream::join_url(base, path);
        match upstream::forward(client, reqwest::Method::POST, &url, &headers, Some(payload.clone()), 32 * 1024 * 1024)
            .await
        {
            Ok(f) if f.status.is_success() => {
                let mut r = Response::new(Body::from(f.body));
                r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
                return Ok(r);
            }
            Ok(f) if f.status == reqwest::StatusCode::NOT_FOUND => last = Some("not found".to_string()),
            Ok(f) => last = Some(format!("HTTP {}", f.status)),
            Err(e) => last = Some(e.to_string()),
        }
    }
    match last.as_deref() {
        Some("not found") => Err(AppError::not_found("the upstream has no audit endpoint")),
        Some(e) => {
            tracing::warn!(detail = %upstream::redact(e), "audit upstream failed");
            Err(AppError::upstream("the audit upstream is unavailable"))
        }
        None => Ok(http::json(StatusCode::OK, &empty())),
    }
}
