//! Module zips built in memory, publishes as the user guide's `curl` sends
//! them, and a fake GOPROXY upstream.

use std::io::Write;

use axum::http::Method;
use sha2::{Digest, Sha256};

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply, noise};

/// `X` → `!x`: the GOPROXY protocol's case encoding.
pub fn escape(s: &str) -> String {
    batlehub::ecosystems::go::names::escape(s)
}

/// A suite's plain version as a module version of a path without a major
/// suffix: `1.0.0` → `v1.0.0`, `9.0.0` → `v9.0.0+incompatible`.
pub fn v(version: &str) -> String {
    if version.starts_with('v') {
        return version.to_string();
    }
    let major: u64 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major >= 2 { format!("v{version}+incompatible") } else { format!("v{version}") }
}

pub fn go_mod(module: &str, extra: &str) -> String {
    format!("module {module}\n\ngo 1.21\n{extra}")
}

/// A module zip of `module`@`version` holding `files` (relative names).
pub fn zip_of(module: &str, version: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        w.start_file(format!("{module}@{version}/{name}"), opts).expect("start");
        w.write_all(data.as_bytes()).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// A module with a go.mod and one Go file whose package is the last path
/// element.
pub fn module_zip(module: &str, version: &str) -> Vec<u8> {
    let pkg: String = module
        .rsplit('/')
        .find(|e| !(e.starts_with('v') && e[1..].chars().all(|c| c.is_ascii_digit())))
        .unwrap_or("m")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    let gm = go_mod(module, "");
    let src = format!("package {pkg}\n\nconst Version = \"{version}\"\n");
    let file = format!("{pkg}.go");
    if version.ends_with("+incompatible") {
        // From before modules: no go.mod.
        return zip_of(module, version, &[(&file, src.as_str())]);
    }
    zip_of(module, version, &[("go.mod", gm.as_str()), (&file, src.as_str())])
}

/// `zip` with its entry `…/a.go` renamed `…/b.go` (zip writers refuse to
/// write a name twice; the go command refuses to read one).
pub fn duplicated(mut zip: Vec<u8>) -> Vec<u8> {
    let (from, to) = (b"/a.go", b"/b.go");
    let at: Vec<usize> = zip.windows(from.len()).enumerate().filter(|(_, w)| w == from).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 2, "one local and one central header name");
    for i in at {
        zip[i..i + to.len()].copy_from_slice(to);
    }
    zip
}

/// `PUT {registry}/{module}/@v/{version}.zip` as the user guide's `curl`.
pub async fn publish_zip(
    c: &reqwest::Client,
    reg: &str,
    token: Option<&str>,
    module: &str,
    version: &str,
    zip: Vec<u8>,
) -> Reply {
    let mut r = c
        .put(format!("{reg}/{}/@v/{}.zip", escape(module), escape(version)))
        .header("content-type", "application/zip")
        .body(zip);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    Reply::of(r.send().await.expect("put")).await
}

/// A fake GOPROXY: `{module}/@v/list`, `.info`, `.mod`, `.zip`, `@latest`
/// for the zips it holds (file name `{version}.zip`), and a checksum
/// database's paths under `/sumdb/` from files named `sumdb:{path}`.
pub struct GoProtocol;

pub type FakeGoproxy = FakeUpstream<GoProtocol>;

impl FakeUpstream<GoProtocol> {
    pub async fn start() -> FakeGoproxy {
        FakeUpstream::serve(GoProtocol).await
    }

    /// Hold `module`@`version` (its zip).
    pub fn add_module(&self, module: &str, version: &str, zip: Vec<u8>) {
        self.add_file(module, version, &format!("{version}.zip"), zip);
    }
}

impl Protocol for GoProtocol {
    fn answer(&self, files: &[File], _base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET {
            return Answer::NotFound;
        }
        if let Some(rest) = path.strip_prefix("/sumdb/") {
            return match files.iter().find(|f| f.filename == format!("sumdb:{rest}")) {
                Some(f) if rest.contains("/tile/") => Answer::Artifact(f.bytes.clone()),
                Some(f) => Answer::Document { content_type: "text/plain; charset=utf-8", body: f.bytes.clone() },
                None => Answer::NotFound,
            };
        }
        let unescape = |s: &str| batlehub::ecosystems::go::names::unescape(s);
        if let Some(m) = path.strip_prefix('/').and_then(|p| p.strip_suffix("/@latest")) {
            let Some(module) = unescape(m) else { return Answer::NotFound };
            let mut versions: Vec<&File> = files.iter().filter(|f| f.package == module).collect();
            versions.sort_by(|a, b| a.version.cmp(&b.version));
            return match versions.last() {
                Some(f) => Answer::Document {
                    content_type: "application/json",
                    body: format!("{{\"Version\":\"{}\",\"Time\":\"2024-01-01T00:00:00Z\"}}", f.version).into_bytes(),
                },
                None => Answer::NotFound,
            };
        }
        let Some((m, file)) = path.strip_prefix('/').and_then(|p| p.split_once("/@v/")) else {
            return Answer::NotFound;
        };
        let Some(module) = unescape(m) else { return Answer::NotFound };
        let of_module: Vec<&File> = files.iter().filter(|f| f.package == module).collect();
        if file == "list" {
            if of_module.is_empty() {
                return Answer::NotFound;
            }
            let body: String = of_module.iter().map(|f| format!("{}\n", f.version)).collect();
            return Answer::Document { content_type: "text/plain; charset=utf-8", body: body.into_bytes() };
        }
        let Some((version, ext)) = file.rsplit_once('.') else { return Answer::NotFound };
        let Some(version) = unescape(version) else { return Answer::NotFound };
        let Some(f) = of_module.iter().find(|f| f.version == version) else { return Answer::NotFound };
        match ext {
            "zip" => Answer::Artifact(f.bytes.clone()),
            "info" => Answer::Artifact(match f.published_or("2024-01-01T00:00:00Z") {
                Some(t) => format!("{{\"Version\":\"{version}\",\"Time\":\"{t}\"}}").into_bytes(),
                None => format!("{{\"Version\":\"{version}\"}}").into_bytes(),
            }),
            "mod" => Answer::Artifact(go_mod(&module, "").into_bytes()),
            _ => Answer::NotFound,
        }
    }
}

/// Go for the shared suites.
pub struct GoFixture;

impl Fixture for GoFixture {
    const OSV_ECOSYSTEM: Option<&'static str> = Some("Go");

    fn listed_version(version: &str) -> String {
        v(version)
    }

    const TYPE: &'static str = "goproxy";
    const CLAIM: &'static str = "example.com/team/";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["EXAMPLE.com/Team/", "example.COM/TEAM/"];
    const SEARCH: bool = false;
    const LINKED_ARTIFACTS: bool = false;
    const DIGESTS: bool = false;
    type Proto = GoProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        if claimed { format!("example.com/team/{stem}") } else { format!("example.com/free/{stem}") }
    }

    async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
        let version = v(version);
        publish_zip(c, registry_url, token, name, &version, module_zip(name, &version)).await
    }

    fn exact_range(version: &str) -> String {
        v(version)
    }

    fn listing(name: &str) -> String {
        format!("/{}/@v/list", escape(name))
    }

    fn artifact(name: &str, version: &str) -> String {
        format!("/{}/@v/{}.zip", escape(name), escape(&v(version)))
    }

    async fn search(_c: &reqwest::Client, _registry_url: &str, _token: Option<&str>) -> Vec<String> {
        Vec::new()
    }

    /// Plain text, printed by the go command after the status.
    fn error_message(reply: &Reply) -> Option<String> {
        let plain =
            reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/plain");
        let message = reply.body.trim();
        (plain && !message.is_empty()).then(|| message.to_string())
    }

    async fn upstream() -> FakeGoproxy {
        FakeGoproxy::start().await
    }

    fn upstream_url(fake: &FakeGoproxy) -> String {
        fake.url.clone()
    }

    fn seed(fake: &FakeGoproxy, name: &str, version: &str) -> Vec<u8> {
        let version = v(version);
        let zip = module_zip(name, &version);
        fake.add_module(name, &version, zip.clone());
        zip
    }

    fn bad_publishes(stem: &str) -> Vec<BadRequest> {
        let name = Self::name(stem, false);
        let put = |what: &'static str, module: &str, version: &str, bytes: Vec<u8>, status: u16| BadRequest {
            what,
            method: reqwest::Method::PUT,
            path: format!("/{}/@v/{}.zip", escape(module), escape(version)),
            payload: Payload::Raw { content_type: "application/zip", bytes },
            status,
        };
        let gm = go_mod(&name, "");
        let prefix = |f: &str| format!("{name}@v1.0.0/{f}");
        let raw = |entries: &[(String, &str)]| {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default();
            for (n, d) in entries {
                w.start_file(n.as_str(), opts).expect("start");
                w.write_all(d.as_bytes()).expect("write");
            }
            w.finish().expect("finish").into_inner()
        };
        vec![
            put("not a zip", &name, "v1.0.0", b"not a zip at all".to_vec(), 400),
            put("wrong prefix", &name, "v1.0.0", zip_of("example.com/other", "v1.0.0", &[("go.mod", &gm)]), 400),
            put("traversal", &name, "v1.0.0", raw(&[(prefix("go.mod"), &gm), (prefix("../evil.go"), "x")]), 400),
            put(
                "case collision",
                &name,
                "v1.0.0",
                raw(&[(prefix("go.mod"), &gm), (prefix("A.go"), "x"), (prefix("a.go"), "y")]),
                400,
            ),
            put(
                "duplicate entries",
                &name,
                "v1.0.0",
                duplicated(raw(&[(prefix("go.mod"), &gm), (prefix("b.go"), "x"), (prefix("a.go"), "y")])),
                400,
            ),
            put("no go.mod", &name, "v1.0.0", raw(&[(prefix("a.go"), "package a")]), 400),
            put(
                "go.mod of another module",
                &name,
                "v1.0.0",
                raw(&[(prefix("go.mod"), "module example.com/else\n")]),
                400,
            ),
            put("v2 without /v2", &name, "v2.0.0", zip_of(&name, "v2.0.0", &[("go.mod", &gm)]), 400),
            put("bad version", &name, "1.0.0", module_zip(&name, "v1.0.0"), 400),
            put("bad module path", "Example.com/x", "v1.0.0", module_zip("example.com/x", "v1.0.0"), 400),
            put(
                "oversized",
                &name,
                "v1.0.0",
                zip_of(&name, "v1.0.0", &[("go.mod", &gm), ("big.txt", &noise(BAD_INPUT_LIMIT as usize * 3))]),
                413,
            ),
        ]
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/example.com/../etc/@v/list", 400),
            ("/example.com/%2e%2e/x/@v/list", 400),
            ("/example.com/Upper/@v/list", 400),
            ("/example.com/m/@v/v1.0.0%00.zip", 400),
            ("/example.com/m/@v/../../x.zip", 400),
            ("/nothing", 404),
        ]
    }
}

/// A checksum database (the go command's "sumdb" transparency log) for
/// tests: records of `module version h1:...` lines, a Merkle tree over
/// them stored as one partial tile, and tree heads signed with an Ed25519
/// test key, laid out as files of a [`FakeGoproxy`] under
/// `/sumdb/{name}/`, as an upstream proxy that forwards a checksum database
/// serves them.
pub struct FakeSumdb {
    pub name: String,
    key: ring::signature::Ed25519KeyPair,
}

fn record_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 6962's Merkle tree hash over leaf hashes.
fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let mut k = 1;
    while k * 2 < leaves.len() {
        k *= 2;
    }
    node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
}

impl FakeSumdb {
    pub fn new(name: &str) -> FakeSumdb {
        let key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("test key");
        FakeSumdb { name: name.to_string(), key }
    }

    fn key_hash(&self) -> [u8; 4] {
        use ring::signature::KeyPair;
        let mut h = Sha256::new();
        h.update(format!("{}\n", self.name).as_bytes());
        h.update([1u8]);
        h.update(self.key.public_key().as_ref());
        let d: [u8; 32] = h.finalize().into();
        [d[0], d[1], d[2], d[3]]
    }

    /// The verifier key, as `GOSUMDB` takes it: `name+hash+key`.
    pub fn verifier_key(&self) -> String {
        use base64::Engine;
        use ring::signature::KeyPair;
        let mut key = vec![1u8];
        key.extend_from_slice(self.key.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("{}+{}+{}", self.name, hex::encode(self.key_hash()), b64.encode(key))
    }

    /// Lay out the log of `entries` (module, version, zip h1, go.mod h1) in
    /// `fake`.
    pub fn serve(&self, fake: &FakeGoproxy, entries: &[(&str, &str, &str, &str)]) {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let records: Vec<String> =
            entries.iter().map(|(m, v, h1, mod_h1)| format!("{m} {v} {h1}\n{m} {v}/go.mod {mod_h1}\n")).collect();
        let leaves: Vec<[u8; 32]> = records.iter().map(|r| record_hash(r.as_bytes())).collect();
        let n = leaves.len();
        let text = format!("go.sum database tree\n{n}\n{}\n", b64.encode(tree_hash(&leaves)));
        let mut sig = self.key_hash().to_vec();
        sig.extend_from_slice(self.key.sign(text.as_bytes()).as_ref());
        let note = format!("{text}\n\u{2014} {} {}\n", self.name, b64.encode(sig));
        let name = &self.name;
        fake.add_file("", "", &format!("sumdb:{name}/supported"), Vec::new());
        fake.add_file("", "", &format!("sumdb:{name}/latest"), note.clone().into_bytes());
        fake.add_file("", "", &format!("sumdb:{name}/tile/8/0/000.p/{n}"), leaves.concat());
        fake.add_file("", "", &format!("sumdb:{name}/tile/8/data/000.p/{n}"), records.concat().into_bytes());
        for (id, ((m, v, ..), record)) in entries.iter().zip(&records).enumerate() {
            let lookup = format!("sumdb:{name}/lookup/{}@{}", escape(m), escape(v));
            fake.add_file("", "", &lookup, format!("{id}\n{record}\n{note}").into_bytes());
        }
    }
}
