//! Hybrid mode and members: local names are never fetched from upstream
//! (no dependency confusion), claimed namespaces neither; the user guide's
//! layout (publish to internal-npm, install through npm) works literally.

use serde_json::json;

use crate::support::fake_npm::FakeNpm;
use crate::support::npm::{publish, tarball};
use crate::support::{ALICE, BOB, TestServer, client, config, json};

#[tokio::test]
async fn hybrid_serves_local_names_locally_and_the_rest_from_upstream() {
    let up = FakeNpm::start().await;
    up.add("shared-name", "9.9.9", tarball("shared-name", "9.9.9", &[]));
    up.add("@myorg/claimed", "1.0.0", tarball("@myorg/claimed", "1.0.0", &[]));
    up.add("public-lib", "1.0.0", tarball("public-lib", "1.0.0", &[]));
    let s = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "npm"
name = "hybrid"
mode = "hybrid"
upstreams = ["{}"]
# The upstream serves shared-name too: published here by an admin's leave.
allow_upstream_names = ["shared-name"]
[registries.rbac]
user = ["releases:read", "source:read", "releases:write"]
"#,
        up.url
    )))
    .await;
    s.app.catalog.add_claim("hybrid", "@myorg", "oidc:myorg", None).await.expect("claim");
    let c = client();
    let reg = s.reg("hybrid");
    assert_eq!(publish(&c, &reg, ALICE, "shared-name", "1.0.0").await.0, 201);
    // The local package wins, the upstream's same name is never asked.
    let doc = json(c.get(format!("{reg}/shared-name")).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert!(doc["versions"].get("9.9.9").is_none());
    assert_eq!(
        c.get(format!("{reg}/shared-name/-/shared-name-9.9.9.tgz"))
            .bearer_auth(BOB)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(up.hits("/shared-name"), 0);
    assert_eq!(up.hits("/shared-name/-/shared-name-9.9.9.tgz"), 0);
    // A claimed namespace with nothing published yet is not found, never upstream.
    assert_eq!(c.get(format!("{reg}/@myorg%2fclaimed")).bearer_auth(BOB).send().await.expect("get").status(), 404);
    assert_eq!(up.hits("/@myorg%2fclaimed"), 0);
    // Everything else comes from upstream.
    let doc = json(c.get(format!("{reg}/public-lib")).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["tarball"], format!("{reg}/public-lib/-/public-lib-1.0.0.tgz"));
    assert_eq!(
        c.get(format!("{reg}/public-lib/-/public-lib-1.0.0.tgz")).bearer_auth(BOB).send().await.expect("get").status(),
        200
    );
    // Search merges local hits with upstream ones, minus shadowed names.
    let found = json(c.get(format!("{reg}/-/v1/search?text=")).bearer_auth(BOB).send().await.expect("get")).await;
    let names: Vec<&str> = found["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["package"]["name"].as_str().unwrap_or(""))
        .collect();
    assert!(names.contains(&"shared-name"));
    assert!(names.contains(&"public-lib"));
    assert_eq!(names.iter().filter(|n| **n == "shared-name").count(), 1, "{names:?}");
    assert!(!names.contains(&"@myorg/claimed"), "{names:?}");
    for o in found["objects"].as_array().expect("objects") {
        assert!(o["package"]["maintainers"].is_array(), "npm needs maintainers: {o}");
    }
    // npm audit: private names are never sent upstream.
    let report = json!({"shared-name": ["1.0.0"], "public-lib": ["1.0.0"], "@myorg/claimed": ["1.0.0"]});
    let r = c
        .post(format!("{reg}/-/npm/v1/security/advisories/bulk"))
        .bearer_auth(BOB)
        .json(&report)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let sent = up.audit_bodies();
    assert_eq!(sent.len(), 1);
    let sent: serde_json::Value = serde_json::from_slice(&sent[0]).expect("json");
    assert_eq!(sent, json!({"public-lib": ["1.0.0"]}));
    // The quick audit sends the whole tree: ours are dropped at every level.
    let tree = json!({
        "name": "app", "version": "1.0.0",
        "requires": {"shared-name": "^1.0.0", "public-lib": "^1.0.0", "@myorg/claimed": "^1.0.0"},
        "dependencies": {
            "public-lib": {"version": "1.0.0", "requires": {"@myorg/claimed": "1.0.0", "left": "1.0.0"},
                "dependencies": {"@myorg/claimed": {"version": "1.0.0"}, "left": {"version": "1.0.0"}}},
            "shared-name": {"version": "1.0.0", "requires": {"public-lib": "1.0.0"}}
        }
    });
    let r = c.post(format!("{reg}/-/npm/v1/security/audits/quick")).bearer_auth(BOB).json(&tree).send().await;
    assert_eq!(r.expect("post").status(), 200);
    let sent = up.bodies("/-/npm/v1/security/audits/quick");
    assert_eq!(sent.len(), 1);
    let text = String::from_utf8_lossy(&sent[0]);
    assert!(!text.contains("shared-name") && !text.contains("@myorg/claimed"), "private names sent upstream: {text}");
    let sent: serde_json::Value = serde_json::from_slice(&sent[0]).expect("json");
    assert_eq!(sent["requires"], json!({"public-lib": "^1.0.0"}));
    assert_eq!(sent["dependencies"]["public-lib"]["requires"], json!({"left": "1.0.0"}));
    assert_eq!(sent["dependencies"]["public-lib"]["dependencies"], json!({"left": {"version": "1.0.0"}}));
}

#[tokio::test]
async fn the_user_guide_layout_with_members() {
    let up = FakeNpm::start().await;
    let lodash = tarball("lodash", "4.17.21", &[]);
    up.add("lodash", "4.17.21", lodash.clone());
    up.add("@myorg/my-private-package", "6.6.6", tarball("@myorg/my-private-package", "6.6.6", &[]));
    let s = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "npm"
name = "internal-npm"
mode = "local"
# The team's scope: never taken from (or asked of) the upstream.
namespaces = [{{ prefix = "@myorg/", group = "oidc:myorg" }}]

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["{}"]
members = ["internal-npm"]
"#,
        up.url
    )))
    .await;
    let c = client();
    assert_eq!(publish(&c, &s.reg("internal-npm"), ALICE, "@myorg/my-private-package", "1.0.0").await.0, 201);
    let reg = s.reg("npm");
    let doc =
        json(c.get(format!("{reg}/@myorg%2fmy-private-package")).bearer_auth(BOB).send().await.expect("get")).await;
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    let tarball_url = doc["versions"]["1.0.0"]["dist"]["tarball"].as_str().expect("url").to_string();
    assert_eq!(tarball_url, format!("{reg}/@myorg/my-private-package/-/my-private-package-1.0.0.tgz"));
    assert_eq!(c.get(&tarball_url).bearer_auth(BOB).send().await.expect("get").status(), 200);
    assert_eq!(up.hits("/@myorg%2fmy-private-package"), 0, "a member's name must never be fetched upstream");
    // Everything else: the upstream.
    let r = c.get(format!("{reg}/lodash/-/lodash-4.17.21.tgz")).bearer_auth(BOB).send().await.expect("get");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), lodash);
    // Writes through the aggregate are refused: publish goes to internal-npm.
    let (status, body) = publish(&c, &reg, ALICE, "@myorg/other", "1.0.0").await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"],
        "registry is not in local or hybrid mode: publish new packages to internal-npm, the local registry among its members"
    );
}

#[tokio::test]
async fn members_keep_their_own_access_rules() {
    let up = FakeNpm::start().await;
    let s = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "npm"
name = "private"
mode = "local"
[registries.rbac]
user = ["releases:write"]
[registries.rbac.groups]
"oidc:*" = ["releases:read", "source:read"]

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["{}"]
members = ["private"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]
"#,
        up.url
    )))
    .await;
    let c = client();
    assert_eq!(publish(&c, &s.reg("private"), ALICE, "secret-sauce", "1.0.0").await.0, 201);
    // Its first publish asked the mirror's upstream whether it serves the
    // name; reading it never does.
    assert_eq!(up.total_hits(), 1);
    let reg = s.reg("npm");
    // Alice's group may read the member; bob may not; anonymous must authenticate.
    assert_eq!(c.get(format!("{reg}/secret-sauce")).bearer_auth(ALICE).send().await.expect("get").status(), 200);
    assert_eq!(c.get(format!("{reg}/secret-sauce")).bearer_auth(BOB).send().await.expect("get").status(), 403);
    assert_eq!(c.get(format!("{reg}/secret-sauce")).send().await.expect("get").status(), 401);
    assert_eq!(up.total_hits(), 1);
}
