//! The ecosystems: one folder each, behind one exhaustive `match`.
//!
//! Architecture invariants: ecosystems never import each other; everything a
//! protocol needs beyond the shared machinery (`registry`, `upstream`,
//! `catalog`, `blobs`, `access`) lives in its own folder. Adding an ecosystem
//! means one folder, one [`Kind`] variant, and following the compiler's
//! exhaustive-match errors.

pub mod cargo;
pub mod npm;
pub mod pypi;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use serde::{Deserialize, Deserializer};

use crate::app::App;
use crate::error::AppError;
use crate::registry::Registry;

/// A registry type this build serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Npm,
    Cargo,
    Pypi,
}

/// Types of the BatleHub configuration format this build does not serve yet.
const PLANNED: &[&str] =
    &["goproxy", "conda", "composer", "nuget", "rubygems", "maven", "terraform", "openvsx", "vscode-marketplace"];

impl Kind {
    pub const ALL: &'static [Kind] = &[Kind::Npm, Kind::Cargo, Kind::Pypi];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Npm => "npm",
            Kind::Cargo => "cargo",
            Kind::Pypi => "pypi",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Some(k) = Kind::parse(&s) {
            return Ok(k);
        }
        let supported: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        if PLANNED.contains(&s.as_str()) {
            Err(serde::de::Error::custom(format!(
                "registry type `{s}` is not implemented in this version yet (supported: {})",
                supported.join(", ")
            )))
        } else {
            Err(serde::de::Error::custom(format!("unknown registry type `{s}` (supported: {})", supported.join(", "))))
        }
    }
}

/// Per-application state the ecosystems keep (parsed-document caches).
#[derive(Default)]
pub struct EcosystemState {
    pub npm: npm::NpmState,
    pub pypi: pypi::PypiState,
}

/// Serve `rest` (the raw path after `/proxy/{registry}`) for `registry`.
pub async fn dispatch(
    app: App,
    registry: Arc<Registry>,
    rest: &str,
    req: Request,
    peer: Option<SocketAddr>,
) -> Response {
    match registry.kind {
        Kind::Npm => npm::handle(app, registry, rest, req, peer).await,
        Kind::Cargo => cargo::handle(app, registry, rest, req, peer).await,
        Kind::Pypi => pypi::handle(app, registry, rest, req, peer).await,
    }
}

/// The catalog key of a package name in `kind`'s naming rules (npm: as is;
/// cargo: case and `-`/`_` folded; PyPI: PEP 503), or `None` if invalid.
pub fn normalize_name(kind: Kind, name: &str) -> Option<String> {
    match kind {
        Kind::Npm => npm::names::NpmName::parse(name).ok().map(|n| n.full()),
        Kind::Cargo => cargo::names::CrateName::parse(name).ok().map(|n| n.key()),
        Kind::Pypi => pypi::names::valid_name(name).then(|| pypi::names::normalize(name)),
    }
}

/// An error in the dialect of `kind`'s clients.
pub fn render_error(kind: Kind, err: &AppError) -> Response {
    match kind {
        Kind::Npm => npm::render_error(err),
        Kind::Cargo => cargo::render_error(err),
        Kind::Pypi => pypi::render_error(err),
    }
}

/// The Setup Guide's snippets for a registry of `kind`.
pub fn setup_snippets(kind: Kind, target: &crate::setup::Target) -> Vec<crate::setup::Snippet> {
    match kind {
        Kind::Npm => npm::setup::snippets(target),
        Kind::Cargo => cargo::setup::snippets(target),
        Kind::Pypi => pypi::setup::snippets(target),
    }
}

/// The command that installs `package` from a registry of `kind`.
pub fn install_command(kind: Kind, target: &crate::setup::Target, package: &str) -> String {
    match kind {
        Kind::Npm => npm::setup::install_command(target, package),
        Kind::Cargo => cargo::setup::install_command(target, package),
        Kind::Pypi => pypi::setup::install_command(target, package),
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

/// The Upload card's form for `kind`, or `None` where publishing is a CLI
/// matter (npm, Cargo): those registries get CLI instructions instead.
pub fn browser_upload(kind: Kind) -> Option<BrowserUpload> {
    match kind {
        Kind::Pypi => Some(BrowserUpload {
            accept: ".whl,.tar.gz,.zip",
            hint: "A wheel or source distribution: name and version are read from the file name and checked against its metadata.",
            fields: &[],
        }),
        Kind::Npm | Kind::Cargo => None,
    }
}

/// Publish a file sent through the web UI through the same code path as the
/// ecosystem's own publish endpoint. Returns what was published.
pub async fn publish_browser_upload(
    ctx: &crate::registry::RequestCtx,
    upload: crate::multipart::Upload,
) -> Result<String, AppError> {
    match ctx.registry.kind {
        Kind::Pypi => pypi::publish_distribution(ctx, upload).await,
        Kind::Npm | Kind::Cargo => Err(AppError::bad_request(format!(
            "{} packages are published with the {} client",
            ctx.registry.kind, ctx.registry.kind
        ))),
    }
}
