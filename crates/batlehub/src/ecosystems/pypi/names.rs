//! Project names (PEP 503 / PEP 508), versions (PEP 440) and distribution
//! file names (wheels, sdists).

use std::str::FromStr;

/// PEP 503 normalisation: runs of `-`, `_`, `.` become one `-`, lowercased.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A valid project name (PEP 508): ASCII letters and digits, with `.`, `_`,
/// `-` inside; at most 200 characters.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// A project name from a request: valid (PEP 508), kept as written, with
/// its PEP 503 normalised form, the catalog key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName {
    written: String,
    key: String,
}

impl ProjectName {
    pub fn parse(name: &str) -> Result<ProjectName, String> {
        if !valid_name(name) {
            return Err(format!("invalid project name `{name}`"));
        }
        Ok(ProjectName { written: name.to_string(), key: normalize(name) })
    }

    /// The name as written in the request.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The normalised name: the catalog key and the canonical URL segment.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the name was written in its normalised form.
    pub fn is_normalized(&self) -> bool {
        self.written == self.key
    }
}

/// A PEP 440 version, normalised (`1.0.0-RC1` → `1.0.0rc1`).
pub fn normalize_version(v: &str) -> Option<String> {
    if v.is_empty() || v.len() > 128 {
        return None;
    }
    pep440_rs::Version::from_str(v).ok().map(|v| v.to_string())
}

/// The key under which PEP 440 considers versions equal: the normalised
/// form with trailing zeros of the release dropped (`1.0.0` and `1.0` are
/// `1`; `1.0.0rc1` is `1rc1`). Not a version to show.
pub fn release_key(v: &str) -> String {
    let Some(parsed) = parse_version(v) else { return v.to_string() };
    let mut release: Vec<u64> = parsed.release().to_vec();
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let canonical = parsed.with_release(release);
    canonical.to_string()
}

pub fn parse_version(v: &str) -> Option<pep440_rs::Version> {
    pep440_rs::Version::from_str(v).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    Wheel,
    SdistTarGz,
    SdistZip,
}

impl DistKind {
    /// The `packagetype` of the JSON API and twine's `filetype`.
    pub fn packagetype(self) -> &'static str {
        match self {
            DistKind::Wheel => "bdist_wheel",
            DistKind::SdistTarGz | DistKind::SdistZip => "sdist",
        }
    }
}

/// What a distribution file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFilename {
    pub kind: DistKind,
    /// The project name part, normalised.
    pub project: String,
    /// The version part, normalised.
    pub version: String,
    /// For wheels, the python tag (`py3`, `cp311`).
    pub python_tag: Option<String>,
}

/// A file name safe in URLs and paths.
pub fn safe_filename(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 255
        && !f.starts_with('.')
        && !f.contains("..")
        && f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!'))
}

/// Parse a wheel or sdist file name.
pub fn parse_filename(f: &str) -> Result<DistFilename, String> {
    if !safe_filename(f) {
        return Err(format!("invalid file name `{f}`"));
    }
    if let Some(stem) = f.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        if !(parts.len() == 5 || parts.len() == 6) {
            return Err(format!("`{f}` is not a valid wheel file name"));
        }
        let version = normalize_version(parts[1]).ok_or_else(|| format!("`{f}` has an invalid version"))?;
        return Ok(DistFilename {
            kind: DistKind::Wheel,
            project: normalize(parts[0]),
            version,
            python_tag: Some(parts[parts.len() - 3].to_string()),
        });
    }
    let (stem, kind) = if let Some(s) = f.strip_suffix(".tar.gz") {
        (s, DistKind::SdistTarGz)
    } else if let Some(s) = f.strip_suffix(".zip") {
        (s, DistKind::SdistZip)
    } else {
        return Err(format!("`{f}` is neither a wheel (.whl) nor an sdist (.tar.gz, .zip)"));
    };
    let (name, ver) = stem.rsplit_once('-').ok_or_else(|| format!("`{f}` is not a valid sdist file name"))?;
    let version = normalize_version(ver).ok_or_else(|| format!("`{f}` has an invalid version"))?;
    if name.is_empty() {
        return Err(format!("`{f}` is not a valid sdist file name"));
    }
    Ok(DistFilename { kind, project: normalize(name), version, python_tag: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_equality() {
        assert_eq!(release_key("1.0"), release_key("1.0.0"));
        assert_eq!(release_key("1.0.0"), "1");
        assert_eq!(release_key("2.10.0rc1"), "2.10rc1");
        assert_ne!(release_key("1.0"), release_key("1.0.1"));
        assert_ne!(release_key("10"), release_key("1"));
    }

    #[test]
    fn pep503() {
        for (a, b) in [
            ("Django", "django"),
            ("my_pkg", "my-pkg"),
            ("My.Pkg__x", "my-pkg-x"),
            ("a-_.b", "a-b"),
            ("zope.interface", "zope-interface"),
        ] {
            assert_eq!(normalize(a), b, "{a}");
        }
        assert!(valid_name("requests"));
        assert!(valid_name("zope.interface"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("x-"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("../x"));
    }

    #[test]
    fn versions() {
        assert_eq!(normalize_version("1.0.0-RC1").as_deref(), Some("1.0.0rc1"));
        assert_eq!(normalize_version("2.0").as_deref(), Some("2.0"));
        assert_eq!(normalize_version("v1.2").as_deref(), Some("1.2"));
        assert!(normalize_version("not a version").is_none());
        assert!(normalize_version("").is_none());
    }

    #[test]
    fn filenames() {
        let w = parse_filename("my_pkg-1.0.0-py3-none-any.whl").expect("wheel");
        assert_eq!(
            (w.kind, w.project.as_str(), w.version.as_str(), w.python_tag.as_deref()),
            (DistKind::Wheel, "my-pkg", "1.0.0", Some("py3"))
        );
        let w = parse_filename("numpy-2.1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl").expect("wheel with build tag");
        assert_eq!(w.python_tag.as_deref(), Some("cp311"));
        let s = parse_filename("my-pkg-1.0.0.tar.gz").expect("legacy sdist");
        assert_eq!((s.kind, s.project.as_str(), s.version.as_str()), (DistKind::SdistTarGz, "my-pkg", "1.0.0"));
        assert_eq!(parse_filename("my_pkg-1.0rc1.zip").expect("zip").version, "1.0rc1");
        for bad in [
            "x.exe",
            "../x-1.0.tar.gz",
            "x-1.0-py3.whl",
            "x-notaversion.tar.gz",
            "-1.0.tar.gz",
            "a/b-1.0.tar.gz",
            ".x-1.0.tar.gz",
        ] {
            assert!(parse_filename(bad).is_err(), "{bad}");
        }
    }
}
