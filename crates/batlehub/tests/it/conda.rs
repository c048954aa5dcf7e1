//! Conda channels in process: the user guide's upload and its `curl` check,
//! repodata in every form (JSON, `.zst`, `.bz2`, GET and HEAD) current at
//! the very next read, several builds and both formats of one version, the
//! subdir check, 409, every subdir answering (sharded repodata 404),
//! `channeldata.json`, the guide's group layout (upload to
//! `my-private-conda`, read through `my-conda`), and a hybrid channel whose
//! local names shadow the upstream's while the upstream's packages are
//! served verified.

use std::io::Read;

use serde_json::Value;
use sha2::Digest;

use crate::support::builder::Reg;
use crate::support::conda::{FakeChannel, conda_pkg, tar_bz2_pkg, upload};
use crate::support::{ALICE, BOB, TestServer, client};

async fn get_bytes(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.expect("get");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().await.expect("body").to_vec())
}

/// A subdir's repodata in each of its three forms, decompressed; all three
/// must be the same document.
async fn repodata(c: &reqwest::Client, reg: &str, subdir: &str, token: Option<&str>) -> Value {
    let (status, headers, json) = get_bytes(c, &format!("{reg}/{subdir}/repodata.json"), token).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&json));
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let (status, _, zst) = get_bytes(c, &format!("{reg}/{subdir}/repodata.json.zst"), token).await;
    assert_eq!(status, 200);
    assert_eq!(zstd::decode_all(zst.as_slice()).expect("zstd"), json, ".zst is the same document");
    let (status, _, bz2) = get_bytes(c, &format!("{reg}/{subdir}/repodata.json.bz2"), token).await;
    assert_eq!(status, 200);
    let mut out = Vec::new();
    bzip2::read::BzDecoder::new(bz2.as_slice()).read_to_end(&mut out).expect("bz2");
    assert_eq!(out, json, ".bz2 is the same document");
    serde_json::from_slice(&json).expect("repodata is JSON")
}

fn files(doc: &Value, section: &str) -> Vec<String> {
    let mut v: Vec<String> = doc[section].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn uploads_are_in_every_form_of_repodata_at_once() {
    let s = TestServer::with(&[Reg::local("conda", "my-private-conda")], "").await;
    let c = client();
    let reg = s.reg("my-private-conda");
    // An empty channel: every subdir answers, noarch included.
    for subdir in ["noarch", "linux-64", "osx-arm64"] {
        let doc = repodata(&c, &reg, subdir, Some(BOB)).await;
        assert_eq!(doc["info"]["subdir"], subdir);
        assert!(files(&doc, "packages").is_empty() && files(&doc, "packages.conda").is_empty());
    }
    // The guide's upload: a .tar.bz2 to linux-64.
    let tarball = tar_bz2_pkg("my-pkg", "1.0.0", "py311h0_0", "linux-64", &["python >=3.11", "numpy"]);
    let r = upload(&c, &reg, "linux-64", Some(ALICE), tarball.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let doc = repodata(&c, &reg, "linux-64", Some(BOB)).await;
    assert_eq!(files(&doc, "packages"), vec!["my-pkg-1.0.0-py311h0_0.tar.bz2"]);
    let rec = &doc["packages"]["my-pkg-1.0.0-py311h0_0.tar.bz2"];
    assert_eq!(rec["name"], "my-pkg");
    assert_eq!(rec["version"], "1.0.0");
    assert_eq!(rec["build"], "py311h0_0");
    assert_eq!(rec["depends"], serde_json::json!(["python >=3.11", "numpy"]));
    assert_eq!(rec["sha256"], hex::encode(sha2::Sha256::digest(&tarball)));
    assert_eq!(rec["md5"], hex::encode(md5::Md5::digest(&tarball)));
    assert_eq!(rec["size"], tarball.len());
    // A second build and the .conda form of the same version: one version,
    // every file listed, in the very next read of each form (the .zst and
    // .bz2 read above are not kept past the change).
    let conda = conda_pkg("my-pkg", "1.0.0", "py312h0_0", "linux-64", &["python >=3.12"]);
    assert_eq!(upload(&c, &reg, "linux-64", Some(ALICE), conda.clone()).await.status, 201);
    let doc = repodata(&c, &reg, "linux-64", Some(BOB)).await;
    assert_eq!(files(&doc, "packages.conda"), vec!["my-pkg-1.0.0-py312h0_0.conda"]);
    assert_eq!(files(&doc, "packages"), vec!["my-pkg-1.0.0-py311h0_0.tar.bz2"]);
    // current_repodata.json lists them too.
    let (status, _, current) = get_bytes(&c, &format!("{reg}/linux-64/current_repodata.json"), Some(BOB)).await;
    assert_eq!(status, 200);
    let current: Value = serde_json::from_slice(&current).expect("json");
    assert_eq!(files(&current, "packages.conda"), vec!["my-pkg-1.0.0-py312h0_0.conda"]);
    // Files download as uploaded.
    let (status, _, got) = get_bytes(&c, &format!("{reg}/linux-64/my-pkg-1.0.0-py311h0_0.tar.bz2"), Some(BOB)).await;
    assert_eq!((status, got == tarball), (200, true));
    let (status, _, got) = get_bytes(&c, &format!("{reg}/linux-64/my-pkg-1.0.0-py312h0_0.conda"), Some(BOB)).await;
    assert_eq!((status, got == conda), (200, true));
    assert_eq!(get_bytes(&c, &format!("{reg}/osx-64/my-pkg-1.0.0-py311h0_0.tar.bz2"), Some(BOB)).await.0, 404);
    // HEAD probes (conda and rattler send them) answer like GET.
    for path in
        ["linux-64/repodata.json", "linux-64/repodata.json.zst", "linux-64/repodata.json.bz2", "channeldata.json"]
    {
        let r = c.head(format!("{reg}/{path}")).bearer_auth(BOB).send().await.expect("head");
        assert_eq!(r.status(), 200, "HEAD {path}");
    }
    // Sharded repodata is a clean 404 (clients fall back).
    for path in ["linux-64/repodata_shards.msgpack.zst", "linux-64/shards/00.msgpack.zst"] {
        let (status, headers, _) = get_bytes(&c, &format!("{reg}/{path}"), Some(BOB)).await;
        assert_eq!(status, 404, "{path}");
        assert!(headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/plain"));
    }
    // The same file again is 409; for another subdir than its own, 400.
    let again = upload(&c, &reg, "linux-64", Some(ALICE), tarball.clone()).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let wrong = upload(&c, &reg, "noarch", Some(ALICE), tarball).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("linux-64"), "{}", wrong.body);
    // channeldata.json names the package's subdirs.
    let (_, _, cd) = get_bytes(&c, &format!("{reg}/channeldata.json"), Some(BOB)).await;
    let cd: Value = serde_json::from_slice(&cd).expect("json");
    assert_eq!(cd["packages"]["my-pkg"]["subdirs"], serde_json::json!(["linux-64"]));
    assert!(cd["subdirs"].as_array().is_some_and(|s| s.iter().any(|x| x == "noarch")));
    // One package's records.
    let (status, _, one) = get_bytes(&c, &format!("{reg}/packages/my-pkg.json"), Some(BOB)).await;
    assert_eq!(status, 200);
    let one: Value = serde_json::from_slice(&one).expect("json");
    assert!(one["subdirs"]["linux-64"]["packages.conda"]["my-pkg-1.0.0-py312h0_0.conda"].is_object(), "{one}");
    // PUT of a named file works too, and the name must match.
    let noarch = conda_pkg("tool", "0.1", "0", "noarch", &[]);
    let put = |file: &str| c.put(format!("{reg}/noarch/{file}")).bearer_auth(ALICE).body(noarch.clone()).send();
    assert_eq!(put("other-0.1-0.conda").await.expect("put").status(), 400);
    assert_eq!(put("tool-0.1-0.conda").await.expect("put").status(), 201);
    assert_eq!(files(&repodata(&c, &reg, "noarch", Some(BOB)).await, "packages.conda"), vec!["tool-0.1-0.conda"]);
}

/// The user guide's layout: `my-conda` reads the upstream channel with
/// `my-private-conda` as a member; an upload to the member is in the
/// group's repodata at once, shadowing the upstream's same name, while the
/// upstream's other packages are served and verified.
#[tokio::test]
async fn the_guide_layout_merges_local_and_upstream_packages() {
    let up = FakeChannel::start().await;
    let numpy = conda_pkg("numpy", "1.26.4", "py311h0_0", "linux-64", &["python >=3.11"]);
    up.add_package("linux-64", "numpy", "1.26.4", "py311h0_0", numpy.clone());
    up.add_package("noarch", "internal-tool", "9.9", "0", conda_pkg("internal-tool", "9.9", "0", "noarch", &[]));
    let s = TestServer::with(
        &[
            Reg::local("conda", "my-private-conda").allow_upstream_name("internal-tool"),
            Reg::proxy("conda", "my-conda", &up.url).member("my-private-conda"),
        ],
        "",
    )
    .await;
    let c = client();
    let (group, private) = (s.reg("my-conda"), s.reg("my-private-conda"));
    let before = repodata(&c, &group, "noarch", Some(BOB)).await;
    assert_eq!(files(&before, "packages.conda"), vec!["internal-tool-9.9-0.conda"]);
    let ours = conda_pkg("internal-tool", "1.0", "0", "noarch", &[]);
    let r = upload(&c, &private, "noarch", Some(ALICE), ours.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Ours only: the upstream's builds of the name are gone from every form.
    let after = repodata(&c, &group, "noarch", Some(BOB)).await;
    assert_eq!(files(&after, "packages.conda"), vec!["internal-tool-1.0-0.conda"]);
    let asked = up.hits("/noarch/internal-tool-9.9-0.conda");
    assert_eq!(get_bytes(&c, &format!("{group}/noarch/internal-tool-9.9-0.conda"), Some(BOB)).await.0, 404);
    assert_eq!(up.hits("/noarch/internal-tool-9.9-0.conda"), asked, "a local name never goes upstream");
    let (status, _, got) = get_bytes(&c, &format!("{group}/noarch/internal-tool-1.0-0.conda"), Some(BOB)).await;
    assert_eq!((status, got == ours), (200, true));
    // The upstream's numpy is listed and served, verified, then from the cache.
    let linux = repodata(&c, &group, "linux-64", Some(BOB)).await;
    assert_eq!(files(&linux, "packages.conda"), vec!["numpy-1.26.4-py311h0_0.conda"]);
    for _ in 0..2 {
        let (status, _, got) =
            get_bytes(&c, &format!("{group}/linux-64/numpy-1.26.4-py311h0_0.conda"), Some(BOB)).await;
        assert_eq!((status, got == numpy), (200, true));
    }
    assert_eq!(up.hits("/linux-64/numpy-1.26.4-py311h0_0.conda"), 1);
    // channeldata.json: both, ours for the shared name.
    let (_, _, cd) = get_bytes(&c, &format!("{group}/channeldata.json"), Some(BOB)).await;
    let cd: Value = serde_json::from_slice(&cd).expect("json");
    assert_eq!(cd["packages"]["internal-tool"]["version"], "1.0");
    assert!(cd["packages"]["numpy"].is_object());
    // The upstream's package through the per-package document.
    let (status, _, one) = get_bytes(&c, &format!("{group}/packages/numpy.json"), Some(BOB)).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&one).contains("numpy-1.26.4-py311h0_0.conda"));
}

/// Team-only packages are left out of whole-channel documents for those
/// who may not see them, in every form.
#[tokio::test]
async fn whole_channel_documents_show_each_caller_what_it_may_see() {
    let s = TestServer::with(&[Reg::local("conda", "vis").open_read()], "").await;
    s.app.catalog.add_claim("vis", "team-", "oidc:myorg", None).await.expect("claim");
    let c = client();
    let reg = s.reg("vis");
    for name in ["team-secret", "free-open"] {
        assert_eq!(
            upload(&c, &reg, "noarch", Some(ALICE), conda_pkg(name, "1.0", "0", "noarch", &[])).await.status,
            201
        );
    }
    let url = format!("{}/api/v1/registries/vis/packages/team-secret/visibility", s.url);
    let r = c.put(url).bearer_auth(ALICE).json(&serde_json::json!({ "visibility": "team" })).send().await;
    assert_eq!(r.expect("put").status(), 200);
    let everyone = files(&repodata(&c, &reg, "noarch", Some(ALICE)).await, "packages.conda");
    assert_eq!(everyone, vec!["free-open-1.0-0.conda", "team-secret-1.0-0.conda"]);
    for who in [None, Some(BOB)] {
        let seen = files(&repodata(&c, &reg, "noarch", who).await, "packages.conda");
        assert_eq!(seen, vec!["free-open-1.0-0.conda"], "{who:?}");
        let (_, _, cd) = get_bytes(&c, &format!("{reg}/channeldata.json"), who).await;
        assert!(!String::from_utf8_lossy(&cd).contains("team-secret"), "{who:?}");
    }
}

/// The Upload card takes a package with its platform (the one its
/// `index.json` names, or empty for that one); another platform is refused.
#[tokio::test]
async fn the_upload_card_takes_a_package_and_its_platform() {
    let s = TestServer::with(&[Reg::local("conda", "loc").open_read()], "").await;
    let card = |file: &'static str, bytes: Vec<u8>, platform: &'static str| {
        let s = &s;
        async move { crate::support::upload_card(s, ALICE, "loc", file, bytes, &[("platform", platform)]).await }
    };
    let (status, page) = card("x.conda", b"not a package".to_vec(), "").await;
    assert_eq!(status, 400, "{page}");
    let linux = tar_bz2_pkg("carded", "1.0", "h0_0", "linux-64", &[]);
    let (status, page) = card("carded-1.0-h0_0.tar.bz2", linux.clone(), "osx-64").await;
    assert_eq!(status, 400, "{page}");
    let (status, page) = card("carded-1.0-h0_0.tar.bz2", linux, "linux-64").await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Published carded 1.0"), "{page}");
    let (status, page) = card("carded-1.0-0.conda", conda_pkg("carded", "1.0", "0", "noarch", &[]), "").await;
    assert_eq!(status, 303, "{page}");
    let c = client();
    assert_eq!(
        files(&repodata(&c, &s.reg("loc"), "linux-64", None).await, "packages"),
        vec!["carded-1.0-h0_0.tar.bz2"]
    );
    assert_eq!(files(&repodata(&c, &s.reg("loc"), "noarch", None).await, "packages.conda"), vec!["carded-1.0-0.conda"]);
}

/// A channel URL with a token in it (`/t/{token}/...`, as conda clients
/// take one) authenticates every request under it; a bad one is a 401.
#[tokio::test]
async fn path_tokens_authenticate() {
    let s = TestServer::with(&[Reg::local("conda", "private")], "").await;
    let c = client();
    let reg = s.reg("private");
    let pkg = conda_pkg("tok", "1.0", "0", "noarch", &[]);
    let r = c.post(format!("{reg}/t/{ALICE}/noarch/")).body(pkg.clone()).send().await.expect("upload");
    assert_eq!(r.status(), 201);
    assert_eq!(get_bytes(&c, &format!("{reg}/noarch/repodata.json"), None).await.0, 401);
    let doc = repodata(&c, &format!("{reg}/t/{BOB}"), "noarch", None).await;
    assert_eq!(files(&doc, "packages.conda"), vec!["tok-1.0-0.conda"]);
    let (status, _, got) = get_bytes(&c, &format!("{reg}/t/{BOB}/noarch/tok-1.0-0.conda"), None).await;
    assert_eq!((status, got == pkg), (200, true));
    assert_eq!(get_bytes(&c, &format!("{reg}/t/not-a-token/noarch/repodata.json"), None).await.0, 401);
}

/// The Setup Guide shows the channel in `.condarc` and `environment.yml`,
/// the `~/.netrc` credentials and the guide's upload, which for the guide's
/// layout goes to the private member; the Upload card takes packages with
/// their platform.
#[tokio::test]
async fn the_setup_guide_and_the_dashboard_show_conda() {
    let up = FakeChannel::start().await;
    let s = TestServer::with(
        &[Reg::local("conda", "my-private-conda"), Reg::proxy("conda", "my-conda", &up.url).member("my-private-conda")],
        "",
    )
    .await;
    let condarc = crate::support::snippet(&s, "my-conda", "conda-condarc", "alice", ALICE);
    assert_eq!(condarc, format!("channels:\n  - {}\n  - nodefaults\n", s.reg("my-conda")));
    let env = crate::support::snippet(&s, "my-conda", "conda-environment", "alice", ALICE);
    assert!(env.contains(&format!("channels:\n  - {}\n  - nodefaults\n", s.reg("my-conda"))), "{env}");
    let netrc = crate::support::snippet(&s, "my-conda", "conda-netrc", "alice", ALICE);
    assert_eq!(netrc, format!("machine 127.0.0.1\nlogin alice\npassword {ALICE}\n"));
    let upload = crate::support::snippet(&s, "my-conda", "conda-upload", "alice", ALICE);
    assert!(upload.contains(&format!("\"{}/linux-64/\"", s.reg("my-private-conda"))), "{upload}");
    assert!(upload.contains("--data-binary @"), "{upload}");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = browser.post(format!("{}/login", s.url)).form(&[("token", ALICE), ("return_to", "/")]).send().await;
    assert_eq!(r.expect("login").status(), 303);
    let setup = browser.get(format!("{}/setup", s.url)).send().await.expect("setup").text().await.expect("body");
    for needle in ["nodefaults", "environment.yml", "~/.netrc", "--data-binary"] {
        assert!(setup.contains(needle), "the Setup Guide lacks {needle}");
    }
    let ns = browser.get(format!("{}/my-namespace", s.url)).send().await.expect("ns").text().await.expect("body");
    assert!(ns.contains("data-accept=\".conda,.bz2\""), "the Upload card takes conda packages");
    assert!(ns.contains("name=\"platform\""), "the Upload card asks for the platform");
}
