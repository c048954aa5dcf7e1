//! One model of an extension's releases, whether local (from the catalog)
//! or an upstream's, and its renderings: the OpenVSX REST API's extension
//! documents and the VS Code gallery's `extensionquery` entries. Every URL
//! in them points back at this registry.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::Digest;

use super::names::{self, Asset, ExtId};
use super::vsix::Meta;
use crate::catalog::{FileRow, VersionRow};

/// Where an upstream release's files are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamFiles {
    pub download: String,
    /// A URL answering the VSIX's SHA-256 in hex (OpenVSX's).
    pub sha256: Option<String>,
    pub assets: BTreeMap<Asset, String>,
}

/// One VSIX of a version: the version on one target platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: ExtId,
    pub version: String,
    pub platform: String,
    pub meta: Meta,
    /// The assets it has.
    pub assets: Vec<Asset>,
    /// `None` for a local release.
    pub upstream: Option<UpstreamFiles>,
}

impl Release {
    fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
    }

    pub fn is_pre_release(&self) -> bool {
        self.meta.pre_release || !self.semver().pre.is_empty()
    }
}

/// Newest version first, then by platform.
pub fn sort(releases: &mut [Release]) {
    releases.sort_by(|a, b| b.semver().cmp(&a.semver()).then_with(|| a.platform.cmp(&b.platform)));
}

/// The release `latest` names: the newest version that is not a
/// pre-release, else the newest, on `platform` (or any, universal first).
pub fn pick<'a>(releases: &'a [Release], version: Option<&str>, platform: Option<&str>) -> Option<&'a Release> {
    let on_platform = |r: &&Release| match platform {
        Some(p) => r.platform == p || r.platform == names::UNIVERSAL,
        None => true,
    };
    let candidates: Vec<&Release> = releases.iter().filter(on_platform).collect();
    let version = match version {
        Some(v) => v.to_string(),
        None => {
            let newest = candidates.iter().find(|r| !r.is_pre_release()).or(candidates.first())?;
            newest.version.clone()
        }
    };
    let same: Vec<&&Release> = candidates.iter().filter(|r| r.version == version).collect();
    // The platform asked for before universal; universal before others.
    same.iter()
        .find(|r| platform.is_some_and(|p| r.platform == p))
        .or_else(|| same.iter().find(|r| r.platform == names::UNIVERSAL))
        .or(same.first())
        .map(|r| **r)
}

/// The local releases of a package's view: every VSIX of a version not
/// yanked, with the assets kept beside it.
pub fn local_releases(display: &str, versions: &[VersionRow], files: &[FileRow]) -> Vec<Release> {
    let Ok(id) = ExtId::parse(display) else { return Vec::new() };
    let mut out = Vec::new();
    for v in versions.iter().filter(|v| !v.yanked) {
        let of_version: Vec<&FileRow> = files.iter().filter(|f| f.version_id == v.id).collect();
        for f in of_version.iter().filter(|f| f.filename.ends_with(".vsix")) {
            let Some((platform, _)) = names::split_file(&f.filename) else { continue };
            let mut meta: Meta = serde_json::from_str(&f.metadata).unwrap_or_default();
            meta.timestamp = v.published_at;
            let assets = of_version
                .iter()
                .filter_map(|a| a.filename.strip_prefix(&format!("{platform}/{}/", v.version)))
                .filter_map(Asset::from_file_name)
                .collect();
            out.push(Release {
                id: id.clone(),
                version: v.version.clone(),
                platform: platform.to_string(),
                meta,
                assets,
                upstream: None,
            });
        }
    }
    sort(&mut out);
    out
}

/// A stable id in the shape of the gallery's GUIDs, from a name.
pub fn guid(of: &str) -> String {
    let h = hex::encode(sha2::Sha256::digest(of.as_bytes()));
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Where this registry serves a release's documents and files.
pub struct Urls<'a> {
    /// `{base}/proxy/{registry}`.
    pub base: &'a str,
}

impl Urls<'_> {
    fn ns_ext(&self, id: &ExtId) -> String {
        format!("{}/api/{}/{}", self.base, enc(&id.publisher), enc(&id.name))
    }

    /// `api/{ns}/{ext}[/{platform}]/{version}`.
    pub fn version_url(&self, r: &Release) -> String {
        if r.platform == names::UNIVERSAL {
            format!("{}/{}", self.ns_ext(&r.id), enc(&r.version))
        } else {
            format!("{}/{}/{}", self.ns_ext(&r.id), r.platform, enc(&r.version))
        }
    }

    pub fn file_url(&self, r: &Release, file: &str) -> String {
        format!("{}/file/{}", self.version_url(r), enc(file))
    }

    pub fn download(&self, r: &Release) -> String {
        self.file_url(r, &names::download_name(&r.id, &r.version, &r.platform))
    }

    fn asset_uri(&self, r: &Release) -> String {
        format!("{}/vscode/asset/{}/{}/{}", self.base, enc(&r.id.publisher), enc(&r.id.name), enc(&r.version))
    }

    fn platform_query(r: &Release) -> String {
        if r.platform == names::UNIVERSAL { String::new() } else { format!("?targetPlatform={}", r.platform) }
    }

    fn vspackage(&self, r: &Release) -> String {
        format!(
            "{}/vscode/gallery/publishers/{}/vsextensions/{}/{}/vspackage{}",
            self.base,
            enc(&r.id.publisher),
            enc(&r.id.name),
            enc(&r.version),
            Self::platform_query(r)
        )
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn iso(ms: i64) -> String {
    crate::http::iso8601(ms)
}

/// OpenVSX's document of one release, with every version of the extension
/// in `allVersions` (`releases`, newest first).
pub fn openvsx_extension(urls: &Urls<'_>, r: &Release, releases: &[Release]) -> Value {
    let mut files = Map::new();
    files.insert("download".into(), json!(urls.download(r)));
    files.insert(
        "sha256".into(),
        json!(urls.file_url(r, &format!("{}-{}.sha256", r.id.display(), r.version))),
    );
    for a in &r.assets {
        files.insert(a.openvsx_key().into(), json!(urls.file_url(r, a.file_name())));
    }
    let mut all = Map::new();
    let mut platforms: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = Vec::new();
    if let Some(latest) = pick(releases, None, Some(&r.platform)) {
        all.insert("latest".into(), json!(urls.version_url(latest)));
    }
    for other in releases {
        platforms.entry(other.version.clone()).or_default().push(other.platform.clone());
        if !seen.contains(&other.version) && (other.platform == r.platform || other.platform == names::UNIVERSAL) {
            seen.push(other.version.clone());
            all.insert(other.version.clone(), json!(urls.version_url(other)));
        }
    }
    let mut versions: Vec<(&String, &Vec<String>)> = platforms.iter().collect();
    versions.sort_by(|a, b| {
        let v = |s: &str| semver::Version::parse(s).unwrap_or_else(|_| semver::Version::new(0, 0, 0));
        v(b.0).cmp(&v(a.0))
    });
    let dependency = |d: &String| match ExtId::parse(d) {
        Ok(i) => json!({"namespace": i.publisher, "extension": i.name, "url": format!("{}/api/{}/{}", urls.base, enc(&i.publisher), enc(&i.name))}),
        Err(_) => json!({"extension": d}),
    };
    let m = &r.meta;
    let mut engines = Map::new();
    if !m.engine.is_empty() {
        engines.insert("vscode".into(), json!(m.engine));
    }
    json!({
        "namespaceUrl": format!("{}/api/{}", urls.base, enc(&r.id.publisher)),
        "url": urls.version_url(r),
        "files": files,
        "name": r.id.name,
        "namespace": r.id.publisher,
        "targetPlatform": r.platform,
        "version": r.version,
        "preRelease": r.is_pre_release(),
        "versionAlias": if pick(releases, None, Some(&r.platform)).is_some_and(|l| l.version == r.version) { json!(["latest"]) } else { json!([]) },
        "allVersions": all,
        "allTargetPlatformVersions": versions.iter().map(|(v, p)| json!({"version": v, "targetPlatforms": p})).collect::<Vec<_>>(),
        "timestamp": iso(m.timestamp),
        "displayName": if m.display_name.is_empty() { r.id.name.clone() } else { m.display_name.clone() },
        "description": m.description,
        "engines": engines,
        "categories": m.categories,
        "tags": m.tags,
        "license": m.license,
        "repository": m.repository,
        "extensionKind": m.extension_kind,
        "dependencies": m.dependencies.iter().map(dependency).collect::<Vec<_>>(),
        "bundledExtensions": m.extension_pack.iter().map(dependency).collect::<Vec<_>>(),
        "downloadable": true,
        "namespaceAccess": "restricted",
        "unrelatedPublisher": false,
        "verified": false,
        "downloadCount": 0,
        "reviewCount": 0,
    })
}

/// A search hit (`api/-/search`).
pub fn search_entry(urls: &Urls<'_>, r: &Release) -> Value {
    let mut files = Map::new();
    files.insert("download".into(), json!(urls.download(r)));
    if r.assets.contains(&Asset::Icon) {
        files.insert("icon".into(), json!(urls.file_url(r, Asset::Icon.file_name())));
    }
    json!({
        "url": format!("{}/api/{}/{}", urls.base, enc(&r.id.publisher), enc(&r.id.name)),
        "files": files,
        "name": r.id.name,
        "namespace": r.id.publisher,
        "version": r.version,
        "timestamp": iso(r.meta.timestamp),
        "displayName": if r.meta.display_name.is_empty() { r.id.name.clone() } else { r.meta.display_name.clone() },
        "description": r.meta.description,
        "verified": false,
        "downloadCount": 0,
    })
}

/// Gallery query flags (`ExtensionQueryFlags`).
pub mod flags {
    pub const INCLUDE_VERSIONS: u64 = 0x1;
    pub const INCLUDE_FILES: u64 = 0x2;
    pub const INCLUDE_CATEGORY_AND_TAGS: u64 = 0x4;
    pub const INCLUDE_VERSION_PROPERTIES: u64 = 0x10;
    pub const INCLUDE_ASSET_URI: u64 = 0x80;
    pub const INCLUDE_STATISTICS: u64 = 0x100;
    pub const INCLUDE_LATEST_VERSION_ONLY: u64 = 0x200;
}

/// The gallery's entry of an extension (`releases` newest first), shaped by
/// the query's `flags`.
pub fn gallery_extension(urls: &Urls<'_>, releases: &[Release], query_flags: u64) -> Option<Value> {
    let latest = pick(releases, None, None)?;
    let id = &latest.id;
    let shown: Vec<&Release> = if query_flags & flags::INCLUDE_VERSIONS != 0 {
        releases.iter().collect()
    } else if query_flags & flags::INCLUDE_LATEST_VERSION_ONLY != 0 {
        releases.iter().filter(|r| r.version == latest.version).collect()
    } else {
        Vec::new()
    };
    let versions: Vec<Value> = shown
        .iter()
        .map(|r| {
            let mut v = Map::new();
            v.insert("version".into(), json!(r.version));
            if r.platform != names::UNIVERSAL {
                v.insert("targetPlatform".into(), json!(r.platform));
            }
            v.insert("flags".into(), json!("validated"));
            v.insert("lastUpdated".into(), json!(iso(r.meta.timestamp)));
            if query_flags & flags::INCLUDE_FILES != 0 {
                let q = Urls::platform_query(r);
                let mut files = vec![json!({"assetType": "Microsoft.VisualStudio.Services.VSIXPackage", "source": urls.vspackage(r)})];
                for a in &r.assets {
                    files.push(json!({"assetType": a.gallery_type(), "source": format!("{}/{}{q}", urls.asset_uri(r), a.gallery_type())}));
                }
                v.insert("files".into(), Value::Array(files));
            }
            if query_flags & flags::INCLUDE_VERSION_PROPERTIES != 0 {
                let m = &r.meta;
                let mut props = vec![
                    json!({"key": "Microsoft.VisualStudio.Code.Engine", "value": m.engine}),
                    json!({"key": "Microsoft.VisualStudio.Code.ExtensionDependencies", "value": m.dependencies.join(",")}),
                    json!({"key": "Microsoft.VisualStudio.Code.ExtensionPack", "value": m.extension_pack.join(",")}),
                    json!({"key": "Microsoft.VisualStudio.Code.ExtensionKind", "value": m.extension_kind.join(",")}),
                ];
                if r.is_pre_release() {
                    props.push(json!({"key": "Microsoft.VisualStudio.Code.PreRelease", "value": "true"}));
                }
                v.insert("properties".into(), Value::Array(props));
            }
            if query_flags & flags::INCLUDE_ASSET_URI != 0 {
                v.insert("assetUri".into(), json!(urls.asset_uri(r)));
                v.insert("fallbackAssetUri".into(), json!(urls.asset_uri(r)));
            }
            Value::Object(v)
        })
        .collect();
    let m = &latest.meta;
    let mut out = json!({
        "extensionId": guid(&id.key()),
        "extensionName": id.name,
        "displayName": if m.display_name.is_empty() { id.name.clone() } else { m.display_name.clone() },
        "shortDescription": m.description,
        "flags": "validated, public",
        "lastUpdated": iso(m.timestamp),
        "publishedDate": iso(releases.iter().map(|r| r.meta.timestamp).min().unwrap_or(m.timestamp)),
        "releaseDate": iso(releases.iter().map(|r| r.meta.timestamp).min().unwrap_or(m.timestamp)),
        "publisher": {
            "publisherId": guid(&id.publisher.to_ascii_lowercase()),
            "publisherName": id.publisher,
            "displayName": id.publisher,
            "flags": "",
            "domain": null,
            "isDomainVerified": false,
        },
        "versions": versions,
        "deploymentType": 0,
    });
    if query_flags & flags::INCLUDE_CATEGORY_AND_TAGS != 0 {
        out["categories"] = json!(m.categories);
        out["tags"] = json!(m.tags);
    }
    if query_flags & flags::INCLUDE_STATISTICS != 0 {
        out["statistics"] = json!([{"statisticName": "install", "value": 0}]);
    }
    Some(out)
}
