//! Cargo: a sparse index and the registry web API under `/proxy/{registry}/`.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /registry/config.json` | index configuration (`dl`, `api`, `auth-required`); open to anonymous callers |
//! | `GET /registry/{1,2,3/a,ab/cd}/{name}` | index file: one JSON line per version |
//! | `GET /api/v1/crates/{name}/{version}/download` | the `.crate` (the `dl` template) |
//! | `PUT /api/v1/crates/new` | `cargo publish` |
//! | `DELETE /api/v1/crates/{name}/{version}/yank`, `PUT …/unyank` | `cargo yank [--undo]` |
//! | `GET/PUT/DELETE /api/v1/crates/{name}/owners` | `cargo owner --list/--add/--remove` |
//! | `GET /api/v1/crates?q=&per_page=` | `cargo search` |
//!
//! Errors are `{"errors":[{"detail":"..."}]}`: cargo prints the details.
//! Protocol reference: the Cargo book, "Registries" (index format, sparse
//! protocol, web API). Crate names are compared case-insensitively with `-`
//! and `_` equivalent (the catalog key is [`names::normalize`]); cargo asks
//! for index files by the lowercased name. Proxy mode passes upstream index
//! files through unchanged (they hold no URLs) and finds downloads through
//! the upstream's own `config.json` `dl` template; the index `cksum` is the
//! digest every download is verified against. Files: [`op`] (parsing),
//! [`names`], [`read`] (config, index, downloads, owners, search), [`write`]
//! (publish, yank, owners), [`publish`] (the body parser), [`setup`].

pub mod names;
pub mod op;
pub mod publish;
pub mod read;
pub mod setup;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use self::names::CrateName;
use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::serve::{Ecosystem, Head, RequestCtx, contract::{check_http_url, check_prefix}};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// Cargo's sparse index and registry web API.
pub struct Cargo;

impl Ecosystem for Cargo {
    /// Index lines carry their publish time as `pubtime` (where the
    /// upstream writes it); `release_age` treats lines without one by its
    /// `missing_timestamp`.
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> = Some(crate::rules::OsvName {
        // OSV names the Rust ecosystem after its public registry's host;
        // spelled in two parts, as this code base writes no public registry host.
        ecosystem: concat!("crates", ".io"),
        purl_type: "cargo",
    });

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    /// Cargo's version requirements (`^1.2`, `>=0.4, <0.6`, `=1.0.3`).
    fn version_range(range: &str) -> Result<crate::rules::VersionMatcher, String> {
        let req = semver::VersionReq::parse(range).map_err(|e| format!("`{range}` is not a cargo version requirement: {e}"))?;
        Ok(std::sync::Arc::new(move |v: &str| semver::Version::parse(v).is_ok_and(|v| req.matches(&v))))
    }

    fn file_entry(
        registry_url: &str,
        package: &crate::catalog::PackageRow,
        version: &crate::catalog::VersionRow,
        _file: &crate::catalog::FileRow,
    ) -> crate::serve::FileEntry {
        crate::serve::FileEntry {
            url: Some(format!("{registry_url}/api/v1/crates/{}/{}/download", package.display_name, version.version)),
            ..Default::default()
        }
    }

    const CLIENT_PATH: &'static str = "/registry/";

    type Op = Op;

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        match op {
            Op::Config => Ok(read::config_json(ctx)),
            Op::Index { name } => read::index(ctx, name, &parts.headers).await,
            Op::Download { name, version } => read::download(ctx, name, version).await,
            Op::OwnersList { name } => read::owners_list(ctx, name).await,
            Op::Search => read::search(ctx, parts.uri.query().unwrap_or("")).await,
            Op::Publish => write::publish(ctx, parts, body).await,
            Op::Yank { name, version } => write::set_yanked(ctx, name, version, true).await,
            Op::Unyank { name, version } => write::set_yanked(ctx, name, version, false).await,
            Op::OwnersAdd { name } => write::owners_change(ctx, name, body, true).await,
            Op::OwnersRemove { name } => write::owners_change(ctx, name, body, false).await,
        }
    }

    /// cargo prints every `detail`.
    fn render_error(err: &AppError) -> Response {
        // Cargo prints the detail: a 401 says how cargo must be set up to
        // send a token at all.
        let hint = match err {
            AppError::Unauthenticated => {
                " (cargo sent no token: declare this registry under [registries.NAME] in .cargo/config.toml with \
                 credential-provider = \"cargo:token\" and set CARGO_REGISTRIES_NAME_TOKEN to a BatleHub token; \
                 cargo sends tokens only to registries with a credential provider, never to a [source]; \
                 the Setup Guide at /setup has the snippet)"
            }
            AppError::InvalidCredentials | AppError::InvalidToken(_) => {
                " (the token was refused: create one under Settings > Tokens on this server and set \
                 CARGO_REGISTRIES_NAME_TOKEN to it, or run cargo login --registry NAME)"
            }
            _ => "",
        };
        err.render_with("application/json", |msg| {
            serde_json::to_vec(&json!({ "errors": [{ "detail": format!("{msg}{hint}") }] })).unwrap_or_default()
        })
    }

    fn normalize_name(name: &str) -> Option<String> {
        CrateName::parse(name).ok().map(|n| n.key())
    }

    /// Crate names are ASCII letters, digits, `-` and `_`; `_` and `-` are
    /// one name, as are upper and lower case.
    fn normalize_prefix(prefix: &str) -> Result<String, String> {
        check_prefix(prefix)?;
        if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("namespace prefix `{prefix}`: crate names are ASCII letters, digits, `-` and `_`"));
        }
        Ok(names::normalize(prefix))
    }

    /// The index file of the name as published and of its all-`-` and
    /// all-`_` spellings: cargo treats them as one crate, and the index
    /// files a crate under the spelling it was first published with.
    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let lower = name.to_ascii_lowercase();
        let mut spellings = vec![lower.clone(), lower.replace('_', "-"), lower.replace('-', "_")];
        spellings.dedup();
        spellings.sort();
        spellings.dedup();
        spellings
            .iter()
            .map(|s| CrateName::parse(s).map(|n| read::index_fetch(ctx, &n, false)).map_err(AppError::bad_request))
            .collect()
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    /// Cargo names a sparse index `sparse+https://...`; both forms are taken.
    fn check_upstream(url: &str) -> Result<(), String> {
        check_http_url(url.strip_prefix("sparse+").unwrap_or(url))
            .map_err(|_| format!("upstream `{url}` must be an absolute http(s) URL"))
    }
}
