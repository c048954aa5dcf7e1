//! NuGet packages built in the test, pushes as NuGet clients send them
//! (multipart/form-data, the key in `X-NuGet-ApiKey`), and a fake NuGet v3
//! feed whose layout differs from BatleHub's: found only through its own
//! service index, with nuget.org's shape (hashes only in catalog leaves).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::http::Method;
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply, noise};

/// A `.nuspec`: `extra` goes inside `<metadata>`.
pub fn nuspec(id: &str, version: &str, extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\">\n  <metadata>\n    <id>{id}</id>\n    <version>{version}</version>\n    <authors>tests</authors>\n    <description>the {id} package</description>{extra}\n  </metadata>\n</package>\n"
    )
}

pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (n, d) in entries {
        w.start_file(*n, opts).expect("start");
        w.write_all(d).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// A package: its `.nuspec` (with `extra` metadata) and one content file.
pub fn nupkg(id: &str, version: &str, extra: &str) -> Vec<u8> {
    let spec = nuspec(id, version, extra);
    zip_of(&[
        (&format!("{id}.nuspec"), spec.as_bytes()),
        (&format!("content/{id}.txt"), format!("{id} {version}\n").as_bytes()),
        (
            "[Content_Types].xml",
            b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>",
        ),
    ])
}

/// The multipart form NuGet clients push.
pub fn push_form(bytes: Vec<u8>) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("package.nupkg")
        .mime_str("application/octet-stream")
        .expect("mime");
    reqwest::multipart::Form::new().part("package", part)
}

/// `PUT {registry}/nuget/v2/package/` as NuGet clients push, the key in
/// `X-NuGet-ApiKey`.
pub async fn push(c: &reqwest::Client, reg: &str, key: Option<&str>, bytes: Vec<u8>) -> Reply {
    let mut r = c.put(format!("{reg}/nuget/v2/package/")).multipart(push_form(bytes));
    if let Some(k) = key {
        r = r.header("X-NuGet-ApiKey", k);
    }
    Reply::of(r.send().await.expect("push")).await
}

/// A fake v3 feed. Its service index names the flat container
/// (`/v3-flatcontainer/`, or on the artifact base when one is set), the
/// registrations (`/v3/registration5-semver2/`, pages inlined unless
/// `set_paged`), the search and autocomplete; hashes are in catalog leaves
/// (`/v3/catalog0/data/...`) only.
#[derive(Clone, Default)]
pub struct NugetProtocol {
    own: Arc<OnceLock<String>>,
    paged: Arc<AtomicBool>,
}

pub type FakeNuget = FakeUpstream<NugetProtocol>;

impl FakeUpstream<NugetProtocol> {
    pub async fn start() -> (FakeNuget, NugetProtocol) {
        let proto = NugetProtocol::default();
        let fake = FakeUpstream::serve(proto.clone()).await;
        let _ = proto.own.set(fake.url.clone());
        (fake, proto)
    }
}

impl NugetProtocol {
    /// Registration indexes reference their page instead of inlining it.
    pub fn set_paged(&self, on: bool) {
        self.paged.store(on, Ordering::SeqCst);
    }
}

fn lower(v: &str) -> String {
    v.to_ascii_lowercase()
}

fn doc(v: Value) -> Answer {
    Answer::Document { content_type: "application/json", body: v.to_string().into_bytes() }
}

impl Protocol for NugetProtocol {
    fn answer(&self, files: &[File], base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET {
            return Answer::NotFound;
        }
        let own = self.own.get().cloned().unwrap_or_else(|| base.to_string());
        let of = |lid: &str| -> Vec<&File> { files.iter().filter(|f| lower(&f.package) == lid).collect() };
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segs.as_slice() {
            ["v3", "index.json"] => doc(json!({
                "version": "3.0.0",
                "resources": [
                    {"@id": format!("{base}/v3-flatcontainer/"), "@type": "PackageBaseAddress/3.0.0"},
                    {"@id": format!("{own}/v3/registration5-semver2/"), "@type": "RegistrationsBaseUrl/3.6.0"},
                    {"@id": format!("{own}/v3/query"), "@type": ["SearchQueryService", "SearchQueryService/3.0.0-beta"]},
                    {"@id": format!("{own}/v3/autocomplete"), "@type": "SearchAutocompleteService"},
                ]
            })),
            ["v3-flatcontainer", lid, "index.json"] => {
                let found = of(lid);
                if found.is_empty() {
                    return Answer::NotFound;
                }
                doc(json!({"versions": found.iter().map(|f| lower(&f.version)).collect::<Vec<_>>()}))
            }
            ["v3-flatcontainer", lid, v, file] => {
                let Some(f) = of(lid).into_iter().find(|f| lower(&f.version) == *v) else { return Answer::NotFound };
                if *file == format!("{lid}.{v}.nupkg") {
                    Answer::Artifact(f.bytes.clone())
                } else if *file == format!("{lid}.nuspec") {
                    Answer::Document {
                        content_type: "application/xml",
                        body: nuspec(&f.package, &f.version, "").into_bytes(),
                    }
                } else {
                    Answer::NotFound
                }
            }
            ["v3", "registration5-semver2", lid, rest @ ..] => {
                let found = of(lid);
                if found.is_empty() {
                    return Answer::NotFound;
                }
                let reg = format!("{own}/v3/registration5-semver2/{lid}");
                let leaves: Vec<Value> = found
                    .iter()
                    .map(|f| {
                        let v = lower(&f.version);
                        let mut leaf = json!({
                            "@id": format!("{reg}/{v}.json"),
                            "catalogEntry": {
                                "@id": format!("{own}/v3/catalog0/data/{lid}.{v}.json"),
                                "id": f.package, "version": f.version, "listed": true,
                                "description": "upstream package",
                                "packageContent": format!("{base}/v3-flatcontainer/{lid}/{v}/{lid}.{v}.nupkg"),
                                "dependencyGroups": [{"targetFramework": "netstandard2.0", "dependencies": [
                                    {"id": "Upstream.Dep", "range": "[1.0.0, )", "registration": format!("{own}/v3/registration5-semver2/upstream.dep/index.json")}
                                ]}]
                            },
                            "packageContent": format!("{base}/v3-flatcontainer/{lid}/{v}/{lid}.{v}.nupkg"),
                            "registration": format!("{reg}/index.json"),
                        });
                        if let Some(t) = f.published_or("2024-01-01T00:00:00+00:00") {
                            leaf["catalogEntry"]["published"] = json!(t);
                        }
                        if let Some(l) = &f.licence {
                            leaf["catalogEntry"]["licenseExpression"] = json!(l);
                        }
                        leaf
                    })
                    .collect();
                let (lo, hi) = (lower(&found[0].version), lower(&found[found.len() - 1].version));
                let page_url = format!("{reg}/page/{lo}/{hi}.json");
                let page = json!({"@id": page_url, "count": leaves.len(), "lower": lo, "upper": hi, "items": leaves, "parent": format!("{reg}/index.json")});
                match rest {
                    ["index.json"] if self.paged.load(Ordering::SeqCst) => doc(json!({
                        "@id": format!("{reg}/index.json"), "count": 1,
                        "items": [{"@id": page_url, "count": leaves.len(), "lower": lo, "upper": hi}]
                    })),
                    ["index.json"] => doc(json!({"@id": format!("{reg}/index.json"), "count": 1, "items": [page]})),
                    ["page", _, _] => doc(page),
                    _ => Answer::NotFound,
                }
            }
            ["v3", "catalog0", "data", leaf] => {
                let Some(f) =
                    files.iter().find(|f| *leaf == format!("{}.{}.json", lower(&f.package), lower(&f.version)))
                else {
                    return Answer::NotFound;
                };
                let mut v = json!({"id": f.package, "version": f.version});
                if f.advertise_digest {
                    v["packageHash"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&f.bytes)));
                    v["packageHashAlgorithm"] = json!("SHA512");
                }
                doc(v)
            }
            ["v3", "query"] | ["v3", "autocomplete"] => {
                let mut ids: Vec<String> = files.iter().map(|f| f.package.clone()).collect();
                ids.sort();
                ids.dedup();
                let data: Vec<Value> = ids
                    .iter()
                    .map(|id| {
                        let versions: Vec<Value> = files
                            .iter()
                            .filter(|f| &f.package == id)
                            .map(|f| json!({"version": f.version, "downloads": 1, "@id": format!("{own}/v3/registration5-semver2/{}/{}.json", lower(id), lower(&f.version))}))
                            .collect();
                        json!({"@id": format!("{own}/x"), "registration": format!("{own}/x"), "id": id, "version": versions.last().and_then(|v| v["version"].as_str()), "versions": versions})
                    })
                    .collect();
                if segs[1] == "autocomplete" {
                    return doc(json!({"totalHits": ids.len(), "data": ids}));
                }
                doc(json!({"totalHits": data.len(), "data": data}))
            }
            _ => Answer::NotFound,
        }
    }
}

/// NuGet for the shared suites.
pub struct NugetFixture;

impl Fixture for NugetFixture {
    const LICENCES: bool = true;
    const OSV_ECOSYSTEM: Option<&'static str> = Some("NuGet");

    const TYPE: &'static str = "nuget";
    const CLAIM: &'static str = "team.";
    const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM.", "Team."];
    // Hashes are optional in the protocol: without one, the content check
    // (a package whose .nuspec is the id and version asked for) stands in.
    const DIGESTS: bool = false;
    type Proto = NugetProtocol;

    fn name(stem: &str, claimed: bool) -> String {
        if claimed { format!("team.{stem}") } else { format!("free.{stem}") }
    }

    async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
        push(c, registry_url, token, nupkg(name, version, "")).await
    }

    fn listing(name: &str) -> String {
        format!("/nuget/v3/flat/{name}/index.json")
    }

    fn artifact(name: &str, version: &str) -> String {
        let l = name.to_ascii_lowercase();
        format!("/nuget/v3/flat/{name}/{version}/{l}.{version}.nupkg")
    }

    async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
        let mut r = c.get(format!("{registry_url}/nuget/v3/query?q=&take=100&prerelease=true&semVerLevel=2.0.0"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let found: Value = r.send().await.expect("search").json().await.unwrap_or_default();
        let mut names: Vec<String> = found["data"]
            .as_array()
            .map(|a| a.iter().filter_map(|o| o["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    fn error_message(reply: &Reply) -> Option<String> {
        let ct = reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        let text = reply.body.trim();
        (ct.starts_with("text/plain") && !text.is_empty()).then(|| text.to_string())
    }

    async fn upstream() -> FakeNuget {
        FakeNuget::start().await.0
    }

    fn upstream_url(fake: &FakeNuget) -> String {
        format!("{}/v3/index.json", fake.url)
    }

    fn seed(fake: &FakeNuget, name: &str, version: &str) -> Vec<u8> {
        let bytes = nupkg(name, version, "");
        fake.add_file(name, version, &format!("{}.{version}.nupkg", name.to_ascii_lowercase()), bytes.clone());
        bytes
    }

    fn is_upstream_search(path: &str) -> bool {
        matches!(path, "/v3/index.json" | "/v3/query" | "/v3/autocomplete")
    }

    fn bad_publishes(stem: &str) -> Vec<BadRequest> {
        let id = Self::name(stem, false);
        let put = |what: &'static str, payload: Payload, status: u16| BadRequest {
            what,
            method: reqwest::Method::PUT,
            path: "/nuget/v2/package/".into(),
            payload,
            status,
        };
        let form = |bytes: Vec<u8>| Payload::Form(push_form(bytes));
        let spec = |s: String| zip_of(&[(&format!("{id}.nuspec"), s.as_bytes())]);
        let big = noise(BAD_INPUT_LIMIT as usize * 3);
        let xxe = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE package [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<package><metadata><id>{id}</id><version>1.0.0</version><description>&x;</description></metadata></package>"
        );
        let bomb = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE package [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<package><metadata><id>{id}</id><version>1.0.0</version><description>&b;</description></metadata></package>"
        );
        vec![
            put("not a zip", form(b"not a zip".to_vec()), 400),
            put("no .nuspec", form(zip_of(&[("content/a.txt", b"x")])), 400),
            put("no version", form(spec(nuspec(&id, "", ""))), 400),
            put("bad id", form(nupkg("bad..id", "1.0.0", "")), 400),
            put("bad version", form(nupkg(&id, "one.two", "")), 400),
            put("external entity (XXE)", form(spec(xxe)), 400),
            put("entity expansion", form(spec(bomb)), 400),
            put(
                "traversal entry",
                form(zip_of(&[(&format!("{id}.nuspec"), nuspec(&id, "1.0.0", "").as_bytes()), ("../evil.dll", b"x")])),
                400,
            ),
            put(
                "two manifests",
                form(zip_of(&[
                    ("a.nuspec", nuspec(&id, "1.0.0", "").as_bytes()),
                    ("b.nuspec", nuspec(&id, "2.0.0", "").as_bytes()),
                ])),
                400,
            ),
            put("no package part", Payload::Form(reqwest::multipart::Form::new().text("other", "x")), 400),
            put("not multipart", Payload::Raw { content_type: "multipart/form-data", bytes: b"--x\r\n".to_vec() }, 400),
            put(
                "oversized",
                form(zip_of(&[
                    (&format!("{id}.nuspec"), nuspec(&id, "1.0.0", "").as_bytes()),
                    ("big.txt", big.as_bytes()),
                ])),
                413,
            ),
        ]
    }

    fn bad_paths() -> Vec<(&'static str, u16)> {
        vec![
            ("/nuget/v3/flat/../x/index.json", 400),
            ("/nuget/v3/flat/a%2fb/index.json", 400),
            ("/nuget/v3/flat/a/1.0%00/a.1.0.nupkg", 400),
            ("/nuget/v3/flat/a/one/a.one.nupkg", 400),
            ("/nuget/v3/registration/a..b/index.json", 400),
            ("/nothing", 404),
        ]
    }
}
