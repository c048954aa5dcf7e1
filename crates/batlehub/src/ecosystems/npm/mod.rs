//! npm, the reference ecosystem: `/proxy/{registry}/...` speaks the npm
//! registry protocol to npm, pnpm and yarn.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /{name}` (`@scope%2fname` or `@scope/name`) | packument, full or abbreviated (`Accept: application/vnd.npm.install-v1+json`) |
//! | `GET /{name}/{version-or-tag}` | one version's manifest |
//! | `GET /{name}/-/{file}.tgz` | tarball |
//! | `PUT /{name}` | `npm publish` (attachment), `npm deprecate` (no attachment) |
//! | `PUT /{name}/-rev/{rev}`, `DELETE /{name}/-/{file}/-rev/{rev}` | `npm unpublish name@version` |
//! | `DELETE /{name}/-rev/{rev}` | `npm unpublish name --force` |
//! | `GET /-/package/{name}/dist-tags`, `PUT/DELETE …/dist-tags/{tag}` | `npm dist-tag ls/add/rm` |
//! | `GET /-/whoami`, `GET /-/ping`, `GET /-/v1/search` | `npm whoami`, `npm ping`, `npm search` |
//! | `POST /-/npm/v1/security/advisories/bulk`, `…/audits/quick` | `npm audit` |
//!
//! Errors are `{"error": "..."}`: npm prints that field after the status
//! line. Protocol notes: tarball URLs in served packuments always point back
//! here (`{base}/proxy/{registry}/{name}/-/{file}`); publish bodies are
//! streamed (see [`publish`]).

pub mod names;
pub mod op;
pub mod publish;
pub mod render;
pub mod setup;

use std::collections::HashSet;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use self::names::{NpmName, valid_tag, valid_version};
use self::op::Op;
use self::publish::ParsedPublish;
use self::render::{ABBREVIATED, UpstreamPackument};
use crate::access::{Permission, Visibility};
use crate::app::App;
use crate::blobs::{PendingBlob, SyncTempBlob};
use crate::catalog::{NewVersion, PackageRow, now_ms};
use crate::error::{AppError, AppResult};
use crate::registry::{self, PublishFile, Registry, RequestCtx};
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::{CacheState, DocFetch};
use crate::{http, upstream};

/// State npm keeps per application: upstream packuments parsed once per
/// fetched body.
pub struct NpmState {
    parsed: moka::future::Cache<String, Arc<UpstreamPackument>>,
}

impl Default for NpmState {
    fn default() -> Self {
        NpmState {
            parsed: moka::future::Cache::builder().max_capacity(2_000).time_to_idle(Duration::from_secs(3600)).build(),
        }
    }
}

/// Render an error the way npm prints it.
pub fn render_error(err: &AppError) -> Response {
    err.render_with("application/json", |msg| serde_json::to_vec(&json!({ "error": msg })).unwrap_or_default())
}

pub async fn handle(app: App, registry: Arc<Registry>, rest: &str, req: Request, peer: Option<SocketAddr>) -> Response {
    let (parts, body) = req.into_parts();
    let op = match op::parse(&parts.method, rest) {
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
                op.is_write(),
                &format!("{op:?}").split([' ', '{', '(']).next().unwrap_or("op").to_lowercase(),
                op_package(&op),
            );
            render_error(&e)
        }
    }
}

fn op_package(op: &Op) -> Option<String> {
    match op {
        Op::Packument { name }
        | Op::Version { name, .. }
        | Op::Tarball { name, .. }
        | Op::Publish { name, .. }
        | Op::UnpublishPackage { name }
        | Op::DeleteTarball { name, .. }
        | Op::DistTags { name }
        | Op::DistTagSet { name, .. }
        | Op::DistTagDelete { name, .. } => Some(name.full()),
        _ => None,
    }
}

async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
    // Checked once, before any I/O.
    if op.is_write() {
        ctx.require_local_mode()?;
    }
    if let Some(p) = op.permission() {
        ctx.require(p)?;
    }
    match op {
        Op::Ping => Ok(http::json(StatusCode::OK, &json!({}))),
        Op::Whoami => match &ctx.principal.user_id {
            Some(user) => Ok(http::json(StatusCode::OK, &json!({ "username": user }))),
            None => Err(AppError::Unauthenticated),
        },
        Op::Login => Err(AppError::bad_request(
            "BatleHub does not take passwords: put a token in .npmrc as //HOST/proxy/REGISTRY/:_authToken=TOKEN",
        )),
        Op::Search => search(ctx, parts.uri.query().unwrap_or("")).await,
        Op::AuditBulk | Op::AuditQuick => audit(ctx, op, parts, body).await,
        Op::Packument { name } => packument(ctx, name, &parts.headers).await,
        Op::Version { name, spec } => version(ctx, name, spec).await,
        Op::Tarball { name, filename } => tarball(ctx, name, filename).await,
        Op::Publish { name, rev } => publish(ctx, name, rev.as_deref(), parts, body).await,
        Op::UnpublishPackage { name } => unpublish_package(ctx, name).await,
        Op::DeleteTarball { name, filename } => delete_tarball(ctx, name, filename).await,
        Op::DistTags { name } => dist_tags(ctx, name).await,
        Op::DistTagSet { name, tag } => dist_tag_set(ctx, name, tag, body).await,
        Op::DistTagDelete { name, tag } => dist_tag_delete(ctx, name, tag).await,
    }
}

fn wants_abbreviated(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(ABBREVIATED))
}

/// A local package as this request sees it: checked for visibility.
struct Local {
    registry: Arc<Registry>,
    package: PackageRow,
}

/// Where `name` is read from, with read access checked; `None` means upstream.
async fn read_source(ctx: &RequestCtx, name: &NpmName, wanted: Permission) -> AppResult<Option<Local>> {
    let found = registry::read_local(ctx, &name.full(), &name.full(), wanted).await?;
    Ok(found.map(|(registry, package)| Local { registry, package }))
}

async fn local_packument(ctx: &RequestCtx, name: &NpmName, package: &PackageRow) -> AppResult<Value> {
    let catalog = &ctx.app.catalog;
    let versions = catalog.list_versions(&package.id).await?;
    let files = catalog.list_files(&package.id).await?;
    let tags = catalog.list_tags(&package.id).await?;
    let owners = catalog.list_owners(&package.id).await?;
    Ok(render::local_packument(name, package, &versions, &files, &tags, &owners, &ctx.registry_base()))
}

async fn upstream_packument(
    ctx: &RequestCtx,
    name: &NpmName,
    force_refresh: bool,
) -> AppResult<(Arc<UpstreamPackument>, CacheState, u64)> {
    let fetch = DocFetch {
        registry: ctx.registry.name.clone(),
        key: format!("packument|{}", name.full()),
        upstreams: ctx.registry.upstreams.clone(),
        path: name.escaped(),
        accept: "application/json".into(),
        ttl: Duration::from_secs(ctx.registry.cache.metadata_ttl_secs),
        client: ctx.app.upstream.client_for(&ctx.registry.name).clone(),
        force_refresh,
    };
    let served = ctx.app.documents.get(fetch).await?;
    let key = format!("{}|{}|{}", ctx.registry.name, name.full(), served.doc.generation);
    let state = &ctx.app.eco.npm;
    let parsed = match state.parsed.get(&key).await {
        Some(p) => p,
        None => {
            let body = served.doc.body.clone();
            let parsed = tokio::task::spawn_blocking(move || UpstreamPackument::parse(&body))
                .await
                .map_err(|e| AppError::internal(e.to_string()))?
                .map_err(AppError::Upstream)?;
            let parsed = Arc::new(parsed);
            state.parsed.insert(key, Arc::clone(&parsed)).await;
            parsed
        }
    };
    Ok((parsed, served.state, served.doc.generation))
}

async fn packument(ctx: &RequestCtx, name: &NpmName, headers: &HeaderMap) -> AppResult<Response> {
    let abbreviated = wants_abbreviated(headers);
    let content_type = if abbreviated { ABBREVIATED } else { "application/json" };
    if let Some(local) = read_source(ctx, name, Permission::ReleasesRead).await? {
        let doc = local_packument(ctx, name, &local.package).await?;
        let doc = if abbreviated { render::abbreviate(&doc) } else { doc };
        let body = serde_json::to_vec(&doc).map_err(|e| AppError::internal(e.to_string()))?;
        return Ok(http::document(headers, &http::rendered(body), content_type, None));
    }
    let (parsed, state, generation) = upstream_packument(ctx, name, false).await?;
    let base = ctx.registry_base();
    let key = format!("npm|{}|{}|{generation}|{abbreviated}|{base}", ctx.registry.name, name.full());
    let rendered = match ctx.app.rendered.get(&key).await {
        Some(r) => r,
        None => {
            let name = name.clone();
            let r = tokio::task::spawn_blocking(move || {
                let doc = parsed.rewritten(&name, &base);
                let doc = if abbreviated { render::abbreviate(&doc) } else { doc };
                serde_json::to_vec(&doc).map(http::rendered)
            })
            .await
            .map_err(|e| AppError::internal(e.to_string()))?
            .map_err(|e| AppError::internal(e.to_string()))?;
            ctx.app.rendered.insert(key, r.clone()).await;
            r
        }
    };
    Ok(http::document(headers, &rendered, content_type, Some(state)))
}

async fn version(ctx: &RequestCtx, name: &NpmName, spec: &str) -> AppResult<Response> {
    let doc = if let Some(local) = read_source(ctx, name, Permission::ReleasesRead).await? {
        local_packument(ctx, name, &local.package).await?
    } else {
        let (parsed, _, _) = upstream_packument(ctx, name, false).await?;
        parsed.rewritten(name, &ctx.registry_base())
    };
    match render::resolve_spec(&doc, spec) {
        Some(manifest) => Ok(http::json(StatusCode::OK, &manifest)),
        None => Err(AppError::not_found(format!("version {spec} of {name} not found"))),
    }
}

async fn tarball(ctx: &RequestCtx, name: &NpmName, filename: &str) -> AppResult<Response> {
    if let Some(local) = read_source(ctx, name, Permission::SourceRead).await? {
        let file = ctx
            .app
            .catalog
            .get_file(&local.package.id, filename)
            .await?
            .ok_or_else(|| AppError::not_found(format!("{filename} not found")))?;
        let (f, size) = ctx
            .app
            .blobs
            .open_readable(&file.sha256)
            .await?
            .ok_or_else(|| AppError::internal(format!("blob {} of {filename} is missing", file.sha256)))?;
        let artifact = upstream::artifacts::Artifact::Stored { file: f, size, content_type: file.content_type };
        return Ok(http::artifact(&local.registry, artifact, None));
    }
    let key = format!("tarball|{}|{filename}", name.full());
    if let Some(hit) = ctx.app.artifacts.cached(&ctx.registry.name, &key).await? {
        ctx.registry.metrics.artifact_hits.increment(1);
        return Ok(http::artifact(&ctx.registry, hit, Some("application/octet-stream")));
    }
    let (mut parsed, _, _) = upstream_packument(ctx, name, false).await?;
    if !parsed.tarballs.contains_key(filename) {
        // A version newer than our cached packument: ask once more.
        parsed = upstream_packument(ctx, name, true).await?.0;
    }
    let source = parsed.tarballs.get(filename).ok_or_else(|| AppError::not_found(format!("{filename} not found")))?;
    let expected = source
        .integrity
        .as_deref()
        .and_then(ExpectedDigest::from_sri)
        .or_else(|| source.shasum.as_deref().and_then(ExpectedDigest::from_hex));
    let fetch = registry::artifact_fetch(ctx, key, source.url.clone(), expected, "application/octet-stream");
    let artifact = ctx.app.artifacts.get(fetch).await?;
    Ok(http::artifact(&ctx.registry, artifact, Some("application/octet-stream")))
}

/// A publish body, parsed off the async threads with attachments spooled to
/// temporary blobs.
struct Parsed {
    doc: Map<String, Value>,
    attachments: Vec<(String, Option<u64>, Option<PendingBlob>)>,
}

async fn read_publish_body(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Parsed> {
    let artifact_limit = ctx.app.config.limits.max_artifact_size_bytes;
    // Base64 is 4/3 of the bytes; allow room for the manifest and readme.
    let body_limit = artifact_limit.saturating_mul(4) / 3 + 32 * 1024 * 1024;
    if let Some(len) =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > body_limit
    {
        return Err(AppError::PayloadTooLarge(artifact_limit));
    }
    let exceeded = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&exceeded);
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > body_limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "request body too large"));
        }
        Ok(chunk)
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let blobs = ctx.app.blobs.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Parsed, (bool, String)> {
        let reader = std::io::BufReader::with_capacity(256 * 1024, reader);
        let parsed: Result<ParsedPublish<SyncTempBlob>, publish::ParseError> =
            publish::parse_publish(reader, 4, &mut |_name| blobs.temp_sync(artifact_limit));
        match parsed {
            Ok(p) => {
                let mut attachments = Vec::new();
                for a in p.attachments {
                    let pending = match a.data {
                        Some(d) => {
                            Some(d.finish().map_err(|e| (false, format!("could not store the attachment: {e}")))?)
                        }
                        None => None,
                    };
                    attachments.push((a.name, a.length, pending));
                }
                Ok(Parsed { doc: p.doc, attachments })
            }
            Err(publish::ParseError::Io(e)) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                Err((true, e.to_string()))
            }
            Err(e) => Err((false, e.to_string())),
        }
    })
    .await
    .map_err(|e| AppError::internal(format!("publish parser failed: {e}")))?;
    match result {
        Ok(p) => Ok(p),
        Err((too_large, _)) if too_large || exceeded.load(Ordering::Relaxed) => {
            Err(AppError::PayloadTooLarge(artifact_limit))
        }
        Err((_, msg)) => Err(AppError::bad_request(msg)),
    }
}

async fn publish(
    ctx: &RequestCtx,
    name: &NpmName,
    rev: Option<&str>,
    parts: &Parts,
    body: Body,
) -> AppResult<Response> {
    let parsed = read_publish_body(ctx, parts, body).await?;
    match parsed.doc.get("name").and_then(|n| n.as_str()) {
        Some(n) if n == name.full() => {}
        Some(n) => {
            return Err(AppError::bad_request(format!(
                "the package name in the body ({n}) does not match the URL ({name})"
            )));
        }
        None => return Err(AppError::bad_request("the body has no package name")),
    }
    if parsed.attachments.is_empty() {
        return update_metadata(ctx, name, rev, parsed.doc).await;
    }
    publish_version(ctx, name, parsed).await
}

async fn publish_version(ctx: &RequestCtx, name: &NpmName, parsed: Parsed) -> AppResult<Response> {
    let Parsed { doc, attachments } = parsed;
    let versions = doc
        .get("versions")
        .and_then(|v| v.as_object())
        .ok_or_else(|| AppError::bad_request("the body has no versions"))?;
    if versions.len() != 1 {
        return Err(AppError::bad_request("publish exactly one version at a time"));
    }
    let Some((version, manifest)) = versions.iter().next() else {
        return Err(AppError::bad_request("the body has no versions"));
    };
    if !valid_version(version) {
        return Err(AppError::bad_request(format!("invalid version `{version}`: versions must be valid semver")));
    }
    let mut manifest =
        manifest.as_object().cloned().ok_or_else(|| AppError::bad_request("a version manifest must be an object"))?;
    if manifest.get("name").and_then(|v| v.as_str()) != Some(name.full().as_str()) {
        return Err(AppError::bad_request("the version manifest's name does not match the package"));
    }
    if manifest.get("version").and_then(|v| v.as_str()) != Some(version.as_str()) {
        return Err(AppError::bad_request("the version manifest's version does not match its key"));
    }
    let wanted = [format!("{}-{version}.tgz", name.full()), name.tarball_filename(version)];
    let mut tarball = None;
    for (att_name, length, pending) in attachments {
        if wanted.contains(&att_name) {
            tarball = Some((length, pending));
        }
    }
    let Some((declared_len, Some(pending))) = tarball else {
        return Err(AppError::bad_request(format!("the tarball attachment {} is missing", wanted[1])));
    };
    if declared_len.is_some_and(|l| l != pending.digests.size) {
        return Err(AppError::bad_request("the attachment length does not match its data"));
    }
    if pending.digests.size == 0 || !pending.head.starts_with(&[0x1f, 0x8b]) {
        return Err(AppError::bad_request("the attachment is not a gzipped tarball"));
    }
    let dist = manifest.get("dist").and_then(|d| d.as_object()).cloned().unwrap_or_default();
    if let Some(sri) = dist.get("integrity").and_then(|v| v.as_str())
        && ExpectedDigest::from_sri(sri).is_some_and(|d| !d.matches(&pending.digests))
    {
        return Err(AppError::bad_request("the tarball does not match dist.integrity"));
    }
    if let Some(sha1) = dist.get("shasum").and_then(|v| v.as_str())
        && !sha1.eq_ignore_ascii_case(&pending.digests.sha1)
    {
        return Err(AppError::bad_request("the tarball does not match dist.shasum"));
    }

    let (package, claim) = registry::own_package(ctx, &name.full()).await?;
    if package.is_none() {
        name.check_new().map_err(AppError::BadRequest)?;
    }
    registry::check_package_write(ctx, package.as_ref(), claim.as_ref(), &name.full()).await?;
    if let Some(p) = &package
        && ctx.app.catalog.get_version(&p.id, version).await?.is_some()
    {
        return Err(conflict(name, version));
    }

    // The stored manifest: what the client sent, minus what the server derives.
    manifest.remove("_attachments");
    manifest.insert("dist".into(), json!({}));
    if render::has_install_script(&manifest) {
        manifest.insert("hasInstallScript".into(), json!(true));
    }
    if let Some(user) = &ctx.principal.user_id {
        manifest.insert("_npmUser".into(), json!({ "name": user }));
    }
    let tags: Vec<String> = match doc.get("dist-tags").and_then(|t| t.as_object()) {
        Some(t) => t
            .iter()
            .filter(|(tag, v)| valid_tag(tag) && v.as_str() == Some(version.as_str()))
            .map(|(tag, _)| tag.clone())
            .collect(),
        None => vec!["latest".into()],
    };
    let visibility = match doc.get("access").and_then(|a| a.as_str()) {
        Some("restricted") => Visibility::Internal,
        _ => Visibility::Public,
    };
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: name.full(),
        display_name: name.full(),
        version: version.clone(),
        metadata: serde_json::to_string(&manifest).map_err(|e| AppError::internal(e.to_string()))?,
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags,
        visibility,
        append: false,
    };
    let file = PublishFile {
        filename: name.tarball_filename(version),
        pending,
        content_type: "application/octet-stream".into(),
        metadata: "{}".into(),
    };
    let outcome = registry::commit_publish(&ctx.app, new_version, vec![file], ctx.principal.user_id.as_deref())
        .await
        .map_err(|e| match e {
        AppError::Conflict(_) => conflict(name, version),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, package = %name, version = %version, by = %ctx.principal.label(), "published");
    Ok(http::json(
        StatusCode::CREATED,
        &json!({ "ok": true, "success": true, "id": name.full(), "rev": format!("{}-{}", 1, outcome.version_id) }),
    ))
}

fn conflict(name: &NpmName, version: &str) -> AppError {
    AppError::conflict(format!("cannot publish over the previously published version {version} of {name}"))
}

/// `PUT /{name}` without attachments: `npm deprecate`, and with `-rev` the
/// packument rewrite of `npm unpublish name@version`.
async fn update_metadata(
    ctx: &RequestCtx,
    name: &NpmName,
    rev: Option<&str>,
    doc: Map<String, Value>,
) -> AppResult<Response> {
    let (package, claim) = registry::own_package(ctx, &name.full()).await?;
    let package =
        package.ok_or_else(|| AppError::not_found(format!("{name} not found in registry {}", ctx.registry.name)))?;
    registry::check_package_write(ctx, Some(&package), claim.as_ref(), &name.full()).await?;
    let empty = Map::new();
    let body_versions = doc.get("versions").and_then(|v| v.as_object()).unwrap_or(&empty);
    let catalog = &ctx.app.catalog;
    let existing = catalog.list_versions(&package.id).await?;
    let existing_names: HashSet<&str> = existing.iter().map(|v| v.version.as_str()).collect();
    if let Some(unknown) = body_versions.keys().find(|v| !existing_names.contains(v.as_str())) {
        return Err(AppError::bad_request(format!("version {unknown} has no tarball: publish it with its attachment")));
    }
    let mut removed = Vec::new();
    for v in &existing {
        match body_versions.get(&v.version) {
            Some(sent) => {
                let wanted = sent.get("deprecated").and_then(|d| d.as_str()).filter(|d| !d.is_empty());
                let mut stored: Map<String, Value> = serde_json::from_str(&v.metadata).unwrap_or_default();
                let current = stored.get("deprecated").and_then(|d| d.as_str()).map(str::to_string);
                if current.as_deref() != wanted {
                    match wanted {
                        Some(msg) => stored.insert("deprecated".into(), json!(msg)),
                        None => stored.remove("deprecated"),
                    };
                    let text = serde_json::to_string(&stored).map_err(|e| AppError::internal(e.to_string()))?;
                    catalog.update_version_metadata(&v.id, &text).await?;
                    registry::audit_ok(
                        ctx,
                        if wanted.is_some() { "deprecate" } else { "undeprecate" },
                        &name.full(),
                        Some(&v.version),
                    );
                }
            }
            None if rev.is_some() => {
                let files = catalog.delete_version(&package.id, &v.version).await?;
                registry::audit_ok(ctx, "unpublish", &name.full(), Some(&v.version));
                removed.extend(files);
            }
            None => {}
        }
    }
    if rev.is_some()
        && let Some(tags) = doc.get("dist-tags").and_then(|t| t.as_object())
    {
        let remaining: HashSet<&str> =
            existing.iter().map(|v| v.version.as_str()).filter(|v| body_versions.contains_key(*v)).collect();
        for (tag, version) in catalog.list_tags(&package.id).await? {
            match tags.get(&tag).and_then(|v| v.as_str()) {
                Some(v) if v == version => {}
                Some(v) if remaining.contains(v) && valid_tag(&tag) => catalog.set_tag(&package.id, &tag, v).await?,
                _ => {
                    catalog.delete_tag(&package.id, &tag).await?;
                }
            }
        }
        for (tag, v) in tags {
            if let Some(v) = v.as_str()
                && remaining.contains(v)
                && valid_tag(tag)
            {
                catalog.set_tag(&package.id, tag, v).await?;
            }
        }
    }
    if !removed.is_empty() && catalog.list_versions(&package.id).await?.is_empty() {
        removed.extend(catalog.delete_package(&package.id).await?);
    }
    registry::release_blobs(&ctx.app, &removed).await;
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

async fn unpublish_package(ctx: &RequestCtx, name: &NpmName) -> AppResult<Response> {
    let (package, claim) = registry::own_package(ctx, &name.full()).await?;
    let package =
        package.ok_or_else(|| AppError::not_found(format!("{name} not found in registry {}", ctx.registry.name)))?;
    registry::check_package_write(ctx, Some(&package), claim.as_ref(), &name.full()).await?;
    let files = ctx.app.catalog.delete_package(&package.id).await?;
    registry::release_blobs(&ctx.app, &files).await;
    registry::audit_ok(ctx, "unpublish", &name.full(), None);
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

async fn delete_tarball(ctx: &RequestCtx, name: &NpmName, filename: &str) -> AppResult<Response> {
    let (package, claim) = registry::own_package(ctx, &name.full()).await?;
    let package =
        package.ok_or_else(|| AppError::not_found(format!("{name} not found in registry {}", ctx.registry.name)))?;
    registry::check_package_write(ctx, Some(&package), claim.as_ref(), &name.full()).await?;
    // npm deletes the tarball after removing its version from the packument;
    // if the version is still there, the tarball's deletion removes it.
    if let Some(file) = ctx.app.catalog.get_file(&package.id, filename).await?
        && let Some(v) = ctx.app.catalog.list_versions(&package.id).await?.into_iter().find(|v| v.id == file.version_id)
    {
        let files = ctx.app.catalog.delete_version(&package.id, &v.version).await?;
        registry::release_blobs(&ctx.app, &files).await;
        registry::audit_ok(ctx, "unpublish", &name.full(), Some(&v.version));
    }
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

async fn dist_tags(ctx: &RequestCtx, name: &NpmName) -> AppResult<Response> {
    let doc = if let Some(local) = read_source(ctx, name, Permission::ReleasesRead).await? {
        local_packument(ctx, name, &local.package).await?
    } else {
        upstream_packument(ctx, name, false).await?.0.value.clone()
    };
    Ok(http::json(StatusCode::OK, doc.get("dist-tags").unwrap_or(&json!({}))))
}

async fn dist_tag_set(ctx: &RequestCtx, name: &NpmName, tag: &str, body: Body) -> AppResult<Response> {
    let raw = http::read_small_body(body, 64 * 1024).await?;
    let version = serde_json::from_slice::<String>(&raw)
        .ok()
        .or_else(|| std::str::from_utf8(&raw).ok().map(|s| s.trim().trim_matches('"').to_string()))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::bad_request("the body must be the version, as a JSON string"))?;
    let (package, claim) = registry::own_package(ctx, &name.full()).await?;
    let package =
        package.ok_or_else(|| AppError::not_found(format!("{name} not found in registry {}", ctx.registry.name)))?;
    registry::check_package_write(ctx, Some(&package), claim.as_ref(), &name.full()).await?;
    if ctx.app.catalog.get_version(&package.id, &version).await?.is_none() {
        return Err(AppError::not_found(format!("version {version} of {name} not found")));
    }
    ctx.app.catalog.set_tag(&package.id, tag, &version).await?;
    registry::audit_ok(ctx, "dist-tag-add", &name.full(), Some(&version));
    Ok(http::json(StatusCode::CREATED, &json!({ "ok": true })))
}

async fn dist_tag_delete(ctx: &RequestCtx, name: &NpmName, tag: &str) -> AppResult<Response> {
    if tag == "latest" {
        return Err(AppError::bad_request("the latest tag cannot be removed"));
    }
    let (package, claim) = registry::own_package(ctx, &name.full()).await?;
    let package =
        package.ok_or_else(|| AppError::not_found(format!("{name} not found in registry {}", ctx.registry.name)))?;
    registry::check_package_write(ctx, Some(&package), claim.as_ref(), &name.full()).await?;
    if !ctx.app.catalog.delete_tag(&package.id, tag).await? {
        return Err(AppError::not_found(format!("{name} has no tag {tag}")));
    }
    registry::audit_ok(ctx, "dist-tag-rm", &name.full(), None);
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

/// Local registries this request reads packages from: readable members, then
/// this registry if it holds packages.
fn local_registries(ctx: &RequestCtx) -> Vec<Arc<Registry>> {
    let mut out = Vec::new();
    for m in &ctx.registry.members {
        if let Some(r) = ctx.app.registries.get(m)
            && registry::require_on(&ctx.principal, r, Permission::ReleasesRead).is_ok()
        {
            out.push(Arc::clone(r));
        }
    }
    if ctx.registry.mode.has_local() {
        out.push(Arc::clone(&ctx.registry));
    }
    out
}

/// Names that must never be answered from upstream: every local package of
/// this registry and its members, and every claimed prefix.
async fn shadowed(ctx: &RequestCtx) -> AppResult<(HashSet<String>, Vec<(String, String)>)> {
    let mut regs: Vec<String> = ctx.registry.members.clone();
    if ctx.registry.mode.has_local() {
        regs.push(ctx.registry.name.clone());
    }
    let names: HashSet<String> = ctx.app.catalog.list_package_names(&regs).await?.into_iter().collect();
    let mut claims = Vec::new();
    for r in &regs {
        for c in registry::claims(&ctx.app, r).await? {
            claims.push((c.prefix, c.group_id));
        }
    }
    Ok((names, claims))
}

fn is_shadowed(name: &str, names: &HashSet<String>, claims: &[(String, String)]) -> bool {
    names.contains(name) || crate::access::longest_claim(name, claims).is_some()
}

async fn search(ctx: &RequestCtx, query: &str) -> AppResult<Response> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let text = param("text").unwrap_or_default();
    let size = param("size").and_then(|s| s.parse::<usize>().ok()).unwrap_or(20).clamp(1, 250);
    let from = param("from").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);

    let mut objects = Vec::new();
    let locals = local_registries(ctx);
    let reg_names: Vec<String> = locals.iter().map(|r| r.name.clone()).collect();
    let rows = ctx.app.catalog.search_packages(&reg_names, &text, 250).await?;
    for row in rows {
        let claim = registry::claim_for(&ctx.app, &row.registry, &row.name).await?;
        if !crate::access::can_see(&ctx.principal, row.visibility, claim.as_ref().map(|c| c.group_id.as_str())) {
            continue;
        }
        let Ok(name) = NpmName::parse(&row.name) else { continue };
        let versions = ctx.app.catalog.list_versions(&row.id).await?;
        let tags = ctx.app.catalog.list_tags(&row.id).await?;
        let latest = tags
            .iter()
            .find(|(t, _)| t == "latest")
            .map(|(_, v)| v.clone())
            .or_else(|| render::highest_version(versions.iter().map(|v| v.version.as_str())));
        let Some(latest) = latest else { continue };
        let manifest: Value = versions
            .iter()
            .find(|v| v.version == latest)
            .and_then(|v| serde_json::from_str(&v.metadata).ok())
            .unwrap_or_else(|| json!({}));
        let owners = ctx.app.catalog.list_owners(&row.id).await?;
        let maintainers: Vec<Value> =
            owners.iter().filter(|o| !o.is_group()).map(|o| json!({"username": o.principal_id, "email": ""})).collect();
        objects.push(json!({
            "package": {
                "name": name.full(),
                "scope": name.scope().unwrap_or("unscoped"),
                "version": latest,
                "description": manifest.get("description").cloned().unwrap_or(json!("")),
                "keywords": manifest.get("keywords").cloned().unwrap_or(json!([])),
                "date": render::iso8601(row.updated_at),
                "links": {},
                "publisher": {"username": row.created_by.clone().unwrap_or_default(), "email": ""},
                "maintainers": maintainers,
            },
            "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0}},
            "searchScore": 100000.0,
            "flags": {},
        }));
    }
    let local_total = objects.len();
    let mut total = local_total;
    if ctx.registry.mode.has_upstream() && !ctx.registry.upstreams.is_empty() {
        let (names, claims) = shadowed(ctx).await?;
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("text", &text)
            .append_pair("size", &size.to_string())
            .append_pair("from", &from.saturating_sub(local_total).to_string())
            .finish();
        for base in &ctx.registry.upstreams {
            let url = upstream::join_url(base, &format!("-/v1/search?{q}"));
            let client = ctx.app.upstream.client_for(&ctx.registry.name);
            match upstream::forward(
                client,
                reqwest::Method::GET,
                &url,
                &[("accept", "application/json".into())],
                None,
                16 * 1024 * 1024,
            )
            .await
            {
                Ok(f) if f.status.is_success() => {
                    let v: Value = serde_json::from_slice(&f.body).unwrap_or_else(|_| json!({}));
                    let mut upstream_total = v.get("total").and_then(|t| t.as_u64()).unwrap_or(0) as usize;
                    for o in v.get("objects").and_then(|o| o.as_array()).cloned().unwrap_or_default() {
                        let n = o.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()).unwrap_or("");
                        if n.is_empty() || is_shadowed(n, &names, &claims) {
                            upstream_total = upstream_total.saturating_sub(1);
                            continue;
                        }
                        objects.push(o);
                    }
                    total += upstream_total;
                    break;
                }
                Ok(f) => tracing::warn!(url = %url, status = %f.status, "upstream search failed"),
                Err(e) => tracing::warn!(url = %url, error = %e, "upstream search failed"),
            }
        }
    }
    let page: Vec<Value> = if from < local_total {
        objects.into_iter().skip(from).take(size).collect()
    } else {
        // Upstream results were already asked from the right offset.
        objects.into_iter().skip(local_total).take(size).collect()
    };
    Ok(http::json(StatusCode::OK, &json!({ "objects": page, "total": total, "time": render::iso8601(now_ms()) })))
}

/// `npm audit`: forwarded to the upstream (without names that are ours), or
/// an empty report where there is no upstream.
async fn audit(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
    let quick = matches!(op, Op::AuditQuick);
    let empty = || {
        if quick {
            json!({
                "actions": [], "advisories": {}, "muted": [],
                "metadata": {
                    "vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0},
                    "dependencies": 0, "devDependencies": 0, "optionalDependencies": 0, "totalDependencies": 0
                }
            })
        } else {
            json!({})
        }
    };
    if !ctx.registry.mode.has_upstream() || ctx.registry.upstreams.is_empty() {
        return Ok(http::json(StatusCode::OK, &empty()));
    }
    let raw = http::read_small_body(body, 32 * 1024 * 1024).await?;
    let gzipped = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let mut payload = if gzipped {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(128 * 1024 * 1024)
            .read_to_end(&mut out)
            .map_err(|e| AppError::bad_request(format!("the audit report is not valid gzip: {e}")))?;
        out
    } else {
        raw.to_vec()
    };
    // Never tell the upstream which private packages we have.
    let (names, claims) = shadowed(ctx).await?;
    if !quick && let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&payload) {
        map.retain(|n, _| !is_shadowed(n, &names, &claims));
        if map.is_empty() {
            return Ok(http::json(StatusCode::OK, &json!({})));
        }
        payload = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
    }
    let path = if quick { "-/npm/v1/security/audits/quick" } else { "-/npm/v1/security/advisories/bulk" };
    let client = ctx.app.upstream.client_for(&ctx.registry.name);
    let mut last = None;
    for base in &ctx.registry.upstreams {
        let url = upstream::join_url(base, path);
        match upstream::forward(
            client,
            reqwest::Method::POST,
            &url,
            &[("content-type", "application/json".into()), ("accept", "application/json".into())],
            Some(bytes::Bytes::from(payload.clone())),
            32 * 1024 * 1024,
        )
        .await
        {
            Ok(f) if f.status.is_success() => {
                let mut r = Response::new(Body::from(f.body));
                r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
                return Ok(r);
            }
            Ok(f) if f.status == reqwest::StatusCode::NOT_FOUND => last = Some("not found".to_string()),
            Ok(f) => last = Some(format!("HTTP {}", f.status)),
            Err(e) => last = Some(e.to_string()),
        }
    }
    match last.as_deref() {
        Some("not found") => Err(AppError::not_found("the upstream has no audit endpoint")),
        Some(e) => Err(AppError::upstream(format!("audit upstream failed: {e}"))),
        None => Ok(http::json(StatusCode::OK, &empty())),
    }
}
