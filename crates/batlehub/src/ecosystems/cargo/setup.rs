//! Cargo's snippets: the crates-io mirror, a named private registry, the
//! token, publishing and yanking.
//!
//! The mirror is declared under `[registries]` and named by `replace-with`:
//! a `[source]` entry cannot carry a token, and BatleHub registries that
//! need one say `auth-required` in their `config.json`. Cargo then insists on
//! a credential provider: each entry names `cargo:token` (the token from
//! `CARGO_REGISTRIES_{NAME}_TOKEN` or `cargo login`).

use crate::setup::{Snippet, Target};

/// The name Cargo knows the registry by (`crates-io` is Cargo's own).
pub fn alias(t: &Target) -> String {
    let a: String = t
        .registry
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    if a == "crates-io" { "batlehub".into() } else { a }
}

/// `CARGO_REGISTRIES_{ALIAS}_TOKEN`.
pub fn token_env(t: &Target) -> String {
    format!("CARGO_REGISTRIES_{}_TOKEN", alias(t).to_ascii_uppercase().replace('-', "_"))
}

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let alias = alias(t);
    let index = format!("sparse+{}/registry/", t.url());
    let token = format!("export {}=$BATLEHUB_TOKEN\n", token_env(t));
    let mut out = Vec::new();
    if t.mode != crate::config::Mode::Local {
        out.push(if t.anonymous_read {
            // Anyone may read: the plain source replacement needs no token.
            Snippet::new(
                "cargo-mirror",
                "Replace crates-io with this registry",
                Some(".cargo/config.toml"),
                format!("[source.crates-io]\nreplace-with = \"{alias}\"\n\n[source.{alias}]\nregistry = \"{index}\"\n"),
            )
        } else {
            Snippet::new(
                "cargo-mirror",
                "Replace crates-io with this registry (declared as a registry: cargo sends tokens only to registries with a credential provider, and refuses an authenticated [source] with \"authenticated registries require a credential-provider to be configured\")",
                Some(".cargo/config.toml"),
                format!("[registries.{alias}]\nindex = \"{index}\"\ncredential-provider = \"cargo:token\"\n\n[source.crates-io]\nreplace-with = \"{alias}\"\n"),
            )
        });
    }
    if t.mode.has_local() {
        out.push(Snippet::new(
            "cargo-registry",
            "A named private registry",
            Some(".cargo/config.toml"),
            format!("[registries.{alias}]\nindex = \"{index}\"\ncredential-provider = \"cargo:token\"\n"),
        ));
    }
    if !(t.anonymous_read && t.mode == crate::config::Mode::Proxy) {
        out.push(Snippet::new("cargo-token", "The token, from the environment (or cargo login --registry)", None, token));
    }
    out.push(Snippet::new(
        "cargo-verify",
        "Verify",
        None,
        if t.mode == crate::config::Mode::Proxy {
            "cargo add serde    # through this registry (it replaces crates-io)\n".to_string()
        } else {
            format!("cargo add my-lib --registry {alias}\n")
        },
    ));
    if let Some(p) = t.publish_target() {
        let alias = self::alias(&p);
        if t.publishes_elsewhere() {
            out.push(
                Snippet::new(
                    "cargo-publish-registry",
                    "The registry crates are published to",
                    Some(".cargo/config.toml"),
                    format!(
                        "[registries.{alias}]\nindex = \"sparse+{}/registry/\"\ncredential-provider = \"cargo:token\"\n",
                        p.url()
                    ),
                )
                .publishing(),
            );
            out.push(
                Snippet::new("cargo-publish-token", "Its token", None, format!("export {}=$BATLEHUB_TOKEN\n", token_env(&p)))
                    .publishing(),
            );
        }
        out.push(
            Snippet::new(
                "cargo-dependency",
                "Depend on a private crate",
                Some("Cargo.toml"),
                format!("[dependencies]\nmy-lib = {{ version = \"0.1\", registry = \"{alias}\" }}\n"),
            )
            .publishing(),
        );
        out.push(
            Snippet::new("cargo-publish", "Publish a crate", None, format!("cargo publish --registry {alias}\n"))
                .publishing(),
        );
        out.push(
            Snippet::new(
                "cargo-yank",
                "Yank / restore a version",
                None,
                format!(
                    "cargo yank --registry {alias} my-lib@0.1.0\ncargo yank --undo --registry {alias} my-lib@0.1.0\n"
                ),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    if t.mode.has_local() {
        format!("cargo add {package} --registry {}", alias(t))
    } else {
        format!("cargo add {package}")
    }
}
