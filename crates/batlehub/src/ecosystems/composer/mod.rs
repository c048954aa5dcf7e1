//! Composer: a Composer 2 repository under `/proxy/{registry}/`, for the
//! composer client.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /packages.json` | where the metadata, search and list are (`available-packages` in local mode) |
//! | `GET /p2/{vendor}/{package}.json`, `~dev.json` | a package's versions, `composer/2.0` minified |
//! | `GET /dist/{vendor}/{package}/{version}.zip` | an archive (`source:read`) |
//! | `GET /search.json?q=`, `GET /list.json` | local packages the caller may see |
//! | `POST /api/upload[?version=]` | publish a ZIP (its `composer.json` names the package) |
//! | `DELETE /api/packages/{vendor}/{package}/versions/{version}` | yank |
//!
//! Names are `vendor/package` in lower case; a namespace claim is a vendor
//! (`my-vendor/`). Errors are `{"status":"error","message":..}` JSON.
//! Files: [`op`], [`names`], [`archive`] (composer.json out of a ZIP),
//! [`p2`] (the minified form), [`read`], [`write`], [`setup`].

pub mod archive;
pub mod names;
pub mod op;
pub mod p2;
pub mod read;
pub mod setup;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use self::names::PackageName;
use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::serve::{BrowserUpload, Ecosystem, Head, RequestCtx, contract::check_prefix};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// The Composer 2 repository protocol.
pub struct Composer;

impl Ecosystem for Composer {
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> =
        Some(crate::rules::OsvName { ecosystem: "Packagist", purl_type: "composer" });
    const DECLARES_LICENCES: bool = true;

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl std::future::Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    fn file_entry(
        registry_url: &str,
        package: &crate::catalog::PackageRow,
        version: &crate::catalog::VersionRow,
        _file: &crate::catalog::FileRow,
    ) -> crate::serve::FileEntry {
        crate::serve::FileEntry { url: read::dist_link(registry_url, &package.name, &version.version), ..Default::default() }
    }

    type Op = Op;

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        match op {
            Op::Root => read::root(ctx).await,
            Op::P2 { name, dev } => read::p2_document(ctx, name, *dev, &parts.headers).await,
            Op::Dist { name, version } => read::dist(ctx, name, version).await,
            Op::Search => read::search(ctx, parts.uri.query().unwrap_or("")).await,
            Op::List => read::list(ctx).await,
            Op::Upload => write::upload(ctx, parts, body).await,
            Op::Yank { name, version } => write::yank(ctx, name, version).await,
        }
    }

    /// Composer prints the `message` of a JSON error body.
    fn render_error(err: &AppError) -> Response {
        err.render_with("application/json", |m| {
            serde_json::to_vec(&json!({ "status": "error", "message": m })).unwrap_or_default()
        })
    }

    fn normalize_name(name: &str) -> Option<String> {
        PackageName::parse(name).ok().map(|n| n.to_string())
    }

    /// A vendor (`my-vendor`, `my-vendor/`), as `my-vendor/`; or a longer
    /// prefix of names as written.
    fn normalize_prefix(prefix: &str) -> Result<String, String> {
        check_prefix(prefix)?;
        let lower = prefix.to_ascii_lowercase();
        if !lower.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) || lower.starts_with('/') {
            return Err(format!("namespace prefix `{prefix}`: package names are vendor/package of letters, digits, `-`, `_` and `.`"));
        }
        Ok(if lower.contains('/') { lower } else { format!("{lower}/") })
    }

    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let name = PackageName::parse(name).map_err(AppError::BadRequest)?;
        Ok(vec![read::p2_fetch(ctx, &name, false), read::p2_fetch(ctx, &name, true)])
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    const BROWSER_UPLOAD: Option<BrowserUpload> = Some(BrowserUpload {
        accept: ".zip",
        hint: "A ZIP with composer.json at its root or in its top folder: name and version are read from it.",
        fields: &[],
    });

    async fn publish_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
        let (name, version) = write::publish_zip(ctx, upload.pending, None).await?;
        Ok(format!("{name} {version}"))
    }
}
