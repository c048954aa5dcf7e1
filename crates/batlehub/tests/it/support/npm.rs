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
