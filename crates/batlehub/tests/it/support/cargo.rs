//! `.crate` files, publish bodies and a fake sparse-index upstream.

use axum::http::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::fake::{Answer, FakeUpstream, File, Protocol};

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

/// A fake sparse index: `/index/config.json`, `/index/{path}`, and downloads
/// at `/dl/...` through a `dl` template (with or without markers), on the
/// shared fake upstream skeleton.
pub struct CargoProtocol {
    markers: bool,
}

pub type FakeIndex = FakeUpstream<CargoProtocol>;

impl FakeUpstream<CargoProtocol> {
    pub async fn start(markers: bool) -> FakeIndex {
        FakeUpstream::serve(CargoProtocol { markers }).await
    }

    /// The index URL as a cargo upstream.
    pub fn index(&self) -> String {
        format!("sparse+{}/index/", self.url)
    }

    /// Hold a generated `.crate` of `name` `vers`; returns its bytes.
    pub fn add(&self, name: &str, vers: &str) -> Vec<u8> {
        let bytes = crate_file(name, vers);
        self.add_file(name, vers, &format!("{name}-{vers}.crate"), bytes.clone());
        bytes
    }
}

impl Protocol for CargoProtocol {
    fn answer(&self, files: &[File], base: &str, _method: &Method, path: &str, _body: &[u8]) -> Answer {
        if path == "/index/config.json" {
            let dl = if self.markers {
                format!("{base}/dl/{{lowerprefix}}/{{crate}}-{{version}}.crate")
            } else {
                format!("{base}/dl/plain")
            };
            return Answer::Document {
                content_type: "application/json",
                body: json!({ "dl": dl, "api": base }).to_string().into_bytes(),
            };
        }
        // The web API's search (the query is not seen here: every crate).
        if path == "/api/v1/crates" {
            let mut names: Vec<&str> = files.iter().map(|f| f.package.as_str()).collect();
            names.sort();
            names.dedup();
            let crates: Vec<serde_json::Value> = names
                .iter()
                .map(|n| json!({ "name": n, "max_version": files.iter().rev().find(|f| f.package == *n).map(|f| f.version.as_str()), "description": "from the upstream" }))
                .collect();
            return Answer::Document {
                content_type: "application/json",
                body: json!({ "crates": crates, "meta": { "total": crates.len() } }).to_string().into_bytes(),
            };
        }
        if let Some(rest) = path.strip_prefix("/index/") {
            let name = rest.rsplit('/').next().unwrap_or("");
            let mut out = String::new();
            for f in files.iter().filter(|f| f.package == name) {
                let cksum = if f.advertise_digest { sha256(&f.bytes) } else { String::new() };
                let mut line = json!({"name": name, "vers": f.version, "deps": [], "cksum": cksum, "features": {}, "yanked": false});
                if let Some(t) = f.published.as_deref().filter(|t| !t.is_empty()) {
                    line["pubtime"] = json!(t);
                }
                out.push_str(&line.to_string());
                out.push('\n');
            }
            if out.is_empty() {
                return Answer::NotFound;
            }
            return Answer::Document { content_type: "text/plain", body: out.into_bytes() };
        }
        if let Some(rest) = path.strip_prefix("/dl/") {
            // `{lowerprefix}/{crate}-{version}.crate` or `plain/{crate}/{version}/download`.
            let found = files.iter().find(|f| {
                let with_markers = format!(
                    "{}/{}-{}.crate",
                    batlehub::ecosystems::cargo::names::index_prefix(&f.package),
                    f.package,
                    f.version
                );
                let plain = format!("plain/{}/{}/download", f.package, f.version);
                rest == with_markers || rest == plain
            });
            return match found {
                Some(f) => Answer::Artifact(f.bytes.clone()),
                None => Answer::NotFound,
            };
        }
        Answer::NotFound
    }
}

/// Cargo for the shared suites.
pub struct CargoFixture;

impl super::fixture::Fixture for CargoFixture {
    // OSV names the ecosystem after its public registry's host.
    const OSV_ECOSYSTEM: Option<&'static str> = Some(concat!("crates", ".io"));

    fn exact_range(version: &str) -> String {
        format!("={version}")
    }

    /// `cargo search` on a mirror is asked of the upstream's web API, found
    /// through its config.json.
    fn is_upstream_search(path: &str) -> bool {
        path == "/api/v1/crates" || path == "/index/config.json"
    }

    const TYPE: &'static str = "cargo";
    const CLAIM: &'static str = "team-";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM_", "Team-"];
    type Proto = CargoProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        if claimed { format!("team-{stem}") } else { format!("free-{stem}") }
    }

    async fn publish(
        c: &reqwest::Client,
        registry_url: &str,
        token: Option<&str>,
        name: &str,
        version: &str,
    ) -> super::fixture::Reply {
        let mut r = c
            .put(format!("{registry_url}/api/v1/crates/new"))
            .body(body(&meta(name, version, json!([])), &crate_file(name, version)));
        if let Some(t) = token {
            // As cargo sends it: the raw token.
            r = r.header("authorization", t);
        }
        super::fixture::Reply::of(r.send().await.expect("publish")).await
    }

    fn listing(name: &str) -> String {
        format!("/registry/{}", batlehub::ecosystems::cargo::names::index_path(&name.to_lowercase()))
    }

    fn artifact(name: &str, version: &str) -> String {
        format!("/api/v1/crates/{name}/{version}/download")
    }

    async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
        let mut r = c.get(format!("{registry_url}/api/v1/crates?q=&per_page=100"));
        if let Some(t) = token {
            r = r.header("authorization", t);
        }
        let found: Value = r.send().await.expect("search").json().await.expect("json");
        let mut names: Vec<String> = found["crates"]
            .as_array()
            .map(|a| a.iter().filter_map(|o| o["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// cargo prints every `errors[].detail`.
    fn error_message(reply: &super::fixture::Reply) -> Option<String> {
        super::fixture::json_of(reply)["errors"][0]["detail"].as_str().filter(|e| !e.is_empty()).map(str::to_string)
    }

    async fn upstream() -> FakeIndex {
        FakeIndex::start(true).await
    }

    fn upstream_url(fake: &FakeIndex) -> String {
        fake.index()
    }

    fn seed(fake: &FakeIndex, name: &str, version: &str) -> Vec<u8> {
        fake.add(name, version)
    }

    fn bad_publishes(stem: &str) -> Vec<super::fixture::BadRequest> {
        use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Payload};
        let name = &Self::name(stem, false);
        let good_meta = meta(name, "1.0.0", json!([]));
        let good_crate = crate_file(name, "1.0.0");
        let good = body(&good_meta, &good_crate);
        let mut lying = good.clone();
        lying[0] = lying[0].wrapping_add(7);
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"xx");
        let cases: Vec<(&'static str, Vec<u8>, u16)> = vec![
            ("truncated", good[..good.len() - 10].to_vec(), 400),
            ("lengths that lie", lying, 400),
            ("trailing bytes", trailing, 400),
            ("empty", Vec::new(), 400),
            ("metadata not JSON", body(&json!("x"), &good_crate)[..].to_vec(), 400),
            (
                "name mismatch with Cargo.toml",
                body(&good_meta, &crate_file_declaring(name, "1.0.0", "evil", "1.0.0")),
                400,
            ),
            ("version mismatch with Cargo.toml", body(&good_meta, &crate_file(name, "2.0.0")), 400),
            ("not gzip", body(&good_meta, b"plain text, not a tarball"), 400),
            ("empty name", body(&meta("", "1.0.0", json!([])), &good_crate), 400),
            ("leading digit", body(&meta("1abc", "1.0.0", json!([])), &good_crate), 400),
            ("non-ascii", body(&meta("caf\u{e9}", "1.0.0", json!([])), &good_crate), 400),
            ("too long", body(&meta(&"a".repeat(65), "1.0.0", json!([])), &good_crate), 400),
            ("bad version", body(&meta(name, "1.0", json!([])), &good_crate), 400),
            ("oversized", body(&good_meta, &vec![0x1f; BAD_INPUT_LIMIT as usize * 2]), 413),
        ];
        cases
            .into_iter()
            .map(|(what, bytes, status)| BadRequest {
                what,
                method: reqwest::Method::PUT,
                path: "/api/v1/crates/new".into(),
                payload: Payload::Raw { content_type: "application/octet-stream", bytes },
                status,
            })
            .collect()
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/registry/../../catalog.db", 400),
            ("/registry/%2e%2e/x/y", 400),
            ("/registry/se/rd/..%2fserde", 400),
            ("/registry/xx/yy/serde", 404),
            ("/registry/1/1", 404),
            ("/api/v1/crates/1bad/1.0.0/download", 400),
            ("/api/v1/crates/ok/1.0/download", 400),
            ("/api/v1/crates/a%00b/1.0.0/download", 400),
            ("/nosuch", 404),
        ]
    }
}
