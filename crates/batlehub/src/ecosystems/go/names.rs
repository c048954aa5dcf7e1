//! Module paths and versions, as the go command checks them, and the case
//! encoding of the GOPROXY protocol.
//!
//! The catalog keeps one canonical form of a module path: the path itself,
//! with its capitals (`example.com/Org/lib`). On the wire, paths and
//! versions are case-encoded: every capital is `!` and its lower case
//! (`example.com/!org/lib`), so that case-insensitive file systems can hold
//! a proxy's tree. Requests are decoded on the way in; every URL and file
//! name served is encoded on the way out.

use std::cmp::Ordering;

/// A module path and its major-version suffix, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulePath(String);

impl ModulePath {
    /// A module path as the go command's `module.CheckPath` accepts it.
    pub fn parse(path: &str) -> Result<ModulePath, String> {
        check_path(path)?;
        Ok(ModulePath(path.to_string()))
    }

    /// A module path from its case-encoded form (a URL's).
    pub fn from_escaped(escaped: &str) -> Result<ModulePath, String> {
        let path = unescape(escaped).ok_or_else(|| format!("invalid escaped module path `{escaped}`"))?;
        ModulePath::parse(&path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-encoded form, for URLs.
    pub fn escaped(&self) -> String {
        escape(&self.0)
    }

    /// The major version the path's suffix names: `/v2` → `Some(2)`; a path
    /// without a suffix → `None`.
    pub fn major_suffix(&self) -> Option<u64> {
        split_major(&self.0).1
    }
}

impl std::fmt::Display for ModulePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `!x` for every capital `X`; no `!` may appear in the input.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`escape`]: `None` for a capital, a `!` not followed by a
/// lower-case ASCII letter, or a trailing `!`.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return None;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
}

/// Characters of a module path element (`module.CheckPath`).
fn mod_path_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Characters of a file path inside a module zip (`module.CheckFilePath`).
fn file_name_ok(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
    } else {
        c.is_alphabetic()
    }
}

/// Windows' reserved device names, which no path element may start with
/// (before its first dot).
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1",
    "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn check_elem(elem: &str, file: bool) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem == "." || elem == ".." {
        return Err(format!("invalid path element `{elem}`"));
    }
    if !file && elem.starts_with('.') {
        return Err(format!("leading dot in path element `{elem}`"));
    }
    if elem.ends_with('.') {
        return Err(format!("trailing dot in path element `{elem}`"));
    }
    let ok = if file { file_name_ok } else { mod_path_ok };
    if let Some(c) = elem.chars().find(|c| !ok(*c)) {
        return Err(format!("invalid char {c:?} in path element `{elem}`"));
    }
    let short = elem.split('.').next().unwrap_or(elem);
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(short)) {
        return Err(format!("`{elem}` is a reserved file name on Windows"));
    }
    // An 8.3 short name (`PROGRA~1`) could alias another file on Windows.
    if let Some((_, tail)) = short.rsplit_once('~')
        && !tail.is_empty()
        && tail.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("trailing tilde and digits in path element `{elem}`"));
    }
    Ok(())
}

fn check_elems(path: &str, file: bool) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.starts_with('/') || path.ends_with('/') {
        return Err(format!("`{path}`: leading or trailing slash"));
    }
    if path.starts_with('-') && !file {
        return Err(format!("`{path}`: leading dash"));
    }
    if path.contains("//") {
        return Err(format!("`{path}`: double slash"));
    }
    for elem in path.split('/') {
        check_elem(elem, file).map_err(|e| format!("`{path}`: {e}"))?;
    }
    Ok(())
}

/// A file path inside a module (`module.CheckFilePath`).
pub fn check_file_path(path: &str) -> Result<(), String> {
    check_elems(path, true)
}

/// `module.CheckPath`: a module path is at most 1024 bytes of elements of
/// ASCII letters, digits and `-._~`, whose first element is a lower-case
/// host name with a dot, and whose `/vN` suffix (if any) is a real major
/// version (`v2` and up, no leading zero).
pub fn check_path(path: &str) -> Result<(), String> {
    if path.len() > 1024 {
        return Err("module path longer than 1024 bytes".into());
    }
    check_elems(path, false).map_err(|e| format!("malformed module path {e}"))?;
    let first = path.split('/').next().unwrap_or(path);
    if !first.contains('.') {
        return Err(format!("malformed module path `{path}`: missing dot in first path element"));
    }
    if first.starts_with('-') {
        return Err(format!("malformed module path `{path}`: leading dash in first path element"));
    }
    if let Some(c) = first.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')))
    {
        return Err(format!("malformed module path `{path}`: invalid char {c:?} in first path element"));
    }
    let (_, major) = split_major(path);
    if major.is_none()
        && let Some((_, last)) = path.rsplit_once('/')
        && last.len() >= 2
        && last.starts_with('v')
        && last[1..].chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("malformed module path `{path}`: invalid version suffix `/{last}`"));
    }
    Ok(())
}

/// `(prefix, major)` of a path ending in a valid `/vN` (N ≥ 2, no leading
/// zero); `(path, None)` otherwise.
fn split_major(path: &str) -> (&str, Option<u64>) {
    if let Some((prefix, last)) = path.rsplit_once('/')
        && let Some(digits) = last.strip_prefix('v')
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
        && let Ok(n) = digits.parse::<u64>()
        && n >= 2
    {
        return (prefix, Some(n));
    }
    (path, None)
}

/// A canonical module version: `vMAJOR.MINOR.PATCH[-PRERELEASE][+incompatible]`
/// (pseudo-versions are pre-releases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    text: String,
    semver: semver::Version,
    incompatible: bool,
}

impl Version {
    pub fn parse(s: &str) -> Result<Version, String> {
        let bad = || format!("invalid version `{s}`: module versions are canonical semantic versions such as v1.2.3");
        let rest = s.strip_prefix('v').ok_or_else(bad)?;
        let (core, incompatible) = match rest.split_once('+') {
            Some((core, "incompatible")) => (core, true),
            Some(_) => return Err(bad()),
            None => (rest, false),
        };
        let semver = semver::Version::parse(core).map_err(|_| bad())?;
        if semver.to_string() != core || !semver.build.is_empty() {
            return Err(bad());
        }
        if incompatible && semver.major < 2 {
            return Err(format!("invalid version `{s}`: +incompatible needs a major version of 2 or more"));
        }
        Ok(Version { text: s.to_string(), semver, incompatible })
    }

    /// From a URL's case-encoded form.
    pub fn from_escaped(escaped: &str) -> Result<Version, String> {
        Version::parse(&unescape(escaped).ok_or_else(|| format!("invalid escaped version `{escaped}`"))?)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn escaped(&self) -> String {
        escape(&self.text)
    }

    pub fn major(&self) -> u64 {
        self.semver.major
    }

    pub fn is_prerelease(&self) -> bool {
        !self.semver.pre.is_empty()
    }

    pub fn is_incompatible(&self) -> bool {
        self.incompatible
    }

    /// A pseudo-version (`v0.0.0-20240101120000-abcdefabcdef` and the
    /// forms built on a tag): a pre-release whose last two dot/dash fields
    /// are a 14-digit timestamp and a 12-character commit hash.
    pub fn is_pseudo(&self) -> bool {
        let pre = self.semver.pre.as_str();
        let Some((head, rev)) = pre.rsplit_once('-') else { return false };
        let stamp = head.rsplit(['.', '-']).next().unwrap_or(head);
        stamp.len() == 14
            && stamp.chars().all(|c| c.is_ascii_digit())
            && rev.len() == 12
            && rev.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    }

    /// Whether the version may belong to a module at `path`: v0/v1 (and
    /// `+incompatible`) without a `/vN` suffix, vN at a path ending `/vN`.
    pub fn check_path_major(&self, path: &ModulePath) -> Result<(), String> {
        match (path.major_suffix(), self.incompatible) {
            (Some(n), false) if n == self.major() => Ok(()),
            (Some(n), _) => Err(format!("version {self} does not belong to {path} (a /v{n} module holds v{n}.x.x versions)")),
            (None, true) => Ok(()),
            (None, false) if self.major() <= 1 => Ok(()),
            (None, false) => Err(format!(
                "version {self} needs the module path {path}/v{} (or the +incompatible suffix)",
                self.major()
            )),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.semver.cmp(&other.semver).then(self.incompatible.cmp(&other.incompatible))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_encoding_both_ways() {
        for (plain, escaped) in [
            ("github.com/Azure/azure-sdk", "github.com/!azure/azure-sdk"),
            ("example.com/ABC", "example.com/!a!b!c"),
            ("example.com/lower", "example.com/lower"),
            ("v1.0.0-RC1", "v1.0.0-!r!c1"),
        ] {
            assert_eq!(escape(plain), escaped);
            assert_eq!(unescape(escaped).as_deref(), Some(plain));
        }
        for bad in ["example.com/Upper", "example.com/!", "example.com/!1", "example.com/!!a"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn module_paths() {
        for ok in ["example.com/m", "example.com/Org/lib", "example.com/m/v2", "gitlab.example.com/a/b/c", "x.y"] {
            ModulePath::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "example",
            "Example.com/m",
            "example.com//m",
            "example.com/m/",
            "/example.com",
            "example.com/../m",
            "example.com/./m",
            "example.com/.hidden",
            "example.com/m/v1",
            "example.com/m/v0",
            "example.com/m/v02",
            "example.com/m n",
            "example.com/m@v1",
            "example.com/con",
            "example.com/a~1",
            "-x.com/m",
            "example.com/trailing.",
        ] {
            assert!(ModulePath::parse(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(ModulePath::parse("example.com/m/v3").map(|p| p.major_suffix()), Ok(Some(3)));
        assert_eq!(ModulePath::from_escaped("example.com/!org/lib").map(|p| p.to_string()), Ok("example.com/Org/lib".into()));
    }

    #[test]
    fn versions() {
        for ok in ["v1.0.0", "v0.1.2-pre.1", "v2.0.0+incompatible", "v0.0.0-20240101120000-abcdefabcdef"] {
            Version::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["1.0.0", "v1.0", "v01.0.0", "v1.0.0+build", "v1.0.0+incompatible", "latest", "v1.0.0 ", ""] {
            assert!(Version::parse(bad).is_err(), "{bad} must be refused");
        }
        assert!(Version::parse("v0.0.0-20240101120000-abcdefabcdef").is_ok_and(|v| v.is_pseudo()));
        assert!(Version::parse("v1.2.4-0.20240101120000-abcdefabcdef").is_ok_and(|v| v.is_pseudo()));
        assert!(Version::parse("v1.2.3-rc.1").is_ok_and(|v| !v.is_pseudo()));
        let p = |s: &str| ModulePath::parse(s).expect("path");
        let v = |s: &str| Version::parse(s).expect("version");
        assert!(v("v1.5.0").check_path_major(&p("example.com/m")).is_ok());
        assert!(v("v2.0.0").check_path_major(&p("example.com/m")).is_err());
        assert!(v("v2.0.0").check_path_major(&p("example.com/m/v2")).is_ok());
        assert!(v("v3.0.0").check_path_major(&p("example.com/m/v2")).is_err());
        assert!(v("v1.0.0").check_path_major(&p("example.com/m/v2")).is_err());
        assert!(v("v2.0.0+incompatible").check_path_major(&p("example.com/m")).is_ok());
        assert!(v("v2.0.0+incompatible").check_path_major(&p("example.com/m/v2")).is_err());
        assert!(v("v1.10.0") > v("v1.9.0"));
        assert!(v("v1.0.0-rc.1") < v("v1.0.0"));
    }
}
