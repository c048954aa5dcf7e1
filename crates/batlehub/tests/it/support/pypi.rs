//! Wheels and sdists built in memory, multipart uploads as twine sends them,
//! and a fake Simple API upstream.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

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

#[derive(Default)]
struct Inner {
    /// project → [(filename, bytes)]
    projects: HashMap<String, Vec<(String, Vec<u8>)>>,
    hits: HashMap<String, usize>,
    fail: bool,
    corrupt: bool,
    json: bool,
}

/// A fake Simple API: `/simple/{project}/` in HTML (relative links) or
/// JSON, files at `/files/{filename}` with `.metadata` for wheels.
pub struct FakeSimple {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _h: tokio::task::JoinHandle<()>,
}

impl FakeSimple {
    pub async fn start(json: bool) -> FakeSimple {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let inner = Arc::new(Mutex::new(Inner { json, ..Default::default() }));
        let app = Router::new().fallback(serve).with_state(inner.clone());
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSimple { url, inner, _h: h }
    }

    pub fn simple(&self) -> String {
        format!("{}/simple/", self.url)
    }

    pub fn add(&self, project: &str, filename: &str, bytes: Vec<u8>) {
        self.inner
            .lock()
            .expect("lock")
            .projects
            .entry(project.to_string())
            .or_default()
            .push((filename.to_string(), bytes));
    }

    pub fn hits(&self, path: &str) -> usize {
        self.inner.lock().expect("lock").hits.get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.inner.lock().expect("lock").hits.values().sum()
    }

    pub fn set_fail(&self, on: bool) {
        self.inner.lock().expect("lock").fail = on;
    }

    pub fn set_corrupt(&self, on: bool) {
        self.inner.lock().expect("lock").corrupt = on;
    }
}

async fn serve(State(inner): State<Arc<Mutex<Inner>>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let mut i = inner.lock().expect("lock");
    *i.hits.entry(path.clone()).or_default() += 1;
    if i.fail {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    if let Some(project) = path.strip_prefix("/simple/").and_then(|p| p.strip_suffix('/')) {
        let Some(files) = i.projects.get(project) else { return StatusCode::NOT_FOUND.into_response() };
        if i.json {
            let fs: Vec<serde_json::Value> = files
                .iter()
                .map(|(f, b)| {
                    let meta = f.ends_with(".whl").then(|| {
                        let name = f.split('-').next().unwrap_or("");
                        let version = f.split('-').nth(1).unwrap_or("");
                        serde_json::json!({"sha256": sha256(metadata(name, version).as_bytes())})
                    });
                    serde_json::json!({"filename": f, "url": format!("../../files/{f}"), "hashes": {"sha256": sha256(b)},
                        "requires-python": ">=3.8", "core-metadata": meta.unwrap_or(serde_json::json!(false)), "size": b.len()})
                })
                .collect();
            let doc = serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "versions": [], "files": fs});
            return ([(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")], doc.to_string()).into_response();
        }
        let mut html = String::from("<!DOCTYPE html><html><body>\n");
        for (f, b) in files {
            let meta = if f.ends_with(".whl") {
                let name = f.split('-').next().unwrap_or("");
                let version = f.split('-').nth(1).unwrap_or("");
                format!(" data-dist-info-metadata=\"sha256={}\"", sha256(metadata(name, version).as_bytes()))
            } else {
                String::new()
            };
            // Relative links, as devpi and pypiserver write them.
            html.push_str(&format!(
                "<a href=\"../../files/{f}#sha256={}\" data-requires-python=\"&gt;=3.8\"{meta}>{f}</a><br/>\n",
                sha256(b)
            ));
        }
        html.push_str("</body></html>\n");
        return ([(header::CONTENT_TYPE, "text/html")], html).into_response();
    }
    if let Some(file) = path.strip_prefix("/files/") {
        let corrupt = i.corrupt;
        for files in i.projects.values() {
            for (f, b) in files {
                if file == f {
                    let mut b = b.clone();
                    if corrupt {
                        let last = b.len() - 1;
                        b[last] ^= 0xff;
                    }
                    return b.into_response();
                }
                if file == format!("{f}.metadata") {
                    let name = f.split('-').next().unwrap_or("");
                    let version = f.split('-').nth(1).unwrap_or("");
                    return metadata(name, version).into_response();
                }
            }
        }
    }
    StatusCode::NOT_FOUND.into_response()
}
