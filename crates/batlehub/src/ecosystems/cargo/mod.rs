//! Cargo: a sparse index and the registry web API under `/proxy/{registry}/`.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /registry/config.json` | index configuration (`dl`, `api`, `auth-required`); open to anonymous callers |
//! | `GET /registry/{1,2,3/a,ab/cd}/{name}` | index file: one JSON line per version |
//! | `GET /api/v1/crates/{name}/{version}/download` | the `.crate` (the `dl` template) |
//! | `PUT /api/v1/crates/new` | `cargo publish` |
//! | `DELETE /api/v1/crates/{name}/{version}/yank`, `PUT …/unyank` | `cargo yank [--undo]` |
//! | `GET/PUT/DELETE /api/v1/crates/{name}/owners` | `cargo owner --list/--add/--remove` |
//! | `GET /api/v1/crates?q=&per_page=` | `cargo search` |
//!
//! Errors are `{"errors":[{"detail":"..."}]}`: cargo prints the details.
//! Protocol reference: the Cargo book, "Registries" (index format, sparse
//! protocol, web API). Crate names are compared case-insensitively with `-`
//! and `_` equivalent (the catalog key is [`names::normalize`]); cargo asks
//! for index files by the lowercased name. Proxy mode passes upstream index
//! files through unchanged (they hold no URLs) and finds downloads through
//! the upstream's own `config.json` `dl` template; the index `cksum` is the
//! digest every download is verified against.

pub mod names;
pub mod publish;
pub mod setup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use self::names::{CrateName, index_prefix, parse_index_path};
use crate::access::{self, Decision, Permission, Principal};
use crate::app::App;
use crate::catalog::{NewVersion, PackageRow};
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::{self, PublishFile, Registry, RequestCtx};
use crate::upstream::artifacts::{Artifact, ExpectedDigest};
use crate::upstream::documents::DocFetch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Config,
    Index { name: CrateName },
    Download { name: CrateName, version: String },
    Publish,
    Yank { name: CrateName, version: String },
    Unyank { name: CrateName, version: String },
    OwnersList { name: CrateName },
    OwnersAdd { name: CrateName },
    OwnersRemove { name: CrateName },
    Search,
}

impl Op {
    pub fn permission(&self) -> Option<Permission> {
        match self {
            Op::Config => None,
            Op::Index { .. } | Op::Search | Op::OwnersList { .. } => Some(Permission::ReleasesRead),
            Op::Download { .. } => Some(Permission::SourceRead),
            Op::Publish | Op::Yank { .. } | Op::Unyank { .. } | Op::OwnersAdd { .. } | Op::OwnersRemove { .. } => {
                Some(Permission::ReleasesWrite)
            }
        }
    }

    pub fn is_write(&self) -> bool {
        self.permission() == Some(Permission::ReleasesWrite)
    }
}

fn crate_name(seg: &str) -> Result<CrateName, AppError> {
    let decoded =
        percent_decode_str(seg).decode_utf8().map_err(|_| AppError::bad_request("path is not valid UTF-8"))?;
    CrateName::parse(&decoded).map_err(AppError::BadRequest)
}

fn version_seg(seg: &str) -> Result<String, AppError> {
    let v = percent_decode_str(seg)
        .decode_utf8()
        .map_err(|_| AppError::bad_request("path is not valid UTF-8"))?
        .into_owned();
    if semver::Version::parse(&v).is_err() {
        return Err(AppError::bad_request(format!("invalid version `{v}`")));
    }
    Ok(v)
}

/// Parse `rest`, the raw path after `/proxy/{registry}`.
pub fn parse(method: &Method, rest: &str) -> Result<Op, AppError> {
    if rest.contains('\\') || rest.contains('\0') {
        return Err(AppError::bad_request("invalid characters in path"));
    }
    let trimmed = rest.strip_prefix('/').unwrap_or(rest);
    let segs: Vec<&str> = trimmed.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(AppError::not_found("no such endpoint"));
    }
    let get = method == Method::GET || method == Method::HEAD;
    match segs.as_slice() {
        ["registry", "config.json"] if get => Ok(Op::Config),
        ["registry", rest @ ..] if get && !rest.is_empty() => {
            if rest.iter().any(|s| s.contains('%') || *s == ".." || *s == ".") {
                return Err(AppError::bad_request("invalid index path"));
            }
            parse_index_path(rest)
                .map(|name| Op::Index { name })
                .ok_or_else(|| AppError::not_found("no such index file"))
        }
        ["api", "v1", "crates", "new"] if method == Method::PUT => Ok(Op::Publish),
        ["api", "v1", "crates"] if get => Ok(Op::Search),
        ["api", "v1", "crates", name, version, "download"] if get => {
            Ok(Op::Download { name: crate_name(name)?, version: version_seg(version)? })
        }
        ["api", "v1", "crates", name, version, "yank"] if method == Method::DELETE => {
            Ok(Op::Yank { name: crate_name(name)?, version: version_seg(version)? })
        }
        ["api", "v1", "crates", name, version, "unyank"] if method == Method::PUT => {
            Ok(Op::Unyank { name: crate_name(name)?, version: version_seg(version)? })
        }
        ["api", "v1", "crates", name, "owners"] => {
            let name = crate_name(name)?;
            match *method {
                Method::GET | Method::HEAD => Ok(Op::OwnersList { name }),
                Method::PUT => Ok(Op::OwnersAdd { name }),
                Method::DELETE => Ok(Op::OwnersRemove { name }),
                _ => Err(AppError::MethodNotAllowed),
            }
        }
        ["registry", ..] | ["api", "v1", "crates", ..] => Err(AppError::MethodNotAllowed),
        _ => Err(AppError::not_found("no such endpoint")),
    }
}

/// Render an error the way cargo prints it.
pub fn render_error(err: &AppError) -> Response {
    err.render_with("application/json", |msg| {
        serde_json::to_vec(&json!({ "errors": [{ "detail": msg }] })).unwrap_or_default()
    })
}

pub async fn handle(app: App, registry: Arc<Registry>, rest: &str, req: Request, peer: Option<SocketAddr>) -> Response {
    let (parts, body) = req.into_parts();
    let op = match parse(&parts.method, rest) {
        Ok(op) => op,
        Err(e) => return render_error(&e),
    };
    let principal = match app.identity.resolve(&parts.headers).await {
        Ok(p) => p,
        Err(e) if op == Op::Config => {
            // config.json always answers: cargo reads it before sending a token.
            let _ = e;
            Principal::anonymous()
        }
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
                op.is_write(),
                &format!("{op:?}").split([' ', '{', '(']).next().unwrap_or("op").to_lowercase(),
                None,
            );
            render_error(&e)
        }
    }
}

async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
    if op.is_write() {
        ctx.require_local_mode()?;
    }
    if let Some(p) = op.permission() {
        ctx.require(p)?;
    }
    match op {
        Op::Config => Ok(config_json(ctx)),
        Op::Index { name } => index(ctx, name, &parts.headers).await,
        Op::Download { name, version } => download(ctx, name, version).await,
        Op::Publish => publish(ctx, parts, body).await,
        Op::Yank { name, version } => set_yanked(ctx, name, version, true).await,
        Op::Unyank { name, version } => set_yanked(ctx, name, version, false).await,
        Op::OwnersList { name } => owners_list(ctx, name).await,
        Op::OwnersAdd { name } => owners_change(ctx, name, body, true).await,
        Op::OwnersRemove { name } => owners_change(ctx, name, body, false).await,
        Op::Search => search(ctx, parts.uri.query().unwrap_or("")).await,
    }
}

/// `config.json`: downloads and the API point back here; `auth-required`
/// whenever an anonymous caller may not read, so cargo sends its token.
fn config_json(ctx: &RequestCtx) -> Response {
    let base = ctx.registry_base();
    let anonymous = Principal::anonymous();
    let mut auth_required =
        access::decide(&anonymous, &ctx.registry.grants, Permission::ReleasesRead) != Decision::Allow;
    for m in &ctx.registry.members {
        if let Some(r) = ctx.app.registries.get(m) {
            auth_required |= access::decide(&anonymous, &r.grants, Permission::ReleasesRead) != Decision::Allow;
        }
    }
    let mut doc = json!({
        "dl": format!("{base}/api/v1/crates/{{crate}}/{{version}}/download"),
        "api": base,
    });
    if auth_required {
        doc["auth-required"] = json!(true);
    }
    http::json(StatusCode::OK, &doc)
}

async fn local_index_body(ctx: &RequestCtx, package: &PackageRow) -> AppResult<Vec<u8>> {
    let versions = ctx.app.catalog.list_versions(&package.id).await?;
    let mut out = Vec::new();
    for v in versions {
        let mut line: Value = serde_json::from_str(&v.metadata).map_err(|e| AppError::internal(e.to_string()))?;
        line["yanked"] = json!(v.yanked);
        serde_json::to_writer(&mut out, &line).map_err(|e| AppError::internal(e.to_string()))?;
        out.push(b'\n');
    }
    Ok(out)
}

fn upstream_bases(reg: &Registry) -> Vec<String> {
    reg.upstreams
        .iter()
        .map(|u| {
            let plain = u.strip_prefix("sparse+").unwrap_or(u);
            format!("{}/", plain.trim_end_matches('/'))
        })
        .collect()
}

fn doc_fetch(ctx: &RequestCtx, key: String, path: String, upstreams: Vec<String>, force_refresh: bool) -> DocFetch {
    DocFetch {
        registry: ctx.registry.name.clone(),
        key,
        upstreams,
        path,
        accept: "*/*".into(),
        ttl: Duration::from_secs(ctx.registry.cache.metadata_ttl_secs),
        client: ctx.app.upstream.client_for(&ctx.registry.name).clone(),
        force_refresh,
    }
}

async fn index(ctx: &RequestCtx, name: &CrateName, headers: &HeaderMap) -> AppResult<Response> {
    if let Some((_, package)) =
        registry::read_local(ctx, &name.key(), &format!("crate {}", name.as_str()), Permission::ReleasesRead).await?
    {
        let body = local_index_body(ctx, &package).await?;
        if body.is_empty() {
            return Err(AppError::not_found(format!("crate {} not found", name.as_str())));
        }
        return Ok(http::document(headers, &http::rendered(body), "text/plain; charset=utf-8", None));
    }
    let lower = name.as_str().to_lowercase();
    let fetch = doc_fetch(ctx, format!("index|{lower}"), name.index_path(), upstream_bases(&ctx.registry), false);
    let served = ctx.app.documents.get(fetch).await?;
    // The validator is computed once per fetched body, not per request.
    let key = format!("cargo|{}|{lower}|{}", ctx.registry.name, served.doc.generation);
    let rendered = match ctx.app.rendered.get(&key).await {
        Some(r) => r,
        None => {
            let r = crate::app::Rendered { body: served.doc.body.clone(), etag: http::etag_of(&served.doc.body) };
            ctx.app.rendered.insert(key, r.clone()).await;
            r
        }
    };
    Ok(http::document(headers, &rendered, "text/plain; charset=utf-8", Some(served.state)))
}

/// Expand an upstream `dl` template for one crate version.
pub fn expand_dl(dl: &str, name: &str, version: &str, cksum: &str) -> String {
    let markers = ["{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"];
    if !markers.iter().any(|m| dl.contains(m)) {
        return format!("{}/{name}/{version}/download", dl.trim_end_matches('/'));
    }
    dl.replace("{crate}", name)
        .replace("{version}", version)
        .replace("{prefix}", &index_prefix(name))
        .replace("{lowerprefix}", &index_prefix(&name.to_lowercase()))
        .replace("{sha256-checksum}", cksum)
}

async fn download(ctx: &RequestCtx, name: &CrateName, version: &str) -> AppResult<Response> {
    if let Some((reg, package)) =
        registry::read_local(ctx, &name.key(), &format!("crate {}", name.as_str()), Permission::SourceRead).await?
    {
        let filename = format!("{}-{version}.crate", package.display_name);
        let file = ctx
            .app
            .catalog
            .get_file(&package.id, &filename)
            .await?
            .ok_or_else(|| AppError::not_found(format!("{} {version} not found", package.display_name)))?;
        let (f, size) = ctx
            .app
            .blobs
            .open_readable(&file.sha256)
            .await?
            .ok_or_else(|| AppError::internal(format!("blob {} of {filename} is missing", file.sha256)))?;
        return Ok(http::artifact(&reg, Artifact::Stored { file: f, size, content_type: file.content_type }, None));
    }
    let lower = name.as_str().to_lowercase();
    let key = format!("crate|{lower}|{version}");
    if let Some(hit) = ctx.app.artifacts.cached(&ctx.registry.name, &key).await? {
        return Ok(http::artifact(&ctx.registry, hit, Some("application/x-tar")));
    }
    // The index line gives the checksum and the real name; the upstream that
    // served it gives the download template.
    let mut line = None;
    let mut source = String::new();
    for force in [false, true] {
        let fetch = doc_fetch(ctx, format!("index|{lower}"), name.index_path(), upstream_bases(&ctx.registry), force);
        let served = ctx.app.documents.get(fetch).await?;
        source = served.doc.header.source.clone();
        line = served
            .doc
            .body
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
            .find(|v| v.get("vers").and_then(|x| x.as_str()) == Some(version));
        if line.is_some() {
            break;
        }
    }
    let line = line.ok_or_else(|| AppError::not_found(format!("{} {version} not found", name.as_str())))?;
    let cksum = line.get("cksum").and_then(|c| c.as_str()).unwrap_or("").to_string();
    let real_name = line.get("name").and_then(|n| n.as_str()).unwrap_or(name.as_str()).to_string();
    let config =
        ctx.app.documents.get(doc_fetch(ctx, "config.json".into(), "config.json".into(), vec![source], false)).await?;
    let config: Value = serde_json::from_slice(&config.doc.body)
        .map_err(|e| AppError::upstream(format!("upstream config.json is not JSON: {e}")))?;
    let dl = config
        .get("dl")
        .and_then(|d| d.as_str())
        .ok_or_else(|| AppError::upstream("upstream config.json has no dl"))?;
    let url = expand_dl(dl, &real_name, version, &cksum);
    let fetch = registry::artifact_fetch(ctx, key, url, ExpectedDigest::from_hex(&cksum), "application/x-tar");
    let artifact = ctx.app.artifacts.get(fetch).await?;
    Ok(http::artifact(&ctx.registry, artifact, Some("application/x-tar")))
}

async fn publish(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    let body_limit = limit + publish::MAX_METADATA as u64 + 8;
    if let Some(len) =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > body_limit
    {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > body_limit {
            return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "request body too large"));
        }
        Ok(chunk)
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let blobs = ctx.app.blobs.clone();
    let parsed =
        tokio::task::spawn_blocking(move || -> AppResult<(publish::PublishMeta, crate::blobs::PendingBlob)> {
            let mut reader = std::io::BufReader::with_capacity(256 * 1024, reader);
            let mut sink =
                blobs.temp_sync(limit).map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))?;
            let (json, _) = publish::read_frame(&mut reader, limit, &mut sink).map_err(|e| match e {
                publish::FrameError::TooLarge(n) => AppError::PayloadTooLarge(n),
                publish::FrameError::Io(io) if io.kind() == std::io::ErrorKind::FileTooLarge => {
                    AppError::PayloadTooLarge(limit)
                }
                publish::FrameError::Io(io) => AppError::bad_request(format!("could not read the publish body: {io}")),
                publish::FrameError::Invalid(m) => AppError::BadRequest(m),
            })?;
            let meta = publish::parse_meta(&json).map_err(AppError::BadRequest)?;
            let pending = sink.finish().map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))?;
            Ok((meta, pending))
        })
        .await
        .map_err(|e| AppError::internal(format!("publish parser failed: {e}")))??;
    let (meta, pending) = parsed;

    let name = CrateName::parse(&meta.name).map_err(AppError::BadRequest)?;
    if semver::Version::parse(&meta.vers).is_err() {
        return Err(AppError::bad_request(format!("invalid version `{}`: versions must be valid semver", meta.vers)));
    }
    for d in &meta.deps {
        CrateName::parse(&d.name).map_err(|e| AppError::bad_request(format!("dependency: {e}")))?;
    }
    if pending.digests.size == 0 || !pending.head.starts_with(&[0x1f, 0x8b]) {
        return Err(AppError::bad_request("the .crate is not a gzipped tarball"));
    }
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let (n, v) = (meta.name.clone(), meta.vers.clone());
    tokio::task::spawn_blocking(move || publish::check_crate_file(&path, &n, &v))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .map_err(AppError::BadRequest)?;

    let (package, claim) = registry::own_package(ctx, &name.key()).await?;
    if let Some(p) = &package
        && p.display_name != meta.name
    {
        return Err(AppError::conflict(format!(
            "crate `{}` conflicts with the existing crate `{}`",
            meta.name, p.display_name
        )));
    }
    registry::check_package_write(ctx, package.as_ref(), claim.as_ref(), &meta.name).await?;
    if let Some(p) = &package
        && ctx.app.catalog.get_version(&p.id, &meta.vers).await?.is_some()
    {
        return Err(already_uploaded(&meta.name, &meta.vers));
    }
    let line = publish::index_entry(&meta, &pending.digests.sha256);
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: name.key(),
        display_name: meta.name.clone(),
        version: meta.vers.clone(),
        metadata: serde_json::to_string(&line).map_err(|e| AppError::internal(e.to_string()))?,
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: false,
    };
    let extra =
        json!({ "description": meta.description, "license": meta.license, "keywords": meta.keywords }).to_string();
    let file = PublishFile {
        filename: format!("{}-{}.crate", meta.name, meta.vers),
        pending,
        content_type: "application/x-tar".into(),
        metadata: extra,
    };
    registry::commit_publish(&ctx.app, new_version, vec![file], ctx.principal.user_id.as_deref()).await.map_err(
        |e| match e {
            AppError::Conflict(_) => already_uploaded(&meta.name, &meta.vers),
            other => other,
        },
    )?;
    tracing::info!(registry = %ctx.registry.name, krate = %meta.name, version = %meta.vers, by = %ctx.principal.label(), "published");
    Ok(http::json(
        StatusCode::OK,
        &json!({ "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] } }),
    ))
}

fn already_uploaded(name: &str, version: &str) -> AppError {
    AppError::conflict(format!("crate version `{name}@{version}` is already uploaded"))
}

async fn writable_package(ctx: &RequestCtx, name: &CrateName) -> AppResult<PackageRow> {
    let (package, claim) = registry::own_package(ctx, &name.key()).await?;
    let package = package.ok_or_else(|| {
        AppError::not_found(format!("crate {} not found in registry {}", name.as_str(), ctx.registry.name))
    })?;
    registry::check_package_write(ctx, Some(&package), claim.as_ref(), &package.display_name).await?;
    Ok(package)
}

async fn set_yanked(ctx: &RequestCtx, name: &CrateName, version: &str, yanked: bool) -> AppResult<Response> {
    let package = writable_package(ctx, name).await?;
    let v = ctx
        .app
        .catalog
        .get_version(&package.id, version)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} {version} not found", package.display_name)))?;
    ctx.app.catalog.set_yanked(&v.id, yanked, None).await?;
    registry::audit_ok(ctx, if yanked { "yank" } else { "unyank" }, &package.display_name, Some(version));
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

fn owner_login(o: &crate::catalog::OwnerRow) -> String {
    if o.is_group() { format!("group:{}", o.principal_id) } else { o.principal_id.clone() }
}

async fn owners_list(ctx: &RequestCtx, name: &CrateName) -> AppResult<Response> {
    let (_, package) =
        registry::read_local(ctx, &name.key(), &format!("crate {}", name.as_str()), Permission::ReleasesRead)
            .await?
            .ok_or_else(|| AppError::not_found(format!("crate {} not found", name.as_str())))?;
    let owners = ctx.app.catalog.list_owners(&package.id).await?;
    let users: Vec<Value> = owners
        .iter()
        .enumerate()
        .map(|(i, o)| json!({ "id": i + 1, "login": owner_login(o), "name": o.principal_id, "kind": if o.is_group() { "team" } else { "user" } }))
        .collect();
    Ok(http::json(StatusCode::OK, &json!({ "users": users })))
}

/// `cargo owner --add/--remove`: logins are user ids; `group:NAME` names a group.
async fn owners_change(ctx: &RequestCtx, name: &CrateName, body: Body, add: bool) -> AppResult<Response> {
    let raw = http::read_small_body(body, 64 * 1024).await?;
    let req: Value =
        serde_json::from_slice(&raw).map_err(|e| AppError::bad_request(format!("invalid owners body: {e}")))?;
    let logins: Vec<String> = req
        .get("users")
        .and_then(|u| u.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if logins.is_empty() || logins.iter().any(|l| l.is_empty() || l.len() > 256 || l.chars().any(char::is_control)) {
        return Err(AppError::bad_request("the body must be {\"users\": [\"login\", ...]}"));
    }
    let package = writable_package(ctx, name).await?;
    let catalog = &ctx.app.catalog;
    if !add {
        let current = catalog.list_owners(&package.id).await?;
        let remaining = current.iter().filter(|o| !logins.contains(&owner_login(o))).count();
        if remaining == 0 {
            return Err(AppError::bad_request("cannot remove every owner of a crate"));
        }
    }
    for login in &logins {
        let (is_group, id) = match login.strip_prefix("group:") {
            Some(g) => (true, access::normalize_group(g)),
            None => (false, login.clone()),
        };
        if add {
            catalog.add_owner(&package.id, is_group, &id).await?;
        } else {
            catalog.remove_owner(&package.id, is_group, &id).await?;
        }
    }
    registry::audit_ok(ctx, if add { "owner-add" } else { "owner-remove" }, &package.display_name, None);
    let verb = if add { "added as owners of" } else { "removed from the owners of" };
    Ok(http::json(
        StatusCode::OK,
        &json!({ "ok": true, "msg": format!("{} {verb} crate {}", logins.join(", "), package.display_name) }),
    ))
}

async fn search(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let q = names::normalize(&param("q").unwrap_or_default());
    let per_page = param("per_page").and_then(|s| s.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
    let mut regs: Vec<Arc<Registry>> = Vec::new();
    for m in &ctx.registry.members {
        if let Some(r) = ctx.app.registries.get(m)
            && registry::require_on(&ctx.principal, r, Permission::ReleasesRead).is_ok()
        {
            regs.push(Arc::clone(r));
        }
    }
    if ctx.registry.mode.has_local() {
        regs.push(Arc::clone(&ctx.registry));
    }
    let names: Vec<String> = regs.iter().map(|r| r.name.clone()).collect();
    let rows = ctx.app.catalog.search_packages(&names, &q, 1000).await?;
    let mut crates = Vec::new();
    for row in rows {
        let claim = registry::claim_for(&ctx.app, &row.registry, &row.name).await?;
        if !access::can_see(&ctx.principal, row.visibility, claim.as_ref().map(|c| c.group_id.as_str())) {
            continue;
        }
        let versions = ctx.app.catalog.list_versions(&row.id).await?;
        let best = versions
            .iter()
            .filter(|v| !v.yanked)
            .filter_map(|v| semver::Version::parse(&v.version).ok().map(|s| (s, v)))
            .max_by(|a, b| a.0.cmp(&b.0));
        let Some((max_version, _)) = best else { continue };
        let files = ctx.app.catalog.list_files(&row.id).await?;
        let description = files
            .iter()
            .rev()
            .find_map(|f| {
                serde_json::from_str::<Value>(&f.metadata)
                    .ok()
                    .and_then(|m| m.get("description").and_then(|d| d.as_str()).map(str::to_string))
            })
            .unwrap_or_default();
        crates.push(
            json!({ "name": row.display_name, "max_version": max_version.to_string(), "description": description }),
        );
    }
    let total = crates.len();
    crates.truncate(per_page);
    Ok(http::json(StatusCode::OK, &json!({ "crates": crates, "meta": { "total": total } })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> CrateName {
        CrateName::parse(s).expect("valid")
    }

    #[test]
    fn route_table() {
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/registry/config.json", Op::Config),
            (Method::GET, "/registry/1/a", Op::Index { name: n("a") }),
            (Method::GET, "/registry/2/ab", Op::Index { name: n("ab") }),
            (Method::GET, "/registry/3/a/abc", Op::Index { name: n("abc") }),
            (Method::GET, "/registry/se/rd/serde", Op::Index { name: n("serde") }),
            (Method::GET, "/registry/my/-l/my-lib", Op::Index { name: n("my-lib") }),
            (Method::PUT, "/api/v1/crates/new", Op::Publish),
            (Method::GET, "/api/v1/crates", Op::Search),
            (
                Method::GET,
                "/api/v1/crates/serde/1.0.0/download",
                Op::Download { name: n("serde"), version: "1.0.0".into() },
            ),
            (Method::DELETE, "/api/v1/crates/serde/1.0.0/yank", Op::Yank { name: n("serde"), version: "1.0.0".into() }),
            (
                Method::PUT,
                "/api/v1/crates/serde/1.0.0/unyank",
                Op::Unyank { name: n("serde"), version: "1.0.0".into() },
            ),
            (Method::GET, "/api/v1/crates/serde/owners", Op::OwnersList { name: n("serde") }),
            (Method::PUT, "/api/v1/crates/serde/owners", Op::OwnersAdd { name: n("serde") }),
            (Method::DELETE, "/api/v1/crates/serde/owners", Op::OwnersRemove { name: n("serde") }),
        ];
        for (m, p, op) in cases {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        let refusals: Vec<(Method, &str, u16)> = vec![
            (Method::GET, "/registry/xx/yy/serde", 404),
            (Method::GET, "/registry/../../etc/passwd", 400),
            (Method::GET, "/registry/%2e%2e/x", 400),
            (Method::GET, "/registry/1/1", 404),
            (Method::GET, "/api/v1/crates/1bad/1.0.0/download", 400),
            (Method::GET, "/api/v1/crates/ok/1.0/download", 400),
            (Method::POST, "/api/v1/crates/new", 405),
            (Method::GET, "/nosuch", 404),
            (Method::GET, "/registry//a", 404),
        ];
        for (m, p, status) in refusals {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
    }

    #[test]
    fn dl_templates() {
        let ck = "ab".repeat(32);
        assert_eq!(
            expand_dl("https://dl.example/crates", "Serde", "1.0.0", &ck),
            "https://dl.example/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            expand_dl(
                "https://dl.example/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}",
                "Serde",
                "1.0.0",
                &ck
            ),
            format!("https://dl.example/Se/rd/se/rd/Serde/Serde-1.0.0.crate?sum={ck}")
        );
        assert_eq!(
            expand_dl("https://dl.example/{crate}/{version}", "ab", "0.1.0", &ck),
            "https://dl.example/ab/0.1.0"
        );
    }
}
