//! Go modules in process: publishing (the zip rules, `.info`/`.mod` made
//! from the zip, 409, retractions, pseudo-versions, majors, case encoding),
//! the proxy against a fake GOPROXY (fetched once, verified before kept,
//! upstreams tried in order), the checksum database through the proxy,
//! hybrid shadowing, and the Upload card.

use crate::support::builder::Reg;
use crate::support::go::{FakeGoproxy, escape, go_mod, module_zip, publish_zip, zip_of};
use crate::support::{ALICE, BOB, TestServer, client, config, stored_blobs};

async fn get(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.expect("get");
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn publish_list_latest_info_mod_zip() {
    let s = TestServer::with(&[Reg::local("goproxy", "internal-go")], "").await;
    let c = client();
    let reg = s.reg("internal-go");
    // An uppercase letter in the path: stored as written, served case-encoded.
    let module = "example.com/Acme/lib";
    let zip = module_zip(module, "v1.0.0");
    let reply = publish_zip(&c, &reg, Some(ALICE), module, "v1.0.0", zip.clone()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(s.app.catalog.get_package("internal-go", module).await.expect("db").is_some(), "one canonical key");
    let base = format!("{reg}/{}", escape(module));
    assert_eq!(base, format!("{reg}/example.com/!acme/lib"));
    let (status, ct, list) = get(&c, &format!("{base}/@v/list"), Some(ALICE)).await;
    assert_eq!((status, ct.as_str(), list.as_str()), (200, "text/plain; charset=utf-8", "v1.0.0\n"));
    let (status, ct, info) = get(&c, &format!("{base}/@v/v1.0.0.info"), Some(ALICE)).await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let info: serde_json::Value = serde_json::from_str(&info).expect("json");
    assert_eq!(info["Version"], "v1.0.0");
    assert!(info["Time"].as_str().is_some_and(|t| t.ends_with('Z')), "{info}");
    let (status, _, gomod) = get(&c, &format!("{base}/@v/v1.0.0.mod"), Some(ALICE)).await;
    assert_eq!((status, gomod.as_str()), (200, go_mod(module, "").as_str()));
    let r = c.get(format!("{base}/@v/v1.0.0.zip")).bearer_auth(ALICE).send().await.expect("zip");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert_eq!(r.bytes().await.expect("body").as_ref(), &zip[..]);
    // %21 for `!` is the same path.
    let (status, _, _) = get(&c, &format!("{reg}/example.com/%21acme/lib/@latest"), Some(ALICE)).await;
    assert_eq!(status, 200);
    // The uncoded capital is not a valid request.
    let (status, _, body) = get(&c, &format!("{reg}/example.com/Acme/lib/@v/list"), Some(ALICE)).await;
    assert_eq!(status, 400, "{body}");
    // Another module differing only in case is another module.
    let (status, _, _) = get(&c, &format!("{reg}/example.com/acme/lib/@v/list"), Some(ALICE)).await;
    assert_eq!(status, 404);
    // Versions are immutable.
    let again = publish_zip(&c, &reg, Some(ALICE), module, "v1.0.0", zip.clone()).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already exists"), "{}", again.body);
    // Unknown versions are 404 (so `,direct` falls back), in plain text.
    let (status, ct, body) = get(&c, &format!("{base}/@v/v9.9.9.info"), Some(ALICE)).await;
    assert_eq!((status, ct.as_str()), (404, "text/plain; charset=utf-8"), "{body}");
    assert!(body.contains("not found"), "{body}");

    // /v2: a major version lives at its own path.
    let v2 = "example.com/acme/tool/v2";
    assert_eq!(publish_zip(&c, &reg, Some(ALICE), v2, "v2.1.0", module_zip(v2, "v2.1.0")).await.status, 201);
    let wrong = publish_zip(&c, &reg, Some(ALICE), "example.com/acme/tool", "v2.1.0", module_zip(v2, "v2.1.0")).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    // +incompatible: a module from before go.mod; the .mod is synthesised.
    let old = "example.com/acme/legacy";
    let zip = zip_of(old, "v3.0.0+incompatible", &[("legacy.go", "package legacy\n")]);
    assert_eq!(publish_zip(&c, &reg, Some(ALICE), old, "v3.0.0+incompatible", zip).await.status, 201);
    let (_, _, gomod) = get(&c, &format!("{reg}/{old}/@v/v3.0.0+incompatible.mod"), Some(ALICE)).await;
    assert_eq!(gomod, format!("module {old}\n"));
}

#[tokio::test]
async fn retractions_and_pseudo_versions_shape_list_and_latest() {
    let s = TestServer::with(&[Reg::local("goproxy", "internal-go")], "").await;
    let c = client();
    let reg = s.reg("internal-go");
    let m = "example.com/acme/retracting";
    let pseudo = "v0.0.0-20240101120000-abcdefabcdef";
    assert_eq!(publish_zip(&c, &reg, Some(ALICE), m, pseudo, module_zip(m, pseudo)).await.status, 201);
    // Only a pseudo-version: not listed, but it is the latest.
    let (_, _, list) = get(&c, &format!("{reg}/{m}/@v/list"), Some(ALICE)).await;
    assert_eq!(list, "");
    let (_, _, latest) = get(&c, &format!("{reg}/{m}/@latest"), Some(ALICE)).await;
    assert!(latest.contains(pseudo), "{latest}");
    for v in ["v1.0.0", "v1.1.0"] {
        assert_eq!(publish_zip(&c, &reg, Some(ALICE), m, v, module_zip(m, v)).await.status, 201);
    }
    let (_, _, list) = get(&c, &format!("{reg}/{m}/@v/list"), Some(ALICE)).await;
    assert_eq!(list, "v1.0.0\nv1.1.0\n");
    // v1.2.0 retracts v1.1.0 and itself: the list and @latest follow.
    let gm = go_mod(m, "retract (\n\tv1.1.0 // broken\n\t[v1.2.0, v1.2.0]\n)\n");
    let zip = zip_of(m, "v1.2.0", &[("go.mod", gm.as_str()), ("r.go", "package retracting\n")]);
    assert_eq!(publish_zip(&c, &reg, Some(ALICE), m, "v1.2.0", zip).await.status, 201);
    let (_, _, list) = get(&c, &format!("{reg}/{m}/@v/list"), Some(ALICE)).await;
    assert_eq!(list, "v1.0.0\n");
    let (_, _, latest) = get(&c, &format!("{reg}/{m}/@latest"), Some(ALICE)).await;
    let latest: serde_json::Value = serde_json::from_str(&latest).expect("json");
    assert_eq!(latest["Version"], "v1.0.0");
    // A retracted version is still there for whoever pins it.
    let (status, _, _) = get(&c, &format!("{reg}/{m}/@v/v1.1.0.zip"), Some(ALICE)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_proxy_fetches_once_verifies_and_tries_upstreams_in_order() {
    let empty = FakeGoproxy::start().await;
    let up = FakeGoproxy::start().await;
    let m = "example.com/Up/lib";
    let zip = module_zip(m, "v1.2.3");
    up.add_module(m, "v1.2.3", zip.clone());
    let s = TestServer::with(&[Reg::proxy("goproxy", "go", &empty.url).upstream(&up.url).open_read()], "").await;
    let c = client();
    let base = format!("{}/{}", s.reg("go"), escape(m));
    let (status, _, list) = get(&c, &format!("{base}/@v/list"), None).await;
    assert_eq!((status, list.as_str()), (200, "v1.2.3\n"));
    let (status, _, latest) = get(&c, &format!("{base}/@latest"), None).await;
    assert_eq!(status, 200, "{latest}");
    // Twenty clients at once: one upstream fetch of the zip.
    let url = format!("{base}/@v/v1.2.3.zip");
    let fetches = (0..20).map(|_| {
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(url).send().await.expect("get").bytes().await.expect("body").to_vec() }
    });
    for body in futures_util::future::join_all(fetches).await {
        assert_eq!(body, zip);
    }
    let zip_path = format!("/{}/@v/v1.2.3.zip", escape(m));
    assert_eq!(up.hits(&zip_path), 1, "one upstream fetch");
    assert_eq!(empty.hits(&zip_path), 1, "the first upstream was asked first");
    for ext in ["info", "mod"] {
        for _ in 0..2 {
            let (status, _, body) = get(&c, &format!("{base}/@v/v1.2.3.{ext}"), None).await;
            assert_eq!(status, 200, "{ext}: {body}");
        }
        assert_eq!(up.hits(&format!("/{}/@v/v1.2.3.{ext}", escape(m))), 1, "{ext} is immutable once fetched");
    }
    // A module nobody has: 404, so the go command may fall back.
    let (status, _, _) = get(&c, &format!("{}/example.com/nobody/@v/list", s.reg("go")), None).await;
    assert_eq!(status, 404);

    // A corrupt zip: 502, nothing kept; once the upstream mends, served.
    let bad = "example.com/up/corrupt";
    up.add_module(bad, "v1.0.0", module_zip(bad, "v1.0.0"));
    up.set_corrupt(true);
    let blobs_before = stored_blobs(&s).await.len();
    let (status, ct, body) = get(&c, &format!("{}/{bad}/@v/v1.0.0.zip", s.reg("go")), None).await;
    assert_eq!((status, ct.as_str()), (502, "text/plain; charset=utf-8"), "{body}");
    assert_eq!(stored_blobs(&s).await.len(), blobs_before, "nothing kept");
    up.set_corrupt(false);
    let (status, _, _) = get(&c, &format!("{}/{bad}/@v/v1.0.0.zip", s.reg("go")), None).await;
    assert_eq!(status, 200);

    // The upstreams down: what was fetched is still served; anything else is
    // a 502 (not a 404: the go command must not take it for "no such module").
    up.set_fail(true);
    empty.set_fail(true);
    let (status, _, list) = get(&c, &format!("{base}/@v/list"), None).await;
    assert_eq!((status, list.as_str()), (200, "v1.2.3\n"));
    assert_eq!(get(&c, &url, None).await.0, 200);
    let (status, ct, body) = get(&c, &format!("{}/example.com/up/other/@v/list", s.reg("go")), None).await;
    assert_eq!((status, ct.as_str()), (502, "text/plain; charset=utf-8"), "{body}");
    up.set_fail(false);
    empty.set_fail(false);

    // A zip that breaks the module rules (another module's files) is refused too.
    let liar = "example.com/up/liar";
    up.add_module(liar, "v1.0.0", module_zip("example.com/up/other", "v1.0.0"));
    let (status, _, body) = get(&c, &format!("{}/{liar}/@v/v1.0.0.zip", s.reg("go")), None).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("prefix"), "{body}");
}

#[tokio::test]
async fn the_checksum_database_is_forwarded_and_tiles_kept() {
    let up = FakeGoproxy::start().await;
    up.add_file("", "", "sumdb:sumdb.example/supported", Vec::new());
    up.add_file("", "", "sumdb:sumdb.example/lookup/example.com/m@v1.0.0", b"7\nexample.com/m v1.0.0 h1:x=\n".to_vec());
    up.add_file("", "", "sumdb:sumdb.example/tile/8/0/000.p/7", vec![1u8; 224]);
    let only_other = "[registries.options]\nchecksum_databases = [\"other.example\"]\n";
    let s = TestServer::start(&config(&format!(
        "{}{}{only_other}",
        Reg::proxy("goproxy", "go", &up.url).open_read().toml(),
        Reg::proxy("goproxy", "strict", &up.url).open_read().toml(),
    )))
    .await;
    let c = client();
    let go = s.reg("go");
    assert_eq!(get(&c, &format!("{go}/sumdb/sumdb.example/supported"), None).await.0, 200);
    let (status, _, body) = get(&c, &format!("{go}/sumdb/sumdb.example/lookup/example.com/m@v1.0.0"), None).await;
    assert_eq!((status, body.as_str()), (200, "7\nexample.com/m v1.0.0 h1:x=\n"));
    for _ in 0..3 {
        let r = c.get(format!("{go}/sumdb/sumdb.example/tile/8/0/000.p/7")).send().await.expect("tile");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.expect("body").len(), 224);
    }
    assert_eq!(up.hits("/sumdb/sumdb.example/tile/8/0/000.p/7"), 1, "tiles are immutable: fetched once");
    // A database the upstream does not serve: 404 (the go command then goes direct).
    assert_eq!(get(&c, &format!("{go}/sumdb/nosuch.example/supported"), None).await.0, 404);
    // A registry that forwards only another database answers 404 without asking.
    let asked = up.total_hits();
    assert_eq!(get(&c, &format!("{}/sumdb/sumdb.example/supported", s.reg("strict")), None).await.0, 404);
    assert_eq!(up.total_hits(), asked);
    // An unknown option is a configuration error.
    let bad = format!("{}[registries.options]\nchecksum = true\n", Reg::proxy("goproxy", "go", &up.url).toml());
    let err = batlehub::ecosystems::parse_config(&config(&bad)).expect_err("unknown option");
    assert!(err.to_string().contains("unknown option `checksum`"), "{err}");
}

#[tokio::test]
async fn hybrid_keeps_local_modules_off_the_upstream() {
    let up = FakeGoproxy::start().await;
    let m = "example.com/acme/shared";
    up.add_module(m, "v9.0.0+incompatible", zip_of(m, "v9.0.0+incompatible", &[("x.go", "package shared\n")]));
    up.add_module("example.com/public/dep", "v1.0.0", module_zip("example.com/public/dep", "v1.0.0"));
    let s = TestServer::with(
        &[Reg::hybrid("goproxy", "go", &up.url)
            .open_read()
            .allow_upstream_name(m)
            .namespace("example.com/acme/", "oidc:myorg")],
        "",
    )
    .await;
    let c = client();
    let reg = s.reg("go");
    assert_eq!(publish_zip(&c, &reg, Some(ALICE), m, "v1.0.0", module_zip(m, "v1.0.0")).await.status, 201);
    let before = up.total_hits();
    let (_, _, list) = get(&c, &format!("{reg}/{m}/@v/list"), Some(BOB)).await;
    assert_eq!(list, "v1.0.0\n", "local versions only");
    let (status, _, _) = get(&c, &format!("{reg}/{m}/@v/v9.0.0+incompatible.zip"), Some(BOB)).await;
    assert_eq!(status, 404, "an upstream version of a local module is not fetched");
    // A claimed path never goes upstream, published or not.
    let (status, _, _) = get(&c, &format!("{reg}/example.com/acme/unpublished/@v/list"), Some(BOB)).await;
    assert_eq!(status, 404);
    assert_eq!(up.total_hits(), before, "the upstream was asked about local or claimed paths");
    // Other modules come from the upstream.
    let (status, _, list) = get(&c, &format!("{reg}/example.com/public/dep/@v/list"), Some(BOB)).await;
    assert_eq!((status, list.as_str()), (200, "v1.0.0\n"));
    // Publishing under the claim is for the claim's group only.
    let other = "example.com/acme/other";
    let refused = publish_zip(&c, &reg, Some(BOB), other, "v1.0.0", module_zip(other, "v1.0.0")).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}

#[tokio::test]
async fn the_upload_card_publishes_a_module_zip() {
    let s = TestServer::with(&[Reg::local("goproxy", "internal-go").open_read()], "").await;
    let (status, page) = crate::support::upload_card(
        &s,
        ALICE,
        "internal-go",
        "m.zip",
        b"not a zip".to_vec(),
        &[("module", "example.com/acme/uploaded"), ("version", "v1.0.0")],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("invalid module zip"), "{page}");
    let m = "example.com/acme/uploaded";
    let (status, page) = crate::support::upload_card(
        &s,
        ALICE,
        "internal-go",
        "m.zip",
        module_zip(m, "v1.0.0"),
        &[("module", m), ("version", "v1.0.0")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Published "), "{page}");
    let (status, _, list) = get(&client(), &format!("{}/{m}/@v/list", s.reg("internal-go")), None).await;
    assert_eq!((status, list.as_str()), (200, "v1.0.0\n"));
    // The card asks for what Go needs.
    let browser = reqwest::Client::builder().cookie_store(true).build().expect("client");
    browser.post(format!("{}/login", s.url)).form(&[("token", ALICE), ("return_to", "/")]).send().await.expect("login");
    let card = browser.get(format!("{}/my-namespace", s.url)).send().await.expect("page").text().await.expect("body");
    assert!(card.contains("Module path"), "the card asks for the module path");
}
