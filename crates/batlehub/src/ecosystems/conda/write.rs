//! Conda uploads: `POST {subdir}/` with a `.conda` or `.tar.bz2` as the
//! body (the user guide's `curl --data-binary`), or `PUT {subdir}/{file}`.
//!
//! The body is streamed to a temporary file, its format sniffed, its
//! `info/index.json` read ([`super::package`]), and its subdir checked
//! against the URL's. One version holds every build and format of it (each
//! a file `{subdir}/{name}-{version}-{build}.{ext}`); the same file twice
//! is 409. Repodata is rendered from the catalog, so the upload is in the
//! very next read.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::names::{self, FileName};
use super::package;
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

/// `POST {subdir}/`, `PUT {subdir}/{file}`: 201 with what was published.
pub async fn upload(ctx: &RequestCtx, subdir: &str, named: Option<&FileName>, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    http::check_content_length(&parts.headers, limit, limit)?;
    let pending = ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?;
    let (file, stored) = publish(ctx, Some(subdir), named, pending).await?;
    Ok(http::json_status(
        StatusCode::CREATED,
        json!({ "ok": true, "name": file.name, "version": file.version, "build": file.build, "subdir": subdir, "filename": file.file(), "path": stored }),
    ))
}

/// Publish the package in `pending` to `subdir` (or the one it names, for
/// the Upload card); the caller has checked the write class.
pub async fn publish(ctx: &RequestCtx, subdir: Option<&str>, named: Option<&FileName>, pending: PendingBlob) -> AppResult<(FileName, String)> {
    let format = package::sniff(&pending.head)
        .ok_or_else(|| AppError::bad_request("not a conda package: expected a .conda (ZIP) or .tar.bz2 file"))?;
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let index = http::blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| AppError::internal(e.to_string()))?;
        package::read_index(std::io::BufReader::new(f), format).map_err(|e| AppError::bad_request(format!("invalid conda package: {e}")))
    })
    .await?;
    let in_package = index.subdir.clone().unwrap_or_else(|| "noarch".into());
    let subdir = subdir.unwrap_or(&in_package);
    if in_package != subdir {
        return Err(AppError::bad_request(format!(
            "{}-{}-{} is built for {in_package}: upload it to {in_package}/, not {subdir}/",
            index.name, index.version, index.build
        )));
    }
    let file = FileName { name: index.name.clone(), version: index.version.clone(), build: index.build.clone(), format };
    if let Some(n) = named
        && n != &file
    {
        return Err(AppError::bad_request(format!("the package is {}, not {}", file.file(), n.file())));
    }
    let stored = names::stored(subdir, &file.file());
    let owned = ctx.own_package(&file.name).await?;
    ctx.check_write(&owned, &file.name).await?;
    let exists = || AppError::conflict(format!("{stored} already exists: bump the build number"));
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_file(&p.id, &stored).await?.is_some()
    {
        return Err(exists());
    }
    let metadata = serde_json::to_string(&index.record).map_err(|e| AppError::internal(e.to_string()))?;
    let version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: file.name.clone(),
        display_name: file.name.clone(),
        version: file.version.clone(),
        metadata: "{}".into(),
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: true,
    };
    let files = vec![PublishFile { filename: stored.clone(), pending, content_type: "application/octet-stream".into(), metadata }];
    ctx.commit_publish(&owned, version, files).await.map_err(|e| match e {
        AppError::Conflict(m) if m.contains("never used twice") => AppError::Conflict(m),
        AppError::Conflict(_) => exists(),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, package = %file.name, file = %stored, by = %ctx.principal.label(), "uploaded");
    Ok((file, stored))
}
