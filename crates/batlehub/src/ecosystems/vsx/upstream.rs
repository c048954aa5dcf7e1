//! The upstreams: an OpenVSX server (type `openvsx`, its REST API) or a
//! VS Code gallery (type `vscode-marketplace`, its `extensionquery`), each
//! read into the one model of [`super::model`]. Everything an upstream says
//! is checked (ids, versions, platforms); the URLs it gives are fetched
//! only through the registry's URL policy, and every VSIX it serves is
//! checked to be the release asked for before it is kept (and, from
//! OpenVSX, verified against the SHA-256 it publishes).

use std::collections::BTreeMap;
use std::future::Future;

use serde_json::{Value, json};

use super::model::{self, Release, UpstreamFiles};
use super::names::{self, Asset, ExtId};
use super::vsix::{self, Meta};
use crate::error::{AppError, AppResult};
use crate::serve::{Located, RequestCtx};
use crate::upstream::CacheKey;
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::CacheState;

/// How a registry type reads its upstreams.
pub trait Flavour: Send + Sync + 'static {
    /// What the Setup Guide calls the upstream.
    const UPSTREAM: &'static str;

    /// Whether the upstream's releases declare a licence (an SPDX
    /// expression) that `licence` rules can read.
    const DECLARES_LICENCES: bool = false;

    /// The upstream document that lists `id` (for the first-publish check).
    fn listing(ctx: &RequestCtx, id: &ExtId) -> crate::upstream::documents::DocFetch;

    /// Every release of `id` the upstreams list (newest first; only the
    /// newest may be known in full), `None` when none has it.
    fn releases<'a>(
        ctx: &'a RequestCtx,
        id: &'a ExtId,
    ) -> impl Future<Output = AppResult<Option<(Vec<Release>, CacheState)>>> + Send + 'a;

    /// One release in full (its files known): `version` or the newest, on
    /// `platform` or universal.
    fn release<'a>(
        ctx: &'a RequestCtx,
        id: &'a ExtId,
        version: Option<&'a str>,
        platform: Option<&'a str>,
    ) -> impl Future<Output = AppResult<Option<Release>>> + Send + 'a;

    /// Where the release's VSIX is, with the digest it must have.
    fn locate<'a>(ctx: &'a RequestCtx, r: &'a Release) -> impl Future<Output = AppResult<Located>> + Send + 'a;

    /// A release of [`Flavour::releases`] with its publish time and licence
    /// known (what the rules read): the release itself where the listing
    /// gives them for every version.
    fn detailed<'a>(ctx: &'a RequestCtx, r: &'a Release) -> impl Future<Output = AppResult<Release>> + Send + 'a {
        let _ = ctx;
        std::future::ready(Ok(r.clone()))
    }
}

fn ms_of(iso: Option<&str>) -> i64 {
    iso.and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).take(256).map(str::to_string).collect())
        .unwrap_or_default()
}

fn upstream_bad(what: impl std::fmt::Display) -> AppError {
    AppError::upstream(format!("the upstream answered an invalid document: {what}"))
}

/// A document of the upstreams, `None` when none has it.
async fn upstream_json(
    ctx: &RequestCtx,
    fetch: crate::upstream::documents::DocFetch,
) -> AppResult<Option<(std::sync::Arc<Value>, CacheState)>> {
    ctx.json_document(fetch).await
}

/// The content check every upstream VSIX passes: it is the release asked for.
fn checked(located: Located, r: &Release) -> Located {
    let (id, version, platform) = (r.id.clone(), r.version.clone(), r.platform.clone());
    located.of_release(&r.id.key(), &r.version).checked_by(move |path| {
        let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let v = vsix::read(std::io::BufReader::new(f))?;
        if !v.id.same(&id) || v.version != version || v.platform != platform {
            return Err(format!(
                "the upstream's VSIX is {} {} ({}), not {} {version} ({platform})",
                v.id.display(),
                v.version,
                v.platform,
                id.display()
            ));
        }
        Ok(())
    })
}

/// An OpenVSX server.
pub struct OpenVsx;

impl OpenVsx {
    fn path(id: &ExtId, platform: Option<&str>, version: Option<&str>) -> String {
        let mut p = format!("api/{}/{}", id.publisher, id.name);
        if let Some(pl) = platform.filter(|p| *p != names::UNIVERSAL) {
            p.push('/');
            p.push_str(pl);
        }
        if let Some(v) = version {
            p.push('/');
            p.push_str(v);
        }
        p
    }

    fn fetch(ctx: &RequestCtx, id: &ExtId, platform: Option<&str>, version: Option<&str>) -> crate::upstream::documents::DocFetch {
        let path = Self::path(id, platform, version);
        let key = CacheKey::new("openvsx").part(&id.key()).part(platform.unwrap_or("")).part(version.unwrap_or(""));
        ctx.doc_fetch(key, path, "application/json")
    }

    async fn doc(ctx: &RequestCtx, id: &ExtId, platform: Option<&str>, version: Option<&str>) -> AppResult<Option<(std::sync::Arc<Value>, CacheState)>> {
        upstream_json(ctx, Self::fetch(ctx, id, platform, version)).await
    }

    /// An OpenVSX extension document as a release of `id`.
    pub fn release_of(id: &ExtId, doc: &Value) -> AppResult<Release> {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let named = ExtId::of(&s("namespace"), &s("name")).map_err(upstream_bad)?;
        if !named.same(id) {
            return Err(upstream_bad(format!("asked for {}, got {}", id.display(), named.display())));
        }
        let version = s("version");
        names::check_version(&version).map_err(upstream_bad)?;
        let platform = Some(s("targetPlatform")).filter(|p| !p.is_empty()).unwrap_or_else(|| names::UNIVERSAL.into());
        names::check_platform(&platform).map_err(upstream_bad)?;
        let files = doc.get("files").cloned().unwrap_or(Value::Null);
        let file = |k: &str| files.get(k).and_then(Value::as_str).map(str::to_string);
        let mut assets = BTreeMap::new();
        for a in Asset::ALL {
            if let Some(u) = file(a.openvsx_key()) {
                assets.insert(a, u);
            }
        }
        let deps = |k: &str| -> Vec<String> {
            doc.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|d| {
                            let ns = d.get("namespace").and_then(Value::as_str)?;
                            let ext = d.get("extension").and_then(Value::as_str)?;
                            ExtId::of(ns, ext).ok().map(|i| i.display())
                        })
                        .take(256)
                        .collect()
                })
                .unwrap_or_default()
        };
        let meta = Meta {
            display_name: s("displayName"),
            description: s("description"),
            categories: strings(doc.get("categories")),
            tags: strings(doc.get("tags")),
            engine: doc.pointer("/engines/vscode").and_then(Value::as_str).unwrap_or("").to_string(),
            repository: s("repository"),
            license: s("license"),
            pre_release: doc.get("preRelease").and_then(Value::as_bool).unwrap_or(false),
            dependencies: deps("dependencies"),
            extension_pack: deps("bundledExtensions"),
            extension_kind: strings(doc.get("extensionKind")),
            icon_type: assets.get(&Asset::Icon).map(|u| vsix::icon_type(u).to_string()),
            timestamp: ms_of(doc.get("timestamp").and_then(Value::as_str)),
        };
        Ok(Release {
            id: named,
            version,
            platform,
            meta,
            assets: assets.keys().copied().collect(),
            upstream: Some(UpstreamFiles { download: file("download").unwrap_or_default(), sha256: file("sha256"), assets }),
        })
    }
}

impl Flavour for OpenVsx {
    const UPSTREAM: &'static str = "OpenVSX";
    const DECLARES_LICENCES: bool = true;

    fn listing(ctx: &RequestCtx, id: &ExtId) -> crate::upstream::documents::DocFetch {
        Self::fetch(ctx, id, None, None)
    }

    async fn releases(ctx: &RequestCtx, id: &ExtId) -> AppResult<Option<(Vec<Release>, CacheState)>> {
        let Some((doc, state)) = Self::doc(ctx, id, None, None).await? else { return Ok(None) };
        let latest = Self::release_of(id, &doc)?;
        let aliases = strings(doc.get("versionAlias"));
        // Each version's platforms, where the server says them.
        let mut platforms: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in doc.get("allTargetPlatformVersions").and_then(Value::as_array).into_iter().flatten() {
            if let Some(v) = e.get("version").and_then(Value::as_str) {
                platforms.insert(v.to_string(), strings(e.get("targetPlatforms")));
            }
        }
        let mut out = vec![latest.clone()];
        let versions = doc.get("allVersions").and_then(Value::as_object).cloned().unwrap_or_default();
        for v in versions.keys().filter(|v| !aliases.contains(v) && *v != "latest" && *v != "pre-release").take(10_000) {
            if names::check_version(v).is_err() {
                continue;
            }
            let on = platforms.get(v).cloned().unwrap_or_else(|| vec![latest.platform.clone()]);
            for p in on.into_iter().filter(|p| names::check_platform(p).is_ok()) {
                if *v == latest.version && p == latest.platform {
                    continue;
                }
                let meta = Meta { timestamp: latest.meta.timestamp, ..Meta::default() };
                out.push(Release {
                    id: latest.id.clone(),
                    version: v.clone(),
                    platform: p,
                    meta,
                    assets: Vec::new(),
                    upstream: Some(UpstreamFiles::default()),
                });
            }
        }
        model::sort(&mut out);
        Ok(Some((out, state)))
    }

    async fn release(ctx: &RequestCtx, id: &ExtId, version: Option<&str>, platform: Option<&str>) -> AppResult<Option<Release>> {
        let Some((doc, _)) = Self::doc(ctx, id, platform, version).await? else { return Ok(None) };
        Self::release_of(id, &doc).map(Some)
    }

    /// The listing knows only the newest release in full: another one's
    /// time and licence are in its own document.
    async fn detailed(ctx: &RequestCtx, r: &Release) -> AppResult<Release> {
        if !r.assets.is_empty() {
            return Ok(r.clone());
        }
        Ok(Self::release(ctx, &r.id, Some(&r.version), Some(&r.platform)).await?.unwrap_or_else(|| r.clone()))
    }

    async fn locate(ctx: &RequestCtx, r: &Release) -> AppResult<Located> {
        let files = r.upstream.clone().unwrap_or_default();
        if files.download.is_empty() {
            return Err(AppError::upstream(format!("the upstream gives no download of {} {}", r.id.display(), r.version)));
        }
        let expected = match &files.sha256 {
            Some(url) => {
                let key = CacheKey::new("openvsx-sha256").part(&r.id.key()).part(&r.version).part(&r.platform);
                let fetch = ctx.doc_fetch_at(key, url, "text/plain")?;
                let served = ctx.document(fetch).await?;
                let text = String::from_utf8_lossy(&served.doc.body);
                let hexed = text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                let bytes = hex::decode(&hexed).ok().filter(|b| b.len() == 32);
                Some(ExpectedDigest::Sha256(bytes.ok_or_else(|| upstream_bad("files.sha256 is not a SHA-256"))?))
            }
            None => None,
        };
        // OpenVSX publishes every file's SHA-256: one without is refused.
        Ok(checked(Located::verified(files.download, expected)?, r))
    }
}

/// A VS Code gallery (`extensionquery`).
pub struct Gallery;

/// `IncludeVersions | IncludeFiles | IncludeCategoryAndTags |
/// IncludeVersionProperties | IncludeAssetUri`.
const QUERY_FLAGS: u64 = 0x1 | 0x2 | 0x4 | 0x10 | 0x80;

impl Gallery {
    pub fn release_of(id: &ExtId, ext: &Value, v: &Value) -> Option<Release> {
        let version = v.get("version").and_then(Value::as_str)?.to_string();
        names::check_version(&version).ok()?;
        let platform = v.get("targetPlatform").and_then(Value::as_str).unwrap_or(names::UNIVERSAL).to_string();
        names::check_platform(&platform).ok()?;
        let prop = |k: &str| {
            v.get("properties")?
                .as_array()?
                .iter()
                .find(|p| p.get("key").and_then(Value::as_str) == Some(k))?
                .get("value")?
                .as_str()
                .map(str::to_string)
        };
        let list = |k: &str| -> Vec<String> {
            prop(k)
                .map(|s| s.split(',').map(str::trim).filter(|t| ExtId::parse(t).is_ok()).take(256).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let mut assets = BTreeMap::new();
        let mut download = String::new();
        for f in v.get("files").and_then(Value::as_array).into_iter().flatten() {
            let (Some(t), Some(src)) = (f.get("assetType").and_then(Value::as_str), f.get("source").and_then(Value::as_str)) else {
                continue;
            };
            if t == "Microsoft.VisualStudio.Services.VSIXPackage" {
                download = src.to_string();
            } else if let Some(a) = Asset::from_gallery_type(t) {
                assets.insert(a, src.to_string());
            }
        }
        if download.is_empty()
            && let Some(uri) = v.get("assetUri").and_then(Value::as_str)
        {
            download = format!("{uri}/Microsoft.VisualStudio.Services.VSIXPackage");
        }
        let s = |k: &str| ext.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let meta = Meta {
            display_name: s("displayName"),
            description: s("shortDescription"),
            categories: strings(ext.get("categories")),
            tags: strings(ext.get("tags")),
            engine: prop("Microsoft.VisualStudio.Code.Engine").unwrap_or_default(),
            pre_release: prop("Microsoft.VisualStudio.Code.PreRelease").is_some_and(|p| p == "true"),
            dependencies: list("Microsoft.VisualStudio.Code.ExtensionDependencies"),
            extension_pack: list("Microsoft.VisualStudio.Code.ExtensionPack"),
            extension_kind: prop("Microsoft.VisualStudio.Code.ExtensionKind")
                .map(|k| k.split(',').map(str::to_string).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            icon_type: assets.get(&Asset::Icon).map(|_| "image/png".to_string()),
            timestamp: ms_of(v.get("lastUpdated").and_then(Value::as_str)),
            ..Meta::default()
        };
        Some(Release {
            id: id.clone(),
            version,
            platform,
            meta,
            assets: assets.keys().copied().collect(),
            upstream: Some(UpstreamFiles { download, sha256: None, assets }),
        })
    }
}

impl Flavour for Gallery {
    const UPSTREAM: &'static str = "VS Code gallery";

    fn listing(ctx: &RequestCtx, id: &ExtId) -> crate::upstream::documents::DocFetch {
        let body = json!({
            "filters": [{"criteria": [{"filterType": 7, "value": id.display()}, {"filterType": 8, "value": "Microsoft.VisualStudio.Code"}],
                         "pageNumber": 1, "pageSize": 1, "sortBy": 0, "sortOrder": 0}],
            "assetTypes": [], "flags": QUERY_FLAGS,
        });
        let key = CacheKey::new("gallery").part(&id.key());
        ctx.doc_fetch(key, "extensionquery".into(), "application/json;api-version=3.0-preview.1")
            .posting(bytes::Bytes::from(body.to_string()))
    }

    async fn releases(ctx: &RequestCtx, id: &ExtId) -> AppResult<Option<(Vec<Release>, CacheState)>> {
        let Some((doc, state)) = upstream_json(ctx, Self::listing(ctx, id)).await? else { return Ok(None) };
        let ext = doc.pointer("/results/0/extensions").and_then(Value::as_array).and_then(|a| {
            a.iter().find(|e| {
                let p = e.pointer("/publisher/publisherName").and_then(Value::as_str).unwrap_or("");
                let n = e.get("extensionName").and_then(Value::as_str).unwrap_or("");
                ExtId::of(p, n).is_ok_and(|i| i.same(id))
            })
        });
        let Some(ext) = ext else { return Ok(None) };
        let named = ExtId::of(
            ext.pointer("/publisher/publisherName").and_then(Value::as_str).unwrap_or(""),
            ext.get("extensionName").and_then(Value::as_str).unwrap_or(""),
        )
        .map_err(upstream_bad)?;
        let mut out: Vec<Release> = ext
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(10_000)
            .filter_map(|v| Self::release_of(&named, ext, v))
            .collect();
        if out.is_empty() {
            return Ok(None);
        }
        model::sort(&mut out);
        Ok(Some((out, state)))
    }

    async fn release(ctx: &RequestCtx, id: &ExtId, version: Option<&str>, platform: Option<&str>) -> AppResult<Option<Release>> {
        let Some((all, _)) = Self::releases(ctx, id).await? else { return Ok(None) };
        Ok(model::pick(&all, version, platform).cloned())
    }

    async fn locate(_ctx: &RequestCtx, r: &Release) -> AppResult<Located> {
        let files = r.upstream.clone().unwrap_or_default();
        if files.download.is_empty() {
            return Err(AppError::upstream(format!("the upstream gives no download of {} {}", r.id.display(), r.version)));
        }
        Ok(checked(Located::unverified(files.download), r))
    }
}
