//! Maven deploys as mvn sends them (`PUT` of each file, then checksums and
//! metadata), POMs, and a fake Maven 2 repository upstream.

use axum::http::Method;
use sha1::Digest;

use axum::response::IntoResponse;

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply};

/// `com.acme:app` or `com/acme/app` → (`com/acme`, `app`).
pub fn split(name: &str) -> (String, String) {
    if let Some((g, a)) = name.split_once(':') {
        return (g.replace('.', "/"), a.to_string());
    }
    let (g, a) = name.rsplit_once('/').expect("group/artifact");
    (g.to_string(), a.to_string())
}

pub fn pom(group: &str, artifact: &str, version: &str, packaging: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project>\n  <modelVersion>4.0.0</modelVersion>\n  <groupId>{group}</groupId>\n  <artifactId>{artifact}</artifactId>\n  <version>{version}</version>\n  <packaging>{packaging}</packaging>\n</project>\n"
    )
}

/// Deterministic jar-ish bytes.
pub fn jar(name: &str, version: &str) -> Vec<u8> {
    format!("PK fake jar of {name} {version}\n").repeat(8).into_bytes()
}

pub fn sha1_hex(b: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(b))
}

/// `PUT {registry}/{path}` with `bytes`.
pub async fn put(c: &reqwest::Client, reg: &str, token: Option<&str>, path: &str, bytes: Vec<u8>) -> Reply {
    let mut r = c.put(format!("{reg}/{path}")).body(bytes);
    if let Some(t) = token {
        r = r.basic_auth("deployer", Some(t));
    }
    Reply::of(r.send().await.expect("put")).await
}

/// A fake Maven 2 repository: the files it holds at
/// `/{package}/{version}/{filename}` (package a key, `com/acme/app`), their
/// `.sha1` (unless digests are off), and each artifact's
/// `maven-metadata.xml` listing its versions.
pub struct MavenProtocol;

pub type FakeMaven = FakeUpstream<MavenProtocol>;

impl FakeUpstream<MavenProtocol> {
    pub async fn start() -> FakeMaven {
        FakeUpstream::serve(MavenProtocol).await
    }
}

impl Protocol for MavenProtocol {
    fn answer(&self, files: &[File], _base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return Answer::NotFound;
        }
        let path = path.trim_start_matches('/');
        if let Some(dir) = path.strip_suffix("/maven-metadata.xml") {
            let mut versions: Vec<&str> =
                files.iter().filter(|f| f.package == dir).map(|f| f.version.as_str()).collect();
            if versions.is_empty() {
                return Answer::NotFound;
            }
            versions.sort();
            versions.dedup();
            let (g, a) = split(dir);
            let list: String = versions.iter().map(|v| format!("<version>{v}</version>")).collect();
            let body = format!(
                "<metadata><groupId>{}</groupId><artifactId>{a}</artifactId><versioning><versions>{list}</versions></versioning></metadata>",
                g.replace('/', ".")
            );
            return Answer::Document { content_type: "application/xml", body: body.into_bytes() };
        }
        for f in files {
            let at = format!("{}/{}/{}", f.package, f.version, f.filename);
            if path == at {
                return Answer::Artifact(f.bytes.clone());
            }
            // A version's POM, dated (Last-Modified) when it was published.
            let artifact = f.package.rsplit('/').next().unwrap_or("");
            if path == format!("{}/{}/{artifact}-{}.pom", f.package, f.version, f.version)
                && !files
                    .iter()
                    .any(|o| o.package == f.package && o.version == f.version && o.filename.ends_with(".pom"))
            {
                let pom =
                    format!("<project><artifactId>{artifact}</artifactId><version>{}</version></project>", f.version);
                let mut r = (axum::http::StatusCode::OK, pom).into_response();
                if let Some(ms) = f.published_or("2024-01-01T00:00:00Z").and_then(|t| super::epoch_ms_opt(&t)) {
                    let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
                    if let Ok(v) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(when)) {
                        r.headers_mut().insert(axum::http::header::LAST_MODIFIED, v);
                    }
                }
                return Answer::Other(r);
            }
            if path == format!("{at}.sha1") && f.advertise_digest {
                return Answer::Document { content_type: "text/plain", body: sha1_hex(&f.bytes).into_bytes() };
            }
        }
        Answer::NotFound
    }
}

/// Maven for the shared suites.
pub struct MavenFixture;

impl Fixture for MavenFixture {
    const OSV_ECOSYSTEM: Option<&'static str> = Some("Maven");

    /// `com/free/x` is `com.free:x`.
    fn osv_name(name: &str) -> String {
        let (group, artifact) = name.rsplit_once('/').unwrap_or(("", name));
        format!("{}:{artifact}", group.replace('/', "."))
    }

    const TYPE: &'static str = "maven";
    const CLAIM: &'static str = "com/team/";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["com.team", "COM.Team."];
    const SEARCH: bool = false;
    const LINKED_ARTIFACTS: bool = false;
    type Proto = MavenProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        if claimed { format!("com/team/{stem}") } else { format!("com/free/{stem}") }
    }

    /// A jar, as `mvn deploy` sends it first.
    async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
        let (_, a) = split(name);
        put(c, registry_url, token, &format!("{name}/{version}/{a}-{version}.jar"), jar(name, version)).await
    }

    fn listing(name: &str) -> String {
        format!("/{name}/maven-metadata.xml")
    }

    fn artifact(name: &str, version: &str) -> String {
        let (_, a) = split(name);
        format!("/{name}/{version}/{a}-{version}.jar")
    }

    async fn search(_c: &reqwest::Client, _registry_url: &str, _token: Option<&str>) -> Vec<String> {
        Vec::new()
    }

    fn error_message(reply: &Reply) -> Option<String> {
        let plain =
            reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/plain");
        let message = reply.body.trim();
        (plain && !message.is_empty()).then(|| message.to_string())
    }

    async fn upstream() -> FakeMaven {
        FakeMaven::start().await
    }

    fn upstream_url(fake: &FakeMaven) -> String {
        fake.url.clone()
    }

    fn seed(fake: &FakeMaven, name: &str, version: &str) -> Vec<u8> {
        let (_, a) = split(name);
        let bytes = jar(name, version);
        fake.add_file(name, version, &format!("{a}-{version}.jar"), bytes.clone());
        bytes
    }

    fn bad_publishes(stem: &str) -> Vec<BadRequest> {
        let name = Self::name(stem, false);
        let (g, a) = split(&name);
        let group = g.replace('/', ".");
        let put = |what: &'static str, path: String, bytes: Vec<u8>, status: u16| BadRequest {
            what,
            method: reqwest::Method::PUT,
            path,
            payload: Payload::Raw { content_type: "application/octet-stream", bytes },
            status,
        };
        let at = |file: &str| format!("/{name}/1.0/{file}");
        let xxe = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE project [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><project><groupId>{group}</groupId><artifactId>{a}</artifactId><version>1.0</version><name>&x;</name></project>"
        );
        let bomb =
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><project>&lol2;</project>";
        vec![
            put("POM with an external entity", at(&format!("{a}-1.0.pom")), xxe.into_bytes(), 400),
            put("POM with entity expansion", at(&format!("{a}-1.0.pom")), bomb.as_bytes().to_vec(), 400),
            put("malformed POM", at(&format!("{a}-1.0.pom")), b"<project><groupId>x</project>".to_vec(), 400),
            put(
                "POM of other coordinates",
                at(&format!("{a}-1.0.pom")),
                pom(&group, "other", "1.0", "jar").into_bytes(),
                400,
            ),
            put("POM of another version", at(&format!("{a}-1.0.pom")), pom(&group, &a, "2.0", "jar").into_bytes(), 400),
            put("file of another artifact", at("other-1.0.jar"), b"x".to_vec(), 400),
            put("traversal", format!("/{name}/%2e%2e/1.0/{a}-1.0.jar"), b"x".to_vec(), 400),
            put("empty segment", format!("/com//{a}/1.0/{a}-1.0.jar"), b"x".to_vec(), 404),
            put("checksum of nothing deployed", at(&format!("{a}-1.0.jar.sha1")), b"0000".to_vec(), 404),
            put("malformed metadata", format!("/{name}/maven-metadata.xml"), b"<metadata>".to_vec(), 400),
            put("oversized", at(&format!("{a}-1.0.jar")), vec![7u8; BAD_INPUT_LIMIT as usize + 1000], 413),
        ]
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/com/acme/../x/1.0/x-1.0.jar", 400),
            ("/com/acme/app/1.0/other-1.0.jar", 400),
            ("/com/acme/app/1.0/app-1.0.jar%00", 400),
            ("/com//app/1.0/app-1.0.jar", 404),
            ("/nothing", 404),
        ]
    }
}

/// A fake upstream serving a folder laid out as a Maven repository (the
/// machine's local repository, filled by `.ci/run` from the seed project):
/// files as they are, `.sha1` computed when the folder has none.
pub struct DirProtocol {
    pub root: std::path::PathBuf,
}

impl Protocol for DirProtocol {
    fn answer(&self, _files: &[File], _base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return Answer::NotFound;
        }
        let rel = path.trim_start_matches('/');
        if rel.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Answer::NotFound;
        }
        let file = self.root.join(rel);
        if file.is_file() {
            let bytes = std::fs::read(&file).unwrap_or_default();
            return if rel.ends_with(".sha1") || rel.ends_with(".xml") {
                Answer::Document { content_type: "text/plain", body: bytes }
            } else {
                Answer::Artifact(bytes)
            };
        }
        if let Some(of) = rel.strip_suffix(".sha1")
            && let Ok(bytes) = std::fs::read(self.root.join(of))
        {
            return Answer::Document { content_type: "text/plain", body: sha1_hex(&bytes).into_bytes() };
        }
        Answer::NotFound
    }
}
