//! GOPROXY reads: `@v/list`, `@latest`, `.info`, `.mod` and `.zip`, from
//! local modules or through the upstream proxies, and the checksum database
//! through the proxy.
//!
//! Local modules: the list holds the tagged versions (no pseudo-versions)
//! that the latest version's `go.mod` does not retract; `@latest` is the
//! highest of those releases (else pre-releases, else pseudo-versions).
//! Upstream modules: `@v/list` and `@latest` are documents (TTL,
//! revalidation), re-rendered from what parses; `.info`, `.mod` and `.zip`
//! are immutable artifacts, fetched once from the first upstream that has
//! them and kept only once they pass their checks (the zip rules, the
//! `module` line, the `.info` version).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::gomod::{self, Retraction};
use super::modzip;
use super::names::{ModulePath, Version};
use super::op::Ext;
use crate::access::Permission;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Located, PackageView, RequestCtx};
use crate::upstream::CacheKey;

pub const LIST_TYPE: &str = "text/plain; charset=utf-8";
pub const INFO_TYPE: &str = "application/json";
pub const MOD_TYPE: &str = "text/plain; charset=utf-8";
pub const ZIP_TYPE: &str = "application/zip";

/// What a local version keeps beside its files (the version row's
/// metadata).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default)]
pub struct VersionMeta {
    pub h1: String,
    pub go_mod_h1: String,
    #[serde(default)]
    pub retract: Vec<(String, String)>,
}

impl VersionMeta {
    pub fn of(row_metadata: &str) -> VersionMeta {
        serde_json::from_str(row_metadata).unwrap_or_default()
    }
}

/// The versions of a local module, each with its publish time, and the
/// retractions of its latest version.
struct Versions {
    all: Vec<(Version, i64)>,
    retracted: Vec<Retraction>,
}

impl Versions {
    fn of(view: &PackageView) -> Versions {
        let mut all: Vec<(Version, i64, String)> = view
            .versions
            .iter()
            .filter_map(|v| Version::parse(&v.version).ok().map(|p| (p, v.published_at, v.metadata.clone())))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        // The go command reads retractions from the latest version's go.mod:
        // the highest release, else the highest pre-release.
        let latest = all
            .iter()
            .rev()
            .find(|(v, ..)| !v.is_prerelease())
            .or_else(|| all.iter().rev().find(|(v, ..)| !v.is_pseudo()))
            .or_else(|| all.last());
        let retracted = latest
            .map(|(.., meta)| {
                VersionMeta::of(meta).retract.into_iter().map(|(low, high)| Retraction { low, high }).collect()
            })
            .unwrap_or_default();
        Versions { all: all.into_iter().map(|(v, t, _)| (v, t)).collect(), retracted }
    }

    fn retracted(&self, v: &Version) -> bool {
        self.retracted.iter().any(|r| r.covers(v))
    }

    /// Tagged, unretracted versions, ascending.
    fn listed(&self) -> impl Iterator<Item = &(Version, i64)> {
        self.all.iter().filter(|(v, _)| !v.is_pseudo() && !self.retracted(v))
    }

    fn latest(&self) -> Option<&(Version, i64)> {
        let candidates: Vec<&(Version, i64)> = self.all.iter().filter(|(v, _)| !self.retracted(v)).collect();
        candidates
            .iter()
            .rev()
            .find(|(v, _)| !v.is_prerelease())
            .or_else(|| candidates.iter().rev().find(|(v, _)| !v.is_pseudo()))
            .or_else(|| candidates.last())
            .copied()
    }
}

fn info_json(version: &str, time_ms: Option<i64>) -> Value {
    match time_ms {
        Some(t) => json!({ "Version": version, "Time": http::iso8601(t) }),
        None => json!({ "Version": version }),
    }
}

fn text(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn not_found(module: &ModulePath, what: &str) -> AppError {
    AppError::not_found(format!("not found: {module}{what}"))
}

/// How many `.info` documents are asked of the upstreams at once when a
/// listing needs its versions' times.
const INFO_FETCHES: usize = 8;

/// When the upstream says `version` of `module` was published (its
/// `.info`'s `Time`), read as a document.
async fn version_time(ctx: &RequestCtx, module: &ModulePath, version: &Version) -> AppResult<Option<i64>> {
    let path = format!("{}/@v/{}.info", module.escaped(), version.escaped());
    let fetch = ctx.doc_fetch(CacheKey::new("info-time").part(module.as_str()).part(version.as_str()), path, "application/json");
    let served = match ctx.document(fetch).await {
        Ok(s) => s,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let info = parse_info(&served.doc.body, module, Some(version)).map_err(AppError::Upstream)?;
    Ok(info.get("Time").and_then(Value::as_str).and_then(crate::rules::parse_rfc3339))
}

/// `versions` of `module` as the rules see them: with their times when a
/// rule reads times (one `.info` each, a few at a time), else without.
async fn releases(ctx: &RequestCtx, module: &ModulePath, versions: &[Version]) -> AppResult<Vec<crate::rules::Release>> {
    use futures_util::StreamExt;
    if !ctx.registry.rules.needs_times() {
        return Ok(versions.iter().map(|v| crate::rules::Release { version: v.to_string(), published_at: None, licence: None }).collect());
    }
    let timed: Vec<AppResult<crate::rules::Release>> = futures_util::stream::iter(versions.iter().cloned())
        .map(|v| async move {
            let published_at = version_time(ctx, module, &v).await?;
            Ok(crate::rules::Release { version: v.to_string(), published_at, licence: None })
        })
        .buffered(INFO_FETCHES)
        .collect()
        .await;
    timed.into_iter().collect()
}

/// The versions an upstream `@v/list` gives for `module`, in order.
fn listed_versions(body: &[u8], module: &ModulePath) -> Vec<Version> {
    let text = String::from_utf8_lossy(body);
    let mut versions: Vec<Version> =
        text.lines().filter_map(|l| Version::parse(l.trim()).ok()).filter(|v| v.check_path_major(module).is_ok()).collect();
    versions.sort();
    versions.dedup();
    versions
}

async fn upstream_list(ctx: &RequestCtx, module: &ModulePath) -> AppResult<(Arc<Vec<Version>>, crate::upstream::documents::Served)> {
    let fetch = ctx.doc_fetch(CacheKey::new("list").part(module.as_str()), format!("{}/@v/list", module.escaped()), "text/plain");
    let served = ctx.document(fetch).await?;
    let m = module.clone();
    let versions = ctx.parsed(&served.doc, move |doc| Ok::<_, String>(listed_versions(&doc.body, &m))).await?;
    Ok((versions, served))
}

/// What the rules withhold from this caller of an upstream module.
/// Judged once per fetched list (`generation`) and class of caller: the
/// versions' `.info` documents are read only then.
async fn withheld(
    ctx: &RequestCtx,
    module: &ModulePath,
    versions: &[Version],
    generation: u64,
) -> AppResult<Option<crate::serve::Withheld>> {
    if let Some(known) = ctx.rules_known(generation) {
        return Ok(known);
    }
    let releases = releases(ctx, module, versions).await?;
    ctx.rules_withheld_of(generation, || releases.iter().map(|r| r.candidate(module.as_str())).collect())
}

/// The upstream versions of `module` as the rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, module: &str) -> AppResult<Vec<crate::rules::Release>> {
    let module = ModulePath::parse(module).map_err(AppError::BadRequest)?;
    let (versions, _) = upstream_list(ctx, &module).await?;
    let mut out = releases(ctx, &module, &versions).await?;
    if !ctx.registry.rules.needs_times() {
        // The simulator shows times even where no rule reads them.
        for (r, v) in out.iter_mut().zip(versions.iter()) {
            r.published_at = version_time(ctx, &module, v).await?;
        }
    }
    Ok(out)
}

/// `{module}/@v/list`.
pub async fn list(ctx: &RequestCtx, module: &ModulePath, headers: &HeaderMap) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(module.as_str(), module.as_str(), Permission::ReleasesRead).await? {
        let rendered = ctx
            .rendered_local(&local, "go-list", |view, _| {
                let versions = Versions::of(view);
                Ok(versions.listed().map(|(v, _)| format!("{v}\n")).collect::<String>().into_bytes())
            })
            .await?;
        return Ok(http::document(headers, &rendered, LIST_TYPE, None));
    }
    let (versions, served) = upstream_list(ctx, module).await?;
    let withheld = withheld(ctx, module, &versions, served.doc.generation).await?;
    let render_key = withheld.as_ref().map_or_else(String::new, |w| w.render_key(""));
    let rendered = ctx
        .rendered((served.doc.generation, "go-list", render_key), move || {
            // Only the lines that are versions of this module (and that
            // the rules allow) go out.
            let kept = versions.iter().filter(|v| withheld.as_ref().is_none_or(|w| w.allows(v.as_str())));
            Ok(kept.map(|v| format!("{v}\n")).collect::<String>().into_bytes())
        })
        .await?;
    Ok(http::document(headers, &rendered, LIST_TYPE, Some(served.state)))
}

/// `{module}/@latest`.
pub async fn latest(ctx: &RequestCtx, module: &ModulePath) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(module.as_str(), module.as_str(), Permission::ReleasesRead).await? {
        let versions = Versions::of(&local.view);
        let (v, t) = versions.latest().ok_or_else(|| not_found(module, "@latest"))?;
        return Ok(http::json(StatusCode::OK, &info_json(v.as_str(), Some(*t))));
    }
    let fetch =
        ctx.doc_fetch(CacheKey::new("latest").part(module.as_str()), format!("{}/@latest", module.escaped()), "application/json");
    let served = ctx.document(fetch).await?;
    let info = parse_info(&served.doc.body, module, None).map_err(AppError::Upstream)?;
    if ctx.has_rules() {
        return latest_allowed(ctx, module, info).await;
    }
    Ok(http::json(StatusCode::OK, &info))
}

/// `@latest` under rules: the upstream's answer when the rules allow it,
/// else the newest version of the list they allow (a pseudo-version the
/// list does not have is judged on its own).
async fn latest_allowed(ctx: &RequestCtx, module: &ModulePath, info: Value) -> AppResult<Response> {
    let latest = info.get("Version").and_then(Value::as_str).and_then(|v| Version::parse(v).ok());
    let (versions, listed) = upstream_list(ctx, module).await?;
    if let Some(v) = &latest
        && !versions.contains(v)
    {
        let at = info.get("Time").and_then(Value::as_str).and_then(crate::rules::parse_rfc3339);
        ctx.rules_verdict(&crate::rules::Candidate { name: module.as_str(), version: v.as_str(), published_at: at, licence: None })?;
        return Ok(http::json(StatusCode::OK, &info));
    }
    let Some(w) = withheld(ctx, module, &versions, listed.doc.generation).await? else { return Ok(http::json(StatusCode::OK, &info)) };
    if latest.as_ref().is_some_and(|v| w.allows(v.as_str())) {
        return Ok(http::json(StatusCode::OK, &info));
    }
    let newest = versions.iter().rev().find(|v| w.allows(v.as_str())).ok_or_else(|| not_found(module, "@latest"))?;
    let at = version_time(ctx, module, newest).await?;
    Ok(http::json(StatusCode::OK, &info_json(newest.as_str(), at)))
}

/// An `.info` document as an upstream sent it, checked: its `Version` a
/// version of `module` (and `expected` when given). Returns what is served.
fn parse_info(body: &[u8], module: &ModulePath, expected: Option<&Version>) -> Result<Value, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("{module}: the upstream's .info is not JSON: {e}"))?;
    let version = doc.get("Version").and_then(Value::as_str).ok_or_else(|| format!("{module}: .info without a Version"))?;
    let parsed = Version::parse(version).map_err(|e| format!("{module}: the upstream's .info: {e}"))?;
    parsed.check_path_major(module)?;
    if let Some(want) = expected
        && *want != parsed
    {
        return Err(format!("{module}: asked for {want}, the upstream's .info says {parsed}"));
    }
    let mut out = json!({ "Version": version });
    if let Some(t) = doc.get("Time").and_then(Value::as_str) {
        out["Time"] = json!(t);
    }
    Ok(out)
}

/// `{module}/@v/{version}.{info,mod,zip}`.
pub async fn file(ctx: &RequestCtx, module: &ModulePath, version: &Version, ext: Ext) -> AppResult<Response> {
    let wanted = if ext == Ext::Zip { Permission::SourceRead } else { Permission::ReleasesRead };
    if let Some(local) = ctx.read_local(module.as_str(), module.as_str(), wanted).await? {
        let row = local
            .view
            .versions
            .iter()
            .find(|v| v.version == version.as_str())
            .ok_or_else(|| not_found(module, &format!("@{version}")))?;
        return match ext {
            Ext::Info => Ok(http::json(StatusCode::OK, &info_json(version.as_str(), Some(row.published_at)))),
            Ext::Mod | Ext::Zip => ctx.serve_local_file(&local, &file_name(version, ext)).await,
        };
    }
    if ctx.has_rules() {
        // Before the cache: a cached file is withheld as a fetched one.
        let at = if ctx.registry.rules.needs_times() { version_time(ctx, module, version).await? } else { None };
        ctx.rules_verdict(&crate::rules::Candidate { name: module.as_str(), version: version.as_str(), published_at: at, licence: None })?;
    }
    let key = CacheKey::new(ext.as_str()).part(module.as_str()).part(version.as_str());
    let path = format!("{}/@v/{}.{}", module.escaped(), version.escaped(), ext.as_str());
    let upstreams = ctx.registry.upstreams.clone();
    let (m, v) = (module.clone(), version.clone());
    let content_type = match ext {
        Ext::Info => INFO_TYPE,
        Ext::Mod => MOD_TYPE,
        Ext::Zip => ZIP_TYPE,
    };
    ctx.upstream_artifact(key, content_type, || async move {
        let located = Located::on_upstreams(&upstreams, &path)?.of_release(m.as_str(), v.as_str());
        Ok(match ext {
            Ext::Info => located.checked_by(move |p| {
                let body = read_small(p, 1 << 20)?;
                parse_info(&body, &m, Some(&v)).map(|_| ())
            }),
            Ext::Mod => located.checked_by(move |p| {
                let body = read_small(p, modzip::MAX_GO_MOD)?;
                check_mod(&body, &m)
            }),
            Ext::Zip => located.checked_by(move |p| {
                let f = std::fs::File::open(p).map_err(|e| e.to_string())?;
                let size = f.metadata().map_err(|e| e.to_string())?.len();
                modzip::check(&m, &v, std::io::BufReader::new(f), size).map(|_| ())
            }),
        })
    })
    .await
}

/// The stored file name of a version's `.mod` or `.zip`.
pub fn file_name(version: &Version, ext: Ext) -> String {
    format!("{version}.{}", ext.as_str())
}

fn read_small(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > limit {
        return Err(format!("{len} bytes, more than the {limit} allowed"));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// An upstream's `.mod`: a go.mod whose `module` line, if any, is the
/// module's path.
fn check_mod(body: &[u8], module: &ModulePath) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| format!("{module}: the upstream's .mod is not UTF-8"))?;
    let parsed = gomod::parse(text).map_err(|e| format!("{module}: the upstream's .mod: {e}"))?;
    match parsed.module {
        Some(m) if m != module.as_str() => Err(format!("{module}: the upstream's .mod declares module {m}")),
        _ => Ok(()),
    }
}

/// Whether this registry forwards the checksum database `name`.
fn forwards(ctx: &RequestCtx, name: &str) -> bool {
    !ctx.registry.upstreams.is_empty()
        && match ctx.registry.options.get("checksum_databases").and_then(|v| v.as_array()) {
            Some(names) => names.iter().any(|n| n.as_str() == Some(name)),
            None => true,
        }
}

/// `/sumdb/{name}/...`: the go command's "proxying a checksum database"
/// protocol, forwarded to the upstream proxies' own `/sumdb/{name}/`.
/// Tiles are immutable and kept; `supported`, `latest` and lookups are
/// documents.
pub async fn sumdb(ctx: &RequestCtx, name: &str, rest: &str) -> AppResult<Response> {
    if !forwards(ctx, name) {
        return Err(AppError::not_found(format!("this registry does not forward the checksum database {name}")));
    }
    let path = format!("sumdb/{name}/{rest}");
    if rest.starts_with("tile/") {
        let upstreams = ctx.registry.upstreams.clone();
        let key = CacheKey::new("sumdb-tile").part(name).part(rest);
        return ctx.upstream_artifact(key, "application/octet-stream", || async move { Located::on_upstreams(&upstreams, &path) }).await;
    }
    let fetch = ctx.doc_fetch(CacheKey::new("sumdb").part(name).part(rest), path, "text/plain");
    let served = ctx.document(fetch).await?;
    if rest == "supported" {
        return Ok(text(StatusCode::OK, "text/plain; charset=utf-8", Vec::new()));
    }
    Ok(text(StatusCode::OK, "text/plain; charset=utf-8", served.doc.body.to_vec()))
}
