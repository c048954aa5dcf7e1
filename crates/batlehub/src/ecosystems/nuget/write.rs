//! NuGet writes: `nuget push` (`PUT nuget/v2/package`, multipart/form-data
//! as clients send it, chunked or not, or a raw body), symbol packages,
//! and `nuget delete` (unlist) and relist.
//!
//! Delete is an unlist, as on nuget.org: the version disappears from search
//! and autocomplete and its registration says `listed: false`, while the
//! flat container keeps listing and serving it, so that a restore of that
//! exact version (a lock file) keeps working. A version number is never
//! pushed twice (409).

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::names::{PackageId, Version};
use super::nupkg;
use super::render::{self, VersionMeta};
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = (status, format!("{body}\n")).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The pushed file: the `package` part of a multipart body, or the body.
async fn pushed_file(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<PendingBlob> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if ct.is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("multipart/")) {
        return Ok(crate::multipart::read_upload(body, ct, &ctx.app.blobs, limit, "package").await?.pending);
    }
    http::check_content_length(&parts.headers, limit, limit)?;
    Ok(ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?)
}

/// `PUT nuget/v2/package[/]`: 201 Created, 409 when the version exists.
pub async fn push(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let pending = pushed_file(ctx, parts, body).await?;
    let (id, version) = publish_nupkg(ctx, pending).await?;
    Ok(text(StatusCode::CREATED, &format!("Created {id} {version}")))
}

/// Read a package's `.nuspec` off the async threads; its bytes are kept as
/// a blob of their own (served as the flat container's `.nuspec`).
async fn read_package(ctx: &RequestCtx, pending: &PendingBlob) -> AppResult<(nupkg::Nuspec, PendingBlob)> {
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let blobs = ctx.app.blobs.clone();
    http::blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| AppError::internal(e.to_string()))?;
        let (spec, bytes) = nupkg::read_nupkg(std::io::BufReader::new(f))
            .map_err(|e| AppError::bad_request(format!("invalid package: {e}")))?;
        let mut temp = blobs.temp_sync(nupkg::MAX_NUSPEC).map_err(|e| AppError::internal(e.to_string()))?;
        std::io::Write::write_all(&mut temp, &bytes).map_err(|e| AppError::internal(e.to_string()))?;
        let nuspec = temp.finish().map_err(|e| AppError::internal(e.to_string()))?;
        Ok((spec, nuspec))
    })
    .await
}

/// Publish a `.nupkg` held in `pending` (a client's push or the Upload
/// card); returns its id and normalised version. The caller has checked
/// the write class.
pub async fn publish_nupkg(ctx: &RequestCtx, pending: PendingBlob) -> AppResult<(String, String)> {
    let (spec, nuspec) = read_package(ctx, &pending).await?;
    let id = PackageId::parse(&spec.id).map_err(AppError::BadRequest)?;
    let version = Version::parse(&spec.version).map_err(AppError::BadRequest)?;
    if spec.package_types.iter().any(|t| t.eq_ignore_ascii_case("SymbolsPackage")) {
        return Err(AppError::bad_request("this is a symbol package (.snupkg): push it to the symbol package URL"));
    }
    let (lid, vkey) = (id.lower(), version.key());
    let owned = ctx.own_package(&lid).await?;
    ctx.check_write(&owned, id.as_str()).await?;
    let name = owned.package.as_ref().map(|p| p.display_name.clone()).unwrap_or_else(|| id.to_string());
    let exists = || AppError::conflict(format!("{name} {} already exists: bump the version", version.normalized()));
    if let Some(p) = &owned.package
        && ctx.app.catalog.list_versions(&p.id).await?.iter().any(|v| v.version == vkey)
    {
        return Err(exists());
    }
    let meta = VersionMeta { version: version.normalized(), semver2: version.semver2, nuspec: spec };
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: lid.clone(),
        display_name: name.clone(),
        version: vkey.clone(),
        metadata: serde_json::to_string(&meta).map_err(|e| AppError::internal(e.to_string()))?,
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: false,
    };
    let files = vec![
        PublishFile {
            filename: render::nupkg_file(&lid, &vkey),
            pending,
            content_type: "application/octet-stream".into(),
            metadata: "{}".into(),
        },
        PublishFile {
            filename: render::nuspec_file(&lid, &vkey),
            pending: nuspec,
            content_type: "application/xml".into(),
            metadata: "{}".into(),
        },
    ];
    ctx.commit_publish(&owned, new_version, files).await.map_err(|e| match e {
        AppError::Conflict(m) if m.contains("never used twice") => AppError::Conflict(m),
        AppError::Conflict(_) => exists(),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, package = %name, version = %version.normalized(), by = %ctx.principal.label(), "pushed");
    Ok((name, version.normalized()))
}

/// `PUT nuget/v2/symbolpackage[/]`: a `.snupkg`, kept beside the pushed
/// version it belongs to (404 if there is none, 409 if it has one).
pub async fn push_symbols(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let pending = pushed_file(ctx, parts, body).await?;
    let (spec, _nuspec) = read_package(ctx, &pending).await?;
    let id = PackageId::parse(&spec.id).map_err(AppError::BadRequest)?;
    let version = Version::parse(&spec.version).map_err(AppError::BadRequest)?;
    let (lid, vkey) = (id.lower(), version.key());
    let package = ctx.writable_package(&lid, id.as_str()).await?;
    let row = ctx.app.catalog.list_versions(&package.id).await?.into_iter().find(|v| v.version == vkey);
    let Some(row) = row else {
        return Err(AppError::not_found(format!("{id} {} has not been pushed", version.normalized())));
    };
    let file = render::snupkg_file(&lid, &vkey);
    if ctx.app.catalog.get_file(&package.id, &file).await?.is_some() {
        return Err(AppError::conflict(format!("{id} {} already has its symbols", version.normalized())));
    }
    let owned = ctx.own_package(&lid).await?;
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: lid.clone(),
        display_name: package.display_name.clone(),
        version: vkey,
        metadata: row.metadata,
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: true,
    };
    let files =
        vec![PublishFile { filename: file, pending, content_type: "application/octet-stream".into(), metadata: "{}".into() }];
    ctx.commit_publish(&owned, new_version, files).await?;
    Ok(text(StatusCode::CREATED, &format!("Created symbols of {id} {}", version.normalized())))
}

/// `DELETE nuget/v2/package/{id}/{version}` (unlist) and `POST` (relist).
pub async fn set_listed(ctx: &RequestCtx, id: &PackageId, version: &Version, listed: bool) -> AppResult<Response> {
    let lid = id.lower();
    let package = ctx.writable_package(&lid, id.as_str()).await?;
    let row = ctx
        .app
        .catalog
        .list_versions(&package.id)
        .await?
        .into_iter()
        .find(|v| v.version == version.key())
        .ok_or_else(|| AppError::not_found(format!("{id} {} not found", version.normalized())))?;
    ctx.app.catalog.set_yanked(&row.id, !listed, (!listed).then_some("unlisted"), &package.check()).await?;
    let action = if listed { "relist" } else { "unlist" };
    ctx.audit_ok(action, &lid, Some(&version.normalized()));
    Ok(text(StatusCode::OK, &format!("{} {} {action}ed", package.display_name, version.normalized())))
}
