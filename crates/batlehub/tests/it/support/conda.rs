//! Conda packages built in memory (`.conda` and `.tar.bz2`, laid out as
//! conda-package-handling writes them), uploads as the user guide's `curl`
//! sends them, and a fake channel (`channeldata.json`, each subdir's
//! `repodata.json`, the package files).

use std::io::Write;

use axum::http::Method;
use serde_json::{Value, json};
use sha2::Digest;

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply, noise};

pub fn tar_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_slice()).expect("append");
    }
    b.into_inner().expect("tar")
}

pub fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).expect("bz2");
    e.finish().expect("bz2")
}

pub fn zst(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).expect("zstd")
}

/// A package's `info/index.json`.
pub fn index_json(name: &str, version: &str, build: &str, subdir: &str, depends: &[&str]) -> Value {
    let mut v = json!({
        "name": name, "version": version, "build": build, "build_number": 0,
        "depends": depends, "license": "MIT", "subdir": subdir, "timestamp": 1_700_000_000_000u64,
    });
    if subdir == "noarch" {
        v["noarch"] = json!("generic");
    } else {
        v["platform"] = json!(subdir.split('-').next().unwrap_or("linux"));
    }
    v
}

/// Archive entries: path and bytes.
type Entries = Vec<(String, Vec<u8>)>;

/// The `info/` files and one payload file (`share/{name}/VERSION`).
fn contents(index: &Value) -> (Entries, Entries) {
    let name = index["name"].as_str().unwrap_or("x");
    let payload_path = format!("share/{name}/VERSION");
    let payload = format!("{}\n", index["version"].as_str().unwrap_or("")).into_bytes();
    let paths = json!({"paths": [{"_path": payload_path, "path_type": "hardlink",
        "sha256": hex::encode(sha2::Sha256::digest(&payload)), "size_in_bytes": payload.len()}], "paths_version": 1});
    let info = vec![
        ("info/index.json".to_string(), serde_json::to_vec(index).expect("json")),
        ("info/paths.json".to_string(), serde_json::to_vec(&paths).expect("json")),
        ("info/files".to_string(), format!("{payload_path}\n").into_bytes()),
    ];
    (info, vec![(payload_path, payload)])
}

fn entries(list: &[(String, Vec<u8>)]) -> Vec<(&str, Vec<u8>)> {
    list.iter().map(|(p, d)| (p.as_str(), d.clone())).collect()
}

/// A `.tar.bz2` package with this `index.json`.
pub fn tar_bz2_with(index: &Value) -> Vec<u8> {
    let (mut info, payload) = contents(index);
    info.extend(payload);
    bz2(&tar_of(&entries(&info)))
}

/// A `.conda` package with this `index.json`: a stored ZIP of
/// `metadata.json`, `pkg-{stem}.tar.zst` and `info-{stem}.tar.zst`.
pub fn conda_with(index: &Value) -> Vec<u8> {
    let stem = format!(
        "{}-{}-{}",
        index["name"].as_str().unwrap_or("x"),
        index["version"].as_str().unwrap_or("0"),
        index["build"].as_str().unwrap_or("0")
    );
    let (info, payload) = contents(index);
    zip_of(&[
        ("metadata.json", br#"{"conda_pkg_format_version": 2}"#.to_vec()),
        (&format!("pkg-{stem}.tar.zst"), zst(&tar_of(&entries(&payload)))),
        (&format!("info-{stem}.tar.zst"), zst(&tar_of(&entries(&info)))),
    ])
}

pub fn zip_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        w.start_file(*name, opts).expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

pub fn conda_pkg(name: &str, version: &str, build: &str, subdir: &str, depends: &[&str]) -> Vec<u8> {
    conda_with(&index_json(name, version, build, subdir, depends))
}

pub fn tar_bz2_pkg(name: &str, version: &str, build: &str, subdir: &str, depends: &[&str]) -> Vec<u8> {
    tar_bz2_with(&index_json(name, version, build, subdir, depends))
}

/// `POST {registry}/{subdir}/` with the package as the body (the user guide's curl).
pub async fn upload(c: &reqwest::Client, reg: &str, subdir: &str, token: Option<&str>, bytes: Vec<u8>) -> Reply {
    let mut r = c.post(format!("{reg}/{subdir}/")).header("content-type", "application/octet-stream").body(bytes);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    Reply::of(r.send().await.expect("upload")).await
}

/// A fake channel: files are held as `{subdir}/{file}`.
pub struct ChannelProtocol;

pub type FakeChannel = FakeUpstream<ChannelProtocol>;

impl FakeUpstream<ChannelProtocol> {
    pub async fn start() -> FakeChannel {
        FakeUpstream::serve(ChannelProtocol).await
    }

    /// Hold a package (its `index.json` as the record) in `subdir`.
    pub fn add_package(&self, subdir: &str, name: &str, version: &str, build: &str, bytes: Vec<u8>) {
        self.add_file(name, version, &format!("{subdir}/{name}-{version}-{build}.conda"), bytes);
    }
}

/// The `index.json` inside a `.conda` (what the fake's repodata lists).
fn index_inside(bytes: &[u8]) -> Option<Value> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let name = zip.file_names().find(|n| n.starts_with("info-"))?.to_string();
    let member = zip.by_name(&name).ok()?;
    let mut tar = tar::Archive::new(zstd::stream::read::Decoder::new(member).ok()?);
    for entry in tar.entries().ok()? {
        let mut entry = entry.ok()?;
        if entry.path().ok()?.to_string_lossy() == "info/index.json" {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut out).ok()?;
            return serde_json::from_slice(&out).ok();
        }
    }
    None
}

impl Protocol for ChannelProtocol {
    fn answer(&self, files: &[File], _base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return Answer::NotFound;
        }
        let path = path.trim_start_matches('/');
        if path == "channeldata.json" {
            let mut packages = serde_json::Map::new();
            for f in files {
                let subdir = f.filename.split('/').next().unwrap_or("noarch");
                let e =
                    packages.entry(f.package.clone()).or_insert_with(|| json!({"subdirs": [], "version": f.version}));
                if let Some(list) = e["subdirs"].as_array_mut()
                    && !list.iter().any(|s| s == subdir)
                {
                    list.push(json!(subdir));
                }
            }
            let body = json!({"channeldata_version": 1, "packages": packages, "subdirs": ["linux-64", "noarch"]});
            return Answer::Document {
                content_type: "application/json",
                body: serde_json::to_vec(&body).expect("json"),
            };
        }
        if let Some(subdir) = path.strip_suffix("/repodata.json") {
            let mut conda = serde_json::Map::new();
            for f in files.iter().filter(|f| f.filename.starts_with(&format!("{subdir}/"))) {
                let mut record =
                    index_inside(&f.bytes).unwrap_or_else(|| json!({"name": f.package, "version": f.version}));
                record["size"] = json!(f.bytes.len());
                // A time or licence a test set replaces the package's own.
                if f.published.is_some() {
                    match f.published_or("").and_then(|t| super::epoch_ms_opt(&t)) {
                        Some(ms) => record["timestamp"] = json!(ms),
                        None => {
                            if let Some(r) = record.as_object_mut() {
                                r.remove("timestamp");
                            }
                        }
                    }
                }
                if let Some(l) = &f.licence {
                    record["license"] = json!(l);
                }
                if f.advertise_digest {
                    record["sha256"] = json!(hex::encode(sha2::Sha256::digest(&f.bytes)));
                    record["md5"] = json!(hex::encode(md5::Md5::digest(&f.bytes)));
                }
                conda.insert(f.filename[subdir.len() + 1..].to_string(), record);
            }
            let body =
                json!({"info": {"subdir": subdir}, "packages": {}, "packages.conda": conda, "repodata_version": 1});
            return Answer::Document {
                content_type: "application/json",
                body: serde_json::to_vec(&body).expect("json"),
            };
        }
        if let Some(f) = files.iter().find(|f| f.filename == path) {
            return Answer::Artifact(f.bytes.clone());
        }
        Answer::NotFound
    }
}

/// Conda for the shared suites: noarch `.conda` packages, build `0`.
pub struct CondaFixture;

impl Fixture for CondaFixture {
    const LICENCES: bool = true;

    const TYPE: &'static str = "conda";
    const CLAIM: &'static str = "team-";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM-", "Team-"];
    const LINKED_ARTIFACTS: bool = false;
    type Proto = ChannelProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        let stem = stem.to_ascii_lowercase();
        if claimed { format!("team-{stem}") } else { format!("free-{stem}") }
    }

    async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
        upload(c, registry_url, "noarch", token, conda_pkg(name, version, "0", "noarch", &[])).await
    }

    fn listing(name: &str) -> String {
        format!("/packages/{name}.json")
    }

    fn artifact(name: &str, version: &str) -> String {
        format!("/noarch/{name}-{version}-0.conda")
    }

    /// Whole-channel documents of a registry with upstreams are the
    /// upstream's, merged with the local packages.
    fn is_upstream_search(path: &str) -> bool {
        path == "/channeldata.json" || path.ends_with("/repodata.json")
    }

    /// The packages `channeldata.json` lists.
    async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
        let mut r = c.get(format!("{registry_url}/channeldata.json"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let Ok(resp) = r.send().await else { return Vec::new() };
        if !resp.status().is_success() {
            return Vec::new();
        }
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        v["packages"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    fn error_message(reply: &Reply) -> Option<String> {
        let plain =
            reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/plain");
        let message = reply.body.trim();
        (plain && !message.is_empty()).then(|| message.to_string())
    }

    async fn upstream() -> FakeChannel {
        FakeChannel::start().await
    }

    fn upstream_url(fake: &FakeChannel) -> String {
        fake.url.clone()
    }

    fn seed(fake: &FakeChannel, name: &str, version: &str) -> Vec<u8> {
        let bytes = conda_pkg(name, version, "0", "noarch", &[]);
        fake.add_package("noarch", name, version, "0", bytes.clone());
        bytes
    }

    fn bad_publishes(stem: &str) -> Vec<BadRequest> {
        let name = Self::name(stem, false);
        let post = |what: &'static str, subdir: &str, bytes: Vec<u8>, status: u16| BadRequest {
            what,
            method: reqwest::Method::POST,
            path: format!("/{subdir}/"),
            payload: Payload::Raw { content_type: "application/octet-stream", bytes },
            status,
        };
        let index = |f: &dyn Fn(&mut Value)| {
            let mut v = index_json(&name, "1.0.0", "0", "noarch", &[]);
            f(&mut v);
            v
        };
        let big = noise(BAD_INPUT_LIMIT as usize * 2).into_bytes();
        // 64 MiB of zeros in a few KiB of bzip2, before info/index.json.
        let bomb = bz2(&tar_of(&[("payload/zeros", vec![0u8; 64 << 20])]));
        vec![
            post("not a package", "noarch", b"plain text, not an archive".to_vec(), 400),
            post("gzip, not bzip2", "noarch", vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0], 400),
            post("truncated bzip2", "noarch", b"BZh91AY&SY garbage".to_vec(), 400),
            post("zip without info-*.tar.zst", "noarch", zip_of(&[("metadata.json", b"{}".to_vec())]), 400),
            post("no info/index.json", "noarch", bz2(&tar_of(&[("info/files", b"x".to_vec())])), 400),
            post("index.json not JSON", "noarch", bz2(&tar_of(&[("info/index.json", b"{nope".to_vec())])), 400),
            post("bad name", "noarch", conda_with(&index(&|v| v["name"] = json!("Bad Name"))), 400),
            post("bad version", "noarch", conda_with(&index(&|v| v["version"] = json!("1.0-1"))), 400),
            post("no build", "noarch", conda_with(&index(&|v| v["build"] = json!(null))), 400),
            post("depends not strings", "noarch", conda_with(&index(&|v| v["depends"] = json!([1, 2]))), 400),
            post("wrong subdir", "linux-64", conda_pkg(&name, "1.0.0", "0", "noarch", &[]), 400),
            post("unknown subdir", "mars-64", conda_pkg(&name, "1.0.0", "0", "noarch", &[]), 400),
            post("compression bomb without index.json", "noarch", bomb, 400),
            post("oversized", "noarch", bz2(&tar_of(&[("info/files", big.clone()), ("x", big)])), 413),
        ]
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/noarch/../x", 400),
            ("/noarch/Bad-1.0-0.conda", 400),
            ("/noarch/a%20b-1.0-0.conda", 400),
            ("/mars-64/repodata.json", 400),
            ("/packages/..%2Fx.json", 400),
            ("/nothing", 404),
        ]
    }
}
