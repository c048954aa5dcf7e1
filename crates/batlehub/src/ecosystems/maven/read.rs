//! Maven reads: files and their checksums, and `maven-metadata.xml`
//! generated from the catalog (never a deployed copy) or passed through from
//! the upstream.
//!
//! Local files are served from the view; their checksums come from the
//! digests computed when they were stored. Upstream files are verified
//! against the upstream's `.sha256` (when it has one) or `.sha1` before they
//! are kept, and fetched from the upstream that served that checksum.
//! Upstream checksum files and metadata are documents (TTL, revalidation,
//! and "not found" remembered for the registry's negative TTL, since mvn and
//! Gradle probe many paths that do not exist).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

use super::names::{Checksum, Coordinates, compare_versions, is_snapshot, parse_file};
use super::op::{METADATA, VersionFile};
use super::pom::plugin_prefix;
use crate::access::Permission;
use crate::catalog::FileRow;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Located, PackageView, RequestCtx};
use crate::upstream::CacheKey;
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::DocFetch;

pub const XML: &str = "application/xml";

/// How long an upstream's "not found" stands unless configured.
pub const DEFAULT_NEGATIVE_TTL_SECS: u64 = 300;

/// The `Content-Type` of a file by its extension.
pub fn content_type(extension: &str) -> &'static str {
    match extension.rsplit('.').next().unwrap_or(extension) {
        "pom" | "xml" => "application/xml",
        "jar" | "war" | "ear" | "aar" => "application/java-archive",
        "module" | "json" => "application/json",
        "asc" => "text/plain; charset=utf-8",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

fn text(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A checksum file's body: the hex digest.
fn checksum_response(hex: &str) -> Response {
    text(StatusCode::OK, "text/plain; charset=utf-8", hex.as_bytes().to_vec())
}

fn digest_of(f: &FileRow, c: Checksum) -> &str {
    match c {
        Checksum::Md5 => &f.md5,
        Checksum::Sha1 => &f.sha1,
        Checksum::Sha256 => &f.sha256,
        Checksum::Sha512 => &f.sha512,
    }
}

pub fn hex_digest(body: &[u8], c: Checksum) -> String {
    match c {
        Checksum::Md5 => hex::encode(md5::Md5::digest(body)),
        Checksum::Sha1 => hex::encode(sha1::Sha1::digest(body)),
        Checksum::Sha256 => hex::encode(sha2::Sha256::digest(body)),
        Checksum::Sha512 => hex::encode(sha2::Sha512::digest(body)),
    }
}

/// The doc fetch of `path` (under the repository root) from the upstreams.
pub fn path_fetch(ctx: &RequestCtx, path: &str) -> DocFetch {
    let mut fetch = ctx.doc_fetch(CacheKey::new("path").part(path), path.to_string(), "*/*");
    if ctx.registry.cache.negative_ttl_secs.is_none() {
        fetch.negative_ttl = std::time::Duration::from_secs(DEFAULT_NEGATIVE_TTL_SECS);
    }
    fetch
}

/// The file of a local version the request names: a SNAPSHOT's
/// `-SNAPSHOT` name (as non-unique clients ask) is its latest build's file
/// of the same classifier and extension.
fn local_file<'a>(view: &'a PackageView, file: &VersionFile) -> Option<&'a FileRow> {
    let row = view.versions.iter().find(|v| v.version == file.version)?;
    let of_version = || view.files.iter().filter(move |f| f.version_id == row.id);
    if let Some(f) = of_version().find(|f| f.filename == file.filename) {
        return Some(f);
    }
    if !is_snapshot(&file.version) || file.parsed.build.is_some() {
        return None;
    }
    of_version()
        .filter_map(|f| parse_file(&file.coords.artifact, &file.version, &f.filename).ok().map(|p| (p, f)))
        .filter(|(p, _)| p.classifier == file.parsed.classifier && p.extension == file.parsed.extension)
        .filter_map(|(p, f)| p.build.map(|(stamp, n)| ((n, stamp), f)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, f)| f)
}

/// A file of a version, or one of its checksums.
pub async fn file(ctx: &RequestCtx, file: &VersionFile, checksum: Option<Checksum>) -> AppResult<Response> {
    let wanted = if checksum.is_some() { Permission::ReleasesRead } else { super::op::file_permission(&file.parsed) };
    let key = file.coords.key();
    if let Some(local) = ctx.read_local(&key, &file.coords.display(), wanted).await? {
        let row = local_file(&local.view, file)
            .ok_or_else(|| AppError::not_found(format!("{} not found", file.path())))?;
        return match checksum {
            Some(c) => Ok(checksum_response(digest_of(row, c))),
            None => {
                let filename = row.filename.clone();
                let mut r = ctx.serve_local_file(&local, &filename).await?;
                let etag = format!("\"{}\"", row.sha1);
                if let Ok(v) = HeaderValue::from_str(&etag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(row.created_at.max(0) as u64),
                )) {
                    r.headers_mut().insert(header::LAST_MODIFIED, v);
                }
                Ok(r)
            }
        };
    }
    let path = file.path();
    if ctx.has_rules() && checksum.is_none() {
        // Before the cache: a cached file is withheld as a fetched one.
        check_file(ctx, file).await?;
    }
    if let Some(c) = checksum {
        let served = ctx.document(path_fetch(ctx, &format!("{path}{}", c.suffix()))).await?;
        let hex = first_token(&served.doc.body).ok_or_else(|| AppError::Upstream("the upstream's checksum file is empty".into()))?;
        return Ok(checksum_response(&hex));
    }
    let content_type = content_type(&file.parsed.extension);
    let key = CacheKey::new("file").part(&path);
    ctx.upstream_artifact(key, content_type, || async {
        // The strongest checksum the upstream offers, and that upstream's file.
        for c in [Checksum::Sha256, Checksum::Sha1] {
            match ctx.document(path_fetch(ctx, &format!("{path}{}", c.suffix()))).await {
                Ok(served) => {
                    let expected = first_token(&served.doc.body).and_then(|h| ExpectedDigest::from_hex(&h));
                    // The upstream that had the checksum has the file.
                    let url = crate::upstream::join_url(&served.doc.header.source, &path);
                    return Ok(Located::digest_required(url, expected).of_release(&file.coords.key(), &file.version));
                }
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        // No checksum anywhere: a file that exists is refused, an absent one
        // stays a 404 (what mvn needs to go on probing).
        Ok(Located::on_upstreams(&ctx.registry.upstreams, &path)?.require_digest().of_release(&file.coords.key(), &file.version))
    })
    .await
}

/// The first whitespace-separated token of a checksum file (some tools add
/// the file name after the digest), lower-cased.
pub fn first_token(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split_whitespace().next().filter(|t| t.len() <= 128).map(str::to_ascii_lowercase)
}

/// `yyyyMMddHHmmss` (UTC) of epoch milliseconds.
fn last_updated(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Artifact-level metadata: every version, `latest`, `release`.
pub fn artifact_metadata(coords: &Coordinates, view: &PackageView) -> Vec<u8> {
    let mut versions: Vec<&str> = view.versions.iter().map(|v| v.version.as_str()).collect();
    versions.sort_by(|a, b| compare_versions(a, b));
    let latest = versions.last().copied();
    let release = versions.iter().rev().find(|v| !is_snapshot(v)).copied();
    let updated = view.files.iter().map(|f| f.created_at).max().unwrap_or(0);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n");
    x.push_str(&format!("  <groupId>{}</groupId>\n  <artifactId>{}</artifactId>\n", esc(&coords.group), esc(&coords.artifact)));
    x.push_str("  <versioning>\n");
    if let Some(l) = latest {
        x.push_str(&format!("    <latest>{}</latest>\n", esc(l)));
    }
    if let Some(r) = release {
        x.push_str(&format!("    <release>{}</release>\n", esc(r)));
    }
    x.push_str("    <versions>\n");
    for v in &versions {
        x.push_str(&format!("      <version>{}</version>\n", esc(v)));
    }
    x.push_str(&format!("    </versions>\n    <lastUpdated>{}</lastUpdated>\n  </versioning>\n</metadata>\n", last_updated(updated)));
    x.into_bytes()
}

/// Version-level metadata of a SNAPSHOT: the latest build and, per
/// classifier and extension, its latest file.
pub fn snapshot_metadata(coords: &Coordinates, version: &str, view: &PackageView) -> Option<Vec<u8>> {
    let row = view.versions.iter().find(|v| v.version == version)?;
    let base = version.strip_suffix("-SNAPSHOT")?;
    // (classifier, extension) → ((build, stamp), updated)
    let mut latest: BTreeMap<(String, String), ((u32, String), i64)> = BTreeMap::new();
    let mut newest: Option<(u32, String)> = None;
    let mut updated = 0;
    for f in view.files.iter().filter(|f| f.version_id == row.id) {
        let Ok(p) = parse_file(&coords.artifact, version, &f.filename) else { continue };
        let Some((stamp, n)) = p.build else { continue };
        updated = updated.max(f.created_at);
        let build = (n, stamp);
        if newest.as_ref().is_none_or(|b| build > *b) {
            newest = Some(build.clone());
        }
        let slot = latest.entry((p.classifier.unwrap_or_default(), p.extension)).or_insert((build.clone(), f.created_at));
        if build > slot.0 {
            *slot = (build, f.created_at);
        }
    }
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata modelVersion=\"1.1.0\">\n");
    x.push_str(&format!(
        "  <groupId>{}</groupId>\n  <artifactId>{}</artifactId>\n  <version>{}</version>\n  <versioning>\n",
        esc(&coords.group),
        esc(&coords.artifact),
        esc(version)
    ));
    if let Some((n, stamp)) = &newest {
        x.push_str(&format!("    <snapshot>\n      <timestamp>{stamp}</timestamp>\n      <buildNumber>{n}</buildNumber>\n    </snapshot>\n"));
    }
    x.push_str(&format!("    <lastUpdated>{}</lastUpdated>\n    <snapshotVersions>\n", last_updated(updated)));
    for ((classifier, extension), ((n, stamp), at)) in &latest {
        x.push_str("      <snapshotVersion>\n");
        if !classifier.is_empty() {
            x.push_str(&format!("        <classifier>{}</classifier>\n", esc(classifier)));
        }
        x.push_str(&format!(
            "        <extension>{}</extension>\n        <value>{}-{stamp}-{n}</value>\n        <updated>{}</updated>\n      </snapshotVersion>\n",
            esc(extension),
            esc(base),
            last_updated(*at)
        ));
    }
    x.push_str("    </snapshotVersions>\n  </versioning>\n</metadata>\n");
    Some(x.into_bytes())
}

/// Group-level metadata: the group's plugins and their goal prefixes.
pub fn group_metadata(plugins: &[String]) -> Vec<u8> {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <plugins>\n");
    for artifact in plugins {
        x.push_str(&format!(
            "    <plugin>\n      <name>{}</name>\n      <prefix>{}</prefix>\n      <artifactId>{}</artifactId>\n    </plugin>\n",
            esc(artifact),
            esc(&plugin_prefix(artifact)),
            esc(artifact)
        ));
    }
    x.push_str("  </plugins>\n</metadata>\n");
    x.into_bytes()
}

/// Whether a local package is a Maven plugin: the POM of its latest version
/// says `maven-plugin` (recorded in the POM file's row when deployed).
fn is_plugin(view: &PackageView) -> bool {
    view.files.iter().filter(|f| f.filename.ends_with(".pom")).any(|f| {
        serde_json::from_str::<serde_json::Value>(&f.metadata)
            .is_ok_and(|m| m.get("packaging").and_then(serde_json::Value::as_str) == Some("maven-plugin"))
    })
}

/// Serve a metadata document (or its checksum) with its validators.
fn metadata_response(headers: &HeaderMap, body: &http::Rendered, checksum: Option<Checksum>) -> Response {
    match checksum {
        Some(c) => checksum_response(&hex_digest(&body.body, c)),
        None => http::document(headers, body, XML, None),
    }
}

/// `{dir}/maven-metadata.xml` (or a checksum of it): a SNAPSHOT version's
/// builds, an artifact's versions, or a group's plugins, whichever the
/// folder is here; else the upstream's document.
pub async fn metadata(ctx: &RequestCtx, dir: &[String], checksum: Option<Checksum>, headers: &HeaderMap) -> AppResult<Response> {
    let segs: Vec<&str> = dir.iter().map(String::as_str).collect();
    if let [group @ .., artifact, version] = segs.as_slice()
        && !group.is_empty()
        && is_snapshot(version)
    {
        let coords = Coordinates::new(&group.join("."), artifact).map_err(AppError::BadRequest)?;
        if let Some(local) = ctx.read_local(&coords.key(), &coords.display(), Permission::ReleasesRead).await? {
            let body = snapshot_metadata(&coords, version, &local.view)
                .ok_or_else(|| AppError::not_found(format!("{} {version} not found", coords.display())))?;
            return Ok(metadata_response(headers, &http::rendered(body), checksum));
        }
        return upstream_metadata(ctx, &segs, checksum, headers).await;
    }
    if let [group @ .., artifact] = segs.as_slice()
        && !group.is_empty()
        && let Ok(coords) = Coordinates::new(&group.join("."), artifact)
    {
        match ctx.read_local(&coords.key(), &coords.display(), Permission::ReleasesRead).await {
            Ok(Some(local)) => {
                let rendered = ctx
                    .rendered_local(&local, "maven-metadata", move |view, _| Ok(artifact_metadata(&coords, view)))
                    .await?;
                return Ok(metadata_response(headers, &rendered, checksum));
            }
            Ok(None) | Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // A group's plugins, from the local registries this one reads.
    let group_path = segs.join("/");
    let plugins = local_plugins(ctx, &group_path).await?;
    if !plugins.is_empty() {
        return Ok(metadata_response(headers, &http::rendered(group_metadata(&plugins)), checksum));
    }
    // Claimed or local folders are never asked of an upstream.
    if ctx.registry.upstreams.is_empty() || ctx.shadow().await?.covers(&format!("{group_path}/")) {
        return Err(AppError::not_found(format!("{group_path}/{METADATA} not found")));
    }
    upstream_metadata(ctx, &segs, checksum, headers).await
}

/// The plugins (artifactIds) of the group at `group_path` in the local
/// registries the caller reads, visible to the caller.
async fn local_plugins(ctx: &RequestCtx, group_path: &str) -> AppResult<Vec<String>> {
    let prefix = format!("{group_path}/");
    let mut plugins = Vec::new();
    for row in ctx.visible_packages(&prefix, 1000).await? {
        let Some(artifact) = row.name.strip_prefix(&prefix) else { continue };
        if artifact.contains('/') {
            continue;
        }
        let view = ctx.app.views.get(&ctx.app.catalog, &row.registry, &row.name).await?;
        if is_plugin(&view) {
            plugins.push(artifact.to_string());
        }
    }
    plugins.sort();
    plugins.dedup();
    Ok(plugins)
}

/// The `<version>`s an artifact's metadata lists.
fn metadata_versions(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let Some(block) = text.split_once("<versions>").and_then(|(_, rest)| rest.split_once("</versions>")).map(|(b, _)| b) else {
        return Vec::new();
    };
    block
        .split("<version>")
        .skip(1)
        .filter_map(|part| part.split_once("</version>").map(|(v, _)| v.trim().to_string()))
        .filter(|v| !v.is_empty())
        .collect()
}

/// An artifact's metadata with only the versions `allows` lets through:
/// their `<version>` lines, and `<latest>`/`<release>` moved to the newest
/// of them (left out when none is).
fn withhold_metadata(body: &[u8], allows: &dyn Fn(&str) -> bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let Some((head, rest)) = text.split_once("<versions>") else { return body.to_vec() };
    let Some((block, tail)) = rest.split_once("</versions>") else { return body.to_vec() };
    let kept: Vec<String> = metadata_versions(body).into_iter().filter(|v| allows(v)).collect();
    let newest = |release: bool| {
        kept.iter().filter(|v| !release || !is_snapshot(v)).max_by(|a, b| super::names::compare_versions(a, b)).cloned()
    };
    let indent = block.split("<version>").next().unwrap_or("\n");
    let mut versions = String::new();
    for v in &kept {
        versions.push_str(&format!("{indent}<version>{v}</version>"));
    }
    versions.push_str(block.rsplit("</version>").next().unwrap_or(""));
    let retag = |doc: String, tag: &str, value: Option<String>| -> String {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        match doc.split_once(&open).and_then(|(a, r)| r.split_once(&close).map(|(_, b)| (a.to_string(), b.to_string()))) {
            Some((a, b)) => match value {
                Some(v) => format!("{a}{open}{v}{close}{b}"),
                None => format!("{a}{b}"),
            },
            None => doc,
        }
    };
    let head = retag(retag(head.to_string(), "latest", newest(false)), "release", newest(true));
    format!("{head}<versions>{versions}</versions>{tail}").into_bytes()
}

/// When the upstream says `version` of `coords` was published: its POM's
/// `Last-Modified` (Maven repositories give no other time).
async fn version_time(ctx: &RequestCtx, coords: &Coordinates, version: &str) -> AppResult<Option<i64>> {
    let pom = format!("{}/{version}/{}-{version}.pom", coords.key(), coords.artifact);
    let served = match ctx.document(path_fetch(ctx, &pom)).await {
        Ok(s) => s,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(served.doc.header.last_modified.as_deref().and_then(http::http_date_ms))
}

/// `versions` of `coords` as the rules see them: with times when a rule
/// reads them (a POM each, a few at a time).
async fn releases(ctx: &RequestCtx, coords: &Coordinates, versions: &[String], times: bool) -> AppResult<Vec<crate::rules::Release>> {
    use futures_util::StreamExt;
    let timed: Vec<AppResult<crate::rules::Release>> = futures_util::stream::iter(versions.iter().cloned())
        .map(|v| async move {
            let published_at = if times { version_time(ctx, coords, &v).await? } else { None };
            Ok(crate::rules::Release { version: v, published_at, licence: None })
        })
        .buffered(8)
        .collect()
        .await;
    timed.into_iter().collect()
}

/// The upstream versions of `name` (`group:artifact`) as the rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let coords = Coordinates::parse(name).map_err(AppError::BadRequest)?;
    let served = ctx.document(artifact_listing(ctx, &coords)).await?;
    releases(ctx, &coords, &metadata_versions(&served.doc.body), true).await
}

/// Refuse a file of an upstream version the rules withhold from this caller.
async fn check_file(ctx: &RequestCtx, file: &VersionFile) -> AppResult<()> {
    let times = ctx.registry.rules.needs_times();
    let at = if times { version_time(ctx, &file.coords, &file.version).await? } else { None };
    let key = file.coords.key();
    ctx.rules_verdict(&crate::rules::Candidate { name: &key, version: &file.version, published_at: at, licence: None })
}

/// The upstream's metadata document, its checksums computed from the very
/// bytes served; an artifact's versions the rules withhold left out.
async fn upstream_metadata(ctx: &RequestCtx, segs: &[&str], checksum: Option<Checksum>, headers: &HeaderMap) -> AppResult<Response> {
    let served = ctx.document(path_fetch(ctx, &format!("{}/{METADATA}", segs.join("/")))).await?;
    let body = served.doc.body.clone();
    let withheld = match segs {
        [group @ .., artifact] if ctx.has_rules() && !group.is_empty() => match Coordinates::new(&group.join("."), artifact) {
            // Judged once per fetched body and class of caller: the POMs
            // are read only then.
            Ok(coords) => match ctx.rules_known(served.doc.generation) {
                Some(known) => known,
                None => {
                    let versions = metadata_versions(&body);
                    let releases = releases(ctx, &coords, &versions, ctx.registry.rules.needs_times()).await?;
                    let key = coords.key();
                    ctx.rules_withheld_of(served.doc.generation, || releases.iter().map(|r| r.candidate(&key)).collect())?
                }
            },
            Err(_) => None,
        },
        _ => None,
    };
    let render_key = withheld.as_ref().map_or_else(String::new, |w| w.render_key(""));
    let rendered = ctx
        .rendered((served.doc.generation, "maven-upstream-metadata", render_key), move || match withheld {
            Some(w) => Ok(withhold_metadata(&body, &|v| w.allows(v))),
            None => Ok(body.to_vec()),
        })
        .await?;
    match checksum {
        Some(c) => Ok(checksum_response(&hex_digest(&rendered.body, c))),
        None => Ok(http::document(headers, &rendered, XML, Some(served.state))),
    }
}

/// The fetch of an artifact's upstream metadata (what would list it).
pub fn artifact_listing(ctx: &RequestCtx, coords: &Coordinates) -> DocFetch {
    path_fetch(ctx, &format!("{}/{METADATA}", coords.key()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::VersionRow;

    fn version(id: &str, v: &str) -> VersionRow {
        VersionRow {
            id: id.into(),
            package_id: "p".into(),
            version: v.into(),
            metadata: "{}".into(),
            published_by: None,
            published_at: 0,
            yanked: false,
            yanked_reason: None,
        }
    }

    fn file(version_id: &str, name: &str, at: i64) -> FileRow {
        FileRow {
            id: name.into(),
            version_id: version_id.into(),
            package_id: "p".into(),
            filename: name.into(),
            sha256: String::new(),
            sha1: String::new(),
            sha512: String::new(),
            md5: String::new(),
            size: 1,
            content_type: "application/octet-stream".into(),
            metadata: "{}".into(),
            created_at: at,
        }
    }

    #[test]
    fn metadata_documents() {
        let coords = Coordinates::parse("com.acme:app").expect("coords");
        let mut view = PackageView::absent();
        view.versions = vec![version("a", "1.10"), version("b", "1.9"), version("c", "2.0-SNAPSHOT")];
        // 2026-11-29T04:15:00Z and 2026-11-29T05:15:00Z
        let (t1, t2) = (1_795_925_700_000, 1_795_929_300_000);
        view.files = vec![
            file("a", "app-1.10.jar", t1),
            file("c", "app-2.0-20261129.041500-1.jar", t1),
            file("c", "app-2.0-20261129.051500-2.jar", t2),
            file("c", "app-2.0-20261129.051500-2.pom", t2),
            file("c", "app-2.0-20261129.041500-1-sources.jar", t1),
        ];
        let artifact = String::from_utf8(artifact_metadata(&coords, &view)).expect("utf-8");
        assert_eq!(
            artifact,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <groupId>com.acme</groupId>\n  <artifactId>app</artifactId>\n  <versioning>\n    <latest>2.0-SNAPSHOT</latest>\n    <release>1.10</release>\n    <versions>\n      <version>1.9</version>\n      <version>1.10</version>\n      <version>2.0-SNAPSHOT</version>\n    </versions>\n    <lastUpdated>20261129051500</lastUpdated>\n  </versioning>\n</metadata>\n"
        );
        let snapshot = String::from_utf8(snapshot_metadata(&coords, "2.0-SNAPSHOT", &view).expect("snapshot")).expect("utf-8");
        assert_eq!(
            snapshot,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata modelVersion=\"1.1.0\">\n  <groupId>com.acme</groupId>\n  <artifactId>app</artifactId>\n  <version>2.0-SNAPSHOT</version>\n  <versioning>\n    <snapshot>\n      <timestamp>20261129.051500</timestamp>\n      <buildNumber>2</buildNumber>\n    </snapshot>\n    <lastUpdated>20261129051500</lastUpdated>\n    <snapshotVersions>\n      <snapshotVersion>\n        <extension>jar</extension>\n        <value>2.0-20261129.051500-2</value>\n        <updated>20261129051500</updated>\n      </snapshotVersion>\n      <snapshotVersion>\n        <extension>pom</extension>\n        <value>2.0-20261129.051500-2</value>\n        <updated>20261129051500</updated>\n      </snapshotVersion>\n      <snapshotVersion>\n        <classifier>sources</classifier>\n        <extension>jar</extension>\n        <value>2.0-20261129.041500-1</value>\n        <updated>20261129041500</updated>\n      </snapshotVersion>\n    </snapshotVersions>\n  </versioning>\n</metadata>\n"
        );
        assert!(snapshot_metadata(&coords, "1.10", &view).is_none(), "a release has no version-level metadata");
        let group = String::from_utf8(group_metadata(&["hello-maven-plugin".into()])).expect("utf-8");
        assert!(group.contains("<plugin>\n      <name>hello-maven-plugin</name>\n      <prefix>hello</prefix>\n      <artifactId>hello-maven-plugin</artifactId>\n    </plugin>"), "{group}");
    }

    #[test]
    fn withheld_versions_leave_the_metadata_and_latest_moves() {
        let body = b"<?xml version=\"1.0\"?>\n<metadata>\n  <groupId>g</groupId>\n  <artifactId>a</artifactId>\n  <versioning>\n    <latest>2.0-SNAPSHOT</latest>\n    <release>1.10</release>\n    <versions>\n      <version>1.2</version>\n      <version>1.10</version>\n      <version>2.0-SNAPSHOT</version>\n    </versions>\n    <lastUpdated>20260101000000</lastUpdated>\n  </versioning>\n</metadata>\n";
        assert_eq!(metadata_versions(body), ["1.2", "1.10", "2.0-SNAPSHOT"]);
        let out = String::from_utf8(withhold_metadata(body, &|v| v != "1.10")).expect("utf-8");
        assert_eq!(metadata_versions(out.as_bytes()), ["1.2", "2.0-SNAPSHOT"], "{out}");
        assert!(out.contains("<latest>2.0-SNAPSHOT</latest>") && out.contains("<release>1.2</release>"), "{out}");
        assert!(out.contains("<lastUpdated>20260101000000</lastUpdated>") && out.ends_with("</metadata>\n"), "{out}");
        let none = String::from_utf8(withhold_metadata(body, &|_| false)).expect("utf-8");
        assert!(!none.contains("<latest>") && !none.contains("<release>") && metadata_versions(none.as_bytes()).is_empty(), "{none}");
    }
}
