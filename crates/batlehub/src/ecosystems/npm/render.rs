//! npm documents: packuments derived from catalog rows (local), upstream
//! packuments rewritten to point back at BatleHub (proxy), and the
//! abbreviated form npm asks for at install time.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::names::NpmName;
use crate::catalog::{FileRow, OwnerRow, PackageRow, VersionRow};

pub const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// Fields of a version kept in the abbreviated packument.
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "_hasShrinkwrap",
    "hasInstallScript",
    "cpu",
    "os",
    "libc",
    "funding",
    "license",
];

pub use crate::http::iso8601;

/// The URL of a tarball under `registry_base` (`{base}/proxy/{registry}`).
pub fn tarball_url(registry_base: &str, name: &NpmName, filename: &str) -> String {
    format!("{registry_base}/{}/-/{filename}", name.full())
}

/// The highest version that is not a prerelease (else the highest of all).
pub fn highest_version<'a>(versions: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut parsed: Vec<semver::Version> = versions.filter_map(|v| semver::Version::parse(v).ok()).collect();
    parsed.sort();
    parsed.iter().rev().find(|v| v.pre.is_empty()).or_else(|| parsed.last()).map(|v| v.to_string())
}

/// The revision token npm echoes back on unpublish (`-rev/{rev}`).
pub fn revision(pkg: &PackageRow, versions: usize) -> String {
    format!("{versions}-{:x}", pkg.updated_at)
}

/// The full packument of a local package.
pub fn local_packument(
    name: &NpmName,
    pkg: &PackageRow,
    versions: &[VersionRow],
    files: &[FileRow],
    tags: &[(String, String)],
    owners: &[OwnerRow],
    registry_base: &str,
) -> Value {
    let files_by_version: HashMap<&str, &FileRow> = files.iter().map(|f| (f.version_id.as_str(), f)).collect();
    let mut vmap = Map::new();
    let mut time = Map::new();
    time.insert("created".into(), json!(iso8601(pkg.created_at)));
    time.insert("modified".into(), json!(iso8601(pkg.updated_at)));
    for v in versions {
        let mut manifest: Value = serde_json::from_str(&v.metadata).unwrap_or_else(|_| json!({}));
        if let Some(obj) = manifest.as_object_mut() {
            obj.insert("name".into(), json!(name.full()));
            obj.insert("version".into(), json!(v.version));
            obj.insert("_id".into(), json!(format!("{}@{}", name.full(), v.version)));
            obj.remove("readme");
            let mut dist = obj.get("dist").and_then(|d| d.as_object().cloned()).unwrap_or_default();
            if let Some(f) = files_by_version.get(v.id.as_str()) {
                dist.insert("tarball".into(), json!(tarball_url(registry_base, name, &f.filename)));
                dist.insert("shasum".into(), json!(f.sha1));
                if let Ok(bytes) = hex::decode(&f.sha512) {
                    use base64::Engine;
                    dist.insert(
                        "integrity".into(),
                        json!(format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(bytes))),
                    );
                }
            }
            obj.insert("dist".into(), Value::Object(dist));
        }
        time.insert(v.version.clone(), json!(iso8601(v.published_at)));
        vmap.insert(v.version.clone(), manifest);
    }
    let mut dist_tags = Map::new();
    for (tag, version) in tags {
        if vmap.contains_key(version) {
            dist_tags.insert(tag.clone(), json!(version));
        }
    }
    if !dist_tags.contains_key("latest")
        && let Some(latest) = highest_version(vmap.keys().map(String::as_str))
    {
        dist_tags.insert("latest".into(), json!(latest));
    }
    let latest_manifest = dist_tags.get("latest").and_then(|l| l.as_str()).and_then(|l| vmap.get(l)).cloned();
    // One readme per packument (the latest's, at the top), as the public
    // registry serves it: never one per version.
    let readme = dist_tags
        .get("latest")
        .and_then(|l| l.as_str())
        .and_then(|l| versions.iter().find(|v| v.version == l))
        .and_then(|v| serde_json::from_str::<Value>(&v.metadata).ok())
        .and_then(|m| m.get("readme").cloned());
    let maintainers: Vec<Value> =
        owners.iter().filter(|o| !o.is_group()).map(|o| json!({"name": o.principal_id, "email": ""})).collect();
    let mut doc = Map::new();
    doc.insert("_id".into(), json!(name.full()));
    doc.insert("_rev".into(), json!(revision(pkg, versions.len())));
    doc.insert("name".into(), json!(name.full()));
    if let Some(m) = &latest_manifest {
        for field in ["description", "keywords", "license", "homepage", "repository", "author"] {
            if let Some(v) = m.get(field) {
                doc.insert(field.into(), v.clone());
            }
        }
    }
    if let Some(readme) = readme {
        doc.insert("readme".into(), readme);
    }
    doc.insert("dist-tags".into(), Value::Object(dist_tags));
    doc.insert("versions".into(), Value::Object(vmap));
    doc.insert("time".into(), Value::Object(time));
    doc.insert("maintainers".into(), Value::Array(maintainers));
    Value::Object(doc)
}

/// The abbreviated ("corgi") form of a full packument.
pub fn abbreviate(full: &Value) -> Value {
    let mut out = Map::new();
    if let Some(n) = full.get("name") {
        out.insert("name".into(), n.clone());
    }
    let modified = full.get("time").and_then(|t| t.get("modified")).cloned().unwrap_or_else(|| json!(iso8601(0)));
    out.insert("modified".into(), modified);
    out.insert("dist-tags".into(), full.get("dist-tags").cloned().unwrap_or_else(|| json!({})));
    let mut versions = Map::new();
    if let Some(vs) = full.get("versions").and_then(|v| v.as_object()) {
        for (ver, manifest) in vs {
            let mut small = Map::new();
            if let Some(m) = manifest.as_object() {
                for field in ABBREVIATED_FIELDS {
                    if let Some(v) = m.get(*field) {
                        small.insert((*field).into(), v.clone());
                    }
                }
                if !small.contains_key("hasInstallScript") && has_install_script(m) {
                    small.insert("hasInstallScript".into(), json!(true));
                }
            }
            versions.insert(ver.clone(), Value::Object(small));
        }
    }
    out.insert("versions".into(), Value::Object(versions));
    Value::Object(out)
}

pub fn has_install_script(manifest: &Map<String, Value>) -> bool {
    manifest
        .get("scripts")
        .and_then(|s| s.as_object())
        .is_some_and(|s| ["preinstall", "install", "postinstall"].iter().any(|k| s.contains_key(*k)))
}

/// Where an upstream tarball comes from, and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarballSource {
    /// The version whose `dist.tarball` it is.
    pub version: String,
    pub url: String,
    pub integrity: Option<String>,
    pub shasum: Option<String>,
}

/// An upstream packument, parsed once per fetched body.
#[derive(Debug)]
pub struct UpstreamPackument {
    pub value: Value,
    /// Tarball file name → its upstream location.
    pub tarballs: HashMap<String, TarballSource>,
    /// Version → when the upstream says it was published (its `time`
    /// entry, epoch ms); versions without one are absent.
    pub published: HashMap<String, i64>,
}

/// Keep only the `allowed` versions of a packument: the others leave
/// `versions` and `time`, and its dist-tags are moved off them
/// ([`retarget_tags`]).
pub fn withhold(doc: &mut Value, allowed: &HashSet<String>) {
    if let Some(versions) = doc.get_mut("versions").and_then(|v| v.as_object_mut()) {
        versions.retain(|v, _| allowed.contains(v));
    }
    if let Some(times) = doc.get_mut("time").and_then(|v| v.as_object_mut()) {
        times.retain(|k, _| k == "created" || k == "modified" || allowed.contains(k));
    }
    if let Some(tags) = doc.get_mut("dist-tags").and_then(|v| v.as_object_mut()) {
        *tags = retarget_tags(tags, allowed);
    }
}

/// Dist-tags with only `allowed` versions: each tag naming another moves to
/// the newest allowed version not newer than it (`latest` never to a
/// pre-release when a release is allowed), or is dropped when there is none.
pub fn retarget_tags(tags: &Map<String, Value>, allowed: &HashSet<String>) -> Map<String, Value> {
    let mut kept: Vec<semver::Version> = allowed.iter().filter_map(|v| semver::Version::parse(v).ok()).collect();
    kept.sort();
    let mut moved = Map::new();
    for (tag, target) in tags {
        let Some(target) = target.as_str() else { continue };
        if allowed.contains(target) {
            moved.insert(tag.clone(), json!(target));
            continue;
        }
        let Ok(limit) = semver::Version::parse(target) else { continue };
        let below = kept.iter().rev().filter(|v| **v <= limit);
        let pick = if tag == "latest" {
            below.clone().find(|v| v.pre.is_empty()).or_else(|| below.clone().next())
        } else {
            below.clone().next()
        };
        if let Some(v) = pick {
            moved.insert(tag.clone(), json!(v.to_string()));
        }
    }
    moved
}

/// A version manifest's licence: `license` as an SPDX expression, or the
/// old forms (`{"type": ...}`, a `licenses` list of one).
pub fn declared_licence(manifest: &Value) -> Option<&str> {
    match manifest.get("license") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(v @ Value::Object(_)) => v.get("type").and_then(|t| t.as_str()),
        _ => match manifest.get("licenses").and_then(|l| l.as_array()).map(Vec::as_slice) {
            Some([one]) => one.as_str().or_else(|| one.get("type").and_then(|t| t.as_str())),
            _ => None,
        },
    }
}

/// The file name at the end of a tarball URL.
pub fn url_filename(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    let decoded = percent_encoding::percent_decode_str(last).decode_utf8().ok()?.into_owned();
    super::names::valid_filename(&decoded).then_some(decoded)
}

impl UpstreamPackument {
    pub fn parse(body: &[u8]) -> Result<UpstreamPackument, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("upstream packument is not JSON: {e}"))?;
        if !value.is_object() {
            return Err("upstream packument is not a JSON object".into());
        }
        let mut tarballs = HashMap::new();
        let published: HashMap<String, i64> = value
            .get("time")
            .and_then(|t| t.as_object())
            .map(|times| {
                times.iter().filter_map(|(v, t)| Some((v.clone(), crate::rules::parse_rfc3339(t.as_str()?)?))).collect()
            })
            .unwrap_or_default();
        if let Some(versions) = value.get("versions").and_then(|v| v.as_object()) {
            for (version, manifest) in versions {
                let Some(dist) = manifest.get("dist") else { continue };
                let Some(url) = dist.get("tarball").and_then(|t| t.as_str()) else { continue };
                let Some(filename) = url_filename(url) else { continue };
                tarballs.insert(
                    filename,
                    TarballSource {
                        version: version.clone(),
                        url: url.to_string(),
                        integrity: dist.get("integrity").and_then(|v| v.as_str()).map(str::to_string),
                        shasum: dist.get("shasum").and_then(|v| v.as_str()).map(str::to_string),
                    },
                );
            }
        }
        Ok(UpstreamPackument { value, tarballs, published })
    }

    /// The packument with every tarball URL pointing back at `registry_base`.
    pub fn rewritten(&self, name: &NpmName, registry_base: &str) -> Value {
        let mut value = self.value.clone();
        if let Some(versions) = value.get_mut("versions").and_then(|v| v.as_object_mut()) {
            for manifest in versions.values_mut() {
                rewrite_tarball(manifest, name, registry_base);
            }
        }
        value
    }

    /// The versions the packument lists as the rules see them: each with
    /// its publish time and declared licence.
    pub fn candidates<'a>(&'a self, name: &'a str) -> Vec<crate::rules::Candidate<'a>> {
        self.value
            .get("versions")
            .and_then(|v| v.as_object())
            .map(|vs| {
                vs.iter()
                    .map(|(v, manifest)| crate::rules::Candidate {
                        name,
                        version: v.as_str(),
                        published_at: self.published.get(v).copied(),
                        licence: declared_licence(manifest),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One version as the rules see it.
    pub fn candidate<'a>(&'a self, name: &'a str, version: &'a str) -> crate::rules::Candidate<'a> {
        let manifest = self.value.get("versions").and_then(|v| v.get(version));
        crate::rules::Candidate {
            name,
            version,
            published_at: self.published.get(version).copied(),
            licence: manifest.and_then(declared_licence),
        }
    }

    /// One version's manifest (a version or a dist-tag), its tarball URL
    /// pointing back at `registry_base`.
    pub fn version_manifest(&self, spec: &str, name: &NpmName, registry_base: &str) -> Option<Value> {
        let mut manifest = resolve_spec(&self.value, spec)?;
        rewrite_tarball(&mut manifest, name, registry_base);
        Some(manifest)
    }
}

/// Point a version manifest's `dist.tarball` back at `registry_base` (or
/// drop a URL that names no valid file).
fn rewrite_tarball(manifest: &mut Value, name: &NpmName, registry_base: &str) {
    let Some(dist) = manifest.get_mut("dist").and_then(|d| d.as_object_mut()) else { return };
    let Some(url) = dist.get("tarball").and_then(|t| t.as_str()) else { return };
    match url_filename(url) {
        Some(f) => {
            dist.insert("tarball".into(), json!(tarball_url(registry_base, name, &f)));
        }
        None => {
            dist.remove("tarball");
        }
    }
}

/// Resolve a version spec (an exact version or a dist-tag) in a packument.
pub fn resolve_spec(packument: &Value, spec: &str) -> Option<Value> {
    let versions = packument.get("versions")?.as_object()?;
    if let Some(v) = versions.get(spec) {
        return Some(v.clone());
    }
    let tagged = packument.get("dist-tags")?.get(spec)?.as_str()?;
    versions.get(tagged).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg() -> PackageRow {
        PackageRow {
            id: "p".into(),
            registry: "npm".into(),
            name: "@myorg/pkg".into(),
            display_name: "@myorg/pkg".into(),
            visibility: crate::access::Visibility::Public,
            metadata: "{}".into(),
            created_by: Some("alice".into()),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_100_000,
        }
    }

    #[test]
    fn local_packument_snapshot() {
        let name = NpmName::parse("@myorg/pkg").expect("valid");
        let versions = vec![
            VersionRow {
                id: "v1".into(),
                package_id: "p".into(),
                version: "1.0.0".into(),
                metadata: r#"{"name":"@myorg/pkg","version":"1.0.0","description":"first","dependencies":{"a":"^1"},"dist":{"tarball":"http://old/x.tgz"}}"#.into(),
                published_by: Some("alice".into()),
                published_at: 1_700_000_000_000,
                yanked: false,
                yanked_reason: None,
            },
            VersionRow {
                id: "v2".into(),
                package_id: "p".into(),
                version: "2.0.0-beta.1".into(),
                metadata: r#"{"name":"@myorg/pkg","version":"2.0.0-beta.1","scripts":{"postinstall":"x"}}"#.into(),
                published_by: Some("alice".into()),
                published_at: 1_700_000_100_000,
                yanked: false,
                yanked_reason: None,
            },
        ];
        let files = vec![FileRow {
            id: "f1".into(),
            version_id: "v1".into(),
            package_id: "p".into(),
            filename: "pkg-1.0.0.tgz".into(),
            sha256: "0".repeat(64),
            sha1: "ab".repeat(20),
            sha512: "cd".repeat(64),
            md5: "0".repeat(32),
            size: 10,
            content_type: "application/octet-stream".into(),
            metadata: "{}".into(),
            created_at: 0,
        }];
        let tags = vec![("beta".to_string(), "2.0.0-beta.1".to_string())];
        let owners =
            vec![OwnerRow { principal_type: "user".into(), principal_id: "alice".into(), role: "owner".into() }];
        let doc = local_packument(&name, &pkg(), &versions, &files, &tags, &owners, "http://h/proxy/npm");
        let expected = json!({
            "_id": "@myorg/pkg",
            "_rev": "2-18bcfe6eea0",
            "name": "@myorg/pkg",
            "description": "first",
            "dist-tags": {"beta": "2.0.0-beta.1", "latest": "1.0.0"},
            "versions": {
                "1.0.0": {
                    "name": "@myorg/pkg", "version": "1.0.0", "description": "first", "dependencies": {"a": "^1"},
                    "dist": {
                        "tarball": "http://h/proxy/npm/@myorg/pkg/-/pkg-1.0.0.tgz",
                        "shasum": "abababababababababababababababababababab",
                        "integrity": "sha512-zc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3NzQ=="
                    },
                    "_id": "@myorg/pkg@1.0.0"
                },
                "2.0.0-beta.1": {
                    "name": "@myorg/pkg", "version": "2.0.0-beta.1", "scripts": {"postinstall": "x"},
                    "_id": "@myorg/pkg@2.0.0-beta.1", "dist": {}
                }
            },
            "time": {
                "created": "2023-11-14T22:13:20Z",
                "modified": "2023-11-14T22:15:00Z",
                "1.0.0": "2023-11-14T22:13:20Z",
                "2.0.0-beta.1": "2023-11-14T22:15:00Z"
            },
            "maintainers": [{"name": "alice", "email": ""}]
        });
        assert_eq!(doc, expected);
        let abbreviated = abbreviate(&doc);
        assert_eq!(abbreviated["versions"]["2.0.0-beta.1"]["hasInstallScript"], json!(true));
        assert_eq!(abbreviated["versions"]["1.0.0"].get("description"), None);
        assert_eq!(abbreviated["dist-tags"]["latest"], "1.0.0");
    }

    #[test]
    fn upstream_rewrite() {
        let body = br#"{"name":"@a/b","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"dist":{"tarball":"https://cdn.example/@a/b/-/b-1.0.0.tgz","integrity":"sha512-x","shasum":"ab"}},"0.1.0":{"dist":{"tarball":"https://cdn.example/a/%2e%2e"}}}}"#;
        let p = UpstreamPackument::parse(body).expect("valid");
        assert_eq!(p.tarballs.len(), 1);
        assert_eq!(p.tarballs["b-1.0.0.tgz"].url, "https://cdn.example/@a/b/-/b-1.0.0.tgz");
        let name = NpmName::parse("@a/b").expect("valid");
        let v = p.rewritten(&name, "http://me/proxy/npm");
        assert_eq!(v["versions"]["1.0.0"]["dist"]["tarball"], "http://me/proxy/npm/@a/b/-/b-1.0.0.tgz");
        assert_eq!(v["versions"]["0.1.0"]["dist"].get("tarball"), None);
        assert_eq!(
            resolve_spec(&v, "latest").and_then(|m| m["dist"]["integrity"].as_str().map(str::to_string)).as_deref(),
            Some("sha512-x")
        );
        assert!(resolve_spec(&v, "nope").is_none());
        assert!(UpstreamPackument::parse(b"[]").is_err());
    }

    #[test]
    fn highest() {
        assert_eq!(highest_version(["1.0.0", "1.10.0", "1.9.0", "2.0.0-rc.1"].into_iter()).as_deref(), Some("1.10.0"));
        assert_eq!(highest_version(["2.0.0-rc.1", "2.0.0-rc.2"].into_iter()).as_deref(), Some("2.0.0-rc.2"));
        assert_eq!(highest_version(std::iter::empty()), None);
    }
}
