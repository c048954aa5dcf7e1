//! npm package names, tags and tarball file names, validated once at the edge.

use std::fmt;

/// A valid npm package name: `name` or `@scope/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NpmName {
    scope: Option<String>,
    bare: String,
}

/// Longest name the npm registry accepts.
const MAX_LEN: usize = 214;

fn valid_part(part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err("name part is empty".into());
    }
    if part.starts_with('.') || part.starts_with('_') {
        return Err(format!("`{part}` may not start with `.` or `_`"));
    }
    if let Some(c) = part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))) {
        return Err(format!("`{}` is not allowed in a package name", c.escape_default()));
    }
    Ok(())
}

impl NpmName {
    /// Parse a decoded name (`@scope/name` or `name`).
    pub fn parse(s: &str) -> Result<NpmName, String> {
        if s.is_empty() {
            return Err("package name is empty".into());
        }
        if s.len() > MAX_LEN {
            return Err(format!("package name is longer than {MAX_LEN} characters"));
        }
        if let Some(rest) = s.strip_prefix('@') {
            let Some((scope, bare)) = rest.split_once('/') else {
                return Err(format!("scoped package name `{s}` must be @scope/name"));
            };
            if bare.contains('/') {
                return Err(format!("package name `{s}` has more than one `/`"));
            }
            valid_part(scope).map_err(|e| format!("invalid scope in `{s}`: {e}"))?;
            valid_part(bare).map_err(|e| format!("invalid package name `{s}`: {e}"))?;
            Ok(NpmName { scope: Some(scope.to_string()), bare: bare.to_string() })
        } else {
            if s.contains('/') {
                return Err(format!("package name `{s}` contains `/` but is not scoped"));
            }
            valid_part(s).map_err(|e| format!("invalid package name `{s}`: {e}"))?;
            Ok(NpmName { scope: None, bare: s.to_string() })
        }
    }

    /// The stricter rules for a name that is being created by a publish.
    pub fn check_new(&self) -> Result<(), String> {
        let full = self.full();
        if full.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("new package names must be lowercase: `{full}`"));
        }
        if matches!(self.bare.as_str(), "node_modules" | "favicon.ico") && self.scope.is_none() {
            return Err(format!("`{full}` is not a valid package name"));
        }
        Ok(())
    }

    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    pub fn bare(&self) -> &str {
        &self.bare
    }

    /// `@scope/name` or `name`: the catalog key and the name in documents.
    pub fn full(&self) -> String {
        match &self.scope {
            Some(s) => format!("@{s}/{}", self.bare),
            None => self.bare.clone(),
        }
    }

    /// `@scope%2fname`: the single-segment form npm puts in URLs.
    pub fn escaped(&self) -> String {
        match &self.scope {
            Some(s) => format!("@{s}%2f{}", self.bare),
            None => self.bare.clone(),
        }
    }

    /// The conventional tarball file name of a version.
    pub fn tarball_filename(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.bare)
    }
}

impl fmt::Display for NpmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

/// A tarball file name as it appears in URLs.
pub fn valid_filename(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 300
        && !s.starts_with('.')
        && !s.contains("..")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+'))
}

/// A dist-tag: not empty, URL-safe, and not itself a version (npm refuses
/// tags that parse as semver, since `npm install pkg@1.0.0` must mean the version).
pub fn valid_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && semver::Version::parse(s.trim_start_matches('v')).is_err()
}

/// A version as npm publishes it: strict semver.
pub fn valid_version(s: &str) -> bool {
    s.len() <= 256 && semver::Version::parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let ok = ["lodash", "@myorg/pkg", "a-b.c_d~e", "-", "JSONStream", "@a/b"];
        for n in ok {
            let parsed = NpmName::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(parsed.full(), n);
        }
        let bad = [
            "",
            ".hidden",
            "_private",
            "..",
            "@scope",
            "@scope/",
            "@/x",
            "@a/b/c",
            "a/b",
            "a b",
            "a\\b",
            "a\0b",
            "@sc ope/x",
            "%2e%2e",
            "é",
        ];
        for n in bad {
            assert!(NpmName::parse(n).is_err(), "{n:?} should be rejected");
        }
        assert!(NpmName::parse(&"a".repeat(215)).is_err());
        let scoped = NpmName::parse("@myorg/pkg").expect("valid");
        assert_eq!(scoped.escaped(), "@myorg%2fpkg");
        assert_eq!(scoped.tarball_filename("1.0.0"), "pkg-1.0.0.tgz");
        assert!(NpmName::parse("JSONStream").expect("legacy").check_new().is_err());
        assert!(NpmName::parse("node_modules").expect("parses").check_new().is_err());
    }

    #[test]
    fn tags_and_files() {
        assert!(valid_tag("latest"));
        assert!(valid_tag("next-2"));
        assert!(!valid_tag("1.0.0"));
        assert!(!valid_tag("v1.2.3"));
        assert!(!valid_tag("a/b"));
        assert!(valid_filename("pkg-1.0.0.tgz"));
        assert!(!valid_filename("../x.tgz"));
        assert!(!valid_filename("a/b.tgz"));
        assert!(valid_version("1.0.0-beta.1+build"));
        assert!(!valid_version("1.0"));
    }
}
