//! Cargo: the sparse index and web API in local, proxy and hybrid mode.

use serde_json::{Value, json};

use crate::support::cargo::{FakeIndex, crate_file, publish, sha256};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, config, stored_blobs};

fn registries(extra: &str) -> String {
    config(&format!(
        r#"
[[registries]]
type = "cargo"
name = "internal"
mode = "local"

[[registries]]
type = "cargo"
name = "open"
mode = "local"
[registries.rbac]
anonymous = ["releases:read", "source:read"]
user = ["releases:read", "source:read", "releases:write"]
{extra}
"#
    ))
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).expect("index line is JSON")).collect()
}

fn detail(v: &Value) -> String {
    v["errors"][0]["detail"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn publish_index_download_and_config() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("internal");
    let dep = json!([{"name": "serde", "version_req": "^1", "features": [], "optional": false, "default_features": true,
        "target": null, "kind": "normal", "registry": "https://crates-upstream.example/index"}]);
    let (status, body) = publish(&c, &reg, ALICE, "My_Lib", "0.1.0", dep).await;
    assert_eq!(status, 200, "{body}");
    // config.json: anonymous may read it; auth is required for the rest.
    let cfg: Value =
        c.get(format!("{reg}/registry/config.json")).send().await.expect("get").json().await.expect("json");
    assert_eq!(cfg["dl"], format!("{reg}/api/v1/crates/{{crate}}/{{version}}/download"));
    assert_eq!(cfg["api"], reg);
    assert_eq!(cfg["auth-required"], true);
    let open_cfg: Value =
        c.get(format!("{}/registry/config.json", s.reg("open"))).send().await.expect("get").json().await.expect("json");
    assert!(open_cfg.get("auth-required").is_none());
    // Even a bad token gets config.json.
    assert_eq!(
        c.get(format!("{reg}/registry/config.json"))
            .header("authorization", "nope")
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    let r = c.get(format!("{reg}/registry/my/_l/my_lib")).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"batlehub\"");
    // The index file, asked by the lowercased name as cargo does.
    let r = c.get(format!("{reg}/registry/my/_l/my_lib")).header("authorization", BOB).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    let idx = lines(&r.text().await.expect("text"));
    let crate_bytes = crate_file("My_Lib", "0.1.0");
    assert_eq!(idx.len(), 1);
    assert_eq!(idx[0]["name"], "My_Lib");
    assert_eq!(idx[0]["vers"], "0.1.0");
    assert_eq!(idx[0]["cksum"], sha256(&crate_bytes));
    assert_eq!(idx[0]["yanked"], false);
    assert_eq!(idx[0]["deps"][0]["registry"], "https://crates-upstream.example/index");
    assert_eq!(idx[0]["deps"][0]["req"], "^1");
    let r = c
        .get(format!("{reg}/registry/my/_l/my_lib"))
        .header("authorization", BOB)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 304);
    // Download at the dl URL.
    let r = c
        .get(format!("{reg}/api/v1/crates/My_Lib/0.1.0/download"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), crate_bytes);
    let r = c.get(format!("{reg}/api/v1/crates/My_Lib/0.1.0/download")).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(
        c.get(format!("{reg}/registry/no/ne/nonexistent"))
            .header("authorization", BOB)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
}

#[tokio::test]
async fn conflicts_names_and_ownership() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("internal");
    assert_eq!(publish(&c, &reg, ALICE, "foo-bar", "1.0.0", json!([])).await.0, 200);
    let (status, b) = publish(&c, &reg, ALICE, "foo-bar", "1.0.0", json!([])).await;
    assert_eq!(status, 409);
    assert!(detail(&b).contains("already uploaded"), "{b}");
    let (status, b) = publish(&c, &reg, ALICE, "Foo_Bar", "2.0.0", json!([])).await;
    assert_eq!(status, 409, "{b}");
    assert!(detail(&b).contains("foo-bar"), "{b}");
    let (status, b) = publish(&c, &reg, BOB, "foo-bar", "1.1.0", json!([])).await;
    assert_eq!(status, 403, "{b}");
    // Owners: list, add a user and a group, remove.
    let owners: Value = c
        .get(format!("{reg}/api/v1/crates/foo-bar/owners"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(owners["users"][0]["login"], "alice");
    let r = c
        .put(format!("{reg}/api/v1/crates/foo-bar/owners"))
        .header("authorization", BOB)
        .json(&json!({"users": ["bob"]}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 403, "only owners change owners");
    let r = c
        .put(format!("{reg}/api/v1/crates/foo-bar/owners"))
        .header("authorization", ALICE)
        .json(&json!({"users": ["bob", "group:oidc:ops"]}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    assert_eq!(publish(&c, &reg, BOB, "foo-bar", "1.1.0", json!([])).await.0, 200);
    let owners: Value = c
        .get(format!("{reg}/api/v1/crates/foo-bar/owners"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let logins: Vec<&str> =
        owners["users"].as_array().expect("users").iter().map(|u| u["login"].as_str().unwrap_or("")).collect();
    assert_eq!(logins, vec!["alice", "bob", "group:oidc:ops"]);
    let r = c
        .delete(format!("{reg}/api/v1/crates/foo-bar/owners"))
        .header("authorization", ALICE)
        .json(&json!({"users": ["bob"]}))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 200);
    assert_eq!(publish(&c, &reg, BOB, "foo-bar", "1.2.0", json!([])).await.0, 403);
    let r = c
        .delete(format!("{reg}/api/v1/crates/foo-bar/owners"))
        .header("authorization", ALICE)
        .json(&json!({"users": ["alice", "group:oidc:ops"]}))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 400, "a crate keeps at least one owner");
    // Another spelling of the last owners is the same owners: still refused,
    // and nothing was removed.
    let r = c
        .delete(format!("{reg}/api/v1/crates/foo-bar/owners"))
        .header("authorization", ALICE)
        .json(&json!({"users": ["alice ", "group:oidc: ops "]}))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 400, "a crate keeps at least one owner, whatever the spelling");
    let p = s.app.catalog.get_package("internal", "foo-bar").await.expect("db").expect("row");
    assert_eq!(s.app.catalog.list_owners(&p.id).await.expect("owners").len(), 2);
    assert_eq!(publish(&c, &reg, BOB, "foo-bar", "1.2.0", json!([])).await.0, 403);
    // Claims reserve prefixes for new names.
    s.app.catalog.add_claim("internal", "myorg-", "oidc:myorg", None).await.expect("claim");
    assert_eq!(publish(&c, &reg, BOB, "myorg-utils", "0.1.0", json!([])).await.0, 403);
    assert_eq!(publish(&c, &reg, ALICE, "myorg-utils", "0.1.0", json!([])).await.0, 200);
    assert_eq!(publish(&c, &reg, ADMIN, "myorg-admin", "0.1.0", json!([])).await.0, 200);
}

#[tokio::test]
async fn yank_unyank_and_search() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("internal");
    for v in ["0.1.0", "0.2.0"] {
        assert_eq!(publish(&c, &reg, ALICE, "yanker", v, json!([])).await.0, 200);
    }
    let index = |c: reqwest::Client, url: String| async move {
        lines(&c.get(url).header("authorization", BOB).send().await.expect("get").text().await.expect("text"))
    };
    let r = c
        .delete(format!("{reg}/api/v1/crates/yanker/0.2.0/yank"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 403);
    let r = c
        .delete(format!("{reg}/api/v1/crates/yanker/0.2.0/yank"))
        .header("authorization", ALICE)
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 200);
    let idx = index(c.clone(), format!("{reg}/registry/ya/nk/yanker")).await;
    assert_eq!(idx[1]["yanked"], true, "yanked versions stay in the index");
    // A yanked version still downloads (lockfiles keep working).
    assert_eq!(
        c.get(format!("{reg}/api/v1/crates/yanker/0.2.0/download"))
            .header("authorization", BOB)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    let found: Value = c
        .get(format!("{reg}/api/v1/crates?q=yank&per_page=5"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(found["crates"][0]["name"], "yanker");
    assert_eq!(found["crates"][0]["max_version"], "0.1.0", "search skips yanked versions");
    assert_eq!(found["crates"][0]["description"], "the yanker crate");
    assert_eq!(found["meta"]["total"], 1);
    let r = c
        .put(format!("{reg}/api/v1/crates/yanker/0.2.0/unyank"))
        .header("authorization", ALICE)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    assert_eq!(index(c.clone(), format!("{reg}/registry/ya/nk/yanker")).await[1]["yanked"], false);
    assert_eq!(
        c.delete(format!("{reg}/api/v1/crates/yanker/9.9.9/yank"))
            .header("authorization", ALICE)
            .send()
            .await
            .expect("del")
            .status(),
        404
    );
}

fn proxy_config(upstream: &str, mode: &str, extra: &str) -> String {
    config(&format!(
        r#"
[[registries]]
type = "cargo"
name = "cargo"
mode = "{mode}"
upstreams = ["{upstream}"]
[registries.cache]
metadata_ttl_secs = 300
{extra}
"#
    ))
}

#[tokio::test]
async fn proxy_passes_the_index_through_and_verifies_downloads() {
    for markers in [true, false] {
        let up = FakeIndex::start(markers).await;
        let serde_bytes = up.add("serde", "1.0.0");
        let s = TestServer::start(&proxy_config(&up.index(), "proxy", "")).await;
        let c = client();
        let reg = s.reg("cargo");
        for _ in 0..2 {
            let r =
                c.get(format!("{reg}/registry/se/rd/serde")).header("authorization", BOB).send().await.expect("get");
            assert_eq!(r.status(), 200);
            let idx = lines(&r.text().await.expect("text"));
            assert_eq!(idx[0]["cksum"], sha256(&serde_bytes));
        }
        assert_eq!(up.hits("/index/se/rd/serde"), 1);
        for _ in 0..2 {
            let r = c
                .get(format!("{reg}/api/v1/crates/serde/1.0.0/download"))
                .header("authorization", BOB)
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 200, "markers={markers}");
            assert_eq!(r.bytes().await.expect("bytes").to_vec(), serde_bytes);
        }
        let dl_hits =
            if markers { up.hits("/dl/se/rd/serde-1.0.0.crate") } else { up.hits("/dl/plain/serde/1.0.0/download") };
        assert_eq!(dl_hits, 1, "markers={markers}");
        // Writes are refused in cargo's shape.
        let (status, b) = publish(&c, &reg, ADMIN, "mine", "0.1.0", json!([])).await;
        assert_eq!(status, 403);
        assert_eq!(detail(&b), "registry is not in local or hybrid mode");
        let r = c
            .delete(format!("{reg}/api/v1/crates/serde/1.0.0/yank"))
            .header("authorization", ADMIN)
            .send()
            .await
            .expect("del");
        assert_eq!(r.status(), 403);
    }
}

#[tokio::test]
async fn proxy_corruption_is_502_and_stale_index_survives_outages() {
    let up = FakeIndex::start(true).await;
    let bytes = up.add("tokio", "1.0.0");
    let s = TestServer::start(
        &proxy_config(&up.index(), "proxy", "").replace("metadata_ttl_secs = 300", "metadata_ttl_secs = 0"),
    )
    .await;
    let c = client();
    let reg = s.reg("cargo");
    up.set_corrupt(true);
    let r = c
        .get(format!("{reg}/api/v1/crates/tokio/1.0.0/download"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.expect("json");
    assert!(detail(&v).contains("integrity"), "{v}");
    assert!(stored_blobs(&s).await.is_empty());
    up.set_corrupt(false);
    let r = c
        .get(format!("{reg}/api/v1/crates/tokio/1.0.0/download"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), bytes);
    up.set_fail(true);
    let r = c.get(format!("{reg}/registry/to/ki/tokio")).header("authorization", BOB).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-batlehub-cache"], "stale");
    // Cached downloads need no upstream at all.
    let r = c
        .get(format!("{reg}/api/v1/crates/tokio/1.0.0/download"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn hybrid_shadows_upstream_crates() {
    let up = FakeIndex::start(true).await;
    up.add("shared", "9.0.0");
    up.add("myorg-secret", "1.0.0");
    up.add("public", "1.0.0");
    // Users publish to a hybrid registry where its rbac says so; `shared`
    // (which the upstream serves) by an admin's leave.
    let reg =
        crate::support::builder::Reg::hybrid("cargo", "cargo", &up.index()).open_read().allow_upstream_name("shared");
    let s = TestServer::with(&[reg], "").await;
    s.app.catalog.add_claim("cargo", "myorg-", "oidc:myorg", None).await.expect("claim");
    let c = client();
    let reg = s.reg("cargo");
    assert_eq!(publish(&c, &reg, ALICE, "shared", "1.0.0", json!([])).await.0, 200);
    let idx = lines(
        &c.get(format!("{reg}/registry/sh/ar/shared"))
            .header("authorization", BOB)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text"),
    );
    assert_eq!(idx.len(), 1);
    assert_eq!(idx[0]["vers"], "1.0.0");
    assert_eq!(
        c.get(format!("{reg}/api/v1/crates/shared/9.0.0/download"))
            .header("authorization", BOB)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(
        c.get(format!("{reg}/registry/my/or/myorg-secret"))
            .header("authorization", BOB)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(up.total_hits(), 0, "shadowed names never reach the upstream");
    assert_eq!(
        c.get(format!("{reg}/registry/pu/bl/public")).header("authorization", BOB).send().await.expect("get").status(),
        200
    );
    assert_eq!(
        c.get(format!("{reg}/api/v1/crates/public/1.0.0/download"))
            .header("authorization", BOB)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
}

#[tokio::test]
async fn members_serve_private_crates_through_the_mirror() {
    let up = FakeIndex::start(true).await;
    up.add("my-private", "9.9.9");
    let public_bytes = up.add("public", "1.0.0");
    let s = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "cargo"
name = "internal"
mode = "local"
# The mirror's upstream serves my-private too: published here by leave.
allow_upstream_names = ["my-private"]

[[registries]]
type = "cargo"
name = "cargo"
mode = "proxy"
upstreams = ["{}"]
members = ["internal"]
"#,
        up.index()
    )))
    .await;
    let c = client();
    assert_eq!(publish(&c, &s.reg("internal"), ALICE, "my-private", "0.1.0", json!([])).await.0, 200);
    let reg = s.reg("cargo");
    let idx = lines(
        &c.get(format!("{reg}/registry/my/-p/my-private"))
            .header("authorization", BOB)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text"),
    );
    assert_eq!(idx.len(), 1);
    assert_eq!(idx[0]["vers"], "0.1.0");
    let r = c
        .get(format!("{reg}/api/v1/crates/my-private/0.1.0/download"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), crate_file("my-private", "0.1.0"));
    assert_eq!(up.hits("/index/my/-p/my-private"), 0, "a member's crate is never looked up upstream");
    let r = c
        .get(format!("{reg}/api/v1/crates/public/1.0.0/download"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), public_bytes);
    // Search through the aggregate finds the member's crates.
    let found: Value = c
        .get(format!("{reg}/api/v1/crates?q=my"))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(found["crates"][0]["name"], "my-private");
}

#[tokio::test]
async fn index_files_follow_the_upstream() {
    // Index files keep their validator per fetched body: a new upstream body
    // (after the TTL) must show, with a new ETag.
    let up = FakeIndex::start(true).await;
    up.add("growing", "1.0.0");
    let s = TestServer::start(
        &proxy_config(&up.index(), "proxy", "").replace("metadata_ttl_secs = 300", "metadata_ttl_secs = 0"),
    )
    .await;
    let c = client();
    let url = format!("{}/registry/gr/ow/growing", s.reg("cargo"));
    let first = c.get(&url).header("authorization", BOB).send().await.expect("get");
    let etag = first.headers()["etag"].clone();
    assert_eq!(lines(&first.text().await.expect("text")).len(), 1);
    up.add("growing", "1.1.0");
    let second = c.get(&url).header("authorization", BOB).send().await.expect("get");
    assert_ne!(second.headers()["etag"], etag);
    assert_eq!(lines(&second.text().await.expect("text")).len(), 2);
}

#[tokio::test]
async fn a_package_without_owners_fails_closed() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("internal");
    // A package nobody owns (a publisher without a user id, an old catalog).
    let orphan = batlehub::catalog::NewVersion {
        registry: "internal".into(),
        name: "orphan".into(),
        display_name: "orphan".into(),
        version: "0.1.0".into(),
        metadata: "{}".into(),
        files: Vec::new(),
        published_by: None,
        tags: Vec::new(),
        visibility: batlehub::access::Visibility::Public,
        append: false,
    };
    s.app.catalog.publish_version(&orphan, None, &|_| true, &[]).await.expect("publish");
    let p = s.app.catalog.get_package("internal", "orphan").await.expect("db").expect("row");
    assert!(s.app.catalog.list_owners(&p.id).await.expect("owners").is_empty());
    // It is not anyone's to take: only admins (and a claim's group) may write.
    let (status, b) = publish(&c, &reg, BOB, "orphan", "1.0.0", json!([])).await;
    assert_eq!(status, 403, "{b}");
    assert_eq!(publish(&c, &reg, ADMIN, "orphan", "1.0.0", json!([])).await.0, 200);
}

#[tokio::test]
async fn an_upstream_crate_is_not_taken_over_by_another_spelling() {
    // The upstream files the crate under `serde_json`; cargo treats
    // `serde-json` and `Serde_Json` as the same crate.
    let up = FakeIndex::start(true).await;
    up.add("serde_json", "1.0.0");
    let reg = crate::support::builder::Reg::hybrid("cargo", "cargo", &up.index()).open_read();
    let s = TestServer::with(&[reg], "").await;
    let c = client();
    let url = s.reg("cargo");
    for spelling in ["serde_json", "serde-json", "Serde_Json", "SERDE-JSON"] {
        let (status, body) = publish(&c, &url, BOB, spelling, "9.9.9", json!([])).await;
        assert_eq!(status, 409, "{spelling}: {body}");
        assert!(body["errors"][0]["detail"].as_str().unwrap_or("").contains("served by the upstream"), "{body}");
    }
    assert_eq!(publish(&c, &url, BOB, "serde-jsonx", "0.1.0", json!([])).await.0, 200);
}

/// A publish cannot make every read of the index carry megabytes: features
/// are capped as crates-io caps them, and so is one version's index entry
/// and the description kept beside it.
#[tokio::test]
async fn publish_metadata_is_bounded() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("internal");
    let put = |meta: Value, name: &str| {
        c.put(format!("{reg}/api/v1/crates/new"))
            .header("authorization", ALICE)
            .body(crate::support::cargo::body(&meta, &crate_file(name, "1.0.0")))
            .send()
    };
    let mut many = crate::support::cargo::meta("featureful", "1.0.0", json!([]));
    many["features"] = (0..301).map(|i| (format!("f{i}"), json!([]))).collect::<serde_json::Map<_, _>>().into();
    let r = put(many, "featureful").await.expect("put");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(body["errors"][0]["detail"].as_str().unwrap_or("").contains("at most 300"), "{body}");
    let mut wide = crate::support::cargo::meta("wide", "1.0.0", json!([]));
    wide["features"] = json!({ "all": (0..30_000).map(|i| format!("dep{i}/feature")).collect::<Vec<_>>() });
    assert_eq!(put(wide, "wide").await.expect("put").status(), 400);
    let mut wordy = crate::support::cargo::meta("wordy", "1.0.0", json!([]));
    wordy["description"] = json!("w".repeat(64 * 1024));
    assert_eq!(put(wordy, "wordy").await.expect("put").status(), 400);
    for name in ["featureful", "wide", "wordy"] {
        let path = batlehub::ecosystems::cargo::names::index_path(name);
        let idx = c.get(format!("{reg}/registry/{path}")).header("authorization", BOB);
        assert_eq!(idx.send().await.expect("get").status(), 404, "{name} was kept");
    }
    // At the limit: accepted.
    let mut fine = crate::support::cargo::meta("fine", "1.0.0", json!([]));
    fine["features"] = (0..300).map(|i| (format!("f{i}"), json!([]))).collect::<serde_json::Map<_, _>>().into();
    assert_eq!(put(fine, "fine").await.expect("put").status(), 200);
}

/// A publish under another spelling of someone else's crate is refused by
/// the write check, which names only what the caller sent: the 409 that
/// names the existing spelling is for those who may write the crate.
#[tokio::test]
async fn an_alias_of_a_crate_one_may_not_write_reveals_nothing() {
    let s = TestServer::start(&registries("")).await;
    let c = client();
    let reg = s.reg("internal");
    assert_eq!(publish(&c, &reg, ALICE, "fe-core", "1.0.0", json!([])).await.0, 200);
    let (status, body) = publish(&c, &reg, BOB, "fe_core", "1.0.1", json!([])).await;
    assert_eq!(status, 403, "{body}");
    assert!(!detail(&body).contains("fe-core"), "{body}");
    let (status, body) = publish(&c, &reg, ALICE, "fe_core", "1.0.1", json!([])).await;
    assert_eq!(status, 409);
    assert!(detail(&body).contains("fe-core"), "{body}");
}

/// `cargo search` on a mirror asks the upstream's web API (the `api` of its
/// config.json) and leaves out crates that are ours; a mirror whose upstream
/// has no web API says so instead of answering an empty list.
#[tokio::test]
async fn search_on_a_mirror_asks_the_upstream() {
    let up = FakeIndex::start(true).await;
    up.add("serde-like", "1.2.0");
    let s = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "cargo"
name = "internal"
mode = "local"

[[registries]]
type = "cargo"
name = "mirror"
mode = "proxy"
upstreams = ["{}"]
members = ["internal"]
"#,
        up.index()
    )))
    .await;
    let c = client();
    let (status, body) = publish(&c, &s.reg("internal"), ALICE, "mine", "0.1.0", json!([])).await;
    assert_eq!(status, 200, "{body}");
    // The upstream gains a crate of the same name later: ours shadows it.
    up.add("mine", "9.0.0");
    let doc: serde_json::Value = c
        .get(format!("{}/api/v1/crates?q=e&per_page=10", s.reg("mirror")))
        .bearer_auth(BOB)
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let found: Vec<(&str, &str)> = doc["crates"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or(""), c["max_version"].as_str().unwrap_or("")))
        .collect();
    assert!(found.contains(&("serde-like", "1.2.0")), "{doc}");
    assert!(found.contains(&("mine", "0.1.0")), "the member's crate: {doc}");
    assert!(!found.contains(&("mine", "9.0.0")), "never the upstream's crate of a name that is ours: {doc}");
    assert!(up.hits("/api/v1/crates") >= 1);
}
