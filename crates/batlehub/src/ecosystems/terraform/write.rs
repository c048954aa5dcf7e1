//! Publishing: a module's `.tar.gz` (`POST`/`PUT v1/modules/{ns}/{name}/{system}/{version}`),
//! a provider's zip for one platform (`PUT v1/providers/{ns}/{type}/{version}/{os}/{arch}`,
//! `?protocols=5.0,6.0`), and yanking (`DELETE` of a version).
//!
//! Bodies are streamed to a temporary file and read there ([`super::archive`])
//! before anything is written. A module version is published once (409
//! after). A provider version gathers one package per platform: the same
//! platform twice is 409.

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use super::archive;
use super::names::{Module, Platform, Provider};
use super::read::ProviderFile;
use super::upstream::protocol_ok;
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::{Owned, RequestCtx};

async fn receive(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<PendingBlob> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    http::check_content_length(&parts.headers, limit, limit)?;
    Ok(ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?)
}

/// Run `read` over the uploaded file on the blocking pool.
async fn read_upload<T: Send + 'static>(
    pending: &PendingBlob,
    read: impl FnOnce(std::io::BufReader<std::fs::File>) -> Result<T, String> + Send + 'static,
) -> AppResult<T> {
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    http::blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| AppError::internal(e.to_string()))?;
        read(std::io::BufReader::new(f)).map_err(AppError::bad_request)
    })
    .await
}

fn new_version(ctx: &RequestCtx, owned: &Owned, display: &str, version: &str, append: bool) -> NewVersion {
    let display = owned.package.as_ref().map(|p| p.display_name.clone()).unwrap_or_else(|| display.to_string());
    NewVersion {
        registry: ctx.registry.name.clone(),
        name: owned.key.clone(),
        display_name: display,
        version: version.to_string(),
        metadata: "{}".into(),
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append,
    }
}

/// Commit, a conflict in the write becoming `exists`.
async fn commit(
    ctx: &RequestCtx,
    owned: &Owned,
    version: NewVersion,
    files: Vec<PublishFile>,
    exists: impl Fn() -> AppError,
) -> AppResult<()> {
    ctx.commit_publish(owned, version, files).await.map_err(|e| match e {
        AppError::Conflict(m) if m.contains("never used twice") => AppError::Conflict(m),
        AppError::Conflict(_) => exists(),
        other => other,
    })?;
    Ok(())
}

/// A module version's `.tar.gz`: 201.
pub async fn module(ctx: &RequestCtx, module: &Module, version: &str, parts: &Parts, body: Body) -> AppResult<Response> {
    let pending = receive(ctx, parts, body).await?;
    if !http::is_gzip(&pending.head) {
        return Err(AppError::bad_request("a module is uploaded as a .tar.gz archive"));
    }
    read_upload(&pending, archive::module_tgz).await?;
    let owned = ctx.own_package(&module.key()).await?;
    ctx.check_write(&owned, &module.path()).await?;
    let exists = || AppError::conflict(format!("module {} {version} is already published", module.path()));
    if let Some(p) = &owned.package
        && ctx.app.catalog.list_versions(&p.id).await?.iter().any(|v| v.version == version)
    {
        return Err(exists());
    }
    let file = PublishFile {
        filename: module.file(version),
        pending,
        content_type: "application/gzip".into(),
        metadata: "{}".into(),
    };
    commit(ctx, &owned, new_version(ctx, &owned, &module.path(), version, false), vec![file], exists).await?;
    ctx.audit_ok("publish", &module.path(), Some(version));
    Ok(http::json_status(StatusCode::CREATED, json!({"module": module.path(), "version": version})))
}

/// The plugin protocols of `?protocols=5.0,6.0` (5.0 when not given).
fn protocols(query: Option<&str>) -> AppResult<Vec<String>> {
    let given = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "protocols").map(|(_, v)| v.into_owned())
    });
    let Some(given) = given else { return Ok(vec!["5.0".into()]) };
    let list: Vec<String> = given.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
    if list.is_empty() || list.len() > 8 || !list.iter().all(|p| protocol_ok(p)) {
        return Err(AppError::bad_request(format!("invalid protocols `{given}`: versions such as 5.0,6.0")));
    }
    Ok(list)
}

/// One platform's package of a provider version: 201.
pub async fn provider(
    ctx: &RequestCtx,
    provider: &Provider,
    version: &str,
    platform: &Platform,
    parts: &Parts,
    body: Body,
) -> AppResult<Response> {
    let protocols = protocols(parts.uri.query())?;
    let pending = receive(ctx, parts, body).await?;
    if !pending.head.starts_with(b"PK") {
        return Err(AppError::bad_request("a provider package is uploaded as a zip archive"));
    }
    let kind = provider.kind.clone();
    let zip = read_upload(&pending, move |r| archive::provider_zip(r, &kind)).await?;
    let owned = ctx.own_package(&provider.key()).await?;
    ctx.check_write(&owned, &provider.path()).await?;
    let filename = provider.file(version, platform);
    let exists = || {
        AppError::conflict(format!(
            "provider {} {version} already has a package for {}_{}",
            provider.path(),
            platform.os,
            platform.arch
        ))
    };
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_file(&p.id, &filename).await?.is_some()
    {
        return Err(exists());
    }
    let meta = ProviderFile { os: platform.os.clone(), arch: platform.arch.clone(), protocols, h1: zip.h1 };
    let metadata = serde_json::to_string(&meta).map_err(|e| AppError::internal(e.to_string()))?;
    let file = PublishFile { filename: filename.clone(), pending, content_type: "application/zip".into(), metadata };
    commit(ctx, &owned, new_version(ctx, &owned, &provider.path(), version, true), vec![file], exists).await?;
    let label = format!("{version} {}_{}", platform.os, platform.arch);
    ctx.audit_ok("publish", &provider.path(), Some(&label));
    Ok(http::json_status(
        StatusCode::CREATED,
        json!({"provider": provider.path(), "version": version, "os": platform.os, "arch": platform.arch, "filename": filename}),
    ))
}

/// `DELETE` of a module or provider version: yanked (left out of the
/// versions lists and the mirror; its files stay readable).
pub async fn yank(ctx: &RequestCtx, key: &str, display: &str, version: &str) -> AppResult<Response> {
    let package = ctx.writable_package(key, display).await?;
    let row = ctx
        .app
        .catalog
        .list_versions(&package.id)
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| AppError::not_found(format!("{display} {version} not found")))?;
    ctx.app.catalog.set_yanked(&row.id, true, None, &package.check()).await?;
    ctx.audit_ok("yank", display, Some(version));
    Ok(http::ok_json(json!({"yanked": display, "version": version})))
}
