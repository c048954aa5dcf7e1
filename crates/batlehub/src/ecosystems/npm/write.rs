//! npm writes: `npm publish` (the streamed body, checked and committed),
//! `npm deprecate` and `npm unpublish` (packument updates), tarball
//! deletion and dist-tag changes. Every change is checked against the
//! package's owners and namespace claim by `RequestCtx::check_write`.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::names::{NpmName, valid_tag, valid_version};
use super::publish::{self, ParsedPublish};
use super::render;
use crate::access::Visibility;
use crate::blobs::{PendingBlob, SyncTempBlob};
use crate::catalog::NewVersion;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::registry::PublishFile;
use crate::serve::RequestCtx;
use crate::upstream::artifacts::ExpectedDigest;

/// A publish body, parsed off the async threads with attachments spooled to
/// temporary blobs.
struct Parsed {
    doc: Map<String, Value>,
    attachments: Vec<(String, Option<u64>, Option<PendingBlob>)>,
}

async fn read_publish_body(ctx: &RequestCtx, parts: &Parts, body: Body) -> AppResult<Parsed> {
    let artifact_limit = ctx.app.config.limits.max_artifact_size_bytes;
    // Base64 is 4/3 of the bytes; allow room for the manifest and readme.
    let body_limit = artifact_limit.saturating_mul(4) / 3 + publish::MAX_DOCUMENT_BYTES + 64 * 1024;
    let blobs = ctx.app.blobs.clone();
    http::parse_body(&parts.headers, body, body_limit, artifact_limit, move |reader| {
        let parsed: Result<ParsedPublish<SyncTempBlob>, publish::ParseError> =
            publish::parse_publish(reader, 4, publish::MAX_DOCUMENT_BYTES, &mut |_name| {
                blobs.temp_sync(artifact_limit)
            });
        let parsed = match parsed {
            Ok(p) => p,
            Err(publish::ParseError::Io(e)) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                return Err(AppError::PayloadTooLarge(artifact_limit));
            }
            Err(e) => return Err(AppError::bad_request(e.to_string())),
        };
        let mut attachments = Vec::new();
        for a in parsed.attachments {
            let pending = match a.data {
                Some(d) => Some(
                    d.finish().map_err(|e| AppError::bad_request(format!("could not store the attachment: {e}")))?,
                ),
                None => None,
            };
            attachments.push((a.name, a.length, pending));
        }
        Ok(Parsed { doc: parsed.doc, attachments })
    })
    .await
}

pub async fn publish(
    ctx: &RequestCtx,
    name: &NpmName,
    rev: Option<&str>,
    parts: &Parts,
    body: Body,
) -> AppResult<Response> {
    let parsed = read_publish_body(ctx, parts, body).await?;
    // `npm owner` sends `_id` only.
    let named = parsed.doc.get("name").or_else(|| parsed.doc.get("_id"));
    match named.and_then(|n| n.as_str()) {
        Some(n) if n == name.full() => {}
        Some(n) => {
            return Err(AppError::bad_request(format!(
                "the package name in the body ({n}) does not match the URL ({name})"
            )));
        }
        None => return Err(AppError::bad_request("the body has no package name")),
    }
    if parsed.attachments.is_empty() {
        return update_metadata(ctx, name, rev, parsed.doc).await;
    }
    publish_version(ctx, name, parsed).await
}

async fn publish_version(ctx: &RequestCtx, name: &NpmName, parsed: Parsed) -> AppResult<Response> {
    let Parsed { doc, attachments } = parsed;
    let versions = doc
        .get("versions")
        .and_then(|v| v.as_object())
        .ok_or_else(|| AppError::bad_request("the body has no versions"))?;
    if versions.len() != 1 {
        return Err(AppError::bad_request("publish exactly one version at a time"));
    }
    let Some((version, manifest)) = versions.iter().next() else {
        return Err(AppError::bad_request("the body has no versions"));
    };
    if !valid_version(version) {
        return Err(AppError::bad_request(format!("invalid version `{version}`: versions must be valid semver")));
    }
    let mut manifest =
        manifest.as_object().cloned().ok_or_else(|| AppError::bad_request("a version manifest must be an object"))?;
    if manifest.get("name").and_then(|v| v.as_str()) != Some(name.full().as_str()) {
        return Err(AppError::bad_request("the version manifest's name does not match the package"));
    }
    if manifest.get("version").and_then(|v| v.as_str()) != Some(version.as_str()) {
        return Err(AppError::bad_request("the version manifest's version does not match its key"));
    }
    let wanted = [format!("{}-{version}.tgz", name.full()), name.tarball_filename(version)];
    let mut tarball = None;
    for (att_name, length, pending) in attachments {
        if wanted.contains(&att_name) {
            tarball = Some((length, pending));
        }
    }
    let Some((declared_len, Some(pending))) = tarball else {
        return Err(AppError::bad_request(format!("the tarball attachment {} is missing", wanted[1])));
    };
    if declared_len.is_some_and(|l| l != pending.digests.size) {
        return Err(AppError::bad_request("the attachment length does not match its data"));
    }
    if pending.digests.size == 0 || !http::is_gzip(&pending.head) {
        return Err(AppError::bad_request("the attachment is not a gzipped tarball"));
    }
    let dist = manifest.get("dist").and_then(|d| d.as_object()).cloned().unwrap_or_default();
    if let Some(sri) = dist.get("integrity").and_then(|v| v.as_str())
        && ExpectedDigest::from_sri(sri).is_some_and(|d| !d.matches(&pending.digests))
    {
        return Err(AppError::bad_request("the tarball does not match dist.integrity"));
    }
    if let Some(sha1) = dist.get("shasum").and_then(|v| v.as_str())
        && !sha1.eq_ignore_ascii_case(&pending.digests.sha1)
    {
        return Err(AppError::bad_request("the tarball does not match dist.shasum"));
    }

    let owned = ctx.own_package(&name.full()).await?;
    if owned.package.is_none() {
        name.check_new().map_err(AppError::BadRequest)?;
    }
    ctx.check_write(&owned, &name.full()).await?;
    if let Some(p) = &owned.package
        && ctx.app.catalog.get_version(&p.id, version).await?.is_some()
    {
        return Err(conflict(name, version));
    }

    // The stored manifest: what the client sent, minus what the server
    // derives, with the readme cut as the public registry cuts it; bounded.
    manifest.remove("_attachments");
    manifest.insert("dist".into(), json!({}));
    let readme = manifest.remove("readme").or_else(|| doc.get("readme").cloned());
    if let Some(Value::String(text)) = readme {
        manifest.insert("readme".into(), json!(truncate(&text, MAX_README_BYTES)));
    }
    if render::has_install_script(&manifest) {
        manifest.insert("hasInstallScript".into(), json!(true));
    }
    if let Some(user) = &ctx.principal.user_id {
        manifest.insert("_npmUser".into(), json!({ "name": user }));
    }
    if doc.get("dist-tags").and_then(|t| t.as_object()).is_some_and(|t| t.len() > MAX_TAGS) {
        return Err(AppError::bad_request(format!("a package has at most {MAX_TAGS} dist-tags")));
    }
    let tags: Vec<String> = match doc.get("dist-tags").and_then(|t| t.as_object()) {
        Some(t) => t
            .iter()
            .filter(|(tag, v)| valid_tag(tag) && v.as_str() == Some(version.as_str()))
            .map(|(tag, _)| tag.clone())
            .collect(),
        None => vec!["latest".into()],
    };
    let visibility = match doc.get("access").and_then(|a| a.as_str()) {
        Some("restricted") => Visibility::Internal,
        _ => Visibility::Public,
    };
    let metadata = serde_json::to_string(&manifest).map_err(|e| AppError::internal(e.to_string()))?;
    if metadata.len() > MAX_MANIFEST_BYTES {
        return Err(AppError::bad_request(format!(
            "the version manifest is {} bytes; at most {MAX_MANIFEST_BYTES} are kept (the readme is cut at {MAX_README_BYTES})",
            metadata.len()
        )));
    }
    let new_version = NewVersion {
        registry: ctx.registry.name.clone(),
        name: name.full(),
        display_name: name.full(),
        version: version.clone(),
        metadata,
        files: Vec::new(),
        published_by: ctx.principal.user_id.clone(),
        tags,
        visibility,
        append: false,
    };
    let file = PublishFile {
        filename: name.tarball_filename(version),
        pending,
        content_type: "application/octet-stream".into(),
        metadata: "{}".into(),
    };
    let outcome = ctx.commit_publish(&owned, new_version, vec![file])
        .await
        .map_err(|e| match e {
        AppError::Conflict(_) => conflict(name, version),
        other => other,
    })?;
    tracing::info!(registry = %ctx.registry.name, package = %name, version = %version, by = %ctx.principal.label(), "published");
    Ok(http::json(
        StatusCode::CREATED,
        &json!({ "ok": true, "success": true, "id": name.full(), "rev": format!("{}-{}", 1, outcome.version_id) }),
    ))
}

/// The most of a readme that is kept (the public registry cuts readmes too).
pub const MAX_README_BYTES: usize = 64 * 1024;
/// The largest stored version manifest, readme included.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;
/// The most dist-tags a package has.
pub const MAX_TAGS: usize = 100;
/// The longest deprecation message.
pub const MAX_DEPRECATION_BYTES: usize = 1024;

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn conflict(name: &NpmName, version: &str) -> AppError {
    AppError::conflict(format!("cannot publish over the previously published version {version} of {name}"))
}

/// `PUT /{name}` without attachments: `npm deprecate`, and with `-rev` the
/// packument rewrite of `npm unpublish name@version`.
/// `npm owner add` / `npm owner rm`: the package's user owners become the
/// maintainers sent (group owners stay; a package keeps an owner).
async fn set_maintainers(
    ctx: &RequestCtx,
    name: &NpmName,
    package: &crate::serve::Writable,
    maintainers: &Value,
) -> AppResult<Response> {
    let wanted: Vec<String> = maintainers
        .as_array()
        .ok_or_else(|| AppError::bad_request("maintainers must be a list"))?
        .iter()
        .map(|m| m.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("").to_string())
        .collect();
    if wanted.is_empty() || wanted.iter().any(|n| n.is_empty() || n.len() > 256 || n.chars().any(char::is_control)) {
        return Err(AppError::bad_request("every maintainer needs a name, and a package keeps at least one"));
    }
    let catalog = &ctx.app.catalog;
    let current = catalog.list_owners(&package.id).await?;
    let users: Vec<&str> = current.iter().filter(|o| !o.is_group()).map(|o| o.principal_id.as_str()).collect();
    for w in wanted.iter().filter(|w| !users.contains(&w.as_str())) {
        tracing::debug!(owner = %w, "adding an owner");
        catalog.add_owner(&package.id, false, w, &package.check()).await?;
        ctx.audit_ok("owner-add", &name.full(), None);
    }
    let gone: Vec<(bool, String)> =
        users.iter().filter(|u| !wanted.iter().any(|w| w == *u)).map(|u| (false, u.to_string())).collect();
    if !gone.is_empty() {
        if !catalog.remove_owners(&package.id, &gone, &package.check()).await? {
            return Err(AppError::bad_request("a package keeps at least one owner"));
        }
        for (_, u) in &gone {
            tracing::debug!(owner = %u, "removed an owner");
            ctx.audit_ok("owner-remove", &name.full(), None);
        }
    }
    Ok(crate::http::json(StatusCode::OK, &json!({ "ok": true, "id": name.full() })))
}

async fn update_metadata(
    ctx: &RequestCtx,
    name: &NpmName,
    rev: Option<&str>,
    doc: Map<String, Value>,
) -> AppResult<Response> {
    let package = ctx.writable_package(&name.full(), &name.full()).await?;
    // `npm owner add/rm` sends the maintainers alone: no versions means no
    // version changes (never an unpublish of all of them).
    let Some(body_versions) = doc.get("versions").and_then(|v| v.as_object()) else {
        return match doc.get("maintainers") {
            Some(m) => set_maintainers(ctx, name, &package, m).await,
            None => Err(AppError::bad_request("nothing to change: the document has no versions and no maintainers")),
        };
    };
    let catalog = &ctx.app.catalog;
    let existing = catalog.list_versions(&package.id).await?;
    let existing_names: HashSet<&str> = existing.iter().map(|v| v.version.as_str()).collect();
    if let Some(unknown) = body_versions.keys().find(|v| !existing_names.contains(v.as_str())) {
        return Err(AppError::bad_request(format!("version {unknown} has no tarball: publish it with its attachment")));
    }
    let mut removed = Vec::new();
    for v in &existing {
        match body_versions.get(&v.version) {
            Some(sent) => {
                let wanted = sent.get("deprecated").and_then(|d| d.as_str()).filter(|d| !d.is_empty());
                if wanted.is_some_and(|m| m.len() > MAX_DEPRECATION_BYTES) {
                    return Err(AppError::bad_request(format!(
                        "a deprecation message is at most {MAX_DEPRECATION_BYTES} bytes"
                    )));
                }
                let mut stored: Map<String, Value> = serde_json::from_str(&v.metadata).unwrap_or_default();
                let current = stored.get("deprecated").and_then(|d| d.as_str()).map(str::to_string);
                if current.as_deref() != wanted {
                    match wanted {
                        Some(msg) => stored.insert("deprecated".into(), json!(msg)),
                        None => stored.remove("deprecated"),
                    };
                    let text = serde_json::to_string(&stored).map_err(|e| AppError::internal(e.to_string()))?;
                    catalog.update_version_metadata(&v.id, &text, &package.check()).await?;
                    ctx.audit_ok(
                        if wanted.is_some() { "deprecate" } else { "undeprecate" },
                        &name.full(),
                        Some(&v.version),
                    );
                }
            }
            None if rev.is_some() => {
                let files = catalog.delete_version(&package.id, &v.version, &package.check()).await?;
                ctx.audit_ok("unpublish", &name.full(), Some(&v.version));
                removed.extend(files);
            }
            None => {}
        }
    }
    if rev.is_some()
        && let Some(tags) = doc.get("dist-tags").and_then(|t| t.as_object())
    {
        let remaining: HashSet<&str> =
            existing.iter().map(|v| v.version.as_str()).filter(|v| body_versions.contains_key(*v)).collect();
        for (tag, version) in catalog.list_tags(&package.id).await? {
            match tags.get(&tag).and_then(|v| v.as_str()) {
                Some(v) if v == version => {}
                Some(v) if remaining.contains(v) && valid_tag(&tag) => catalog.set_tag(&package.id, &tag, v, &package.check()).await?,
                _ => {
                    catalog.delete_tag(&package.id, &tag, &package.check()).await?;
                }
            }
        }
        for (tag, v) in tags {
            if let Some(v) = v.as_str()
                && remaining.contains(v)
                && valid_tag(tag)
            {
                catalog.set_tag(&package.id, tag, v, &package.check()).await?;
            }
        }
    }
    if !removed.is_empty() && catalog.list_versions(&package.id).await?.is_empty() {
        // The blobs are left to the garbage collector (`batlehub gc`).
        catalog.delete_package(&package.id, &package.check()).await?;
    }
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

pub async fn unpublish_package(ctx: &RequestCtx, name: &NpmName) -> AppResult<Response> {
    let package = ctx.writable_package(&name.full(), &name.full()).await?;
    // The blobs are left to the garbage collector (`batlehub gc`).
    ctx.app.catalog.delete_package(&package.id, &package.check()).await?;
    ctx.audit_ok("unpublish", &name.full(), None);
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

pub async fn delete_tarball(ctx: &RequestCtx, name: &NpmName, filename: &str) -> AppResult<Response> {
    let package = ctx.writable_package(&name.full(), &name.full()).await?;
    // npm deletes the tarball after removing its version from the packument;
    // if the version is still there, the tarball's deletion removes it.
    if let Some(file) = ctx.app.catalog.get_file(&package.id, filename).await?
        && let Some(v) = ctx.app.catalog.list_versions(&package.id).await?.into_iter().find(|v| v.id == file.version_id)
    {
        ctx.app.catalog.delete_version(&package.id, &v.version, &package.check()).await?;
        ctx.audit_ok("unpublish", &name.full(), Some(&v.version));
    }
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}

pub async fn dist_tag_set(ctx: &RequestCtx, name: &NpmName, tag: &str, body: Body) -> AppResult<Response> {
    let raw = http::read_small_body(body, 64 * 1024).await?;
    let version = serde_json::from_slice::<String>(&raw)
        .ok()
        .or_else(|| std::str::from_utf8(&raw).ok().map(|s| s.trim().trim_matches('"').to_string()))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::bad_request("the body must be the version, as a JSON string"))?;
    let package = ctx.writable_package(&name.full(), &name.full()).await?;
    if ctx.app.catalog.get_version(&package.id, &version).await?.is_none() {
        return Err(AppError::not_found(format!("version {version} of {name} not found")));
    }
    let tags = ctx.app.catalog.list_tags(&package.id).await?;
    if tags.len() >= MAX_TAGS && !tags.iter().any(|(t, _)| t == tag) {
        return Err(AppError::bad_request(format!("a package has at most {MAX_TAGS} dist-tags")));
    }
    ctx.app.catalog.set_tag(&package.id, tag, &version, &package.check()).await?;
    ctx.audit_ok("dist-tag-add", &name.full(), Some(&version));
    Ok(http::json(StatusCode::CREATED, &json!({ "ok": true })))
}

pub async fn dist_tag_delete(ctx: &RequestCtx, name: &NpmName, tag: &str) -> AppResult<Response> {
    if tag == "latest" {
        return Err(AppError::bad_request("the latest tag cannot be removed"));
    }
    let package = ctx.writable_package(&name.full(), &name.full()).await?;
    if !ctx.app.catalog.delete_tag(&package.id, tag, &package.check()).await? {
        return Err(AppError::not_found(format!("{name} has no tag {tag}")));
    }
    ctx.audit_ok("dist-tag-rm", &name.full(), None);
    Ok(http::json(StatusCode::OK, &json!({ "ok": true })))
}
