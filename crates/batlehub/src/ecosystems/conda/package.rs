//! What a conda package says about itself: its `info/index.json`, read out
//! of a `.conda` (a ZIP whose `info-*.tar.zst` member holds the `info/`
//! folder) or a `.tar.bz2`, safely: every read is bounded (the ZIP member
//! list, the decompressed bytes walked, the size of `index.json`), nothing
//! is written to disk, and only the fields repodata carries are kept, each
//! of its expected type.

use std::io::{Read, Seek};

use serde_json::{Map, Value};

use super::names::{self, Format};

/// The largest `info/index.json` read.
pub const MAX_INDEX: u64 = 256 * 1024;
/// At most this many decompressed bytes are walked to find it (a
/// compression bomb ends here).
pub const MAX_WALK: u64 = 1 << 30;
/// At most this many ZIP members.
const MAX_MEMBERS: usize = 64;
/// At most this many tar entries walked.
const MAX_ENTRIES: usize = 200_000;

/// A package's `info/index.json`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub name: String,
    pub version: String,
    pub build: String,
    pub build_number: u64,
    /// The subdir it says it is for (`noarch` packages: `noarch`).
    pub subdir: Option<String>,
    pub depends: Vec<String>,
    /// The record repodata lists (the kept fields of `index.json`).
    pub record: Map<String, Value>,
}

/// The format of a package from its first bytes.
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"PK\x03\x04") {
        Some(Format::Conda)
    } else if head.starts_with(b"BZh") {
        Some(Format::TarBz2)
    } else {
        None
    }
}

/// Read the `info/index.json` of a package in `format`.
pub fn read_index<R: Read + Seek>(reader: R, format: Format) -> Result<Index, String> {
    let bytes = match format {
        Format::Conda => index_of_conda(reader)?,
        Format::TarBz2 => index_in_tar(bzip2::read::BzDecoder::new(reader))?,
    };
    parse_index(&bytes)
}

fn index_of_conda<R: Read + Seek>(reader: R) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a .conda package (ZIP): {e}"))?;
    if zip.len() > MAX_MEMBERS {
        return Err(format!("a .conda package has a few members, not {}", zip.len()));
    }
    let name = zip
        .file_names()
        .find(|n| n.starts_with("info-") && n.ends_with(".tar.zst") && !n.contains('/'))
        .map(str::to_string)
        .ok_or("a .conda package holds its metadata in info-*.tar.zst: there is none")?;
    let member = zip.by_name(&name).map_err(|e| format!("{name}: {e}"))?;
    let decoder = zstd::stream::read::Decoder::new(member).map_err(|e| format!("{name}: {e}"))?;
    index_in_tar(decoder)
}

fn index_in_tar<R: Read>(reader: R) -> Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(reader.take(MAX_WALK));
    let entries = archive.entries().map_err(|e| format!("not a tar archive: {e}"))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            break;
        }
        let entry = entry.map_err(|e| format!("bad archive: {e}"))?;
        let path = entry.path().map_err(|e| format!("bad archive: {e}"))?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./");
        if path != "info/index.json" {
            continue;
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err("info/index.json is not a regular file".into());
        }
        if entry.size() > MAX_INDEX {
            return Err(format!("info/index.json is larger than {MAX_INDEX} bytes"));
        }
        let mut out = Vec::new();
        entry.take(MAX_INDEX + 1).read_to_end(&mut out).map_err(|e| format!("reading info/index.json: {e}"))?;
        if out.len() as u64 > MAX_INDEX {
            return Err(format!("info/index.json is larger than {MAX_INDEX} bytes"));
        }
        return Ok(out);
    }
    Err("the package has no info/index.json".into())
}

/// Fields of `index.json` kept in the record, with their type.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Number,
    List,
}

const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("version", Kind::Text),
    ("build", Kind::Text),
    ("build_number", Kind::Number),
    ("depends", Kind::List),
    ("constrains", Kind::List),
    ("license", Kind::Text),
    ("license_family", Kind::Text),
    ("subdir", Kind::Text),
    ("noarch", Kind::Text),
    ("platform", Kind::Text),
    ("arch", Kind::Text),
    ("timestamp", Kind::Number),
    ("track_features", Kind::Text),
    ("features", Kind::Text),
    ("python_site_packages_path", Kind::Text),
];

/// Check an `index.json` and keep what repodata lists.
pub fn parse_index(bytes: &[u8]) -> Result<Index, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("info/index.json is not JSON: {e}"))?;
    let Value::Object(map) = value else { return Err("info/index.json is not a JSON object".into()) };
    let mut record = Map::new();
    for (field, kind) in FIELDS {
        let Some(v) = map.get(*field) else { continue };
        let ok = match (kind, v) {
            (_, Value::Null) => continue,
            (Kind::Text, Value::String(s)) => s.len() <= 4096,
            (Kind::Number, Value::Number(n)) => n.as_u64().is_some(),
            (Kind::List, Value::Array(items)) => {
                items.len() <= 4096 && items.iter().all(|i| i.as_str().is_some_and(|s| s.len() <= 4096))
            }
            _ => false,
        };
        if !ok {
            return Err(format!("info/index.json: `{field}` has the wrong type"));
        }
        record.insert((*field).to_string(), v.clone());
    }
    let text = |f: &str| record.get(f).and_then(Value::as_str).map(str::to_string);
    let name = text("name").ok_or("info/index.json has no name")?;
    let version = text("version").ok_or("info/index.json has no version")?;
    let build = text("build").ok_or("info/index.json has no build")?;
    names::check_name(&name)?;
    names::check_version(&version)?;
    names::check_build(&build)?;
    let subdir = text("subdir");
    if let Some(s) = &subdir {
        names::check_subdir(s)?;
    }
    if record.get("noarch").is_some() && subdir.as_deref().is_some_and(|s| s != "noarch") {
        return Err("info/index.json: a noarch package's subdir is noarch".into());
    }
    let build_number = record.get("build_number").and_then(Value::as_u64).unwrap_or(0);
    record.entry("build_number").or_insert(Value::from(0u64));
    record.entry("depends").or_insert(Value::Array(Vec::new()));
    let depends =
        record.get("depends").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    Ok(Index { name, version, build, build_number, subdir, depends, record })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_fields_are_checked_and_kept() {
        let i = parse_index(
            br#"{"name":"pkg","version":"1.0","build":"h0_0","build_number":0,"depends":["python >=3.8"],"subdir":"linux-64","junk":{"x":1}}"#,
        )
        .expect("parse");
        assert_eq!(i.depends, vec!["python >=3.8".to_string()]);
        assert!(!i.record.contains_key("junk"));
        for bad in [
            &br#"{"name":"Pkg","version":"1","build":"0"}"#[..],
            br#"{"name":"pkg","version":"1-2","build":"0"}"#,
            br#"{"name":"pkg","version":"1","build":"0","depends":[1]}"#,
            br#"{"name":"pkg","version":"1","build":"0","subdir":"mars-64"}"#,
            br#"{"name":"pkg","version":"1","build":"0","subdir":"linux-64","noarch":"python"}"#,
            br#"[]"#,
        ] {
            assert!(parse_index(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formats_are_sniffed() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Format::Conda));
        assert_eq!(sniff(b"BZh91AY"), Some(Format::TarBz2));
        assert_eq!(sniff(b"\x1f\x8b"), None);
    }
}
