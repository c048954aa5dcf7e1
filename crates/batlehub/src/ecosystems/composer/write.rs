//! Composer writes: `POST api/upload` of a ZIP (the user guide's `curl`, and
//! the Upload card), and yanking a version.

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Value, json};

use super::archive;
use super::names::{PackageName, normalize};
use super::read::dist_file;
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

/// `POST api/upload[?version=...]`.
pub async fn upload(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    http::check_content_length(&parts.headers, limit, limit)?;
    let version = parts
        .uri
        .query()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "version").map(|(_, v)| v.into_owned()));
    let pending = ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?;
    let (name, version) = publish_zip(ctx, pending, version).await?;
    Ok(http::json(StatusCode::CREATED, &json!({ "status": "ok", "name": name, "version": version })))
}

/// Publish an uploaded archive; returns its name and version. The caller
/// has checked the write class.
pub async fn publish_zip(ctx: &RequestCtx, pending: PendingBlob, version: Option<String>) -> AppResult<(String, String)> {
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let mut manifest = http::blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| AppError::internal(e.to_string()))?;
        archive::composer_json(std::io::BufReader::new(f)).map_err(|e| AppError::bad_request(format!("invalid package archive: {e}")))
    })
    .await?;
    let declared = manifest.get("name").and_then(Value::as_str).ok_or_else(|| AppError::bad_request("composer.json has no \"name\""))?;
    let name = PackageName::parse(declared).map_err(AppError::BadRequest)?;
    let version = match version.or_else(|| manifest.get("version").and_then(Value::as_str).map(str::to_string)) {
        Some(v) => v.trim().to_string(),
        None => return Err(AppError::bad_request("no version: set \"version\" in composer.json or ?version= on the upload URL")),
    };
    let normalized = normalize(&version).ok_or_else(|| AppError::bad_request(format!("invalid version `{version}`")))?;
    if !version.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c)) {
        return Err(AppError::bad_request(format!("invalid version `{version}`")));
    }
    let owned = ctx.own_package(name.as_str()).await?;
    ctx.check_write(&owned, name.as_str()).await?;
    if let Some(p) = &owned.package {
        let taken = ctx.app.catalog.list_versions(&p.id).await?.into_iter().any(|v| normalize(&v.version).as_deref() == Some(normalized.as_str()));
        if taken {
            return Err(AppError::conflict(format!("{name} {version} already exists: bump the version")));
        }
    }
    // What the metadata serves of composer.json (not its own version/name).
    manifest.remove("version");
    manifest.remove("name");
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: name.to_string(),
        display_name: name.to_string(),
        version: version.clone(),
        metadata: Value::Object(manifest).to_string(),
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: false,
    };
    let files = vec![PublishFile { filename: dist_file(&version), pending, content_type: "application/zip".into(), metadata: "{}".into() }];
    ctx.commit_publish(&owned, new_version, files).await.map_err(|e| match e {
        AppError::Conflict(_) => AppError::conflict(format!("{name} {version} already exists: bump the version")),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, package = %name, version = %version, by = %ctx.principal.label(), "uploaded");
    Ok((name.to_string(), version))
}

/// `DELETE api/packages/{vendor}/{package}/versions/{version}`: hidden from
/// the metadata, 404 on download.
pub async fn yank(ctx: &RequestCtx, name: &PackageName, version: &str) -> AppResult<Response> {
    let package = ctx.writable_package(name.as_str(), name.as_str()).await?;
    let row = ctx
        .app
        .catalog
        .list_versions(&package.id)
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| AppError::not_found(format!("{name} {version} not found")))?;
    ctx.app.catalog.set_yanked(&row.id, true, Some("yanked"), &package.check()).await?;
    ctx.audit_ok("yank", name.as_str(), Some(version));
    Ok(http::json(StatusCode::OK, &json!({ "status": "ok", "name": name.as_str(), "version": version, "yanked": true })))
}
