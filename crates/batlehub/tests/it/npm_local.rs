//! npm in local mode: publish, read back, ownership, claims, visibility,
//! tags, deprecate, unpublish, conflicts, limits, restarts.

use serde_json::json;

use crate::support::npm::{escaped, integrity, publish, publish_body, tarball};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, config, files_under, json, stored_blobs};

fn local(extra: &str) -> String {
    config(&format!(
        r#"
[[registries]]
type = "npm"
name = "internal"
mode = "local"

[[registries]]
type = "npm"
name = "mirror"
mode = "proxy"
upstreams = ["http://127.0.0.1:9/"]
{extra}
"#
    ))
}

#[tokio::test]
async fn publish_then_read_everything_back() {
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("internal");
    let tgz = tarball("@myorg/widget", "1.2.3", &[("left", "^1")]);
    let body = publish_body("@myorg/widget", "1.2.3", &tgz, &reg);
    let r = c.put(format!("{reg}/@myorg%2fwidget")).bearer_auth(ALICE).json(&body).send().await.expect("put");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    // Full packument, both URL forms.
    for path in ["@myorg%2fwidget", "@myorg/widget"] {
        let doc = json(c.get(format!("{reg}/{path}")).bearer_auth(BOB).send().await.expect("get")).await;
        assert_eq!(doc["name"], "@myorg/widget");
        assert_eq!(doc["dist-tags"]["latest"], "1.2.3");
        let dist = &doc["versions"]["1.2.3"]["dist"];
        assert_eq!(dist["tarball"], format!("{reg}/@myorg/widget/-/widget-1.2.3.tgz"));
        assert_eq!(dist["integrity"], integrity(&tgz));
        assert_eq!(doc["versions"]["1.2.3"]["description"], "the @myorg/widget package");
        assert_eq!(doc["maintainers"][0]["name"], "alice");
    }
    // Abbreviated metadata.
    let r = c
        .get(format!("{reg}/@myorg%2fwidget"))
        .bearer_auth(BOB)
        .header("accept", "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*")
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["content-type"], "application/vnd.npm.install-v1+json");
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    let doc = json(r).await;
    assert!(doc["versions"]["1.2.3"].get("description").is_none());
    assert_eq!(doc["versions"]["1.2.3"]["dist"]["integrity"], integrity(&tgz));
    // Conditional request.
    let r = c
        .get(format!("{reg}/@myorg%2fwidget"))
        .bearer_auth(BOB)
        .header("accept", "application/vnd.npm.install-v1+json")
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 304);
    // Version document, by version and by tag.
    for spec in ["1.2.3", "latest"] {
        let v = json(c.get(format!("{reg}/@myorg%2fwidget/{spec}")).bearer_auth(BOB).send().await.expect("get")).await;
        assert_eq!(v["version"], "1.2.3");
    }
    let r = c.get(format!("{reg}/@myorg%2fwidget/9.9.9")).bearer_auth(BOB).send().await.expect("get");
    assert_eq!(r.status(), 404);
    // Tarball bytes are exactly what was published.
    let r = c.get(format!("{reg}/@myorg/widget/-/widget-1.2.3.tgz")).bearer_auth(BOB).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], tgz.len().to_string().as_str());
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), tgz);
    // whoami.
    let who = json(c.get(format!("{reg}/-/whoami")).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(who, json!({"username": "bob"}));
}

#[tokio::test]
async fn republish_is_409_and_ownership_is_enforced() {
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("internal");
    assert_eq!(publish(&c, &reg, ALICE, "thing", "1.0.0").await.0, 201);
    let (status, body) = publish(&c, &reg, ALICE, "thing", "1.0.0").await;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap_or("").contains("1.0.0"), "{body}");
    // Bob is not an owner.
    let (status, body) = publish(&c, &reg, BOB, "thing", "1.1.0").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap_or("").contains("own"), "{body}");
    // The owner and an admin may.
    assert_eq!(publish(&c, &reg, ALICE, "thing", "1.1.0").await.0, 201);
    assert_eq!(publish(&c, &reg, ADMIN, "thing", "1.2.0").await.0, 201);
    // Anonymous: 401 with a challenge.
    let tgz = tarball("thing", "2.0.0", &[]);
    let r = c.put(format!("{reg}/thing")).json(&publish_body("thing", "2.0.0", &tgz, &reg)).send().await.expect("put");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"batlehub\"");
    let events = {
        s.app.flush().await;
        s.app.catalog.recent_audit_events(50).await.expect("audit")
    };
    assert!(events.iter().any(|e| e.action == "publish" && e.version.as_deref() == Some("1.1.0")));
    assert!(events.iter().any(|e| e.outcome == "denied" && e.principal.as_deref() == Some("bob")), "{events:?}");
}

#[tokio::test]
async fn namespace_claims_reserve_new_names() {
    let s = TestServer::start(&local("")).await;
    s.app.catalog.add_claim("internal", "@myorg", "oidc:myorg", Some("admin")).await.expect("claim");
    let c = client();
    let reg = s.reg("internal");
    // Bob is not in the claiming group: refused even for a new name.
    let (status, body) = publish(&c, &reg, BOB, "@myorg/ui", "1.0.0").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap_or("").contains("claimed"), "{body}");
    // Alice's group "oidc:my org" matches "oidc:myorg" (spaces stripped).
    assert_eq!(publish(&c, &reg, ALICE, "@myorg/ui", "1.0.0").await.0, 201);
    // Outside the claim, anyone with write may create names.
    assert_eq!(publish(&c, &reg, BOB, "@other/ui", "1.0.0").await.0, 201);
}

#[tokio::test]
async fn visibility_hides_packages() {
    let s = TestServer::start(&local(
        r#"
[[registries]]
type = "npm"
name = "open"
mode = "local"
[registries.rbac]
anonymous = ["releases:read", "source:read"]
user = ["releases:read", "source:read", "releases:write"]
"#,
    ))
    .await;
    s.app.catalog.add_claim("open", "@myorg", "oidc:myorg", None).await.expect("claim");
    let c = client();
    let reg = s.reg("open");
    assert_eq!(publish(&c, &reg, ALICE, "@myorg/secret", "1.0.0").await.0, 201);
    assert_eq!(publish(&c, &reg, ALICE, "inside", "1.0.0").await.0, 201);
    let pkg = s.app.catalog.get_package("open", "@myorg/secret").await.expect("db").expect("row");
    s.app
        .catalog
        .set_visibility(&pkg.id, batlehub::access::Visibility::Team, batlehub::catalog::ANY_WRITER)
        .await
        .expect("vis");
    let pkg = s.app.catalog.get_package("open", "inside").await.expect("db").expect("row");
    s.app
        .catalog
        .set_visibility(&pkg.id, batlehub::access::Visibility::Internal, batlehub::catalog::ANY_WRITER)
        .await
        .expect("vis");

    let get = |path: &str, token: Option<&str>| {
        let mut r = c.get(format!("{reg}/{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    // team: anonymous 401, non-member 404, member and admin 200; tarballs too.
    assert_eq!(get("@myorg%2fsecret", None).await.expect("get").status(), 401);
    assert_eq!(get("@myorg%2fsecret", Some(BOB)).await.expect("get").status(), 404);
    assert_eq!(get("@myorg%2fsecret", Some(ALICE)).await.expect("get").status(), 200);
    assert_eq!(get("@myorg%2fsecret", Some(ADMIN)).await.expect("get").status(), 200);
    assert_eq!(get("@myorg/secret/-/secret-1.0.0.tgz", Some(BOB)).await.expect("get").status(), 404);
    assert_eq!(get("@myorg/secret/-/secret-1.0.0.tgz", Some(ALICE)).await.expect("get").status(), 200);
    // internal: anonymous 401, any identity 200.
    assert_eq!(get("inside", None).await.expect("get").status(), 401);
    assert_eq!(get("inside", Some(BOB)).await.expect("get").status(), 200);
    // Search shows each caller only what it may see.
    let names = |v: serde_json::Value| -> Vec<String> {
        v["objects"]
            .as_array()
            .map(|a| a.iter().map(|o| o["package"]["name"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    };
    let anon = names(json(get("-/v1/search?text=", None).await.expect("get")).await);
    assert!(anon.is_empty(), "{anon:?}");
    let bob = names(json(get("-/v1/search?text=", Some(BOB)).await.expect("get")).await);
    assert_eq!(bob, vec!["inside".to_string()]);
    let mut alice = names(json(get("-/v1/search?text=", Some(ALICE)).await.expect("get")).await);
    alice.sort();
    assert_eq!(alice, vec!["@myorg/secret".to_string(), "inside".to_string()]);
}

#[tokio::test]
async fn dist_tags_deprecate_and_unpublish() {
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("internal");
    for v in ["1.0.0", "1.1.0", "2.0.0-beta.1"] {
        assert_eq!(publish(&c, &reg, ALICE, "@myorg/lib", v).await.0, 201);
    }
    let tags_url = format!("{reg}/-/package/@myorg%2flib/dist-tags");
    let tags = json(c.get(&tags_url).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(tags["latest"], "2.0.0-beta.1");
    // add, move latest back, rm
    let r = c.put(format!("{tags_url}/beta")).bearer_auth(ALICE).json(&"2.0.0-beta.1").send().await.expect("put");
    assert_eq!(r.status(), 201);
    let r = c.put(format!("{tags_url}/latest")).bearer_auth(ALICE).json(&"1.1.0").send().await.expect("put");
    assert_eq!(r.status(), 201);
    let r = c.put(format!("{tags_url}/nope")).bearer_auth(ALICE).json(&"9.9.9").send().await.expect("put");
    assert_eq!(r.status(), 404);
    let r = c.put(format!("{tags_url}/stolen")).bearer_auth(BOB).json(&"1.0.0").send().await.expect("put");
    assert_eq!(r.status(), 403);
    let tags = json(c.get(&tags_url).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(tags, json!({"beta": "2.0.0-beta.1", "latest": "1.1.0"}));
    let r = c.delete(format!("{tags_url}/beta")).bearer_auth(ALICE).send().await.expect("del");
    assert_eq!(r.status(), 200);
    let r = c.delete(format!("{tags_url}/latest")).bearer_auth(ALICE).send().await.expect("del");
    assert_eq!(r.status(), 400);

    // npm deprecate: GET ?write=true, set versions[v].deprecated, PUT it back.
    let mut doc =
        json(c.get(format!("{reg}/@myorg%2flib?write=true")).bearer_auth(ALICE).send().await.expect("get")).await;
    doc["versions"]["1.0.0"]["deprecated"] = json!("use 1.1");
    let r = c.put(format!("{reg}/@myorg%2flib")).bearer_auth(ALICE).json(&doc).send().await.expect("put");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let v = json(c.get(format!("{reg}/@myorg%2flib/1.0.0")).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(v["deprecated"], "use 1.1");
    let abbreviated = json(
        c.get(format!("{reg}/@myorg%2flib"))
            .header("accept", "application/vnd.npm.install-v1+json")
            .bearer_auth(BOB)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(abbreviated["versions"]["1.0.0"]["deprecated"], "use 1.1");

    // npm unpublish @myorg/lib@1.0.0: PUT -rev without the version, then DELETE the tarball.
    let mut doc =
        json(c.get(format!("{reg}/@myorg%2flib?write=true")).bearer_auth(ALICE).send().await.expect("get")).await;
    let rev = doc["_rev"].as_str().expect("rev").to_string();
    let tarball_url = doc["versions"]["1.0.0"]["dist"]["tarball"].as_str().expect("tarball").to_string();
    doc["versions"].as_object_mut().expect("versions").remove("1.0.0");
    // Bob may not.
    let r = c.put(format!("{reg}/@myorg%2flib/-rev/{rev}")).bearer_auth(BOB).json(&doc).send().await.expect("put");
    assert_eq!(r.status(), 403);
    let r = c.put(format!("{reg}/@myorg%2flib/-rev/{rev}")).bearer_auth(ALICE).json(&doc).send().await.expect("put");
    assert_eq!(r.status(), 200);
    let path = tarball_url.strip_prefix(&format!("{reg}/")).expect("under registry");
    let r = c.delete(format!("{reg}/{path}/-rev/{rev}")).bearer_auth(ALICE).send().await.expect("del");
    assert_eq!(r.status(), 200);
    let doc = json(c.get(format!("{reg}/@myorg%2flib")).bearer_auth(BOB).send().await.expect("get")).await;
    let mut versions: Vec<&String> = doc["versions"].as_object().expect("versions").keys().collect();
    versions.sort();
    assert_eq!(versions, vec!["1.1.0", "2.0.0-beta.1"]);
    assert_eq!(c.get(&tarball_url).bearer_auth(BOB).send().await.expect("get").status(), 404);

    // npm unpublish --force: DELETE /{name}/-rev/{rev}; the name is free again.
    let r = c.delete(format!("{reg}/@myorg%2flib/-rev/x")).bearer_auth(ALICE).send().await.expect("del");
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(format!("{reg}/@myorg%2flib")).bearer_auth(BOB).send().await.expect("get").status(), 404);
    // Its blobs stay until the garbage collector finds them unreferenced
    // (a concurrent publish of the same bytes may have referenced them),
    // then every one goes.
    assert_eq!(stored_blobs(&s).await.len(), 3);
    let gc = batlehub::blobs::collect_garbage(&s.app.blobs, &s.app.catalog, std::time::Duration::ZERO).await;
    assert_eq!(gc.expect("gc").deleted, 3);
    let blobs = stored_blobs(&s).await;
    assert!(blobs.is_empty(), "{blobs:?}");
    // A version number is never used twice, whatever was unpublished: one
    // that was deleted alone, one that went with the package.
    for v in ["1.0.0", "1.1.0"] {
        let (status, body) = publish(&c, &reg, ALICE, "@myorg/lib", v).await;
        assert_eq!(status, 409, "{v}: {body}");
    }
    assert_eq!(publish(&c, &reg, ALICE, "@myorg/lib", "3.0.0").await.0, 201);
}

#[tokio::test]
async fn proxy_registry_refuses_writes() {
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("mirror");
    let (status, body) = publish(&c, &reg, ADMIN, "x", "1.0.0").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "registry is not in local or hybrid mode");
    for req in [
        c.put(format!("{reg}/-/package/x/dist-tags/beta")).json(&"1.0.0"),
        c.delete(format!("{reg}/x/-rev/1")),
        c.delete(format!("{reg}/x/-/x-1.0.0.tgz/-rev/1")),
        c.put(format!("{reg}/x/-rev/1")).json(&json!({"name": "x"})),
    ] {
        let r = req.bearer_auth(ADMIN).send().await.expect("send");
        assert_eq!(r.status(), 403);
        assert_eq!(json(r).await["error"], "registry is not in local or hybrid mode");
    }
}

#[tokio::test]
async fn oversized_publish_is_413_and_leaves_nothing() {
    let s = TestServer::start(&local("[limits]\nmax_artifact_size_bytes = 2000\n")).await;
    let c = client();
    let reg = s.reg("internal");
    let big = tarball_with_size("big", "1.0.0", 20_000);
    let body = serde_json::to_vec(&publish_body("big", "1.0.0", &big, &reg)).expect("json");
    let r = c
        .put(format!("{reg}/big"))
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 413);
    // Chunked (no Content-Length): the limit applies while streaming.
    let body = serde_json::to_vec(&publish_body("big", "1.0.0", &big, &reg)).expect("json");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(1024).map(|c| Ok(c.to_vec())).collect();
    let r = c
        .put(format!("{reg}/big"))
        .bearer_auth(ALICE)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 413);
    assert!(s.app.catalog.get_package("internal", "big").await.expect("db").is_none());
    assert!(stored_blobs(&s).await.is_empty());
    assert!(files_under(&s.data.join("storage/tmp")).is_empty());
}

fn tarball_with_size(name: &str, version: &str, size: usize) -> Vec<u8> {
    // Random-ish text compresses poorly enough to reach the size.
    let mut extra = String::new();
    let mut x: u64 = 0x2545F4914F6CDD1D;
    while extra.len() < size * 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        extra.push_str(&format!("{x:x}"));
    }
    crate::support::npm::tarball_with(name, version, &[], &extra)
}

#[tokio::test]
async fn restart_keeps_everything() {
    let toml = local("");
    let s = TestServer::start(&toml).await;
    let c = client();
    let reg = s.reg("internal");
    assert_eq!(publish(&c, &reg, ALICE, "@myorg/keep", "1.0.0").await.0, 201);
    let before = c
        .get(format!("{reg}/@myorg/keep/-/keep-1.0.0.tgz"))
        .bearer_auth(BOB)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("b");
    let data = s.data.clone();
    let guard = s.stop().await;
    let s2 = TestServer::start_at(&data, &toml).await;
    let reg2 = s2.reg("internal");
    let doc = json(c.get(format!("{reg2}/@myorg%2fkeep")).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    let after = c
        .get(format!("{reg2}/@myorg/keep/-/keep-1.0.0.tgz"))
        .bearer_auth(BOB)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("b");
    assert_eq!(before, after);
    // Ownership survived too.
    assert_eq!(publish(&c, &reg2, BOB, "@myorg/keep", "1.1.0").await.0, 403);
    drop(guard);
    let _ = escaped("x");
}

#[tokio::test]
async fn document_urls_follow_public_url_and_trusted_proxies_only() {
    let registries = "[[registries]]\ntype = \"npm\"\nname = \"internal\"\nmode = \"local\"\n";
    let c = client();
    // No public_url, no trusted proxy: the Host header, never X-Forwarded-*.
    let s = TestServer::start(&config(registries)).await;
    assert_eq!(publish(&c, &s.reg("internal"), ALICE, "pkg", "1.0.0").await.0, 201);
    let get = |url: String| {
        c.get(url)
            .bearer_auth(BOB)
            .header("host", "registry.internal.example:8443")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .send()
    };
    let doc = json(get(format!("{}/pkg", s.reg("internal"))).await.expect("get")).await;
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["tarball"],
        "http://registry.internal.example:8443/proxy/internal/pkg/-/pkg-1.0.0.tgz"
    );
    // A header that could inject into documents is not believed.
    let r =
        c.get(format!("{}/pkg", s.reg("internal"))).bearer_auth(BOB).header("host", "a\"b").send().await.expect("get");
    let doc = json(r).await;
    assert!(!doc["versions"]["1.0.0"]["dist"]["tarball"].as_str().unwrap_or("").contains('"'));
    drop(s);

    // Trusted proxy: X-Forwarded-Host and -Proto are believed.
    let trusted = config(registries).replace("port = 0\n", "port = 0\ntrusted_proxies = [\"127.0.0.1/32\"]\n");
    let s = TestServer::start(&trusted).await;
    assert_eq!(publish(&c, &s.reg("internal"), ALICE, "pkg", "1.0.0").await.0, 201);
    let doc = json(get(format!("{}/pkg", s.reg("internal"))).await.expect("get")).await;
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["tarball"], "https://evil.example/proxy/internal/pkg/-/pkg-1.0.0.tgz");
    drop(s);

    // public_url wins over everything.
    let public = config(registries).replace(
        "port = 0\n",
        "port = 0\npublic_url = \"https://batlehub.example.com/\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    );
    let s = TestServer::start(&public).await;
    assert_eq!(publish(&c, &s.reg("internal"), ALICE, "pkg", "1.0.0").await.0, 201);
    let doc = json(get(format!("{}/pkg", s.reg("internal"))).await.expect("get")).await;
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["tarball"],
        "https://batlehub.example.com/proxy/internal/pkg/-/pkg-1.0.0.tgz"
    );
}

#[tokio::test]
async fn audit_in_local_mode_is_an_empty_report() {
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("internal");
    let r = c
        .post(format!("{reg}/-/npm/v1/security/advisories/bulk"))
        .bearer_auth(BOB)
        .json(&json!({"x": ["1.0.0"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, json!({}));
    let r = c
        .post(format!("{reg}/-/npm/v1/security/audits/quick"))
        .bearer_auth(BOB)
        .json(&json!({"name": "app"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let report = json(r).await;
    assert_eq!(report["metadata"]["vulnerabilities"]["critical"], 0);
    assert!(report["advisories"].as_object().is_some_and(|a| a.is_empty()));
}

/// What a publish may make the server keep is bounded: a huge readme is cut
/// (and served once per packument, not once per version), a bloated
/// manifest, a flood of dist-tags and a novel of a deprecation message are
/// refused, so that reading the package costs a bounded amount of memory.
#[tokio::test]
async fn publish_metadata_is_bounded() {
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("internal");
    let put = |name: &str, body: serde_json::Value| {
        c.put(format!("{reg}/{}", escaped(name))).bearer_auth(ALICE).json(&body).send()
    };
    // A 4 MiB readme on two versions: kept cut to 64 KiB, once.
    for v in ["1.0.0", "1.1.0"] {
        let mut body = publish_body("big-readme", v, &tarball("big-readme", v, &[]), &reg);
        body["versions"][v]["readme"] = json!("R".repeat(4 * 1024 * 1024));
        assert_eq!(put("big-readme", body).await.expect("put").status(), 201);
    }
    let r = c.get(format!("{reg}/big-readme")).bearer_auth(BOB).send().await.expect("get");
    let text = r.text().await.expect("text");
    assert!(text.len() < 80 * 1024, "the packument is {} bytes", text.len());
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(doc["readme"].as_str().map(str::len), Some(64 * 1024));
    assert!(doc["versions"]["1.0.0"].get("readme").is_none() && doc["versions"]["1.1.0"].get("readme").is_none());
    // A manifest that is large for other reasons is refused.
    let mut body = publish_body("bloated", "1.0.0", &tarball("bloated", "1.0.0", &[]), &reg);
    body["versions"]["1.0.0"]["description"] = json!("D".repeat(300 * 1024));
    let r = put("bloated", body).await.expect("put");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap_or_default().contains("at most"));
    // 200,000 dist-tags in one publish: refused.
    let mut body = publish_body("tagged", "1.0.0", &tarball("tagged", "1.0.0", &[]), &reg);
    let tags: serde_json::Map<String, serde_json::Value> =
        (0..200_000).map(|i| (format!("t{i}"), json!("1.0.0"))).collect();
    body["dist-tags"] = serde_json::Value::Object(tags);
    assert_eq!(put("tagged", body).await.expect("put").status(), 400);
    assert_eq!(c.get(format!("{reg}/tagged")).bearer_auth(BOB).send().await.expect("get").status(), 404);
    // Tags one at a time: at most 100 per package.
    assert_eq!(publish(&c, &reg, ALICE, "tagged", "1.0.0").await.0, 201);
    let tag = |t: String| {
        c.put(format!("{reg}/-/package/tagged/dist-tags/{t}")).bearer_auth(ALICE).json(&json!("1.0.0")).send()
    };
    for i in 1..100 {
        assert_eq!(tag(format!("t{i}")).await.expect("tag").status(), 201, "tag {i}");
    }
    assert_eq!(tag("one-too-many".into()).await.expect("tag").status(), 400);
    assert_eq!(tag("t1".into()).await.expect("tag").status(), 201, "moving an existing tag is fine");
    // A deprecation message is a message, not a payload.
    let doc = json(c.get(format!("{reg}/tagged")).bearer_auth(ALICE).send().await.expect("get")).await;
    let mut update = doc.clone();
    update["versions"]["1.0.0"]["deprecated"] = json!("x".repeat(2048));
    assert_eq!(put("tagged", update.clone()).await.expect("put").status(), 400);
    update["versions"]["1.0.0"]["deprecated"] = json!("use something else");
    assert_eq!(put("tagged", update).await.expect("put").status(), 200);
}

/// `npm owner add` and `rm` send the maintainers alone: owners change and
/// no version is touched (a body without versions is never an unpublish);
/// a package keeps an owner; only its owners may change them.
#[tokio::test]
async fn maintainers_alone_change_owners_and_nothing_else() {
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("internal");
    assert_eq!(publish(&c, &reg, ALICE, "owned-lib", "1.0.0").await.0, 201);
    let user =
        json(c.get(format!("{reg}/-/user/org.couchdb.user:bob")).bearer_auth(ALICE).send().await.expect("user")).await;
    assert_eq!(user["name"], "bob");
    let doc = json(c.get(format!("{reg}/owned-lib")).bearer_auth(ALICE).send().await.expect("get")).await;
    let rev = doc["_rev"].as_str().expect("rev").to_string();
    let put = |token: &'static str, maintainers: serde_json::Value| {
        let body = json!({ "_id": "owned-lib", "_rev": rev, "maintainers": maintainers });
        c.put(format!("{reg}/owned-lib/-rev/{rev}")).bearer_auth(token).json(&body).send()
    };
    let r = put(BOB, json!([{ "name": "bob" }])).await.expect("put");
    assert_eq!(r.status(), 403, "not an owner");
    let r = put(ALICE, json!([{ "name": "alice", "email": "" }, { "name": "bob", "email": "" }])).await.expect("put");
    assert_eq!(r.status(), 200);
    let doc = json(c.get(format!("{reg}/owned-lib")).bearer_auth(ALICE).send().await.expect("get")).await;
    assert!(doc["versions"]["1.0.0"].is_object(), "the version stays: {doc}");
    let names: Vec<&str> =
        doc["maintainers"].as_array().expect("maintainers").iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    // Bob, an owner now, takes Alice off; nobody takes the last one off.
    assert_eq!(put(BOB, json!([{ "name": "bob" }])).await.expect("put").status(), 200);
    assert_eq!(put(BOB, json!([])).await.expect("put").status(), 400);
    let doc = json(c.get(format!("{reg}/owned-lib")).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(doc["maintainers"], json!([{ "name": "bob", "email": "" }]));
    assert!(doc["versions"]["1.0.0"].is_object());
}

/// Every package write of the catalog asks the write check with the owners
/// as its own transaction reads them: once alice is no longer an owner, a
/// check made for her refuses each write, and nothing changes.
#[tokio::test]
async fn package_writes_check_the_owners_inside_their_transaction() {
    use batlehub::catalog::{ANY_WRITER, DbError};
    let s = TestServer::start(&local("")).await;
    let c = client();
    let reg = s.reg("internal");
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(publish(&c, &reg, ALICE, "@myorg/guarded", v).await.0, 201);
    }
    let catalog = &s.app.catalog;
    let pkg = catalog.get_package("internal", "@myorg/guarded").await.expect("get").expect("package");
    let v1 = catalog.get_version(&pkg.id, "1.0.0").await.expect("get").expect("version");
    let file = catalog.list_files(&pkg.id).await.expect("files").into_iter().next().expect("a file");
    // The check alice passed before her write: she owns the package.
    let alice_owns = |owners: &[(bool, String)]| owners.iter().any(|(g, id)| !*g && id == "alice");
    catalog.add_owner(&pkg.id, false, "bob", &alice_owns).await.expect("alice may add bob");
    // Then bob removes her, before her next writes reach the catalog.
    let bob_owns = |owners: &[(bool, String)]| owners.iter().any(|(g, id)| !*g && id == "bob");
    assert!(catalog.remove_owners(&pkg.id, &[(false, "alice".into())], &bob_owns).await.expect("remove"));
    let denied = |r: Result<(), DbError>, what: &str| {
        assert!(matches!(r, Err(DbError::Denied(_))), "{what} went through: {r:?}");
    };
    denied(catalog.set_yanked(&v1.id, true, None, &alice_owns).await, "set_yanked");
    denied(catalog.update_version_metadata(&v1.id, "{}", &alice_owns).await, "update_version_metadata");
    denied(catalog.update_file_metadata(&file.id, "{}", true, &alice_owns).await, "update_file_metadata");
    denied(catalog.set_tag(&pkg.id, "beta", "1.0.0", &alice_owns).await, "set_tag");
    denied(catalog.delete_tag(&pkg.id, "latest", &alice_owns).await.map(|_| ()), "delete_tag");
    denied(catalog.add_owner(&pkg.id, false, "alice", &alice_owns).await, "add_owner");
    denied(catalog.remove_owners(&pkg.id, &[(false, "bob".into())], &alice_owns).await.map(|_| ()), "remove_owners");
    denied(
        catalog.delete_files(&pkg.id, &v1.id, std::slice::from_ref(&file.filename), &alice_owns).await.map(|_| ()),
        "delete_files",
    );
    denied(catalog.delete_version(&pkg.id, "1.0.0", &alice_owns).await.map(|_| ()), "delete_version");
    denied(catalog.delete_package(&pkg.id, &alice_owns).await.map(|_| ()), "delete_package");
    denied(
        catalog.set_visibility(&pkg.id, batlehub::access::Visibility::Internal, &alice_owns).await,
        "set_visibility",
    );
    // Nothing changed.
    let after = catalog.get_package("internal", "@myorg/guarded").await.expect("get").expect("still there");
    assert_eq!(after.visibility, pkg.visibility);
    let versions = catalog.list_versions(&pkg.id).await.expect("versions");
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| !v.yanked && v.metadata != "{}"));
    assert_eq!(catalog.list_files(&pkg.id).await.expect("files").len(), 2);
    let owners: Vec<String> =
        catalog.list_owners(&pkg.id).await.expect("owners").into_iter().map(|o| o.principal_id).collect();
    assert_eq!(owners, ["bob"]);
    assert_eq!(catalog.list_tags(&pkg.id).await.expect("tags"), [("latest".to_string(), "1.1.0".to_string())]);
    // Through HTTP, alice is refused too, and bob may write.
    let r = c
        .delete(format!("{reg}/-/package/@myorg%2fguarded/dist-tags/beta"))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("rm");
    assert_eq!(r.status(), 403);
    catalog.set_tag(&pkg.id, "beta", "1.0.0", ANY_WRITER).await.expect("set up a tag");
    let r =
        c.delete(format!("{reg}/-/package/@myorg%2fguarded/dist-tags/beta")).bearer_auth(BOB).send().await.expect("rm");
    assert_eq!(r.status(), 200);
}
