//! Publishing a module: `PUT {module}/@v/{version}.zip` (the user guide's
//! `curl`) and the web UI's Upload card end in [`publish_zip`].
//!
//! The zip is streamed to a temporary file, checked against the go
//! command's module zip rules on the blocking pool, and its `go.mod`
//! extracted; the version keeps two files (`{version}.zip`, `{version}.mod`)
//! and, as its metadata, the `h1:` hashes and the retractions of its
//! `go.mod`. `.info` is made from the publish time when read.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::gomod;
use super::modzip;
use super::names::{ModulePath, Version};
use super::op::Ext;
use super::read::{MOD_TYPE, VersionMeta, ZIP_TYPE, file_name};
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

/// The largest zip this registry takes: the go command's limit, or the
/// server's artifact limit if lower.
fn zip_limit(ctx: &RequestCtx) -> u64 {
    ctx.app.config.limits.max_artifact_size_bytes.min(modzip::MAX_ZIP)
}

/// `PUT {module}/@v/{version}.zip`.
pub async fn publish(
    ctx: &RequestCtx,
    module: &ModulePath,
    version: &Version,
    parts: &Parts,
    body: Body,
) -> AppResult<Response> {
    let limit = zip_limit(ctx);
    http::check_content_length(&parts.headers, limit, limit)?;
    // Refuse early what would be refused anyway, before reading the body.
    version.check_path_major(module).map_err(AppError::BadRequest)?;
    let owned = ctx.own_package(module.as_str()).await?;
    ctx.check_write(&owned, module.as_str()).await?;
    let pending = ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?;
    publish_zip(ctx, module, version, pending).await?;
    let mut r = (StatusCode::CREATED, format!("published {module}@{version}\n")).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(r)
}

/// Publish a module zip held in `pending` as `module`@`version`. The caller
/// has checked the write access class; ownership is checked here (and again
/// inside the commit's transaction).
pub async fn publish_zip(ctx: &RequestCtx, module: &ModulePath, version: &Version, pending: PendingBlob) -> AppResult<()> {
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let (m, v) = (module.clone(), version.clone());
    let checked = http::blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| AppError::internal(e.to_string()))?;
        let size = f.metadata().map_err(|e| AppError::internal(e.to_string()))?.len();
        modzip::check(&m, &v, std::io::BufReader::new(f), size)
            .map_err(|e| AppError::bad_request(format!("invalid module zip for {m}@{v}: {e}")))
    })
    .await?;
    let owned = ctx.own_package(module.as_str()).await?;
    ctx.check_write(&owned, module.as_str()).await?;
    if let Some(p) = &owned.package
        && ctx.app.catalog.list_versions(&p.id).await?.iter().any(|row| row.version == version.as_str())
    {
        return Err(exists(module, version));
    }
    let retract = std::str::from_utf8(&checked.go_mod)
        .ok()
        .and_then(|t| gomod::parse(t).ok())
        .map(|g| g.retract.into_iter().map(|r| (r.low, r.high)).collect())
        .unwrap_or_default();
    let meta = VersionMeta { h1: checked.h1.clone(), go_mod_h1: checked.go_mod_h1.clone(), retract };
    let blobs = ctx.app.blobs.clone();
    let go_mod = checked.go_mod;
    let pending_mod = http::blocking(move || {
        use std::io::Write;
        let store = || -> std::io::Result<PendingBlob> {
            let mut t = blobs.temp_sync(go_mod.len() as u64 + 1)?;
            t.write_all(&go_mod)?;
            t.finish()
        };
        store().map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))
    })
    .await?;
    let files = vec![
        PublishFile {
            filename: file_name(version, Ext::Zip),
            pending,
            content_type: ZIP_TYPE.into(),
            metadata: "{}".into(),
        },
        PublishFile {
            filename: file_name(version, Ext::Mod),
            pending: pending_mod,
            content_type: MOD_TYPE.into(),
            metadata: "{}".into(),
        },
    ];
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: module.to_string(),
        display_name: module.to_string(),
        version: version.to_string(),
        metadata: serde_json::to_string(&meta).map_err(|e| AppError::internal(e.to_string()))?,
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: false,
    };
    ctx.commit_publish(&owned, new_version, files).await.map_err(|e| match e {
        AppError::Conflict(_) => exists(module, version),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, module = %module, version = %version, h1 = %meta.h1, by = %ctx.principal.label(), "published");
    Ok(())
}

fn exists(module: &ModulePath, version: &Version) -> AppError {
    AppError::conflict(format!("{module}@{version} already exists: versions are immutable, publish a new one"))
}
