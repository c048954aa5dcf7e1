//! npm, the reference ecosystem: `/proxy/{registry}/...` speaks the npm
//! registry protocol to npm, pnpm and yarn.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /{name}` (`@scope%2fname` or `@scope/name`) | packument, full or abbreviated (`Accept: application/vnd.npm.install-v1+json`) |
//! | `GET /{name}/{version-or-tag}` | one version's manifest |
//! | `GET /{name}/-/{file}.tgz` | tarball |
//! | `PUT /{name}` | `npm publish` (attachment), `npm deprecate` (no attachment) |
//! | `PUT /{name}/-rev/{rev}`, `DELETE /{name}/-/{file}/-rev/{rev}` | `npm unpublish name@version` |
//! | `DELETE /{name}/-rev/{rev}` | `npm unpublish name --force` |
//! | `GET /-/package/{name}/dist-tags`, `PUT/DELETE …/dist-tags/{tag}` | `npm dist-tag ls/add/rm` |
//! | `GET /-/whoami`, `GET /-/ping`, `GET /-/v1/search` | `npm whoami`, `npm ping`, `npm search` |
//! | `POST /-/npm/v1/security/advisories/bulk`, `…/audits/quick` | `npm audit` |
//!
//! Errors are `{"error": "..."}`: npm prints that field after the status
//! line. Protocol notes: tarball URLs in served packuments always point back
//! here (`{base}/proxy/{registry}/{name}/-/{file}`); publish bodies are
//! streamed (see [`publish`]). Files: [`op`] (parsing), [`names`], [`read`]
//! (packuments, tarballs, search, audit), [`write`] (publish, unpublish,
//! tags), [`render`] (documents), [`publish`] (the body parser), [`setup`].

pub mod names;
pub mod op;
pub mod publish;
pub mod read;
pub mod render;
pub mod setup;
pub mod write;

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use self::names::NpmName;
use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{Ecosystem, Head, RequestCtx};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// The npm registry protocol.
pub struct Npm;

impl Ecosystem for Npm {
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> = Some(crate::rules::OsvName { ecosystem: "npm", purl_type: "npm" });
    const DECLARES_LICENCES: bool = true;

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    /// npm's own range syntax (`^1.2.0`, `1.x || >=3`, `1.0.0 - 1.4.0`).
    fn version_range(range: &str) -> Result<crate::rules::VersionMatcher, String> {
        let parsed = nodejs_semver::Range::parse(range).map_err(|e| format!("`{range}` is not an npm range: {e}"))?;
        Ok(std::sync::Arc::new(move |v: &str| nodejs_semver::Version::parse(v).is_ok_and(|v| parsed.satisfies(&v))))
    }

    /// The published manifest's `license`.
    fn local_licence(version: &crate::catalog::VersionRow) -> Option<String> {
        let meta: serde_json::Value = serde_json::from_str(&version.metadata).ok()?;
        render::declared_licence(&meta).map(str::to_string)
    }

    fn deprecation(version: &crate::catalog::VersionRow) -> Option<String> {
        let meta: serde_json::Value = serde_json::from_str(&version.metadata).ok()?;
        meta.get("deprecated").and_then(|d| d.as_str()).filter(|d| !d.is_empty()).map(str::to_string)
    }

    fn file_entry(
        registry_url: &str,
        package: &crate::catalog::PackageRow,
        _version: &crate::catalog::VersionRow,
        file: &crate::catalog::FileRow,
    ) -> crate::serve::FileEntry {
        crate::serve::FileEntry {
            url: Some(format!("{registry_url}/{}/-/{}", package.display_name, file.filename)),
            ..Default::default()
        }
    }

    type Op = Op;

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        match op {
            Op::Ping => Ok(http::json(StatusCode::OK, &json!({}))),
            Op::Whoami => match &ctx.principal.user_id {
                Some(user) => Ok(http::json(StatusCode::OK, &json!({ "username": user }))),
                None => Err(AppError::Unauthenticated),
            },
            Op::Login => Err(AppError::bad_request(
                "BatleHub does not take passwords: put a token in .npmrc as //HOST/proxy/REGISTRY/:_authToken=TOKEN",
            )),
            // Any name: user ids come from the identity providers, so none is
            // known here before it signs in (and none is revealed).
            Op::User { name } => Ok(crate::http::json(
                axum::http::StatusCode::OK,
                &serde_json::json!({ "_id": format!("org.couchdb.user:{name}"), "name": name, "email": "" }),
            )),
            Op::Search => read::search(ctx, parts.uri.query().unwrap_or("")).await,
            Op::AuditBulk | Op::AuditQuick => read::audit(ctx, matches!(op, Op::AuditQuick), parts, body).await,
            Op::Packument { name } => read::packument(ctx, name, &parts.headers).await,
            Op::Version { name, spec } => read::version(ctx, name, spec).await,
            Op::Tarball { name, filename } => read::tarball(ctx, name, filename).await,
            Op::DistTags { name } => read::dist_tags(ctx, name).await,
            Op::Publish { name, rev } => write::publish(ctx, name, rev.as_deref(), parts, body).await,
            Op::UnpublishPackage { name } => write::unpublish_package(ctx, name).await,
            Op::DeleteTarball { name, filename } => write::delete_tarball(ctx, name, filename).await,
            Op::DistTagSet { name, tag } => write::dist_tag_set(ctx, name, tag, body).await,
            Op::DistTagDelete { name, tag } => write::dist_tag_delete(ctx, name, tag).await,
        }
    }

    /// npm prints the `error` field.
    fn render_error(err: &AppError) -> Response {
        err.render_with("application/json", |msg| serde_json::to_vec(&json!({ "error": msg })).unwrap_or_default())
    }

    fn normalize_name(name: &str) -> Option<String> {
        NpmName::parse(name).ok().map(|n| n.full())
    }

    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let name = NpmName::parse(name).map_err(AppError::bad_request)?;
        Ok(vec![read::packument_fetch(ctx, &name)])
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }
}
