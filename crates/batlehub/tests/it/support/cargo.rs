//! `.crate` files, publish bodies and a fake sparse-index upstream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A `.crate`: a gzipped tarball with `{name}-{vers}/Cargo.toml` and src/lib.rs.
pub fn crate_file(name: &str, vers: &str) -> Vec<u8> {
    crate_file_declaring(name, vers, name, vers)
}

/// A `.crate` at `{name}-{vers}/` whose Cargo.toml declares other values.
pub fn crate_file_declaring(name: &str, vers: &str, toml_name: &str, toml_vers: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let files = [
        (
            format!("{name}-{vers}/Cargo.toml"),
            format!("[package]\nname = \"{toml_name}\"\nversion = \"{toml_vers}\"\nedition = \"2021\"\n"),
        ),
        (format!("{name}-{vers}/src/lib.rs"), "pub fn hello() {}\n".to_string()),
    ];
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_bytes()).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gzip")
}

pub fn meta(name: &str, vers: &str, deps: Value) -> Value {
    json!({
        "name": name, "vers": vers, "deps": deps, "features": {}, "authors": [], "description": format!("the {name} crate"),
        "documentation": null, "homepage": null, "readme": null, "readme_file": null, "keywords": [], "categories": [],
        "license": "MIT", "license_file": null, "repository": null, "badges": {}, "links": null, "rust_version": null
    })
}

pub fn body(meta: &Value, crate_bytes: &[u8]) -> Vec<u8> {
    batlehub::ecosystems::cargo::publish::frame(&serde_json::to_vec(meta).expect("json"), crate_bytes)
}

pub fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Publish with a raw token, as cargo sends it; returns status and body.
pub async fn publish(c: &reqwest::Client, reg: &str, token: &str, name: &str, vers: &str, deps: Value) -> (u16, Value) {
    let r = c
        .put(format!("{reg}/api/v1/crates/new"))
        .header("authorization", token)
        .body(body(&meta(name, vers, deps), &crate_file(name, vers)))
        .send()
        .await
        .expect("publish");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[derive(Default)]
struct Inner {
    crates: HashMap<String, Vec<(String, Vec<u8>)>>,
    hits: HashMap<String, usize>,
    corrupt: bool,
    fail: bool,
}

/// A fake sparse index: `/index/config.json`, `/index/{path}`, and downloads
/// at `/dl/...` through a `dl` template (with or without markers).
pub struct FakeIndex {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _h: tokio::task::JoinHandle<()>,
}

impl FakeIndex {
    pub async fn start(markers: bool) -> FakeIndex {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let inner = Arc::new(Mutex::new(Inner::default()));
        let st = (inner.clone(), url.clone(), markers);
        let app = Router::new().fallback(serve).with_state(st);
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeIndex { url, inner, _h: h }
    }

    /// The index URL as a cargo upstream.
    pub fn index(&self) -> String {
        format!("sparse+{}/index/", self.url)
    }

    pub fn add(&self, name: &str, vers: &str) -> Vec<u8> {
        let bytes = crate_file(name, vers);
        self.inner
            .lock()
            .expect("lock")
            .crates
            .entry(name.to_string())
            .or_default()
            .push((vers.to_string(), bytes.clone()));
        bytes
    }

    pub fn hits(&self, path: &str) -> usize {
        self.inner.lock().expect("lock").hits.get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.inner.lock().expect("lock").hits.values().sum()
    }

    pub fn set_corrupt(&self, on: bool) {
        self.inner.lock().expect("lock").corrupt = on;
    }

    pub fn set_fail(&self, on: bool) {
        self.inner.lock().expect("lock").fail = on;
    }
}

type St = (Arc<Mutex<Inner>>, String, bool);

async fn serve(State((inner, url, markers)): State<St>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let mut i = inner.lock().expect("lock");
    *i.hits.entry(path.clone()).or_default() += 1;
    if i.fail {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    if path == "/index/config.json" {
        let dl = if markers {
            format!("{url}/dl/{{lowerprefix}}/{{crate}}-{{version}}.crate")
        } else {
            format!("{url}/dl/plain")
        };
        return axum::Json(json!({ "dl": dl })).into_response();
    }
    if let Some(rest) = path.strip_prefix("/index/") {
        let name = rest.rsplit('/').next().unwrap_or("");
        let Some(versions) = i.crates.get(name) else { return StatusCode::NOT_FOUND.into_response() };
        let mut out = String::new();
        for (v, bytes) in versions {
            out.push_str(
                &json!({"name": name, "vers": v, "deps": [], "cksum": sha256(bytes), "features": {}, "yanked": false})
                    .to_string(),
            );
            out.push('\n');
        }
        return out.into_response();
    }
    if let Some(rest) = path.strip_prefix("/dl/") {
        // `{lowerprefix}/{crate}-{version}.crate` or `plain/{crate}/{version}/download`.
        let found = i.crates.iter().find_map(|(name, vs)| {
            vs.iter().find_map(|(v, b)| {
                let with_markers =
                    format!("{}/{name}-{v}.crate", batlehub::ecosystems::cargo::names::index_prefix(name));
                let plain = format!("plain/{name}/{v}/download");
                (rest == with_markers || rest == plain).then(|| b.clone())
            })
        });
        let corrupt = i.corrupt;
        return match found {
            Some(mut b) => {
                if corrupt {
                    let last = b.len() - 1;
                    b[last] ^= 0xff;
                }
                b.into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    StatusCode::NOT_FOUND.into_response()
}
