//! Everything Terraform reads: service discovery, the module and provider
//! registry protocols, the provider network mirror protocol, and the
//! archives and checksums they point at.
//!
//! A name a local registry holds (or a claim covers) is answered from the
//! catalog only and never asked upstream. Terraform fetches archives and
//! `SHA256SUMS` without credentials, so the documents that point at them
//! (read with the caller's credentials, read access checked) give signed
//! links ([`crate::serve::grant`]); those paths take a valid link or read
//! access. Upstream provider archives are cached once fetched, verified
//! against the `shasum` the upstream's download document gives.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::archive;
use super::names::{Module, Platform, Provider};
use super::sign::SigningKey;
use super::upstream;
use crate::access::Permission;
use crate::catalog::{FileRow, VersionRow};
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Local, Located, RequestCtx};
use crate::upstream::CacheKey;
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::CacheState;

/// What a local provider file records beside its bytes.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ProviderFile {
    pub os: String,
    pub arch: String,
    pub protocols: Vec<String>,
    pub h1: String,
}

fn json_response(value: &Value, state: Option<CacheState>) -> Response {
    let mut r = http::ok_json(value.clone());
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Some(s) = state {
        http::mark_cache_state(&mut r, s);
    }
    r
}

fn newest_first(versions: &mut [String]) {
    let v = |s: &str| semver::Version::parse(s).unwrap_or_else(|_| semver::Version::new(0, 0, 0));
    versions.sort_by_key(|a| std::cmp::Reverse(v(a)));
}

/// `.well-known/terraform.json`: this registry's module and provider APIs.
pub fn discovery(ctx: &RequestCtx) -> Response {
    let base = ctx.registry_base();
    json_response(&json!({"modules.v1": format!("{base}/v1/modules/"), "providers.v1": format!("{base}/v1/providers/")}), None)
}

fn live_versions(local: &Local) -> Vec<&VersionRow> {
    local.view.versions.iter().filter(|v| !v.yanked).collect()
}

fn files_of<'a>(local: &'a Local, version: &VersionRow) -> Vec<&'a FileRow> {
    let mut files: Vec<&FileRow> = local.view.files.iter().filter(|f| f.version_id == version.id).collect();
    files.sort_by(|a, b| a.filename.cmp(&b.filename));
    files
}

fn version_row<'a>(local: &'a Local, version: &str) -> Option<&'a VersionRow> {
    local.view.versions.iter().find(|v| v.version == version)
}

fn provider_files<'a>(local: &'a Local, version: &VersionRow) -> Vec<(&'a FileRow, ProviderFile)> {
    files_of(local, version)
        .into_iter()
        .filter_map(|f| serde_json::from_str::<ProviderFile>(&f.metadata).ok().map(|m| (f, m)))
        .collect()
}

fn module_not_found(module: &Module, version: Option<&str>) -> AppError {
    match version {
        Some(v) => AppError::not_found(format!("module {} {v} not found", module.path())),
        None => AppError::not_found(format!("module {} not found", module.path())),
    }
}

fn provider_not_found(provider: &Provider, version: Option<&str>) -> AppError {
    match version {
        Some(v) => AppError::not_found(format!("provider {} {v} not found", provider.path())),
        None => AppError::not_found(format!("provider {} not found", provider.path())),
    }
}

/// What the rules withhold from this caller of an upstream module or
/// provider `key` listing `versions`. Terraform's registry protocol gives
/// no publish times or licences: `release_age` rules judge these versions
/// by their `missing_timestamp`.
fn withheld(ctx: &RequestCtx, key: &str, versions: &[&str]) -> AppResult<Option<crate::serve::Withheld>> {
    if !ctx.has_rules() {
        return Ok(None);
    }
    let candidates: Vec<_> = versions
        .iter()
        .map(|v| crate::rules::Candidate { name: key, version: v, published_at: None, licence: None })
        .collect();
    ctx.rules_withheld(&candidates)
}

/// Refuse an upstream version the rules withhold from this caller.
fn check_version(ctx: &RequestCtx, key: &str, version: &str) -> AppResult<()> {
    if !ctx.has_rules() {
        return Ok(());
    }
    ctx.rules_verdict(&crate::rules::Candidate { name: key, version, published_at: None, licence: None })
}

/// The upstream versions of a module or provider (`ns/name/system` or
/// `ns/type`) as the rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let parts: Vec<&str> = name.split('/').collect();
    let versions: Vec<String> = match parts.as_slice() {
        [ns, n, system] => {
            let module = Module::parse(ns, n, system).map_err(AppError::BadRequest)?;
            upstream::module_versions(ctx, &module).await?.map(|(v, _)| v).unwrap_or_default()
        }
        [ns, kind] => {
            let provider = Provider::parse(ns, kind).map_err(AppError::BadRequest)?;
            upstream::provider_versions(ctx, &provider)
                .await?
                .map(|(v, _)| v.into_iter().map(|p| p.version).collect())
                .unwrap_or_default()
        }
        _ => return Err(AppError::bad_request(format!("`{name}` is neither a module (ns/name/system) nor a provider (ns/type)"))),
    };
    Ok(versions.into_iter().map(|version| crate::rules::Release { version, published_at: None, licence: None }).collect())
}

/// `v1/modules/{ns}/{name}/{system}/versions`.
pub async fn module_versions(ctx: &RequestCtx, module: &Module) -> AppResult<Response> {
    let (mut versions, state) = match ctx.read_local(&module.key(), &module.path(), Permission::ReleasesRead).await? {
        Some(local) => (live_versions(&local).into_iter().map(|v| v.version.clone()).collect::<Vec<_>>(), None),
        None => match upstream::module_versions(ctx, module).await? {
            Some((v, state)) => {
                let refs: Vec<&str> = v.iter().map(String::as_str).collect();
                let kept = match withheld(ctx, &module.key(), &refs)? {
                    Some(w) => v.iter().filter(|x| w.allows(x)).cloned().collect(),
                    None => v,
                };
                (kept, Some(state))
            }
            None => return Err(module_not_found(module, None)),
        },
    };
    newest_first(&mut versions);
    let list: Vec<Value> = versions.iter().map(|v| json!({"version": v})).collect();
    Ok(json_response(&json!({"modules": [{"source": module.path(), "versions": list}]}), state))
}

fn module_archive_path(module: &Module, version: &str) -> String {
    format!("/v1/modules/{}/{version}/archive.tar.gz", module.path())
}

fn no_content_get(location: &str) -> AppResult<Response> {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let v = HeaderValue::from_str(location).map_err(|_| AppError::upstream("an invalid module location"))?;
    r.headers_mut().insert("x-terraform-get", v);
    Ok(r)
}

/// `v1/modules/{ns}/{name}/{system}/{version}/download`: 204 and
/// `X-Terraform-Get`.
pub async fn module_download(ctx: &RequestCtx, module: &Module, version: &str) -> AppResult<Response> {
    match ctx.read_local(&module.key(), &module.path(), Permission::ReleasesRead).await? {
        Some(local) => {
            version_row(&local, version).ok_or_else(|| module_not_found(module, Some(version)))?;
            let url = ctx.granted_url(&module_archive_path(module, version)).await?;
            no_content_get(&url)
        }
        None => {
            check_version(ctx, &module.key(), version)?;
            let location =
                upstream::module_location(ctx, module, version).await?.ok_or_else(|| module_not_found(module, Some(version)))?;
            // A plain archive is fetched through here (and cached); any
            // other source (git, a subdirectory...) Terraform fetches itself.
            if upstream::cacheable_archive(&location).is_some() {
                return no_content_get(&ctx.granted_url(&module_archive_path(module, version)).await?);
            }
            no_content_get(&location)
        }
    }
}

/// Whether the request carries a valid link for `path`; else read access
/// is needed.
async fn granted(ctx: &RequestCtx, path: &str, query: Option<&str>) -> AppResult<bool> {
    if ctx.has_grant(path, query).await? {
        return Ok(true);
    }
    ctx.require(Permission::ReleasesRead)?;
    Ok(false)
}

/// The local package of `key` as a granted or an authenticated request reads it.
async fn local_for(ctx: &RequestCtx, key: &str, display: &str, by_grant: bool) -> AppResult<Option<Local>> {
    if by_grant { ctx.granted_local(key).await } else { ctx.read_local(key, display, Permission::ReleasesRead).await }
}

/// `v1/modules/.../{version}/archive.tar.gz`: a module's archive.
pub async fn module_archive(ctx: &RequestCtx, module: &Module, version: &str, query: Option<&str>) -> AppResult<Response> {
    let by_grant = granted(ctx, &module_archive_path(module, version), query).await?;
    if let Some(local) = local_for(ctx, &module.key(), &module.path(), by_grant).await? {
        version_row(&local, version).ok_or_else(|| module_not_found(module, Some(version)))?;
        return ctx.serve_local_file(&local, &module.file(version)).await;
    }
    // Before the cache: a cached archive is withheld as a fetched one.
    check_version(ctx, &module.key(), version)?;
    // An upstream module whose source is a plain archive: fetched once,
    // kept only if it is a module archive (no digest exists for modules).
    let key = CacheKey::new("terraform").part("module-archive").part(&module.key()).part(version);
    ctx.upstream_artifact(key, "application/gzip", || async {
        let location =
            upstream::module_location(ctx, module, version).await?.ok_or_else(|| module_not_found(module, Some(version)))?;
        let url = upstream::cacheable_archive(&location).ok_or_else(|| module_not_found(module, Some(version)))?;
        Ok(Located::unverified(url).of_release(&module.key(), version).checked_by(|path| {
            let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
            archive::module_tgz(std::io::BufReader::new(f))
        }))
    })
    .await
}

/// `v1/providers/{ns}/{type}/versions`.
pub async fn provider_versions(ctx: &RequestCtx, provider: &Provider) -> AppResult<Response> {
    let (versions, state) = match ctx.read_local(&provider.key(), &provider.path(), Permission::ReleasesRead).await? {
        Some(local) => (local_provider_versions(&local), None),
        None => match upstream::provider_versions(ctx, provider).await? {
            Some((v, state)) => (allowed_provider_versions(ctx, provider, v)?, Some(state)),
            None => return Err(provider_not_found(provider, None)),
        },
    };
    let list: Vec<Value> = versions
        .iter()
        .map(|v| {
            let platforms: Vec<Value> = v.platforms.iter().map(|p| json!({"os": p.os, "arch": p.arch})).collect();
            json!({"version": v.version, "protocols": v.protocols, "platforms": platforms})
        })
        .collect();
    Ok(json_response(&json!({"id": provider.path(), "versions": list, "warnings": null}), state))
}

/// Of an upstream provider's versions, those the rules let this caller have.
fn allowed_provider_versions(
    ctx: &RequestCtx,
    provider: &Provider,
    versions: Vec<upstream::ProviderVersion>,
) -> AppResult<Vec<upstream::ProviderVersion>> {
    let refs: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
    Ok(match withheld(ctx, &provider.key(), &refs)? {
        Some(w) => versions.into_iter().filter(|v| w.allows(&v.version)).collect(),
        None => versions,
    })
}

fn local_provider_versions(local: &Local) -> Vec<upstream::ProviderVersion> {
    let mut out: Vec<upstream::ProviderVersion> = live_versions(local)
        .into_iter()
        .map(|v| {
            let files = provider_files(local, v);
            let mut protocols: Vec<String> = files.iter().flat_map(|(_, m)| m.protocols.clone()).collect();
            protocols.sort();
            protocols.dedup();
            let platforms =
                files.iter().filter_map(|(_, m)| Platform::parse(&m.os, &m.arch).ok()).collect::<Vec<Platform>>();
            upstream::ProviderVersion { version: v.version.clone(), protocols, platforms }
        })
        .filter(|v| !v.platforms.is_empty())
        .collect();
    let key = |s: &str| semver::Version::parse(s).unwrap_or_else(|_| semver::Version::new(0, 0, 0));
    out.sort_by_key(|a| std::cmp::Reverse(key(&a.version)));
    out
}

fn archive_path(provider: &Provider, version: &str, platform: &Platform) -> String {
    format!("/v1/providers/{}/{version}/archive/{}", provider.path(), provider.file(version, platform))
}

fn shasums_path(provider: &Provider, version: &str, signature: bool) -> String {
    let sig = if signature { ".sig" } else { "" };
    format!("/v1/providers/{}/{version}/SHA256SUMS{sig}", provider.path())
}

/// `v1/providers/{ns}/{type}/{version}/download/{os}/{arch}`.
pub async fn provider_download(
    ctx: &RequestCtx,
    provider: &Provider,
    version: &str,
    platform: &Platform,
) -> AppResult<Response> {
    let not_found = || {
        AppError::not_found(format!("provider {} {version} has no package for {}_{}", provider.path(), platform.os, platform.arch))
    };
    let (filename, shasum, protocols, signing_keys) =
        match ctx.read_local(&provider.key(), &provider.path(), Permission::ReleasesRead).await? {
            Some(local) => {
                let row = version_row(&local, version).ok_or_else(|| provider_not_found(provider, Some(version)))?;
                let (file, meta) = provider_files(&local, row)
                    .into_iter()
                    .find(|(_, m)| m.os == platform.os && m.arch == platform.arch)
                    .ok_or_else(not_found)?;
                let key = SigningKey::of(ctx).await?;
                let keys = json!({"gpg_public_keys": [{
                    "key_id": key.key_id(), "ascii_armor": key.public_armored()?,
                    "trust_signature": "", "source": "BatleHub", "source_url": null,
                }]});
                (file.filename.clone(), file.sha256.clone(), meta.protocols, keys)
            }
            None => {
                check_version(ctx, &provider.key(), version)?;
                let d = upstream::provider_download(ctx, provider, version, platform).await?.ok_or_else(not_found)?;
                let shasum = d.shasum.ok_or_else(|| AppError::upstream("the upstream gives no shasum for this package"))?;
                (d.filename, shasum, d.protocols, d.signing_keys)
            }
        };
    let download_url = ctx.granted_url(&archive_path(provider, version, platform)).await?;
    let shasums_url = ctx.granted_url(&shasums_path(provider, version, false)).await?;
    let shasums_signature_url = ctx.granted_url(&shasums_path(provider, version, true)).await?;
    Ok(json_response(
        &json!({
            "protocols": protocols, "os": platform.os, "arch": platform.arch, "filename": filename,
            "download_url": download_url, "shasums_url": shasums_url,
            "shasums_signature_url": shasums_signature_url, "shasum": shasum, "signing_keys": signing_keys,
        }),
        None,
    ))
}

/// `v1/providers/.../{version}/archive/{file}.zip`: the package.
pub async fn provider_archive(
    ctx: &RequestCtx,
    provider: &Provider,
    version: &str,
    platform: &Platform,
    query: Option<&str>,
) -> AppResult<Response> {
    let by_grant = granted(ctx, &archive_path(provider, version, platform), query).await?;
    if let Some(local) = local_for(ctx, &provider.key(), &provider.path(), by_grant).await? {
        let row = version_row(&local, version).ok_or_else(|| provider_not_found(provider, Some(version)))?;
        let (file, _) = provider_files(&local, row)
            .into_iter()
            .find(|(_, m)| m.os == platform.os && m.arch == platform.arch)
            .ok_or_else(|| provider_not_found(provider, Some(version)))?;
        let name = file.filename.clone();
        return ctx.serve_local_file(&local, &name).await;
    }
    // Before the cache: a cached package is withheld as a fetched one.
    check_version(ctx, &provider.key(), version)?;
    let key = CacheKey::new("terraform")
        .part("archive")
        .part(&provider.key())
        .part(version)
        .part(&format!("{}_{}", platform.os, platform.arch));
    ctx.upstream_artifact(key, "application/zip", || async {
        let d = upstream::provider_download(ctx, provider, version, platform)
            .await?
            .ok_or_else(|| provider_not_found(provider, Some(version)))?;
        let expected = d.shasum.as_deref().and_then(|h| hex::decode(h).ok()).map(ExpectedDigest::Sha256);
        Ok(Located::verified(d.download_url, expected)?.of_release(&provider.key(), version))
    })
    .await
}

/// `SHA256SUMS` of a local version's packages: `{sha256}  {file}` lines.
fn local_shasums(local: &Local, row: &VersionRow) -> String {
    provider_files(local, row).iter().map(|(f, _)| format!("{}  {}\n", f.sha256, f.filename)).collect()
}

/// `v1/providers/.../{version}/SHA256SUMS[.sig]`: the checksums, or their
/// OpenPGP signature (this server's key for local providers; the
/// upstream's own files, byte for byte, for the others).
pub async fn shasums(
    ctx: &RequestCtx,
    provider: &Provider,
    version: &str,
    signature: bool,
    query: Option<&str>,
) -> AppResult<Response> {
    let by_grant = granted(ctx, &shasums_path(provider, version, signature), query).await?;
    let body = if let Some(local) = local_for(ctx, &provider.key(), &provider.path(), by_grant).await? {
        let row = version_row(&local, version).ok_or_else(|| provider_not_found(provider, Some(version)))?;
        let sums = local_shasums(&local, row);
        if sums.is_empty() {
            return Err(provider_not_found(provider, Some(version)));
        }
        if signature { SigningKey::of(ctx).await?.sign(sums.as_bytes())? } else { sums.into_bytes() }
    } else {
        check_version(ctx, &provider.key(), version)?;
        upstream_shasums(ctx, provider, version, signature).await?.to_vec()
    };
    let content_type = if signature { "application/pgp-signature" } else { "text/plain; charset=utf-8" };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(r)
}

/// The upstream's `SHA256SUMS` (or its signature) of a version, found
/// through the download document of one of its platforms.
async fn upstream_shasums(ctx: &RequestCtx, provider: &Provider, version: &str, signature: bool) -> AppResult<bytes::Bytes> {
    let (versions, _) =
        upstream::provider_versions(ctx, provider).await?.ok_or_else(|| provider_not_found(provider, None))?;
    let v = versions.iter().find(|v| v.version == version).ok_or_else(|| provider_not_found(provider, Some(version)))?;
    let platform = v.platforms.first().ok_or_else(|| provider_not_found(provider, Some(version)))?;
    let d = upstream::provider_download(ctx, provider, version, platform)
        .await?
        .ok_or_else(|| provider_not_found(provider, Some(version)))?;
    let url = if signature { d.shasums_signature_url } else { d.shasums_url };
    let url = url.ok_or_else(|| AppError::upstream("the upstream gives no SHA256SUMS for this version"))?;
    let key = CacheKey::new("terraform").part("shasums").part(&provider.key()).part(version).part(if signature {
        "sig"
    } else {
        "sums"
    });
    upstream::linked_bytes(ctx, key, &url).await?.ok_or_else(|| AppError::upstream("the upstream's SHA256SUMS is missing"))
}

/// The network mirror's `{hostname}/{ns}/{type}/index.json`.
pub async fn mirror_index(ctx: &RequestCtx, provider: &Provider) -> AppResult<Response> {
    let (versions, state) = match ctx.read_local(&provider.key(), &provider.path(), Permission::ReleasesRead).await? {
        Some(local) => (local_provider_versions(&local), None),
        None => match upstream::provider_versions(ctx, provider).await? {
            Some((v, s)) => (allowed_provider_versions(ctx, provider, v)?, Some(s)),
            None => return Err(provider_not_found(provider, None)),
        },
    };
    let map: Map<String, Value> = versions.into_iter().map(|v| (v.version, json!({}))).collect();
    Ok(json_response(&json!({"versions": map}), state))
}

/// The network mirror's `{hostname}/{ns}/{type}/{version}.json`: each
/// platform's package (a signed link) with its hashes (`h1:` for local
/// packages, and `zh:`, the SHA-256 of the zip, for all).
pub async fn mirror_version(ctx: &RequestCtx, provider: &Provider, version: &str) -> AppResult<Response> {
    let mut archives = Map::new();
    match ctx.read_local(&provider.key(), &provider.path(), Permission::ReleasesRead).await? {
        Some(local) => {
            let row = version_row(&local, version)
                .filter(|r| !r.yanked)
                .ok_or_else(|| provider_not_found(provider, Some(version)))?;
            for (file, meta) in provider_files(&local, row) {
                let Ok(platform) = Platform::parse(&meta.os, &meta.arch) else { continue };
                let url = ctx.granted_url(&archive_path(provider, version, &platform)).await?;
                archives.insert(
                    format!("{}_{}", meta.os, meta.arch),
                    json!({"url": url, "hashes": [meta.h1, format!("zh:{}", file.sha256)]}),
                );
            }
        }
        None => {
            check_version(ctx, &provider.key(), version)?;
            let (versions, _) =
                upstream::provider_versions(ctx, provider).await?.ok_or_else(|| provider_not_found(provider, None))?;
            let v =
                versions.iter().find(|v| v.version == version).ok_or_else(|| provider_not_found(provider, Some(version)))?;
            let sums = upstream_shasums(ctx, provider, version, false).await?;
            let sums = parse_shasums(&sums);
            for platform in &v.platforms {
                let suffix = format!("_{}_{}.zip", platform.os, platform.arch);
                let url = ctx.granted_url(&archive_path(provider, version, platform)).await?;
                let hashes: Vec<String> =
                    sums.iter().filter(|(_, f)| f.ends_with(&suffix)).map(|(h, _)| format!("zh:{h}")).take(1).collect();
                archives.insert(format!("{}_{}", platform.os, platform.arch), json!({"url": url, "hashes": hashes}));
            }
        }
    }
    if archives.is_empty() {
        return Err(provider_not_found(provider, Some(version)));
    }
    Ok(json_response(&json!({"archives": archives}), None))
}

/// The `(sha256 hex, file)` lines of a `SHA256SUMS`.
pub fn parse_shasums(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .lines()
        .take(10_000)
        .filter_map(|l| {
            let (h, f) = l.split_once("  ")?;
            (h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())).then(|| (h.to_ascii_lowercase(), f.trim().to_string()))
        })
        .collect()
}
