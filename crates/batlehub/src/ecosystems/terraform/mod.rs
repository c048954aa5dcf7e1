//! Terraform (and OpenTofu): registry type `terraform`, for `terraform init`.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /.well-known/terraform.json` | service discovery (also at the host root: `[server] well_known_registry`) |
//! | `GET /v1/modules/{ns}/{name}/{system}/versions` | a module's versions |
//! | `GET /v1/modules/{ns}/{name}/{system}/{version}/download` | 204 with `X-Terraform-Get` |
//! | `GET /v1/modules/{ns}/{name}/{system}/{version}/archive.tar.gz` | a private module's archive (a signed link, or read access) |
//! | `POST`/`PUT /v1/modules/{ns}/{name}/{system}/{version}` | publish a module (`.tar.gz`; 409 when it exists) |
//! | `GET /v1/providers/{ns}/{type}/versions` | a provider's versions, protocols and platforms |
//! | `GET /v1/providers/{ns}/{type}/{version}/download/{os}/{arch}` | a package's download document |
//! | `GET /v1/providers/{ns}/{type}/{version}/archive/{file}.zip` | the package (a signed link, or read access) |
//! | `GET /v1/providers/{ns}/{type}/{version}/SHA256SUMS[.sig]` | its checksums and their signature |
//! | `PUT /v1/providers/{ns}/{type}/{version}/{os}/{arch}` | publish one platform's package (zip; `?protocols=5.0,6.0`) |
//! | `DELETE /v1/modules/.../{version}`, `/v1/providers/.../{version}` | yank |
//! | `GET /{hostname}/{ns}/{type}/index.json`, `{version}.json` | the provider network mirror protocol |
//!
//! Catalog keys: `{ns}/{name}/{system}` for a module, `{ns}/{type}` for a
//! provider (lower case), so one claim of `{ns}/` covers a team's modules
//! and providers. Errors are `{"errors": [...]}`, which Terraform prints.
//! Files: [`op`], [`names`], [`archive`] (reading uploads safely), [`sign`]
//! (the OpenPGP key), [`upstream`], [`read`], [`write`], [`setup`].

pub mod archive;
pub mod names;
pub mod op;
pub mod read;
pub mod setup;
pub mod sign;
pub mod upstream;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::serve::{Ecosystem, FileEntry, Head, RequestCtx};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

pub struct Terraform;

impl Ecosystem for Terraform {
    const ENFORCES_RULES: bool = true;

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
        let query = parts.uri.query();
        match op {
            Op::Discovery => Ok(read::discovery(ctx)),
            Op::ModuleVersions { module } => read::module_versions(ctx, module).await,
            Op::ModuleDownload { module, version } => read::module_download(ctx, module, version).await,
            Op::ModuleArchive { module, version } => read::module_archive(ctx, module, version, query).await,
            Op::ModuleUpload { module, version } => write::module(ctx, module, version, parts, body).await,
            Op::ProviderVersions { provider } => read::provider_versions(ctx, provider).await,
            Op::ProviderDownload { provider, version, platform } => {
                read::provider_download(ctx, provider, version, platform).await
            }
            Op::ProviderArchive { provider, version, platform } => {
                read::provider_archive(ctx, provider, version, platform, query).await
            }
            Op::Shasums { provider, version, signature } => {
                read::shasums(ctx, provider, version, *signature, query).await
            }
            Op::ProviderUpload { provider, version, platform } => {
                write::provider(ctx, provider, version, platform, parts, body).await
            }
            Op::Yank { key, display, version } => write::yank(ctx, key, display, version).await,
            Op::MirrorIndex { provider, .. } => read::mirror_index(ctx, provider).await,
            Op::MirrorVersion { provider, version, .. } => read::mirror_version(ctx, provider, version).await,
        }
    }

    fn render_error(err: &AppError) -> Response {
        err.render_with("application/json", |m| json!({ "errors": [m] }).to_string().into_bytes())
    }

    fn normalize_name(name: &str) -> Option<String> {
        names::normalize(name)
    }

    /// Where a listing is depends on the upstream's discovery: see below.
    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let _ = (ctx, name);
        Ok(Vec::new())
    }

    /// Discovery first: the versions document is where it says.
    async fn find_upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        Ok(upstream::listing_fetch(ctx, name).await?.into_iter().collect())
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
        let url = match names::named(&package.display_name) {
            Some(names::Named::Module(m)) => {
                Some(format!("{registry_url}/v1/modules/{}/{}/archive.tar.gz", m.path(), version.version))
            }
            Some(names::Named::Provider(p)) => {
                Some(format!("{registry_url}/v1/providers/{}/{}/archive/{}", p.path(), version.version, file.filename))
            }
            None => None,
        };
        FileEntry { url, withdrawn: false, hidden: false }
    }
}
