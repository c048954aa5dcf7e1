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
use crate::serve::{Local, Located, PackageView, RequestCtx};
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

/// A gem's `/info` body.
pub fn info_body(view: &PackageView) -> Vec<u8> {
    let mut body = String::from("---\n");
    for (_, file, spec) in served_gems(view) {
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
        body.push_str(&format!("{} {}|{}\n", version_label(&spec.version, &spec.platform), deps.join(","), reqs.join(",")));
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
    let rendered = ctx.rendered((served.doc.generation, "rubygems-info-upstream", String::new()), move || Ok(body.to_vec())).await?;
    Ok(index_response(headers, &rendered))
}

pub fn info_fetch(ctx: &RequestCtx, name: &str) -> DocFetch {
    ctx.doc_fetch(CacheKey::new("info").part(name), format!("info/{name}"), "text/plain")
}

/// The local gems of the registries this one reads, visible to the caller:
/// (name, versions line part, info MD5).
async fn local_lines(ctx: &RequestCtx) -> AppResult<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for row in ctx.visible_packages("", 1000).await? {
        let view = ctx.app.views.get(&ctx.app.catalog, &row.registry, &row.name).await?;
        let gems = served_gems(&view);
        if gems.is_empty() {
            continue;
        }
        let labels: Vec<String> = gems.iter().map(|(_, _, s)| version_label(&s.version, &s.platform)).collect();
        let md5 = hex::encode(md5::Md5::digest(info_body(&view)));
        out.push((row.name.clone(), labels.join(","), md5));
    }
    out.sort();
    Ok(out)
}

/// `/versions`.
pub async fn versions(ctx: &RequestCtx, headers: &HeaderMap) -> AppResult<Response> {
    let locals = local_lines(ctx).await?;
    let mut body = String::from("created_at: 2024-01-01T00:00:00Z\n---\n");
    if !ctx.registry.upstreams.is_empty() {
        let served = ctx.document(ctx.doc_fetch(CacheKey::new("versions"), "versions".into(), "text/plain")).await?;
        let shadow = ctx.shadow().await?;
        let text = String::from_utf8_lossy(&served.doc.body);
        let mut past_header = false;
        for line in text.lines() {
            if !past_header {
                past_header = line == "---";
                continue;
            }
            let name = line.split(' ').next().unwrap_or("");
            if !shadow.covers(name) {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    for (name, labels, md5) in locals {
        body.push_str(&format!("{name} {labels} {md5}\n"));
    }
    Ok(index_response(headers, &http::rendered(body.into_bytes())))
}

/// `/names`.
pub async fn names(ctx: &RequestCtx, headers: &HeaderMap) -> AppResult<Response> {
    let mut names: Vec<String> = local_lines(ctx).await?.into_iter().map(|(n, ..)| n).collect();
    if !ctx.registry.upstreams.is_empty() {
        let served = ctx.document(ctx.doc_fetch(CacheKey::new("names"), "names".into(), "text/plain")).await?;
        // Local and claimed names are ours only (the local list has the
        // ones the caller may see).
        let shadow = ctx.shadow().await?;
        names.extend(
            String::from_utf8_lossy(&served.doc.body)
                .lines()
                .filter(|l| *l != "---" && !l.is_empty() && !shadow.covers(l))
                .map(str::to_string),
        );
    }
    names.sort();
    names.dedup();
    let body = format!("---\n{}\n", names.join("\n"));
    Ok(index_response(headers, &http::rendered(body.into_bytes())))
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
    ctx.upstream_artifact(key, "application/octet-stream", || async {
        for (name, label) in &candidates {
            let served = match ctx.document(info_fetch(ctx, name)).await {
                Ok(s) => s,
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&served.doc.body);
            let Some(line) = text.lines().find(|l| l.split(' ').next() == Some(label.as_str())) else { continue };
            let checksum = line
                .split('|')
                .nth(1)
                .and_then(|reqs| reqs.split(',').find_map(|r| r.strip_prefix("checksum:")))
                .and_then(ExpectedDigest::from_hex);
            let url = crate::upstream::join_url(&served.doc.header.source, &format!("gems/{file}"));
            return Located::verified(url, checksum);
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

/// `api/v1/gems/{name}.json`: the latest release (local gems).
pub async fn gem_info(ctx: &RequestCtx, name: &str) -> AppResult<Response> {
    let local = ctx.local_package(name, name, Permission::ReleasesRead).await?;
    let gems = served_gems(&local.view);
    let latest = gems
        .iter()
        .filter(|(_, _, s)| s.platform == "ruby")
        .max_by(|a, b| compare_versions(&a.2.version, &b.2.version))
        .or_else(|| gems.last())
        .ok_or_else(|| AppError::not_found(format!("{name} has no versions")))?;
    Ok(http::json(StatusCode::OK, &gem_json(ctx, name, latest.1, &latest.2)))
}

/// `api/v1/versions/{name}.json` (local gems).
pub async fn versions_json(ctx: &RequestCtx, name: &str) -> AppResult<Response> {
    let local = ctx.local_package(name, name, Permission::ReleasesRead).await?;
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

/// The specs index entries of the local gems the caller may see.
async fn local_specs(ctx: &RequestCtx) -> AppResult<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for row in ctx.visible_packages("", 1000).await? {
        let view = ctx.app.views.get(&ctx.app.catalog, &row.registry, &row.name).await?;
        for (_, _, spec) in served_gems(&view) {
            out.push((spec.name, spec.version, spec.platform));
        }
    }
    Ok(out)
}

/// `specs.4.8.gz` and its kin: the local gems' (a registry with upstreams
/// passes the upstream's through: merging Marshal indexes is not done).
pub async fn specs(ctx: &RequestCtx, kind: super::op::SpecsKind) -> AppResult<Response> {
    use super::marshal::{self, Value};
    use super::op::SpecsKind;
    if !ctx.registry.upstreams.is_empty() {
        let served = ctx.document(ctx.doc_fetch(CacheKey::new("specs").part(kind.file()), kind.file().into(), "*/*")).await?;
        let mut r = (StatusCode::OK, served.doc.body.clone()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        return Ok(r);
    }
    let mut entries = local_specs(ctx).await?;
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
    let list = Value::Array(
        entries.into_iter().map(|(n, v, p)| Value::Array(vec![Value::Str(n), marshal::version(&v), Value::Str(p)])).collect(),
    );
    let body = http::blocking(move || {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&marshal::dump(&list)).map_err(|e| AppError::internal(e.to_string()))?;
        gz.finish().map_err(|e| AppError::internal(e.to_string()))
    })
    .await?;
    let mut r = (StatusCode::OK, body).into_response();
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
/// Marshal. Local gems only: a registry with upstreams answers 404 and the
/// client reads the compact index instead.
pub async fn dependencies(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    use super::marshal::{self, Value};
    if !ctx.registry.upstreams.is_empty() {
        return Err(AppError::not_found("the dependency API is not served by registries with upstreams: use the compact index"));
    }
    let names: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "gems")
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|n| super::names::check_name(n).is_ok())
        .take(200)
        .collect();
    let mut entries = Vec::new();
    for name in &names {
        let local = match ctx.read_local(name, name, Permission::ReleasesRead).await {
            Ok(Some(l)) => l,
            Ok(None) | Err(AppError::NotFound(_)) => continue,
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
    let mut r = (StatusCode::OK, marshal::dump(&Value::Array(entries))).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(r)
}
