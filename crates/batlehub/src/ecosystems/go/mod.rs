//! Go modules: the GOPROXY protocol under `/proxy/{registry}/`, for the go
//! command.
//!
//! | Request | Op |
//! |---|---|
//! | `GET /{module}/@v/list` | the module's versions, one per line |
//! | `GET /{module}/@v/{version}.info` | `{"Version","Time"}` |
//! | `GET /{module}/@v/{version}.mod` | the version's `go.mod` |
//! | `GET /{module}/@v/{version}.zip` | the module zip (`source:read`) |
//! | `GET /{module}/@latest` | `{"Version","Time"}` of the latest version |
//! | `PUT /{module}/@v/{version}.zip` | publish (the user guide's `curl`) |
//! | `GET /sumdb/{name}/supported`, `…/lookup/…`, `…/tile/…`, `…/latest` | the checksum database, forwarded |
//!
//! Module paths and versions arrive case-encoded (`!x` for `X`) and
//! percent-encoded; [`op`] undoes both and the catalog keeps the path as
//! `go.mod` spells it. Errors are plain text, which the go command prints;
//! a 404 lets `GOPROXY=...,direct` fall back. Files: [`op`], [`names`]
//! (paths, versions, case encoding), [`modzip`] (the zip rules and `h1:`
//! hashes), [`gomod`], [`read`], [`write`], [`tool`] (`batlehub
//! go-mod-zip`), [`setup`].
//!
//! Options (`[registries.options]`): `checksum_databases = ["name", ...]`
//! names the checksum databases forwarded to the upstream proxies (absent:
//! every one the upstreams serve; `[]`: none, so the go command goes to the
//! database itself).

pub mod gomod;
pub mod modzip;
pub mod names;
pub mod op;
pub mod read;
pub mod setup;
pub mod tool;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;

use self::names::{ModulePath, Version};
use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::serve::{BrowserUpload, Ecosystem, Head, RequestCtx, Tool, contract, contract::check_prefix};
use crate::setup::{Snippet, Target};
use crate::upstream::CacheKey;
use crate::upstream::documents::DocFetch;

/// The GOPROXY protocol.
pub struct Go;

impl Ecosystem for Go {
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> = Some(crate::rules::OsvName { ecosystem: "Go", purl_type: "golang" });

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl std::future::Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    /// Semantic version requirements (`>=1.2.0, <1.3`), on versions
    /// without their `v` (and `+incompatible`).
    fn version_range(range: &str) -> Result<crate::rules::VersionMatcher, String> {
        let bare = |v: &str| v.trim().trim_start_matches('v').split('+').next().unwrap_or("").to_string();
        if let Ok(exact) = crate::rules::exact_versions(range) {
            let wanted = bare(range.trim().trim_start_matches('='));
            return Ok(std::sync::Arc::new(move |v: &str| exact(v) || bare(v) == wanted));
        }
        let req = semver::VersionReq::parse(&range.replace(['v'], ""))
            .map_err(|e| format!("`{range}` is not a semantic version requirement: {e}"))?;
        Ok(std::sync::Arc::new(move |v: &str| semver::Version::parse(&bare(v)).is_ok_and(|v| req.matches(&v))))
    }

    fn file_entry(
        registry_url: &str,
        package: &crate::catalog::PackageRow,
        _version: &crate::catalog::VersionRow,
        file: &crate::catalog::FileRow,
    ) -> crate::serve::FileEntry {
        crate::serve::FileEntry {
            url: Some(format!("{registry_url}/{}/@v/{}", names::escape(&package.name), names::escape(&file.filename))),
            ..Default::default()
        }
    }

    const CLIENT_PATH: &'static str = "";

    type Op = Op;

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        match op {
            Op::List { module } => read::list(ctx, module, &parts.headers).await,
            Op::Latest { module } => read::latest(ctx, module).await,
            Op::File { module, version, ext } => read::file(ctx, module, version, *ext).await,
            Op::Publish { module, version } => write::publish(ctx, module, version, parts, body).await,
            Op::Sumdb { name, rest } => read::sumdb(ctx, name, rest).await,
        }
    }

    /// Plain text: the go command prints the body after the status.
    fn render_error(err: &AppError) -> Response {
        contract::plain_error(err, false)
    }

    fn normalize_name(name: &str) -> Option<String> {
        ModulePath::parse(name).ok().map(|m| m.to_string())
    }

    /// A claim is a path prefix ending in `/` (`example.com/myorg/`):
    /// module-path characters, compared ignoring case.
    fn normalize_prefix(prefix: &str) -> Result<String, String> {
        check_prefix(prefix)?;
        let Some(stem) = prefix.strip_suffix('/') else {
            return Err(format!("namespace prefix `{prefix}`: Go claims are path prefixes ending in `/`"));
        };
        let host = stem.split('/').next().unwrap_or(stem);
        let elements_ok = stem.split('/').all(|e| !e.is_empty() && e != "." && e != "..");
        let chars_ok = stem.chars().all(|c| c.is_ascii_alphanumeric() || "-._~/".contains(c));
        if !host.contains('.') || !elements_ok || !chars_ok {
            return Err(format!("namespace prefix `{prefix}` is not the start of a module path (example.com/myorg/)"));
        }
        Ok(prefix.to_ascii_lowercase())
    }

    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let module = ModulePath::parse(name).map_err(AppError::BadRequest)?;
        let path = format!("{}/@v/list", module.escaped());
        Ok(vec![ctx.doc_fetch(CacheKey::new("list").part(module.as_str()), path, "text/plain")])
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    fn check_options(options: &toml::Table) -> Result<(), String> {
        for (key, value) in options {
            match (key.as_str(), value) {
                ("checksum_databases", toml::Value::Array(names)) if names.iter().all(|n| n.is_str()) => {}
                ("checksum_databases", _) => {
                    return Err("`checksum_databases` is a list of checksum database names".into());
                }
                (other, _) => return Err(format!("unknown option `{other}` for a goproxy registry")),
            }
        }
        Ok(())
    }

    const TOOLS: &'static [Tool] = &[Tool {
        name: "go-mod-zip",
        about: "Build the module zip the go command would make of a directory, to publish to a Go registry",
        usage: tool::USAGE,
        run: tool::run,
    }];

    const BROWSER_UPLOAD: Option<BrowserUpload> = Some(BrowserUpload {
        accept: ".zip",
        hint: "A module zip (batlehub go-mod-zip builds one): every entry under {module}@{version}/, with the module's go.mod.",
        fields: &[("module", "Module path (e.g. github.com/org/repo)"), ("version", "Version (e.g. v1.0.0)")],
    });

    async fn publish_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
        let module = upload.field("module").ok_or_else(|| AppError::bad_request("the module path is missing"))?;
        let module = ModulePath::parse(module.trim()).map_err(AppError::BadRequest)?;
        let version = upload.field("version").ok_or_else(|| AppError::bad_request("the version is missing"))?;
        let version = Version::parse(version.trim()).map_err(AppError::BadRequest)?;
        write::publish_zip(ctx, &module, &version, upload.pending).await?;
        Ok(format!("{module} {version}"))
    }
}
