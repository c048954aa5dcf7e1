//! Cargo reads: `config.json`, index files (local ones rendered from rows,
//! upstream ones passed through with their validator computed once per
//! body), downloads, owners and search.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::names::{self, CrateName, index_prefix};
use crate::access::{self, Decision, Permission, Principal};
use crate::catalog::OwnerRow;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::rules::Candidate;
use crate::serve::{Located, PackageView, RequestCtx};
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::{DocFetch, Document, Served};
use crate::upstream::CacheKey;

const INDEX_TYPE: &str = "text/plain; charset=utf-8";

/// `config.json`: downloads and the API point back here; `auth-required`
/// whenever an anonymous caller may not read, so cargo sends its token.
pub fn config_json(ctx: &RequestCtx) -> Response {
    let base = ctx.registry_base();
    let anonymous = Principal::anonymous();
    let mut auth_required =
        access::decide(&anonymous, &ctx.registry.grants, Permission::ReleasesRead) != Decision::Allow;
    for m in &ctx.registry.members {
        if let Some(r) = ctx.app.registries.get(m) {
            auth_required |= access::decide(&anonymous, &r.grants, Permission::ReleasesRead) != Decision::Allow;
        }
    }
    let mut doc = json!({
        "dl": format!("{base}/api/v1/crates/{{crate}}/{{version}}/download"),
        "api": base,
    });
    if auth_required {
        doc["auth-required"] = json!(true);
    }
    http::json(StatusCode::OK, &doc)
}

fn local_index_body(view: &PackageView) -> AppResult<Vec<u8>> {
    let mut out = Vec::new();
    for v in &view.versions {
        let mut line: Value = serde_json::from_str(&v.metadata).map_err(|e| AppError::internal(e.to_string()))?;
        line["yanked"] = json!(v.yanked);
        serde_json::to_writer(&mut out, &line).map_err(|e| AppError::internal(e.to_string()))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The upstream index files are under each upstream (cargo names a sparse
/// index `sparse+https://...`).
fn upstream_bases(ctx: &RequestCtx) -> Vec<String> {
    ctx.registry.upstreams.iter().map(|u| u.strip_prefix("sparse+").unwrap_or(u).to_string()).collect()
}

pub fn index_fetch(ctx: &RequestCtx, name: &CrateName, force_refresh: bool) -> DocFetch {
    let mut fetch =
        ctx.doc_fetch(CacheKey::new("index").part(&name.as_str().to_lowercase()), name.index_path(), "*/*");
    fetch.upstreams = upstream_bases(ctx);
    fetch.force_refresh = force_refresh;
    fetch
}

fn display(name: &CrateName) -> String {
    format!("crate {}", name.as_str())
}

pub async fn index(ctx: &RequestCtx, name: &CrateName, headers: &HeaderMap) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(&name.key(), &display(name), Permission::ReleasesRead).await? {
        if local.view.versions.is_empty() {
            return Err(AppError::not_found(format!("crate {} not found", name.as_str())));
        }
        let rendered = ctx.rendered_local(&local, "cargo-local-index", |view, _| local_index_body(view)).await?;
        return Ok(http::document(headers, &rendered, INDEX_TYPE, None));
    }
    let served = ctx.document(index_fetch(ctx, name, false)).await?;
    // Index files hold no URLs: passed through as fetched (but for the
    // lines of versions the rules withhold), with the validator computed
    // once per fetched body.
    let withheld = if ctx.has_rules() {
        let index = ctx.parsed(&served.doc, parse_index).await?;
        let key = name.key();
        let candidates: Vec<Candidate> = index.order.iter().map(|v| index.candidate(&key, v)).collect();
        ctx.rules_withheld(&candidates)?
    } else {
        None
    };
    let body = served.doc.body.clone();
    let render_key = withheld.as_ref().map_or_else(String::new, |w| w.render_key(""));
    let rendered = ctx
        .rendered((served.doc.generation, "cargo-index", render_key), move || {
            let Some(w) = withheld else { return Ok(body.to_vec()) };
            let mut out = Vec::with_capacity(body.len());
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let vers = serde_json::from_slice::<Value>(line)
                    .ok()
                    .and_then(|v| v.get("vers").and_then(|x| x.as_str()).map(str::to_string));
                if vers.is_some_and(|v| w.allows(&v)) {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            }
            Ok(out)
        })
        .await?;
    Ok(http::document(headers, &rendered, INDEX_TYPE, Some(served.state)))
}

/// The upstream versions of crate `name` with their publish times.
pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let name = CrateName::parse(name).map_err(AppError::BadRequest)?;
    let served = ctx.document(index_fetch(ctx, &name, false)).await?;
    let index = ctx.parsed(&served.doc, parse_index).await?;
    let key = name.key();
    Ok(index.order.iter().map(|v| index.candidate(&key, v).to_release()).collect())
}

/// An upstream index file: each version's checksum and the crate's name as
/// published, parsed once per fetched body.
struct UpstreamIndex {
    versions: HashMap<String, (String, String)>,
    /// Versions in index order.
    order: Vec<String>,
    /// When each version was published (the index line's `pubtime`).
    pubtimes: HashMap<String, i64>,
}

impl UpstreamIndex {
    /// One version as the rules see it: its time is the line's `pubtime`;
    /// index lines declare no licence.
    fn candidate<'a>(&self, name: &'a str, version: &'a str) -> Candidate<'a> {
        Candidate { name, version, published_at: self.pubtimes.get(version).copied(), licence: None }
    }
}

fn parse_index(doc: &Document) -> Result<UpstreamIndex, String> {
    let mut versions = HashMap::new();
    let (mut order, mut pubtimes) = (Vec::new(), HashMap::new());
    for line in doc.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_slice::<Value>(line) else { continue };
        let (Some(vers), Some(name)) = (v.get("vers").and_then(|x| x.as_str()), v.get("name").and_then(|x| x.as_str()))
        else {
            continue;
        };
        let cksum = v.get("cksum").and_then(|c| c.as_str()).unwrap_or("");
        if let Some(at) = v.get("pubtime").and_then(|t| t.as_str()).and_then(crate::rules::parse_rfc3339) {
            pubtimes.insert(vers.to_string(), at);
        }
        if versions.insert(vers.to_string(), (cksum.to_string(), name.to_string())).is_none() {
            order.push(vers.to_string());
        }
    }
    Ok(UpstreamIndex { versions, order, pubtimes })
}

/// An upstream's `config.json`: its download template and web API.
struct UpstreamConfig {
    dl: String,
    api: Option<String>,
}

fn parse_config(doc: &Document) -> Result<UpstreamConfig, String> {
    let config: Value =
        serde_json::from_slice(&doc.body).map_err(|e| format!("upstream config.json is not JSON: {e}"))?;
    let dl = config.get("dl").and_then(|d| d.as_str()).ok_or("upstream config.json has no dl")?;
    let api = config.get("api").and_then(|a| a.as_str()).map(str::to_string);
    Ok(UpstreamConfig { dl: dl.to_string(), api })
}

/// Expand an upstream `dl` template for one crate version.
pub fn expand_dl(dl: &str, name: &str, version: &str, cksum: &str) -> String {
    let markers = ["{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"];
    if !markers.iter().any(|m| dl.contains(m)) {
        return format!("{}/{name}/{version}/download", dl.trim_end_matches('/'));
    }
    dl.replace("{crate}", name)
        .replace("{version}", version)
        .replace("{prefix}", &index_prefix(name))
        .replace("{lowerprefix}", &index_prefix(&name.to_lowercase()))
        .replace("{sha256-checksum}", cksum)
}

pub async fn download(ctx: &RequestCtx, name: &CrateName, version: &str) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(&name.key(), &display(name), Permission::SourceRead).await? {
        let filename = format!("{}-{version}.crate", local.package.display_name);
        return ctx.serve_local_file(&local, &filename).await;
    }
    let key = CacheKey::new("crate").part(&name.as_str().to_lowercase()).part(version);
    // Before the cache: a cached crate is withheld as a fetched one.
    let crate_key = name.key();
    ctx.rules_check_file(key.as_str(), || async {
        let served = ctx.document(index_fetch(ctx, name, false)).await?;
        let index = ctx.parsed(&served.doc, parse_index).await?;
        Ok(index.versions.contains_key(version).then(|| (crate_key.clone(), index.candidate(&crate_key, version).to_release())))
    })
    .await?;
    ctx.upstream_artifact(key, "application/x-tar", || async {
        // The index line gives the checksum and the real name; the upstream
        // that served it gives the download template.
        let mut found: Option<((String, String), Served)> = None;
        for force in [false, true] {
            let served = ctx.document(index_fetch(ctx, name, force)).await?;
            let index = ctx.parsed(&served.doc, parse_index).await?;
            if let Some(entry) = index.versions.get(version) {
                // A version only the refreshed index lists is checked here.
                if ctx.has_rules() {
                    ctx.rules_verdict(&index.candidate(&name.key(), version))?;
                }
                found = Some((entry.clone(), served));
                break;
            }
        }
        let Some(((cksum, real_name), served)) = found else {
            return Err(AppError::not_found(format!("{} {version} not found", name.as_str())));
        };
        let source = served.doc.header.source.clone();
        let mut fetch = ctx.doc_fetch(CacheKey::new("config.json"), "config.json".into(), "*/*");
        fetch.upstreams = vec![source];
        let config = ctx.document(fetch).await?;
        let config = ctx.parsed(&config.doc, parse_config).await?;
        let url = expand_dl(&config.dl, &real_name, version, &cksum);
        Ok(Located::verified(url, ExpectedDigest::from_hex(&cksum))?.of_release(&name.key(), version))
    })
    .await
}

pub fn owner_login(o: &OwnerRow) -> String {
    if o.is_group() { format!("group:{}", o.principal_id) } else { o.principal_id.clone() }
}

pub async fn owners_list(ctx: &RequestCtx, name: &CrateName) -> AppResult<Response> {
    let local = ctx.local_package(&name.key(), &display(name), Permission::ReleasesRead).await?;
    let users: Vec<Value> = local
        .view
        .owners
        .iter()
        .enumerate()
        .map(|(i, o)| json!({ "id": i + 1, "login": owner_login(o), "name": o.principal_id, "kind": if o.is_group() { "team" } else { "user" } }))
        .collect();
    Ok(http::json(StatusCode::OK, &json!({ "users": users })))
}

pub async fn search(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let q = names::normalize(&param("q").unwrap_or_default());
    let per_page = param("per_page").and_then(|s| s.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
    let mut crates = Vec::new();
    for row in ctx.visible_packages(&q, 1000).await? {
        let versions = ctx.app.catalog.list_versions(&row.id).await?;
        let best = versions
            .iter()
            .filter(|v| !v.yanked)
            .filter_map(|v| semver::Version::parse(&v.version).ok().map(|s| (s, v)))
            .max_by(|a, b| a.0.cmp(&b.0));
        let Some((max_version, _)) = best else { continue };
        let files = ctx.app.catalog.list_files(&row.id).await?;
        let description = files
            .iter()
            .rev()
            .find_map(|f| {
                serde_json::from_str::<Value>(&f.metadata)
                    .ok()
                    .and_then(|m| m.get("description").and_then(|d| d.as_str()).map(str::to_string))
            })
            .unwrap_or_default();
        crates.push(
            json!({ "name": row.display_name, "max_version": max_version.to_string(), "description": description }),
        );
    }
    let mut total = crates.len();
    if ctx.registry.mode.has_upstream() && !ctx.registry.upstreams.is_empty() {
        match upstream_search(ctx, &param("q").unwrap_or_default(), per_page).await {
            Ok((found, upstream_total)) => {
                total += upstream_total;
                crates.extend(found);
            }
            // Never an empty list that looks like "nothing matches".
            Err(why) if crates.is_empty() => {
                return Err(AppError::bad_request(format!("cargo search through this mirror: {why}")));
            }
            Err(why) => tracing::warn!(registry = %ctx.registry.name, %why, "upstream search failed; local results only"),
        }
    }
    crates.truncate(per_page);
    Ok(http::json(StatusCode::OK, &json!({ "crates": crates, "meta": { "total": total } })))
}

/// `cargo search` asked of the upstream's web API (the `api` of its
/// `config.json`), when the registry's URL policy allows that origin; crates
/// that are ours are left out of the answer.
async fn upstream_search(ctx: &RequestCtx, q: &str, per_page: usize) -> Result<(Vec<Value>, usize), String> {
    let mut fetch = ctx.doc_fetch(CacheKey::new("config.json"), "config.json".into(), "*/*");
    fetch.upstreams = upstream_bases(ctx);
    let config = ctx
        .document(fetch)
        .await
        .map_err(|e| format!("the upstream's config.json: {e}"))?;
    let config = ctx.parsed(&config.doc, parse_config).await.map_err(|e| e.to_string())?;
    let Some(api) = config.api.clone() else {
        return Err("the upstream has no web API (its config.json names no `api`), so it cannot be searched".into());
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", q)
        .append_pair("per_page", &per_page.to_string())
        .finish();
    let url = format!("{}/api/v1/crates?{query}", api.trim_end_matches('/'));
    let parsed = url::Url::parse(&url).map_err(|e| format!("the upstream's api `{api}` is not a URL: {e}"))?;
    ctx.app.upstream.policy_for(&ctx.registry.name).check(&parsed).map_err(|r| {
        format!("the upstream's web API is on another origin ({r}); add it to the registry's artifact_hosts to search it")
    })?;
    let client = ctx.app.upstream.client_for(&ctx.registry.name);
    let accept = [("accept", "application/json".to_string())];
    let answer = crate::upstream::forward(client, reqwest::Method::GET, &url, &accept, None, 4 * 1024 * 1024)
        .await
        .map_err(|e| format!("the upstream's web API: {}", crate::error::AppError::from(e)))?;
    if !answer.status.is_success() {
        return Err(format!("the upstream's web API answered {}", answer.status));
    }
    let shadow = ctx.shadow().await.map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_slice(&answer.body).map_err(|e| format!("the upstream's search answer: {e}"))?;
    let mut total = doc.get("meta").and_then(|m| m.get("total")).and_then(Value::as_u64).unwrap_or(0) as usize;
    let mut found = Vec::new();
    for c in doc.get("crates").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = c.get("name").and_then(Value::as_str) else { continue };
        if shadow.covers(&names::normalize(name)) {
            total = total.saturating_sub(1);
            continue;
        }
        found.push(json!({
            "name": name,
            "max_version": c.get("max_version").cloned().unwrap_or(json!("")),
            "description": c.get("description").cloned().unwrap_or(json!("")),
        }));
    }
    Ok((found, total))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dl_templates() {
        let ck = "ab".repeat(32);
        assert_eq!(
            expand_dl("https://dl.example/crates", "Serde", "1.0.0", &ck),
            "https://dl.example/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            expand_dl(
                "https://dl.example/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}",
                "Serde",
                "1.0.0",
                &ck
            ),
            format!("https://dl.example/Se/rd/se/rd/Serde/Serde-1.0.0.crate?sum={ck}")
        );
        assert_eq!(
            expand_dl("https://dl.example/{crate}/{version}", "ab", "0.1.0", &ck),
            "https://dl.example/ab/0.1.0"
        );
    }
}
