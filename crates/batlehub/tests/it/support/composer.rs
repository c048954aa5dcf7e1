//! Composer packages as ZIPs, uploads as the user guide's `curl` sends them,
//! and a fake Composer 2 repository upstream.

use std::io::Write;

use axum::http::Method;
use sha1::Digest;

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply, noise};

/// A package ZIP: `composer.json` (name, version, autoload) and one class,
/// in a top folder as GitHub archives have it.
pub fn package_zip(name: &str, version: &str, extra: &str) -> Vec<u8> {
    let top = name.replace('/', "-");
    let class = name.rsplit('/').next().unwrap_or("pkg").replace(['-', '.'], "_");
    let manifest = format!(
        "{{\"name\": \"{name}\", \"version\": \"{version}\", \"description\": \"the {name} package\", \"autoload\": {{\"psr-4\": {{\"Pkg\\\\{class}\\\\\": \"src/\"}}}}{extra}}}"
    );
    zip_of(&[
        (&format!("{top}/composer.json"), manifest.as_str()),
        (
            &format!("{top}/src/Hello.php"),
            &format!(
                "<?php\nnamespace Pkg\\{class};\n\nclass Hello {{ public static function version(): string {{ return '{version}'; }} }}\n"
            ),
        ),
    ])
}

pub fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (n, d) in entries {
        w.start_file(*n, opts).expect("start");
        w.write_all(d.as_bytes()).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// `POST {registry}/api/upload` as the user guide's curl.
pub async fn upload(c: &reqwest::Client, reg: &str, token: Option<&str>, zip: Vec<u8>, query: &str) -> Reply {
    let mut r = c.post(format!("{reg}/api/upload{query}")).header("content-type", "application/zip").body(zip);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    Reply::of(r.send().await.expect("upload")).await
}

/// A fake Composer 2 repository: `p2/{name}.json` (minified) for the files
/// it holds, their dists at `/files/{filename}`.
pub struct ComposerProtocol;

pub type FakeComposer = FakeUpstream<ComposerProtocol>;

impl FakeUpstream<ComposerProtocol> {
    pub async fn start() -> FakeComposer {
        FakeUpstream::serve(ComposerProtocol).await
    }
}

impl Protocol for ComposerProtocol {
    fn answer(&self, files: &[File], base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET {
            return Answer::NotFound;
        }
        if let Some(name) = path.strip_prefix("/p2/").and_then(|p| p.strip_suffix(".json")) {
            if name.ends_with("~dev") {
                return Answer::NotFound;
            }
            let of: Vec<&File> = files.iter().filter(|f| f.package == name).collect();
            if of.is_empty() {
                return Answer::NotFound;
            }
            let versions: Vec<serde_json::Value> = of
                .iter()
                .map(|f| {
                    let shasum = if f.advertise_digest { hex::encode(sha1::Sha1::digest(&f.bytes)) } else { String::new() };
                    let at = f.artifact_base.clone().unwrap_or_else(|| base.to_string());
                    let mut v = serde_json::json!({
                        "name": name, "version": f.version, "version_normalized": format!("{}.0", f.version),
                        "description": "upstream package",
                        "dist": {"type": "zip", "url": format!("{at}/files/{}", f.filename), "shasum": shasum, "reference": "abc"}
                    });
                    if let Some(t) = f.published_or("2024-01-01T00:00:00+00:00") {
                        v["time"] = serde_json::json!(t);
                    }
                    if let Some(l) = &f.licence {
                        v["license"] = serde_json::json!([l]);
                    }
                    v
                })
                .collect();
            let body = serde_json::json!({"minified": "composer/2.0", "packages": {name: versions}});
            return Answer::Document { content_type: "application/json", body: body.to_string().into_bytes() };
        }
        if let Some(file) = path.strip_prefix("/files/")
            && let Some(f) = files.iter().find(|f| f.filename == file)
        {
            return Answer::Artifact(f.bytes.clone());
        }
        Answer::NotFound
    }
}

/// Composer for the shared suites.
pub struct ComposerFixture;

impl Fixture for ComposerFixture {
    const LICENCES: bool = true;
    const OSV_ECOSYSTEM: Option<&'static str> = Some("Packagist");

    const TYPE: &'static str = "composer";
    const CLAIM: &'static str = "team/";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM", "Team/"];
    const DIGESTS: bool = false;
    type Proto = ComposerProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        if claimed { format!("team/{stem}") } else { format!("free/{stem}") }
    }

    async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
        upload(c, registry_url, token, package_zip(name, version, ""), "").await
    }

    fn listing(name: &str) -> String {
        format!("/p2/{name}.json")
    }

    fn artifact(name: &str, version: &str) -> String {
        format!("/dist/{name}/{version}.zip")
    }

    async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
        let mut r = c.get(format!("{registry_url}/search.json?q="));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let found: serde_json::Value = r.send().await.expect("search").json().await.unwrap_or_default();
        let mut names: Vec<String> = found["results"]
            .as_array()
            .map(|a| a.iter().filter_map(|o| o["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    fn error_message(reply: &Reply) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&reply.body).ok()?;
        (v["status"] == "error").then(|| v["message"].as_str().map(str::to_string)).flatten()
    }

    async fn upstream() -> FakeComposer {
        FakeComposer::start().await
    }

    fn upstream_url(fake: &FakeComposer) -> String {
        fake.url.clone()
    }

    fn seed(fake: &FakeComposer, name: &str, version: &str) -> Vec<u8> {
        let bytes = package_zip(name, version, "");
        fake.add_file(name, version, &format!("{}-{version}.zip", name.replace('/', "-")), bytes.clone());
        bytes
    }

    fn bad_publishes(stem: &str) -> Vec<BadRequest> {
        let name = Self::name(stem, false);
        let post = |what: &'static str, query: &str, bytes: Vec<u8>, status: u16| BadRequest {
            what,
            method: reqwest::Method::POST,
            path: format!("/api/upload{query}"),
            payload: Payload::Raw { content_type: "application/zip", bytes },
            status,
        };
        let big = noise(BAD_INPUT_LIMIT as usize * 3);
        vec![
            post("not a zip", "", b"not a zip".to_vec(), 400),
            post("no composer.json", "", zip_of(&[("src/A.php", "<?php")]), 400),
            post("composer.json not JSON", "", zip_of(&[("composer.json", "{nope")]), 400),
            post("bad name", "", zip_of(&[("composer.json", r#"{"name":"NoVendor","version":"1.0.0"}"#)]), 400),
            post("no version", "", zip_of(&[("composer.json", &format!(r#"{{"name":"{name}"}}"#))]), 400),
            post("bad version", "?version=one%20two", package_zip(&name, "1.0.0", ""), 400),
            post(
                "traversal entry",
                "",
                zip_of(&[("../composer.json", &format!(r#"{{"name":"{name}","version":"1.0.0"}}"#))]),
                400,
            ),
            post(
                "two top folders",
                "",
                zip_of(&[("a/composer.json", &format!(r#"{{"name":"{name}","version":"1.0.0"}}"#)), ("b/x.php", "")]),
                400,
            ),
            post(
                "oversized",
                "",
                zip_of(&[("composer.json", &format!(r#"{{"name":"{name}","version":"1.0.0"}}"#)), ("big.txt", &big)]),
                413,
            ),
        ]
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/p2/acme/../x.json", 400),
            ("/p2/Ac%20me/x.json", 400),
            ("/dist/acme/util/1.0%00.zip", 400),
            ("/dist/acme/../util/1.0.zip", 400),
            ("/nothing", 404),
        ]
    }
}
