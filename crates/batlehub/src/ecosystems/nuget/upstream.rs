//! Upstream v3 feeds, discovered through their own service index.
//!
//! Each configured upstream is the URL of a service index; it is fetched as
//! a cached document and its resources are read from it
//! (`PackageBaseAddress/3.0.0`, the best `RegistrationsBaseUrl` and
//! `SearchQueryService` / `SearchAutocompleteService` types), never assumed.
//! Every URL an upstream document names is asked only if the registry's URL
//! policy allows it (`RequestCtx::doc_fetch_at`, `check_upstream_url`). The
//! upstream's registration documents are rewritten so that every URL in
//! them points back here.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use super::names::{PackageId, Version};
use super::render::Urls;
use crate::error::{AppError, AppResult};
use crate::serve::RequestCtx;
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::{DocFetch, Served};
use crate::upstream::CacheKey;

/// What an upstream's service index says is where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// The flat container, ending with `/`.
    pub package_base: Option<String>,
    /// The registrations, ending with `/`.
    pub registrations: Option<String>,
    pub search: Option<String>,
    pub autocomplete: Option<String>,
}

const REGISTRATION_TYPES: &[&str] = &[
    "RegistrationsBaseUrl/3.6.0",
    "RegistrationsBaseUrl/Versioned",
    "RegistrationsBaseUrl/3.4.0",
    "RegistrationsBaseUrl/3.0.0-rc",
    "RegistrationsBaseUrl/3.0.0-beta",
    "RegistrationsBaseUrl",
];
const SEARCH_TYPES: &[&str] =
    &["SearchQueryService/3.5.0", "SearchQueryService/3.0.0-rc", "SearchQueryService/3.0.0-beta", "SearchQueryService"];
const AUTOCOMPLETE_TYPES: &[&str] = &[
    "SearchAutocompleteService/3.5.0",
    "SearchAutocompleteService/3.0.0-rc",
    "SearchAutocompleteService/3.0.0-beta",
    "SearchAutocompleteService",
];

/// Read a service index. `configured` is the upstream's configured URL: a
/// resource on its origin without credentials of its own gets the
/// configured URL's user and password (a feed behind Basic auth).
pub fn parse_service_index(body: &[u8], configured: &str) -> Result<Resources, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("the service index is not JSON: {e}"))?;
    let version = doc.get("version").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.") {
        return Err(format!("not a NuGet v3 service index (version `{}`)", version.chars().take(20).collect::<String>()));
    }
    let resources = doc.get("resources").and_then(Value::as_array).ok_or("the service index has no resources")?;
    let configured = url::Url::parse(configured).ok();
    let find = |types: &[&str], folder: bool| -> Option<String> {
        for wanted in types {
            for r in resources {
                let matches = match r.get("@type") {
                    Some(Value::String(t)) => t == wanted,
                    Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(wanted)),
                    _ => false,
                };
                let Some(id) = r.get("@id").and_then(Value::as_str).filter(|_| matches) else { continue };
                let Ok(mut u) = url::Url::parse(id) else { continue };
                if !matches!(u.scheme(), "http" | "https") {
                    continue;
                }
                if let Some(c) = &configured
                    && u.origin() == c.origin()
                    && u.username().is_empty()
                    && !c.username().is_empty()
                {
                    let _ = u.set_username(c.username());
                    let _ = u.set_password(c.password());
                }
                let mut s = u.to_string();
                if folder && !s.ends_with('/') {
                    s.push('/');
                }
                return Some(s);
            }
        }
        None
    };
    Ok(Resources {
        package_base: find(&["PackageBaseAddress/3.0.0"], true),
        registrations: find(REGISTRATION_TYPES, true),
        search: find(SEARCH_TYPES, false),
        autocomplete: find(AUTOCOMPLETE_TYPES, false),
    })
}

/// A short, stable name of an upstream for cache keys (never its URL,
/// which may carry credentials).
pub fn upstream_tag(url: &str) -> String {
    hex::encode(&sha2::Sha256::digest(url.as_bytes())[..8])
}

/// One upstream with its resources.
pub struct Feed {
    pub tag: String,
    pub resources: Arc<Resources>,
}

/// The resources of the upstream at `url` (its service index, cached).
pub async fn feed(ctx: &RequestCtx, url: &str) -> AppResult<Feed> {
    let tag = upstream_tag(url);
    let fetch = ctx.doc_fetch_at(CacheKey::new("nuget-index").part(&tag), url, "application/json")?;
    let served = match ctx.document(fetch).await {
        Ok(s) => s,
        Err(AppError::NotFound(_)) => return Err(AppError::upstream("an upstream has no NuGet service index")),
        Err(e) => return Err(e),
    };
    let configured = url.to_string();
    let resources = ctx.parsed(&served.doc, move |doc| parse_service_index(&doc.body, &configured)).await?;
    Ok(Feed { tag, resources })
}

/// The fetch of `id`'s flat container version list on one feed.
pub fn flat_fetch(ctx: &RequestCtx, feed: &Feed, lid: &str) -> AppResult<Option<DocFetch>> {
    let Some(base) = &feed.resources.package_base else { return Ok(None) };
    let key = CacheKey::new("nuget-flat").part(&feed.tag).part(lid);
    Ok(Some(ctx.doc_fetch_at(key, &format!("{base}{lid}/index.json"), "application/json")?))
}

/// The versions (lower case) of an upstream package's flat container,
/// from the first upstream that has it, with the feed that has it.
pub async fn versions(ctx: &RequestCtx, id: &PackageId) -> AppResult<(Arc<Vec<String>>, Served, Feed)> {
    let lid = id.lower();
    for url in &ctx.registry.upstreams {
        let feed = feed(ctx, url).await?;
        let Some(fetch) = flat_fetch(ctx, &feed, &lid)? else { continue };
        let served = match ctx.document(fetch).await {
            Ok(s) => s,
            Err(AppError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let versions = ctx
            .parsed(&served.doc, |doc| {
                let v: Value = serde_json::from_slice(&doc.body).map_err(|e| format!("a flat container index: {e}"))?;
                let list = v.get("versions").and_then(Value::as_array).ok_or("a flat container index without versions")?;
                let mut out: Vec<String> = list
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| Version::parse(s).ok())
                    .map(|v| v.key())
                    .collect();
                super::render::sort_versions(&mut out);
                out.dedup();
                Ok(out)
            })
            .await?;
        return Ok((versions, served, feed));
    }
    Err(AppError::not_found(format!("{id} not found")))
}

/// An upstream registration document (index or page), parsed once per body.
async fn json_doc(ctx: &RequestCtx, fetch: DocFetch) -> AppResult<(Arc<Value>, Served)> {
    let served = ctx.document(fetch).await?;
    let value = ctx
        .parsed(&served.doc, |doc| {
            let v: Value = serde_json::from_slice(&doc.body).map_err(|e| format!("a registration document: {e}"))?;
            if !v.is_object() {
                return Err("a registration document that is not an object".into());
            }
            Ok(v)
        })
        .await?;
    Ok((value, served))
}

/// An upstream package's registration index on `feed` (`None` when the feed
/// has no registrations or not this package).
pub async fn registration(ctx: &RequestCtx, feed: &Feed, lid: &str) -> AppResult<Option<(Arc<Value>, Served)>> {
    let Some(base) = &feed.resources.registrations else { return Ok(None) };
    let key = CacheKey::new("nuget-registration").part(&feed.tag).part(lid);
    let fetch = ctx.doc_fetch_at(key, &format!("{base}{lid}/index.json"), "application/json")?;
    match json_doc(ctx, fetch).await {
        Ok(found) => Ok(Some(found)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The first upstream registration index of `id`, with its feed.
pub async fn first_registration(ctx: &RequestCtx, id: &PackageId) -> AppResult<(Arc<Value>, Served, Feed)> {
    let lid = id.lower();
    for url in &ctx.registry.upstreams {
        let feed = feed(ctx, url).await?;
        if let Some((v, served)) = registration(ctx, &feed, &lid).await? {
            return Ok((v, served, feed));
        }
    }
    Err(AppError::not_found(format!("{id} not found")))
}

fn bound(page: &Value, key: &str) -> Option<Version> {
    page.get(key).and_then(Value::as_str).and_then(|s| Version::parse(s).ok())
}

/// A page of an upstream registration index, fetched when not inlined.
pub async fn page(ctx: &RequestCtx, feed: &Feed, lid: &str, page: &Value) -> AppResult<Arc<Value>> {
    if page.get("items").is_some_and(Value::is_array) {
        return Ok(Arc::new(page.clone()));
    }
    let url = page.get("@id").and_then(Value::as_str).ok_or_else(|| AppError::upstream("a registration page without @id"))?;
    let key = CacheKey::new("nuget-registration-page").part(&feed.tag).part(lid).part(url);
    let (v, _) = json_doc(ctx, ctx.doc_fetch_at(key, url, "application/json")?).await?;
    Ok(v)
}

fn leaf_version(leaf: &Value) -> Option<Version> {
    leaf.get("catalogEntry").and_then(|c| c.get("version")).and_then(Value::as_str).and_then(|s| Version::parse(s).ok())
}

/// The registration leaf of `version` in an upstream registration index,
/// fetching the page that holds it when it is not inlined.
pub async fn find_leaf(ctx: &RequestCtx, feed: &Feed, lid: &str, index: &Value, version: &Version) -> AppResult<Option<Value>> {
    for p in index.get("items").and_then(Value::as_array).into_iter().flatten() {
        let inside = match (bound(p, "lower"), bound(p, "upper")) {
            (Some(lo), Some(hi)) => &lo <= version && version <= &hi,
            _ => true,
        };
        if !inside {
            continue;
        }
        let items = page(ctx, feed, lid, p).await?;
        for leaf in items.get("items").and_then(Value::as_array).into_iter().flatten() {
            if leaf_version(leaf).as_ref() == Some(version) {
                return Ok(Some(leaf.clone()));
            }
        }
    }
    Ok(None)
}

fn digest_of(entry: &Value) -> Option<ExpectedDigest> {
    let hash = entry.get("packageHash").and_then(Value::as_str)?;
    let alg = entry.get("packageHashAlgorithm").and_then(Value::as_str).unwrap_or("SHA512").to_ascii_lowercase();
    let bytes = base64::engine::general_purpose::STANDARD.decode(hash.trim()).ok()?;
    match (alg.as_str(), bytes.len()) {
        ("sha512", 64) => Some(ExpectedDigest::Sha512(bytes)),
        ("sha256", 32) => Some(ExpectedDigest::Sha256(bytes)),
        _ => None,
    }
}

/// The digest an upstream gives for a version's `.nupkg`: its registration
/// leaf's `catalogEntry.packageHash`, else that of the catalog leaf the
/// entry names (nuget.org's shape). `None` when the feed gives none (many
/// feeds have no catalog): the package is then checked by content.
pub async fn digest(ctx: &RequestCtx, feed: &Feed, lid: &str, version: &Version) -> AppResult<Option<ExpectedDigest>> {
    let Some((index, _)) = registration(ctx, feed, lid).await? else { return Ok(None) };
    let Some(leaf) = find_leaf(ctx, feed, lid, &index, version).await? else { return Ok(None) };
    let entry = leaf.get("catalogEntry").cloned().unwrap_or(Value::Null);
    if let Some(d) = digest_of(&entry) {
        return Ok(Some(d));
    }
    let catalog_url = match &entry {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("@id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let Some(url) = catalog_url.filter(|u| u.starts_with("http")) else { return Ok(None) };
    let key = CacheKey::new("nuget-catalog").part(&feed.tag).part(&url);
    let fetch = match ctx.doc_fetch_at(key, &url, "application/json") {
        Ok(f) => f,
        // A catalog on an origin the registry does not allow: no digest.
        Err(AppError::Upstream(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    match json_doc(ctx, fetch).await {
        Ok((doc, _)) => Ok(digest_of(&doc)),
        Err(AppError::NotFound(_)) | Err(AppError::Upstream(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An upstream registration document (index or page) with every URL in it
/// pointing here: leaves, pages, package content, dependency registrations.
pub fn rewrite_registration(doc: &Value, u: &Urls, lid: &str) -> Value {
    let mut doc = doc.clone();
    doc["@id"] = json!(u.reg_index(lid));
    if let Some(Value::Array(pages)) = doc.get_mut("items") {
        for p in pages {
            let inline = p.get("items").is_some_and(Value::is_array);
            rewrite_page(p, u, lid, !inline);
            if inline {
                let (lo, hi) = (bound(p, "lower"), bound(p, "upper"));
                p["@id"] = json!(format!(
                    "{}#page/{}/{}",
                    u.reg_index(lid),
                    lo.map(|v| v.key()).unwrap_or_default(),
                    hi.map(|v| v.key()).unwrap_or_default()
                ));
            }
        }
    }
    doc
}

/// Leave out of a registration document (an index with inlined pages, or
/// a page) the leaves of versions `allows` refuses; each page's `count`
/// follows.
pub fn withhold_leaves(doc: &mut Value, allows: &dyn Fn(&str) -> bool) {
    let mut prune = |page: &mut Value| {
        if let Some(Value::Array(leaves)) = page.get_mut("items") {
            leaves.retain(|leaf| leaf_version(leaf).is_none_or(|v| allows(&v.key())));
            let n = leaves.len();
            page["count"] = json!(n);
        }
    };
    if doc.get("items").and_then(Value::as_array).is_some_and(|items| items.iter().any(|i| i.get("catalogEntry").is_some())) {
        prune(doc);
        return;
    }
    if let Some(Value::Array(pages)) = doc.get_mut("items") {
        pages.iter_mut().for_each(&mut prune);
    }
}

/// The upstream versions of `id` as the rules see them: those its flat
/// container lists, each with its registration leaf's `published` and
/// `licenseExpression` where the feed has registrations.
pub async fn releases(ctx: &RequestCtx, id: &PackageId) -> AppResult<Vec<crate::rules::Release>> {
    let lid = id.lower();
    let (keys, _, feed) = versions(ctx, id).await?;
    let mut details: std::collections::HashMap<String, (Option<i64>, Option<String>)> = std::collections::HashMap::new();
    if let Some((index, _)) = registration(ctx, &feed, &lid).await? {
        for p in index.get("items").and_then(Value::as_array).into_iter().flatten() {
            let items = page(ctx, &feed, &lid, p).await?;
            for leaf in items.get("items").and_then(Value::as_array).into_iter().flatten() {
                let Some(v) = leaf_version(leaf) else { continue };
                let entry = leaf.get("catalogEntry");
                let field = |k: &str| entry.and_then(|e| e.get(k)).and_then(Value::as_str);
                let published = field("published").and_then(crate::rules::parse_rfc3339);
                let licence = field("licenseExpression").filter(|l| !l.is_empty()).map(str::to_string);
                details.insert(v.key(), (published, licence));
            }
        }
    }
    Ok(keys
        .iter()
        .map(|k| {
            let (published_at, licence) = details.get(k).cloned().unwrap_or((None, None));
            crate::rules::Release { version: k.clone(), published_at, licence }
        })
        .collect())
}

/// A separately fetched upstream registration page, rewritten.
pub fn rewrite_page_doc(page: &Value, u: &Urls, lid: &str, lower: &Version, upper: &Version) -> Value {
    let mut p = page.clone();
    rewrite_page(&mut p, u, lid, false);
    p["@id"] = json!(u.reg_page(lid, &lower.key(), &upper.key()));
    p["parent"] = json!(u.reg_index(lid));
    p
}

fn rewrite_page(p: &mut Value, u: &Urls, lid: &str, own_url: bool) {
    if own_url && let (Some(lo), Some(hi)) = (bound(p, "lower"), bound(p, "upper")) {
        p["@id"] = json!(u.reg_page(lid, &lo.key(), &hi.key()));
    }
    if p.get("parent").is_some() {
        p["parent"] = json!(u.reg_index(lid));
    }
    if let Some(Value::Array(leaves)) = p.get_mut("items") {
        for leaf in leaves {
            rewrite_leaf(leaf, u, lid);
        }
    }
}

fn rewrite_leaf(leaf: &mut Value, u: &Urls, lid: &str) {
    let Some(vkey) = leaf_version(leaf).map(|v| v.key()) else { return };
    let Some(obj) = leaf.as_object_mut() else { return };
    obj.insert("@id".into(), json!(u.reg_leaf(lid, &vkey)));
    obj.insert("packageContent".into(), json!(u.nupkg(lid, &vkey)));
    obj.insert("registration".into(), json!(u.reg_index(lid)));
    if let Some(Value::Object(entry)) = obj.get_mut("catalogEntry") {
        entry.insert("@id".into(), json!(u.reg_leaf(lid, &vkey)));
        entry.insert("packageContent".into(), json!(u.nupkg(lid, &vkey)));
        if let Some(Value::Array(groups)) = entry.get_mut("dependencyGroups") {
            for g in groups {
                if let Some(Value::Array(deps)) = g.get_mut("dependencies") {
                    for d in deps {
                        let dl = d.get("id").and_then(Value::as_str).map(str::to_ascii_lowercase);
                        if let (Some(dl), Some(o)) = (dl, d.as_object_mut()) {
                            o.insert("registration".into(), json!(u.reg_index(&dl)));
                        }
                    }
                }
            }
        }
    }
}

/// An upstream search (or autocomplete) answer with the names that are
/// ours (`ours` of a lower-case id) taken out and its URLs pointing
/// here; its results and total.
pub fn rewrite_search(body: &[u8], u: &Urls, ours: &dyn Fn(&str) -> bool) -> (Vec<Value>, u64) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut total = v.get("totalHits").and_then(Value::as_u64).unwrap_or(0);
    let mut out = Vec::new();
    for mut r in v.get("data").and_then(Value::as_array).cloned().unwrap_or_default() {
        let id = match &r {
            Value::String(s) => s.clone(),
            Value::Object(o) => o.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
            _ => String::new(),
        };
        let lid = id.to_ascii_lowercase();
        if PackageId::parse(&id).is_err() || ours(&lid) {
            total = total.saturating_sub(1);
            continue;
        }
        if let Value::Object(o) = &mut r {
            o.insert("@id".into(), json!(u.reg_index(&lid)));
            o.insert("registration".into(), json!(u.reg_index(&lid)));
            if let Some(Value::Array(versions)) = o.get_mut("versions") {
                for ver in versions {
                    let key = ver.get("version").and_then(Value::as_str).and_then(|s| Version::parse(s).ok()).map(|v| v.key());
                    if let (Some(key), Some(vo)) = (key, ver.as_object_mut()) {
                        vo.insert("@id".into(), json!(u.reg_leaf(&lid, &key)));
                    }
                }
            }
        }
        out.push(r);
    }
    (out, total)
}

/// Forward a search (or autocomplete) to the first upstream that has the
/// resource: its answer, or `None` when no upstream answers.
pub async fn forward(ctx: &RequestCtx, autocomplete: bool, params: &[(String, String)]) -> AppResult<Option<bytes::Bytes>> {
    for url in &ctx.registry.upstreams {
        let feed = match feed(ctx, url).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(registry = %ctx.registry.name, error = %e, "upstream service index unavailable for search");
                continue;
            }
        };
        let endpoint = if autocomplete { &feed.resources.autocomplete } else { &feed.resources.search };
        let Some(endpoint) = endpoint else { continue };
        let mut target = ctx.check_upstream_url(endpoint)?;
        target.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let client = ctx.app.upstream.client_for(&ctx.registry.name);
        let accept = [("accept", "application/json".to_string())];
        match crate::upstream::forward(client, reqwest::Method::GET, target.as_str(), &accept, None, 16 * 1024 * 1024).await {
            Ok(f) if f.status.is_success() => return Ok(Some(f.body)),
            Ok(f) => tracing::warn!(registry = %ctx.registry.name, status = %f.status, "upstream search failed"),
            Err(e) => tracing::warn!(registry = %ctx.registry.name, error = %e, "upstream search failed"),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_indexes_are_read_not_assumed() {
        let body = br#"{"version":"3.0.0","resources":[
            {"@id":"https://cdn.example/flat","@type":"PackageBaseAddress/3.0.0"},
            {"@id":"https://up.example/reg/","@type":"RegistrationsBaseUrl"},
            {"@id":"https://up.example/reg-semver2/","@type":["RegistrationsBaseUrl/3.6.0"]},
            {"@id":"https://up.example/q","@type":"SearchQueryService/3.0.0-beta"},
            {"@id":"file:///etc/passwd","@type":"SearchAutocompleteService"}
        ]}"#;
        let r = parse_service_index(body, "https://u:p@up.example/v3/index.json").expect("index");
        assert_eq!(r.package_base.as_deref(), Some("https://cdn.example/flat/"));
        assert_eq!(r.registrations.as_deref(), Some("https://u:p@up.example/reg-semver2/"));
        assert_eq!(r.search.as_deref(), Some("https://u:p@up.example/q"));
        assert_eq!(r.autocomplete, None);
        assert!(parse_service_index(br#"{"version":"2.0.0","resources":[]}"#, "https://x.example").is_err());
        assert!(parse_service_index(b"nope", "https://x.example").is_err());
    }
}
