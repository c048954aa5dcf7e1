//! VS Code extensions built in memory (laid out as `vsce package` writes
//! them: `extension.vsixmanifest`, `[Content_Types].xml`, `extension/...`),
//! uploads as the user guide's `curl` sends them, and two fake upstreams:
//! an OpenVSX server (its REST API, files with their `.sha256`) and a VS
//! Code gallery (`extensionquery`, `vspackage` downloads).

use std::io::Write;

use axum::http::Method;
use serde_json::{Value, json};
use sha2::Digest;

use super::fake::{Answer, FakeUpstream, File, Protocol};
use super::fixture::{BAD_INPUT_LIMIT, BadRequest, Fixture, Payload, Reply, noise};

/// A PNG's first bytes: enough for an icon.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// The `extension.vsixmanifest` of a release, as `vsce` writes it.
pub fn manifest_xml(publisher: &str, name: &str, version: &str, platform: Option<&str>, icon: &str) -> String {
    let target = platform.map(|p| format!(" TargetPlatform=\"{p}\"")).unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011" xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">
  <Metadata>
    <Identity Language="en-US" Id="{name}" Version="{version}" Publisher="{publisher}"{target}/>
    <DisplayName>{name} &amp; friends</DisplayName>
    <Description xml:space="preserve">The {name} extension</Description>
    <Tags>testing,demo</Tags>
    <Categories>Other</Categories>
    <GalleryFlags>Public</GalleryFlags>
    <Properties>
      <Property Id="Microsoft.VisualStudio.Code.Engine" Value="^1.80.0" />
      <Property Id="Microsoft.VisualStudio.Code.ExtensionDependencies" Value="" />
      <Property Id="Microsoft.VisualStudio.Code.ExtensionPack" Value="" />
      <Property Id="Microsoft.VisualStudio.Code.ExtensionKind" Value="workspace" />
    </Properties>
    <License>extension/LICENSE.txt</License>
    <Icon>{icon}</Icon>
  </Metadata>
  <Installation>
    <InstallationTarget Id="Microsoft.VisualStudio.Code"/>
  </Installation>
  <Dependencies/>
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Content.Details" Path="extension/README.md" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Content.Changelog" Path="extension/CHANGELOG.md" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Content.License" Path="extension/LICENSE.txt" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Icons.Default" Path="{icon}" Addressable="true" />
  </Assets>
</PackageManifest>
"#
    )
}

pub fn package_json(publisher: &str, name: &str, version: &str) -> Value {
    json!({
        "name": name, "publisher": publisher, "version": version, "displayName": name,
        "description": format!("The {name} extension"), "engines": {"vscode": "^1.80.0"},
        "categories": ["Other"], "license": "MIT", "main": "./extension.js",
        "repository": {"type": "git", "url": "https://git.example/ext.git"},
        "extensionDependencies": [],
    })
}

pub fn zip_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

/// A VSIX of these manifests and the usual files.
pub fn vsix_with(manifest: &str, package: &Value, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let version = package["version"].as_str().unwrap_or("0.0.0");
    let mut members: Vec<(&str, Vec<u8>)> = vec![
        ("extension.vsixmanifest", manifest.as_bytes().to_vec()),
        ("[Content_Types].xml", br#"<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension=".json" ContentType="application/json"/></Types>"#.to_vec()),
        ("extension/package.json", serde_json::to_vec_pretty(package).expect("json")),
        ("extension/README.md", format!("# Read me\n\nVersion {version}\n").into_bytes()),
        ("extension/CHANGELOG.md", format!("## {version}\n- things\n").into_bytes()),
        ("extension/LICENSE.txt", b"MIT License\n".to_vec()),
        ("extension/extension.js", format!("exports.activate = () => '{version}';\n").into_bytes()),
    ];
    members.extend(extra.iter().map(|(n, d)| (*n, d.clone())));
    zip_of(&members)
}

/// A VSIX of `publisher.name` `version` (`platform`: `None` for universal).
pub fn vsix(publisher: &str, name: &str, version: &str, platform: Option<&str>) -> Vec<u8> {
    vsix_with(
        &manifest_xml(publisher, name, version, platform, "extension/icon.png"),
        &package_json(publisher, name, version),
        &[("extension/icon.png", PNG.to_vec())],
    )
}

/// `vsix` of an id `publisher.name`.
pub fn vsix_of(id: &str, version: &str, platform: Option<&str>) -> Vec<u8> {
    let (p, n) = id.split_once('.').expect("an id");
    vsix(p, n, version, platform)
}

/// `PUT {registry}/{id}/{version}/vsix` (the user guide's curl).
pub async fn put(
    c: &reqwest::Client,
    reg: &str,
    token: Option<&str>,
    id: &str,
    version: &str,
    query: &str,
    bytes: Vec<u8>,
) -> Reply {
    let mut r = c
        .put(format!("{reg}/{id}/{version}/vsix{query}"))
        .header("content-type", "application/octet-stream")
        .body(bytes);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    Reply::of(r.send().await.expect("put")).await
}

/// Files are held as `{platform}/{id}-{version}.vsix`.
fn platform_of(f: &File) -> &str {
    f.filename.split('/').next().unwrap_or("universal")
}

fn newest<'a>(files: &[&'a File]) -> Option<&'a File> {
    files.iter().copied().max_by(|a, b| {
        let v = |f: &File| semver::Version::parse(&f.version).unwrap_or_else(|_| semver::Version::new(0, 0, 0));
        v(a).cmp(&v(b))
    })
}

/// A fake OpenVSX server: `api/{ns}/{ext}[/{platform}][/{version}]`,
/// `files/{file}` and `files/{file}.sha256`.
pub struct OpenVsxProtocol;

pub type FakeOpenVsx = FakeUpstream<OpenVsxProtocol>;

impl FakeUpstream<OpenVsxProtocol> {
    pub async fn start() -> FakeOpenVsx {
        FakeUpstream::serve(OpenVsxProtocol).await
    }

    pub fn add_release(&self, id: &str, version: &str, platform: Option<&str>, bytes: Vec<u8>) {
        let p = platform.unwrap_or("universal");
        self.add_file(id, version, &format!("{p}/{}-{version}.vsix", id.to_ascii_lowercase()), bytes);
    }
}

impl Protocol for OpenVsxProtocol {
    fn answer(&self, files: &[File], base: &str, method: &Method, path: &str, _body: &[u8]) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return Answer::NotFound;
        }
        let path = path.trim_start_matches('/');
        if let Some(file) = path.strip_prefix("files/") {
            if let Some(vsix) = file.strip_suffix(".sha256") {
                return match files.iter().find(|f| f.filename == vsix) {
                    Some(f) => Answer::Document {
                        content_type: "text/plain",
                        body: hex::encode(sha2::Sha256::digest(&f.bytes)).into_bytes(),
                    },
                    None => Answer::NotFound,
                };
            }
            return match files.iter().find(|f| f.filename == file) {
                Some(f) => Answer::Artifact(f.bytes.clone()),
                None => Answer::NotFound,
            };
        }
        let segs: Vec<&str> = path.split('/').collect();
        let ["api", ns, ext, rest @ ..] = segs.as_slice() else { return Answer::NotFound };
        let id = format!("{ns}.{ext}");
        let mine: Vec<&File> = files.iter().filter(|f| f.package.eq_ignore_ascii_case(&id)).collect();
        let (platform, version) = match rest {
            [] => (None, None),
            [p, v] => (Some(*p), Some(*v)),
            [v] if v.contains('.') => (None, Some(*v)),
            [p] => (Some(*p), None),
            _ => return Answer::NotFound,
        };
        let on: Vec<&File> = mine.iter().copied().filter(|f| platform.is_none_or(|p| platform_of(f) == p)).collect();
        let chosen = match version {
            Some(v) => on.iter().copied().find(|f| f.version == v),
            None => newest(&on),
        };
        let Some(f) = chosen else { return Answer::NotFound };
        let at = f.artifact_base.clone().unwrap_or_else(|| base.to_string());
        let mut all = serde_json::Map::new();
        for other in &mine {
            all.insert(other.version.clone(), json!(format!("{base}/api/{ns}/{ext}/{}", other.version)));
        }
        let mut files_doc = json!({
            "download": format!("{at}/files/{}", f.filename),
        });
        if f.advertise_digest {
            files_doc["sha256"] = json!(format!("{base}/files/{}.sha256", f.filename));
        }
        let mut body = json!({
            "namespace": ns, "name": ext, "version": f.version, "targetPlatform": platform_of(f),
            "timestamp": f.published_or("2024-01-02T03:04:05.000Z"), "displayName": ext, "description": "upstream extension",
            "engines": {"vscode": "^1.80.0"}, "files": files_doc, "allVersions": all, "versionAlias": ["latest"],
            "allTargetPlatformVersions": mine.iter().map(|o| json!({"version": o.version, "targetPlatforms": [platform_of(o)]})).collect::<Vec<_>>(),
        });
        if let Some(l) = &f.licence {
            body["license"] = json!(l);
        }
        Answer::Document { content_type: "application/json", body: serde_json::to_vec(&body).expect("json") }
    }
}

/// A fake VS Code gallery: `POST extensionquery` (by name) and
/// `vspackage/{file}`.
pub struct GalleryProtocol;

pub type FakeGallery = FakeUpstream<GalleryProtocol>;

impl FakeUpstream<GalleryProtocol> {
    pub async fn start() -> FakeGallery {
        FakeUpstream::serve(GalleryProtocol).await
    }

    pub fn add_release(&self, id: &str, version: &str, platform: Option<&str>, bytes: Vec<u8>) {
        let p = platform.unwrap_or("universal");
        self.add_file(id, version, &format!("{p}/{}-{version}.vsix", id.to_ascii_lowercase()), bytes);
    }
}

impl Protocol for GalleryProtocol {
    fn answer(&self, files: &[File], base: &str, method: &Method, path: &str, body: &[u8]) -> Answer {
        let path = path.trim_start_matches('/');
        if let Some(file) = path.strip_prefix("vspackage/") {
            return match files.iter().find(|f| f.filename == file) {
                Some(f) => Answer::Artifact(f.bytes.clone()),
                None => Answer::NotFound,
            };
        }
        if path != "extensionquery" || method != Method::POST {
            return Answer::NotFound;
        }
        let q: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let name = q["filters"][0]["criteria"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["filterType"] == 7))
            .and_then(|c| c["value"].as_str())
            .unwrap_or("")
            .to_string();
        let mine: Vec<&File> = files.iter().filter(|f| f.package.eq_ignore_ascii_case(&name)).collect();
        let extensions: Vec<Value> = if mine.is_empty() {
            Vec::new()
        } else {
            let (p, n) = name.split_once('.').unwrap_or(("", ""));
            let versions: Vec<Value> = mine
                .iter()
                .map(|f| {
                    let at = f.artifact_base.clone().unwrap_or_else(|| base.to_string());
                    let mut v = json!({
                        "version": f.version, "lastUpdated": f.published_or("2024-01-02T03:04:05.000Z"),
                        "files": [{"assetType": "Microsoft.VisualStudio.Services.VSIXPackage", "source": format!("{at}/vspackage/{}", f.filename)}],
                        "properties": [{"key": "Microsoft.VisualStudio.Code.Engine", "value": "^1.80.0"}],
                    });
                    if platform_of(f) != "universal" {
                        v["targetPlatform"] = json!(platform_of(f));
                    }
                    v
                })
                .collect();
            vec![json!({"extensionName": n, "displayName": n, "shortDescription": "upstream extension",
                "publisher": {"publisherName": p, "displayName": p}, "versions": versions})]
        };
        let body = json!({"results": [{"extensions": extensions, "resultMetadata": []}]});
        Answer::Document { content_type: "application/json", body: serde_json::to_vec(&body).expect("json") }
    }
}

fn error_message(reply: &Reply) -> Option<String> {
    let json =
        reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("application/json");
    let v: Value = serde_json::from_str(&reply.body).ok()?;
    let m = v["error"].as_str()?.to_string();
    (json && !m.is_empty()).then_some(m)
}

fn name(stem: &str, claimed: bool) -> String {
    let stem = stem.to_ascii_lowercase();
    if claimed { format!("team.{stem}") } else { format!("free.{stem}") }
}

async fn publish(c: &reqwest::Client, registry_url: &str, token: Option<&str>, name: &str, version: &str) -> Reply {
    put(c, registry_url, token, name, version, "", vsix_of(name, version, None)).await
}

fn listing(name: &str) -> String {
    let (p, n) = name.split_once('.').unwrap_or((name, ""));
    format!("/api/{p}/{n}")
}

fn artifact(name: &str, version: &str) -> String {
    format!("/{name}/{version}/vsix")
}

/// The extensions `api/-/search` lists.
async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
    let mut r = c.get(format!("{registry_url}/api/-/search?size=100"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let Ok(resp) = r.send().await else { return Vec::new() };
    if !resp.status().is_success() {
        return Vec::new();
    }
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    v["extensions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| format!("{}.{}", e["namespace"].as_str().unwrap_or(""), e["name"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

fn bad_publishes(stem: &str) -> Vec<BadRequest> {
    let id = name(stem, false);
    let (p, n) = id.split_once('.').expect("id");
    let put = |what: &'static str, path: String, bytes: Vec<u8>, status: u16| BadRequest {
        what,
        method: reqwest::Method::PUT,
        path,
        payload: Payload::Raw { content_type: "application/octet-stream", bytes },
        status,
    };
    let here = format!("/{id}/1.0.0/vsix");
    let good_manifest = manifest_xml(p, n, "1.0.0", None, "extension/icon.png");
    let pkg = package_json(p, n, "1.0.0");
    let with = |m: &str, pk: &Value| vsix_with(m, pk, &[]);
    let xxe = good_manifest
        .replacen("<PackageManifest", "<!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<PackageManifest", 1)
        .replace("The ", "&x; ");
    let mut other = pkg.clone();
    other["name"] = json!("someone-else");
    let mut bad_dep = pkg.clone();
    bad_dep["extensionDependencies"] = json!(["not an id"]);
    let big = noise(BAD_INPUT_LIMIT as usize * 2).into_bytes();
    // 32 MiB of zeros in about 32 KiB of deflate: a README past its limit.
    let bomb = vsix_with(&good_manifest, &pkg, &[]);
    let bomb = {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bomb)).expect("zip");
        let mut members = Vec::new();
        for i in 0..z.len() {
            let mut f = z.by_index(i).expect("entry");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).expect("read");
            let name = f.name().to_string();
            members.push((name, data));
        }
        for m in members.iter_mut().filter(|(n, _)| n == "extension/README.md") {
            m.1 = vec![0u8; 32 << 20];
        }
        zip_of(&members.iter().map(|(n, d)| (n.as_str(), d.clone())).collect::<Vec<_>>())
    };
    vec![
        put("not a zip", here.clone(), b"plain text, not a VSIX".to_vec(), 400),
        put("zip without a manifest", here.clone(), zip_of(&[("extension/package.json", b"{}".to_vec())]), 400),
        put("manifest with an external entity", here.clone(), with(&xxe, &pkg), 400),
        put("manifest not XML", here.clone(), with("<PackageManifest><Metadata>", &pkg), 400),
        put("manifest without an identity", here.clone(), with("<PackageManifest/>", &pkg), 400),
        put(
            "no package.json",
            here.clone(),
            zip_of(&[("extension.vsixmanifest", good_manifest.clone().into_bytes())]),
            400,
        ),
        put(
            "package.json not JSON",
            here.clone(),
            zip_of(&[
                ("extension.vsixmanifest", good_manifest.clone().into_bytes()),
                ("extension/package.json", b"{nope".to_vec()),
            ]),
            400,
        ),
        put("package.json names another extension", here.clone(), with(&good_manifest, &other), 400),
        put("a dependency that is not an id", here.clone(), with(&good_manifest, &bad_dep), 400),
        put(
            "the URL names another extension",
            format!("/free.other{}/1.0.0/vsix", stem.to_ascii_lowercase()),
            vsix_of(&id, "1.0.0", None),
            400,
        ),
        put("the URL names another version", format!("/{id}/2.0.0/vsix"), vsix_of(&id, "1.0.0", None), 400),
        put("a lying platform", format!("{here}?targetPlatform=linux-x64"), vsix_of(&id, "1.0.0", None), 400),
        put("an unknown platform", here.clone(), vsix_of(&id, "1.0.0", Some("mars-x64")), 400),
        put(
            "traversal in an entry",
            here.clone(),
            vsix_with(&good_manifest, &pkg, &[("../evil.sh", b"x".to_vec())]),
            400,
        ),
        put("an absolute entry", here.clone(), vsix_with(&good_manifest, &pkg, &[("/etc/evil", b"x".to_vec())]), 400),
        put("a README bomb", here.clone(), bomb, 400),
        put("oversized", here, vsix_with(&good_manifest, &pkg, &[("extension/big.txt", big)]), 413),
    ]
}

fn bad_paths() -> Vec<(&'static str, u16)> {
    vec![
        ("/free.x/../vsix", 400),
        ("/nodot/1.0.0/vsix", 400),
        ("/free.x/1.0/vsix", 400),
        ("/free.x/1.0.0/vsix?targetPlatform=mars-x64", 400),
        ("/api/free/x%20y", 400),
        ("/api/free/x/1.0.0/file/secret.txt", 404),
        ("/nothing", 404),
    ]
}

/// One fixture per registry type: the two differ in their upstream.
macro_rules! vsx_fixture {
    ($fixture:ident, $type:literal, $proto:ty, $digests:expr, $licences:expr) => {
        pub struct $fixture;

        impl Fixture for $fixture {
            const LICENCES: bool = $licences;
            const TYPE: &'static str = $type;
            const CLAIM: &'static str = "team.";
            const CLAIM_SPELLINGS: &'static [&'static str] = &["TEAM.", "Team."];
            const DIGESTS: bool = $digests;
            type Proto = $proto;

            fn name(stem: &str, claimed: bool) -> String {
                name(stem, claimed)
            }

            async fn publish(
                c: &reqwest::Client,
                registry_url: &str,
                token: Option<&str>,
                name: &str,
                version: &str,
            ) -> Reply {
                publish(c, registry_url, token, name, version).await
            }

            fn listing(name: &str) -> String {
                listing(name)
            }

            fn artifact(name: &str, version: &str) -> String {
                artifact(name, version)
            }

            async fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>) -> Vec<String> {
                search(c, registry_url, token).await
            }

            fn error_message(reply: &Reply) -> Option<String> {
                error_message(reply)
            }

            async fn upstream() -> FakeUpstream<$proto> {
                FakeUpstream::serve(<$proto>::default()).await
            }

            fn upstream_url(fake: &FakeUpstream<$proto>) -> String {
                fake.url.clone()
            }

            fn seed(fake: &FakeUpstream<$proto>, name: &str, version: &str) -> Vec<u8> {
                let bytes = vsix_of(name, version, None);
                fake.add_release(name, version, None, bytes.clone());
                bytes
            }

            fn bad_publishes(stem: &str) -> Vec<BadRequest> {
                bad_publishes(stem)
            }

            fn bad_paths() -> Vec<(&'static str, u16)> {
                bad_paths()
            }
        }
    };
}

impl Default for OpenVsxProtocol {
    fn default() -> Self {
        OpenVsxProtocol
    }
}

impl Default for GalleryProtocol {
    fn default() -> Self {
        GalleryProtocol
    }
}

vsx_fixture!(OpenVsxFixture, "openvsx", OpenVsxProtocol, true, true);
vsx_fixture!(MarketplaceFixture, "vscode-marketplace", GalleryProtocol, false, false);
