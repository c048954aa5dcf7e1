//! PyPI: uploads (many files per version), the Simple API in both formats,
//! core metadata, the JSON API, proxying HTML and JSON upstreams, hybrid.

use serde_json::Value;

use crate::support::pypi::{FakeSimple, form, metadata, sdist, sdist_name, sha256, upload, wheel, wheel_name};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, config, stored_blobs};

const JSON_ACCEPT: &str =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

fn registries(extra: &str) -> String {
    config(&format!(
        r#"
[[registries]]
type = "pypi"
name = "private"
mode = "local"
{extra}
"#
    ))
}

#[tokio::test]
async fn upload_sdist_and_wheels_then_read_them_back() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("private");
    let sd = sdist("My.Pkg", "1.0.0");
    let w1 = wheel("My.Pkg", "1.0.0");
    let w2_name = "my_pkg-1.0.0-cp311-cp311-manylinux_2_17_x86_64.whl";
    for (file, bytes) in
        [(sdist_name("My.Pkg", "1.0.0"), &sd), (wheel_name("My.Pkg", "1.0.0"), &w1), (w2_name.to_string(), &w1)]
    {
        let (status, text) = upload(&c, &reg, ALICE, "My.Pkg", "1.0.0", &file, bytes).await;
        assert_eq!(status, 200, "{file}: {text}");
    }
    // The same file twice: 409 with a reason twine prints.
    let r = c
        .post(format!("{reg}/legacy/"))
        .basic_auth("__token__", Some(ALICE))
        .multipart(form("My.Pkg", "1.0.0", &sdist_name("My.Pkg", "1.0.0"), &sd, &[]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 409);
    assert!(r.status().canonical_reason().is_some());
    let text = r.text().await.expect("text");
    assert!(text.contains("File already exists"), "{text}");

    // A non-normalised name redirects to the normalised URL.
    let nr = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = nr.get(format!("{reg}/simple/My.Pkg/")).basic_auth("__token__", Some(BOB)).send().await.expect("get");
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], format!("{reg}/simple/my-pkg/"));
    let r = nr.get(format!("{reg}/simple/my-pkg")).basic_auth("__token__", Some(BOB)).send().await.expect("get");
    assert_eq!(r.headers()["location"], format!("{reg}/simple/my-pkg/"));

    // HTML page.
    let r = c.get(format!("{reg}/simple/my-pkg/")).basic_auth("bob", Some(BOB)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap_or("").starts_with("text/html"));
    assert!(r.headers()["vary"].to_str().unwrap_or("").contains("Accept"));
    let html = r.text().await.expect("text");
    assert!(
        html.contains(&format!(
            "href=\"{reg}/packages/my-pkg/{}#sha256={}\"",
            sdist_name("My.Pkg", "1.0.0"),
            sha256(&sd)
        )),
        "{html}"
    );
    assert!(html.contains("data-requires-python=\"&gt;=3.8\""), "{html}");
    assert!(
        html.contains(&format!("data-core-metadata=\"sha256={}\"", sha256(metadata("My.Pkg", "1.0.0").as_bytes()))),
        "{html}"
    );
    // JSON page (PEP 691 + 700).
    let r = c
        .get(format!("{reg}/simple/my-pkg/"))
        .basic_auth("bob", Some(BOB))
        .header("accept", JSON_ACCEPT)
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["content-type"], "application/vnd.pypi.simple.v1+json");
    let page: Value = r.json().await.expect("json");
    assert_eq!(page["name"], "My.Pkg");
    assert_eq!(page["versions"], serde_json::json!(["1.0.0"]));
    let files = page["files"].as_array().expect("files");
    assert_eq!(files.len(), 3, "{page}");
    for f in files {
        assert!(f["hashes"]["sha256"].is_string());
        assert!(f["size"].is_u64());
        assert!(f["upload-time"].is_string());
        // Every advertised .metadata is served and matches its hash.
        if let Some(h) = f["core-metadata"]["sha256"].as_str() {
            let url = format!("{}.metadata", f["url"].as_str().expect("url"));
            let body =
                c.get(&url).basic_auth("bob", Some(BOB)).send().await.expect("get").bytes().await.expect("bytes");
            assert_eq!(sha256(&body), h);
            assert!(String::from_utf8_lossy(&body).contains("Name: My.Pkg"));
        } else {
            assert!(f["filename"].as_str().unwrap_or("").ends_with(".tar.gz"));
        }
    }
    // Files download byte for byte.
    let got = c
        .get(format!("{reg}/packages/my-pkg/{}", sdist_name("My.Pkg", "1.0.0")))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("b");
    assert_eq!(got.to_vec(), sd);
    // JSON API.
    let j: Value = c
        .get(format!("{reg}/pypi/my-pkg/json"))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(j["info"]["name"], "My.Pkg");
    assert_eq!(j["info"]["version"], "1.0.0");
    assert_eq!(j["info"]["summary"], "the My.Pkg project");
    assert_eq!(j["releases"]["1.0.0"].as_array().map(|a| a.len()), Some(3));
    assert_eq!(j["urls"].as_array().map(|a| a.len()), Some(3));
    let jv: Value = c
        .get(format!("{reg}/pypi/My_Pkg/1.0.0/json"))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(jv["info"]["version"], "1.0.0");
    // The root index lists the project.
    let root = c
        .get(format!("{reg}/simple/"))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(root.contains("href=\"my-pkg/\""), "{root}");
    // Anonymous: a 401 challenge so pip retries with netrc credentials.
    let r = c.get(format!("{reg}/simple/my-pkg/")).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"batlehub\"");
}

#[tokio::test]
async fn the_first_publisher_owns_a_project_whatever_its_spelling() {
    // Malformed uploads are the shared bad-input suite's (bad_input.rs).
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("private");
    let w = wheel("demo", "1.0");
    assert_eq!(upload(&c, &reg, ALICE, "demo", "1.0", &wheel_name("demo", "1.0"), &w).await.0, 200);
    let (status, text) = upload(&c, &reg, BOB, "demo", "1.1", &wheel_name("demo", "1.1"), &wheel("demo", "1.1")).await;
    assert_eq!(status, 403, "{text}");
    assert_eq!(upload(&c, &reg, ADMIN, "Demo", "1.1", &wheel_name("demo", "1.1"), &wheel("demo", "1.1")).await.0, 200);
}

fn proxy(upstream: &str, mode: &str, ttl: u64) -> String {
    config(&format!(
        r#"
[[registries]]
type = "pypi"
name = "pypi"
mode = "{mode}"
upstreams = ["{upstream}"]
[registries.cache]
metadata_ttl_secs = {ttl}
"#
    ))
}

#[tokio::test]
async fn proxy_rewrites_relative_and_absolute_links_and_caches_files() {
    for json_upstream in [false, true] {
        let up = FakeSimple::start(json_upstream).await;
        let w = wheel("requests", "2.0.0");
        let sd = sdist("requests", "2.0.0");
        up.add("requests", &wheel_name("requests", "2.0.0"), w.clone());
        up.add("requests", &sdist_name("requests", "2.0.0"), sd.clone());
        let s = TestServer::start(&proxy(&up.simple(), "proxy", 300)).await;
        let c = client();
        let reg = s.reg("pypi");
        for accept in ["text/html", JSON_ACCEPT] {
            let r = c
                .get(format!("{reg}/simple/requests/"))
                .basic_auth("bob", Some(BOB))
                .header("accept", accept)
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 200);
            let text = r.text().await.expect("text");
            assert!(text.contains(&format!("{reg}/packages/requests/{}", wheel_name("requests", "2.0.0"))), "{text}");
            assert!(!text.contains(&up.url), "no upstream URL leaks: {text}");
        }
        assert_eq!(up.hits("/simple/requests/"), 1, "one upstream fetch for both formats");
        let page: Value = c
            .get(format!("{reg}/simple/requests/"))
            .basic_auth("bob", Some(BOB))
            .header("accept", JSON_ACCEPT)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(page["versions"], serde_json::json!(["2.0.0"]), "PEP 700 versions, also from an HTML upstream");
        for _ in 0..2 {
            let r = c
                .get(format!("{reg}/packages/requests/{}", wheel_name("requests", "2.0.0")))
                .basic_auth("bob", Some(BOB))
                .send()
                .await
                .expect("get");
            assert_eq!(r.bytes().await.expect("bytes").to_vec(), w);
        }
        assert_eq!(up.hits(&format!("/files/{}", wheel_name("requests", "2.0.0"))), 1);
        // The advertised .metadata is served, verified against its hash.
        let m = c
            .get(format!("{reg}/packages/requests/{}.metadata", wheel_name("requests", "2.0.0")))
            .basic_auth("bob", Some(BOB))
            .send()
            .await
            .expect("get");
        assert_eq!(m.status(), 200);
        assert_eq!(m.text().await.expect("text"), metadata("requests", "2.0.0"));
        // No open relay: a file the upstream page does not list is not fetched.
        let before = up.total_hits();
        let r = c
            .get(format!("{reg}/packages/requests/evil-1.0.tar.gz"))
            .basic_auth("bob", Some(BOB))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404);
        assert_eq!(up.total_hits(), before + 1, "only the page is refreshed once, nothing else is fetched");
        // Upload to a proxy: 403 in twine's terms.
        let (status, text) =
            upload(&c, &reg, ADMIN, "mine", "1.0", &wheel_name("mine", "1.0"), &wheel("mine", "1.0")).await;
        assert_eq!(status, 403);
        assert!(text.contains("registry is not in local or hybrid mode"), "{text}");
    }
}

#[tokio::test]
async fn proxy_corruption_and_outages() {
    let up = FakeSimple::start(false).await;
    let sd = sdist("flaky", "1.0");
    up.add("flaky", &sdist_name("flaky", "1.0"), sd.clone());
    let s = TestServer::start(&proxy(&up.simple(), "proxy", 0)).await;
    let c = client();
    let reg = s.reg("pypi");
    up.set_corrupt(true);
    let r = c
        .get(format!("{reg}/packages/flaky/{}", sdist_name("flaky", "1.0")))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 502);
    assert!(stored_blobs(&s).await.is_empty());
    up.set_corrupt(false);
    let r = c
        .get(format!("{reg}/packages/flaky/{}", sdist_name("flaky", "1.0")))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), sd);
    up.set_fail(true);
    let r = c.get(format!("{reg}/simple/flaky/")).basic_auth("bob", Some(BOB)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-batlehub-cache"], "stale");
}

#[tokio::test]
async fn hybrid_and_members_shadow_upstream_projects() {
    let up = FakeSimple::start(false).await;
    up.add("internal-tool", &sdist_name("internal-tool", "9.9"), sdist("internal-tool", "9.9"));
    up.add("public-lib", &sdist_name("public-lib", "1.0"), sdist("public-lib", "1.0"));
    let s = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "pypi"
name = "private"
mode = "local"
# The upstream serves internal-tool too: published here by an admin's leave.
allow_upstream_names = ["Internal_Tool"]

[[registries]]
type = "pypi"
name = "hybrid"
mode = "hybrid"
upstreams = ["{0}"]
allow_upstream_names = ["internal.tool"]
[registries.rbac]
user = ["releases:read", "source:read", "releases:write"]

[[registries]]
type = "pypi"
name = "pypi"
mode = "proxy"
upstreams = ["{0}"]
members = ["private"]
"#,
        up.simple()
    )))
    .await;
    let c = client();
    for reg_name in ["private", "hybrid"] {
        let reg = s.reg(reg_name);
        assert_eq!(
            upload(
                &c,
                &reg,
                ALICE,
                "Internal_Tool",
                "1.0",
                &sdist_name("internal_tool", "1.0"),
                &sdist("internal_tool", "1.0")
            )
            .await
            .0,
            200
        );
    }
    for reg_name in ["hybrid", "pypi"] {
        let reg = s.reg(reg_name);
        let html = c
            .get(format!("{reg}/simple/internal-tool/"))
            .basic_auth("bob", Some(BOB))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert!(html.contains("internal_tool-1.0.tar.gz") && !html.contains("9.9"), "{reg_name}: {html}");
        let r = c.get(format!("{reg}/simple/public-lib/")).basic_auth("bob", Some(BOB)).send().await.expect("get");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(up.hits("/simple/internal-tool/"), 0, "a local project is never looked up upstream");
    // A claimed name with nothing published is not found, and not fetched.
    s.app.catalog.add_claim("hybrid", "acme-", "oidc:myorg", None).await.expect("claim");
    up.add("acme-secret", &sdist_name("acme-secret", "1.0"), sdist("acme-secret", "1.0"));
    assert_eq!(
        c.get(format!("{}/simple/acme-secret/", s.reg("hybrid")))
            .basic_auth("bob", Some(BOB))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(up.hits("/simple/acme-secret/"), 0);
}

#[tokio::test]
async fn visibility_applies_to_pages_files_and_json() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("private");
    s.app.catalog.add_claim("private", "team-", "oidc:myorg", None).await.expect("claim");
    assert_eq!(
        upload(&c, &reg, ALICE, "team-secret", "1.0", &sdist_name("team-secret", "1.0"), &sdist("team-secret", "1.0"))
            .await
            .0,
        200
    );
    let pkg = s.app.catalog.get_package("private", "team-secret").await.expect("db").expect("row");
    s.app
        .catalog
        .set_visibility(&pkg.id, batlehub::access::Visibility::Team, batlehub::catalog::ANY_WRITER)
        .await
        .expect("vis");
    for path in ["simple/team-secret/", "pypi/team-secret/json", "packages/team-secret/team_secret-1.0.tar.gz"] {
        assert_eq!(
            c.get(format!("{reg}/{path}")).basic_auth("bob", Some(BOB)).send().await.expect("get").status(),
            404,
            "{path}"
        );
        assert_eq!(
            c.get(format!("{reg}/{path}")).basic_auth("alice", Some(ALICE)).send().await.expect("get").status(),
            200,
            "{path}"
        );
    }
    let root = c
        .get(format!("{reg}/simple/"))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(!root.contains("team-secret"), "{root}");
}

#[tokio::test]
async fn rendered_pages_follow_the_upstream() {
    // Pages are rendered once per fetched body: a new upstream body (after
    // the TTL) must show, in both formats, with a new validator.
    let up = FakeSimple::start(false).await;
    up.add("growing", &sdist_name("growing", "1.0"), sdist("growing", "1.0"));
    let s = TestServer::start(&proxy(&up.simple(), "proxy", 0)).await;
    let c = client();
    let page = format!("{}/simple/growing/", s.reg("pypi"));
    let first = c.get(&page).basic_auth("bob", Some(BOB)).send().await.expect("get");
    let etag = first.headers()["etag"].clone();
    assert!(!first.text().await.expect("html").contains("growing-2.0"));
    up.add("growing", &sdist_name("growing", "2.0"), sdist("growing", "2.0"));
    let second = c.get(&page).basic_auth("bob", Some(BOB)).send().await.expect("get");
    assert_ne!(second.headers()["etag"], etag);
    assert!(second.text().await.expect("html").contains(&sdist_name("growing", "2.0")));
    let json: serde_json::Value = c
        .get(&page)
        .basic_auth("bob", Some(BOB))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(json["versions"], serde_json::json!(["1.0", "2.0"]));
}

/// PEP 440 says `1.0.0` is `1.0`: its files join the release, never a
/// second one beside it.
#[tokio::test]
async fn equal_versions_are_one_release() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("private");
    let (sd, wh) = (sdist("eq-pkg", "1.0"), wheel("eq-pkg", "1.0.0"));
    assert_eq!(upload(&c, &reg, ALICE, "eq-pkg", "1.0", &sdist_name("eq-pkg", "1.0"), &sd).await.0, 200);
    assert_eq!(upload(&c, &reg, ALICE, "eq-pkg", "1.0.0", &wheel_name("eq-pkg", "1.0.0"), &wh).await.0, 200);
    let j: Value = c
        .get(format!("{reg}/pypi/eq-pkg/json"))
        .basic_auth("bob", Some(BOB))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let releases = j["releases"].as_object().expect("releases");
    assert_eq!(releases.keys().collect::<Vec<_>>(), ["1.0"], "{j}");
    assert_eq!(releases["1.0"].as_array().map(|a| a.len()), Some(2));
}
