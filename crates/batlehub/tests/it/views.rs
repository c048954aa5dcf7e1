//! Local reads come from in-memory views while nothing changes: every
//! change (publish, tag, unpublish, visibility, claim, token revocation) is
//! seen by the next request on the replica that made it, and within
//! `CHANGE_BOUND` on another that had the old state in memory.

use serde_json::{Value, json};

use crate::support::builder::Reg;
use crate::support::npm::publish;
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, config, within_change_bound};

async fn packument(c: &reqwest::Client, reg: &str, name: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = c.get(format!("{reg}/{name}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn has_version(doc: &Value, v: &str) -> bool {
    doc["versions"][v].is_object()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_seen_at_once_here_and_within_the_bound_elsewhere() {
    let dir = tempfile::tempdir().expect("dir");
    let toml =
        config(&format!("{}\n{}", Reg::local("npm", "npm").open_read().toml(), Reg::local("cargo", "crates").toml()));
    // Two replicas on one catalog and blob store.
    let a = TestServer::start_at(dir.path(), &toml).await;
    let b = TestServer::start_at(dir.path(), &toml).await;
    let (ra, rb) = (a.reg("npm"), b.reg("npm"));
    let c = client();

    // A name read while absent on B (a view of nothing), then published on A.
    assert_eq!(packument(&c, &rb, "lib", Some(BOB)).await.0, 404);
    assert_eq!(publish(&c, &ra, ALICE, "lib", "1.0.0").await.0, 201);
    assert!(has_version(&packument(&c, &ra, "lib", Some(BOB)).await.1, "1.0.0"), "A: publish not seen at once");
    within_change_bound("first publish", || async { packument(&c, &rb, "lib", Some(BOB)).await.0 == 200 }).await;

    // Both have the package in memory; a second version through A.
    assert!(!has_version(&packument(&c, &rb, "lib", Some(BOB)).await.1, "1.1.0"));
    assert_eq!(publish(&c, &ra, ALICE, "lib", "1.1.0").await.0, 201);
    assert!(has_version(&packument(&c, &ra, "lib", Some(BOB)).await.1, "1.1.0"), "A: publish not seen at once");
    within_change_bound("publish", || async { has_version(&packument(&c, &rb, "lib", Some(BOB)).await.1, "1.1.0") })
        .await;

    // A tag moved through B: seen by B's next request, by A within the bound.
    let tag = c
        .put(format!("{rb}/-/package/lib/dist-tags/latest"))
        .bearer_auth(ALICE)
        .json(&json!("1.0.0"))
        .send()
        .await
        .expect("tag");
    assert!(tag.status().is_success(), "{}", tag.status());
    assert_eq!(packument(&c, &rb, "lib", Some(BOB)).await.1["dist-tags"]["latest"], "1.0.0");
    within_change_bound("dist-tag", || async {
        packument(&c, &ra, "lib", Some(BOB)).await.1["dist-tags"]["latest"] == "1.0.0"
    })
    .await;

    // A cargo yank through B: B's next index read shows it, A's within the bound.
    let (ca, cb) = (a.reg("crates"), b.reg("crates"));
    assert_eq!(crate::support::cargo::publish(&c, &ca, ALICE, "yanky", "0.1.0", json!([])).await.0, 200);
    let yanked = |reg: String| {
        let c = c.clone();
        async move {
            let text = c
                .get(format!("{reg}/registry/ya/nk/yanky"))
                .header("authorization", BOB)
                .send()
                .await
                .expect("index")
                .text()
                .await
                .expect("text");
            let line: Value = serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap_or(Value::Null);
            line["yanked"].as_bool()
        }
    };
    assert_eq!(yanked(ca.clone()).await, Some(false));
    within_change_bound("cargo publish", || async { yanked(cb.clone()).await == Some(false) }).await;
    let r = c.delete(format!("{cb}/api/v1/crates/yanky/0.1.0/yank")).header("authorization", ALICE).send().await;
    assert_eq!(r.expect("yank").status(), 200);
    assert_eq!(yanked(cb.clone()).await, Some(true), "B: yank not seen at once");
    within_change_bound("yank", || async { yanked(ca.clone()).await == Some(true) }).await;

    // A tarball both served, then its version unpublished through A.
    let tgz = |reg: &str| format!("{reg}/lib/-/lib-1.1.0.tgz");
    for reg in [&ra, &rb] {
        assert_eq!(c.get(tgz(reg)).bearer_auth(BOB).send().await.expect("get").status(), 200);
    }
    // npm unpublish lib@1.1.0: the packument without the version, PUT back.
    let mut doc = packument(&c, &ra, "lib?write=true", Some(ALICE)).await.1;
    let rev = doc["_rev"].as_str().expect("rev").to_string();
    doc["versions"].as_object_mut().expect("versions").remove("1.1.0");
    let gone = c.put(format!("{ra}/lib/-rev/{rev}")).bearer_auth(ALICE).json(&doc).send().await.expect("put");
    assert_eq!(gone.status(), 200);
    assert_eq!(c.get(tgz(&ra)).bearer_auth(BOB).send().await.expect("get").status(), 404, "A: unpublish not seen");
    within_change_bound("unpublish", || async {
        c.get(tgz(&rb)).bearer_auth(BOB).send().await.expect("get").status() == 404
    })
    .await;

    // Visibility: the anonymous caller read it on both; made internal on A.
    for reg in [&ra, &rb] {
        assert_eq!(packument(&c, reg, "lib", None).await.0, 200);
    }
    let vis = c
        .put(format!("{}/api/v1/registries/npm/packages/lib/visibility", a.url))
        .bearer_auth(ALICE)
        .json(&json!({"visibility": "internal"}))
        .send()
        .await
        .expect("visibility");
    assert_eq!(vis.status(), 200);
    assert_eq!(packument(&c, &ra, "lib", None).await.0, 401, "A: visibility change not enforced at once");
    within_change_bound("visibility", || async { packument(&c, &rb, "lib", None).await.0 == 401 }).await;

    // A claim made on B: Alice may no longer publish under it, on B at once
    // and on A within the bound (A read the registry's claims before).
    assert_eq!(publish(&c, &ra, ALICE, "@team/one", "1.0.0").await.0, 201);
    let claim = c
        .post(format!("{}/api/v1/admin/registries/npm/namespaces", b.url))
        .bearer_auth(ADMIN)
        .json(&json!({"prefix": "@team/", "group": "someone-else"}))
        .send()
        .await
        .expect("claim");
    assert_eq!(claim.status(), 201);
    assert_eq!(publish(&c, &rb, ALICE, "@team/two", "1.0.0").await.0, 403, "B: claim not enforced at once");
    let mut i = 0;
    within_change_bound("claim", || {
        i += 1;
        let (c, ra) = (c.clone(), ra.clone());
        async move { publish(&c, &ra, ALICE, &format!("@team/late{i}"), "1.0.0").await.0 == 403 }
    })
    .await;

    // A token used on both (so both hold it), revoked through A.
    let made: Value = c
        .post(format!("{}/api/v1/auth/tokens", a.url))
        .bearer_auth(ALICE)
        .json(&json!({"name": "views"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = made["token"].as_str().expect("token").to_string();
    let me = |url: &str| format!("{url}/api/v1/me");
    for url in [&a.url, &b.url] {
        assert_eq!(c.get(me(url)).bearer_auth(&token).send().await.expect("me").status(), 200);
    }
    let id = made["id"].as_str().expect("id");
    let revoke = c.delete(format!("{}/api/v1/auth/tokens/{id}", a.url)).bearer_auth(ALICE).send().await;
    assert_eq!(revoke.expect("revoke").status(), 204);
    assert_eq!(c.get(me(&a.url)).bearer_auth(&token).send().await.expect("me").status(), 401, "A: revocation");
    within_change_bound("revocation", || async {
        c.get(me(&b.url)).bearer_auth(&token).send().await.expect("me").status() == 401
    })
    .await;
}

/// Reads of an unchanged package touch no catalog row: the view is kept,
/// and so is each rendering of it, until the registry changes.
#[tokio::test]
async fn unchanged_packages_are_served_from_memory() {
    let s = TestServer::start(&config(&Reg::local("npm", "npm").toml())).await;
    let (reg, c) = (s.reg("npm"), client());
    assert_eq!(publish(&c, &reg, ALICE, "kept", "1.0.0").await.0, 201);
    let first = c.get(format!("{reg}/kept")).bearer_auth(BOB).send().await.expect("get");
    let etag = first.headers().get("etag").and_then(|v| v.to_str().ok()).expect("etag").to_string();
    let views = &s.app.views;
    let before = views.loads();
    for _ in 0..20 {
        let r = c.get(format!("{reg}/kept")).bearer_auth(BOB).send().await.expect("get");
        assert_eq!(r.status(), 200);
        let t = c.get(format!("{reg}/kept/-/kept-1.0.0.tgz")).bearer_auth(BOB).send().await.expect("get");
        assert_eq!(t.status(), 200);
    }
    assert_eq!(views.loads(), before, "an unchanged package was read from the catalog again");
    // A client holding the current rendering gets a 304.
    let again = c.get(format!("{reg}/kept")).bearer_auth(BOB).header("if-none-match", &etag).send().await;
    assert_eq!(again.expect("get").status(), 304);
    // A change: loaded once more, then kept again.
    assert_eq!(publish(&c, &reg, ALICE, "kept", "1.1.0").await.0, 201);
    for _ in 0..5 {
        let doc: Value =
            c.get(format!("{reg}/kept")).bearer_auth(BOB).send().await.expect("get").json().await.expect("j");
        assert!(doc["versions"]["1.1.0"].is_object());
    }
    assert_eq!(views.loads(), before + 1, "one load per change");
}
