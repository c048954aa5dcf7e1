//! VS Code extensions in process: the user guide's PUT and GET, platform
//! VSIX under one version, the OpenVSX REST API (extension documents,
//! files, search, query, `ovsx`'s publish with its `?token=` and chunked
//! body), the gallery's `extensionquery` with its flags, assets served out
//! of the VSIX with safe types, yanking, the Upload card, and proxies of an
//! OpenVSX server and of a VS Code gallery.

use serde_json::{Value, json};
use sha2::Digest;

use crate::support::builder::Reg;
use crate::support::fixture::Reply;
use crate::support::vsx::{FakeGallery, FakeOpenVsx, PNG, manifest_xml, package_json, put, vsix, vsix_of, vsix_with};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, snippets, stored_blobs};

async fn get(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("get");
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.bytes().await.expect("body").to_vec())
}

async fn get_json(c: &reqwest::Client, url: &str, token: Option<&str>) -> Value {
    let (status, _, body) = get(c, url, token).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("json")
}

async fn query(c: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Value {
    let mut r = c.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("query");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

fn content_type(h: &reqwest::header::HeaderMap) -> String {
    h.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// The guide's PUT and GET; one version holds a VSIX per platform; the same
/// platform twice is 409; `latest` and `?targetPlatform=` pick the file.
#[tokio::test]
async fn the_guide_put_and_get_with_platforms() {
    let s = TestServer::with(&[Reg::local("openvsx", "internal-ext")], "").await;
    let c = client();
    let reg = s.reg("internal-ext");
    let id = "my-org.my-extension";
    let universal = vsix_of(id, "1.0.0", None);
    let linux = vsix_of(id, "1.0.0", Some("linux-x64"));
    let r = put(&c, &reg, Some(ALICE), id, "1.0.0", "", universal.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let doc: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(doc["targetPlatform"], "universal");
    let r = put(&c, &reg, Some(ALICE), id, "1.0.0", "?targetPlatform=linux-x64", linux.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let again = put(&c, &reg, Some(ALICE), id, "1.0.0", "", universal.clone()).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already published"), "{}", again.body);
    // Another user cannot add to Alice's extension.
    let bob =
        put(&c, &reg, Some(BOB), id, "1.0.0", "?targetPlatform=win32-x64", vsix_of(id, "1.0.0", Some("win32-x64")))
            .await;
    assert_eq!(bob.status, 403, "{}", bob.body);

    let (status, headers, body) = get(&c, &format!("{reg}/{id}/1.0.0/vsix"), Some(BOB)).await;
    assert_eq!((status, body == universal), (200, true));
    let disposition = headers.get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(disposition.contains("my-org.my-extension-1.0.0.vsix"), "{disposition}");
    let (_, _, body) = get(&c, &format!("{reg}/{id}/1.0.0/vsix?targetPlatform=linux-x64"), Some(BOB)).await;
    assert!(body == linux, "the linux-x64 VSIX");
    // A platform without its own VSIX gets the universal one.
    let (_, _, body) = get(&c, &format!("{reg}/{id}/latest/vsix?targetPlatform=darwin-arm64"), Some(BOB)).await;
    assert!(body == universal, "darwin falls back to universal");
    // A newer version is `latest`; an id in another case is the same extension.
    let v2 = vsix_of(id, "1.1.0", None);
    assert_eq!(put(&c, &reg, Some(ALICE), id, "1.1.0", "", v2.clone()).await.status, 201);
    let (status, _, body) = get(&c, &format!("{reg}/My-Org.My-Extension/latest/vsix"), Some(BOB)).await;
    assert_eq!((status, body == v2), (200, true));
    let (status, _, _) = get(&c, &format!("{reg}/{id}/9.9.9/vsix"), Some(BOB)).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&c, &format!("{reg}/{id}/1.0.0/vsix"), None).await;
    assert_eq!(status, 401);
}

/// OpenVSX's documents: the extension (files, allVersions, platforms), its
/// files (the VSIX, its SHA-256, README, changelog, manifest, icon), the
/// namespace, search and query.
#[tokio::test]
async fn the_openvsx_api_describes_and_serves_releases() {
    let s = TestServer::with(&[Reg::local("openvsx", "ext")], "").await;
    let c = client();
    let reg = s.reg("ext");
    let v1 = vsix("acme", "tools", "1.0.0", None);
    assert_eq!(put(&c, &reg, Some(ALICE), "acme.tools", "1.0.0", "", v1.clone()).await.status, 201);
    assert_eq!(
        put(&c, &reg, Some(ALICE), "acme.tools", "1.2.0", "", vsix("acme", "tools", "1.2.0", None)).await.status,
        201
    );
    let arm = vsix("acme", "tools", "1.2.0", Some("linux-arm64"));
    let r = put(&c, &reg, Some(ALICE), "acme.tools", "1.2.0", "?targetPlatform=linux-arm64", arm.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let doc = get_json(&c, &format!("{reg}/api/acme/tools"), Some(BOB)).await;
    assert_eq!(
        (doc["namespace"].as_str(), doc["name"].as_str(), doc["version"].as_str()),
        (Some("acme"), Some("tools"), Some("1.2.0"))
    );
    assert_eq!(doc["targetPlatform"], "universal");
    assert_eq!(doc["displayName"], "tools & friends");
    assert_eq!(doc["engines"]["vscode"], "^1.80.0");
    assert_eq!(doc["categories"], json!(["Other"]));
    let versions: Vec<&String> = doc["allVersions"].as_object().expect("allVersions").keys().collect();
    assert_eq!(versions, vec!["latest", "1.2.0", "1.0.0"], "{doc}");
    let platforms = doc["allTargetPlatformVersions"].as_array().expect("platforms");
    assert_eq!(platforms[0], json!({"version": "1.2.0", "targetPlatforms": ["linux-arm64", "universal"]}));
    for (key, _) in doc["files"].as_object().expect("files") {
        let url = doc["files"][key].as_str().expect("url");
        assert!(url.starts_with(&reg), "{key}: {url}");
    }
    // The download, and its SHA-256.
    let old = get_json(&c, &format!("{reg}/api/acme/tools/1.0.0"), Some(BOB)).await;
    let (status, _, body) = get(&c, old["files"]["download"].as_str().expect("download"), Some(BOB)).await;
    assert_eq!((status, body == v1), (200, true));
    let (_, _, sha) = get(&c, old["files"]["sha256"].as_str().expect("sha256"), Some(BOB)).await;
    assert_eq!(String::from_utf8_lossy(&sha), hex::encode(sha2::Sha256::digest(&v1)));
    // Assets with their types: the README as markdown, the icon as a PNG.
    let (status, headers, body) = get(&c, old["files"]["readme"].as_str().expect("readme"), Some(BOB)).await;
    assert_eq!(status, 200);
    assert!(content_type(&headers).starts_with("text/markdown"), "{headers:?}");
    assert_eq!(String::from_utf8_lossy(&body), "# Read me\n\nVersion 1.0.0\n");
    let (_, headers, body) = get(&c, old["files"]["icon"].as_str().expect("icon"), Some(BOB)).await;
    assert_eq!((content_type(&headers).as_str(), body.as_slice()), ("image/png", PNG));
    let (_, headers, body) = get(&c, old["files"]["manifest"].as_str().expect("manifest"), Some(BOB)).await;
    assert_eq!(content_type(&headers), "application/json");
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json")["version"], "1.0.0");
    assert!(old["files"]["changelog"].is_string());
    // The platform document and its file.
    let doc = get_json(&c, &format!("{reg}/api/acme/tools/linux-arm64/1.2.0"), Some(BOB)).await;
    assert_eq!(doc["targetPlatform"], "linux-arm64");
    let (_, _, body) = get(&c, doc["files"]["download"].as_str().expect("download"), Some(BOB)).await;
    assert!(body == arm, "the platform's own VSIX");

    let ns = get_json(&c, &format!("{reg}/api/acme"), Some(BOB)).await;
    assert!(ns["extensions"]["tools"].is_string(), "{ns}");
    let found = get_json(&c, &format!("{reg}/api/-/search?query=tools"), Some(BOB)).await;
    assert_eq!(found["totalSize"], 1);
    assert_eq!(found["extensions"][0]["version"], "1.2.0");
    let none = get_json(&c, &format!("{reg}/api/-/search?query=nothing-like-it"), Some(BOB)).await;
    assert_eq!(none["totalSize"], 0);
    let q = get_json(&c, &format!("{reg}/api/-/query?extensionId=acme.tools&extensionVersion=1.0.0"), Some(BOB)).await;
    assert_eq!(q["extensions"][0]["version"], "1.0.0");
    let q = get_json(&c, &format!("{reg}/api/-/query?extensionId=acme.tools&includeAllVersions=true"), Some(BOB)).await;
    assert_eq!(q["extensions"].as_array().map(Vec::len), Some(3));
}

/// An SVG icon is never served as an image from the registry's origin.
#[tokio::test]
async fn svg_icons_are_never_served_as_images() {
    let s = TestServer::with(&[Reg::local("openvsx", "ext")], "").await;
    let c = client();
    let reg = s.reg("ext");
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#.to_vec();
    let bytes = vsix_with(
        &manifest_xml("acme", "svg", "1.0.0", None, "extension/icon.svg"),
        &package_json("acme", "svg", "1.0.0"),
        &[("extension/icon.svg", svg.clone())],
    );
    assert_eq!(put(&c, &reg, Some(ALICE), "acme.svg", "1.0.0", "", bytes).await.status, 201);
    for url in [
        format!("{reg}/api/acme/svg/1.0.0/file/icon"),
        format!("{reg}/vscode/asset/acme/svg/1.0.0/Microsoft.VisualStudio.Services.Icons.Default"),
    ] {
        let (status, headers, body) = get(&c, &url, Some(BOB)).await;
        assert_eq!((status, body == svg), (200, true), "{url}");
        let ct = content_type(&headers);
        assert!(!ct.contains("svg") && !ct.starts_with("image/"), "{url}: {ct}");
        let disposition = headers.get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(disposition.starts_with("attachment"), "{url}: {disposition}");
        let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("sandbox"), "{url}: {csp}");
    }
}

/// `ovsx publish`: the token in the query (only on this route), the VSIX
/// as a chunked body; the answer names the platform.
#[tokio::test]
async fn ovsx_publish_takes_the_token_in_the_query_and_a_chunked_body() {
    let s = TestServer::with(&[Reg::local("vscode-marketplace", "ext")], "").await;
    let c = client();
    let reg = s.reg("ext");
    let bytes = vsix("acme", "chunky", "0.1.0", Some("win32-x64"));
    let chunked = |b: Vec<u8>| {
        reqwest::Body::wrap_stream(futures_util::stream::iter(
            b.chunks(1000).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
        ))
    };
    let r = c.post(format!("{reg}/api/-/publish")).body(chunked(bytes.clone())).send().await.expect("post");
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{reg}/api/-/publish?token={ALICE}"))
        .header("content-type", "application/octet-stream")
        .body(chunked(bytes.clone()))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.expect("json");
    assert_eq!((doc["namespace"].as_str(), doc["name"].as_str()), (Some("acme"), Some("chunky")));
    assert_eq!((doc["version"].as_str(), doc["targetPlatform"].as_str()), (Some("0.1.0"), Some("win32-x64")));
    let again =
        Reply::of(c.post(format!("{reg}/api/-/publish?token={ALICE}")).body(bytes.clone()).send().await.expect("post"))
            .await;
    assert_eq!(again.status, 409);
    assert!(
        serde_json::from_str::<Value>(&again.body).expect("json")["error"]
            .as_str()
            .is_some_and(|m| m.contains("already"))
    );
    // The query token is not a credential anywhere else.
    let (status, _, _) =
        get(&c, &format!("{reg}/acme.chunky/0.1.0/vsix?targetPlatform=win32-x64&token={BOB}"), None).await;
    assert_eq!(status, 401);
    let (status, _, body) = get(&c, &format!("{reg}/acme.chunky/0.1.0/vsix?targetPlatform=win32-x64"), Some(BOB)).await;
    assert_eq!((status, body == bytes), (200, true));
}

/// The gallery's `extensionquery`: by name, by search text, with the flags'
/// shape; its file URLs and asset URI serve the release.
#[tokio::test]
async fn the_gallery_answers_extension_queries() {
    let s = TestServer::with(&[Reg::local("openvsx", "ext").open_read()], "").await;
    let c = client();
    let reg = s.reg("ext");
    let v1 = vsix("acme", "gallery", "1.0.0", None);
    let v2 = vsix("acme", "gallery", "2.0.0", None);
    assert_eq!(put(&c, &reg, Some(ALICE), "acme.gallery", "1.0.0", "", v1).await.status, 201);
    assert_eq!(put(&c, &reg, Some(ALICE), "acme.gallery", "2.0.0", "", v2.clone()).await.status, 201);
    assert_eq!(
        put(&c, &reg, Some(ALICE), "acme.other", "1.0.0", "", vsix("acme", "other", "1.0.0", None)).await.status,
        201
    );
    let by_name = |flags: u64| {
        json!({"filters": [{"criteria": [{"filterType": 7, "value": "ACME.gallery"}, {"filterType": 8, "value": "Microsoft.VisualStudio.Code"}],
               "pageNumber": 1, "pageSize": 50}], "assetTypes": [], "flags": flags})
    };
    // VS Code's install query: every version, files, properties, asset URI (anonymously: VS Code sends no credentials).
    let url = format!("{reg}/vscode/gallery/extensionquery");
    let r = query(&c, &url, None, by_name(0x1 | 0x2 | 0x10 | 0x80)).await;
    let ext = &r["results"][0]["extensions"][0];
    assert_eq!(
        (ext["extensionName"].as_str(), ext["publisher"]["publisherName"].as_str()),
        (Some("gallery"), Some("acme"))
    );
    let versions = ext["versions"].as_array().expect("versions");
    assert_eq!(
        versions.iter().map(|v| v["version"].as_str().unwrap_or("")).collect::<Vec<_>>(),
        vec!["2.0.0", "1.0.0"]
    );
    assert_eq!(r["results"][0]["resultMetadata"][0]["metadataItems"][0]["count"], 1);
    let latest = &versions[0];
    let engine = latest["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .find(|p| p["key"] == "Microsoft.VisualStudio.Code.Engine");
    assert_eq!(engine.map(|p| p["value"].clone()), Some(json!("^1.80.0")));
    let source = |t: &str| {
        latest["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["assetType"] == t)
            .and_then(|f| f["source"].as_str())
            .map(str::to_string)
    };
    let (status, _, body) = get(&c, &source("Microsoft.VisualStudio.Services.VSIXPackage").expect("vsix"), None).await;
    assert_eq!((status, body == v2), (200, true));
    let (status, _, body) = get(&c, &source("Microsoft.VisualStudio.Code.Manifest").expect("manifest"), None).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json")["version"], "2.0.0");
    let asset_uri = latest["assetUri"].as_str().expect("assetUri");
    let (status, headers, _) =
        get(&c, &format!("{asset_uri}/Microsoft.VisualStudio.Services.Content.Details"), None).await;
    assert_eq!(status, 200);
    assert!(content_type(&headers).starts_with("text/markdown"));
    let (status, _, body) =
        get(&c, &format!("{reg}/vscode/unpkg/acme/gallery/2.0.0/extension/package.json"), None).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json")["name"], "gallery");
    // Without IncludeFiles or IncludeVersionProperties, neither is there;
    // IncludeLatestVersionOnly keeps one version.
    let r = query(&c, &url, None, by_name(0x200)).await;
    let only = r["results"][0]["extensions"][0]["versions"].as_array().expect("versions").clone();
    assert_eq!(only.len(), 1);
    assert!(only[0].get("files").is_none() && only[0].get("properties").is_none(), "{only:?}");
    // Search text, at the guide's serviceUrl (the registry root) too.
    let text = json!({"filters": [{"criteria": [{"filterType": 10, "value": "other"}], "pageNumber": 1, "pageSize": 10}], "flags": 0x200});
    let r = query(&c, &format!("{reg}/extensionquery"), None, text).await;
    let names: Vec<&str> = r["results"][0]["extensions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["extensionName"].as_str())
        .collect();
    assert_eq!(names, vec!["other"]);
    // By the gallery id it gave.
    let guid = ext["extensionId"].as_str().expect("id").to_string();
    let by_id = json!({"filters": [{"criteria": [{"filterType": 4, "value": guid}]}], "flags": 0x200});
    let r = query(&c, &format!("{reg}/_apis/public/gallery/extensionquery"), None, by_id).await;
    assert_eq!(r["results"][0]["extensions"][0]["extensionName"], "gallery");
    let bad = c.post(&url).body("{not json").send().await.expect("post");
    assert_eq!(bad.status(), 400);
}

/// A yanked version is gone from downloads and listings; only its owner
/// may yank.
#[tokio::test]
async fn yanked_versions_are_gone() {
    let s = TestServer::with(&[Reg::local("openvsx", "ext")], "").await;
    let c = client();
    let reg = s.reg("ext");
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(put(&c, &reg, Some(ALICE), "acme.yank", v, "", vsix("acme", "yank", v, None)).await.status, 201);
    }
    let bob = c.delete(format!("{reg}/acme.yank/1.1.0/vsix")).bearer_auth(BOB).send().await.expect("delete");
    assert_eq!(bob.status(), 403);
    let r = c.delete(format!("{reg}/acme.yank/1.1.0/vsix")).bearer_auth(ALICE).send().await.expect("delete");
    assert_eq!(r.status(), 200);
    assert_eq!(get(&c, &format!("{reg}/acme.yank/1.1.0/vsix"), Some(BOB)).await.0, 404);
    let doc = get_json(&c, &format!("{reg}/api/acme/yank"), Some(BOB)).await;
    assert_eq!(doc["version"], "1.0.0");
    assert!(doc["allVersions"].get("1.1.0").is_none(), "{doc}");
}

/// The Upload card takes a VSIX with its id and version, which must be
/// the VSIX's own.
#[tokio::test]
async fn the_upload_card_takes_a_vsix_with_its_id_and_version() {
    let s = TestServer::with(&[Reg::local("openvsx", "ext").open_read()], "").await;
    let card = |bytes: Vec<u8>, id: &'static str, version: &'static str| {
        let s = &s;
        async move {
            crate::support::upload_card(s, ALICE, "ext", "x.vsix", bytes, &[("extension", id), ("version", version)])
                .await
        }
    };
    let (status, page) = card(b"not a vsix".to_vec(), "acme.card", "1.0.0").await;
    assert_eq!(status, 400, "{page}");
    let (status, page) = card(vsix("acme", "card", "1.0.0", None), "acme.other", "1.0.0").await;
    assert_eq!(status, 400, "{page}");
    let (status, page) = card(vsix("acme", "card", "1.0.0", None), "acme.card", "2.0.0").await;
    assert_eq!(status, 400, "{page}");
    let (status, page) = card(vsix("acme", "card", "1.0.0", None), "acme.card", "1.0.0").await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Published acme.card 1.0.0"), "{page}");
    assert_eq!(get(&client(), &format!("{}/acme.card/1.0.0/vsix", s.reg("ext")), None).await.0, 200);
}

/// A proxy of an OpenVSX server: its documents rewritten to point here,
/// its VSIX verified against its SHA-256 and cached; the gallery finds its
/// extensions by name; a hybrid's local ids never go upstream.
#[tokio::test]
async fn an_openvsx_upstream_is_proxied_and_verified() {
    let up = FakeOpenVsx::start().await;
    let bytes = vsix("ms-python", "python", "2024.2.1", None);
    up.add_release("ms-python.python", "2024.2.1", None, bytes.clone());
    up.add_release("ms-python.python", "2024.0.0", None, vsix("ms-python", "python", "2024.0.0", None));
    let s = TestServer::with(&[Reg::hybrid("openvsx", "vscode", &up.url).open_read()], "").await;
    let c = client();
    let reg = s.reg("vscode");
    // The guide's download.
    let (status, _, body) = get(&c, &format!("{reg}/ms-python.python/2024.2.1/vsix"), Some(BOB)).await;
    assert_eq!((status, body == bytes), (200, true));
    let hits = up.total_hits();
    let (_, _, body) = get(&c, &format!("{reg}/ms-python.python/2024.2.1/vsix"), Some(BOB)).await;
    assert!(body == bytes);
    assert_eq!(up.total_hits(), hits, "the second download is a cache hit");
    assert_eq!(stored_blobs(&s).await.len(), 1);
    // The document points here, never upstream.
    let (status, _, raw) = get(&c, &format!("{reg}/api/ms-python/python"), None).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains(&up.url), "{text}");
    let doc: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(doc["version"], "2024.2.1");
    assert!(doc["allVersions"].get("2024.0.0").is_some(), "{doc}");
    let (status, _, body) = get(&c, doc["files"]["download"].as_str().expect("download"), None).await;
    assert_eq!((status, body == bytes), (200, true));
    // The gallery by name.
    let q = json!({"filters": [{"criteria": [{"filterType": 7, "value": "ms-python.python"}]}], "flags": 0x1 | 0x2});
    let r = query(&c, &format!("{reg}/vscode/gallery/extensionquery"), None, q).await;
    assert_eq!(r["results"][0]["extensions"][0]["versions"].as_array().map(Vec::len), Some(2), "{r}");
    // A VSIX that is not the release asked for is refused and not kept.
    up.add_release("ms-python.liar", "1.0.0", None, vsix("ms-python", "python", "1.0.0", None));
    let (status, _, body) = get(&c, &format!("{reg}/ms-python.liar/1.0.0/vsix"), None).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert_eq!(stored_blobs(&s).await.len(), 1);
    // A local id shadows the upstream's and is never asked there.
    let before = up.total_hits();
    assert_eq!(
        put(&c, &reg, Some(ADMIN), "acme.local", "1.0.0", "", vsix("acme", "local", "1.0.0", None)).await.status,
        201
    );
    up.add_release("acme.local", "9.0.0", None, vsix("acme", "local", "9.0.0", None));
    let asked = up.total_hits();
    assert_eq!(get(&c, &format!("{reg}/acme.local/latest/vsix"), None).await.0, 200);
    assert_eq!(get(&c, &format!("{reg}/acme.local/9.0.0/vsix"), None).await.0, 404);
    assert_eq!(get_json(&c, &format!("{reg}/api/acme/local"), None).await["version"], "1.0.0");
    assert_eq!(up.total_hits(), asked, "a local id went upstream");
    assert!(asked > before, "the first publish asked the upstream whether it serves the id");
}

/// A proxy of a VS Code gallery (type `vscode-marketplace`): its
/// `extensionquery` read, its `vspackage` downloads checked and cached.
#[tokio::test]
async fn a_gallery_upstream_is_proxied() {
    let up = FakeGallery::start().await;
    let bytes = vsix("redhat", "yaml", "1.14.0", Some("linux-x64"));
    up.add_release("redhat.yaml", "1.14.0", Some("linux-x64"), bytes.clone());
    let s = TestServer::with(&[Reg::proxy("vscode-marketplace", "market", &up.url).open_read()], "").await;
    let c = client();
    let reg = s.reg("market");
    let (status, _, body) = get(&c, &format!("{reg}/redhat.yaml/1.14.0/vsix?targetPlatform=linux-x64"), None).await;
    assert_eq!((status, body == bytes), (200, true));
    assert_eq!(get(&c, &format!("{reg}/redhat.yaml/1.14.0/vsix?targetPlatform=win32-x64"), None).await.0, 404);
    let doc = get_json(&c, &format!("{reg}/api/redhat/yaml/linux-x64"), None).await;
    assert_eq!((doc["version"].as_str(), doc["targetPlatform"].as_str()), (Some("1.14.0"), Some("linux-x64")));
    let q = json!({"filters": [{"criteria": [{"filterType": 7, "value": "redhat.yaml"}]}], "flags": 0x1 | 0x2 | 0x80});
    let r = query(&c, &format!("{reg}/vscode/gallery/extensionquery"), None, q).await;
    let v = &r["results"][0]["extensions"][0]["versions"][0];
    assert_eq!(v["targetPlatform"], "linux-x64");
    let src = v["files"][0]["source"].as_str().expect("source");
    assert!(src.starts_with(&reg), "{src}");
    assert_eq!(get(&c, src, None).await.2, bytes);
    assert_eq!(get(&c, &format!("{reg}/nobody.nothing/1.0.0/vsix"), None).await.0, 404);
}

/// The Setup Guide: the user guide's serviceUrl, the gallery, install and
/// publish snippets.
#[tokio::test]
async fn the_setup_guide_has_the_guide_snippets() {
    let s = TestServer::with(&[Reg::local("openvsx", "openvsx")], "").await;
    let all = snippets(&s, "openvsx");
    let body = |id: &str| all.iter().find(|x| x.id == id).map(|x| x.body.clone()).unwrap_or_else(|| panic!("no {id}"));
    let reg = s.reg("openvsx");
    assert!(body("vsx-settings").contains(&format!("\"vscode-extension-marketplace.serviceUrl\": \"{reg}\"")));
    assert!(body("vsx-gallery").contains(&format!("\"serviceUrl\": \"{reg}/vscode/gallery\"")));
    assert!(body("vsx-install").contains("code --install-extension"));
    assert!(body("vsx-publish").contains(&format!("{reg}/my-org.my-extension/1.0.0/vsix")));
}
