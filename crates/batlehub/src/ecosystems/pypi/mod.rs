//! PyPI: the Simple repository API, the JSON API and the legacy upload API
//! under `/proxy/{registry}/`.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /simple/` | the project list (local projects) |
//! | `GET /simple/{project}/` | project page: PEP 503 HTML or PEP 691 JSON by `Accept`; a non-normalised name redirects |
//! | `GET /packages/{project}/{filename}` | a distribution file |
//! | `GET /packages/{project}/{filename}.metadata` | its core metadata (PEP 658) |
//! | `GET /pypi/{project}/json`, `/pypi/{project}/{version}/json` | the JSON API (local projects) |
//! | `POST /legacy/` | upload (twine, `uv publish`, `poetry publish`) |
//!
//! Every file link a page serves points at `/packages/{project}/{filename}`;
//! for an upstream project the original location is looked up server-side in
//! the cached upstream page, so a client can only make BatleHub fetch what a
//! configured upstream's page links to. Errors are plain text, with the
//! message also as the HTTP reason phrase, which is what twine prints.

pub mod dist;
pub mod names;
pub mod setup;
pub mod simple;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use self::names::{DistKind, normalize, normalize_version, parse_filename, safe_filename, valid_name};
use self::simple::{DistFile, Format, ProjectPage};
use crate::access::{self, Permission};
use crate::app::App;
use crate::catalog::{FileRow, NewVersion, PackageRow, VersionRow};
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::registry::{self, PublishFile, Registry, RequestCtx};
use crate::upstream::artifacts::{Artifact, ExpectedDigest};
use crate::upstream::documents::{CacheState, DocFetch};
use crate::{http, upstream};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Root,
    /// `name` as requested; `slash` tells whether the URL ended with `/`.
    Project {
        name: String,
        slash: bool,
    },
    File {
        project: String,
        filename: String,
    },
    Metadata {
        project: String,
        filename: String,
    },
    Json {
        project: String,
        version: Option<String>,
    },
    Upload,
}

impl Op {
    pub fn permission(&self) -> Permission {
        match self {
            Op::Root | Op::Project { .. } | Op::Json { .. } | Op::Metadata { .. } => Permission::ReleasesRead,
            // Source archives need source:read; wheels are binary release assets.
            Op::File { filename, .. } => match parse_filename(filename).map(|f| f.kind) {
                Ok(DistKind::Wheel) => Permission::ReleasesRead,
                _ => Permission::SourceRead,
            },
            Op::Upload => Permission::ReleasesWrite,
        }
    }
}

fn decode(seg: &str) -> Result<String, AppError> {
    percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AppError::bad_request("path is not valid UTF-8"))
}

fn project_seg(seg: &str) -> Result<String, AppError> {
    let name = decode(seg)?;
    if !valid_name(&name) {
        return Err(AppError::bad_request(format!("invalid project name `{name}`")));
    }
    Ok(name)
}

pub fn parse(method: &Method, rest: &str) -> Result<Op, AppError> {
    if rest.contains('\\') || rest.contains('\0') {
        return Err(AppError::bad_request("invalid characters in path"));
    }
    let trimmed = rest.strip_prefix('/').unwrap_or(rest);
    let slash = trimmed.ends_with('/');
    let segs: Vec<&str> = trimmed.trim_end_matches('/').split('/').collect();
    if segs.iter().any(|s| s.is_empty()) && trimmed != "simple/" && trimmed != "legacy/" {
        return Err(AppError::not_found("no such endpoint"));
    }
    let get = method == Method::GET || method == Method::HEAD;
    match segs.as_slice() {
        ["simple"] if get => Ok(Op::Root),
        ["simple", name] if get => Ok(Op::Project { name: project_seg(name)?, slash }),
        ["packages", project, file] if get => {
            let project = project_seg(project)?;
            let file = decode(file)?;
            match file.strip_suffix(".metadata") {
                Some(dist) if safe_filename(dist) => Ok(Op::Metadata { project, filename: dist.to_string() }),
                _ if safe_filename(&file) => Ok(Op::File { project, filename: file }),
                _ => Err(AppError::bad_request(format!("invalid file name `{file}`"))),
            }
        }
        ["pypi", project, "json"] if get => Ok(Op::Json { project: project_seg(project)?, version: None }),
        ["pypi", project, version, "json"] if get => {
            Ok(Op::Json { project: project_seg(project)?, version: Some(decode(version)?) })
        }
        ["legacy"] if method == Method::POST => Ok(Op::Upload),
        ["simple", ..] | ["packages", ..] | ["pypi", ..] | ["legacy"] => Err(AppError::MethodNotAllowed),
        _ => Err(AppError::not_found("no such endpoint")),
    }
}

/// Plain text, with the message as the reason phrase (what twine prints).
pub fn render_error(err: &AppError) -> Response {
    let mut r = err.render_with("text/plain; charset=utf-8", |m| format!("{m}\n").into_bytes());
    let phrase: String = err.public_message().chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(200).collect();
    if let Ok(p) = hyper::ext::ReasonPhrase::try_from(phrase) {
        r.extensions_mut().insert(p);
    }
    r
}

/// Parsed upstream pages, per fetched body.
pub struct PypiState {
    parsed: moka::future::Cache<String, Arc<ProjectPage>>,
}

impl Default for PypiState {
    fn default() -> Self {
        PypiState {
            parsed: moka::future::Cache::builder().max_capacity(5_000).time_to_idle(Duration::from_secs(3600)).build(),
        }
    }
}

pub async fn handle(app: App, registry: Arc<Registry>, rest: &str, req: Request, peer: Option<SocketAddr>) -> Response {
    let (parts, body) = req.into_parts();
    let op = match parse(&parts.method, rest) {
        Ok(op) => op,
        Err(e) => return render_error(&e),
    };
    let principal = match app.identity.resolve(&parts.headers).await {
        Ok(p) => p,
        Err(e) => return render_error(&e),
    };
    let base = registry::public_base(&app, &parts.headers, peer);
    let ctx = RequestCtx { app, registry, principal, base };
    match serve(&ctx, &op, &parts, body).await {
        Ok(r) => r,
        Err(e) => {
            registry::audit_denied(
                &ctx,
                &e,
                op == Op::Upload,
                &format!("{op:?}").split([' ', '{', '(']).next().unwrap_or("op").to_lowercase(),
                None,
            );
            render_error(&e)
        }
    }
}

async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
    if *op == Op::Upload {
        ctx.require_local_mode()?;
    }
    ctx.require(op.permission())?;
    let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match op {
        Op::Root => root(ctx, simple::negotiate(accept), &parts.headers).await,
        Op::Project { name, slash } => {
            let normalized = normalize(name);
            if *name != normalized || !slash {
                return Ok(redirect(&format!("{}/simple/{normalized}/", ctx.registry_base())));
            }
            project(ctx, &normalized, simple::negotiate(accept), &parts.headers).await
        }
        Op::File { project, filename } => file(ctx, &normalize(project), filename, false).await,
        Op::Metadata { project, filename } => file(ctx, &normalize(project), filename, true).await,
        Op::Json { project, version } => json_api(ctx, &normalize(project), version.as_deref()).await,
        Op::Upload => upload(ctx, parts, body).await,
    }
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn respond(headers: &HeaderMap, page: &ProjectPage, format: Format, state: Option<CacheState>) -> AppResult<Response> {
    let body = render_page(page, format)?;
    Ok(with_vary(http::document(headers, &http::rendered(body), content_type(format), state)))
}

fn render_page(page: &ProjectPage, format: Format) -> AppResult<Vec<u8>> {
    match format {
        Format::Html => Ok(page.render_html().into_bytes()),
        Format::Json => serde_json::to_vec(&page.render_json()).map_err(|e| AppError::internal(e.to_string())),
    }
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Json => simple::JSON_V1,
    }
}

fn with_vary(mut r: Response) -> Response {
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept, Authorization"));
    r
}

fn file_url(ctx: &RequestCtx, project: &str, filename: &str) -> String {
    format!("{}/packages/{project}/{filename}", ctx.registry_base())
}

/// A local project's page, from rows.
async fn local_page(ctx: &RequestCtx, package: &PackageRow) -> AppResult<(ProjectPage, Vec<VersionRow>, Vec<FileRow>)> {
    let versions = ctx.app.catalog.list_versions(&package.id).await?;
    let files = ctx.app.catalog.list_files(&package.id).await?;
    let by_version: HashMap<&str, &VersionRow> = versions.iter().map(|v| (v.id.as_str(), v)).collect();
    let metadata_files: HashMap<&str, &FileRow> =
        files.iter().filter_map(|f| f.filename.strip_suffix(".metadata").map(|d| (d, f))).collect();
    let mut page_files = Vec::new();
    for f in files.iter().filter(|f| !f.filename.ends_with(".metadata")) {
        let meta: Value = serde_json::from_str(&f.metadata).unwrap_or_else(|_| json!({}));
        let v = by_version.get(f.version_id.as_str());
        page_files.push(DistFile {
            filename: f.filename.clone(),
            url: file_url(ctx, &package.name, &f.filename),
            hashes: BTreeMap::from([("sha256".to_string(), f.sha256.clone())]),
            requires_python: meta
                .get("requires_python")
                .and_then(|r| r.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            yanked: v.filter(|v| v.yanked).map(|v| v.yanked_reason.clone().unwrap_or_default()),
            core_metadata: metadata_files
                .get(f.filename.as_str())
                .map(|m| BTreeMap::from([("sha256".to_string(), m.sha256.clone())])),
            size: Some(f.size as u64),
            upload_time: Some(http::iso8601(f.created_at)),
        });
    }
    let mut vs: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
    vs.sort_by_key(|v| names::parse_version(v));
    Ok((ProjectPage { name: package.display_name.clone(), versions: vs, files: page_files }, versions, files))
}

fn upstream_bases(reg: &Registry) -> Vec<String> {
    reg.upstreams.iter().map(|u| format!("{}/", u.trim_end_matches('/'))).collect()
}

/// An upstream project page, parsed once per fetched body.
async fn upstream_page(
    ctx: &RequestCtx,
    project: &str,
    force_refresh: bool,
) -> AppResult<(Arc<ProjectPage>, CacheState, u64)> {
    let fetch = DocFetch {
        registry: ctx.registry.name.clone(),
        key: format!("simple|{project}"),
        upstreams: upstream_bases(&ctx.registry),
        path: format!("{project}/"),
        accept: format!("{}, {}; q=0.2, text/html; q=0.1", simple::JSON_V1, simple::HTML_V1),
        ttl: Duration::from_secs(ctx.registry.cache.metadata_ttl_secs),
        client: ctx.app.upstream.client_for(&ctx.registry.name).clone(),
        force_refresh,
    };
    let served = ctx.app.documents.get(fetch).await?;
    let key = format!("{}|{project}|{}", ctx.registry.name, served.doc.generation);
    if let Some(p) = ctx.app.eco.pypi.parsed.get(&key).await {
        return Ok((p, served.state, served.doc.generation));
    }
    let page_url = upstream::join_url(&served.doc.header.source, &format!("{project}/"));
    let page = ProjectPage::parse(&served.doc.body, served.doc.header.content_type.as_deref(), &page_url, project)
        .map_err(AppError::Upstream)?;
    let page = Arc::new(page);
    ctx.app.eco.pypi.parsed.insert(key, Arc::clone(&page)).await;
    Ok((page, served.state, served.doc.generation))
}

async fn project(ctx: &RequestCtx, project: &str, format: Format, headers: &HeaderMap) -> AppResult<Response> {
    if let Some((_, package)) =
        registry::read_local(ctx, project, &format!("project {}", project), Permission::ReleasesRead).await?
    {
        let (page, _, _) = local_page(ctx, &package).await?;
        return respond(headers, &page, format, None);
    }
    let (upstream, state, generation) = upstream_page(ctx, project, false).await?;
    // Rendered once per fetched body, format and public address.
    let key = format!("pypi|{}|{project}|{generation}|{format:?}|{}", ctx.registry.name, ctx.base);
    let rendered = match ctx.app.rendered.get(&key).await {
        Some(r) => r,
        None => {
            let mut page = (*upstream).clone();
            for f in &mut page.files {
                f.url = file_url(ctx, project, &f.filename);
            }
            if page.versions.is_empty() {
                // HTML pages carry no PEP 700 `versions`: derive them from the files.
                let mut vs: Vec<String> =
                    page.files.iter().filter_map(|f| parse_filename(&f.filename).ok().map(|d| d.version)).collect();
                vs.sort_by_key(|v| names::parse_version(v));
                vs.dedup();
                page.versions = vs;
            }
            let r = http::rendered(render_page(&page, format)?);
            ctx.app.rendered.insert(key, r.clone()).await;
            r
        }
    };
    Ok(with_vary(http::document(headers, &rendered, content_type(format), Some(state))))
}

async fn root(ctx: &RequestCtx, format: Format, headers: &HeaderMap) -> AppResult<Response> {
    let mut regs: Vec<String> = Vec::new();
    for m in &ctx.registry.members {
        if let Some(r) = ctx.app.registries.get(m)
            && registry::require_on(&ctx.principal, r, Permission::ReleasesRead).is_ok()
        {
            regs.push(r.name.clone());
        }
    }
    if ctx.registry.mode.has_local() {
        regs.push(ctx.registry.name.clone());
    }
    let mut names = Vec::new();
    for row in ctx.app.catalog.search_packages(&regs, "", 1000).await? {
        let claim = registry::claim_for(&ctx.app, &row.registry, &row.name).await?;
        if access::can_see(&ctx.principal, row.visibility, claim.as_ref().map(|c| c.group_id.as_str())) {
            names.push(row.display_name);
        }
    }
    names.sort();
    let (body, ct) = match format {
        Format::Html => (simple::render_root_html(&names).into_bytes(), "text/html; charset=utf-8"),
        Format::Json => (simple::render_root_json(&names).to_string().into_bytes(), simple::JSON_V1),
    };
    Ok(http::document(headers, &http::rendered(body), ct, None))
}

async fn file(ctx: &RequestCtx, project: &str, filename: &str, metadata: bool) -> AppResult<Response> {
    let wanted = if metadata {
        Permission::ReleasesRead
    } else {
        Op::File { project: project.into(), filename: filename.into() }.permission()
    };
    let stored_name = if metadata { format!("{filename}.metadata") } else { filename.to_string() };
    if let Some((reg, package)) = registry::read_local(ctx, project, &format!("project {}", project), wanted).await? {
        let row = ctx
            .app
            .catalog
            .get_file(&package.id, &stored_name)
            .await?
            .ok_or_else(|| AppError::not_found(format!("{stored_name} not found")))?;
        let (f, size) = ctx
            .app
            .blobs
            .open_readable(&row.sha256)
            .await?
            .ok_or_else(|| AppError::internal(format!("blob {} of {stored_name} is missing", row.sha256)))?;
        return Ok(http::artifact(&reg, Artifact::Stored { file: f, size, content_type: row.content_type }, None));
    }
    let key = format!("{}|{project}|{stored_name}", if metadata { "meta" } else { "file" });
    let content_type = if metadata { "text/plain; charset=utf-8" } else { "application/octet-stream" };
    if let Some(hit) = ctx.app.artifacts.cached(&ctx.registry.name, &key).await? {
        return Ok(http::artifact(&ctx.registry, hit, Some(content_type)));
    }
    let mut found = None;
    for force in [false, true] {
        let (page, _, _) = upstream_page(ctx, project, force).await?;
        found = page.files.iter().find(|f| f.filename == filename).cloned();
        if found.is_some() {
            break;
        }
    }
    let dist = found.ok_or_else(|| AppError::not_found(format!("{filename} not found")))?;
    let (url, hashes) = if metadata {
        let hashes = dist
            .core_metadata
            .clone()
            .ok_or_else(|| AppError::not_found(format!("{filename} has no metadata file")))?;
        (format!("{}.metadata", dist.url), hashes)
    } else {
        (dist.url.clone(), dist.hashes.clone())
    };
    let expected = hashes
        .get("sha256")
        .and_then(|h| ExpectedDigest::from_hex(h))
        .or_else(|| hashes.get("sha512").and_then(|h| ExpectedDigest::from_hex(h)));
    let fetch = registry::artifact_fetch(ctx, key, url, expected, content_type);
    let artifact = ctx.app.artifacts.get(fetch).await?;
    Ok(http::artifact(&ctx.registry, artifact, Some(content_type)))
}

fn file_json(ctx: &RequestCtx, project: &str, f: &FileRow, v: &VersionRow) -> Value {
    let meta: Value = serde_json::from_str(&f.metadata).unwrap_or_else(|_| json!({}));
    let time = http::iso8601(f.created_at);
    json!({
        "filename": f.filename,
        "url": file_url(ctx, project, &f.filename),
        "digests": { "sha256": f.sha256, "md5": f.md5 },
        "md5_digest": f.md5,
        "size": f.size,
        "packagetype": meta.get("packagetype").cloned().unwrap_or(json!("sdist")),
        "python_version": meta.get("python_version").cloned().unwrap_or(json!("source")),
        "requires_python": meta.get("requires_python").cloned().unwrap_or(Value::Null),
        "upload_time": time.trim_end_matches('Z'),
        "upload_time_iso_8601": time,
        "yanked": v.yanked,
        "yanked_reason": v.yanked_reason,
    })
}

async fn json_api(ctx: &RequestCtx, project: &str, version: Option<&str>) -> AppResult<Response> {
    let (_, package) = registry::read_local(ctx, project, &format!("project {}", project), Permission::ReleasesRead)
        .await?
        .ok_or_else(|| AppError::not_found(format!("project {project} not found in this registry's local packages")))?;
    let (_, versions, files) = local_page(ctx, &package).await?;
    let dists: Vec<&FileRow> = files.iter().filter(|f| !f.filename.ends_with(".metadata")).collect();
    let mut releases = serde_json::Map::new();
    let mut sorted: Vec<&VersionRow> = versions.iter().collect();
    sorted.sort_by_key(|v| names::parse_version(&v.version));
    for v in &sorted {
        let fs: Vec<Value> =
            dists.iter().filter(|f| f.version_id == v.id).map(|f| file_json(ctx, project, f, v)).collect();
        releases.insert(v.version.clone(), Value::Array(fs));
    }
    let chosen = match version {
        Some(want) => {
            let want =
                normalize_version(want).ok_or_else(|| AppError::not_found(format!("version {want} not found")))?;
            sorted
                .iter()
                .find(|v| v.version == want)
                .copied()
                .ok_or_else(|| AppError::not_found(format!("version {want} not found")))?
        }
        None => sorted
            .iter()
            .rev()
            .find(|v| !v.yanked && names::parse_version(&v.version).is_some_and(|p| !p.any_prerelease()))
            .or_else(|| sorted.last())
            .copied()
            .ok_or_else(|| AppError::not_found(format!("project {project} has no versions")))?,
    };
    let meta: Value = serde_json::from_str(&chosen.metadata).unwrap_or_else(|_| json!({}));
    let info = json!({
        "name": package.display_name,
        "version": chosen.version,
        "summary": meta.get("summary").cloned().unwrap_or(Value::Null),
        "requires_python": meta.get("requires_python").cloned().unwrap_or(Value::Null),
        "requires_dist": meta.get("requires_dist").cloned().unwrap_or(Value::Null),
        "author": meta.get("author").cloned().unwrap_or(Value::Null),
        "license": meta.get("license").cloned().unwrap_or(Value::Null),
        "home_page": meta.get("home_page").cloned().unwrap_or(Value::Null),
        "project_url": format!("{}/simple/{project}/", ctx.registry_base()),
        "package_url": format!("{}/simple/{project}/", ctx.registry_base()),
        "release_url": format!("{}/pypi/{project}/{}/json", ctx.registry_base(), chosen.version),
        "yanked": chosen.yanked,
        "yanked_reason": chosen.yanked_reason,
    });
    let urls: Vec<Value> =
        dists.iter().filter(|f| f.version_id == chosen.id).map(|f| file_json(ctx, project, f, chosen)).collect();
    let mut doc = json!({ "info": info, "last_serial": package.updated_at, "urls": urls, "vulnerabilities": [] });
    if version.is_none() {
        doc["releases"] = Value::Object(releases);
    }
    Ok(http::json(StatusCode::OK, &doc))
}

fn hex_eq(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

async fn upload(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    if let Some(len) =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limit + 32 * 1024 * 1024
    {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let up = crate::multipart::read_upload(body, ct, &ctx.app.blobs, limit, "content").await?;
    if let Some(action) = up.field(":action")
        && action != "file_upload"
    {
        return Err(AppError::bad_request(format!("unsupported :action `{action}`")));
    }
    if up.field("name").is_none() {
        return Err(AppError::bad_request("the upload has no `name`"));
    }
    if up.field("version").is_none() {
        return Err(AppError::bad_request("the upload has no `version`"));
    }
    publish_distribution(ctx, up).await?;
    let mut r = (StatusCode::OK, "OK\n").into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(r)
}

/// Publish one distribution file: the legacy upload API (whose form declares
/// `name` and `version`, checked against the file) and the web UI's Upload
/// card (which sends the file alone: name and version come from the file
/// name and its metadata) both end here. Returns `name version`.
pub async fn publish_distribution(ctx: &RequestCtx, up: Upload) -> AppResult<String> {
    ctx.require_local_mode()?;
    ctx.require(Permission::ReleasesWrite)?;
    let parsed = parse_filename(&up.filename).map_err(AppError::BadRequest)?;
    let declared_name = up.field("name").map(str::to_string);
    let name = declared_name.clone().unwrap_or_else(|| parsed.project.clone());
    if !valid_name(&name) {
        return Err(AppError::bad_request(format!("invalid project name `{name}`")));
    }
    let key = normalize(&name);
    let raw_version = up.field("version").map(str::to_string).unwrap_or_else(|| parsed.version.clone());
    let version = normalize_version(&raw_version)
        .ok_or_else(|| AppError::bad_request(format!("invalid version `{raw_version}` (PEP 440)")))?;
    if parsed.project != key || parsed.version != version {
        return Err(AppError::bad_request(format!("the file name `{}` does not match {name} {version}", up.filename)));
    }
    if let Some(d) = up.field("sha256_digest")
        && !hex_eq(d, &up.pending.digests.sha256)
    {
        return Err(AppError::bad_request("sha256_digest does not match the uploaded file"));
    }
    if let Some(d) = up.field("md5_digest")
        && !hex_eq(d, &up.pending.digests.md5)
    {
        return Err(AppError::bad_request("md5_digest does not match the uploaded file"));
    }
    // The content must be a distribution of what the form declares.
    let path =
        up.pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let kind = parsed.kind;
    let raw_meta = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        dist::extract(kind, std::io::BufReader::new(f))
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?
    .map_err(|e| AppError::bad_request(format!("`{}` is not a valid {}: {e}", up.filename, kind.packagetype())))?;
    let core = dist::parse_metadata(&raw_meta).map_err(|e| AppError::bad_request(format!("`{}`: {e}", up.filename)))?;
    if normalize(&core.name) != key || normalize_version(&core.version).as_deref() != Some(version.as_str()) {
        return Err(AppError::bad_request(format!(
            "`{}` contains {} {}, not {name} {version}",
            up.filename, core.name, core.version
        )));
    }
    let name = declared_name.unwrap_or_else(|| core.name.clone());

    let (package, claim) = registry::own_package(ctx, &key).await?;
    registry::check_package_write(ctx, package.as_ref(), claim.as_ref(), &name).await?;
    if let Some(p) = &package
        && ctx.app.catalog.get_file(&p.id, &up.filename).await?.is_some()
    {
        return Err(AppError::conflict(format!("File already exists: {}", up.filename)));
    }
    let requires_python = up.field("requires_python").map(str::to_string).or(core.requires_python.clone());
    let version_meta = json!({
        "summary": up.field("summary").map(str::to_string).or(core.summary.clone()),
        "requires_python": requires_python,
        "requires_dist": if up.all("requires_dist").is_empty() { core.requires_dist.clone() } else { up.all("requires_dist") },
        "author": up.field("author").map(str::to_string).or(core.author.clone()),
        "license": up.field("license").map(str::to_string).or(core.license.clone()),
        "home_page": up.field("home_page").map(str::to_string).or(core.home_page.clone()),
    });
    let file_meta = json!({
        "packagetype": kind.packagetype(),
        "python_version": up.field("pyversion").map(str::to_string).or(parsed.python_tag.clone()).unwrap_or_else(|| "source".into()),
        "requires_python": requires_python,
    });
    let mut files = Vec::new();
    // A wheel's METADATA is served as `{file}.metadata` (PEP 658).
    if kind == DistKind::Wheel {
        let blobs = ctx.app.blobs.clone();
        let pending_meta = tokio::task::spawn_blocking(move || -> std::io::Result<crate::blobs::PendingBlob> {
            use std::io::Write;
            let mut t = blobs.temp_sync(raw_meta.len() as u64 + 1)?;
            t.write_all(&raw_meta)?;
            t.finish()
        })
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))?;
        files.push(PublishFile {
            filename: format!("{}.metadata", up.filename),
            pending: pending_meta,
            content_type: "text/plain; charset=utf-8".into(),
            metadata: "{}".into(),
        });
    }
    let filename = up.filename.clone();
    files.insert(
        0,
        PublishFile {
            filename: up.filename,
            pending: up.pending,
            content_type: "application/octet-stream".into(),
            metadata: file_meta.to_string(),
        },
    );
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: key.clone(),
        display_name: name.clone(),
        version: version.clone(),
        metadata: version_meta.to_string(),
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: true,
    };
    registry::commit_publish(&ctx.app, new_version, files, ctx.principal.user_id.as_deref()).await.map_err(
        |e| match e {
            AppError::Conflict(_) => AppError::conflict(format!("File already exists: {filename}")),
            other => other,
        },
    )?;
    tracing::info!(registry = %ctx.registry.name, project = %key, version = %version, file = %filename, by = %ctx.principal.label(), "uploaded");
    Ok(format!("{name} {version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/simple/", Op::Root),
            (Method::GET, "/simple/requests/", Op::Project { name: "requests".into(), slash: true }),
            (Method::GET, "/simple/Requests", Op::Project { name: "Requests".into(), slash: false }),
            (
                Method::GET,
                "/packages/demo/demo-1.0.tar.gz",
                Op::File { project: "demo".into(), filename: "demo-1.0.tar.gz".into() },
            ),
            (
                Method::GET,
                "/packages/demo/demo-1.0-py3-none-any.whl.metadata",
                Op::Metadata { project: "demo".into(), filename: "demo-1.0-py3-none-any.whl".into() },
            ),
            (Method::GET, "/pypi/demo/json", Op::Json { project: "demo".into(), version: None }),
            (Method::GET, "/pypi/demo/1.0/json", Op::Json { project: "demo".into(), version: Some("1.0".into()) }),
            (Method::POST, "/legacy/", Op::Upload),
            (Method::POST, "/legacy", Op::Upload),
        ];
        for (m, p, op) in cases {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        for (m, p, status) in [
            (Method::GET, "/simple/..%2f..%2fetc/", 400u16),
            (Method::GET, "/packages/demo/..%2fcatalog.db", 400),
            (Method::GET, "/packages/demo/.hidden", 400),
            (Method::GET, "/nothing", 404),
            (Method::PUT, "/legacy/", 405),
        ] {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
        assert_eq!(
            Op::File { project: "d".into(), filename: "d-1.0.tar.gz".into() }.permission(),
            Permission::SourceRead
        );
        assert_eq!(
            Op::File { project: "d".into(), filename: "d-1.0-py3-none-any.whl".into() }.permission(),
            Permission::ReleasesRead
        );
    }
}
