//! A fake npm upstream: packuments, tarballs, search and audit, on the
//! shared fake upstream skeleton ([`super::fake`]).

use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::npm::{integrity, shasum};

pub use super::fake::Behaviour;

/// The npm registry protocol of the fake.
pub struct NpmProtocol;

pub type FakeNpm = FakeUpstream<NpmProtocol>;

impl FakeUpstream<NpmProtocol> {
    pub async fn start() -> FakeNpm {
        FakeUpstream::serve(NpmProtocol).await
    }

    /// The same fake, over TLS with a certificate of `tls`.
    pub async fn start_tls(tls: &super::tls::TlsMaterial) -> FakeNpm {
        FakeUpstream::serve_tls(tls, NpmProtocol).await
    }

    pub fn add(&self, name: &str, version: &str, tarball: Vec<u8>) {
        let bare = name.rsplit('/').next().unwrap_or(name);
        self.add_file(name, version, &format!("{bare}-{version}.tgz"), tarball);
    }

    pub fn set_tarball_delay(&self, d: Option<std::time::Duration>) {
        self.set_artifact_delay(d);
    }

    pub fn audit_bodies(&self) -> Vec<Vec<u8>> {
        self.bodies("/-/npm/v1/security/advisories/bulk")
    }
}

/// A version as a packument lists it: version, tarball, publish time, licence.
type Listed = (String, Vec<u8>, Option<String>, Option<String>);

fn packument(url: &str, name: &str, versions: &[Listed], digests: bool) -> Value {
    let bare = name.rsplit('/').next().unwrap_or(name);
    let mut vmap = Map::new();
    let mut time = Map::new();
    for (v, tgz, published, licence) in versions {
        let mut manifest = json!({
                "name": name,
                "version": v,
                "description": format!("upstream {name}"),
                "dist": if digests {
                    json!({
                        "tarball": format!("{url}/{name}/-/{bare}-{v}.tgz"),
                        "integrity": integrity(tgz),
                        "shasum": shasum(tgz),
                    })
                } else {
                    json!({ "tarball": format!("{url}/{name}/-/{bare}-{v}.tgz") })
                },
        });
        if let Some(l) = licence {
            manifest["license"] = json!(l);
        }
        vmap.insert(v.clone(), manifest);
        match published.as_deref() {
            None => {
                time.insert(v.clone(), json!("2024-01-01T00:00:00.000Z"));
            }
            Some("") => {}
            Some(t) => {
                time.insert(v.clone(), json!(t));
            }
        }
    }
    let latest = versions.last().map(|(v, ..)| v.clone()).unwrap_or_default();
    json!({"_id": name, "name": name, "dist-tags": {"latest": latest}, "versions": vmap, "time": time})
}

impl Protocol for NpmProtocol {
    fn answer(&self, files: &[File], base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if path == "/-/npm/v1/security/audits/quick" && method == Method::POST {
            let body = json!({"actions": [], "advisories": {}, "muted": [], "metadata": {"vulnerabilities": {}}});
            return Answer::Other(axum::Json(body).into_response());
        }
        if path == "/-/npm/v1/security/advisories/bulk" && method == Method::POST {
            return Answer::Other((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response());
        }
        if path == "/-/v1/search" {
            let mut names: Vec<&str> = files.iter().map(|f| f.package.as_str()).collect();
            names.dedup();
            let objects: Vec<Value> = names
                .iter()
                .map(
                    |n| json!({"package": {"name": n, "version": "1.0.0", "maintainers": []}, "score": {"final": 0.5}}),
                )
                .collect();
            return Answer::Other(axum::Json(json!({"objects": objects, "total": objects.len()})).into_response());
        }
        let trimmed = path.trim_start_matches('/');
        if let Some((name, file)) = trimmed.split_once("/-/") {
            return match files.iter().find(|f| f.package == name && f.filename == file) {
                Some(f) => Answer::Artifact(f.bytes.clone()),
                None => Answer::NotFound,
            };
        }
        if method != Method::GET {
            return Answer::Other(StatusCode::METHOD_NOT_ALLOWED.into_response());
        }
        let versions: Vec<Listed> = files
            .iter()
            .filter(|f| f.package == trimmed)
            .map(|f| (f.version.clone(), f.bytes.clone(), f.published.clone(), f.licence.clone()))
            .collect();
        if versions.is_empty() {
            return Answer::Other((StatusCode::NOT_FOUND, axum::Json(json!({"error": "not found"}))).into_response());
        }
        let digests = files.iter().all(|f| f.advertise_digest);
        let body = serde_json::to_vec(&packument(base, trimmed, &versions, digests)).expect("json");
        Answer::Document { content_type: "application/json", body }
    }
}
