//! `gem push` and `gem yank`.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::gem;
use super::names::{check_name, check_platform, check_version, gem_file};
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

fn text(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// `POST api/v1/gems`: the raw `.gem`.
pub async fn push(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    http::check_content_length(&parts.headers, limit, limit)?;
    let pending = ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?;
    let spec = publish_gem(ctx, pending).await?;
    Ok(text(StatusCode::OK, format!("Successfully registered gem: {} ({})", spec.name, spec.version)))
}

/// Publish a `.gem` held in `pending`; the caller has checked the write
/// class.
pub async fn publish_gem(ctx: &RequestCtx, pending: PendingBlob) -> AppResult<gem::Spec> {
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let spec = http::blocking(move || {
        let f = std::fs::File::open(&path).map_err(|e| AppError::internal(e.to_string()))?;
        gem::read_gem(std::io::BufReader::new(f)).map_err(|e| AppError::bad_request(format!("invalid gem: {e}")))
    })
    .await?;
    check_name(&spec.name).map_err(AppError::BadRequest)?;
    check_version(&spec.version).map_err(AppError::BadRequest)?;
    check_platform(&spec.platform).map_err(AppError::BadRequest)?;
    let filename = gem_file(&spec.name, &spec.version, &spec.platform);
    let owned = ctx.own_package(&spec.name).await?;
    ctx.check_write(&owned, &spec.name).await?;
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_file(&p.id, &filename).await?.is_some()
    {
        return Err(repushed(&spec));
    }
    let metadata = serde_json::to_string(&spec).map_err(|e| AppError::internal(e.to_string()))?;
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: spec.name.clone(),
        display_name: spec.name.clone(),
        version: spec.version.clone(),
        metadata: "{}".into(),
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        // Platform gems are more files of the same version.
        append: true,
    };
    let files = vec![PublishFile { filename, pending, content_type: "application/octet-stream".into(), metadata }];
    ctx.commit_publish(&owned, new_version, files).await.map_err(|e| match e {
        AppError::Conflict(_) => repushed(&spec),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, gem = %spec.name, version = %spec.version, platform = %spec.platform, by = %ctx.principal.label(), "pushed");
    Ok(spec)
}

fn repushed(spec: &gem::Spec) -> AppError {
    AppError::conflict(format!(
        "Repushing of gem versions is not allowed. Please bump the version of {} ({})",
        spec.name, spec.version
    ))
}

/// `DELETE api/v1/gems/yank` (and, `yanked` false, `PUT
/// api/v1/gems/unyank`) with `gem_name`, `version` and `platform` (default
/// `ruby`) in the query or a form body: one platform's gem at a time, as
/// `gem yank --platform` asks.
pub async fn yank(ctx: &RequestCtx, parts: &Parts, body: Body, yanked: bool) -> AppResult<Response> {
    let body = http::read_small_body(body, 64 * 1024).await?;
    let mut fields: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    fields.extend(url::form_urlencoded::parse(&body).into_owned());
    let field = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let name = field("gem_name").ok_or_else(|| AppError::bad_request("gem_name is missing"))?;
    let version = field("version").ok_or_else(|| AppError::bad_request("version is missing"))?;
    let platform = field("platform").unwrap_or_else(|| "ruby".into());
    check_name(&name).map_err(AppError::BadRequest)?;
    check_version(&version).map_err(AppError::BadRequest)?;
    check_platform(&platform).map_err(AppError::BadRequest)?;
    let package = ctx.writable_package(&name, &name).await?;
    let file = ctx
        .app
        .catalog
        .get_file(&package.id, &gem_file(&name, &version, &platform))
        .await?
        .ok_or_else(|| AppError::not_found(format!("The version {version} ({platform}) of {name} does not exist.")))?;
    let mut spec: gem::Spec =
        serde_json::from_str(&file.metadata).map_err(|e| AppError::internal(format!("stored gemspec: {e}")))?;
    spec.yanked = yanked;
    let metadata = serde_json::to_string(&spec).map_err(|e| AppError::internal(e.to_string()))?;
    ctx.app.catalog.update_file_metadata(&file.id, &metadata, !yanked, &package.check()).await?;
    let label = if platform == "ruby" { version.clone() } else { format!("{version}-{platform}") };
    if yanked {
        ctx.audit_ok("yank", &name, Some(&label));
        Ok(text(StatusCode::OK, format!("Successfully deleted gem: {name} ({label})")))
    } else {
        ctx.audit_ok("unyank", &name, Some(&label));
        Ok(text(StatusCode::OK, format!("Successfully unyanked gem: {name} ({label})")))
    }
}
