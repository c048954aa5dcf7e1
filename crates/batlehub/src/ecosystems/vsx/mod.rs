//! VS Code extensions: registry types `openvsx` and `vscode-marketplace`,
//! for VS Code (the gallery protocol), `ovsx` (the OpenVSX REST API) and
//! the user guide's `curl`. Both types serve every endpoint below and take
//! the same uploads; they differ only in what their upstreams speak (an
//! OpenVSX server's REST API, or a VS Code gallery's `extensionquery`).
//!
//! | Request | Op |
//! |---|---|
//! | `GET`/`HEAD /{publisher.name}/{version}/vsix` (`latest`, `?targetPlatform=`) | a release's VSIX (the user guide) |
//! | `PUT /{publisher.name}/{version}/vsix` | publish a VSIX (201; 409 when that version and platform exist) |
//! | `DELETE /{publisher.name}/{version}/vsix` | yank the version |
//! | `POST /api/-/publish?token=` | `ovsx publish` (201 with the release's document) |
//! | `GET /api/{ns}/{ext}[/{platform}][/{version}]` | OpenVSX's extension document |
//! | `GET /api/{ns}/{ext}[/{platform}]/{version}/file/{name}` | the VSIX, its `.sha256`, or an asset |
//! | `GET /api/{ns}`, `/api/-/search`, `/api/-/query` | a namespace, a search, a query |
//! | `POST /vscode/gallery/extensionquery` (also `/_apis/public/gallery/...` and `/extensionquery`) | the gallery's query |
//! | `GET /vscode/gallery/publishers/{p}/vsextensions/{n}/{v}/vspackage` | the VSIX |
//! | `GET /vscode/asset/{p}/{n}/{v}/{assetType}`, `/vscode/unpkg/{p}/{n}/{v}/{path}` | an asset |
//! | `GET /vscode/item?itemName=` | to the extension's document |
//!
//! A version holds one VSIX per target platform (catalog files
//! `{platform}/{id}-{version}.vsix`), with its assets beside it
//! (`{platform}/{version}/README.md`, ...), copied out of the VSIX at
//! publish.
//! Errors are JSON `{"error": ...}`, which `ovsx` prints. Files: [`op`],
//! [`names`], [`vsix`] (reading a VSIX safely), [`model`] (releases and
//! their documents), [`upstream`], [`read`], [`write`], [`setup`].

pub mod model;
pub mod names;
pub mod op;
pub mod read;
pub mod setup;
pub mod upstream;
pub mod vsix;
pub mod write;

use std::marker::PhantomData;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use self::names::ExtId;
use self::op::Op;
use self::upstream::Flavour;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::serve::{BrowserUpload, Ecosystem, FileEntry, Head, RequestCtx};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// The extension registry, reading upstreams of flavour `F`.
pub struct Vsx<F>(PhantomData<F>);

/// Type `openvsx`: upstreams are OpenVSX servers.
pub type Openvsx = Vsx<upstream::OpenVsx>;

/// Type `vscode-marketplace`: upstreams are VS Code galleries.
pub type VscodeMarketplace = Vsx<upstream::Gallery>;

impl<F: Flavour> Ecosystem for Vsx<F> {
    type Op = Op;

    const ENFORCES_RULES: bool = true;
    const DECLARES_LICENCES: bool = F::DECLARES_LICENCES;

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl std::future::Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases::<F>(ctx, name)
    }

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path, head.query)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        let headers = &parts.headers;
        match op {
            Op::File { id, version, platform, want } => {
                read::file::<F>(ctx, id, version, platform.as_deref(), *want).await
            }
            Op::Put { id, version, platform } => write::put(ctx, id, version, platform.as_deref(), parts, body).await,
            Op::Yank { id, version } => write::yank(ctx, id, version).await,
            Op::Publish => write::publish_api(ctx, parts, body).await,
            Op::Extension { id, platform, version } => {
                read::extension::<F>(ctx, id, platform.as_deref(), version, headers).await
            }
            Op::Namespace { namespace } => read::namespace(ctx, namespace, headers).await,
            Op::Search { params } => read::search(ctx, params, headers).await,
            Op::Query { params } => read::query::<F>(ctx, params, headers).await,
            Op::GalleryQuery => read::gallery_query::<F>(ctx, headers, body).await,
            Op::Item { id } => Ok(read::item(ctx, id)),
        }
    }

    fn render_error(err: &AppError) -> Response {
        err.render_with("application/json", |m| json!({ "error": m }).to_string().into_bytes())
    }

    fn normalize_name(name: &str) -> Option<String> {
        names::normalize(name)
    }

    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let id = ExtId::parse(name).map_err(AppError::BadRequest)?;
        Ok(vec![F::listing(ctx, &id)])
    }

    /// Whether an upstream lists the extension (a gallery answers every
    /// query, with no match for an unknown name).
    async fn find_upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let id = ExtId::parse(name).map_err(AppError::BadRequest)?;
        if ctx.registry.upstreams.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match F::releases(ctx, &id).await? {
            Some(_) => vec![F::listing(ctx, &id)],
            None => Vec::new(),
        })
    }

    /// `ovsx` sends its token in the query, and only to publish.
    fn credential(head: &Head<'_>) -> Option<String> {
        if head.path != "/api/-/publish" {
            return None;
        }
        op::query_pairs(head.query).into_iter().find(|(k, v)| k == "token" && !v.is_empty()).map(|(_, v)| v)
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    fn file_entry(
        registry_url: &str,
        package: &crate::catalog::PackageRow,
        version: &crate::catalog::VersionRow,
        file: &crate::catalog::FileRow,
    ) -> FileEntry {
        let Some((platform, _)) = names::split_file(&file.filename).filter(|_| file.filename.ends_with(".vsix")) else {
            return FileEntry { url: None, withdrawn: false, hidden: true };
        };
        let query = if platform == names::UNIVERSAL { String::new() } else { format!("?targetPlatform={platform}") };
        FileEntry {
            url: Some(format!("{registry_url}/{}/{}/vsix{query}", package.display_name, version.version)),
            withdrawn: false,
            hidden: false,
        }
    }

    const BROWSER_UPLOAD: Option<BrowserUpload> = Some(BrowserUpload {
        accept: ".vsix",
        hint: "A .vsix built with vsce package: its id, version and target platform are read from its manifest.",
        fields: &[("extension", "Extension ID (publisher.name)"), ("version", "Version")],
    });

    /// The id and version given must be the VSIX's own.
    async fn publish_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
        let id = match upload.field("extension").map(str::trim) {
            Some(i) => Some(ExtId::parse(i).map_err(AppError::BadRequest)?),
            None => None,
        };
        let version = upload.field("version").map(str::trim).map(str::to_string);
        if let Some(v) = &version {
            names::check_version(v).map_err(AppError::BadRequest)?;
        }
        let expected = write::Expected { id: id.as_ref(), version: version.as_deref(), platform: None };
        let r = write::publish(ctx, expected, upload.pending).await?;
        let on = if r.platform == names::UNIVERSAL { String::new() } else { format!(" ({})", r.platform) };
        Ok(format!("{} {}{on}", r.id.display(), r.version))
    }
}
