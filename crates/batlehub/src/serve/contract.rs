//! The contract every ecosystem implements.
//!
//! An ecosystem parses each request into an operation ([`Ecosystem::parse`]:
//! routing is parsing), and the operation names its authorization class
//! ([`Operation::access`]), its stable audit name and its package. The
//! generic driver ([`super::drive`]) then runs the same prologue for every
//! ecosystem: resolve the caller (with the ecosystem's own credential forms
//! first), check the class once, before any I/O, serve, and render any error
//! in the client's dialect, recording refusals in the audit trail.
//!
//! Everything else the rest of the server asks of an ecosystem is here too:
//! name normalisation (the API and the UI), Setup Guide snippets and install
//! commands, upstream URL rules (the configuration), and the web UI's
//! optional browser upload. `ecosystems/mod.rs` dispatches to these by
//! [`Kind`](crate::kinds::Kind), from the one declaration.

use std::future::Future;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use super::RequestCtx;
use crate::access::Permission;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// What an ecosystem's parser sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub method: &'a Method,
    /// The raw (still percent-encoded) path after `/proxy/{registry}`, with
    /// its leading `/` (empty for `/proxy/{registry}` itself).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// An operation's authorization class, checked once by the driver before
/// the operation does any I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Answered to anyone, even to credentials that match nothing: what a
    /// client reads before it knows it must send a token (cargo's
    /// `config.json`, which says whether it must).
    Open,
    /// Anyone may call it; the operation itself may still need an identity
    /// (npm's `whoami`).
    Anyone,
    /// Reads: needs the permission on the registry.
    Read(Permission),
    /// Changes the registry: needs local or hybrid mode (else 403 "registry
    /// is not in local or hybrid mode") and `releases:write`.
    Write,
}

impl Access {
    pub fn is_write(self) -> bool {
        self == Access::Write
    }

    /// The registry-level permission the class needs, if any.
    pub fn permission(self) -> Option<Permission> {
        match self {
            Access::Open | Access::Anyone => None,
            Access::Read(p) => Some(p),
            Access::Write => Some(Permission::ReleasesWrite),
        }
    }
}

/// One parsed request.
pub trait Operation: Send + Sync {
    /// The action's name in the audit trail: stable, written by hand (never
    /// derived from a type's name, so a rename cannot change audit data).
    fn audit_name(&self) -> &'static str;

    /// The authorization class.
    fn access(&self) -> Access;

    /// The package the operation concerns (for the audit trail).
    fn package(&self) -> Option<String> {
        None
    }
}

/// What the web UI's Upload card asks for a registry type that takes a
/// file from the browser.
#[derive(Debug, Clone, Copy)]
pub struct BrowserUpload {
    /// The `accept` attribute of the file input.
    pub accept: &'static str,
    /// What the user is told about the file.
    pub hint: &'static str,
    /// Extra form fields (name, label), none for most types.
    pub fields: &'static [(&'static str, &'static str)],
}

/// A command-line tool an ecosystem adds to `batlehub` (what its users need
/// beside the server, such as building an upload the way the ecosystem's
/// client would): `batlehub {name} ARGS...`.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    /// One line for `batlehub --help`.
    pub about: &'static str,
    /// The usage line (after `batlehub {name}`) and what the arguments mean.
    pub usage: &'static str,
    /// Runs the tool with the arguments after its name.
    pub run: fn(&[String]) -> Result<(), String>,
}

/// An ecosystem: one folder under `ecosystems/`, one line in
/// `kinds::for_each_ecosystem!`.
pub trait Ecosystem: 'static {
    type Op: Operation;

    /// Parse a request into an operation. Unknown endpoints are 404, a known
    /// path with the wrong method 405, bad names and traversal 400.
    fn parse(head: &Head<'_>) -> AppResult<Self::Op>;

    /// Serve an operation whose access the driver has checked.
    fn serve(
        ctx: &RequestCtx,
        op: &Self::Op,
        parts: &Parts,
        body: Body,
    ) -> impl Future<Output = AppResult<Response>> + Send;

    /// An error in the body and headers the ecosystem's clients print.
    fn render_error(err: &AppError) -> Response;

    /// The catalog key of a package name (the one canonical form), or `None`
    /// if the name is invalid.
    fn normalize_name(name: &str) -> Option<String>;

    /// A namespace prefix in the spelling of the catalog keys (see
    /// [`Ecosystem::normalize_name`]), so that a claim covers every
    /// spelling of a name; `Err` says why `prefix` cannot be one. Claims
    /// are compared ignoring ASCII case; the default lowercases and refuses
    /// spaces and control characters.
    fn normalize_prefix(prefix: &str) -> Result<String, String> {
        check_prefix(prefix)?;
        Ok(prefix.to_ascii_lowercase())
    }

    /// The fetches of the upstream documents that would list the package
    /// `name` (as a publish spells it) under any spelling the ecosystem's
    /// clients treat as the same name: one found means the upstreams serve
    /// it. Used to refuse the first publish of a name an upstream serves.
    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>>;

    /// What the first-publish check asks: [`Ecosystem::upstream_listings`],
    /// unless the protocol must first read a document of each upstream to
    /// know where its listings are (NuGet's service index), which it does
    /// here.
    fn find_upstream_listings<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl Future<Output = AppResult<Vec<DocFetch>>> + Send + 'a {
        std::future::ready(Self::upstream_listings(ctx, name))
    }

    /// The versions the upstreams list for package `name`, each with when
    /// the upstream says it was published: what the rules are asked about.
    /// Types that apply rules ([`Ecosystem::ENFORCES_RULES`]) give it (the
    /// rules' simulator reads it).
    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        let _ = name;
        let kind = ctx.registry.kind;
        async move { Err(AppError::bad_request(format!("{kind} registries do not apply rules"))) }
    }

    /// The Setup Guide's snippets for a registry.
    fn snippets(target: &Target) -> Vec<Snippet>;

    /// The command that installs `package` from a registry.
    fn install_command(target: &Target, package: &str) -> String;

    /// A credential in a form only this ecosystem's clients send (NuGet's
    /// `X-NuGet-ApiKey`, a token in the path), tried before the common
    /// forms (`Authorization: Bearer/Basic/Token/raw`, the session cookie).
    fn credential(head: &Head<'_>) -> Option<String> {
        let _ = head;
        None
    }

    /// The package page's word on a version beyond its row (npm's
    /// deprecation message).
    fn deprecation(_version: &crate::catalog::VersionRow) -> Option<String> {
        None
    }

    /// How the package page lists a stored file: its download URL under
    /// `registry_url` (`{base}/proxy/{registry}`), whether it is withdrawn
    /// (a gem yanked on its own), or not listed at all (PyPI's metadata
    /// sidecars).
    fn file_entry(
        _registry_url: &str,
        _package: &crate::catalog::PackageRow,
        _version: &crate::catalog::VersionRow,
        _file: &crate::catalog::FileRow,
    ) -> FileEntry {
        FileEntry::default()
    }

    /// What clients are pointed at, after `/proxy/{registry}` (cargo's
    /// `/registry/`, pip's `/simple/`): the URL the start-up banner prints.
    const CLIENT_PATH: &'static str = "/";

    /// The request path (after `/proxy/{registry}`) as the access log may
    /// write it: protocols whose clients put credentials in the path (a
    /// token segment) take them out here. The query is never logged.
    fn log_path(path: &str) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(path)
    }

    /// Whether this type applies `[[registries.rules]]` (supply-chain rules)
    /// to its upstream listings and downloads, through
    /// [`crate::serve::RequestCtx::rules_verdict`]. A registry with rules
    /// of a type that does not is refused at configuration time.
    const ENFORCES_RULES: bool = false;

    /// One version range in this type's syntax (a rule's `name@range`);
    /// exact versions by default.
    fn version_range(range: &str) -> Result<crate::rules::VersionMatcher, String> {
        crate::rules::exact_versions(range)
    }

    /// How OSV advisories name this ecosystem (`advisories` rules), `None`
    /// where OSV does not cover it.
    const OSV: Option<crate::rules::OsvName> = None;

    /// The licence a published version declares (what `local = true`
    /// licence rules read); none by default.
    fn local_licence(version: &crate::catalog::VersionRow) -> Option<String> {
        let _ = version;
        None
    }

    /// Whether upstream listings declare each version's licence (what
    /// `licence` rules read, through [`Ecosystem::upstream_releases`] and
    /// the candidates a listing gives the rules).
    const DECLARES_LICENCES: bool = false;

    /// Whether `options` (a registry's `[registries.options]`) are settings
    /// this type knows, with values it accepts. Most types take none.
    fn check_options(options: &toml::Table) -> Result<(), String> {
        match options.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!("unknown option `{k}` for this registry type")),
        }
    }

    /// The order of this type's versions, oldest first: which cached
    /// versions `[registries.cache] keep_latest_versions` keeps. The
    /// default compares numbers as numbers and puts a pre-release (`-rc1`,
    /// `.beta`) before its release.
    fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
        crate::config::natural_version_order(a, b)
    }

    /// Whether `url` may be configured as an upstream of this type.
    fn check_upstream(url: &str) -> Result<(), String> {
        check_http_url(url)
    }

    /// Command-line tools this ecosystem adds to `batlehub`.
    const TOOLS: &'static [Tool] = &[];

    /// The Upload card's form, for types that take a file from the browser.
    const BROWSER_UPLOAD: Option<BrowserUpload> = None;

    /// Whether the Upload card's CLI instructions show this type's
    /// publishing snippets even though it takes a file from the browser
    /// (types whose users usually publish with their client: NuGet's push).
    /// Types without a browser upload are always shown there.
    const CLI_INSTRUCTIONS: bool = false;

    /// Publish a file sent through the Upload card, through the ecosystem's
    /// own publish path. Returns what was published ("name version"). The
    /// caller has checked [`Access::Write`].
    fn publish_upload(ctx: &RequestCtx, upload: Upload) -> impl Future<Output = AppResult<String>> + Send {
        let kind = ctx.registry.kind;
        drop(upload);
        async move { Err(AppError::bad_request(format!("{kind} packages are published with the {kind} client"))) }
    }
}

/// A request path after `/proxy/{registry}` as ecosystems whose paths are
/// `/`-separated names read it: percent-decoding undone (UTF-8 only),
/// backslashes, NULs and `.`/`..` segments refused (400), the leading `/`
/// dropped.
pub fn decode_path(raw: &str) -> AppResult<String> {
    let path = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| AppError::bad_request("path is not valid UTF-8"))?;
    if path.contains(['\\', '\0']) {
        return Err(AppError::bad_request("invalid characters in path"));
    }
    let path = path.strip_prefix('/').unwrap_or(&path);
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(AppError::bad_request("path traversal"));
    }
    Ok(path.to_string())
}

/// An error as plain text, for clients that print the body (and, with
/// `reason`, the message as the HTTP reason phrase, which twine and mvn
/// print).
pub fn plain_error(err: &AppError, reason: bool) -> Response {
    let mut r = err.render_with("text/plain; charset=utf-8", |m| format!("{m}\n").into_bytes());
    if reason {
        let phrase: String =
            err.public_message().chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(200).collect();
        if let Ok(p) = hyper::ext::ReasonPhrase::try_from(phrase) {
            r.extensions_mut().insert(p);
        }
    }
    r
}

/// What every namespace prefix must be: 1 to 200 characters, no spaces or
/// control characters.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 200 || prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("namespace prefix `{prefix}` must be 1 to 200 characters, without spaces"));
    }
    Ok(())
}

/// An absolute http(s) URL with a host: what most upstreams must be.
pub fn check_http_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => Ok(()),
        _ => Err(format!("upstream `{url}` must be an absolute http(s) URL")),
    }
}

/// How the package page lists one file (see [`Ecosystem::file_entry`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEntry {
    /// Where it downloads from; `None`: no link.
    pub url: Option<String>,
    /// Withdrawn on its own (its version still stands).
    pub withdrawn: bool,
    /// Left out of the listing.
    pub hidden: bool,
}
