//! The body of `cargo publish` (`PUT /api/v1/crates/new`): a little-endian
//! u32 length, the JSON metadata, a u32 length, the `.crate` (a gzipped
//! tarball). The metadata is read into memory (bounded); the `.crate` is
//! copied to a sink as it arrives. Every length is checked against the limits
//! and against what actually arrives. Untrusted bytes: the fuzz target
//! `cargo_publish` drives this parser.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The largest metadata document accepted.
pub const MAX_METADATA: u32 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Invalid(String),
    #[error("the .crate exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Deserialize)]
pub struct PublishMeta {
    pub name: String,
    pub vers: String,
    #[serde(default)]
    pub deps: Vec<PublishDep>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub documentation: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub readme: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub links: Option<String>,
    #[serde(default)]
    pub rust_version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PublishDep {
    pub name: String,
    pub version_req: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "yes")]
    pub default_features: bool,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// The dependency's registry index URL; absent means "this registry".
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}

fn read_u32(r: &mut impl Read, what: &str) -> Result<u32, FrameError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FrameError::Invalid(format!("the body ends before the {what} length")),
        _ => FrameError::Io(e),
    })?;
    Ok(u32::from_le_bytes(b))
}

/// Read the frame: returns the metadata JSON bytes and the number of `.crate`
/// bytes written to `sink`.
pub fn read_frame<R: Read, W: Write>(
    reader: &mut R,
    max_crate: u64,
    sink: &mut W,
) -> Result<(Vec<u8>, u64), FrameError> {
    let json_len = read_u32(reader, "metadata")?;
    if json_len > MAX_METADATA {
        return Err(FrameError::Invalid(format!("the metadata length {json_len} exceeds {MAX_METADATA} bytes")));
    }
    let mut json = Vec::with_capacity(json_len.min(64 * 1024) as usize);
    let got = reader.by_ref().take(json_len as u64).read_to_end(&mut json)?;
    if got as u64 != json_len as u64 {
        return Err(FrameError::Invalid(format!("the body ends after {got} of {json_len} metadata bytes")));
    }
    let crate_len = read_u32(reader, ".crate")? as u64;
    if crate_len > max_crate {
        return Err(FrameError::TooLarge(max_crate));
    }
    let copied = std::io::copy(&mut reader.by_ref().take(crate_len), sink)?;
    if copied != crate_len {
        return Err(FrameError::Invalid(format!("the body ends after {copied} of {crate_len} .crate bytes")));
    }
    let mut extra = [0u8; 1];
    if reader.read(&mut extra)? != 0 {
        return Err(FrameError::Invalid("unexpected bytes after the .crate".into()));
    }
    Ok((json, crate_len))
}

pub fn parse_meta(json: &[u8]) -> Result<PublishMeta, String> {
    serde_json::from_slice(json).map_err(|e| format!("invalid publish metadata: {e}"))
}

/// For tests and the fuzz target: frame and metadata from memory.
pub fn parse_in_memory(body: &[u8]) -> Result<(PublishMeta, Vec<u8>), String> {
    let mut crate_bytes = Vec::new();
    let (json, _) = read_frame(&mut &body[..], 64 * 1024 * 1024, &mut crate_bytes).map_err(|e| e.to_string())?;
    Ok((parse_meta(&json)?, crate_bytes))
}

/// Build a publish body (for tests and fixtures).
pub fn frame(meta_json: &[u8], crate_bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + meta_json.len() + crate_bytes.len());
    out.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
    out.extend_from_slice(meta_json);
    out.extend_from_slice(&(crate_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(crate_bytes);
    out
}

/// Whether a feature value needs the index's `features2` (the `dep:` and
/// `pkg?/feature` syntaxes older cargo cannot read).
fn needs_features2(values: &[String]) -> bool {
    values.iter().any(|v| v.starts_with("dep:") || v.contains("?/"))
}

/// The index line for a published version (`cksum` is the `.crate`'s SHA-256).
pub fn index_entry(meta: &PublishMeta, cksum: &str) -> Value {
    let deps: Vec<Value> = meta
        .deps
        .iter()
        .map(|d| {
            let mut m = Map::new();
            m.insert("name".into(), json!(d.explicit_name_in_toml.as_deref().unwrap_or(&d.name)));
            m.insert("req".into(), json!(d.version_req));
            m.insert("features".into(), json!(d.features));
            m.insert("optional".into(), json!(d.optional));
            m.insert("default_features".into(), json!(d.default_features));
            m.insert("target".into(), json!(d.target));
            m.insert("kind".into(), json!(d.kind.as_deref().unwrap_or("normal")));
            if let Some(r) = &d.registry {
                m.insert("registry".into(), json!(r));
            }
            if d.explicit_name_in_toml.is_some() {
                m.insert("package".into(), json!(d.name));
            }
            Value::Object(m)
        })
        .collect();
    let (features2, features): (BTreeMap<_, _>, BTreeMap<_, _>) =
        meta.features.iter().map(|(k, v)| (k.clone(), v.clone())).partition(|(_, v)| needs_features2(v));
    let mut line = Map::new();
    line.insert("name".into(), json!(meta.name));
    line.insert("vers".into(), json!(meta.vers));
    line.insert("deps".into(), Value::Array(deps));
    line.insert("cksum".into(), json!(cksum));
    line.insert("features".into(), json!(features));
    line.insert("yanked".into(), json!(false));
    line.insert("links".into(), json!(meta.links));
    if !features2.is_empty() {
        line.insert("features2".into(), json!(features2));
        line.insert("v".into(), json!(2));
    }
    if let Some(rv) = &meta.rust_version {
        line.insert("rust_version".into(), json!(rv));
    }
    Value::Object(line)
}

/// Check that `path` is a gzipped tarball whose `{name}-{vers}/Cargo.toml`
/// declares the same name and version as the metadata.
pub fn check_crate_file(path: &Path, name: &str, vers: &str) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the .crate: {e}"))?;
    check_crate(std::io::BufReader::new(file), name, vers)
}

/// The most entries, and unpacked bytes, a `.crate` may hold.
pub const MAX_CRATE_ENTRIES: usize = 100_000;
pub const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;

/// Check a `.crate`: a gzipped tarball whose every entry is a file or a
/// directory under `{name}-{vers}/` (no links, no absolute paths, no `..`;
/// as crates-io refuses them, since cargo would unpack them), at most
/// [`MAX_CRATE_ENTRIES`] entries and [`MAX_UNPACKED_BYTES`] unpacked, and
/// whose `Cargo.toml` declares `name` and `vers`.
pub fn check_crate<R: Read>(reader: R, name: &str, vers: &str) -> Result<(), String> {
    let gz = flate2::read::GzDecoder::new(reader);
    let mut archive = tar::Archive::new(gz);
    let root = format!("{name}-{vers}");
    let wanted = format!("{root}/Cargo.toml");
    let mut found = false;
    let mut unpacked: u64 = 0;
    let entries = archive.entries().map_err(|e| format!("the .crate is not a gzipped tarball: {e}"))?;
    for (i, entry) in entries.enumerate() {
        if i >= MAX_CRATE_ENTRIES {
            return Err(format!("the .crate has more than {MAX_CRATE_ENTRIES} entries"));
        }
        let mut entry = entry.map_err(|e| format!("the .crate is not a gzipped tarball: {e}"))?;
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw).map_err(|_| "a path in the .crate is not UTF-8".to_string())?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions()) {
            return Err(format!("the .crate entry {path} is not a file or a directory (links are refused)"));
        }
        let inside = path.strip_prefix(&root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if path.starts_with('/') || path.contains('\\') || path.split('/').any(|c| c == "..") || !inside {
            return Err(format!("the .crate entry {path} is outside {root}/"));
        }
        unpacked = unpacked.saturating_add(entry.header().size().unwrap_or(0));
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(format!("the .crate unpacks to more than {MAX_UNPACKED_BYTES} bytes"));
        }
        if path != wanted {
            continue;
        }
        let mut text = String::new();
        entry
            .by_ref()
            .take(1024 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| format!("{wanted} is not readable text: {e}"))?;
        let manifest: toml::Table = toml::from_str(&text).map_err(|e| format!("{wanted} is not valid TOML: {e}"))?;
        let package =
            manifest.get("package").and_then(|p| p.as_table()).ok_or_else(|| format!("{wanted} has no [package]"))?;
        let got_name = package.get("name").and_then(|v| v.as_str()).unwrap_or("");
        let got_vers = package.get("version").and_then(|v| v.as_str()).unwrap_or("");
        if got_name != name || got_vers != vers {
            return Err(format!(
                "the .crate's Cargo.toml is {got_name} {got_vers}, but the metadata says {name} {vers}"
            ));
        }
        found = true;
    }
    if found { Ok(()) } else { Err(format!("the .crate has no {wanted}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_bytes(name: &str, vers: &str) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let toml = format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(toml.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{name}-{vers}/Cargo.toml"), toml.as_bytes()).expect("append");
        b.into_inner().expect("tar").finish().expect("gz")
    }

    #[test]
    fn frames() {
        let meta = br#"{"name":"foo","vers":"0.1.0","deps":[]}"#;
        let body = frame(meta, b"CRATE");
        let (m, c) = parse_in_memory(&body).expect("valid");
        assert_eq!(m.name, "foo");
        assert_eq!(c, b"CRATE");
        // Lengths that lie, truncation, trailing bytes.
        assert!(parse_in_memory(&body[..body.len() - 1]).is_err());
        let mut trailing = body.clone();
        trailing.push(0);
        assert!(parse_in_memory(&trailing).is_err());
        let mut liar = body.clone();
        liar[0] = 200;
        assert!(parse_in_memory(&liar).is_err());
        assert!(parse_in_memory(&[1, 0]).is_err());
        assert!(parse_in_memory(&[0xff, 0xff, 0xff, 0xff]).is_err());
        let mut big = Vec::new();
        let mut sink = Vec::new();
        big.extend_from_slice(&2u32.to_le_bytes());
        big.extend_from_slice(b"{}");
        big.extend_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(read_frame(&mut &big[..], 10, &mut sink), Err(FrameError::TooLarge(10))));
    }

    #[test]
    fn index_line_snapshot() {
        let meta: PublishMeta = serde_json::from_str(
            r#"{"name":"my-lib","vers":"0.2.0","deps":[
                {"name":"serde","version_req":"^1","features":["derive"],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":"https://crates-upstream.example/index"},
                {"name":"helper","version_req":"^0.1","features":[],"optional":true,"default_features":false,"target":"cfg(unix)","kind":"normal","registry":null,"explicit_name_in_toml":"renamed"},
                {"name":"tester","version_req":"*","kind":"dev"}
            ],"features":{"default":["std"],"std":[],"extra":["dep:renamed"]},"links":null,"rust_version":"1.70"}"#,
        )
        .expect("meta");
        let line = index_entry(&meta, &"ab".repeat(32));
        assert_eq!(
            line,
            json!({
                "name": "my-lib", "vers": "0.2.0",
                "deps": [
                    {"name": "serde", "req": "^1", "features": ["derive"], "optional": false, "default_features": true, "target": null, "kind": "normal", "registry": "https://crates-upstream.example/index"},
                    {"name": "renamed", "req": "^0.1", "features": [], "optional": true, "default_features": false, "target": "cfg(unix)", "kind": "normal", "package": "helper"},
                    {"name": "tester", "req": "*", "features": [], "optional": false, "default_features": true, "target": null, "kind": "dev"}
                ],
                "cksum": "ab".repeat(32),
                "features": {"default": ["std"], "std": []},
                "yanked": false,
                "links": null,
                "features2": {"extra": ["dep:renamed"]},
                "v": 2,
                "rust_version": "1.70"
            })
        );
    }

    #[test]
    fn crate_files() {
        let c = crate_bytes("foo", "0.1.0");
        assert!(check_crate(&c[..], "foo", "0.1.0").is_ok());
        assert!(check_crate(&c[..], "foo", "0.2.0").is_err());
        assert!(check_crate(&c[..], "bar", "0.1.0").is_err());
        assert!(check_crate(&b"not gzip"[..], "foo", "0.1.0").is_err());
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    /// A `.crate` with a valid Cargo.toml plus one entry at `path` (written
    /// into the header as is) of type `kind`.
    fn crate_with(path: &str, kind: tar::EntryType) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let toml = "[package]\nname = \"foo\"\nversion = \"1.0.0\"\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(toml.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "foo-1.0.0/Cargo.toml", toml.as_bytes()).expect("append");
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        if kind == tar::EntryType::Symlink || kind == tar::EntryType::Link {
            h.set_size(0);
            h.set_link_name("/etc/passwd").expect("link");
            h.set_cksum();
            b.append(&h, std::io::empty()).expect("append");
        } else {
            h.set_size(2);
            h.set_cksum();
            b.append(&h, &b"hi"[..]).expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz")
    }

    #[test]
    fn links_and_paths_outside_the_crate_are_refused() {
        use tar::EntryType::{Link, Regular, Symlink};
        assert!(check_crate(&crate_with("foo-1.0.0/src/lib.rs", Regular)[..], "foo", "1.0.0").is_ok());
        for (path, kind) in [
            ("foo-1.0.0/evil", Symlink),
            ("foo-1.0.0/hard", Link),
            ("/etc/cron.d/x", Regular),
            ("foo-1.0.0/../../x", Regular),
            ("other-1.0.0/x", Regular),
            ("foo-1.0.0x/y", Regular),
        ] {
            let err = check_crate(&crate_with(path, kind)[..], "foo", "1.0.0").expect_err(path);
            assert!(err.contains(path) || err.contains("links"), "{path}: {err}");
        }
    }
}
