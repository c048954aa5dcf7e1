//! Crate names: validated once, compared case-insensitively with `-` and `_`
//! equivalent, and laid out in the sparse index.

/// A valid crate name as published (its original spelling).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrateName(String);

impl CrateName {
    /// ASCII letters, digits, `-` and `_`; starting with a letter; 1 to 64 long.
    pub fn parse(s: &str) -> Result<CrateName, String> {
        if s.is_empty() {
            return Err("crate name is empty".into());
        }
        if s.len() > 64 {
            return Err(format!("crate name `{s}` is longer than 64 characters"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("crate name `{s}` must start with an ASCII letter"));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(format!(
                "crate name `{s}` contains `{}`: only ASCII letters, digits, `-` and `_` are allowed",
                c.escape_default()
            ));
        }
        Ok(CrateName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The catalog key: lowercase, `_` spelled `-`. Two names with the same
    /// key are the same crate.
    pub fn key(&self) -> String {
        normalize(&self.0)
    }

    /// The index file path of this crate (lowercased, as cargo asks for it).
    pub fn index_path(&self) -> String {
        index_path(&self.0.to_lowercase())
    }
}

pub fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd`.
pub fn index_path(name: &str) -> String {
    format!("{}/{name}", index_prefix(name))
}

/// The folder part of the index path; also the `{prefix}` marker of `dl`.
pub fn index_prefix(name: &str) -> String {
    match name.len() {
        1 => "1".to_string(),
        2 => "2".to_string(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

/// The crate an index path names, if the path is laid out right for it.
pub fn parse_index_path(segments: &[&str]) -> Option<CrateName> {
    let (name, dirs) = segments.split_last()?;
    let crate_name = CrateName::parse(name).ok()?;
    let expected = index_prefix(&name.to_lowercase());
    let dirs_lower: Vec<String> = dirs.iter().map(|d| d.to_lowercase()).collect();
    (dirs_lower.join("/") == expected).then_some(crate_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("abcd"), "ab/cd/abcd");
        assert_eq!(index_path("serde_json"), "se/rd/serde_json");
        assert_eq!(CrateName::parse("Serde").expect("valid").index_path(), "se/rd/serde");
        assert_eq!(parse_index_path(&["se", "rd", "serde"]).map(|n| n.0), Some("serde".into()));
        assert_eq!(parse_index_path(&["3", "a", "abc"]).map(|n| n.0), Some("abc".into()));
        assert_eq!(parse_index_path(&["1", "a"]).map(|n| n.0), Some("a".into()));
        assert!(parse_index_path(&["2", "abc"]).is_none());
        assert!(parse_index_path(&["xx", "yy", "serde"]).is_none());
        assert!(parse_index_path(&["..", "..", "x"]).is_none());
        assert!(parse_index_path(&[]).is_none());
    }

    #[test]
    fn names_and_equivalence() {
        for ok in ["a", "foo-bar", "foo_bar", "Serde", "x1"] {
            assert!(CrateName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "-x", "_x", "a b", "é", "a/b", "..", &"a".repeat(65)] {
            assert!(CrateName::parse(bad).is_err(), "{bad:?}");
        }
        let a = CrateName::parse("Foo_Bar").expect("valid");
        let b = CrateName::parse("foo-bar").expect("valid");
        assert_eq!(a.key(), b.key());
    }
}
