//! PyPI: the Simple repository API, the JSON API and the legacy upload API
//! under `/proxy/{registry}/`.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /simple/` | the project list (local projects) |
//! | `GET /simple/{project}/` | project page: PEP 503 HTML or PEP 691 JSON by `Accept`; a non-normalised name redirects |
//! | `GET /packages/{project}/{filename}` | a distribution file |
//! | `GET /packages/{project}/{filename}.metadata` | its core metadata (PEP 658) |
//! | `GET /pypi/{project}/json`, `/pypi/{project}/{version}/json` | the JSON API (local projects) |
//! | `POST /legacy/` | upload (twine, `uv publish`, `poetry publish`) |
//!
//! Every file link a page serves points at `/packages/{project}/{filename}`;
//! for an upstream project the original location is looked up server-side in
//! the cached upstream page, so a client can only make BatleHub fetch what a
//! configured upstream's page links to. Errors are plain text, with the
//! message also as the HTTP reason phrase, which is what twine prints.
//! Files: [`op`] (parsing), [`names`], [`read`] (pages, files, the JSON
//! API), [`write`] (uploads), [`simple`] (the page model), [`dist`] (core
//! metadata out of wheels and sdists), [`setup`].

pub mod dist;
pub mod names;
pub mod op;
pub mod read;
pub mod setup;
pub mod simple;
pub mod write;

use axum::body::Body;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;

use self::names::ProjectName;
use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::serve::{BrowserUpload, Ecosystem, Head, RequestCtx, contract, contract::check_prefix};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// The Simple repository API, the JSON API and the legacy upload API.
pub struct Pypi;

impl Ecosystem for Pypi {
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> = Some(crate::rules::OsvName { ecosystem: "PyPI", purl_type: "pypi" });

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    /// PEP 440 version specifiers (`>=2.31,<3`, `==1.4.*`, `~=1.2`).
    fn version_range(range: &str) -> Result<crate::rules::VersionMatcher, String> {
        use std::str::FromStr;
        let specifiers = pep440_rs::VersionSpecifiers::from_str(range)
            .map_err(|e| format!("`{range}` is not a PEP 440 version specifier: {e}"))?;
        Ok(std::sync::Arc::new(move |v: &str| names::parse_version(v).is_some_and(|v| specifiers.contains(&v))))
    }

    fn file_entry(
        registry_url: &str,
        package: &crate::catalog::PackageRow,
        _version: &crate::catalog::VersionRow,
        file: &crate::catalog::FileRow,
    ) -> crate::serve::FileEntry {
        crate::serve::FileEntry {
            url: Some(format!("{registry_url}/packages/{}/{}", package.name, file.filename)),
            // PEP 658 metadata is a sidecar of its distribution, not a file of its own.
            hidden: file.filename.ends_with(".metadata"),
            ..Default::default()
        }
    }

    const CLIENT_PATH: &'static str = "/simple/";

    type Op = Op;

    /// PEP 440 order; a version that is not one sorts by the default order.
    fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
        match (names::parse_version(a), names::parse_version(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => crate::serve::natural_version_order(a, b),
        }
    }

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        match op {
            Op::Root => read::root(ctx, simple::negotiate(accept), &parts.headers).await,
            Op::Project { name, slash } => {
                if !name.is_normalized() || !slash {
                    return Ok(read::redirect(&format!("{}/simple/{}/", ctx.registry_base(), name.key())));
                }
                read::project(ctx, name.key(), simple::negotiate(accept), &parts.headers).await
            }
            Op::File { project, filename } => read::file(ctx, project.key(), filename, false).await,
            Op::Metadata { project, filename } => read::file(ctx, project.key(), filename, true).await,
            Op::Json { project, version } => read::json_api(ctx, project.key(), version.as_deref()).await,
            Op::Upload => write::upload(ctx, parts, body).await,
        }
    }

    /// Plain text, with the message as the reason phrase (what twine prints).
    fn render_error(err: &AppError) -> Response {
        contract::plain_error(err, true)
    }

    fn normalize_name(name: &str) -> Option<String> {
        ProjectName::parse(name).ok().map(|n| n.key().to_string())
    }

    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let project = ProjectName::parse(name).map_err(AppError::bad_request)?;
        Ok(vec![read::page_fetch(ctx, project.key())])
    }

    /// Project names are ASCII letters, digits, `.`, `_` and `-`, compared
    /// in their PEP 503 form; a trailing separator stays (`acme_` is
    /// `acme-`).
    fn normalize_prefix(prefix: &str) -> Result<String, String> {
        check_prefix(prefix)?;
        if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(format!("namespace prefix `{prefix}`: project names are ASCII letters, digits, `.`, `_` and `-`"));
        }
        let mut key = names::normalize(prefix);
        if prefix.ends_with(['-', '_', '.']) && !key.is_empty() {
            key.push('-');
        }
        if key.is_empty() {
            return Err(format!("namespace prefix `{prefix}` must contain a letter or digit"));
        }
        Ok(key)
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    const BROWSER_UPLOAD: Option<BrowserUpload> = Some(BrowserUpload {
        accept: ".whl,.tar.gz,.zip",
        hint: "A wheel or source distribution: name and version are read from the file name and checked against its metadata.",
        fields: &[],
    });

    async fn publish_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
        write::publish_distribution(ctx, upload).await
    }
}
