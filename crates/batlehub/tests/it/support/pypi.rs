//! Wheels and sdists built in memory, multipart uploads as twine sends them,
//! and a fake Simple API upstream.

use std::io::Write;

use axum::http::Method;
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};

use super::fake::{Answer, FakeUpstream, File, Protocol};

pub fn metadata(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: the {name} project\nRequires-Python: >=3.8\n\n"
    )
}

/// A wheel whose module is the project name with `-` as `_`.
pub fn wheel(name: &str, version: &str) -> Vec<u8> {
    let module = name.replace(['-', '.'], "_").to_lowercase();
    let dist = format!("{}-{version}.dist-info", name.replace(['-', '.'], "_"));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file(format!("{module}/__init__.py"), opts).expect("start");
    w.write_all(format!("NAME = {name:?}\nVERSION = {version:?}\n").as_bytes()).expect("write");
    w.start_file(format!("{dist}/METADATA"), opts).expect("start");
    w.write_all(metadata(name, version).as_bytes()).expect("write");
    w.start_file(format!("{dist}/WHEEL"), opts).expect("start");
    w.write_all(b"Wheel-Version: 1.0\nGenerator: batlehub-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        .expect("write");
    w.start_file(format!("{dist}/RECORD"), opts).expect("start");
    w.write_all(format!("{module}/__init__.py,,\n{dist}/METADATA,,\n{dist}/WHEEL,,\n{dist}/RECORD,,\n").as_bytes())
        .expect("write");
    w.finish().expect("finish").into_inner()
}

pub fn wheel_name(name: &str, version: &str) -> String {
    format!("{}-{version}-py3-none-any.whl", name.replace(['-', '.'], "_"))
}

pub fn sdist(name: &str, version: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let top = format!("{}-{version}", name.replace(['-', '.'], "_"));
    for (path, data) in [
        (format!("{top}/PKG-INFO"), metadata(name, version)),
        (format!("{top}/setup.py"), "raise SystemExit('not for building')\n".to_string()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_bytes()).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz")
}

pub fn sdist_name(name: &str, version: &str) -> String {
    format!("{}-{version}.tar.gz", name.replace(['-', '.'], "_"))
}

pub fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A twine-style multipart form.
pub fn form(
    name: &str,
    version: &str,
    filename: &str,
    content: &[u8],
    extra: &[(&str, &str)],
) -> reqwest::multipart::Form {
    let filetype = if filename.ends_with(".whl") { "bdist_wheel" } else { "sdist" };
    let mut f = reqwest::multipart::Form::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("metadata_version", "2.1")
        .text("name", name.to_string())
        .text("version", version.to_string())
        .text("filetype", filetype)
        .text("pyversion", if filetype == "sdist" { "source" } else { "py3" })
        .text("summary", format!("the {name} project"))
        .text("requires_python", ">=3.8")
        .text("sha256_digest", sha256(content));
    for (k, v) in extra {
        f = f.text(k.to_string(), v.to_string());
    }
    f.part(
        "content",
        reqwest::multipart::Part::bytes(content.to_vec())
            .file_name(filename.to_string())
            .mime_str("application/octet-stream")
            .expect("mime"),
    )
}

pub async fn upload(
    c: &reqwest::Client,
    reg: &str,
    token: &str,
    name: &str,
    version: &str,
    filename: &str,
    content: &[u8],
) -> (u16, String) {
    let r = c
        .post(format!("{reg}/legacy/"))
        .basic_auth("__token__", Some(token))
        .multipart(form(name, version, filename, content, &[]))
        .send()
        .await
        .expect("upload");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// A fake Simple API: `/simple/{project}/` in HTML (relative links) or
/// JSON, files at `/files/{filename}` with `.metadata` for wheels, on the
/// shared fake upstream skeleton.
pub struct PypiProtocol {
    json: bool,
}

pub type FakeSimple = FakeUpstream<PypiProtocol>;

impl FakeUpstream<PypiProtocol> {
    pub async fn start(json: bool) -> FakeSimple {
        FakeUpstream::serve(PypiProtocol { json }).await
    }

    pub fn simple(&self) -> String {
        format!("{}/simple/", self.url)
    }

    pub fn add(&self, project: &str, filename: &str, bytes: Vec<u8>) {
        let version = filename.split('-').nth(1).unwrap_or("").trim_end_matches(".tar.gz").to_string();
        self.add_file(project, &version, filename, bytes);
    }
}

impl Protocol for PypiProtocol {
    fn answer(&self, files: &[File], _base: &str, _method: &Method, path: &str, _body: &[u8]) -> Answer {
        if let Some(project) = path.strip_prefix("/simple/").and_then(|p| p.strip_suffix('/')) {
            let files: Vec<&File> = files.iter().filter(|f| f.package == project).collect();
            if files.is_empty() {
                return Answer::NotFound;
            }
            if self.json {
                let fs: Vec<serde_json::Value> = files
                    .iter()
                    .map(|File { filename: f, bytes: b, artifact_base, advertise_digest, published, .. }| {
                        let meta = f.ends_with(".whl").then(|| {
                            let name = f.split('-').next().unwrap_or("");
                            let version = f.split('-').nth(1).unwrap_or("");
                            serde_json::json!({"sha256": sha256(metadata(name, version).as_bytes())})
                        });
                        let url = match artifact_base {
                            Some(other) => format!("{other}/files/{f}"),
                            None => format!("../../files/{f}"),
                        };
                        let hashes = if *advertise_digest { serde_json::json!({"sha256": sha256(b)}) } else { serde_json::json!({}) };
                        let mut file = serde_json::json!({"filename": f, "url": url, "hashes": hashes,
                            "requires-python": ">=3.8", "core-metadata": meta.unwrap_or(serde_json::json!(false)), "size": b.len()});
                        if let Some(t) = published.as_deref().filter(|t| !t.is_empty()) {
                            file["upload-time"] = serde_json::json!(t);
                        }
                        file
                    })
                    .collect();
                let doc =
                    serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "versions": [], "files": fs});
                return Answer::Document {
                    content_type: "application/vnd.pypi.simple.v1+json",
                    body: doc.to_string().into_bytes(),
                };
            }
            let mut html = String::from("<!DOCTYPE html><html><body>\n");
            for File { filename: f, bytes: b, artifact_base, advertise_digest, .. } in files {
                let meta = if f.ends_with(".whl") {
                    let name = f.split('-').next().unwrap_or("");
                    let version = f.split('-').nth(1).unwrap_or("");
                    format!(" data-dist-info-metadata=\"sha256={}\"", sha256(metadata(name, version).as_bytes()))
                } else {
                    String::new()
                };
                // Relative links, as devpi and pypiserver write them.
                let prefix = artifact_base.as_ref().map(|o| format!("{o}/")).unwrap_or_else(|| "../../".into());
                let fragment = if *advertise_digest { format!("#sha256={}", sha256(b)) } else { String::new() };
                html.push_str(&format!(
                    "<a href=\"{prefix}files/{f}{fragment}\" data-requires-python=\"&gt;=3.8\"{meta}>{f}</a><br/>\n"
                ));
            }
            html.push_str("</body></html>\n");
            return Answer::Document { content_type: "text/html", body: html.into_bytes() };
        }
        if let Some(file) = path.strip_prefix("/files/") {
            for f in files {
                if file == f.filename {
                    return Answer::Artifact(f.bytes.clone());
                }
                if file == format!("{}.metadata", f.filename) {
                    // Metadata files are never corrupted.
                    let name = f.filename.split('-').next().unwrap_or("");
                    let version = f.filename.split('-').nth(1).unwrap_or("");
                    return Answer::Other(metadata(name, version).into_response());
                }
            }
        }
        Answer::NotFound
    }
}

/// PyPI for the shared suites.
pub struct PypiFixture;

impl super::fixture::Fixture for PypiFixture {
    const OSV_ECOSYSTEM: Option<&'static str> = Some("PyPI");

    fn exact_range(version: &str) -> String {
        format!("=={version}")
    }

    const TYPE: &'static str = "pypi";
    const CLAIM: &'static str = "team-";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM_", "Team."];
    type Proto = PypiProtocol;

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
        let mut r = c.post(format!("{registry_url}/legacy/")).multipart(form(
            name,
            version,
            &wheel_name(name, version),
            &wheel(name, version),
            &[],
        ));
        if let Some(t) = token {
            // As twine sends it.
            r = r.basic_auth("__token__", Some(t));
        }
        super::fixture::Reply::of(r.send().await.expect("upload")).await
    }

    fn listing(name: &str) -> String {
        format!("/simple/{name}/")
    }

    fn artifact(name: &str, version: &str) -> String {
        format!("/packages/{name}/{}", wheel_name(name, version))
    }

    async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
        let mut r = c.get(format!("{registry_url}/simple/")).header("accept", "application/vnd.pypi.simple.v1+json");
        if let Some(t) = token {
            r = r.basic_auth("__token__", Some(t));
        }
        let found: serde_json::Value = r.send().await.expect("list").json().await.expect("json");
        let mut names: Vec<String> = found["projects"]
            .as_array()
            .map(|a| a.iter().filter_map(|o| o["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Plain text, the message also the reason phrase (what twine prints).
    fn error_message(reply: &super::fixture::Reply) -> Option<String> {
        let plain =
            reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/plain");
        let message = reply.body.trim();
        (plain && !message.is_empty()).then(|| message.to_string())
    }

    async fn upstream() -> FakeSimple {
        FakeSimple::start(true).await
    }

    fn upstream_url(fake: &FakeSimple) -> String {
        fake.simple()
    }

    fn seed(fake: &FakeSimple, name: &str, version: &str) -> Vec<u8> {
        let w = wheel(name, version);
        fake.add(name, &wheel_name(name, version), w.clone());
        w
    }

    fn bad_publishes(stem: &str) -> Vec<super::fixture::BadRequest> {
        use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Payload};
        let name = &Self::name(stem, false);
        let other = &Self::name(&format!("{stem}-other"), false);
        let w = wheel(name, "1.0");
        let garbage_multipart = Payload::Raw {
            content_type: "multipart/form-data; boundary=XYZ",
            bytes: b"--XYZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ndemo\r\n--XY".to_vec(),
        };
        let cases: Vec<(&'static str, Payload, u16)> = vec![
            (
                "file name for another project",
                Payload::Form(form(name, "1.0", &wheel_name(other, "1.0"), &w, &[])),
                400,
            ),
            ("file name for another version", Payload::Form(form(name, "1.0", &wheel_name(name, "2.0"), &w, &[])), 400),
            (
                "content of another project",
                Payload::Form(form(name, "1.0", &wheel_name(name, "1.0"), &wheel(other, "1.0"), &[])),
                400,
            ),
            (
                "not a wheel at all",
                Payload::Form(form(name, "1.0", &wheel_name(name, "1.0"), b"garbage bytes", &[])),
                400,
            ),
            ("not an sdist", Payload::Form(form(name, "1.0", &sdist_name(name, "1.0"), b"garbage", &[])), 400),
            (
                "bad PEP 440 version",
                Payload::Form(form(name, "one.two", &format!("{name}-one.two.tar.gz"), &sdist(name, "1.0"), &[])),
                400,
            ),
            (
                "invalid project name",
                Payload::Form(form("-demo-", "1.0", &sdist_name(name, "1.0"), &sdist(name, "1.0"), &[])),
                400,
            ),
            (
                "traversal in the file name",
                Payload::Form(form(name, "1.0", &format!("../../{name}-1.0.tar.gz"), &sdist(name, "1.0"), &[])),
                400,
            ),
            ("unsupported extension", Payload::Form(form(name, "1.0", &format!("{name}-1.0.exe"), b"MZ", &[])), 400),
            (
                "digest mismatch",
                Payload::Form(form(
                    name,
                    "1.0",
                    &wheel_name(name, "1.0"),
                    &w,
                    &[("md5_digest", "00000000000000000000000000000000")],
                )),
                400,
            ),
            ("malformed multipart", garbage_multipart, 400),
            ("not multipart", Payload::Raw { content_type: "text/plain", bytes: b"not multipart".to_vec() }, 400),
            (
                "oversized",
                Payload::Form(form(
                    name,
                    "1.0",
                    &wheel_name(name, "1.0"),
                    &vec![7u8; BAD_INPUT_LIMIT as usize + 1000],
                    &[],
                )),
                413,
            ),
        ];
        cases
            .into_iter()
            .map(|(what, payload, status)| BadRequest {
                what,
                method: reqwest::Method::POST,
                path: "/legacy/".into(),
                payload,
                status,
            })
            .collect()
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/simple/..%2f..%2fetc/", 400),
            ("/packages/demo/..%2fcatalog.db", 400),
            ("/packages/demo/.hidden", 400),
            ("/packages/..%2f..%2fetc/x.whl", 400),
            ("/simple/a%00b/", 400),
            ("/nothing", 404),
        ]
    }
}
