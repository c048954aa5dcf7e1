//! The typed configuration: one TOML file.
//!
//! Parsing collects every error it can, each with its line: syntax errors,
//! unknown keys and bad values (per section and per `[[registries]]` entry),
//! unset `${ENV}` variables, and the cross-checks (duplicate names, a proxy
//! without upstreams, members that do not exist...). `batlehub config check`
//! prints them all.
//!
//! - `types.rs`: the sections, as typed structs with their defaults, and
//!   [`EMBEDDED_DEFAULT`];
//! - `load.rs`: [`Config::parse`], `${ENV}` interpolation and the error
//!   collector;
//! - `validate.rs`: the cross-checks. What depends on a registry's type
//!   (which upstream URLs it takes) is asked of the ecosystems through
//!   [`EcosystemRules`], so this module knows none.
//!
//! Architecture invariant: unknown keys and bad values are errors, and
//! parsing collects every error with its line and column instead of stopping
//! at the first.

mod load;
mod types;
mod validate;

pub use load::*;
pub use types::*;
pub use validate::valid_registry_name;

use crate::kinds::Kind;

/// The per-type rules the configuration must follow, implemented by
/// `ecosystems::Rules`.
pub trait EcosystemRules {
    /// Whether `url` may be an upstream of a registry of `kind`.
    fn check_upstream(&self, kind: Kind, url: &str) -> Result<(), String>;

    /// A namespace prefix of a registry of `kind` in the one spelling its
    /// package keys use (so that a claim matches every spelling of a name),
    /// or why it cannot be a prefix.
    fn normalize_prefix(&self, kind: Kind, prefix: &str) -> Result<String, String>;

    /// The catalog key of a package name of `kind`, `None` if invalid.
    fn normalize_name(&self, kind: Kind, name: &str) -> Option<String>;

    /// Whether `options` are settings a registry of `kind` knows.
    fn check_options(&self, kind: Kind, options: &toml::Table) -> Result<(), String>;
}

#[cfg(test)]
mod tests;
