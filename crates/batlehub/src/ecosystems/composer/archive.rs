//! The `composer.json` of an uploaded ZIP: at the archive's root or inside
//! its single top-level folder (as a GitHub archive has it). Entry names are
//! checked (no absolute paths, `..`, backslashes), and `composer.json` is
//! read only up to its declared size, at most [`MAX_COMPOSER_JSON`].

use std::io::{Read, Seek};

use serde_json::Value;

pub const MAX_COMPOSER_JSON: u64 = 1 << 20;

/// The archive's `composer.json`, parsed.
pub fn composer_json<R: Read + Seek>(reader: R) -> Result<serde_json::Map<String, Value>, String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a ZIP archive: {e}"))?;
    if zip.len() > 100_000 {
        return Err("the archive holds more than 100000 entries".into());
    }
    let mut tops = std::collections::BTreeSet::new();
    let mut candidates = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| format!("unreadable entry #{i}: {e}"))?;
        let name = std::str::from_utf8(entry.name_raw()).map_err(|_| format!("entry #{i}: the name is not UTF-8"))?.to_string();
        let bad = name.starts_with('/')
            || name.contains('\\')
            || name.contains('\0')
            || name.split('/').any(|s| s == "..")
            || name.chars().nth(1) == Some(':');
        if bad {
            return Err(format!("entry `{name}`: unsafe path"));
        }
        let trimmed = name.trim_end_matches('/');
        if let Some((top, _)) = trimmed.split_once('/') {
            tops.insert(top.to_string());
        } else if !entry.is_dir() {
            tops.insert(String::new());
        } else {
            tops.insert(trimmed.to_string());
        }
        let depth = trimmed.matches('/').count();
        if trimmed.ends_with("composer.json") && (trimmed == "composer.json" || (depth == 1 && trimmed.ends_with("/composer.json"))) {
            candidates.push((depth, i));
        }
    }
    candidates.sort();
    let (depth, index) = *candidates.first().ok_or("the archive has no composer.json at its root or in its top folder")?;
    if depth == 1 && tops.len() != 1 {
        return Err("composer.json must be at the archive's root, or in its single top-level folder".into());
    }
    let mut entry = zip.by_index(index).map_err(|e| e.to_string())?;
    if entry.size() > MAX_COMPOSER_JSON {
        return Err(format!("composer.json is larger than {MAX_COMPOSER_JSON} bytes"));
    }
    let declared = entry.size();
    let mut text = Vec::with_capacity(declared as usize);
    (&mut entry).take(declared + 1).read_to_end(&mut text).map_err(|e| format!("composer.json: {e}"))?;
    if text.len() as u64 != declared {
        return Err("composer.json is not the size its entry declares".into());
    }
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("composer.json is not a JSON object".into()),
        Err(e) => Err(format!("composer.json is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn zip(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (n, d) in entries {
            w.start_file(*n, opts).expect("start");
            w.write_all(d.as_bytes()).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn composer_json_at_the_root_or_in_the_top_folder() {
        let j = r#"{"name":"acme/util","version":"1.0.0"}"#;
        assert_eq!(composer_json(Cursor::new(zip(&[("composer.json", j), ("src/A.php", "<?php")])))
            .expect("root")["name"], "acme/util");
        assert_eq!(
            composer_json(Cursor::new(zip(&[("acme-util-1.0/composer.json", j), ("acme-util-1.0/src/A.php", "<?php")])))
                .expect("top folder")["version"],
            "1.0.0"
        );
        for (what, entries) in [
            ("none", vec![("src/A.php", "<?php")]),
            ("two tops", vec![("a/composer.json", j), ("b/x.php", "")]),
            ("deeper", vec![("a/b/composer.json", j)]),
            ("traversal", vec![("../composer.json", j)]),
            ("absolute", vec![("/composer.json", j)]),
            ("not json", vec![("composer.json", "{nope")]),
            ("not an object", vec![("composer.json", "[1]")]),
        ] {
            assert!(composer_json(Cursor::new(zip(&entries))).is_err(), "{what}");
        }
        assert!(composer_json(Cursor::new(b"not a zip".to_vec())).is_err());
    }
}
