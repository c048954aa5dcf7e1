//! The ecosystems: one folder each, every one implementing the contract of
//! [`crate::serve::Ecosystem`].
//!
//! The folders and the dispatch by [`Kind`] below are generated from the one
//! declaration, `kinds::for_each_ecosystem!`; nothing here lists an
//! ecosystem by hand.
//!
//! Architecture invariants: ecosystems never import each other; everything a
//! protocol needs beyond the shared machinery (`serve`, `registry`,
//! `upstream`, `catalog`, `blobs`, `access`, `http`) lives in its own
//! folder. The JSON API, the web UI, the router and the command line reach
//! an ecosystem only through the functions of this module.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;

use crate::access::Principal;
use crate::app::App;
use crate::config::{Config, ConfigErrors};
use crate::error::{AppError, AppResult};
use crate::kinds::{Kind, for_each_ecosystem};
use crate::multipart::Upload;
use crate::registry::Registry;
use crate::serve::{self, Access, BrowserUpload, Ecosystem, Head, Operation, RequestCtx, Tool};
use crate::setup::{Snippet, Target};

/// An operation as the rest of the server sees it (fuzzing, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSummary {
    pub audit_name: &'static str,
    pub access: Access,
    pub package: Option<String>,
}

fn summary(op: &impl Operation) -> OpSummary {
    OpSummary { audit_name: op.audit_name(), access: op.access(), package: op.package() }
}

macro_rules! declare_ecosystems {
    ($( $module:ident => $( $variant:ident($name:literal) ),+ ; )*) => {
        $( pub mod $module; )*

        /// Serve `rest` (the raw path after `/proxy/{registry}`) for `registry`.
        pub async fn dispatch(
            app: App,
            registry: Arc<Registry>,
            rest: &str,
            req: Request,
            peer: Option<SocketAddr>,
        ) -> Response {
            match registry.kind {
                $( $( Kind::$variant => serve::drive::<$module::$variant>(app, registry, rest, req, peer).await, )+ )*
            }
        }

        /// Parse a request as `kind`'s parser does, without serving it.
        pub fn parse_op(
            kind: Kind,
            method: &Method,
            path: &str,
            query: Option<&str>,
            headers: &axum::http::HeaderMap,
        ) -> AppResult<OpSummary> {
            let head = Head { method, path, query, headers };
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::parse(&head).map(|op| summary(&op)), )+ )*
            }
        }

        /// The catalog key of a package name in `kind`'s naming rules, or
        /// `None` if invalid.
        pub fn normalize_name(kind: Kind, name: &str) -> Option<String> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::normalize_name(name), )+ )*
            }
        }

        /// A namespace prefix in `kind`'s key spelling, or why it cannot be one.
        pub fn normalize_prefix(kind: Kind, prefix: &str) -> Result<String, String> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::normalize_prefix(prefix), )+ )*
            }
        }

        /// An error in the dialect of `kind`'s clients.
        pub fn render_error(kind: Kind, err: &AppError) -> Response {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::render_error(err), )+ )*
            }
        }

        /// The Setup Guide's snippets for a registry of `kind`.
        pub fn setup_snippets(kind: Kind, target: &Target) -> Vec<Snippet> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::snippets(target), )+ )*
            }
        }

        /// The command that installs `package` from a registry of `kind`.
        pub fn install_command(kind: Kind, target: &Target, package: &str) -> String {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::install_command(target, package), )+ )*
            }
        }

        /// Whether `url` may be an upstream of a registry of `kind`.
        pub fn check_upstream(kind: Kind, url: &str) -> Result<(), String> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::check_upstream(url), )+ )*
            }
        }

        /// Every ecosystem's command-line tools.
        pub fn tools() -> Vec<&'static Tool> {
            let mut all: Vec<&'static Tool> = Vec::new();
            $( $( all.extend(<$module::$variant as Ecosystem>::TOOLS.iter()); )+ )*
            all
        }

        /// A version's deprecation message, as `kind` records it.
        pub fn deprecation(kind: Kind, version: &crate::catalog::VersionRow) -> Option<String> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::deprecation(version), )+ )*
            }
        }

        /// How the package page lists a file of `kind`.
        pub fn file_entry(
            kind: Kind,
            registry_url: &str,
            package: &crate::catalog::PackageRow,
            version: &crate::catalog::VersionRow,
            file: &crate::catalog::FileRow,
        ) -> serve::FileEntry {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::file_entry(registry_url, package, version, file), )+ )*
            }
        }

        /// The URL clients of a registry of `kind` at `registry_url` use.
        pub fn client_url(kind: Kind, registry_url: &str) -> String {
            match kind {
                $( $( Kind::$variant => format!("{registry_url}{}", <$module::$variant as Ecosystem>::CLIENT_PATH), )+ )*
            }
        }

        /// `path` (after `/proxy/{registry}`) as the access log writes it.
        pub fn log_path(kind: Kind, path: &str) -> std::borrow::Cow<'_, str> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::log_path(path), )+ )*
            }
        }

        /// The version order (oldest first) of registries of `kind`.
        pub fn version_order(kind: Kind) -> fn(&str, &str) -> std::cmp::Ordering {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::version_order, )+ )*
            }
        }

        /// What `[[registries.rules]]` of `kind` are written and checked
        /// with, or `None` where the type does not apply rules.
        pub fn rule_syntax(kind: Kind) -> Option<crate::rules::Syntax> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::ENFORCES_RULES.then(|| crate::rules::Syntax {
                    ranges: <$module::$variant as Ecosystem>::version_range,
                    normalize: <$module::$variant as Ecosystem>::normalize_name,
                    order: <$module::$variant as Ecosystem>::version_order,
                    osv: <$module::$variant as Ecosystem>::OSV,
                    licences: <$module::$variant as Ecosystem>::DECLARES_LICENCES,
                }), )+ )*
            }
        }

        /// Whether `options` are settings a registry of `kind` knows.
        pub fn check_options(kind: Kind, options: &toml::Table) -> Result<(), String> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::check_options(options), )+ )*
            }
        }

        /// The Upload card's form for `kind`, or `None` where publishing is
        /// a client's matter: those registries get CLI instructions instead.
        pub fn browser_upload(kind: Kind) -> Option<BrowserUpload> {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::BROWSER_UPLOAD, )+ )*
            }
        }

        /// Whether the Upload card's CLI instructions list `kind`: types
        /// without a browser upload, and those that ask for it.
        pub fn cli_instructions(kind: Kind) -> bool {
            match kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::BROWSER_UPLOAD.is_none()
                    || <$module::$variant as Ecosystem>::CLI_INSTRUCTIONS, )+ )*
            }
        }

        /// The context of a request to `registry` served by its ecosystem.
        pub fn request_ctx(app: App, registry: Arc<Registry>, principal: Principal, base: String) -> RequestCtx {
            match registry.kind {
                $( $( Kind::$variant => RequestCtx::new::<$module::$variant>(app, registry, principal, base), )+ )*
            }
        }

        /// The upstream versions of `name` as the rules see them.
        pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
            match ctx.registry.kind {
                $( $( Kind::$variant => <$module::$variant as Ecosystem>::upstream_releases(ctx, name).await, )+ )*
            }
        }

        /// Publish a file sent through the web UI through the ecosystem's
        /// own publish path, after the write check. Returns what was
        /// published.
        pub async fn publish_browser_upload(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
            match ctx.registry.kind {
                $( $( Kind::$variant => serve::publish_upload::<$module::$variant>(ctx, upload).await, )+ )*
            }
        }
    };
}
for_each_ecosystem!(declare_ecosystems);

/// What the configuration asks of the ecosystems: each registry's upstream
/// URLs follow its type's rules.
pub struct Rules;

impl crate::config::EcosystemRules for Rules {
    fn check_upstream(&self, kind: Kind, url: &str) -> Result<(), String> {
        check_upstream(kind, url)
    }

    fn normalize_prefix(&self, kind: Kind, prefix: &str) -> Result<String, String> {
        normalize_prefix(kind, prefix)
    }

    fn normalize_name(&self, kind: Kind, name: &str) -> Option<String> {
        normalize_name(kind, name)
    }

    fn check_options(&self, kind: Kind, options: &toml::Table) -> Result<(), String> {
        check_options(kind, options)
    }

    fn version_order(&self, kind: Kind) -> crate::config::VersionOrder {
        version_order(kind)
    }

    fn rule_syntax(&self, kind: Kind) -> Option<crate::rules::Syntax> {
        rule_syntax(kind)
    }
}

/// Parse and validate a configuration file, with every ecosystem's rules.
pub fn parse_config(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, &Rules)
}
