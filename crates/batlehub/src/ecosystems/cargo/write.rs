//! Cargo writes: `cargo publish` (the framed body, checked and committed),
//! `cargo yank [--undo]` and `cargo owner --add/--remove`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Value, json};

use super::names::CrateName;
use super::publish;
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

/// The most features a crate declares (crates-io's default limit).
pub const MAX_FEATURES: usize = 300;
/// The longest index entry (one line of the index file, per version).
pub const MAX_INDEX_LINE: usize = 256 * 1024;
/// The most bytes of description, license and keywords kept per version.
pub const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;

pub async fn publish(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    let body_limit = limit + publish::MAX_METADATA as u64 + 8;
    let blobs = ctx.app.blobs.clone();
    let (meta, pending) = http::parse_body(&parts.headers, body, body_limit, limit, move |reader| {
        let mut sink = blobs.temp_sync(limit).map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))?;
        let (json, _) = publish::read_frame(&mut &mut *reader, limit, &mut sink).map_err(|e| match e {
            publish::FrameError::TooLarge(n) => AppError::PayloadTooLarge(n),
            publish::FrameError::Io(io) if io.kind() == std::io::ErrorKind::FileTooLarge => {
                AppError::PayloadTooLarge(limit)
            }
            publish::FrameError::Io(io) => AppError::bad_request(format!("could not read the publish body: {io}")),
            publish::FrameError::Invalid(m) => AppError::BadRequest(m),
        })?;
        let meta = publish::parse_meta(&json).map_err(AppError::BadRequest)?;
        let pending: PendingBlob =
            sink.finish().map_err(|e| AppError::Unavailable(format!("storage unavailable: {e}")))?;
        Ok((meta, pending))
    })
    .await?;

    let name = CrateName::parse(&meta.name).map_err(AppError::BadRequest)?;
    if semver::Version::parse(&meta.vers).is_err() {
        return Err(AppError::bad_request(format!("invalid version `{}`: versions must be valid semver", meta.vers)));
    }
    for d in &meta.deps {
        CrateName::parse(&d.name).map_err(|e| AppError::bad_request(format!("dependency: {e}")))?;
    }
    if meta.features.len() > MAX_FEATURES {
        return Err(AppError::bad_request(format!(
            "the crate has {} features; at most {MAX_FEATURES} are accepted",
            meta.features.len()
        )));
    }
    if pending.digests.size == 0 || !http::is_gzip(&pending.head) {
        return Err(AppError::bad_request("the .crate is not a gzipped tarball"));
    }
    let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
    let (n, v) = (meta.name.clone(), meta.vers.clone());
    http::blocking(move || publish::check_crate_file(&path, &n, &v).map_err(AppError::BadRequest)).await?;

    let owned = ctx.own_package(&name.key()).await?;
    // The write check first: who may not write the crate learns nothing of
    // how it is spelled (nor that it exists, beyond the refusal).
    ctx.check_write(&owned, &meta.name).await?;
    if let Some(p) = &owned.package
        && p.display_name != meta.name
    {
        return Err(AppError::conflict(format!(
            "crate `{}` conflicts with the existing crate `{}`",
            meta.name, p.display_name
        )));
    }
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_version(&p.id, &meta.vers).await?.is_some()
    {
        return Err(already_uploaded(&meta.name, &meta.vers));
    }
    let line = publish::index_entry(&meta, &pending.digests.sha256);
    let line = serde_json::to_string(&line).map_err(|e| AppError::internal(e.to_string()))?;
    if line.len() > MAX_INDEX_LINE {
        return Err(AppError::bad_request(format!(
            "the crate's index entry (dependencies and features) is {} bytes; at most {MAX_INDEX_LINE} are accepted",
            line.len()
        )));
    }
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: name.key(),
        display_name: meta.name.clone(),
        version: meta.vers.clone(),
        metadata: line,
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: false,
    };
    let extra =
        json!({ "description": meta.description, "license": meta.license, "keywords": meta.keywords }).to_string();
    if extra.len() > MAX_DESCRIPTION_BYTES {
        return Err(AppError::bad_request(format!(
            "the description, license and keywords take {} bytes; at most {MAX_DESCRIPTION_BYTES} are kept",
            extra.len()
        )));
    }
    let file = PublishFile {
        filename: format!("{}-{}.crate", meta.name, meta.vers),
        pending,
        content_type: "application/x-tar".into(),
        metadata: extra,
    };
    ctx.commit_publish(&owned, new_version, vec![file]).await.map_err(|e| match e {
        AppError::Conflict(_) => already_uploaded(&meta.name, &meta.vers),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, krate = %meta.name, version = %meta.vers, by = %ctx.principal.label(), "published");
    Ok(http::json(
        StatusCode::OK,
        &json!({ "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] } }),
    ))
}

fn already_uploaded(name: &str, version: &str) -> AppError {
    AppError::conflict(format!("crate version `{name}@{version}` is already uploaded"))
}

fn display(name: &CrateName) -> String {
    format!("crate {}", name.as_str())
}

pub async fn set_yanked(ctx: &RequestCtx, name: &CrateName, version: &str, yanked: bool) -> AppResult<Response> {
    let package = ctx.writable_package(&name.key(), &display(name)).await?;
    let v = ctx
        .app
        .catalog
        .get_version(&package.id, version)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} {version} not found", package.display_name)))?;
    ctx.app.catalog.set_yanked(&v.id, yanked, None, &package.check()).await?;
    ctx.audit_ok(if yanked { "yank" } else { "unyank" }, &package.display_name, Some(version));
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

/// `cargo owner --add/--remove`: logins are user ids; `group:NAME` names a group.
pub async fn owners_change(ctx: &RequestCtx, name: &CrateName, body: Body, add: bool) -> AppResult<Response> {
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
    // Normalised first, so what is compared is what is stored.
    let owners: Vec<(bool, String)> = logins
        .iter()
        .map(|login| match login.strip_prefix("group:") {
            Some(g) => (true, access::normalize_group(g)),
            None => (false, login.trim().to_string()),
        })
        .collect();
    if owners.iter().any(|(_, id)| id.is_empty()) {
        return Err(AppError::bad_request("an owner login is empty"));
    }
    let package = ctx.writable_package(&name.key(), &display(name)).await?;
    let catalog = &ctx.app.catalog;
    if add {
        for (is_group, id) in &owners {
            catalog.add_owner(&package.id, *is_group, id, &package.check()).await?;
        }
    } else if !catalog.remove_owners(&package.id, &owners, &package.check()).await? {
        // Checked in the removal's transaction: never a crate without owners.
        return Err(AppError::bad_request("cannot remove every owner of a crate"));
    }
    ctx.audit_ok(if add { "owner-add" } else { "owner-remove" }, &package.display_name, None);
    let verb = if add { "added as owners of" } else { "removed from the owners of" };
    Ok(http::json(
        StatusCode::OK,
        &json!({ "ok": true, "msg": format!("{} {verb} crate {}", logins.join(", "), package.display_name) }),
    ))
}
