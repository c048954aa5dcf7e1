//! Gems built in memory (as `gem build` lays them out), pushes as `gem push`
//! sends them, and a fake gem server with a compact index.

use std::io::Write;

use axum::http::Method;
use sha2::Digest;

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply, noise};

/// A gemspec as RubyGems writes it (YAML with Ruby object tags).
pub fn gemspec(name: &str, version: &str, deps: &[(&str, &str)]) -> String {
    let mut deps_yaml = String::new();
    for (dep, req) in deps {
        let (op, v) = req.split_once(' ').unwrap_or((">=", req));
        deps_yaml.push_str(&format!(
            "- !ruby/object:Gem::Dependency\n  name: {dep}\n  requirement: !ruby/object:Gem::Requirement\n    requirements:\n    - - \"{op}\"\n      - !ruby/object:Gem::Version\n        version: '{v}'\n  type: :runtime\n  prerelease: false\n"
        ));
    }
    let deps_yaml = if deps_yaml.is_empty() { " []\n".to_string() } else { format!("\n{deps_yaml}") };
    format!(
        "--- !ruby/object:Gem::Specification\nname: {name}\nversion: !ruby/object:Gem::Version\n  version: {version}\nplatform: ruby\nauthors:\n- Test\nbindir: bin\ncert_chain: []\ndate: 2024-01-01 00:00:00.000000000 Z\ndependencies:{deps_yaml}description: the {name} gem\nemail:\nexecutables: []\nextensions: []\nextra_rdoc_files: []\nfiles:\n- lib/{name}.rb\nhomepage:\nlicenses:\n- MIT\nmetadata: {{}}\npost_install_message:\nrdoc_options: []\nrequire_paths:\n- lib\nrequired_ruby_version: !ruby/object:Gem::Requirement\n  requirements:\n  - - \">=\"\n    - !ruby/object:Gem::Version\n      version: '0'\nrequired_rubygems_version: !ruby/object:Gem::Requirement\n  requirements:\n  - - \">=\"\n    - !ruby/object:Gem::Version\n      version: '0'\nrequirements: []\nrubygems_version: 3.3.15\nsigning_key:\nspecification_version: 4\nsummary: the {name} gem\ntest_files: []\n"
    )
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gz");
    e.finish().expect("gz")
}

fn tar_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o444);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_slice()).expect("append");
    }
    b.into_inner().expect("tar")
}

/// A `.gem` whose gemspec is `spec` and whose one file is `lib/{name}.rb`.
pub fn gem_with_spec(name: &str, version: &str, spec: &str) -> Vec<u8> {
    let module: String = name
        .split(['-', '_'])
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    let lib = format!("module {module}\n  VERSION = \"{version}\"\nend\n");
    let data = gz(&tar_of(&[(&format!("lib/{name}.rb"), lib.into_bytes())]));
    let metadata = gz(spec.as_bytes());
    let checksums = format!(
        "---\nSHA256:\n  metadata.gz: {}\n  data.tar.gz: {}\n",
        hex::encode(sha2::Sha256::digest(&metadata)),
        hex::encode(sha2::Sha256::digest(&data))
    );
    tar_of(&[("metadata.gz", metadata), ("data.tar.gz", data), ("checksums.yaml.gz", gz(checksums.as_bytes()))])
}

pub fn gem(name: &str, version: &str, deps: &[(&str, &str)]) -> Vec<u8> {
    gem_with_spec(name, version, &gemspec(name, version, deps))
}

/// `POST {registry}/api/v1/gems` as `gem push` sends it: the key as is.
pub async fn push(c: &reqwest::Client, reg: &str, token: Option<&str>, bytes: Vec<u8>) -> Reply {
    let mut r = c.post(format!("{reg}/api/v1/gems")).header("content-type", "application/octet-stream").body(bytes);
    if let Some(t) = token {
        r = r.header("authorization", t);
    }
    Reply::of(r.send().await.expect("push")).await
}

/// A fake gem server: `/info/{gem}` (with checksums unless digests are
/// off), `/versions`, `/names`, and `/gems/{file}`.
pub struct GemProtocol;

pub type FakeGems = FakeUpstream<GemProtocol>;

const RAW: &str = "@raw";

impl FakeUpstream<GemProtocol> {
    pub async fn start() -> FakeGems {
        FakeUpstream::serve(GemProtocol).await
    }

    /// Serve `body` at `path` (no leading `/`) as it is.
    pub fn add_raw(&self, path: &str, body: Vec<u8>) {
        self.add_file(RAW, "", path, body);
    }
}

impl Protocol for GemProtocol {
    fn answer(&self, files: &[File], _base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET {
            return Answer::NotFound;
        }
        // Documents held as they are (`add_raw`): the legacy indexes, the
        // dependency API.
        if let Some(f) = files.iter().find(|f| f.package == RAW && f.filename == path.trim_start_matches('/')) {
            return Answer::Document { content_type: "application/octet-stream", body: f.bytes.clone() };
        }
        let info = |name: &str| -> String {
            let mut body = String::from("---\n");
            for f in files.iter().filter(|f| f.package == name) {
                let checksum = if f.advertise_digest {
                    format!("checksum:{}", hex::encode(sha2::Sha256::digest(&f.bytes)))
                } else {
                    String::new()
                };
                body.push_str(&format!("{} |{checksum}\n", f.version));
            }
            body
        };
        if let Some(name) = path.strip_prefix("/info/") {
            if !files.iter().any(|f| f.package == name) {
                return Answer::NotFound;
            }
            return Answer::Document { content_type: "text/plain", body: info(name).into_bytes() };
        }
        if let Some(name) = path.strip_prefix("/api/v1/versions/").and_then(|p| p.strip_suffix(".json")) {
            let list: Vec<serde_json::Value> = files
                .iter()
                .filter(|f| f.package == name)
                .map(|f| {
                    let mut v = serde_json::json!({"number": f.version, "platform": "ruby", "prerelease": false});
                    if let Some(t) = f.published_or("2024-01-01T00:00:00.000Z") {
                        v["created_at"] = serde_json::json!(t);
                    }
                    v["licenses"] = serde_json::json!([f.licence.as_deref().unwrap_or("MIT")]);
                    v
                })
                .collect();
            if list.is_empty() {
                return Answer::NotFound;
            }
            return Answer::Document {
                content_type: "application/json",
                body: serde_json::to_vec(&list).expect("json"),
            };
        }
        if path == "/versions" || path == "/names" {
            let mut names: Vec<&str> = files.iter().map(|f| f.package.as_str()).filter(|n| *n != RAW).collect();
            names.sort();
            names.dedup();
            let body = if path == "/names" {
                format!("---\n{}\n", names.join("\n"))
            } else {
                let mut b = String::from("created_at: 2024-01-01T00:00:00Z\n---\n");
                for n in names {
                    let versions: Vec<&str> =
                        files.iter().filter(|f| f.package == n).map(|f| f.version.as_str()).collect();
                    b.push_str(&format!(
                        "{n} {} {}\n",
                        versions.join(","),
                        hex::encode(md5::Md5::digest(info(n).as_bytes()))
                    ));
                }
                b
            };
            return Answer::Document { content_type: "text/plain", body: body.into_bytes() };
        }
        if let Some(file) = path.strip_prefix("/gems/")
            && let Some(f) = files.iter().find(|f| f.filename == file)
        {
            return Answer::Artifact(f.bytes.clone());
        }
        Answer::NotFound
    }
}

/// RubyGems for the shared suites.
pub struct RubygemsFixture;

impl Fixture for RubygemsFixture {
    const LICENCES: bool = true;
    const OSV_ECOSYSTEM: Option<&'static str> = Some("RubyGems");

    const TYPE: &'static str = "rubygems";
    const CLAIM: &'static str = "team-";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM-", "Team-"];
    const LINKED_ARTIFACTS: bool = false;
    type Proto = GemProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        if claimed { format!("team-{stem}") } else { format!("free-{stem}") }
    }

    async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
        push(c, registry_url, token, gem(name, version, &[])).await
    }

    fn listing(name: &str) -> String {
        format!("/info/{name}")
    }

    /// `/versions` and `/names` of a registry with upstreams are the
    /// upstream's, merged with the local gems.
    fn is_upstream_search(path: &str) -> bool {
        path == "/versions" || path == "/names"
    }

    fn artifact(name: &str, version: &str) -> String {
        format!("/gems/{name}-{version}.gem")
    }

    /// The compact index's `/names`.
    async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
        let mut r = c.get(format!("{registry_url}/names"));
        if let Some(t) = token {
            r = r.header("authorization", t);
        }
        let Ok(resp) = r.send().await else { return Vec::new() };
        if !resp.status().is_success() {
            return Vec::new();
        }
        let text = resp.text().await.unwrap_or_default();
        text.lines().filter(|l| *l != "---" && !l.is_empty()).map(str::to_string).collect()
    }

    fn error_message(reply: &Reply) -> Option<String> {
        let plain =
            reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/plain");
        let message = reply.body.trim();
        (plain && !message.is_empty()).then(|| message.to_string())
    }

    async fn upstream() -> FakeGems {
        FakeGems::start().await
    }

    fn upstream_url(fake: &FakeGems) -> String {
        fake.url.clone()
    }

    fn seed(fake: &FakeGems, name: &str, version: &str) -> Vec<u8> {
        let bytes = gem(name, version, &[]);
        fake.add_file(name, version, &format!("{name}-{version}.gem"), bytes.clone());
        bytes
    }

    fn bad_publishes(stem: &str) -> Vec<BadRequest> {
        let name = Self::name(stem, false);
        let post = |what: &'static str, bytes: Vec<u8>, status: u16| BadRequest {
            what,
            method: reqwest::Method::POST,
            path: "/api/v1/gems".into(),
            payload: Payload::Raw { content_type: "application/octet-stream", bytes },
            status,
        };
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            bomb.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        let noise = noise(BAD_INPUT_LIMIT as usize * 2).into_bytes();
        vec![
            post("not a gem", b"not a tar archive at all".to_vec(), 400),
            post("no metadata.gz", tar_of(&[("data.tar.gz", gz(b"x"))]), 400),
            post("metadata not gzip", tar_of(&[("metadata.gz", b"plain".to_vec())]), 400),
            post("YAML alias bomb", gem_with_spec(&name, "1.0.0", &bomb), 400),
            post("invalid YAML", gem_with_spec(&name, "1.0.0", "name: [unclosed"), 400),
            post("no version", gem_with_spec(&name, "1.0.0", &format!("name: {name}\n")), 400),
            post("bad name", gem("-bad", "1.0.0", &[]), 400),
            post("bad version", gem(&name, "v1", &[]), 400),
            post(
                "oversized",
                tar_of(&[("metadata.gz", gz(gemspec(&name, "1.0.0", &[]).as_bytes())), ("data.tar.gz", noise)]),
                413,
            ),
        ]
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![("/info/../x", 400), ("/info/-x", 400), ("/gems/a%20b-1.0.gem", 400), ("/nothing", 404)]
    }
}
