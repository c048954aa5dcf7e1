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

    /// The version order (oldest first) of registries of `kind`.
    fn version_order(&self, kind: Kind) -> VersionOrder {
        let _ = kind;
        natural_version_order
    }

    /// How `[[registries.rules]]` of `kind` are written (ranges, names,
    /// version order, OSV name, licences), or `None` where registries of
    /// `kind` do not apply rules (a configuration with rules they would
    /// ignore is refused).
    fn rule_syntax(&self, kind: Kind) -> Option<crate::rules::Syntax> {
        let _ = kind;
        None
    }
}

/// A registry type's version order, oldest first.
pub type VersionOrder = fn(&str, &str) -> std::cmp::Ordering;

/// Versions compared piece by piece: runs of digits as numbers, runs of
/// letters as text (`1.10` after `1.9`, `2.0.0` after `2.0.0-rc.1`).
/// Where one version is a prefix of the other, a following number makes the
/// longer one newer (`1.0.1` after `1.0`) and following letters make it
/// older (`1.0-beta` before `1.0`); build metadata after `+` is ignored.
pub fn natural_version_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Piece<'a> {
        // Letters sort before numbers: `1.0.beta` < `1.0.0`.
        Text(&'a str),
        Number(u128),
    }
    fn pieces(v: &str) -> Vec<Piece<'_>> {
        let v = v.split('+').next().unwrap_or(v);
        let v = v.strip_prefix(['v', 'V']).filter(|r| r.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(v);
        let mut out = Vec::new();
        let mut rest = v;
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
            rest = &rest[start..];
            let digits = rest.starts_with(|c: char| c.is_ascii_digit());
            let end = rest
                .find(|c: char| if digits { !c.is_ascii_digit() } else { !c.is_ascii_alphabetic() })
                .unwrap_or(rest.len());
            let run = &rest[..end];
            out.push(if digits { Piece::Number(run.parse().unwrap_or(u128::MAX)) } else { Piece::Text(run) });
            rest = &rest[end..];
        }
        out
    }
    let (pa, pb) = (pieces(a), pieces(b));
    for i in 0..pa.len().max(pb.len()) {
        match (pa.get(i), pb.get(i)) {
            (Some(x), Some(y)) => match x.cmp(y) {
                Ordering::Equal => continue,
                other => return other,
            },
            (Some(Piece::Number(_)), None) => return Ordering::Greater,
            (Some(Piece::Text(_)), None) => return Ordering::Less,
            (None, Some(Piece::Number(_))) => return Ordering::Less,
            (None, Some(Piece::Text(_))) => return Ordering::Greater,
            (None, None) => break,
        }
    }
    a.cmp(b)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod version_order_tests {
    use std::cmp::Ordering;

    use super::natural_version_order;

    #[test]
    fn natural_version_order_is_numeric_with_pre_releases_first() {
        let mut v =
            vec!["1.10.0", "1.9.0", "1.0.0-rc.1", "1.0.0", "v2.0.0", "1.0.0-beta", "1.0", "0.9", "1.0.1+build.5"];
        v.sort_by(|a, b| natural_version_order(a, b));
        assert_eq!(
            v,
            ["0.9", "1.0", "1.0.0-beta", "1.0.0-rc.1", "1.0.0", "1.0.1+build.5", "1.9.0", "1.10.0", "v2.0.0"]
        );
        assert_eq!(natural_version_order("1.0.0", "1.0.0"), Ordering::Equal);
        assert_eq!(natural_version_order("1.0.0.beta", "1.0.0"), Ordering::Less);
        assert_eq!(natural_version_order("99999999999999999999999999999999999999999", "1"), Ordering::Greater);
        assert_eq!(natural_version_order("", "1"), Ordering::Less);
    }
}
