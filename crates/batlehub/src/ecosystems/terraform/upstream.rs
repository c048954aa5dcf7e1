//! An upstream Terraform registry: its service discovery (followed to
//! where its module and provider APIs are), its versions and download
//! documents, read through the document cache and checked. URLs it gives
//! are resolved against the document that gave them and asked only through
//! the registry's URL policy.

use std::sync::Arc;

use serde_json::Value;

use super::names::{self, Module, Platform, Provider};
use crate::error::{AppError, AppResult};
use crate::serve::RequestCtx;
use crate::upstream::CacheKey;
use crate::upstream::documents::{CacheState, DocFetch, Document};

const JSON: &str = "application/json";

/// Where an upstream's module and provider APIs are (absolute, ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    pub modules: Option<String>,
    pub providers: Option<String>,
}

fn bad(what: impl std::fmt::Display) -> String {
    format!("the upstream answered an invalid document: {what}")
}

/// A service URL of a discovery document, resolved against `at`.
fn service(doc: &Value, name: &str, at: &url::Url) -> Result<Option<String>, String> {
    let Some(v) = doc.get(name) else { return Ok(None) };
    let s = v.as_str().ok_or_else(|| bad(format!("{name} is not a string")))?;
    let mut u = at.join(s).map_err(|e| bad(format!("{name}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad(format!("{name} is not an http(s) URL")));
    }
    if !u.path().ends_with('/') {
        u.set_path(&format!("{}/", u.path()));
    }
    Ok(Some(u.to_string()))
}

/// Parse a discovery document fetched from `source` (the upstream's base).
pub fn parse_services(body: &[u8], source: &str) -> Result<Services, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    if !doc.is_object() {
        return Err(bad("service discovery is not an object"));
    }
    let at = url::Url::parse(&crate::upstream::join_url(source, ".well-known/terraform.json"))
        .map_err(|e| bad(format!("the upstream's URL: {e}")))?;
    Ok(Services { modules: service(&doc, "modules.v1", &at)?, providers: service(&doc, "providers.v1", &at)? })
}

fn discovery_fetch(ctx: &RequestCtx) -> Option<DocFetch> {
    let first = ctx.registry.upstreams.first()?.clone();
    let mut fetch = ctx.doc_fetch(CacheKey::new("terraform").part("discovery"), ".well-known/terraform.json".into(), JSON);
    // One upstream registry: the services of the first.
    fetch.upstreams = vec![first];
    Some(fetch)
}

/// The upstream's services, `None` without an upstream (or discovery).
pub async fn services(ctx: &RequestCtx) -> AppResult<Option<Arc<Services>>> {
    let Some(fetch) = discovery_fetch(ctx) else { return Ok(None) };
    let Some(served) = ctx.document_if_any(fetch).await? else { return Ok(None) };
    let parsed = ctx.parsed(&served.doc, |d: &Document| parse_services(&d.body, &d.header.source)).await?;
    Ok(Some(parsed))
}

/// A document of the upstream at `url`, `None` when absent.
async fn json_at(ctx: &RequestCtx, key: CacheKey, url: &str) -> AppResult<Option<(Arc<Value>, CacheState)>> {
    ctx.json_document(ctx.doc_fetch_at(key, url, JSON)?).await
}

fn providers_url(services: &Services, provider: &Provider, rest: &str) -> AppResult<String> {
    let base = services.providers.as_deref().ok_or_else(|| AppError::not_found("the upstream serves no providers"))?;
    Ok(format!("{base}{}/{}/{rest}", provider.namespace, provider.kind))
}

fn modules_url(services: &Services, module: &Module, rest: &str) -> AppResult<String> {
    let base = services.modules.as_deref().ok_or_else(|| AppError::not_found("the upstream serves no modules"))?;
    Ok(format!("{base}{}/{rest}", module.path()))
}

/// The fetch of the document that lists a provider's versions (after
/// discovery), for the first-publish check.
pub async fn listing_fetch(ctx: &RequestCtx, name: &str) -> AppResult<Option<DocFetch>> {
    let Some(services) = services(ctx).await? else { return Ok(None) };
    let (key, url) = match names::named(name) {
        Some(names::Named::Provider(p)) => (provider_key(&p, "versions"), providers_url(&services, &p, "versions")),
        Some(names::Named::Module(m)) => (module_key(&m, "versions"), modules_url(&services, &m, "versions")),
        None => return Err(AppError::bad_request(format!("invalid module or provider name `{name}`"))),
    };
    match url {
        Ok(url) => Ok(Some(ctx.doc_fetch_at(key, &url, JSON)?)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn provider_key(p: &Provider, what: &str) -> CacheKey {
    CacheKey::new("terraform").part("provider").part(&p.key()).part(what)
}

fn module_key(m: &Module, what: &str) -> CacheKey {
    CacheKey::new("terraform").part("module").part(&m.key()).part(what)
}

/// One version a provider's versions document lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderVersion {
    pub version: String,
    pub protocols: Vec<String>,
    pub platforms: Vec<Platform>,
}

/// A provider's versions document, its entries checked (invalid ones left out).
pub fn parse_provider_versions(doc: &Value) -> Result<Vec<ProviderVersion>, String> {
    let list = doc.get("versions").and_then(Value::as_array).ok_or_else(|| bad("no versions"))?;
    let mut out = Vec::new();
    for v in list.iter().take(10_000) {
        let Some(version) = v.get("version").and_then(Value::as_str) else { continue };
        if names::check_version(version).is_err() {
            continue;
        }
        let protocols = v
            .get("protocols")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).filter(|p| protocol_ok(p)).map(str::to_string).collect())
            .unwrap_or_default();
        let platforms = v
            .get("platforms")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
                        Platform::parse(s("os"), s("arch")).ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(ProviderVersion { version: version.to_string(), protocols, platforms });
    }
    Ok(out)
}

/// A plugin protocol version (`5.0`, `6`).
pub fn protocol_ok(p: &str) -> bool {
    !p.is_empty() && p.len() <= 8 && p.split('.').all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// A provider's versions as its upstream lists them, `None` when absent.
pub async fn provider_versions(
    ctx: &RequestCtx,
    provider: &Provider,
) -> AppResult<Option<(Vec<ProviderVersion>, CacheState)>> {
    let Some(services) = services(ctx).await? else { return Ok(None) };
    let url = match providers_url(&services, provider, "versions") {
        Ok(u) => u,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some((doc, state)) = json_at(ctx, provider_key(provider, "versions"), &url).await? else { return Ok(None) };
    Ok(Some((parse_provider_versions(&doc).map_err(AppError::Upstream)?, state)))
}

/// What an upstream's download document says of one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub protocols: Vec<String>,
    pub filename: String,
    pub download_url: String,
    /// The SHA-256 (hex), `None` when it gives none.
    pub shasum: Option<String>,
    pub shasums_url: Option<String>,
    pub shasums_signature_url: Option<String>,
    pub signing_keys: Value,
}

/// Parse a download document fetched from `at`.
pub fn parse_download(doc: &Value, at: &str) -> Result<Download, String> {
    let at = url::Url::parse(at).map_err(bad)?;
    let s = |k: &str| doc.get(k).and_then(Value::as_str);
    let resolve = |k: &str| -> Result<Option<String>, String> {
        match s(k) {
            None | Some("") => Ok(None),
            Some(u) => {
                let joined = at.join(u).map_err(|e| bad(format!("{k}: {e}")))?;
                if !matches!(joined.scheme(), "http" | "https") {
                    return Err(bad(format!("{k} is not an http(s) URL")));
                }
                Ok(Some(joined.to_string()))
            }
        }
    };
    let filename = s("filename").unwrap_or("").to_string();
    if filename.is_empty() || filename.len() > 200 || filename.contains(['/', '\\', '\n', ' ']) {
        return Err(bad("the filename"));
    }
    let download_url = resolve("download_url")?.ok_or_else(|| bad("no download_url"))?;
    let shasum = s("shasum")
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .map(|h| h.to_ascii_lowercase());
    let protocols = doc
        .get("protocols")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).filter(|p| protocol_ok(p)).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Download {
        protocols,
        filename,
        download_url,
        shasum,
        shasums_url: resolve("shasums_url")?,
        shasums_signature_url: resolve("shasums_signature_url")?,
        signing_keys: doc.get("signing_keys").cloned().unwrap_or(Value::Null),
    })
}

/// A provider package's download document, `None` when absent.
pub async fn provider_download(
    ctx: &RequestCtx,
    provider: &Provider,
    version: &str,
    platform: &Platform,
) -> AppResult<Option<Download>> {
    let Some(services) = services(ctx).await? else { return Ok(None) };
    let rest = format!("{version}/download/{}/{}", platform.os, platform.arch);
    let url = providers_url(&services, provider, &rest)?;
    let key = provider_key(provider, &rest);
    let Some((doc, _)) = json_at(ctx, key, &url).await? else { return Ok(None) };
    Ok(Some(parse_download(&doc, &url).map_err(AppError::Upstream)?))
}

/// The bytes of a document a download document names (`SHA256SUMS`, its
/// signature), `None` when absent.
pub async fn linked_bytes(ctx: &RequestCtx, key: CacheKey, url: &str) -> AppResult<Option<bytes::Bytes>> {
    let fetch = ctx.doc_fetch_at(key, url, "*/*")?;
    Ok(ctx.document_if_any(fetch).await?.map(|s| s.doc.body.clone()))
}

/// A module's versions (as the upstream lists them), `None` when absent.
pub async fn module_versions(ctx: &RequestCtx, module: &Module) -> AppResult<Option<(Vec<String>, CacheState)>> {
    let Some(services) = services(ctx).await? else { return Ok(None) };
    let url = match modules_url(&services, module, "versions") {
        Ok(u) => u,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some((doc, state)) = json_at(ctx, module_key(module, "versions"), &url).await? else { return Ok(None) };
    Ok(Some((parse_module_versions(&doc).map_err(AppError::Upstream)?, state)))
}

/// The versions of a module versions document (`modules[0].versions`).
pub fn parse_module_versions(doc: &Value) -> Result<Vec<String>, String> {
    let list = doc
        .get("modules")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .and_then(|m| m.get("versions"))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no modules[0].versions"))?;
    Ok(list
        .iter()
        .take(10_000)
        .filter_map(|v| v.get("version").and_then(Value::as_str))
        .filter(|v| names::check_version(v).is_ok())
        .map(str::to_string)
        .collect())
}

/// Where the upstream says a module version's source is (its
/// `X-Terraform-Get`, or the `location` of a JSON answer), resolved against
/// the download URL; `None` when absent.
pub async fn module_location(ctx: &RequestCtx, module: &Module, version: &str) -> AppResult<Option<String>> {
    let Some(services) = services(ctx).await? else { return Ok(None) };
    let rest = format!("{version}/download");
    let url = modules_url(&services, module, &rest)?;
    let fetch = ctx.doc_fetch_at(module_key(module, &rest), &url, JSON)?.keeping_header("x-terraform-get");
    let Some(served) = ctx.document_if_any(fetch).await? else { return Ok(None) };
    let doc = &served.doc;
    let location = match &doc.header.kept {
        Some(l) => l.clone(),
        None => serde_json::from_slice::<Value>(&doc.body)
            .ok()
            .and_then(|v| v.get("location").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| AppError::upstream(bad("a module download without X-Terraform-Get")))?,
    };
    Ok(Some(resolve_location(&location, &url).map_err(AppError::Upstream)?))
}

/// A module source address: a relative URL is resolved against `at` (as
/// Terraform does); an address with a getter (`git::...`) or a scheme of
/// its own is kept as it is.
pub fn resolve_location(location: &str, at: &str) -> Result<String, String> {
    if location.is_empty() || location.len() > 2048 || location.chars().any(|c| c.is_control()) {
        return Err(bad("a module location"));
    }
    if location.contains("::") || url::Url::parse(location).is_ok() {
        return Ok(location.to_string());
    }
    let at = url::Url::parse(at).map_err(bad)?;
    at.join(location).map(|u| u.to_string()).map_err(|e| bad(format!("a module location: {e}")))
}

/// The URL of a module location that is a plain `.tar.gz` over http(s):
/// no getter prefix, no subdirectory, no `archive=` override. Those are
/// fetched through BatleHub and cached; other sources are not.
pub fn cacheable_archive(location: &str) -> Option<String> {
    if location.contains("::") {
        return None;
    }
    let u = url::Url::parse(location).ok()?;
    let plain = matches!(u.scheme(), "http" | "https")
        && (u.path().ends_with(".tar.gz") || u.path().ends_with(".tgz"))
        && !u.path().contains("//")
        && !u.query_pairs().any(|(k, _)| k == "archive");
    plain.then(|| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_and_downloads_resolve_relative_urls() {
        let s = parse_services(br#"{"providers.v1":"/v1/providers/","modules.v1":"https://m.example/m"}"#, "https://up.example/base")
            .expect("services");
        assert_eq!(s.providers.as_deref(), Some("https://up.example/v1/providers/"));
        assert_eq!(s.modules.as_deref(), Some("https://m.example/m/"));
        assert!(parse_services(br#"{"providers.v1":"file:///etc/"}"#, "https://up.example").is_err());
        let doc = serde_json::json!({"filename": "terraform-provider-x_1.0.0_linux_amd64.zip", "download_url": "../files/x.zip",
            "shasum": "AB".repeat(32), "shasums_url": "https://up.example/SHA256SUMS", "protocols": ["5.0", "x"]});
        let d = parse_download(&doc, "https://up.example/v1/providers/a/x/1.0.0/download/linux/amd64").expect("download");
        assert_eq!(d.download_url, "https://up.example/v1/providers/a/x/1.0.0/download/files/x.zip");
        assert_eq!(d.shasum, Some("ab".repeat(32)));
        assert_eq!(d.protocols, vec!["5.0"]);
        assert!(parse_download(&serde_json::json!({"filename": "../x", "download_url": "/x"}), "https://u.example/").is_err());
        assert_eq!(resolve_location("git::https://g.example/x?ref=v1", "https://u.example/a").expect("kept"), "git::https://g.example/x?ref=v1");
        assert_eq!(resolve_location("./x.tar.gz", "https://u.example/a/download").expect("joined"), "https://u.example/a/x.tar.gz");
        assert_eq!(cacheable_archive("https://u.example/a/x.tar.gz?t=1").as_deref(), Some("https://u.example/a/x.tar.gz?t=1"));
        for other in ["git::https://g.example/x", "https://u.example/x.zip", "https://u.example/x.tar.gz//sub", "s3::https://x/y.tgz"] {
            assert_eq!(cacheable_archive(other), None, "{other}");
        }
    }
}
