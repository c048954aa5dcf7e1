//! Conda: a channel under `/proxy/{registry}/`, for conda, mamba, pixi and
//! every rattler-based client.
//!
//! | Request | Op |
//! |---|---|
//! | `GET`/`HEAD /channeldata.json` | every package: its subdirs and latest version |
//! | `GET`/`HEAD /{subdir}/repodata.json`, `.json.zst`, `.json.bz2` (and `current_repodata.json`, the same) | a subdir's records |
//! | `GET /{subdir}/repodata_shards.msgpack.zst`, `/{subdir}/shards/...` | 404: sharded repodata is not served; clients fall back |
//! | `GET /{subdir}/{name}-{version}-{build}.conda` / `.tar.bz2` | a package file |
//! | `GET /packages/{name}.json` | one package's records in every subdir |
//! | `POST /{subdir}/`, `PUT /{subdir}/{file}` | upload a `.conda` or `.tar.bz2` (201; 409 when the file exists) |
//!
//! Any of these may start with `/t/{token}` (a channel URL with a token in
//! it, as conda clients take it): the token is the credential, and logs
//! show `/t/<token>`.
//!
//! A version holds every build and format uploaded of it; the catalog file
//! name is `{subdir}/{file}`. Upstreams are channel URLs; their repodata is
//! a document (TTL, revalidation), their files are verified against its
//! `sha256`. Errors are plain text with the message as the reason phrase.
//! Files: [`op`], [`names`], [`package`] (`info/index.json` out of a
//! package, safely), [`repodata`], [`read`], [`write`], [`setup`].

pub mod names;
pub mod op;
pub mod package;
pub mod read;
pub mod repodata;
pub mod setup;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;

use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::serve::{BrowserUpload, Ecosystem, FileEntry, Head, RequestCtx};
use crate::setup::{Snippet, Target};
use crate::upstream::CacheKey;
use crate::upstream::documents::DocFetch;

/// The conda channel protocol.
pub struct Conda;

impl Ecosystem for Conda {
    const ENFORCES_RULES: bool = true;
    const DECLARES_LICENCES: bool = true;

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl std::future::Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    type Op = Op;

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        match op {
            Op::ChannelData => read::channeldata(ctx, &parts.headers).await,
            Op::Repodata { subdir, form } => read::repodata(ctx, subdir, *form, &parts.headers).await,
            Op::Shards => Err(AppError::not_found("sharded repodata is not served here: use repodata.json")),
            Op::File { subdir, file } => read::file(ctx, subdir, file).await,
            Op::Package { name } => read::package(ctx, name, &parts.headers).await,
            Op::Upload { subdir, file } => write::upload(ctx, subdir, file.as_ref(), parts, body).await,
        }
    }

    fn render_error(err: &AppError) -> Response {
        crate::serve::contract::plain_error(err, true)
    }

    fn normalize_name(name: &str) -> Option<String> {
        names::normalize(name)
    }

    /// The upstream's `channeldata.json` lists every package of the channel.
    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let _ = name;
        Ok(vec![ctx.doc_fetch(CacheKey::new("channeldata"), "channeldata.json".into(), "application/json")])
    }

    /// Asks each upstream's `channeldata.json` whether it lists `name`.
    async fn find_upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let name = names::normalize(name).ok_or_else(|| AppError::bad_request(format!("invalid name {name}")))?;
        let mut out = Vec::new();
        for fetch in Self::upstream_listings(ctx, &name)? {
            match ctx.document(fetch.clone()).await {
                Ok(served) => {
                    let parsed = ctx.parsed(&served.doc, |d| repodata::parse_channeldata(&d.body)).await?;
                    if parsed.packages.contains_key(&name) {
                        out.push(fetch);
                    }
                }
                Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A token in the path (`/t/{token}/...`), as conda clients send it
    /// when the channel URL holds one.
    fn credential(head: &Head<'_>) -> Option<String> {
        let (token, _) = op::split_token(head.path)?;
        let token = percent_encoding::percent_decode_str(token).decode_utf8().ok()?;
        (!token.is_empty()).then(|| token.into_owned())
    }

    /// The path token never reaches a log.
    fn log_path(path: &str) -> std::borrow::Cow<'_, str> {
        match op::split_token(path) {
            Some((_, rest)) => std::borrow::Cow::Owned(format!("/t/<token>{rest}")),
            None => std::borrow::Cow::Borrowed(path),
        }
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    fn file_entry(
        registry_url: &str,
        _package: &crate::catalog::PackageRow,
        _version: &crate::catalog::VersionRow,
        file: &crate::catalog::FileRow,
    ) -> FileEntry {
        FileEntry { url: Some(format!("{registry_url}/{}", file.filename)), withdrawn: false, hidden: false }
    }

    const BROWSER_UPLOAD: Option<BrowserUpload> = Some(BrowserUpload {
        accept: ".conda,.bz2",
        hint: "A .conda or .tar.bz2 built by conda build or rattler-build: name, version and build are read from its info/index.json.",
        fields: &[("platform", "Platform (e.g. linux-64; empty: the one its info/index.json names)")],
    });

    /// To the platform given (which must be the package's), else to the
    /// one its `index.json` names.
    async fn publish_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
        let platform = upload.field("platform").map(str::trim).filter(|p| !p.is_empty()).map(str::to_string);
        if let Some(p) = &platform {
            names::check_subdir(p).map_err(AppError::BadRequest)?;
        }
        let (file, stored) = write::publish(ctx, platform.as_deref(), None, upload.pending).await?;
        Ok(format!("{} {} ({stored})", file.name, file.version))
    }
}
