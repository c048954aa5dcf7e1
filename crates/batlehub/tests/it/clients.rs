//! The real npm, pnpm and yarn 1 clients against BatleHub.
//!
//! A second BatleHub in local mode plays the public registry (seeded with the
//! real `npm publish`), so no test contacts a public registry. Every client
//! runs with its own HOME, cache and project `.npmrc` that point only at
//! 127.0.0.1. A client missing on the machine makes its test report itself
//! skipped, unless BATLEHUB_REQUIRE_CLIENTS=1 (CI), where it fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::support::runner::Runner;
use crate::support::{ADMIN, ALICE, BOB, TestServer, client_tool, config};

/// An isolated home for npm, pnpm and yarn 1, and the projects they run in.
struct Sandbox {
    runner: Runner,
    /// yarn 1 sends tokens for unscoped packages only with `always-auth`.
    always_auth: bool,
}

impl std::ops::Deref for Sandbox {
    type Target = Runner;
    fn deref(&self) -> &Runner {
        &self.runner
    }
}

impl Sandbox {
    fn new(_registry: &str) -> Sandbox {
        let runner = Runner::new(Duration::from_secs(180))
            .dirs(&["home", "cache", "store", "yarn-cache"])
            .file("home/.npmrc", "")
            .env_path("HOME", "home")
            .env_path("npm_config_userconfig", "home/.npmrc")
            .env_path("npm_config_cache", "cache")
            .env("npm_config_audit", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_update_notifier", "false")
            .env_path("YARN_CACHE_FOLDER", "yarn-cache")
            .env("CI", "true")
            .env_remove("PIP_FIND_LINKS");
        Sandbox { runner, always_auth: false }
    }

    /// A project folder with a package.json and an .npmrc for `registry` and `token`.
    fn project(&self, name: &str, package_json: serde_json::Value, registry: &str, token: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("package.json"), serde_json::to_vec_pretty(&package_json).expect("json"))
            .expect("write");
        std::fs::write(dir.join("index.js"), format!("module.exports = {:?};\n", name)).expect("write");
        // The Setup Guide's `.npmrc` for this registry, token filled in.
        let npmrc = crate::support::snippet_at(batlehub::kinds::Kind::Npm, registry, "npmrc", "", token);
        assert!(npmrc.starts_with(&format!("registry={registry}\n")), "{npmrc}");
        std::fs::write(
            dir.join(".npmrc"),
            format!("{npmrc}{}", if self.always_auth { "always-auth=true\n" } else { "" }),
        )
        .expect("npmrc");
        std::fs::write(dir.join(".yarnrc"), format!("registry \"{registry}\"\n")).expect("yarnrc");
        dir
    }
}

/// The upstream BatleHub (local mode, anonymous reads) and the BatleHub under
/// test, laid out as in the user guide: `internal-npm` (local), `npm` (proxy
/// with `members = ["internal-npm"]`) and `hybrid`.
struct World {
    upstream: TestServer,
    hub: TestServer,
}

async fn world(npm: &Path) -> World {
    let upstream = crate::support::public_upstream("npm").await;
    let up = format!("{}/", upstream.reg("public"));
    let hub = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "npm"
name = "internal-npm"
mode = "local"

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["{up}"]
members = ["internal-npm"]

[[registries]]
type = "npm"
name = "hybrid"
mode = "hybrid"
upstreams = ["{up}"]
[registries.rbac]
user = ["releases:read", "source:read", "releases:write"]
"#
    )))
    .await;
    // Seed "the public registry" with the real npm client.
    let sb = Sandbox::new(&up);
    let left = sb.project("left-lib", json!({"name": "left-lib", "version": "1.0.0", "main": "index.js"}), &up, ADMIN);
    sb.ok(npm, &["publish"], &left).await;
    let right = sb.project(
        "right-lib",
        json!({"name": "right-lib", "version": "2.0.0", "main": "index.js", "dependencies": {"left-lib": "^1.0.0"}}),
        &up,
        ADMIN,
    );
    sb.ok(npm, &["publish"], &right).await;
    World { upstream, hub }
}

fn installed(project: &Path, name: &str) -> String {
    let p = project.join("node_modules").join(name).join("package.json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{} missing: {e}", p.display())))
            .expect("json");
    v["version"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_follows_the_user_guide() {
    let Some(npm) = client_tool("npm") else { return };
    let w = world(&npm).await;
    let internal = format!("{}/", w.hub.reg("internal-npm"));
    let proxy = format!("{}/", w.hub.reg("npm"));
    let sb = Sandbox::new(&proxy);

    // The Setup Guide's publish command (token in .npmrc).
    let lib = sb.project(
        "private-lib",
        json!({"name": "@myorg/my-private-package", "version": "1.0.0", "main": "index.js"}),
        &internal,
        ALICE,
    );
    let publish = crate::support::snippet(&w.hub, "internal-npm", "npm-publish", "", "");
    let publish: Vec<&str> = publish.split_whitespace().collect();
    assert_eq!(publish[..2], ["npm", "publish"]);
    let out = sb.ok(&npm, &publish[1..], &lib).await;
    assert!(out.contains("@myorg/my-private-package@1.0.0"), "{out}");
    // Republishing the same version: 409, npm fails.
    let out = sb.run(&npm, &publish[1..], &lib).await;
    assert!(!out.ok, "{}", out.text());
    // npm whoami with the user guide's .npmrc for /proxy/npm/.
    let guide = sb.project("guide", json!({"name": "guide", "version": "1.0.0", "private": true}), &proxy, ALICE);
    let out = sb.ok(&npm, &["whoami"], &guide).await;
    assert_eq!(out.trim(), "alice");
    // npm dist-tag on the private registry.
    sb.ok(&npm, &["dist-tag", "add", "@myorg/my-private-package@1.0.0", "stable", "--registry", &internal], &lib).await;
    let out = sb.ok(&npm, &["dist-tag", "ls", "@myorg/my-private-package", "--registry", &internal], &lib).await;
    assert!(out.contains("stable: 1.0.0"), "{out}");
    // npm view through the proxy (the guide's "Verify").
    let out = sb.ok(&npm, &["view", "right-lib", "version"], &guide).await;
    assert_eq!(out.trim(), "2.0.0");

    // npm install @myorg/my-private-package and an upstream package through /proxy/npm/.
    let app = sb.project(
        "app",
        json!({"name": "app", "version": "1.0.0", "private": true, "dependencies": {"@myorg/my-private-package": "^1.0.0", "right-lib": "^2.0.0"}}),
        &proxy,
        BOB,
    );
    sb.ok(&npm, &["install"], &app).await;
    assert_eq!(installed(&app, "@myorg/my-private-package"), "1.0.0");
    assert_eq!(installed(&app, "right-lib"), "2.0.0");
    assert_eq!(installed(&app, "left-lib"), "1.0.0");
    // The private name was never asked of the upstream.
    w.upstream.app.flush().await;
    assert!(w.upstream.app.catalog.get_package("public", "@myorg/my-private-package").await.expect("db").is_none());

    // Without a token: npm reports the 401.
    let anon = sb.project(
        "anon",
        json!({"name": "anon", "version": "1.0.0", "private": true, "dependencies": {"right-lib": "^2.0.0"}}),
        &proxy,
        "",
    );
    std::fs::write(anon.join(".npmrc"), format!("registry={proxy}\n")).expect("npmrc");
    let out = sb.run(&npm, &["install"], &anon).await;
    assert!(!out.ok);
    assert!(out.text().contains("401"), "{}", out.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_hybrid_install_mixes_private_and_upstream() {
    let Some(npm) = client_tool("npm") else { return };
    let w = world(&npm).await;
    let hybrid = format!("{}/", w.hub.reg("hybrid"));
    let sb = Sandbox::new(&hybrid);
    let lib = sb.project(
        "house-lib",
        json!({"name": "house-lib", "version": "0.3.0", "main": "index.js", "dependencies": {"left-lib": "^1.0.0"}}),
        &hybrid,
        ALICE,
    );
    sb.ok(&npm, &["publish"], &lib).await;
    // A name the upstream serves cannot be taken over: npm prints why.
    let taken =
        sb.project("left-lib", json!({"name": "left-lib", "version": "9.0.0", "main": "index.js"}), &hybrid, ALICE);
    let out = sb.run(&npm, &["publish"], &taken).await;
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(!out.ok && said.contains("served by the upstream"), "npm publish of an upstream name: {said}");
    let app = sb.project(
        "app",
        json!({"name": "app", "version": "1.0.0", "private": true, "dependencies": {"house-lib": "0.3.0", "right-lib": "^2.0.0"}}),
        &hybrid,
        BOB,
    );
    sb.ok(&npm, &["install"], &app).await;
    assert_eq!(installed(&app, "house-lib"), "0.3.0");
    assert_eq!(installed(&app, "right-lib"), "2.0.0");
    assert_eq!(installed(&app, "left-lib"), "1.0.0");
    // Unpublish and deprecate with the real client.
    sb.ok(&npm, &["deprecate", "house-lib@0.3.0", "moved"], &lib).await;
    let out = sb.ok(&npm, &["view", "house-lib@0.3.0", "deprecated"], &lib).await;
    assert_eq!(out.trim(), "moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pnpm_installs_and_publishes() {
    let (Some(npm), Some(pnpm)) = (client_tool("npm"), client_tool("pnpm")) else { return };
    let w = world(&npm).await;
    let internal = format!("{}/", w.hub.reg("internal-npm"));
    let proxy = format!("{}/", w.hub.reg("npm"));
    let hybrid = format!("{}/", w.hub.reg("hybrid"));
    let sb = Sandbox::new(&proxy);
    let lib = sb.project(
        "pnpm-lib",
        json!({"name": "@myorg/pnpm-lib", "version": "1.0.0", "main": "index.js"}),
        &internal,
        ALICE,
    );
    sb.ok(&pnpm, &["publish", "--no-git-checks", "--registry", &internal], &lib).await;
    let app = sb.project(
        "app",
        json!({"name": "app", "version": "1.0.0", "private": true, "dependencies": {"@myorg/pnpm-lib": "^1.0.0", "right-lib": "^2.0.0"}}),
        &proxy,
        BOB,
    );
    let store = sb.path("store").display().to_string();
    sb.ok(&pnpm, &["install", "--store-dir", &store], &app).await;
    assert_eq!(installed(&app, "@myorg/pnpm-lib"), "1.0.0");
    assert_eq!(installed(&app, "right-lib"), "2.0.0");
    // Hybrid: a private package published to the hybrid registry plus upstream.
    let hlib =
        sb.project("pnpm-house", json!({"name": "pnpm-house", "version": "1.0.0", "main": "index.js"}), &hybrid, ALICE);
    sb.ok(&pnpm, &["publish", "--no-git-checks"], &hlib).await;
    let happ = sb.project(
        "happ",
        json!({"name": "happ", "version": "1.0.0", "private": true, "dependencies": {"pnpm-house": "1.0.0", "left-lib": "^1.0.0"}}),
        &hybrid,
        BOB,
    );
    sb.ok(&pnpm, &["install", "--store-dir", &store], &happ).await;
    assert_eq!(installed(&happ, "pnpm-house"), "1.0.0");
    assert_eq!(installed(&happ, "left-lib"), "1.0.0");
    let out = sb.ok(&pnpm, &["whoami"], &happ).await;
    assert_eq!(out.trim(), "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yarn1_installs_and_publishes() {
    let (Some(npm), Some(yarn)) = (client_tool("npm"), client_tool("yarn")) else { return };
    let w = world(&npm).await;
    let internal = format!("{}/", w.hub.reg("internal-npm"));
    let proxy = format!("{}/", w.hub.reg("npm"));
    let hybrid = format!("{}/", w.hub.reg("hybrid"));
    let mut sb = Sandbox::new(&proxy);
    sb.always_auth = true;
    let lib = sb.project(
        "yarn-lib",
        json!({"name": "@myorg/yarn-lib", "version": "1.0.0", "main": "index.js"}),
        &internal,
        ALICE,
    );
    sb.ok(&yarn, &["publish", "--non-interactive", "--new-version", "1.0.0", "--registry", &internal], &lib).await;
    let app = sb.project(
        "app",
        json!({"name": "app", "version": "1.0.0", "private": true, "dependencies": {"@myorg/yarn-lib": "^1.0.0", "right-lib": "^2.0.0"}}),
        &proxy,
        BOB,
    );
    sb.ok(&yarn, &["install", "--non-interactive", "--registry", &proxy], &app).await;
    assert_eq!(installed(&app, "@myorg/yarn-lib"), "1.0.0");
    assert_eq!(installed(&app, "right-lib"), "2.0.0");
    let lock = std::fs::read_to_string(app.join("yarn.lock")).expect("yarn.lock");
    assert!(lock.contains(&format!("{proxy}right-lib/-/right-lib-2.0.0.tgz")), "{lock}");
    // Hybrid.
    let hlib =
        sb.project("yarn-house", json!({"name": "yarn-house", "version": "1.0.0", "main": "index.js"}), &hybrid, ALICE);
    sb.ok(&yarn, &["publish", "--non-interactive", "--new-version", "1.0.0", "--registry", &hybrid], &hlib).await;
    let happ = sb.project(
        "happ",
        json!({"name": "happ", "version": "1.0.0", "private": true, "dependencies": {"yarn-house": "1.0.0", "right-lib": "^2.0.0"}}),
        &hybrid,
        BOB,
    );
    sb.ok(&yarn, &["install", "--non-interactive", "--registry", &hybrid], &happ).await;
    assert_eq!(installed(&happ, "yarn-house"), "1.0.0");
    assert_eq!(installed(&happ, "left-lib"), "1.0.0");
}

/// With only the Setup Guide's `.npmrc` for the group registry `npm` (whose
/// members include `internal-npm`): publish where the guide says (the
/// member, its token line from the guide), then deprecate, tag, add an
/// owner and unpublish through the group; a new package published to the
/// group is refused naming the member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_changes_packages_through_the_group_registry() {
    let Some(npm) = client_tool("npm") else { return };
    let w = world(&npm).await;
    let group = format!("{}/", w.hub.reg("npm"));
    let sb = Sandbox::new(&group);
    let lib = sb.project(
        "group-lib",
        json!({"name": "@myorg/group-lib", "version": "1.0.0", "main": "index.js"}),
        &group,
        ALICE,
    );
    // The guide's publishing lines for the group: the member's token line
    // and the publish command naming the member.
    let token_line = crate::support::snippet(&w.hub, "npm", "npmrc-publish", "", ALICE);
    assert!(token_line.contains("/proxy/internal-npm/:_authToken="), "{token_line}");
    let npmrc = std::fs::read_to_string(lib.join(".npmrc")).expect("npmrc");
    std::fs::write(lib.join(".npmrc"), format!("{npmrc}{token_line}")).expect("npmrc");
    let publish = crate::support::snippet(&w.hub, "npm", "npm-publish", "", "");
    assert!(publish.contains("/proxy/internal-npm/"), "{publish}");
    let publish: Vec<&str> = publish.split_whitespace().skip(1).collect();
    sb.ok(&npm, &publish, &lib).await;
    let package_json = json!({"name": "@myorg/group-lib", "version": "1.1.0", "main": "index.js"});
    std::fs::write(lib.join("package.json"), serde_json::to_vec_pretty(&package_json).expect("json")).expect("write");
    sb.ok(&npm, &publish, &lib).await;

    // Everything else through the group, as the guide's .npmrc has it.
    sb.ok(&npm, &["deprecate", "@myorg/group-lib@1.0.0", "use 1.1"], &lib).await;
    sb.ok(&npm, &["dist-tag", "add", "@myorg/group-lib@1.0.0", "stable"], &lib).await;
    sb.ok(&npm, &["owner", "add", "bob", "@myorg/group-lib"], &lib).await;
    let owners = sb.ok(&npm, &["owner", "ls", "@myorg/group-lib"], &lib).await;
    assert!(owners.contains("alice") && owners.contains("bob"), "{owners}");
    sb.ok(&npm, &["unpublish", "@myorg/group-lib@1.1.0"], &lib).await;
    let view = sb.ok(&npm, &["view", "@myorg/group-lib", "--json"], &lib).await;
    let view: serde_json::Value = serde_json::from_str(&view).expect("npm view --json");
    assert_eq!(view["versions"], json!(["1.0.0"]), "{view}");
    assert_eq!(view["dist-tags"]["stable"], "1.0.0", "{view}");
    let deprecated = sb.ok(&npm, &["view", "@myorg/group-lib@1.0.0", "deprecated"], &lib).await;
    assert_eq!(deprecated.trim(), "use 1.1");
    // The change happened in the member.
    let row = w.hub.app.catalog.get_package("internal-npm", "@myorg/group-lib").await.expect("db").expect("package");
    let owners = w.hub.app.catalog.list_owners(&row.id).await.expect("owners");
    assert!(owners.iter().any(|o| o.principal_id == "bob"), "{owners:?}");
    // Bob, now an owner, may tag through the group too; nobody else may.
    let fresh = sb.project("bob-side", json!({"name": "bob-side", "version": "1.0.0", "private": true}), &group, BOB);
    sb.ok(&npm, &["dist-tag", "add", "@myorg/group-lib@1.0.0", "bobs"], &fresh).await;

    // A new package published to the group itself: npm shows where to go.
    let new =
        sb.project("new-lib", json!({"name": "@myorg/new-lib", "version": "1.0.0", "main": "index.js"}), &group, ALICE);
    let out = sb.run(&npm, &["publish"], &new).await;
    assert!(!out.ok, "{}", out.text());
    assert!(out.text().contains("publish new packages to internal-npm"), "{}", out.text());
}

/// `[[registries.rules]]` through the real npm: an install resolves to the
/// newest version old enough for `release_age`, and one where no version
/// is old enough fails, npm printing the rule's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_resolves_to_the_newest_version_old_enough() {
    let Some(npm) = client_tool("npm") else { return };
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for (v, hours) in [("1.0.0", 24 * 400), ("1.1.0", 24 * 10), ("1.2.0", 1)] {
        up.add("aged-lib", v, crate::support::npm::tarball("aged-lib", v, &[]));
        up.set_published("aged-lib", v, Some(&crate::support::hours_ago(hours)));
    }
    up.add("fresh-lib", "1.0.0", crate::support::npm::tarball("fresh-lib", "1.0.0", &[]));
    up.set_published("fresh-lib", "1.0.0", Some(&crate::support::hours_ago(1)));
    let hub = TestServer::start(&config(&format!(
        "{}[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\n",
        crate::support::builder::Reg::proxy("npm", "npm", &up.url).open_read().toml()
    )))
    .await;
    let registry = format!("{}/", hub.reg("npm"));
    let sb = Sandbox::new(&registry);
    let app = sb.project(
        "aged-app",
        json!({"name": "aged-app", "version": "1.0.0", "private": true, "dependencies": {"aged-lib": "^1.0.0"}}),
        &registry,
        ALICE,
    );
    sb.ok(&npm, &["install"], &app).await;
    assert_eq!(installed(&app, "aged-lib"), "1.1.0", "1.2.0 is an hour old");
    let fresh = sb.project(
        "fresh-app",
        json!({"name": "fresh-app", "version": "1.0.0", "private": true, "dependencies": {"fresh-lib": "^1.0.0"}}),
        &registry,
        ALICE,
    );
    let out = sb.run(&npm, &["install"], &fresh).await;
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(!out.ok && said.contains("release_age"), "npm install of a package with nothing old enough: {said}");
}
