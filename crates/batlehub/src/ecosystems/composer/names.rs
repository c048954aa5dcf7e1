//! Composer package names and versions, as Composer checks and normalises
//! them.

/// `vendor/package`, lower case: Composer's name rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageName(String);

fn part_ok(s: &str, package: bool) -> bool {
    // [a-z0-9]([_.-]?[a-z0-9]+)* for vendors; packages also allow `--`.
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 100 || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut run = 0;
    for &c in b {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            run = 0;
        } else if matches!(c, b'_' | b'.' | b'-') {
            run += 1;
            let max = if package && c == b'-' { 2 } else { 1 };
            if run > max {
                return false;
            }
        } else {
            return false;
        }
    }
    true
}

impl PackageName {
    /// A name as Composer accepts it; capitals are folded (Composer's names
    /// are lower case).
    pub fn parse(name: &str) -> Result<PackageName, String> {
        let lower = name.to_ascii_lowercase();
        let Some((vendor, package)) = lower.split_once('/') else {
            return Err(format!("invalid package name `{name}`: expected vendor/package"));
        };
        if !part_ok(vendor, false) || !part_ok(package, true) {
            return Err(format!("invalid package name `{name}`: vendor/package of lower-case letters, digits, `-`, `_` and `.`"));
        }
        Ok(PackageName(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PackageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a version is a development version (`dev-main`, `1.x-dev`),
/// listed in `~dev.json`.
pub fn is_dev(version: &str) -> bool {
    let v = version.to_ascii_lowercase();
    v.starts_with("dev-") || v.ends_with("-dev") || v.ends_with(".x-dev")
}

/// Composer's `VersionParser::normalize` for the versions a package file
/// declares: `1.2` → `1.2.0.0`, `v1.2.3-RC1` → `1.2.3.0-RC1`, `dev-main`
/// stays, `1.x-dev` → `1.9999999.9999999.9999999-dev`. `None` when Composer
/// would refuse it.
pub fn normalize(version: &str) -> Option<String> {
    let v = version.trim();
    if v.is_empty() || v.len() > 100 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    if let Some(branch) = v.strip_prefix("dev-") {
        let ok = !branch.is_empty() && branch.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
        return ok.then(|| format!("dev-{branch}"));
    }
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    // 1.x-dev / 1.2.x-dev
    if let Some(head) = v.strip_suffix(".x-dev").or_else(|| v.strip_suffix(".*-dev")) {
        let nums: Vec<&str> = head.split('.').collect();
        if nums.is_empty() || nums.len() > 3 || !nums.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())) {
            return None;
        }
        let mut parts: Vec<String> = nums.iter().map(|n| n.trim_start_matches('0').to_string()).map(|n| if n.is_empty() { "0".into() } else { n }).collect();
        while parts.len() < 4 {
            parts.push("9999999".into());
        }
        return Some(format!("{}-dev", parts.join(".")));
    }
    let (numbers, rest) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let nums: Vec<&str> = numbers.split('.').collect();
    if nums.is_empty() || nums.len() > 4 || nums.iter().any(|n| n.is_empty() || n.len() > 10) {
        return None;
    }
    let mut parts: Vec<String> = nums.iter().map(|n| n.parse::<u64>().map(|x| x.to_string())).collect::<Result<_, _>>().ok()?;
    while parts.len() < 4 {
        parts.push("0".into());
    }
    let base = parts.join(".");
    if rest.is_empty() {
        return Some(base);
    }
    // -stability[.]N, the stability in Composer's canonical spelling.
    let suffix = rest.strip_prefix(['-', '.', '_']).unwrap_or(rest);
    let lower = suffix.to_ascii_lowercase();
    let (word, num) = match lower.find(|c: char| c.is_ascii_digit() || c == '.' || c == '-') {
        Some(i) => (&lower[..i], lower[i..].trim_start_matches(['.', '-'])),
        None => (lower.as_str(), ""),
    };
    let canonical = match word {
        "alpha" | "a" => "alpha",
        "beta" | "b" => "beta",
        "rc" | "c" => "RC",
        "patch" | "pl" | "p" => "patch",
        "stable" => return num.is_empty().then_some(base),
        "dev" if num.is_empty() => return Some(format!("{base}-dev")),
        _ => return None,
    };
    if !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    Some(if num.is_empty() { format!("{base}-{canonical}") } else { format!("{base}-{canonical}{num}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["my-vendor/my-pkg", "a/b", "symfony/console", "acme/pkg--x", "Acme/Pkg"] {
            assert!(PackageName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(PackageName::parse("Acme/Pkg").map(|n| n.to_string()), Ok("acme/pkg".into()));
        for bad in ["nopackage", "a/", "/b", "a/b/c", "-a/b", "a/b-", "a..b/c", "a/b c", "a/../b", "a/b%"] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_normalise_as_composer_does() {
        for (v, want) in [
            ("1.0", Some("1.0.0.0")),
            ("1.2.3", Some("1.2.3.0")),
            ("v1.2.3", Some("1.2.3.0")),
            ("1.2.3.4", Some("1.2.3.4")),
            ("1.0.0-beta1", Some("1.0.0.0-beta1")),
            ("1.0.0-RC2", Some("1.0.0.0-RC2")),
            ("1.0.0-rc.2", Some("1.0.0.0-RC2")),
            ("2.0-alpha", Some("2.0.0.0-alpha")),
            ("1.0.0-dev", Some("1.0.0.0-dev")),
            ("dev-main", Some("dev-main")),
            ("1.x-dev", Some("1.9999999.9999999.9999999-dev")),
            ("1.0.0-pl1", Some("1.0.0.0-patch1")),
            ("", None),
            ("1.0 beta", None),
            ("1.0.0.0.0", None),
            ("one", None),
            ("1.0-weird", None),
        ] {
            assert_eq!(normalize(v).as_deref(), want, "{v}");
        }
        assert!(is_dev("dev-main") && is_dev("1.x-dev") && !is_dev("1.0.0"));
    }
}
