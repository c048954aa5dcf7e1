//! npm tarballs and publish bodies, built the way the npm CLI builds them.

use std::io::Write;

use base64::Engine;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha512};

/// A gzipped tarball with `package/package.json` and `package/index.js`.
pub fn tarball(name: &str, version: &str, deps: &[(&str, &str)]) -> Vec<u8> {
    tarball_with(name, version, deps, "")
}

/// Same, with `extra` appended to index.js (to vary the size).
pub fn tarball_with(name: &str, version: &str, deps: &[(&str, &str)], extra: &str) -> Vec<u8> {
    let mut dependencies = serde_json::Map::new();
    for (d, v) in deps {
        dependencies.insert((*d).into(), json!(v));
    }
    let manifest = json!({"name": name, "version": version, "main": "index.js", "dependencies": dependencies});
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("package/package.json", serde_json::to_vec_pretty(&manifest).expect("json")),
        ("package/index.js", format!("module.exports = {:?};\n// {extra}\n", format!("{name}@{version}")).into_bytes()),
    ];
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append_data(&mut header, path, &data[..]).expect("append");
    }
    let mut gz = builder.into_inner().expect("tar");
    gz.flush().expect("flush");
    gz.finish().expect("gzip")
}

pub fn integrity(bytes: &[u8]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes)))
}

pub fn shasum(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The body of `npm publish` for one version.
pub fn publish_body(name: &str, version: &str, tarball: &[u8], registry_url: &str) -> Value {
    let bare = name.rsplit('/').next().unwrap_or(name);
    let manifest = json!({
        "name": name,
        "version": version,
        "description": format!("the {name} package"),
        "main": "index.js",
        "_id": format!("{name}@{version}"),
        "dist": {
            "integrity": integrity(tarball),
            "shasum": shasum(tarball),
            "tarball": format!("{registry_url}/{name}/-/{bare}-{version}.tgz"),
        },
    });
    json!({
        "_id": name,
        "name": name,
        "description": format!("the {name} package"),
        "dist-tags": {"latest": version},
        "versions": {version: manifest},
        "access": null,
        "_attachments": {
            format!("{name}-{version}.tgz"): {
                "content_type": "application/octet-stream",
                "data": base64::engine::general_purpose::STANDARD.encode(tarball),
                "length": tarball.len(),
            }
        }
    })
}

/// `@scope/name` → `@scope%2fname`, as npm writes it in URLs.
pub fn escaped(name: &str) -> String {
    name.replacen('/', "%2f", 1)
}

/// Publish `name@version` with `token`; returns the status and body.
pub async fn publish(
    client: &reqwest::Client,
    registry_url: &str,
    token: &str,
    name: &str,
    version: &str,
) -> (u16, Value) {
    let tgz = tarball(name, version, &[]);
    let body = publish_body(name, version, &tgz, registry_url);
    let resp = client
        .put(format!("{registry_url}/{}", escaped(name)))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("publish request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// npm for the shared suites.
pub struct NpmFixture;

impl super::fixture::Fixture for NpmFixture {
    const LICENCES: bool = true;
    const OSV_ECOSYSTEM: Option<&'static str> = Some("npm");

    const TYPE: &'static str = "npm";
    const CLAIM: &'static str = "@team/";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["@TEAM/", "@Team"];
    type Proto = super::fake_npm::NpmProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        if claimed { format!("@team/{stem}") } else { format!("free-{stem}") }
    }

    async fn publish(
        c: &reqwest::Client,
        registry_url: &str,
        token: Option<&str>,
        name: &str,
        version: &str,
    ) -> super::fixture::Reply {
        let tgz = tarball(name, version, &[]);
        let mut r =
            c.put(format!("{registry_url}/{}", escaped(name))).json(&publish_body(name, version, &tgz, registry_url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        super::fixture::Reply::of(r.send().await.expect("publish")).await
    }

    fn listing(name: &str) -> String {
        format!("/{}", escaped(name))
    }

    fn artifact(name: &str, version: &str) -> String {
        let bare = name.rsplit('/').next().unwrap_or(name);
        format!("/{name}/-/{bare}-{version}.tgz")
    }

    async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
        let mut r = c.get(format!("{registry_url}/-/v1/search?text="));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let found: Value = r.send().await.expect("search").json().await.expect("json");
        let mut names: Vec<String> = found["objects"]
            .as_array()
            .map(|a| a.iter().filter_map(|o| o["package"]["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// npm prints the `error` field.
    fn error_message(reply: &super::fixture::Reply) -> Option<String> {
        super::fixture::json_of(reply)["error"].as_str().filter(|e| !e.is_empty()).map(str::to_string)
    }

    async fn upstream() -> super::fake_npm::FakeNpm {
        super::fake_npm::FakeNpm::start().await
    }

    fn upstream_url(fake: &super::fake_npm::FakeNpm) -> String {
        fake.url.clone()
    }

    fn seed(fake: &super::fake_npm::FakeNpm, name: &str, version: &str) -> Vec<u8> {
        let tgz = tarball(name, version, &[]);
        fake.add(name, version, tgz.clone());
        tgz
    }

    fn is_upstream_search(path: &str) -> bool {
        path == "/-/v1/search"
    }

    fn bad_publishes(stem: &str) -> Vec<super::fixture::BadRequest> {
        use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Payload};
        let name = &Self::name(stem, false);
        let reg = "http://registry.invalid/proxy/x";
        let tgz = tarball(name, "1.0.0", &[]);
        let att = format!("{name}-1.0.0.tgz");
        let good = publish_body(name, "1.0.0", &tgz, reg);
        let mut mismatched_name = good.clone();
        mismatched_name["name"] = json!("other");
        let mut no_attachment = good.clone();
        no_attachment["_attachments"] = json!({"unrelated.tgz": {"data": "aGVsbG8="}});
        let mut bad_base64 = good.clone();
        bad_base64["_attachments"][&att]["data"] = json!("!!!!not base64!!!!");
        let mut wrong_integrity = good.clone();
        wrong_integrity["versions"]["1.0.0"]["dist"]["integrity"] = json!(integrity(b"other bytes"));
        let mut wrong_length = good.clone();
        wrong_length["_attachments"][&att]["length"] = json!(3);
        let mut not_gzip = good.clone();
        not_gzip["_attachments"][&att]["data"] = json!("aGVsbG8gd29ybGQ=");
        not_gzip["versions"]["1.0.0"]["dist"] = json!({});
        not_gzip["_attachments"][&att].as_object_mut().expect("obj").remove("length");
        let mut bad_version = publish_body(name, "1.0", &tgz, reg);
        bad_version["_attachments"] = json!({ format!("{name}-1.0.tgz"): good["_attachments"][&att].clone() });
        let mut two_versions = good.clone();
        two_versions["versions"]["2.0.0"] = json!({"name": name, "version": "2.0.0"});
        let mut manifest_mismatch = good.clone();
        manifest_mismatch["versions"]["1.0.0"]["name"] = json!("evil");
        let cases: Vec<(&'static str, Vec<u8>, u16)> = vec![
            ("malformed json", format!("{{\"name\": \"{name}\", ").into_bytes(), 400),
            ("not an object", b"[1,2,3]".to_vec(), 400),
            ("name differs from URL", serde_json::to_vec(&mismatched_name).expect("json"), 400),
            ("missing attachment", serde_json::to_vec(&no_attachment).expect("json"), 400),
            ("corrupt base64", serde_json::to_vec(&bad_base64).expect("json"), 400),
            ("integrity mismatch", serde_json::to_vec(&wrong_integrity).expect("json"), 400),
            ("length mismatch", serde_json::to_vec(&wrong_length).expect("json"), 400),
            ("not a tarball", serde_json::to_vec(&not_gzip).expect("json"), 400),
            ("invalid version", serde_json::to_vec(&bad_version).expect("json"), 400),
            ("two versions", serde_json::to_vec(&two_versions).expect("json"), 400),
            ("manifest names another package", serde_json::to_vec(&manifest_mismatch).expect("json"), 400),
            (
                "metadata update of a missing package",
                serde_json::to_vec(&json!({"name": name, "versions": {}})).expect("json"),
                404,
            ),
            (
                "oversized",
                {
                    let big = vec![0x1fu8; BAD_INPUT_LIMIT as usize + 1];
                    let mut b = publish_body(name, "1.0.0", &big, reg);
                    b["versions"]["1.0.0"]["dist"] = json!({});
                    serde_json::to_vec(&b).expect("json")
                },
                413,
            ),
        ];
        cases
            .into_iter()
            .map(|(what, body, status)| BadRequest {
                what,
                method: reqwest::Method::PUT,
                path: format!("/{}", escaped(name)),
                payload: Payload::Raw { content_type: "application/json", bytes: body },
                status,
            })
            .collect()
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/..", 400),
            ("/%2e%2e", 400),
            ("/%2E%2E", 400),
            ("/%2e%2e%2fetc%2fpasswd", 400),
            ("/a%5cb", 400),
            ("/a\\b", 400),
            ("/a%00b", 400),
            ("/@scope%2fa%2fb", 400),
            ("/@scope/a/b/c/d", 404),
            ("/.hidden", 400),
            ("/pkg/-/..%2f..%2fcatalog.db", 400),
            ("/pkg/-/%2e%2e", 400),
            ("/-/nosuch", 404),
        ]
    }
}
