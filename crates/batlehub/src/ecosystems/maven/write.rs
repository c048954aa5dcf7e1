//! `mvn deploy` and Gradle's `publish`: every file of a version by `PUT`,
//! then its checksums, then `maven-metadata.xml`.
//!
//! A release version's files are immutable (a second `PUT` of one is a
//! 409); a SNAPSHOT's builds each bring new, timestamped files, and the
//! registry keeps the newest `snapshot_builds_kept` builds of each SNAPSHOT
//! version when that option is set. A POM must name the coordinates it is
//! deployed under. Checksums are verified against the stored file, never
//! stored; deployed metadata is checked and dropped, since the served
//! document is always generated.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::names::{Checksum, is_snapshot, parse_file};
use super::op::VersionFile;
use super::pom::{self, MAX_XML};
use super::read::{content_type, first_token};
use crate::access;
use crate::blobs::PendingBlob;
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;

fn created(message: String) -> Response {
    let mut r = (StatusCode::CREATED, message).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// `PUT` of a file of a version.
pub async fn put(ctx: &RequestCtx, file: &VersionFile, parts: &Parts, body: Body) -> AppResult<Response> {
    let limit = ctx.app.config.limits.max_artifact_size_bytes;
    http::check_content_length(&parts.headers, limit, limit)?;
    let key = file.coords.key();
    let display = file.coords.display();
    let owned = ctx.own_package(&key).await?;
    ctx.check_write(&owned, &display).await?;
    // An existing file is refused before its body is read (with `Expect:
    // 100-continue`, before the client even sends it).
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_file(&p.id, &file.filename).await?.is_some()
    {
        return Err(exists(file));
    }
    let pending = ctx.app.blobs.put_stream(body.into_data_stream(), limit).await?;
    publish_file(ctx, file, pending).await?;
    Ok(created(format!("deployed {}\n", file.path())))
}

/// Keep a deployed file; the caller has checked the write class.
pub async fn publish_file(ctx: &RequestCtx, file: &VersionFile, pending: PendingBlob) -> AppResult<()> {
    let key = file.coords.key();
    let display = file.coords.display();
    let mut file_meta = json!({});
    if file.parsed.extension == "pom" {
        let path = pending.path().map(|p| p.to_path_buf()).ok_or_else(|| AppError::internal("pending blob has no file"))?;
        let pom = http::blocking(move || {
            let len = std::fs::metadata(&path).map_err(|e| AppError::internal(e.to_string()))?.len();
            if len > MAX_XML as u64 {
                return Err(AppError::bad_request(format!("the POM is larger than {MAX_XML} bytes")));
            }
            let bytes = std::fs::read(&path).map_err(|e| AppError::internal(e.to_string()))?;
            pom::parse_pom(&bytes).map_err(|e| AppError::bad_request(format!("invalid POM: {e}")))
        })
        .await?;
        let said = (pom.effective_group(), pom.artifact.as_deref(), pom.effective_version());
        let want = (Some(file.coords.group.as_str()), Some(file.coords.artifact.as_str()), Some(file.version.as_str()));
        if said != want {
            return Err(AppError::bad_request(format!(
                "the POM says {}:{}:{}, but it is deployed as {display}:{}",
                said.0.unwrap_or("?"),
                said.1.unwrap_or("?"),
                said.2.unwrap_or("?"),
                file.version
            )));
        }
        file_meta = json!({ "packaging": pom.packaging.unwrap_or_else(|| "jar".into()), "name": pom.name });
    }
    let owned = ctx.own_package(&key).await?;
    ctx.check_write(&owned, &display).await?;
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_file(&p.id, &file.filename).await?.is_some()
    {
        return Err(exists(file));
    }
    let files = vec![PublishFile {
        filename: file.filename.clone(),
        pending,
        content_type: content_type(&file.parsed.extension).into(),
        metadata: file_meta.to_string(),
    }];
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: key.clone(),
        display_name: display.clone(),
        version: file.version.clone(),
        metadata: "{}".into(),
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags: Vec::new(),
        visibility: access::Visibility::Public,
        append: true,
    };
    ctx.commit_publish(&owned, new_version, files).await.map_err(|e| match e {
        AppError::Conflict(_) => exists(file),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, artifact = %file.coords.display(), version = %file.version, file = %file.filename, by = %ctx.principal.label(), "deployed");
    if is_snapshot(&file.version) {
        prune_snapshots(ctx, file).await?;
    }
    Ok(())
}

fn exists(file: &VersionFile) -> AppError {
    AppError::conflict(format!(
        "{} already exists: release versions are immutable, deploy a new version",
        file.path()
    ))
}

/// Keep the newest `snapshot_builds_kept` builds of a SNAPSHOT version.
async fn prune_snapshots(ctx: &RequestCtx, file: &VersionFile) -> AppResult<()> {
    let Some(keep) = ctx.registry.options.get("snapshot_builds_kept").and_then(|v| v.as_integer()) else {
        return Ok(());
    };
    let Some(package) = ctx.app.catalog.get_package(&ctx.registry.name, &file.coords.key()).await? else {
        return Ok(());
    };
    let Some(version) = ctx.app.catalog.list_versions(&package.id).await?.into_iter().find(|v| v.version == file.version)
    else {
        return Ok(());
    };
    let files: Vec<_> =
        ctx.app.catalog.list_files(&package.id).await?.into_iter().filter(|f| f.version_id == version.id).collect();
    let mut builds: Vec<u32> = files
        .iter()
        .filter_map(|f| parse_file(&file.coords.artifact, &file.version, &f.filename).ok()?.build.map(|(_, n)| n))
        .collect();
    builds.sort_unstable();
    builds.dedup();
    let cut = builds.len().saturating_sub(keep.max(1) as usize);
    let old: Vec<u32> = builds[..cut].to_vec();
    let doomed: Vec<String> = files
        .iter()
        .filter(|f| {
            parse_file(&file.coords.artifact, &file.version, &f.filename)
                .ok()
                .and_then(|p| p.build)
                .is_some_and(|(_, n)| old.contains(&n))
        })
        .map(|f| f.filename.clone())
        .collect();
    if !doomed.is_empty() {
        // Their blobs are left to the garbage collector. The server's own
        // housekeeping after a deploy the write check allowed.
        ctx.app.catalog.delete_files(&package.id, &version.id, &doomed, crate::catalog::ANY_WRITER).await?;
        tracing::info!(registry = %ctx.registry.name, artifact = %file.coords.display(), version = %file.version, files = doomed.len(), "old snapshot builds pruned");
    }
    Ok(())
}

/// `PUT` of a checksum: compared with the stored file's digest.
pub async fn put_checksum(ctx: &RequestCtx, file: &VersionFile, checksum: Checksum, body: Body) -> AppResult<Response> {
    let body = http::read_small_body(body, 1024).await?;
    let sent = first_token(&body).ok_or_else(|| AppError::bad_request("the checksum is empty"))?;
    let package = ctx
        .app
        .catalog
        .get_package(&ctx.registry.name, &file.coords.key())
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} not found: deploy the file before its checksum", file.path())))?;
    let stored = ctx
        .app
        .catalog
        .get_file(&package.id, &file.filename)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} not found: deploy the file before its checksum", file.path())))?;
    let want = match checksum {
        Checksum::Md5 => &stored.md5,
        Checksum::Sha1 => &stored.sha1,
        Checksum::Sha256 => &stored.sha256,
        Checksum::Sha512 => &stored.sha512,
    };
    if !sent.eq_ignore_ascii_case(want) {
        return Err(AppError::bad_request(format!(
            "checksum mismatch for {}: sent {sent}, the stored file has {want}",
            file.path()
        )));
    }
    Ok(created(format!("checksum of {} verified\n", file.path())))
}

/// `PUT` of `maven-metadata.xml` (or its checksum): checked and dropped.
pub async fn put_metadata(checksum: Option<Checksum>, body: Body) -> AppResult<Response> {
    let body = http::read_small_body(body, MAX_XML).await?;
    match checksum {
        Some(_) => {
            let ok = first_token(&body).is_some_and(|t| t.chars().all(|c| c.is_ascii_hexdigit()));
            if !ok {
                return Err(AppError::bad_request("a checksum file holds a hex digest"));
            }
        }
        None => {
            let bytes = body.to_vec();
            http::blocking(move || pom::check_metadata(&bytes).map_err(|e| AppError::bad_request(format!("invalid maven-metadata.xml: {e}"))))
                .await?;
        }
    }
    Ok(created("accepted (the served metadata is generated from the deployed files)\n".into()))
}
