//! RubyGems reads: the compact index (`/versions`, `/info/{gem}`,
//! `/names`) that Bundler and gem read, `.gem` files, and the JSON API.
//!
//! Local documents are generated from the catalog (yanked versions left
//! out); `/versions` carries, per gem, the MD5 of its `/info` body, so a
//! client knows which info files to fetch again. Every document has an
//! `ETag`, `Repr-Digest` and `Accept-Ranges: bytes`, and a `Range: bytes=N-`
//! request gets the tail (206), which is how Bundler updates its copies.
//! Upstream ones are documents passed through (`/versions` with the lines
//! of local gems left out and theirs added); upstream gems are verified
//! against the SHA-256 the upstream's `/info` gives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use super::gem::Spec;
use super::names::{compare_versions, gem_file, is_prerelease, version_label};
use crate::access::Permission;
use crate::catalog::{FileRow, VersionRow};
use crate::error::{AppError, AppResult};
use crate::http::{self, Rendered};
use crate::serve::{Local, LocalSet, Located, PackageView, RequestCtx};
use crate::upstream::CacheKey;
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::DocFetch;

const TEXT: &str = "text/plain; charset=utf-8";

/// A compact index document with its validators, whole or (for
/// `Range: bytes=N-`) its tail. The `ETag` is the quoted MD5 of the whole
/// body: Bundler checks the file it assembled against it.
fn index_response(headers: &HeaderMap, doc: &Rendered) -> Response {
    let etag = format!("\"{}\"", hex::encode(md5::Md5::digest(&doc.body)));
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&doc.body));
    let decorate = |r: &mut Response| {
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("sha-256=:{digest}:")) {
            h.insert("repr-digest", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("sha-256={digest}")) {
            h.insert("digest", v);
        }
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag));
    if not_modified {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        decorate(&mut r);
        return r;
    }
    let len = doc.body.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|r| r.strip_prefix("bytes=")).and_then(|s| s.split_once('-'));
    let mut r = match range {
        None => (StatusCode::OK, doc.body.clone()).into_response(),
        Some((a, b)) => {
            let bounds = a.parse::<usize>().ok().and_then(|start| {
                let last = len.checked_sub(1)?;
                let end = if b.is_empty() { last } else { b.parse::<usize>().ok()?.min(last) };
                (start <= end).then_some((start, end))
            });
            match bounds {
                Some((start, end)) => {
                    let mut part = (StatusCode::PARTIAL_CONTENT, doc.body.slice(start..=end)).into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                        part.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    part
                }
                None => {
                    let mut bad = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                        bad.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    bad
                }
            }
        }
    };
    decorate(&mut r);
    r
}

/// A version file's spec (recorded at push).
pub fn spec_of(file: &FileRow) -> Option<Spec> {
    serde_json::from_str(&file.metadata).ok()
}

/// The gems of a local view that are served: (version row, file, spec), in
/// publish order, yanked ones left out.
fn served_gems(view: &PackageView) -> Vec<(&VersionRow, &FileRow, Spec)> {
    let mut out: Vec<(&VersionRow, &FileRow, Spec)> = Vec::new();
    for v in view.versions.iter().filter(|v| !v.yanked) {
        for f in view.files.iter().filter(|f| f.version_id == v.id) {
            if let Some(spec) = spec_of(f).filter(|s| !s.yanked) {
                out.push((v, f, spec));
            }
        }
    }
    out.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at).then_with(|| a.1.filename.cmp(&b.1.filename)));
    out
}

/// A gem file's line of its `/info` body.
fn info_line(file: &FileRow, spec: &Spec) -> String {
    let deps: Vec<String> = spec
        .dependencies
        .iter()
        .map(|(name, req)| format!("{name}:{}", req.split(", ").collect::<Vec<_>>().join("&")))
        .collect();
    let mut reqs = vec![format!("checksum:{}", file.sha256)];
    if let Some(r) = &spec.required_ruby_version {
        reqs.push(format!("ruby:{}", r.split(", ").collect::<Vec<_>>().join("&")));
    }
    if let Some(r) = &spec.required_rubygems_version {
        reqs.push(format!("rubygems:{}", r.split(", ").collect::<Vec<_>>().join("&")));
    }
    format!("{} {}|{}\n", version_label(&spec.version, &spec.platform), deps.join(","), reqs.join(","))
}

const INFO_HEADER: &str = "---\n";

/// A gem's `/info` body.
pub fn info_body(view: &PackageView) -> Vec<u8> {
    let mut body = String::from(INFO_HEADER);
    for (_, file, spec) in served_gems(view) {
        body.push_str(&info_line(file, &spec));
    }
    body.into_bytes()
}

/// `/info/{gem}`.
pub async fn info(ctx: &RequestCtx, name: &str, headers: &HeaderMap) -> AppResult<Response> {
    if let Some(local) = ctx.read_local(name, name, Permission::ReleasesRead).await? {
        let rendered = ctx.rendered_local(&local, "rubygems-info", |view, _| Ok(info_body(view))).await?;
        return Ok(index_response(headers, &rendered));
    }
    let served = ctx.document(info_fetch(ctx, name)).await?;
    let body = served.doc.body.clone();
    let withheld = if ctx.has_rules() {
        let releases = upstream_gem_releases(ctx, name, &served.doc.body).await?;
        let candidates: Vec<_> = releases.iter().map(|r| r.candidate(name)).collect();
        ctx.rules_withheld(&candidates)?
    } else {
        None
    };
    let render_key = withheld.as_ref().map_or_else(String::new, |w| w.render_key(""));
    let rendered = ctx
        .rendered((served.doc.generation, "rubygems-info-upstream", render_key), move || {
            let Some(w) = withheld else { return Ok(body.to_vec()) };
            // The lines of withheld versions (every platform's) leave.
            let text = String::from_utf8_lossy(&body);
            let kept: String = text
                .split_inclusive('\n')
                .filter(|line| match info_line_version(line) {
                    Some(v) => w.allows(v),
                    None => true,
                })
                .collect();
            Ok(kept.into_bytes())
        })
        .await?;
    let mut response = index_response(headers, &rendered);
    crate::http::mark_cache_state(&mut response, served.state);
    Ok(response)
}

/// The version of a compact index line (`1.2.0-x86_64-linux deps|reqs`:
/// each platform's gem counts as its version's); `None` for the header.
fn info_line_version(line: &str) -> Option<&str> {
    let label = line.split(' ').next().filter(|l| !l.is_empty() && *l != "---" && !l.starts_with('\n'))?;
    let label = label.trim_end();
    Some(label.split('-').next().unwrap_or(label))
}

/// The versions an upstream's `/info/{name}` (`info`) lists as the rules
/// see them: with times (`created_at`) and licences from the upstream's
/// JSON API versions document where it has one (its earliest platform's).
async fn upstream_gem_releases(ctx: &RequestCtx, name: &str, info: &[u8]) -> AppResult<Vec<crate::rules::Release>> {
    let fetch = ctx.doc_fetch(CacheKey::new("versions").part(name), format!("api/v1/versions/{name}.json"), "application/json");
    let details: Arc<VersionDetails> = match ctx.document(fetch).await {
        Ok(served) => ctx.parsed(&served.doc, |d| Ok::<_, String>(versions_details(&d.body))).await?,
        Err(AppError::NotFound(_)) => Arc::new(HashMap::new()),
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(info);
    let mut out: Vec<crate::rules::Release> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let Some(version) = info_line_version(line) else { continue };
        if !seen.insert(version.to_string()) {
            continue;
        }
        let (published_at, licence) = details.get(version).cloned().unwrap_or((None, None));
        out.push(crate::rules::Release { version: version.to_string(), published_at, licence });
    }
    Ok(out)
}

/// Per version: its earliest publish time and its licence.
type VersionDetails = HashMap<String, (Option<i64>, Option<String>)>;

/// An upstream JSON API versions document: per version, its earliest
/// `created_at` and its `licenses` (a choice among them).
fn versions_details(body: &[u8]) -> VersionDetails {
    let mut out: HashMap<String, (Option<i64>, Option<String>)> = HashMap::new();
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else { return out };
    for item in &items {
        let Some(number) = item.get("number").and_then(Value::as_str) else { continue };
        let at = item.get("created_at").and_then(Value::as_str).and_then(crate::rules::parse_rfc3339);
        let licences: Vec<&str> = item.get("licenses").and_then(Value::as_array).map(|l| l.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let licence = match licences.as_slice() {
            [] => None,
            [one] => Some(one.to_string()),
            many => Some(format!("({})", many.join(" OR "))),
        };
        let entry = out.entry(number.to_string()).or_insert((at, licence.clone()));
        entry.0 = match (entry.0, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if entry.1.is_none() {
            entry.1 = licence;
        }
    }
    out
}

/// The release of gem `name` a file labelled `label` (`version` or
/// `version-platform`) belongs to, as the upstream's `/info` (`info`) and
/// versions document give it.
async fn gem_release(ctx: &RequestCtx, name: &str, label: &str, info: &[u8]) -> AppResult<crate::rules::Release> {
    let version = label.split('-').next().unwrap_or(label);
    let releases = upstream_gem_releases(ctx, name, info).await?;
    Ok(releases.into_iter().find(|r| r.version == version).unwrap_or(crate::rules::Release {
        version: version.to_string(),
        published_at: None,
        licence: None,
    }))
}

/// The upstream versions of `name` as the rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let served = ctx.document(info_fetch(ctx, name)).await?;
    upstream_gem_releases(ctx, name, &served.doc.body).await
}

pub fn info_fetch(ctx: &RequestCtx, name: &str) -> DocFetch {
    ctx.doc_fetch(CacheKey::new("info").part(name), format!("info/{name}"), "text/plain")
}

/// One gem file of a [`LocalGems`]: its row, spec and whether it is served
/// now.
struct GemFile<'a> {
    row: &'a FileRow,
    spec: Spec,
    served: bool,
}

/// The local gems a caller sees, from a [`LocalSet`]: per gem (by name),
/// the registry holding it and its files.
struct LocalGems<'a> {
    gems: BTreeMap<&'a str, (usize, Vec<GemFile<'a>>)>,
}

impl<'a> LocalGems<'a> {
    fn of(set: &'a LocalSet) -> LocalGems<'a> {
        let mut gems: BTreeMap<&str, (usize, Vec<GemFile<'a>>)> = BTreeMap::new();
        let mut holder: HashMap<&str, &str> = HashMap::new();
        for (part, row) in set.visible() {
            let idx = set.parts.iter().position(|p| std::ptr::eq(p, part)).unwrap_or(0);
            holder.insert(row.id.as_str(), row.name.as_str());
            gems.insert(row.name.as_str(), (idx, Vec::new()));
        }
        for part in &set.parts {
            let yanked: HashMap<&str, bool> = part.listing.versions.iter().map(|v| (v.id.as_str(), v.yanked)).collect();
            for f in &part.listing.files {
                let Some(name) = holder.get(f.package_id.as_str()) else { continue };
                let Some(spec) = spec_of(f) else { continue };
                let served = yanked.get(f.version_id.as_str()) == Some(&false) && !spec.yanked;
                if let Some((_, files)) = gems.get_mut(name) {
                    files.push(GemFile { row: f, spec, served });
                }
            }
        }
        for (_, files) in gems.values_mut() {
            files.sort_by(|a, b| a.row.created_at.cmp(&b.row.created_at).then_with(|| a.row.filename.cmp(&b.row.filename)));
        }
        LocalGems { gems }
    }

    /// The gems with at least one served file.
    fn served_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.gems.iter().filter(|(_, (_, files))| files.iter().any(|f| f.served)).map(|(n, _)| *n)
    }

    /// (name, version, platform) of every served file.
    fn served_tuples(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (name, (_, files)) in &self.gems {
            for f in files.iter().filter(|f| f.served) {
                out.push((name.to_string(), f.spec.version.clone(), f.spec.platform.clone()));
            }
        }
        out
    }
}

/// A gem's `/info` body as the feed replays it: its served lines in publish
/// order, and the MD5 so far (kept running while lines are only appended).
#[derive(Default)]
struct InfoState {
    lines: BTreeMap<(i64, String), String>,
    keys: HashMap<String, (i64, String)>,
    md5: Option<md5::Md5>,
}

impl InfoState {
    fn digest(&mut self) -> String {
        let h = self.md5.get_or_insert_with(|| {
            let mut h = md5::Md5::new();
            h.update(INFO_HEADER);
            for l in self.lines.values() {
                h.update(l);
            }
            h
        });
        hex::encode(h.clone().finalize())
    }

    fn add(&mut self, file: &GemFile<'_>) {
        let key = (file.row.created_at, file.row.filename.clone());
        let line = info_line(file.row, &file.spec);
        let last = self.lines.keys().next_back().is_none_or(|k| *k < key);
        if let (true, Some(h)) = (last, self.md5.as_mut()) {
            h.update(&line);
        } else {
            self.md5 = None;
        }
        self.keys.insert(file.row.filename.clone(), key.clone());
        self.lines.insert(key, line);
    }

    fn remove(&mut self, filename: &str) {
        if let Some(key) = self.keys.remove(filename) {
            self.lines.remove(&key);
            self.md5 = None;
        }
    }
}

/// The version label of a gem file name.
fn label_of<'s>(name: &str, filename: &'s str) -> &'s str {
    filename.strip_prefix(name).and_then(|r| r.strip_prefix('-')).and_then(|r| r.strip_suffix(".gem")).unwrap_or(filename)
}

/// The local part of `/versions`: the feed of every registry of the set
/// replayed, one line per change of a gem the caller sees (`name label md5`,
/// or `name -label md5` when withdrawn, the MD5 of the gem's `/info` body
/// after the change), so that a new push or yank only ever adds lines at the
/// end. Gems whose files differ from what the feed says (files from before
/// it whose metadata withdrew them) get a last line setting them right.
fn local_versions_lines(set: &LocalSet, gems: &LocalGems<'_>) -> String {
    let mut states: HashMap<&str, InfoState> = HashMap::new();
    let mut out = String::new();
    let mut heads = vec![0usize; set.parts.len()];
    loop {
        // The next event: the earliest head of the registries' feeds (each
        // in its commit order).
        let mut next: Option<(usize, i64)> = None;
        for (i, part) in set.parts.iter().enumerate() {
            if let Some(e) = part.listing.events.get(heads[i])
                && next.is_none_or(|(_, at)| e.at < at)
            {
                next = Some((i, e.at));
            }
        }
        let Some((i, _)) = next else { break };
        let e = &set.parts[i].listing.events[heads[i]];
        heads[i] += 1;
        let Some((holder, files)) = gems.gems.get(e.package.as_str()) else { continue };
        if *holder != i {
            continue;
        }
        let state = states.entry(e.package.as_str()).or_default();
        let was = state.keys.contains_key(&e.filename);
        if was == e.served {
            continue;
        }
        if e.served {
            let Some(file) = files.iter().find(|f| f.row.filename == e.filename) else { continue };
            state.add(file);
        } else {
            state.remove(&e.filename);
        }
        let md5 = state.digest();
        let minus = if e.served { "" } else { "-" };
        out.push_str(&format!("{} {minus}{} {md5}\n", e.package, label_of(&e.package, &e.filename)));
    }
    for (name, (_, files)) in &gems.gems {
        let state = states.entry(name).or_default();
        let removed: Vec<String> = state
            .keys
            .keys()
            .filter(|f| !files.iter().any(|g| g.served && &g.row.filename == *f))
            .cloned()
            .collect();
        let added: Vec<&GemFile<'_>> = files.iter().filter(|f| f.served && !state.keys.contains_key(&f.row.filename)).collect();
        if removed.is_empty() && added.is_empty() {
            continue;
        }
        for f in &removed {
            state.remove(f);
        }
        for f in &added {
            state.add(f);
        }
        let md5 = state.digest();
        if !removed.is_empty() {
            let labels: Vec<String> = removed.iter().map(|f| format!("-{}", label_of(name, f))).collect();
            out.push_str(&format!("{name} {} {md5}\n", labels.join(",")));
        }
        if !added.is_empty() {
            let labels: Vec<&str> = added.iter().map(|f| label_of(name, &f.row.filename)).collect();
            out.push_str(&format!("{name} {} {md5}\n", labels.join(",")));
        }
    }
    out
}

/// An upstream compact-index document of a registry with upstreams.
async fn upstream_doc(ctx: &RequestCtx, key: &'static str, path: &str, accept: &'static str) -> AppResult<Option<(u64, bytes::Bytes)>> {
    if ctx.registry.upstreams.is_empty() {
        return Ok(None);
    }
    let served = ctx.document(ctx.doc_fetch(CacheKey::new(key), path.into(), accept)).await?;
    Ok(Some((served.doc.generation, served.doc.body.clone())))
}

/// `/versions`: the upstream's (names that are ours left out), then the
/// local gems' lines from the feed, so that local changes only add lines.
pub async fn versions(ctx: &RequestCtx, headers: &HeaderMap) -> AppResult<Response> {
    let set = Arc::new(ctx.local_set().await?);
    let upstream = upstream_doc(ctx, "versions", "versions", "text/plain").await?;
    let generation = upstream.as_ref().map(|(g, _)| *g);
    let rendered = ctx.rendered_set(&Arc::clone(&set), "rubygems-versions", generation, "", move || {
        let mut body = String::from("created_at: 2024-01-01T00:00:00Z\n---\n");
        if let Some((_, up)) = upstream {
            let shadow = set.shadow();
            let text = String::from_utf8_lossy(&up);
            let mut past_header = false;
            for line in text.lines() {
                if !past_header {
                    past_header = line == "---";
                    continue;
                }
                let name = line.split(' ').next().unwrap_or("");
                if !name.is_empty() && !shadow.covers(name) {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        let gems = LocalGems::of(&set);
        body.push_str(&local_versions_lines(&set, &gems));
        Ok(body.into_bytes())
    })
    .await?;
    Ok(index_response(headers, &rendered))
}

/// `/names`.
pub async fn names(ctx: &RequestCtx, headers: &HeaderMap) -> AppResult<Response> {
    let set = Arc::new(ctx.local_set().await?);
    let upstream = upstream_doc(ctx, "names", "names", "text/plain").await?;
    let generation = upstream.as_ref().map(|(g, _)| *g);
    let rendered = ctx.rendered_set(&Arc::clone(&set), "rubygems-names", generation, "", move || {
        let gems = LocalGems::of(&set);
        let mut names: Vec<String> = gems.served_names().map(str::to_string).collect();
        if let Some((_, up)) = upstream {
            // Local and claimed names are ours only (the local list has the
            // ones the caller may see).
            let shadow = set.shadow();
            names.extend(
                String::from_utf8_lossy(&up)
                    .lines()
                    .filter(|l| *l != "---" && !l.is_empty() && !shadow.covers(l))
                    .map(str::to_string),
            );
        }
        names.sort();
        names.dedup();
        Ok(format!("---\n{}\n", names.join("\n")).into_bytes())
    })
    .await?;
    Ok(index_response(headers, &rendered))
}

/// The (name, version label) splits a gem file name allows, most likely
/// first: the name ends before the first `-` followed by a digit.
pub fn splits(file: &str) -> Vec<(String, String)> {
    let stem = file.strip_suffix(".gem").unwrap_or(file);
    let mut out = Vec::new();
    for (i, _) in stem.match_indices('-') {
        let rest = &stem[i + 1..];
        if i > 0 && rest.starts_with(|c: char| c.is_ascii_digit()) {
            out.push((stem[..i].to_string(), rest.to_string()));
        }
    }
    out
}

/// `gems/{file}.gem`.
pub async fn gem(ctx: &RequestCtx, file: &str) -> AppResult<Response> {
    let candidates: Vec<(String, String)> =
        splits(file).into_iter().filter(|(n, _)| super::names::check_name(n).is_ok()).collect();
    for (i, (name, _)) in candidates.iter().enumerate() {
        match ctx.read_local(name, name, Permission::ReleasesRead).await {
            Ok(Some(local)) => return serve_local_gem(ctx, &local, file).await,
            Ok(None) => {}
            // The likeliest name is owned here (claimed, or invisible to
            // the caller): never asked of an upstream.
            Err(e @ AppError::NotFound(_)) if i == 0 => return Err(e),
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if ctx.registry.upstreams.is_empty() {
        return Err(AppError::not_found(format!("{file} not found")));
    }
    let key = CacheKey::new("gem").part(file);
    // Before the cache: a cached gem is withheld as a fetched one.
    ctx.rules_check_file(key.as_str(), || async {
        for (name, label) in &candidates {
            let served = match ctx.document(info_fetch(ctx, name)).await {
                Ok(s) => s,
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&served.doc.body);
            if text.lines().any(|l| l.split(' ').next() == Some(label.as_str())) {
                return Ok(Some((name.clone(), gem_release(ctx, name, label, &served.doc.body).await?)));
            }
        }
        Ok(None)
    })
    .await?;
    ctx.upstream_artifact(key, "application/octet-stream", || async {
        for (name, label) in &candidates {
            let served = match ctx.document(info_fetch(ctx, name)).await {
                Ok(s) => s,
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&served.doc.body);
            let Some(line) = text.lines().find(|l| l.split(' ').next() == Some(label.as_str())) else { continue };
            if ctx.has_rules() {
                // A version only a refreshed index lists is checked here.
                ctx.rules_verdict(&gem_release(ctx, name, label, &served.doc.body).await?.candidate(name))?;
            }
            let checksum = line
                .split('|')
                .nth(1)
                .and_then(|reqs| reqs.split(',').find_map(|r| r.strip_prefix("checksum:")))
                .and_then(ExpectedDigest::from_hex);
            let url = crate::upstream::join_url(&served.doc.header.source, &format!("gems/{file}"));
            // The label is `version` or `version-platform`: each platform's
            // gem counts as its version's.
            let version = label.split('-').next().unwrap_or(label);
            return Ok(Located::verified(url, checksum)?.of_release(name, version));
        }
        Err(AppError::not_found(format!("{file} not found")))
    })
    .await
}

async fn serve_local_gem(ctx: &RequestCtx, local: &Local, file: &str) -> AppResult<Response> {
    let row = local.view.files.iter().find(|f| f.filename == file).ok_or_else(|| AppError::not_found(format!("{file} not found")))?;
    let yanked = local.view.versions.iter().find(|v| v.id == row.version_id).is_none_or(|v| v.yanked)
        || spec_of(row).is_some_and(|s| s.yanked);
    if yanked {
        return Err(AppError::not_found(format!("{file} not found")));
    }
    ctx.serve_local_file(local, file).await
}

fn gem_json(ctx: &RequestCtx, name: &str, file: &FileRow, spec: &Spec) -> Value {
    let base = ctx.registry_base();
    json!({
        "name": name,
        "version": spec.version,
        "platform": spec.platform,
        "info": spec.summary,
        "authors": spec.authors.join(", "),
        "licenses": spec.licenses,
        "sha": file.sha256,
        "gem_uri": format!("{base}/gems/{}", gem_file(name, &spec.version, &spec.platform)),
        "dependencies": {
            "runtime": spec.dependencies.iter().map(|(n, r)| json!({"name": n, "requirements": r})).collect::<Vec<_>>(),
            "development": [],
        },
    })
}

/// An upstream's JSON API document for `name` (`api/v1/{what}/{name}.json`),
/// `gem_uri`s pointing back here.
async fn upstream_json(ctx: &RequestCtx, what: &'static str, name: &str) -> AppResult<Response> {
    if ctx.registry.upstreams.is_empty() {
        return Err(AppError::not_found(format!("{name} not found")));
    }
    let fetch = ctx.doc_fetch(CacheKey::new(what).part(name), format!("api/v1/{what}/{name}.json"), "application/json");
    let served = ctx.document(fetch).await?;
    let body = served.doc.body.clone();
    let base = ctx.registry_base();
    // The versions document lists only what the rules allow.
    let withheld = if ctx.has_rules() && what == "versions" {
        let releases = upstream_releases(ctx, name).await?;
        let candidates: Vec<_> = releases.iter().map(|r| r.candidate(name)).collect();
        ctx.rules_withheld(&candidates)?
    } else {
        None
    };
    let render_key = withheld.as_ref().map_or_else(|| base.clone(), |w| w.render_key(&base));
    let rendered = ctx
        .rendered((served.doc.generation, what, render_key), move || {
            let mut v: Value =
                serde_json::from_slice(&body).map_err(|e| AppError::Upstream(format!("the upstream's JSON API: {e}")))?;
            if let (Some(w), Value::Array(items)) = (&withheld, &mut v) {
                items.retain(|i| i.get("number").and_then(Value::as_str).is_some_and(|n| w.allows(n)));
            }
            let rewrite = |doc: &mut Value| {
                if let Some(obj) = doc.as_object_mut() {
                    let file = match (obj.get("name"), obj.get("version"), obj.get("platform")) {
                        (Some(Value::String(n)), Some(Value::String(v)), p) => {
                            Some(gem_file(n, v, p.and_then(Value::as_str).unwrap_or("ruby")))
                        }
                        _ => None,
                    };
                    if let Some(f) = file {
                        obj.insert("gem_uri".into(), json!(format!("{base}/gems/{f}")));
                    } else {
                        obj.remove("gem_uri");
                    }
                }
            };
            match &mut v {
                Value::Array(items) => items.iter_mut().for_each(rewrite),
                other => rewrite(other),
            }
            serde_json::to_vec(&v).map_err(|e| AppError::internal(e.to_string()))
        })
        .await?;
    let mut r = (StatusCode::OK, rendered.body.clone()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// `api/v1/gems/{name}.json`: the latest release.
pub async fn gem_info(ctx: &RequestCtx, name: &str) -> AppResult<Response> {
    let Some(local) = ctx.read_local(name, name, Permission::ReleasesRead).await? else {
        return upstream_json(ctx, "gems", name).await;
    };
    let gems = served_gems(&local.view);
    let latest = gems
        .iter()
        .filter(|(_, _, s)| s.platform == "ruby")
        .max_by(|a, b| compare_versions(&a.2.version, &b.2.version))
        .or_else(|| gems.last())
        .ok_or_else(|| AppError::not_found(format!("{name} has no versions")))?;
    Ok(http::json(StatusCode::OK, &gem_json(ctx, name, latest.1, &latest.2)))
}

/// `api/v1/versions/{name}.json`.
pub async fn versions_json(ctx: &RequestCtx, name: &str) -> AppResult<Response> {
    let Some(local) = ctx.read_local(name, name, Permission::ReleasesRead).await? else {
        return upstream_json(ctx, "versions", name).await;
    };
    let mut gems = served_gems(&local.view);
    gems.sort_by(|a, b| compare_versions(&b.2.version, &a.2.version));
    let list: Vec<Value> = gems
        .iter()
        .map(|(_, f, s)| {
            json!({
                "number": s.version, "platform": s.platform, "prerelease": is_prerelease(&s.version),
                "sha": f.sha256, "created_at": http::iso8601(f.created_at), "summary": s.summary, "licenses": s.licenses,
            })
        })
        .collect();
    Ok(http::json(StatusCode::OK, &Value::Array(list)))
}

/// The Marshal of a gem's `Gem::Specification` (as `_dump` makes it).
fn spec_marshal(spec: &Spec) -> Vec<u8> {
    use super::marshal::{self, Value};
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::Str(s.clone())).collect());
    let deps: Vec<Value> = spec
        .dependencies
        .iter()
        .map(|(name, req)| {
            let r = marshal::requirement(Some(req));
            Value::Object(
                "Gem::Dependency".into(),
                vec![
                    ("@name".into(), Value::Str(name.clone())),
                    ("@requirement".into(), r.clone()),
                    ("@type".into(), Value::Symbol("runtime".into())),
                    ("@prerelease".into(), Value::Bool(false)),
                    ("@version_requirements".into(), r),
                ],
            )
        })
        .collect();
    let fields = Value::Array(vec![
        Value::Str("3.3.15".into()),
        Value::Int(4),
        Value::Str(spec.name.clone()),
        marshal::version(&spec.version),
        Value::Nil,
        Value::Str(spec.summary.clone().unwrap_or_default()),
        marshal::requirement(spec.required_ruby_version.as_deref()),
        marshal::requirement(spec.required_rubygems_version.as_deref()),
        Value::Str(spec.platform.clone()),
        Value::Array(deps),
        Value::Str(String::new()),
        Value::Nil,
        strings(&spec.authors),
        Value::Nil,
        Value::Nil,
        Value::Bool(true),
        Value::Str(spec.platform.clone()),
        strings(&spec.licenses),
        Value::Hash(Vec::new()),
    ]);
    marshal::dump(&Value::UserDefined("Gem::Specification".into(), marshal::dump(&fields)))
}

/// The most an upstream's Marshal index may inflate to.
const MAX_SPECS_BYTES: u64 = 512 * 1024 * 1024;

fn gunzip_bounded(body: &[u8], limit: u64) -> AppResult<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| AppError::Upstream(format!("the upstream's index is not gzip: {e}")))?;
    if out.len() as u64 > limit {
        return Err(AppError::Upstream("the upstream's index is too large".into()));
    }
    Ok(out)
}

/// `specs.4.8.gz` and its kin: the local gems the caller sees and, in a
/// registry with upstreams, the upstream's entries for every other name
/// (read as plain data, written again).
pub async fn specs(ctx: &RequestCtx, kind: super::op::SpecsKind) -> AppResult<Response> {
    use super::marshal::{self, Value};
    use super::op::SpecsKind;
    let set = Arc::new(ctx.local_set().await?);
    let upstream = upstream_doc(ctx, kind.file(), kind.file(), "*/*").await?;
    let generation = upstream.as_ref().map(|(g, _)| *g);
    let variant = match kind {
        SpecsKind::All => "rubygems-specs",
        SpecsKind::Latest => "rubygems-latest-specs",
        SpecsKind::Prerelease => "rubygems-prerelease-specs",
    };
    let rendered = ctx.rendered_set(&Arc::clone(&set), variant, generation, "", move || {
        let mut out = marshal::ArrayWriter::default();
        if let Some((_, up)) = upstream {
            let shadow = set.shadow();
            let raw = gunzip_bounded(&up, MAX_SPECS_BYTES)?;
            marshal::load_array_each(&raw, |entry| {
                let name = match &entry {
                    Value::Array(t) => match t.first() {
                        Some(Value::Str(n)) => n.as_str(),
                        _ => return Err("an index entry without a name".into()),
                    },
                    _ => return Err("an index entry that is not a tuple".into()),
                };
                if !shadow.covers(name) {
                    out.push(&entry);
                }
                Ok(())
            })
            .map_err(|e| AppError::Upstream(format!("the upstream's {}: {e}", kind.file())))?;
        }
        let gems = LocalGems::of(&set);
        let mut entries = gems.served_tuples();
        entries.retain(|(_, v, _)| is_prerelease(v) == (kind == SpecsKind::Prerelease));
        entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| compare_versions(&a.1, &b.1)).then_with(|| a.2.cmp(&b.2)));
        if kind == SpecsKind::Latest {
            let mut latest: Vec<(String, String, String)> = Vec::new();
            for e in entries {
                match latest.iter_mut().find(|l| l.0 == e.0 && l.2 == e.2) {
                    Some(l) => *l = e,
                    None => latest.push(e),
                }
            }
            entries = latest;
        }
        for (n, v, p) in entries {
            out.push(&Value::Array(vec![Value::Str(n), marshal::version(&v), Value::Str(p)]));
        }
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&out.finish()).map_err(|e| AppError::internal(e.to_string()))?;
        gz.finish().map_err(|e| AppError::internal(e.to_string()))
    })
    .await?;
    let mut r = (StatusCode::OK, rendered.body.clone()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(r)
}

/// `quick/Marshal.4.8/{gem}.gemspec.rz`: the deflated Marshal of a gemspec.
pub async fn gemspec(ctx: &RequestCtx, file: &str) -> AppResult<Response> {
    let candidates: Vec<(String, String)> =
        splits(file).into_iter().filter(|(n, _)| super::names::check_name(n).is_ok()).collect();
    for (i, (name, _)) in candidates.iter().enumerate() {
        match ctx.read_local(name, name, Permission::ReleasesRead).await {
            Ok(Some(local)) => {
                let row = local.view.files.iter().find(|f| f.filename == file);
                let yanked = row.is_none_or(|r| local.view.versions.iter().find(|v| v.id == r.version_id).is_none_or(|v| v.yanked));
                let spec = row.and_then(spec_of).filter(|s| !yanked && !s.yanked).ok_or_else(|| AppError::not_found(format!("{file} not found")))?;
                let body = http::blocking(move || {
                    use std::io::Write;
                    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                    z.write_all(&spec_marshal(&spec)).map_err(|e| AppError::internal(e.to_string()))?;
                    z.finish().map_err(|e| AppError::internal(e.to_string()))
                })
                .await?;
                let mut r = (StatusCode::OK, body).into_response();
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                return Ok(r);
            }
            Ok(None) => {}
            Err(e @ AppError::NotFound(_)) if i == 0 => return Err(e),
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if ctx.registry.upstreams.is_empty() {
        return Err(AppError::not_found(format!("{file} not found")));
    }
    let path = format!("quick/Marshal.4.8/{}.gemspec.rz", file.trim_end_matches(".gem"));
    let served = ctx.document(ctx.doc_fetch(CacheKey::new("gemspec").part(file), path, "*/*")).await?;
    let mut r = (StatusCode::OK, served.doc.body.clone()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(r)
}

/// `api/v1/dependencies?gems=a,b`: per version, its runtime dependencies, as
/// Marshal: the local gems asked for, and in a registry with upstreams the
/// upstream's answer for the other names (read as plain data, names that
/// are ours dropped). When the upstream cannot answer for names that are not
/// local (many servers no longer serve this API), the answer is 404 and the
/// client falls back to the indexes.
pub async fn dependencies(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    use super::marshal::{self, Value};
    let names: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "gems")
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|n| super::names::check_name(n).is_ok())
        .take(200)
        .collect();
    let mut entries = Vec::new();
    let mut elsewhere = Vec::new();
    for name in &names {
        let local = match ctx.read_local(name, name, Permission::ReleasesRead).await {
            Ok(Some(l)) => l,
            Ok(None) => {
                elsewhere.push(name.clone());
                continue;
            }
            Err(AppError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        for (_, _, spec) in served_gems(&local.view) {
            let deps: Vec<Value> = spec
                .dependencies
                .iter()
                .map(|(n, r)| Value::Array(vec![Value::Str(n.clone()), Value::Str(r.clone())]))
                .collect();
            entries.push(Value::Hash(vec![
                (Value::Symbol("name".into()), Value::Str(spec.name.clone())),
                (Value::Symbol("number".into()), Value::Str(spec.version.clone())),
                (Value::Symbol("platform".into()), Value::Str(spec.platform.clone())),
                (Value::Symbol("dependencies".into()), Value::Array(deps)),
            ]));
        }
    }
    // Without upstreams, names that are not local have no versions.
    if !elsewhere.is_empty() && !ctx.registry.upstreams.is_empty() {
        {
            let mut found = None;
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("gems", &elsewhere.join(",")).finish();
            for base in &ctx.registry.upstreams {
                let url = crate::upstream::join_url(base, &format!("api/v1/dependencies?{q}"));
                let client = ctx.app.upstream.client_for(&ctx.registry.name);
                match crate::upstream::forward(client, reqwest::Method::GET, &url, &[], None, 16 * 1024 * 1024).await {
                    Ok(f) if f.status.is_success() => {
                        found = Some(f.body);
                        break;
                    }
                    Ok(f) => tracing::debug!(url = %crate::upstream::redact(&url), status = %f.status, "upstream dependency API"),
                    Err(e) => tracing::warn!(url = %crate::upstream::redact(&url), error = %e, "upstream dependency API failed"),
                }
            }
            let Some(body) = found else {
                return Err(AppError::not_found("the upstream does not answer the dependency API: use the compact index"));
            };
            let asked: std::collections::HashSet<String> = elsewhere.into_iter().collect();
            let theirs = http::blocking(move || {
                let v = marshal::load(&body).map_err(|e| AppError::Upstream(format!("the upstream's dependency API: {e}")))?;
                let Value::Array(items) = v else {
                    return Err(AppError::Upstream("the upstream's dependency API answered no list".into()));
                };
                // Only entries for the names asked of it (never one of ours).
                Ok(items
                    .into_iter()
                    .filter(|item| match item {
                        Value::Hash(pairs) => pairs.iter().any(|(k, v)| {
                            *k == Value::Symbol("name".into()) && matches!(v, Value::Str(n) if asked.contains(n))
                        }),
                        _ => false,
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
            entries.extend(theirs);
        }
    }
    let mut r = (StatusCode::OK, marshal::dump(&Value::Array(entries))).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(r)
}
