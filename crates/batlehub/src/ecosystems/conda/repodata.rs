//! Channel documents: an upstream's `repodata.json` and `channeldata.json`
//! parsed (each record checked for a valid file name and a name), and the
//! documents BatleHub serves rendered from local records merged with the
//! upstream's, whose names local packages and claims shadow entirely.
//!
//! Records name their files relative to the subdir; an upstream's
//! `info.base_url` (repodata v2, files elsewhere) is not followed: the
//! files are asked of the upstream channel itself.

use serde_json::{Map, Value, json};

use super::names::{FileName, Format};

/// One record of a subdir: its file name and what repodata says of it.
#[derive(Debug, Clone)]
pub struct Record {
    pub file: String,
    pub name: String,
    pub format: Format,
    pub body: Map<String, Value>,
}

impl Record {
    /// The record as the rules see it: its version, its `timestamp` (ms;
    /// old records give seconds) and its `license`.
    pub fn candidate(&self) -> crate::rules::Candidate<'_> {
        let at = self.body.get("timestamp").and_then(Value::as_i64).map(|t| if t < 100_000_000_000 { t * 1000 } else { t });
        crate::rules::Candidate {
            name: &self.name,
            version: self.body.get("version").and_then(Value::as_str).unwrap_or(""),
            published_at: at,
            licence: self.body.get("license").and_then(Value::as_str),
        }
    }

    /// The SHA-256 the record gives, as bytes.
    pub fn sha256(&self) -> Option<Vec<u8>> {
        self.body.get("sha256").and_then(Value::as_str).and_then(|h| hex::decode(h).ok()).filter(|d| d.len() == 32)
    }
}

/// An upstream subdir's repodata, parsed.
#[derive(Debug, Clone, Default)]
pub struct Repodata {
    pub records: Vec<Record>,
    /// File name → its record's position (a download finds its record
    /// without a scan of the subdir).
    by_file: std::collections::HashMap<String, usize>,
}

impl Repodata {
    pub fn new(records: Vec<Record>) -> Repodata {
        let by_file = records.iter().enumerate().map(|(i, r)| (r.file.clone(), i)).collect();
        Repodata { records, by_file }
    }

    pub fn find(&self, file: &str) -> Option<&Record> {
        self.by_file.get(file).and_then(|i| self.records.get(*i))
    }
}

/// Parse an upstream `repodata.json`: records whose file name does not parse
/// or whose record has no name are left out (never served).
pub fn parse_repodata(bytes: &[u8]) -> Result<Repodata, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("repodata is not JSON: {e}"))?;
    let Value::Object(mut doc) = value else { return Err("repodata is not a JSON object".into()) };
    let mut records = Vec::new();
    for format in [Format::TarBz2, Format::Conda] {
        let Some(section) = doc.remove(format.repodata_key()) else { continue };
        let Value::Object(section) = section else {
            return Err(format!("repodata `{}` is not an object", format.repodata_key()));
        };
        for (file, body) in section {
            let (Ok(parsed), Value::Object(body)) = (FileName::parse(&file), body) else { continue };
            if parsed.format != format {
                continue;
            }
            let name = match body.get("name").and_then(Value::as_str) {
                Some(n) if n == parsed.name => n.to_string(),
                _ => continue,
            };
            records.push(Record { file, name, format, body });
        }
    }
    Ok(Repodata::new(records))
}

/// Render a subdir's `repodata.json`: the local records, then the
/// upstream's whose names `shadowed` does not claim and that the rules
/// allow (`allowed`, by position).
pub fn render(
    subdir: &str,
    local: &[Record],
    upstream: Option<&Repodata>,
    shadowed: &dyn Fn(&str) -> bool,
    allowed: &dyn Fn(usize) -> bool,
) -> Vec<u8> {
    let mut packages = Map::new();
    let mut conda = Map::new();
    let mut put = |r: &Record| {
        let section = if r.format == Format::Conda { &mut conda } else { &mut packages };
        section.entry(r.file.clone()).or_insert_with(|| Value::Object(r.body.clone()));
    };
    local.iter().for_each(&mut put);
    if let Some(up) = upstream {
        up.records.iter().enumerate().filter(|(i, r)| !shadowed(&r.name) && allowed(*i)).for_each(|(_, r)| put(r));
    }
    let doc = json!({
        "info": { "subdir": subdir },
        "packages": packages,
        "packages.conda": conda,
        "removed": [],
        "repodata_version": 1,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// An upstream `channeldata.json`, parsed: per package, its entry.
#[derive(Debug, Clone, Default)]
pub struct ChannelData {
    pub packages: Map<String, Value>,
    pub subdirs: Vec<String>,
}

impl ChannelData {
    /// The subdirs the upstream says hold `name`.
    pub fn subdirs_of(&self, name: &str) -> Vec<String> {
        subdir_list(self.packages.get(name).and_then(|p| p.get("subdirs")))
    }
}

/// The known subdirs of a JSON list (others left out).
fn subdir_list(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| super::names::check_subdir(s).is_ok())
        .map(str::to_string)
        .collect()
}

pub fn parse_channeldata(bytes: &[u8]) -> Result<ChannelData, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("channeldata is not JSON: {e}"))?;
    let Value::Object(mut doc) = value else { return Err("channeldata is not a JSON object".into()) };
    let packages = match doc.remove("packages") {
        Some(Value::Object(p)) => {
            p.into_iter().filter(|(n, v)| super::names::check_name(n).is_ok() && v.is_object()).collect()
        }
        None => Map::new(),
        Some(_) => return Err("channeldata `packages` is not an object".into()),
    };
    let subdirs = subdir_list(doc.get("subdirs"));
    Ok(ChannelData { packages, subdirs })
}

/// A local package's entry in `channeldata.json`.
#[derive(Debug, Clone)]
pub struct LocalEntry {
    pub name: String,
    pub subdirs: Vec<String>,
    /// The latest record (the last published).
    pub latest: Map<String, Value>,
}

/// Render `channeldata.json`: local entries, then the upstream's whose
/// names `shadowed` does not claim.
pub fn render_channeldata(local: &[LocalEntry], upstream: Option<&ChannelData>, shadowed: &dyn Fn(&str) -> bool) -> Vec<u8> {
    let mut packages = Map::new();
    let mut subdirs: Vec<String> = vec!["noarch".into()];
    for e in local {
        let mut entry = Map::new();
        entry.insert("subdirs".into(), json!(e.subdirs));
        for field in ["version", "license", "timestamp"] {
            if let Some(v) = e.latest.get(field) {
                entry.insert(field.into(), v.clone());
            }
        }
        subdirs.extend(e.subdirs.iter().cloned());
        packages.insert(e.name.clone(), Value::Object(entry));
    }
    if let Some(up) = upstream {
        for (name, entry) in &up.packages {
            if !shadowed(name) && !packages.contains_key(name) {
                packages.insert(name.clone(), entry.clone());
            }
        }
        subdirs.extend(up.subdirs.iter().cloned());
    }
    subdirs.sort();
    subdirs.dedup();
    let doc = json!({ "channeldata_version": 1, "packages": packages, "subdirs": subdirs });
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_records_are_checked_and_shadowed() {
        let doc = br#"{"info":{"subdir":"noarch"},"packages":{"a-1.0-0.tar.bz2":{"name":"a","version":"1.0","sha256":"00"},
            "bad name-1-0.tar.bz2":{"name":"bad name"},"b-1-0.conda":{"name":"b"},"c-1-0.tar.bz2":{"name":"other"}},
            "packages.conda":{"b-2-0.conda":{"name":"b","version":"2"}}}"#;
        let r = parse_repodata(doc).expect("parse");
        let files: Vec<&str> = r.records.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(files, vec!["a-1.0-0.tar.bz2", "b-2-0.conda"]);
        assert_eq!(r.find("b-2-0.conda").map(|r| r.name.as_str()), Some("b"));
        assert!(r.find("b-1-0.conda").is_none(), "a record left out is not found");
        let out: Value = serde_json::from_slice(&render("noarch", &[], Some(&r), &|n| n == "b", &|_| true)).expect("json");
        assert!(out["packages"]["a-1.0-0.tar.bz2"].is_object());
        assert!(out["packages.conda"].as_object().is_some_and(|m| m.is_empty()));
        assert_eq!(out["info"]["subdir"], "noarch");
        assert!(parse_repodata(b"[]").is_err());
        assert!(parse_repodata(br#"{"packages":[]}"#).is_err());
    }
}
