//! Composer in process: uploads (composer.json in the ZIP, `?version=`,
//! Composer's version normalisation for duplicates), p2 documents rendered
//! and minified, yanks, `packages.json` per mode, and the proxy's rewritten
//! upstream metadata.

use sha1::Digest;

use crate::support::builder::Reg;
use crate::support::composer::{FakeComposer, package_zip, upload};
use crate::support::{ALICE, BOB, TestServer, client};

async fn json(c: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let r = c.get(url).bearer_auth(BOB).send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

fn expanded(doc: &serde_json::Value, name: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    batlehub::ecosystems::composer::p2::expand(doc, name).expect("p2 document")
}

#[tokio::test]
async fn upload_render_yank() {
    let s = TestServer::with(&[Reg::local("composer", "internal")], "").await;
    let c = client();
    let reg = s.reg("internal");
    let zip = package_zip("acme/util", "1.0.0", "");
    let r = upload(&c, &reg, Some(ALICE), zip.clone(), "").await;
    assert_eq!(r.status, 201, "{}", r.body);
    // ?version= overrides composer.json's; Composer's normalisation finds duplicates.
    assert_eq!(upload(&c, &reg, Some(ALICE), package_zip("acme/util", "9.9.9", ""), "?version=1.1").await.status, 201);
    let dup = upload(&c, &reg, Some(ALICE), package_zip("acme/util", "1.1.0", ""), "").await;
    assert_eq!(dup.status, 409, "1.1 and 1.1.0 are one version: {}", dup.body);
    assert_eq!(upload(&c, &reg, Some(ALICE), package_zip("acme/util", "dev-main", ""), "").await.status, 201);

    let (status, doc) = json(&c, &format!("{reg}/p2/acme/util.json")).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["minified"], "composer/2.0");
    let versions = expanded(&doc, "acme/util");
    let names: Vec<&str> = versions.iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(names, ["1.1", "1.0.0"], "newest first, dev versions in ~dev.json");
    let v100 = &versions[1];
    assert_eq!(v100["version_normalized"], "1.0.0.0");
    assert_eq!(v100["dist"]["url"], format!("{reg}/dist/acme/util/1.0.0.zip"));
    assert_eq!(v100["dist"]["shasum"], hex::encode(sha1::Sha1::digest(&zip)), "SHA-1, what Composer checks");
    assert_eq!(v100["description"], "the acme/util package");
    // Composer revalidates with If-Modified-Since (a date is given out once
    // its second is over).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = c.get(format!("{reg}/p2/acme/util.json")).bearer_auth(BOB).send().await.expect("get");
    let modified = r.headers()["last-modified"].to_str().expect("last-modified").to_string();
    let r = c
        .get(format!("{reg}/p2/acme/util.json"))
        .bearer_auth(BOB)
        .header("if-modified-since", &modified)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 304);
    let (_, dev) = json(&c, &format!("{reg}/p2/acme/util~dev.json")).await;
    assert_eq!(expanded(&dev, "acme/util").len(), 1);
    let r = c.get(format!("{reg}/dist/acme/util/1.0.0.zip")).bearer_auth(BOB).send().await.expect("dist");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &zip[..]);
    // packages.json: a local registry lists what the caller may see.
    let (_, root) = json(&c, &format!("{reg}/packages.json")).await;
    assert_eq!(root["metadata-url"], format!("{reg}/p2/%package%.json"));
    assert_eq!(root["available-packages"], serde_json::json!(["acme/util"]));

    // Yank: gone from the metadata, 404 on download; only the owner may.
    let yank = format!("{reg}/api/packages/acme/util/versions/1.0.0");
    assert_eq!(c.delete(&yank).bearer_auth(BOB).send().await.expect("yank").status(), 403);
    assert_eq!(c.delete(&yank).bearer_auth(ALICE).send().await.expect("yank").status(), 200);
    let (_, doc) = json(&c, &format!("{reg}/p2/acme/util.json")).await;
    let names: Vec<String> =
        expanded(&doc, "acme/util").iter().filter_map(|v| v["version"].as_str().map(str::to_string)).collect();
    assert_eq!(names, ["1.1"]);
    // A client revalidating with the date it had gets the change, not a 304.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = c
        .get(format!("{reg}/p2/acme/util.json"))
        .bearer_auth(BOB)
        .header("if-modified-since", &modified)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "a yank is a change");
    let r = c.get(format!("{reg}/dist/acme/util/1.0.0.zip")).bearer_auth(BOB).send().await.expect("dist");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_proxy_rewrites_upstream_metadata_and_keeps_local_names_local() {
    let up = FakeComposer::start().await;
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        up.add_file("vendor/lib", v, &format!("vendor-lib-{v}.zip"), package_zip("vendor/lib", v, ""));
    }
    up.add_file("acme/private", "9.0.0", "acme-private-9.0.0.zip", package_zip("acme/private", "9.0.0", ""));
    let s = TestServer::with(
        &[
            Reg::local("composer", "internal").open_read().allow_upstream_name("acme/private"),
            Reg::proxy("composer", "packagist", &up.url).member("internal").open_read(),
        ],
        "",
    )
    .await;
    let c = client();
    let reg = s.reg("packagist");
    let (status, doc) = json(&c, &format!("{reg}/p2/vendor/lib.json")).await;
    assert_eq!(status, 200, "{doc}");
    let versions = expanded(&doc, "vendor/lib");
    assert_eq!(versions.len(), 3);
    for v in &versions {
        let version = v["version"].as_str().expect("version");
        assert_eq!(v["dist"]["url"], format!("{reg}/dist/vendor/lib/{version}.zip"), "every dist points back here");
        assert_eq!(v["description"], "upstream package", "inherited through the minified form");
    }
    let r = c.get(format!("{reg}/dist/vendor/lib/1.1.0.zip")).send().await.expect("dist");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &package_zip("vendor/lib", "1.1.0", "")[..]);
    // packages.json of a proxy never claims to list everything.
    let (_, root) = json(&c, &format!("{reg}/packages.json")).await;
    assert!(root.get("available-packages").is_none(), "{root}");
    // A local package shadows the upstream's entirely.
    assert_eq!(
        upload(&c, &s.reg("internal"), Some(ALICE), package_zip("acme/private", "1.0.0", ""), "").await.status,
        201
    );
    let before = up.total_hits();
    let (_, doc) = json(&c, &format!("{reg}/p2/acme/private.json")).await;
    let names: Vec<String> =
        expanded(&doc, "acme/private").iter().filter_map(|v| v["version"].as_str().map(str::to_string)).collect();
    assert_eq!(names, ["1.0.0"]);
    assert_eq!(c.get(format!("{reg}/dist/acme/private/9.0.0.zip")).send().await.expect("dist").status(), 404);
    assert_eq!(up.total_hits(), before, "a local name was asked of the upstream");
}

#[tokio::test]
async fn the_upload_card_takes_a_zip() {
    let s = TestServer::with(&[Reg::local("composer", "internal").open_read()], "").await;
    let (status, page) = crate::support::upload_card(&s, ALICE, "internal", "x.zip", b"not a zip".to_vec(), &[]).await;
    assert_eq!(status, 400, "{page}");
    let (status, page) =
        crate::support::upload_card(&s, ALICE, "internal", "u.zip", package_zip("acme/carded", "2.0.0", ""), &[]).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Published "), "{page}");
    let (status, doc) = json(&client(), &format!("{}/p2/acme/carded.json", s.reg("internal"))).await;
    assert_eq!(status, 200);
    assert_eq!(expanded(&doc, "acme/carded")[0]["version"], "2.0.0");
}
