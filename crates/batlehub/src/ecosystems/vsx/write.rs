//! Extension publishing: the user guide's `PUT {id}/{version}/vsix`,
//! `ovsx publish` (`POST api/-/publish?token=`, a chunked body), the Upload
//! card, and yanking (`DELETE {id}/{version}/vsix`).
//!
//! The body is streamed to a temporary file and read ([`super::vsix`]): the
//! id, version and platform a URL or form gives must be the VSIX's own.
//! The README, changelog, licence, icon and manifests are copied out of it
//! (each bounded) and kept beside it, so that they are served without
//! opening the VSIX again. A version holds one VSIX per target platform;
//! the same platform twice is 409.

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use super::model::Release;
use super::names::{self, Asset, ExtId};
use super::read;
use super::vsix::{self, Vsix};
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

/// What a publish must be, as the URL or form says.
#[derive(Default)]
pub struct Expected<'a> {
    pub id: Option<&'a ExtId>,
    pub version: Option<&'a str>,
    pub platform: Option<&'a str>,
}

async fn receive(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<PendingBlob> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    http::check_content_length(&parts.headers, limit, limit)?;
    Ok(ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?)
}

/// `PUT {id}/{version}/vsix`: 201 with the release's document.
pub async fn put(
    ctx: &RequestCtx,
    id: &ExtId,
    version: &str,
    platform: Option<&str>,
    parts: &Parts,
    body: Body,
) -> AppResult<Response> {
    let pending = receive(ctx, parts, body).await?;
    let r = publish(ctx, Expected { id: Some(id), version: Some(version), platform }, pending).await?;
    Ok(http::json_status(StatusCode::CREATED, read::published(ctx, &r)))
}

/// `POST api/-/publish`: 201 with the release's document (`ovsx` prints
/// its `targetPlatform`).
pub async fn publish_api(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let pending = receive(ctx, parts, body).await?;
    let r = publish(ctx, Expected::default(), pending).await?;
    Ok(http::json_status(StatusCode::CREATED, read::published(ctx, &r)))
}

/// Read the VSIX and copy its assets out, on the blocking pool.
async fn read_vsix(ctx: &RequestCtx, pending: &PendingBlob) -> AppResult<(Vsix, Vec<(Asset, PendingBlob)>)> {
    if !pending.head.starts_with(b"PK") {
        return Err(AppError::bad_request("not a VSIX: expected a ZIP archive"));
    }
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let blobs = ctx.app.blobs.clone();
    http::blocking(move || {
        let open = || std::fs::File::open(&path).map(std::io::BufReader::new).map_err(|e| AppError::internal(e.to_string()));
        let vsix = vsix::read(open()?).map_err(|e| AppError::bad_request(format!("invalid VSIX: {e}")))?;
        let mut assets = Vec::new();
        for (asset, entry) in &vsix.assets {
            let limit = asset.limit();
            let mut temp = blobs.temp_sync(limit).map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))?;
            vsix::copy_entry(open()?, entry, limit, &mut temp)
                .map_err(|e| AppError::bad_request(format!("invalid VSIX: {e}")))?;
            let kept = temp.finish().map_err(|e| AppError::bad_request(format!("invalid VSIX: {entry}: {e}")))?;
            assets.push((*asset, kept));
        }
        Ok((vsix, assets))
    })
    .await
}

/// Publish the VSIX in `pending`; the caller has checked the write class.
pub async fn publish(ctx: &RequestCtx, expected: Expected<'_>, pending: PendingBlob) -> AppResult<Release> {
    let (vsix, assets) = read_vsix(ctx, &pending).await?;
    if let Some(id) = expected.id
        && !id.same(&vsix.id)
    {
        return Err(AppError::bad_request(format!("the VSIX is {}, not {}", vsix.id.display(), id.display())));
    }
    if let Some(v) = expected.version
        && v != vsix.version
    {
        return Err(AppError::bad_request(format!("the VSIX is version {}, not {v}", vsix.version)));
    }
    if let Some(p) = expected.platform
        && p != vsix.platform
    {
        return Err(AppError::bad_request(format!(
            "the VSIX targets {} (its manifest's TargetPlatform), not {p}",
            vsix.platform
        )));
    }
    let Vsix { id, version, platform, meta, .. } = vsix;
    let key = id.key();
    let stored = names::vsix_file(&id, &version, &platform);
    let owned = ctx.own_package(&key).await?;
    ctx.check_write(&owned, &id.display()).await?;
    let label = if platform == names::UNIVERSAL { version.clone() } else { format!("{version}@{platform}") };
    let exists = || AppError::conflict(format!("{} {label} is already published", id.display()));
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_file(&p.id, &stored).await?.is_some()
    {
        return Err(exists());
    }
    let display = owned.package.as_ref().map(|p| p.display_name.clone()).unwrap_or_else(|| id.display());
    let metadata = serde_json::to_string(&meta).map_err(|e| AppError::internal(e.to_string()))?;
    let mut files =
        vec![PublishFile { filename: stored.clone(), pending, content_type: "application/octet-stream".into(), metadata }];
    let mut kept = Vec::new();
    for (asset, blob) in assets {
        kept.push(asset);
        files.push(PublishFile {
            filename: names::asset_file(&platform, &version, asset),
            pending: blob,
            content_type: vsix::asset_type(asset, &meta),
            metadata: "{}".into(),
        });
    }
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: key.clone(),
        display_name: display.clone(),
        version: version.clone(),
        metadata: "{}".into(),
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: true,
    };
    ctx.commit_publish(&owned, new_version, files).await.map_err(|e| match e {
        AppError::Conflict(m) if m.contains("never used twice") => AppError::Conflict(m),
        AppError::Conflict(_) => exists(),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, package = %key, version = %label, by = %ctx.principal.label(), "published");
    let id = ExtId::parse(&display).unwrap_or(id);
    Ok(Release { id, version, platform, meta, assets: kept, upstream: None })
}

/// `DELETE {id}/{version}/vsix`: yank the version (every platform of it).
pub async fn yank(ctx: &RequestCtx, id: &ExtId, version: &str) -> AppResult<Response> {
    let package = ctx.writable_package(&id.key(), &id.display()).await?;
    let row = ctx
        .app
        .catalog
        .list_versions(&package.id)
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| AppError::not_found(format!("Extension not found: {} {version}", id.display())))?;
    ctx.app.catalog.set_yanked(&row.id, true, None, &package.check()).await?;
    ctx.audit_ok("yank", &id.display(), Some(version));
    Ok(http::ok_json(json!({"success": format!("Yanked {} {version}", id.display())})))
}
