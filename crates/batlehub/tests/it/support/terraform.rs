//! Terraform packages built in memory (provider zips holding a
//! `terraform-provider-{type}_v{version}` executable, module `.tar.gz`
//! archives), uploads as the Setup Guide's `curl` sends them, and a fake
//! upstream registry: service discovery, the provider and module registry
//! protocols, `SHA256SUMS`, and the files.

use std::io::Write;

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use sha2::Digest;

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply, noise};

pub fn zip_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    for (name, data) in members {
        w.start_file(*name, opts).expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

/// A provider package of `kind` (its type) `version`: a shell script that
/// stands in for the plugin binary.
pub fn provider_zip(kind: &str, version: &str) -> Vec<u8> {
    let exe = format!("terraform-provider-{kind}_v{version}");
    zip_of(&[(exe.as_str(), format!("#!/bin/sh\necho {kind} {version}\n").into_bytes())])
}

/// A `.tar.gz` of `(path, contents)`.
pub fn tgz_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, name, *data).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz")
}

/// A module's archive: one output.
pub fn module_tgz(version: &str) -> Vec<u8> {
    let main = format!("output \"version\" {{\n  value = \"{version}\"\n}}\n");
    tgz_of(&[("main.tf", main.as_bytes())])
}

fn with_token(r: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

/// `PUT {registry}/v1/providers/{name}/{version}/{os}/{arch}`.
pub async fn put_provider(
    c: &reqwest::Client,
    reg: &str,
    token: Option<&str>,
    name: &str,
    version: &str,
    platform: &str,
    bytes: Vec<u8>,
) -> Reply {
    let (os, arch) = platform.split_once('_').expect("os_arch");
    let r = c.put(format!("{reg}/v1/providers/{name}/{version}/{os}/{arch}")).body(bytes);
    Reply::of(with_token(r, token).send().await.expect("put")).await
}

/// `POST {registry}/v1/modules/{name}/{version}`.
pub async fn post_module(
    c: &reqwest::Client,
    reg: &str,
    token: Option<&str>,
    name: &str,
    version: &str,
    bytes: Vec<u8>,
) -> Reply {
    let r = c.post(format!("{reg}/v1/modules/{name}/{version}")).body(bytes);
    Reply::of(with_token(r, token).send().await.expect("post")).await
}

pub fn provider_file(kind: &str, version: &str, platform: &str) -> String {
    format!("terraform-provider-{kind}_{version}_{platform}.zip")
}

/// A fake Terraform registry.
#[derive(Default)]
pub struct RegistryProtocol;

pub type FakeRegistry = FakeUpstream<RegistryProtocol>;

impl FakeUpstream<RegistryProtocol> {
    pub async fn start() -> FakeRegistry {
        FakeUpstream::serve(RegistryProtocol).await
    }

    /// A provider `ns/type` package for `platform` (`linux_amd64`).
    pub fn add_provider(&self, name: &str, version: &str, platform: &str, bytes: Vec<u8>) {
        let kind = name.rsplit('/').next().expect("type");
        self.add_file(name, version, &provider_file(kind, version, platform), bytes);
    }

    /// A module `ns/name/system`.
    pub fn add_module(&self, name: &str, version: &str, bytes: Vec<u8>) {
        self.add_file(name, version, &format!("{}-{version}.tar.gz", name.replace('/', "-")), bytes);
    }
}

fn json_doc(v: Value) -> Answer {
    Answer::Document { content_type: "application/json", body: serde_json::to_vec(&v).expect("json") }
}

fn platform_of(f: &File) -> Option<(String, String)> {
    let rest = f.filename.strip_suffix(".zip")?;
    let mut parts = rest.rsplitn(3, '_');
    let arch = parts.next()?.to_string();
    let os = parts.next()?.to_string();
    Some((os, arch))
}

impl Protocol for RegistryProtocol {
    fn answer(&self, files: &[File], base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return Answer::NotFound;
        }
        let path = path.trim_start_matches('/');
        if path == ".well-known/terraform.json" {
            return json_doc(json!({"providers.v1": "/v1/providers/", "modules.v1": "/v1/modules/"}));
        }
        if let Some(rest) = path.strip_prefix("files/") {
            if let Some(prefix) = rest.strip_suffix("/SHA256SUMS") {
                let (name, version) = prefix.rsplit_once('/').unwrap_or(("", ""));
                let sums: String = files
                    .iter()
                    .filter(|f| f.package == name && f.version == version)
                    .map(|f| format!("{}  {}\n", hex::encode(sha2::Sha256::digest(&f.bytes)), f.filename))
                    .collect();
                return Answer::Document { content_type: "text/plain", body: sums.into_bytes() };
            }
            if rest.ends_with("/SHA256SUMS.sig") {
                return Answer::Document {
                    content_type: "application/octet-stream",
                    body: b"upstream-signature".to_vec(),
                };
            }
            return match files.iter().find(|f| f.filename == rest) {
                Some(f) => Answer::Artifact(f.bytes.clone()),
                None => Answer::NotFound,
            };
        }
        let segs: Vec<&str> = path.split('/').collect();
        match segs.as_slice() {
            ["v1", "providers", ns, kind, "versions"] => {
                let name = format!("{ns}/{kind}");
                let mine: Vec<&File> = files.iter().filter(|f| f.package.eq_ignore_ascii_case(&name)).collect();
                if mine.is_empty() {
                    return Answer::NotFound;
                }
                let mut versions: Vec<String> = mine.iter().map(|f| f.version.clone()).collect();
                versions.dedup();
                let list: Vec<Value> = versions
                    .iter()
                    .map(|v| {
                        let platforms: Vec<Value> = mine
                            .iter()
                            .filter(|f| &f.version == v)
                            .filter_map(|f| platform_of(f))
                            .map(|(os, arch)| json!({"os": os, "arch": arch}))
                            .collect();
                        json!({"version": v, "protocols": ["5.0"], "platforms": platforms})
                    })
                    .collect();
                json_doc(json!({"versions": list}))
            }
            ["v1", "providers", ns, kind, version, "download", os, arch] => {
                let name = format!("{ns}/{kind}");
                let file = format!("terraform-provider-{kind}_{version}_{os}_{arch}.zip");
                let Some(f) = files.iter().find(|f| f.package.eq_ignore_ascii_case(&name) && f.filename == file) else {
                    return Answer::NotFound;
                };
                let at = f.artifact_base.clone().unwrap_or_else(|| base.to_string());
                let mut doc = json!({
                    "protocols": ["5.0"], "os": os, "arch": arch, "filename": f.filename,
                    "download_url": format!("{at}/files/{}", f.filename),
                    "shasums_url": format!("/files/{name}/{version}/SHA256SUMS"),
                    "shasums_signature_url": format!("/files/{name}/{version}/SHA256SUMS.sig"),
                    "signing_keys": {"gpg_public_keys": [{"key_id": "0123456789ABCDEF", "ascii_armor": "upstream key"}]},
                });
                if f.advertise_digest {
                    doc["shasum"] = json!(hex::encode(sha2::Sha256::digest(&f.bytes)));
                }
                json_doc(doc)
            }
            ["v1", "modules", ns, n, s, "versions"] => {
                let name = format!("{ns}/{n}/{s}");
                let versions: Vec<Value> =
                    files.iter().filter(|f| f.package == name).map(|f| json!({"version": f.version})).collect();
                if versions.is_empty() {
                    return Answer::NotFound;
                }
                json_doc(json!({"modules": [{"versions": versions}]}))
            }
            ["v1", "modules", ns, n, s, version, "download"] => {
                let name = format!("{ns}/{n}/{s}");
                let Some(f) = files.iter().find(|f| f.package == name && f.version == *version) else {
                    return Answer::NotFound;
                };
                let mut r = StatusCode::NO_CONTENT.into_response();
                // A module named `git` is where git sources are tried.
                let location = if *n == "git" {
                    "git::https://git.example/modules.git?ref=v1".to_string()
                } else {
                    format!("/files/{}", f.filename)
                };
                r.headers_mut().insert("x-terraform-get", location.parse().expect("header"));
                Answer::Other(r)
            }
            _ => Answer::NotFound,
        }
    }
}

fn error_message(reply: &Reply) -> Option<String> {
    let json =
        reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("application/json");
    let v: Value = serde_json::from_str(&reply.body).ok()?;
    let m = v["errors"][0].as_str()?.to_string();
    (json && !m.is_empty()).then_some(m)
}

fn kind_of(name: &str) -> &str {
    name.rsplit('/').next().expect("type")
}

pub struct TerraformFixture;

impl Fixture for TerraformFixture {
    /// The registry protocol gives no publish times.
    const PUBLISH_TIMES: bool = false;

    const TYPE: &'static str = "terraform";
    const CLAIM: &'static str = "team/";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM/", "Team/"];
    /// The protocol lists no packages.
    const SEARCH: bool = false;
    type Proto = RegistryProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        let stem = stem.to_ascii_lowercase();
        if claimed { format!("team/{stem}") } else { format!("free/{stem}") }
    }

    async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
        put_provider(c, registry_url, token, name, version, "linux_amd64", provider_zip(kind_of(name), version)).await
    }

    fn listing(name: &str) -> String {
        format!("/v1/providers/{name}/versions")
    }

    fn artifact(name: &str, version: &str) -> String {
        format!("/v1/providers/{name}/{version}/archive/{}", provider_file(kind_of(name), version, "linux_amd64"))
    }

    async fn search(_c: &reqwest::Client, _registry_url: &str, _token: Option<&str>) -> Vec<String> {
        Vec::new()
    }

    fn error_message(reply: &Reply) -> Option<String> {
        error_message(reply)
    }

    async fn upstream() -> FakeRegistry {
        FakeRegistry::start().await
    }

    fn upstream_url(fake: &FakeRegistry) -> String {
        fake.url.clone()
    }

    fn seed(fake: &FakeRegistry, name: &str, version: &str) -> Vec<u8> {
        let bytes = provider_zip(kind_of(name), version);
        fake.add_provider(name, version, "linux_amd64", bytes.clone());
        bytes
    }

    fn bad_publishes(stem: &str) -> Vec<BadRequest> {
        let name = Self::name(stem, false);
        let kind = kind_of(&name).to_string();
        let raw = |what: &'static str, method: reqwest::Method, path: String, bytes: Vec<u8>, status: u16| BadRequest {
            what,
            method,
            path,
            payload: Payload::Raw { content_type: "application/octet-stream", bytes },
            status,
        };
        let here = format!("/v1/providers/{name}/1.0.0/linux/amd64");
        let module = format!("/v1/modules/{}/net/aws/1.0.0", name.split('/').next().expect("ns"));
        let exe = format!("terraform-provider-{kind}_v1.0.0");
        let big = noise(BAD_INPUT_LIMIT as usize * 2).into_bytes();
        let put = reqwest::Method::PUT;
        let post = reqwest::Method::POST;
        vec![
            raw("not a zip", put.clone(), here.clone(), b"plain text".to_vec(), 400),
            raw("no executable", put.clone(), here.clone(), zip_of(&[("README.md", b"hi".to_vec())]), 400),
            raw("another provider's executable", put.clone(), here.clone(), provider_zip("other", "1.0.0"), 400),
            raw(
                "traversal in an entry",
                put.clone(),
                here.clone(),
                zip_of(&[(exe.as_str(), b"x".to_vec()), ("../evil", b"x".to_vec())]),
                400,
            ),
            raw(
                "an absolute entry",
                put.clone(),
                here.clone(),
                zip_of(&[(exe.as_str(), b"x".to_vec()), ("/etc/evil", b"x".to_vec())]),
                400,
            ),
            raw("bad protocols", put.clone(), format!("{here}?protocols=five"), provider_zip(&kind, "1.0.0"), 400),
            raw("oversized", put.clone(), here, zip_of(&[(exe.as_str(), big.clone())]), 413),
            raw("a module that is not gzip", post.clone(), module.clone(), b"plain".to_vec(), 400),
            raw("a module without configuration", post.clone(), module.clone(), tgz_of(&[("README.md", b"hi")]), 400),
            raw("a module escaping its directory", post.clone(), module.clone(), tgz_with_traversal(), 400),
            raw("an oversized module", post, module, tgz_of(&[("main.tf", big.as_slice())]), 413),
        ]
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/v1/providers/free/../x/versions", 400),
            ("/v1/providers/free/My_Tool/versions", 400),
            ("/v1/providers/free/x/1.0/download/linux/amd64", 400),
            ("/v1/providers/free/x/1.0.0/download/linux/../amd64", 400),
            ("/v1/providers/free/x/1.0.0/archive/secret.zip", 404),
            ("/v1/modules/free/net/a-b/versions", 400),
            ("/v1/nothing", 404),
        ]
    }
}

/// A `.tar.gz` whose entry climbs out with `..` (written raw: the tar
/// crate refuses to build one).
fn tgz_with_traversal() -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let data = b"output \"x\" { value = 1 }\n";
    let mut h = tar::Header::new_old();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    let name = b"../main.tf";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, &data[..]).expect("append");
    b.into_inner().expect("tar").finish().expect("gz")
}
