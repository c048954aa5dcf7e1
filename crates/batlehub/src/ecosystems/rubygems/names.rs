//! Gem names, versions, platforms and `.gem` file names.

/// A gem name: letters, digits, `.`, `_` and `-`, starting with a letter or
/// digit (as rubygems.org accepts them). Kept as written; namespace claims
/// compare ignoring case.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err(format!("invalid gem name `{name}`")) }
}

/// A `Gem::Version`: dot-separated segments of letters and digits, starting
/// with a digit.
pub fn check_version(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.split(['.', '-']).all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok { Ok(()) } else { Err(format!("invalid gem version `{v}`")) }
}

/// A platform (`ruby`, `x86_64-linux`, `java`...).
pub fn check_platform(p: &str) -> Result<(), String> {
    let ok = !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok { Ok(()) } else { Err(format!("invalid platform `{p}`")) }
}

/// Whether a version is a pre-release (a letter in it).
pub fn is_prerelease(v: &str) -> bool {
    v.chars().any(|c| c.is_ascii_alphabetic())
}

/// The file name of a gem: `{name}-{version}[-{platform}].gem`.
pub fn gem_file(name: &str, version: &str, platform: &str) -> String {
    if platform == "ruby" { format!("{name}-{version}.gem") } else { format!("{name}-{version}-{platform}.gem") }
}

/// The compact index's spelling of a version of a platform.
pub fn version_label(version: &str, platform: &str) -> String {
    if platform == "ruby" { version.to_string() } else { format!("{version}-{platform}") }
}

/// `Gem::Version` order: numeric segments numerically, a letter segment
/// (pre-release) before any number.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn segs(v: &str) -> Vec<Result<u64, String>> {
        let mut out = Vec::new();
        for part in v.split(['.', '-']) {
            let mut cur = String::new();
            let mut digit = None;
            for c in part.chars() {
                let d = c.is_ascii_digit();
                if digit.is_some_and(|p| p != d) {
                    out.push(cur.parse::<u64>().map_err(|_| cur.clone()));
                    cur.clear();
                }
                digit = Some(d);
                cur.push(c);
            }
            if !cur.is_empty() {
                out.push(cur.parse::<u64>().map_err(|_| cur.clone()));
            }
        }
        // Canonical segments: trailing zeros of the release part and of the
        // pre-release part do not count (1.0.0.rc1 is 1.rc1).
        let split = out.iter().position(|s| s.is_err()).unwrap_or(out.len());
        let mut pre = out.split_off(split);
        while matches!(out.last(), Some(Ok(0))) {
            out.pop();
        }
        while matches!(pre.last(), Some(Ok(0))) {
            pre.pop();
        }
        out.extend(pre);
        out
    }
    let (x, y) = (segs(a), segs(b));
    for i in 0..x.len().max(y.len()) {
        let ord = match (x.get(i), y.get(i)) {
            (Some(Ok(m)), Some(Ok(n))) => m.cmp(n),
            (Some(Err(s)), Some(Err(t))) => s.cmp(t),
            (Some(Ok(_)), Some(Err(_))) => std::cmp::Ordering::Greater,
            (Some(Err(_)), Some(Ok(_))) => std::cmp::Ordering::Less,
            (Some(Ok(_)), None) => std::cmp::Ordering::Greater,
            (None, Some(Ok(_))) => std::cmp::Ordering::Less,
            (Some(Err(_)), None) => std::cmp::Ordering::Less,
            (None, Some(Err(_))) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_versions_files() {
        assert!(check_name("rack-test").is_ok() && check_name("-x").is_err() && check_name("a/b").is_err());
        assert!(check_version("1.2.3").is_ok() && check_version("1.0.0.rc1").is_ok() && check_version("v1").is_err());
        assert!(check_version("1..2").is_err() && check_version("1.0 ").is_err());
        assert_eq!(gem_file("nokogiri", "1.16.0", "x86_64-linux"), "nokogiri-1.16.0-x86_64-linux.gem");
        assert_eq!(gem_file("rack", "3.0.0", "ruby"), "rack-3.0.0.gem");
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("1.10", "1.9"), Greater);
        assert_eq!(compare_versions("1.0.0.rc1", "1.0.0"), Less);
        assert_eq!(compare_versions("1.0", "1"), Equal);
        assert!(is_prerelease("2.0.0.beta1") && !is_prerelease("2.0.0"));
    }
}
