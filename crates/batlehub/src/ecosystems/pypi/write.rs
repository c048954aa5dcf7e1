//! PyPI writes: the legacy upload API and the one publish path it shares
//! with the web UI's Upload card.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::dist;
use super::names::{DistKind, normalize, normalize_version, parse_filename, release_key, valid_name};
use crate::access;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::multipart::Upload;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

fn hex_eq(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// `POST /legacy/`: twine, `uv publish` and `poetry publish`.
pub async fn upload(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    http::check_content_length(&parts.headers, limit + 32 * 1024 * 1024, limit)?;
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
/// The caller has checked the write access (`Access::Write`).
pub async fn publish_distribution(ctx: &RequestCtx, up: Upload) -> AppResult<String> {
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
    let filename = up.filename.clone();
    let raw_meta = http::blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| AppError::internal(e.to_string()))?;
        dist::extract(kind, std::io::BufReader::new(f))
            .map_err(|e| AppError::bad_request(format!("`{filename}` is not a valid {}: {e}", kind.packagetype())))
    })
    .await?;
    let core = dist::parse_metadata(&raw_meta).map_err(|e| AppError::bad_request(format!("`{}`: {e}", up.filename)))?;
    if normalize(&core.name) != key || normalize_version(&core.version).as_deref() != Some(version.as_str()) {
        return Err(AppError::bad_request(format!(
            "`{}` contains {} {}, not {name} {version}",
            up.filename, core.name, core.version
        )));
    }
    let name = declared_name.unwrap_or_else(|| core.name.clone());

    let owned = ctx.own_package(&key).await?;
    ctx.check_write(&owned, &name).await?;
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_file(&p.id, &up.filename).await?.is_some()
    {
        return Err(AppError::conflict(format!("File already exists: {}", up.filename)));
    }
    // PEP 440 equality: `1.0.0` is the release `1.0` (trailing zeros do not
    // count), so its files join the release already there.
    let mut version = version;
    if let Some(p) = &owned.package {
        let same = release_key(&version);
        if let Some(existing) =
            ctx.app.catalog.list_versions(&p.id).await?.into_iter().find(|v| release_key(&v.version) == same)
        {
            version = existing.version;
        }
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
        let pending_meta = http::blocking(move || {
            use std::io::Write;
            let store = || -> std::io::Result<crate::blobs::PendingBlob> {
                let mut t = blobs.temp_sync(raw_meta.len() as u64 + 1)?;
                t.write_all(&raw_meta)?;
                t.finish()
            };
            store().map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))
        })
        .await?;
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
    ctx.commit_publish(&owned, new_version, files).await.map_err(
        |e| match e {
            AppError::Conflict(_) => AppError::conflict(format!("File already exists: {filename}")),
            other => other,
        },
    )?;
    tracing::info!(registry = %ctx.registry.name, project = %key, version = %version, file = %filename, by = %ctx.principal.label(), "uploaded");
    Ok(format!("{name} {version}"))
}
