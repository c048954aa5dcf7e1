//! NuGet: a NuGet v3 feed under `/proxy/{registry}/nuget/`, for NuGet.exe,
//! dotnet and every client of the v3 protocol.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /nuget/v3/index.json` | the service index (answered to anyone) |
//! | `GET /nuget/v3/flat/{id}/index.json` | every version, `{"versions":[...]}` |
//! | `GET /nuget/v3/flat/{id}/{version}/{id}.{version}.nupkg`, `{id}.nuspec` | a package and its manifest |
//! | `GET /nuget/v3/registration/{id}/index.json`, `page/{lower}/{upper}.json`, `{version}.json` | registrations (inlined up to 64 versions, paged beyond) |
//! | `GET /nuget/v3/query?q=&skip=&take=&prerelease=&semVerLevel=` | search |
//! | `GET /nuget/v3/autocomplete?q=` / `?id=` | ids, or one id's versions |
//! | `PUT /nuget/v2/package[/]` | push (multipart or raw; 201, 409 on an existing version) |
//! | `PUT /nuget/v2/symbolpackage[/]` | a `.snupkg` for a pushed version |
//! | `DELETE /nuget/v2/package/{id}/{version}`, `POST` | unlist, relist |
//!
//! Ids are case-insensitive (lower case in flat container URLs, the catalog
//! key); versions are normalised as NuGet does ([`names`]). The key may come
//! in `X-NuGet-ApiKey` or any credential form BatleHub accepts. Upstream
//! feeds are discovered through their own service index ([`upstream`]).
//! Errors are plain text with the message as the reason phrase (what
//! NuGet.exe and dotnet print). Files: [`op`], [`names`], [`nupkg`] (the
//! `.nuspec` out of a package, safely), [`render`], [`upstream`], [`read`],
//! [`write`], [`setup`].

pub mod names;
pub mod nupkg;
pub mod op;
pub mod read;
pub mod render;
pub mod setup;
pub mod upstream;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;

use self::names::PackageId;
use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::serve::{BrowserUpload, Ecosystem, Head, RequestCtx};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// The NuGet v3 protocol.
pub struct Nuget;

impl Ecosystem for Nuget {
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> = Some(crate::rules::OsvName { ecosystem: "NuGet", purl_type: "nuget" });
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
        let query = parts.uri.query().unwrap_or("");
        match op {
            Op::ServiceIndex => Ok(read::service_index(ctx)),
            Op::Versions { id } => read::versions(ctx, id, &parts.headers).await,
            Op::Content { id, version, content } => read::content(ctx, id, version, *content, &parts.headers).await,
            Op::Registration { id } => read::registration(ctx, id, &parts.headers).await,
            Op::RegistrationPage { id, lower, upper } => read::registration_page(ctx, id, lower, upper).await,
            Op::RegistrationLeaf { id, version } => read::registration_leaf(ctx, id, version).await,
            Op::Search => read::search(ctx, query).await,
            Op::Autocomplete => read::autocomplete(ctx, query).await,
            Op::Push => write::push(ctx, parts, body).await,
            Op::PushSymbols => write::push_symbols(ctx, parts, body).await,
            Op::Unlist { id, version } => write::set_listed(ctx, id, version, false).await,
            Op::Relist { id, version } => write::set_listed(ctx, id, version, true).await,
        }
    }

    fn render_error(err: &AppError) -> Response {
        crate::serve::contract::plain_error(err, true)
    }

    fn normalize_name(name: &str) -> Option<String> {
        PackageId::parse(name).ok().map(|id| id.lower())
    }

    /// The key NuGet clients send with a push or a delete.
    fn credential(head: &Head<'_>) -> Option<String> {
        head.headers
            .get("x-nuget-apikey")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
    }

    /// Never asked: NuGet's listings are found through each upstream's
    /// service index, in [`Ecosystem::find_upstream_listings`].
    fn upstream_listings(_ctx: &RequestCtx, _name: &str) -> AppResult<Vec<DocFetch>> {
        Err(AppError::internal("NuGet listings are found through the upstreams' service indexes"))
    }

    /// The flat container version list of `name` on every upstream, each
    /// found through the upstream's service index.
    async fn find_upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let id = PackageId::parse(name).map_err(AppError::BadRequest)?;
        let mut out = Vec::new();
        for url in &ctx.registry.upstreams {
            let feed = upstream::feed(ctx, url).await.map_err(|e| {
                // The failed fetch itself was logged once, where it ran.
                tracing::debug!(registry = %ctx.registry.name, error = %e, "upstream service index unavailable");
                AppError::Unavailable(format!(
                    "cannot tell whether the upstream of {} serves {name}; try again later",
                    ctx.registry.name
                ))
            })?;
            out.extend(upstream::flat_fetch(ctx, &feed, &id.lower())?);
        }
        Ok(out)
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    const BROWSER_UPLOAD: Option<BrowserUpload> = Some(BrowserUpload {
        accept: ".nupkg",
        hint: "A .nupkg: id and version are read from its .nuspec.",
        fields: &[],
    });

    /// NuGet's users push with their client: the CLI tab shows how.
    const CLI_INSTRUCTIONS: bool = true;

    async fn publish_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
        let (id, version) = write::publish_nupkg(ctx, upload.pending).await?;
        Ok(format!("{id} {version}"))
    }
}
