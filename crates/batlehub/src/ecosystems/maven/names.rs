//! Maven coordinates and repository paths.
//!
//! A package is an artifact, `groupId:artifactId`; its catalog key is the
//! artifact's folder in the repository layout, `com/mycompany/my-app` (the
//! groupId's dots as slashes, then the artifactId), so that a namespace
//! claim on a groupId (`com.mycompany`, kept as `com/mycompany/`) covers the
//! group and its subgroups and nothing else (`com.mycompanyx` is another
//! group). A version is a folder of files (`my-app-1.0.pom`, `.jar`,
//! `-sources.jar`, ...); a SNAPSHOT version's files carry the build's
//! timestamp and number instead of `SNAPSHOT`.

use std::cmp::Ordering;

/// One path element of a groupId, an artifactId or a version: letters,
/// digits and `-`, `_`, `.`, `+`, not `.` or `..`, at most 200 bytes.
fn element_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
}

/// `groupId:artifactId`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Coordinates {
    pub group: String,
    pub artifact: String,
}

impl Coordinates {
    pub fn new(group: &str, artifact: &str) -> Result<Coordinates, String> {
        let group_ok = !group.is_empty()
            && group.len() <= 400
            && group.split('.').all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')));
        if !group_ok {
            return Err(format!("invalid groupId `{group}`"));
        }
        if !element_ok(artifact) || artifact.starts_with('.') {
            return Err(format!("invalid artifactId `{artifact}`"));
        }
        Ok(Coordinates { group: group.to_string(), artifact: artifact.to_string() })
    }

    /// `groupId:artifactId` or the repository folder `g/r/o/u/p/artifactId`.
    pub fn parse(name: &str) -> Result<Coordinates, String> {
        if let Some((g, a)) = name.split_once(':') {
            return Coordinates::new(g, a);
        }
        let (g, a) = name.rsplit_once('/').ok_or_else(|| format!("`{name}` is not groupId:artifactId"))?;
        if g.contains('.') {
            return Err(format!("`{name}` is not groupId:artifactId"));
        }
        Coordinates::new(&g.replace('/', "."), a)
    }

    /// The catalog key: the artifact's folder in the repository.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group.replace('.', "/"), self.artifact)
    }

    pub fn display(&self) -> String {
        format!("{}:{}", self.group, self.artifact)
    }
}

/// A version folder's name.
pub fn check_version(v: &str) -> Result<(), String> {
    if element_ok(v) && !v.starts_with('.') { Ok(()) } else { Err(format!("invalid version `{v}`")) }
}

pub fn is_snapshot(version: &str) -> bool {
    version.ends_with("-SNAPSHOT")
}

/// What a file name of a version folder says, with the folder's artifactId
/// and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// For a SNAPSHOT: `(timestamp "20261129.041500", build number)`.
    pub build: Option<(String, u32)>,
    pub classifier: Option<String>,
    /// `jar`, `pom`, `module`, `jar.asc`, `tar.gz`...
    pub extension: String,
}

/// Parse `{artifactId}-{version}[-{classifier}].{ext}` of the folder
/// `version`; for a SNAPSHOT the version part is the base version with a
/// `{yyyyMMdd.HHmmss}-{n}` build instead of `SNAPSHOT` (or `SNAPSHOT`
/// itself, as non-unique snapshots name files).
pub fn parse_file(artifact: &str, version: &str, filename: &str) -> Result<FileName, String> {
    let bad = || format!("`{filename}` is not a file of {artifact} {version} (expected {artifact}-{version}[-classifier].ext)");
    if !element_ok(filename) || filename.starts_with('.') {
        return Err(format!("invalid file name `{filename}`"));
    }
    let rest = filename.strip_prefix(artifact).and_then(|r| r.strip_prefix('-')).ok_or_else(bad)?;
    let (build, rest) = match version.strip_suffix("-SNAPSHOT") {
        Some(base) => {
            let after = rest.strip_prefix(base).and_then(|r| r.strip_prefix('-')).ok_or_else(bad)?;
            if let Some(r) = after.strip_prefix("SNAPSHOT") {
                (None, r)
            } else {
                // yyyyMMdd.HHmmss-N
                let stamp = after.get(..15).ok_or_else(bad)?;
                let ok = stamp.len() == 15
                    && stamp.as_bytes()[8] == b'.'
                    && stamp.chars().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit());
                if !ok || after.as_bytes().get(15) != Some(&b'-') {
                    return Err(bad());
                }
                let tail = &after[16..];
                let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
                let n: u32 = digits.parse().map_err(|_| bad())?;
                (Some((stamp.to_string(), n)), &tail[digits.len()..])
            }
        }
        None => (None, rest.strip_prefix(version).ok_or_else(bad)?),
    };
    let (classifier, extension) = if let Some(ext) = rest.strip_prefix('.') {
        (None, ext)
    } else if let Some(c) = rest.strip_prefix('-') {
        let (c, ext) = c.split_once('.').ok_or_else(bad)?;
        if c.is_empty() {
            return Err(bad());
        }
        (Some(c.to_string()), ext)
    } else {
        return Err(bad());
    };
    if extension.is_empty() || extension.split('.').any(str::is_empty) {
        return Err(bad());
    }
    Ok(FileName { build, classifier, extension: extension.to_string() })
}

/// The checksum algorithms Maven clients ask for, by file suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Checksum {
    pub const ALL: [Checksum; 4] = [Checksum::Md5, Checksum::Sha1, Checksum::Sha256, Checksum::Sha512];

    pub fn suffix(self) -> &'static str {
        match self {
            Checksum::Md5 => ".md5",
            Checksum::Sha1 => ".sha1",
            Checksum::Sha256 => ".sha256",
            Checksum::Sha512 => ".sha512",
        }
    }

    /// `name` without a checksum suffix, and the algorithm.
    pub fn split(name: &str) -> Option<(&str, Checksum)> {
        Checksum::ALL.into_iter().find_map(|c| name.strip_suffix(c.suffix()).map(|base| (base, c)))
    }
}

/// Maven's version order (`ComparableVersion`, simplified): numbers
/// numerically, qualifiers `alpha` < `beta` < `milestone` < `rc` <
/// `snapshot` < release < `sp`, other qualifiers after those, by text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    #[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
    enum Item {
        Qualifier(u8, String),
        Number(u64),
    }
    fn items(v: &str) -> Vec<Item> {
        let lower = v.to_ascii_lowercase();
        let mut out = Vec::new();
        let mut cur = String::new();
        let flush = |cur: &mut String, out: &mut Vec<Item>| {
            if cur.is_empty() {
                return;
            }
            let item = match cur.parse::<u64>() {
                Ok(n) => Item::Number(n),
                Err(_) => {
                    // Zeros before a qualifier do not count (1.0-rc is 1-rc).
                    while matches!(out.last(), Some(Item::Number(0))) {
                        out.pop();
                    }
                    let rank = match cur.as_str() {
                        "alpha" | "a" => 0,
                        "beta" | "b" => 1,
                        "milestone" | "m" => 2,
                        "rc" | "cr" => 3,
                        "snapshot" => 4,
                        "ga" | "final" | "release" => 5,
                        "sp" => 6,
                        _ => 7,
                    };
                    Item::Qualifier(rank, cur.clone())
                }
            };
            out.push(item);
            cur.clear();
        };
        let mut digit = None;
        for c in lower.chars() {
            if c == '.' || c == '-' || c == '_' {
                flush(&mut cur, &mut out);
                digit = None;
                continue;
            }
            let d = c.is_ascii_digit();
            if digit.is_some_and(|p| p != d) {
                flush(&mut cur, &mut out);
            }
            digit = Some(d);
            cur.push(c);
        }
        flush(&mut cur, &mut out);
        // Trailing zeros and release markers do not count (1.0 == 1).
        while matches!(out.last(), Some(Item::Number(0)) | Some(Item::Qualifier(5, _))) {
            out.pop();
        }
        out
    }
    let (x, y) = (items(a), items(b));
    for i in 0..x.len().max(y.len()) {
        let ord = match (x.get(i), y.get(i)) {
            (Some(p), Some(q)) => match (p, q) {
                (Item::Number(m), Item::Number(n)) => m.cmp(n),
                // A number is newer than a qualifier (1.1 > 1-rc).
                (Item::Number(_), Item::Qualifier(..)) => Ordering::Greater,
                (Item::Qualifier(..), Item::Number(_)) => Ordering::Less,
                (Item::Qualifier(r, s), Item::Qualifier(t, u)) => r.cmp(t).then_with(|| s.cmp(u)),
            },
            // Past the end: a number makes it newer; a qualifier below
            // `ga` (rc, snapshot) makes it older, `sp` and others newer.
            (Some(Item::Number(_)), None) => Ordering::Greater,
            (None, Some(Item::Number(_))) => Ordering::Less,
            (Some(Item::Qualifier(r, _)), None) => (*r).cmp(&5),
            (None, Some(Item::Qualifier(r, _))) => 5.cmp(r),
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_and_keys() {
        let c = Coordinates::parse("com.mycompany:my-app").expect("coords");
        assert_eq!(c.key(), "com/mycompany/my-app");
        assert_eq!(Coordinates::parse("com/mycompany/my-app"), Ok(c.clone()));
        assert_eq!(c.display(), "com.mycompany:my-app");
        for bad in ["com..x:a", "com.x:", ":a", "com.x:../a", "com x:a", "com.x:a/b", "com.x:.a", "noartifact"] {
            assert!(Coordinates::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names() {
        let f = |a: &str, v: &str, n: &str| parse_file(a, v, n);
        assert_eq!(
            f("app", "1.0", "app-1.0.jar"),
            Ok(FileName { build: None, classifier: None, extension: "jar".into() })
        );
        assert_eq!(
            f("app", "1.0", "app-1.0-sources.jar"),
            Ok(FileName { build: None, classifier: Some("sources".into()), extension: "jar".into() })
        );
        assert_eq!(
            f("app", "1.0", "app-1.0.pom.asc"),
            Ok(FileName { build: None, classifier: None, extension: "pom.asc".into() })
        );
        assert_eq!(
            f("app", "1.0-SNAPSHOT", "app-1.0-20261129.041500-3.jar"),
            Ok(FileName { build: Some(("20261129.041500".into(), 3)), classifier: None, extension: "jar".into() })
        );
        assert_eq!(
            f("app", "1.0-SNAPSHOT", "app-1.0-20261129.041500-12-javadoc.jar"),
            Ok(FileName {
                build: Some(("20261129.041500".into(), 12)),
                classifier: Some("javadoc".into()),
                extension: "jar".into()
            })
        );
        assert!(f("app", "1.0-SNAPSHOT", "app-1.0-SNAPSHOT.pom").is_ok());
        for (v, bad) in [
            ("1.0", "other-1.0.jar"),
            ("1.0", "app-1.1.jar"),
            ("1.0", "app-1.0"),
            ("1.0", "app-1.0-.jar"),
            ("1.0", "app-1.0.jar."),
            ("1.0-SNAPSHOT", "app-1.0-2026.jar"),
            ("1.0-SNAPSHOT", "app-1.0-20261129x041500-1.jar"),
            ("1.0", "../app-1.0.jar"),
        ] {
            assert!(f("app", v, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn maven_version_order() {
        let ordered = ["1.0-alpha-1", "1.0-beta", "1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.0-sp1", "1.0.1", "1.1", "1.10", "2"];
        for w in ordered.windows(2) {
            assert_eq!(compare_versions(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare_versions(w[1], w[0]), Ordering::Greater, "{} > {}", w[1], w[0]);
        }
        assert_eq!(compare_versions("1.0", "1"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn checksum_suffixes() {
        assert_eq!(Checksum::split("a.jar.sha1"), Some(("a.jar", Checksum::Sha1)));
        assert_eq!(Checksum::split("maven-metadata.xml.sha512"), Some(("maven-metadata.xml", Checksum::Sha512)));
        assert_eq!(Checksum::split("a.jar"), None);
    }
}
