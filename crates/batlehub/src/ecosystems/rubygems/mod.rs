//! RubyGems: the compact index and the push API under `/proxy/{registry}/`,
//! for gem and Bundler.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /versions`, `/info/{gem}`, `/names` | the compact index (ETag, Repr-Digest, ranges) |
//! | `GET /gems/{name}-{version}[-{platform}].gem` | a gem |
//! | `POST /api/v1/gems` | `gem push` (the raw `.gem`; the token as the API key) |
//! | `DELETE /api/v1/gems/yank`, `PUT /api/v1/gems/unyank` | `gem yank` and its undoing |
//! | `GET /api/v1/dependencies?gems=a,b` | the dependency API (Marshal; local gems) |
//! | `GET /api/v1/gems/{name}.json`, `/api/v1/versions/{name}.json` | the JSON API (local gems) |
//! | `GET /specs.4.8.gz`, `/latest_specs.4.8.gz`, `/prerelease_specs.4.8.gz`, `/quick/Marshal.4.8/{gem}.gemspec.rz` | the legacy Marshal indexes `gem install` reads ([`marshal`]) |
//!
//! The gemspec inside a pushed `.gem` is read without loading any Ruby
//! object ([`gem`]). Errors are plain text, which gem and Bundler print.
//! Files: [`op`], [`names`], [`gem`], [`read`], [`write`], [`setup`].

pub mod gem;
pub mod marshal;
pub mod names;
pub mod op;
pub mod read;
pub mod setup;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;

use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::serve::{BrowserUpload, Ecosystem, Head, RequestCtx};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// The RubyGems protocols.
pub struct Rubygems;

impl Ecosystem for Rubygems {
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> = Some(crate::rules::OsvName { ecosystem: "RubyGems", purl_type: "gem" });
    const DECLARES_LICENCES: bool = true;

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl std::future::Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    fn file_entry(
        registry_url: &str,
        _package: &crate::catalog::PackageRow,
        _version: &crate::catalog::VersionRow,
        file: &crate::catalog::FileRow,
    ) -> crate::serve::FileEntry {
        crate::serve::FileEntry {
            url: Some(format!("{registry_url}/gems/{}", file.filename)),
            withdrawn: read::spec_of(file).is_some_and(|s| s.yanked),
            ..Default::default()
        }
    }

    type Op = Op;

    fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
        names::compare_versions(a, b)
    }

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        match op {
            Op::Versions => read::versions(ctx, &parts.headers).await,
            Op::Names => read::names(ctx, &parts.headers).await,
            Op::Info { name } => read::info(ctx, name, &parts.headers).await,
            Op::Gem { file } => read::gem(ctx, file).await,
            Op::Push => write::push(ctx, parts, body).await,
            Op::Yank => write::yank(ctx, parts, body, true).await,
            Op::Unyank => write::yank(ctx, parts, body, false).await,
            Op::Dependencies => read::dependencies(ctx, parts.uri.query().unwrap_or("")).await,
            Op::GemJson { name } => read::gem_info(ctx, name).await,
            Op::VersionsJson { name } => read::versions_json(ctx, name).await,
            Op::Specs { kind } => read::specs(ctx, *kind).await,
            Op::Gemspec { file } => read::gemspec(ctx, file).await,
        }
    }

    fn render_error(err: &AppError) -> Response {
        crate::serve::contract::plain_error(err, false)
    }

    fn normalize_name(name: &str) -> Option<String> {
        names::check_name(name).ok().map(|_| name.to_string())
    }

    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        names::check_name(name).map_err(AppError::BadRequest)?;
        Ok(vec![read::info_fetch(ctx, name)])
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    const BROWSER_UPLOAD: Option<BrowserUpload> =
        Some(BrowserUpload { accept: ".gem", hint: "A .gem: name, version and platform are read from its gemspec.", fields: &[] });

    async fn publish_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
        let spec = write::publish_gem(ctx, upload.pending).await?;
        Ok(format!("{} {}", spec.name, spec.version))
    }
}
