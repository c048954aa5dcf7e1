//! NuGet package ids and versions.
//!
//! Ids are case-insensitive: the catalog key is the lower-cased id (what the
//! flat container's URLs use), the first publish's spelling is kept for the
//! documents. Versions follow NuGet's rules: one to four numbers (leading
//! zeros dropped, a fourth number of `0` dropped, missing ones `0`), an
//! optional dot-separated prerelease label, build metadata dropped, so
//! `1.0`, `1.0.0`, `01.0.0.0` and `1.0.0+build` are one version, `1.0.0`.
//! Prerelease labels compare case-insensitively.

use std::cmp::Ordering;

/// The longest id NuGet accepts.
pub const MAX_ID: usize = 100;
/// The longest version string accepted.
pub const MAX_VERSION: usize = 128;

/// A valid package id, as spelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageId(String);

impl PackageId {
    /// `^\w+([.-]\w+)*$` (ASCII word characters), at most [`MAX_ID`] long.
    pub fn parse(s: &str) -> Result<PackageId, String> {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let ok = !s.is_empty()
            && s.len() <= MAX_ID
            && s.split(['.', '-']).all(|part| !part.is_empty() && part.chars().all(word));
        if ok {
            Ok(PackageId(s.to_string()))
        } else {
            Err(format!(
                "invalid package id `{}`: ids are at most {MAX_ID} letters, digits and `_`, with single `.` or `-` between them",
                s.chars().take(120).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The catalog key and the flat container's spelling.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl std::fmt::Display for PackageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed NuGet version.
#[derive(Debug, Clone)]
pub struct Version {
    pub numbers: [u64; 4],
    /// The prerelease labels, as spelled.
    pub pre: Vec<String>,
    /// Whether the version is SemVer 2.0.0 only (a dotted prerelease label
    /// or build metadata): shown to clients that ask for `semVerLevel=2.0.0`.
    pub semver2: bool,
}

impl Version {
    pub fn parse(s: &str) -> Result<Version, String> {
        let bad = || format!("invalid version `{}`", s.chars().take(140).collect::<String>());
        let s = s.trim();
        if s.is_empty() || s.len() > MAX_VERSION {
            return Err(bad());
        }
        let (rest, metadata) = match s.split_once('+') {
            Some((r, m)) => (r, Some(m)),
            None => (s, None),
        };
        if let Some(m) = metadata
            && (m.is_empty() || !m.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')))
        {
            return Err(bad());
        }
        let (release, pre) = match rest.split_once('-') {
            Some((r, p)) => (r, Some(p)),
            None => (rest, None),
        };
        let parts: Vec<&str> = release.split('.').collect();
        if parts.is_empty() || parts.len() > 4 {
            return Err(bad());
        }
        let mut numbers = [0u64; 4];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || p.len() > 18 || !p.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            numbers[i] = p.parse().map_err(|_| bad())?;
        }
        let pre: Vec<String> = match pre {
            None => Vec::new(),
            Some(p) => {
                let labels: Vec<String> = p.split('.').map(str::to_string).collect();
                if labels.iter().any(|l| l.is_empty() || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) {
                    return Err(bad());
                }
                labels
            }
        };
        let semver2 = metadata.is_some() || pre.len() > 1;
        Ok(Version { numbers, pre, semver2 })
    }

    /// The normalised form, prerelease labels as spelled (`1.0.0-Beta.1`).
    pub fn normalized(&self) -> String {
        let [a, b, c, d] = self.numbers;
        let mut out = format!("{a}.{b}.{c}");
        if d != 0 {
            out.push_str(&format!(".{d}"));
        }
        if !self.pre.is_empty() {
            out.push('-');
            out.push_str(&self.pre.join("."));
        }
        out
    }

    /// The normalised form in lower case: the catalog key and the flat
    /// container's spelling.
    pub fn key(&self) -> String {
        self.normalized().to_ascii_lowercase()
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// NuGet's order: the numbers, then a release after its prereleases,
    /// labels compared one by one (numbers numerically and before words,
    /// words ignoring case), a shorter list of equal labels first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers.cmp(&other.numbers).then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (a, b) in self.pre.iter().zip(&other.pre) {
                    let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        (Err(_), Err(_)) => a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                self.pre.len().cmp(&other.pre.len())
            }
        })
    }
}

/// Two version strings in NuGet's order (unparsable ones first, as text).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["Newtonsoft.Json", "a", "My_Lib-2.Core", "team.x"] {
            assert!(PackageId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "a b", "a/b", "ä", "a%2e", &"x".repeat(101), "..", "a.-b"] {
            assert!(PackageId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(PackageId::parse("My.Lib").expect("id").lower(), "my.lib");
    }

    #[test]
    fn normalisation() {
        for (raw, normalized) in [
            ("1.0", "1.0.0"),
            ("1", "1.0.0"),
            ("1.0.0.0", "1.0.0"),
            ("01.002.0003", "1.2.3"),
            ("1.2.3.4", "1.2.3.4"),
            ("1.0.0+build.5", "1.0.0"),
            ("1.0.0-Beta.01", "1.0.0-Beta.01"),
            ("1.0.0-rc-1", "1.0.0-rc-1"),
        ] {
            assert_eq!(Version::parse(raw).expect(raw).normalized(), normalized, "{raw}");
        }
        assert_eq!(Version::parse("1.0.0-Beta").expect("v").key(), "1.0.0-beta");
        for bad in ["", "a", "1.0.0.0.0", "1..0", "1.0-", "1.0+", "1.0-a..b", "1.0-a_b", "-1.0", "1.0.0 beta", "99999999999999999999"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert!(Version::parse("1.0.0-a.b").expect("v").semver2);
        assert!(Version::parse("1.0.0+git").expect("v").semver2);
        assert!(!Version::parse("1.0.0-beta").expect("v").semver2);
    }

    #[test]
    fn order() {
        let sorted = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-Alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.0.0.1", "1.0.1", "1.10.0"];
        for w in sorted.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare("1.0", "1.0.0.0"), Ordering::Equal);
        assert_eq!(compare("1.0.0-BETA", "1.0.0-beta"), Ordering::Equal);
    }
}
