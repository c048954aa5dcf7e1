//! Composer 2 package metadata (`p2/{vendor}/{package}.json`): the
//! `composer/2.0` minified form expanded and made again.
//!
//! In the minified form the first version of a package is whole and each
//! next one holds only what differs from the one before (`"__unset"` for a
//! key that went away). Anything that drops or changes entries (a yanked
//! version, a rewritten `dist.url`) must therefore expand, edit, and minify
//! again: editing the minified list directly changes what later entries
//! inherit.

use serde_json::{Map, Value, json};

pub const UNSET: &str = "__unset";

/// The versions of `package` in a p2 document, expanded.
pub fn expand(doc: &Value, package: &str) -> Result<Vec<Map<String, Value>>, String> {
    let list = doc
        .get("packages")
        .and_then(|p| p.get(package))
        .ok_or_else(|| format!("the document lists no package {package}"))?;
    let list = list.as_array().ok_or_else(|| format!("{package}: the versions are not a list"))?;
    if list.len() > 20_000 {
        return Err(format!("{package}: more than 20000 versions"));
    }
    let minified = doc.get("minified").and_then(Value::as_str) == Some("composer/2.0");
    let mut out: Vec<Map<String, Value>> = Vec::with_capacity(list.len());
    for entry in list {
        let entry = entry.as_object().ok_or_else(|| format!("{package}: a version is not an object"))?;
        let expanded = match (minified, out.last()) {
            (true, Some(prev)) => {
                let mut next = prev.clone();
                for (k, v) in entry {
                    if v.as_str() == Some(UNSET) {
                        next.remove(k);
                    } else {
                        next.insert(k.clone(), v.clone());
                    }
                }
                next
            }
            _ => entry.clone(),
        };
        out.push(expanded);
    }
    Ok(out)
}

/// The minified document of `package` with `versions` (in order).
pub fn minify(package: &str, versions: &[Map<String, Value>]) -> Value {
    let mut list: Vec<Value> = Vec::with_capacity(versions.len());
    let mut prev: Option<&Map<String, Value>> = None;
    for v in versions {
        let entry = match prev {
            None => v.clone(),
            Some(p) => {
                let mut diff = Map::new();
                for (k, val) in v {
                    if p.get(k) != Some(val) {
                        diff.insert(k.clone(), val.clone());
                    }
                }
                for k in p.keys() {
                    if !v.contains_key(k) {
                        diff.insert(k.clone(), json!(UNSET));
                    }
                }
                diff
            }
        };
        list.push(Value::Object(entry));
        prev = Some(v);
    }
    json!({ "minified": "composer/2.0", "packages": { package: list } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_and_expand_round_trip() {
        let versions: Vec<Map<String, Value>> = [
            json!({"name": "a/b", "version": "2.0.0", "require": {"php": ">=8"}, "license": ["MIT"]}),
            json!({"name": "a/b", "version": "1.1.0", "require": {"php": ">=7"}, "license": ["MIT"]}),
            json!({"name": "a/b", "version": "1.0.0", "license": ["MIT"]}),
        ]
        .into_iter()
        .map(|v| v.as_object().cloned().expect("object"))
        .collect();
        let doc = minify("a/b", &versions);
        let list = doc["packages"]["a/b"].as_array().expect("list");
        assert_eq!(list[1], json!({"version": "1.1.0", "require": {"php": ">=7"}}));
        assert_eq!(list[2], json!({"version": "1.0.0", "require": "__unset"}));
        assert_eq!(expand(&doc, "a/b").expect("expand"), versions);
        // Dropping a middle version needs the expanded form: the last entry
        // then inherits from the first.
        let dropped = minify("a/b", &[versions[0].clone(), versions[2].clone()]);
        assert_eq!(expand(&dropped, "a/b").expect("expand"), vec![versions[0].clone(), versions[2].clone()]);
        // A document that is not minified is taken as it is.
        let plain = json!({"packages": {"a/b": [versions[0], versions[2]]}});
        assert_eq!(expand(&plain, "a/b").expect("expand").len(), 2);
        assert!(expand(&json!({"packages": {}}), "a/b").is_err());
        assert!(expand(&json!({"packages": {"a/b": [1]}}), "a/b").is_err());
    }
}
