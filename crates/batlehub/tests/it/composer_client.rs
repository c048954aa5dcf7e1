//! The real composer against BatleHub, following the user guide and the
//! Setup Guide: packages uploaded with the guide's `curl` to a private
//! registry, a project whose one repository (packagist.org turned off) is a
//! proxy registry serving the private packages first and the rest from its
//! upstream (a second BatleHub), credentials in `auth.json`; `composer
//! install` and `composer require`, then a yank and `composer update` that
//! no longer picks the yanked version.

use std::path::Path;
use std::time::Duration;

use crate::support::builder::Reg;
use crate::support::composer::{package_zip, upload};
use crate::support::runner::Runner;
use crate::support::{ALICE, TestServer, client_tool, config, public_upstream, snippet};

fn locked(lock: &str, name: &str) -> Option<String> {
    let lock: serde_json::Value = serde_json::from_str(lock).ok()?;
    lock["packages"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["version"].as_str())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_installs_private_and_proxied_packages_and_respects_yanks() {
    let Some(composer) = client_tool("composer") else { return };
    if client_tool("php").is_none() || client_tool("curl").is_none() {
        return;
    }
    let public = public_upstream("composer").await;
    let web = reqwest::Client::new();
    for (name, version) in [("upstream/greeter", "1.0.0"), ("upstream/extra", "2.1.0")] {
        let r = upload(&web, &public.reg("public"), Some(ALICE), package_zip(name, version, ""), "").await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    let rbac = "[registries.rbac]\nanonymous = []\nuser = [\"releases:read\", \"source:read\", \"releases:write\"]\n";
    let s = TestServer::start(&config(&format!(
        "{}{rbac}{}{rbac}",
        Reg::local("composer", "internal-composer").toml(),
        Reg::proxy("composer", "packagist", &public.reg("public")).member("internal-composer").toml(),
    )))
    .await;
    let runner = Runner::new(Duration::from_secs(300))
        .dirs(&["home", "project", "zips"])
        .env_path("HOME", "home")
        .env_path("COMPOSER_HOME", "home/composer")
        .env_path("COMPOSER_CACHE_DIR", "home/cache")
        .env("COMPOSER_NO_INTERACTION", "1")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env("COMPOSER_DISABLE_NETWORK", "0")
        .env_remove("COMPOSER_AUTH");
    // Publish two versions with the Setup Guide's curl.
    let publish = snippet(&s, "internal-composer", "composer-publish", "alice", ALICE);
    for v in ["1.0.0", "1.1.0"] {
        let zip = runner.path(&format!("zips/acme-util-{v}.zip"));
        std::fs::write(&zip, package_zip("acme/util", v, ", \"require\": {\"upstream/greeter\": \"^1.0\"}"))
            .expect("zip");
        let script = publish.replace("my-vendor-my-pkg-1.0.0.zip", &zip.display().to_string());
        let out = runner.ok(Path::new("/bin/sh"), &["-c", &script], runner.root()).await;
        assert!(out.contains("\"version\":\"") && out.contains(v), "{out}");
    }

    // The project: the Setup Guide's repository entry and auth.json.
    let project = runner.path("project");
    let repo: serde_json::Value =
        serde_json::from_str(&snippet(&s, "packagist", "composer-repository", "alice", ALICE)).expect("json");
    let mut manifest = repo.as_object().cloned().expect("object");
    manifest.insert("name".into(), serde_json::json!("acme/app"));
    manifest.insert("require".into(), serde_json::json!({ "acme/util": "^1.0" }));
    std::fs::write(project.join("composer.json"), serde_json::to_string_pretty(&manifest).expect("json"))
        .expect("composer.json");
    std::fs::write(project.join("auth.json"), snippet(&s, "packagist", "composer-auth", "alice", ALICE))
        .expect("auth.json");
    runner.ok(&composer, &["install", "--no-progress"], &project).await;
    let lock = std::fs::read_to_string(project.join("composer.lock")).expect("lock");
    assert_eq!(locked(&lock, "acme/util").as_deref(), Some("1.1.0"), "{lock}");
    assert_eq!(locked(&lock, "upstream/greeter").as_deref(), Some("1.0.0"), "{lock}");
    let php = "<?php require 'vendor/autoload.php'; echo \\Pkg\\util\\Hello::version(), ' ', \\Pkg\\greeter\\Hello::version();";
    let out = runner.ok(Path::new("php"), &["-r", &php.replacen("<?php ", "", 1)], &project).await;
    assert_eq!(out.trim(), "1.1.0 1.0.0");

    // composer require of a package the upstream serves.
    runner.ok(&composer, &["require", "upstream/extra:^2.0", "--no-progress"], &project).await;
    let lock = std::fs::read_to_string(project.join("composer.lock")).expect("lock");
    assert_eq!(locked(&lock, "upstream/extra").as_deref(), Some("2.1.0"), "{lock}");
    let manifest = std::fs::read_to_string(project.join("composer.json")).expect("composer.json");
    assert!(manifest.contains("\"upstream/extra\": \"^2.0\""), "{manifest}");
    assert!(project.join("vendor/upstream/extra/composer.json").is_file());

    // Yank 1.1.0 with the Setup Guide's command: an update goes back to 1.0.0.
    let yank = snippet(&s, "internal-composer", "composer-yank", "alice", ALICE)
        .replace("my-vendor/my-pkg", "acme/util")
        .replace("1.0.0", "1.1.0");
    runner.ok(Path::new("/bin/sh"), &["-c", &yank], runner.root()).await;
    runner.ok(&composer, &["update", "--no-progress"], &project).await;
    let lock = std::fs::read_to_string(project.join("composer.lock")).expect("lock");
    assert_eq!(locked(&lock, "acme/util").as_deref(), Some("1.0.0"), "{lock}");
    let r = web
        .get(format!("{}/dist/acme/util/1.1.0.zip", s.reg("packagist")))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404, "a yanked version is not downloadable");
}

/// `[[registries.rules]]` through the real composer: `composer require`
/// resolves to the newest version old enough for `release_age` and
/// allowed by the licence rule (the package's own code says which), and a
/// constraint only withheld versions meet fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_resolves_to_the_newest_version_the_rules_allow() {
    use crate::support::composer::FakeComposer;
    let Some(composer) = client_tool("composer") else { return };
    if client_tool("php").is_none() {
        return;
    }
    let up = FakeComposer::start().await;
    let name = "upstream/aged";
    for (v, hours, licence) in
        [("1.0.0", 24 * 400, "MIT"), ("1.1.0", 24 * 10, "MIT"), ("1.2.0", 24 * 10, "GPL-3.0-only"), ("2.0.0", 1, "MIT")]
    {
        up.add_file(name, v, &format!("upstream-aged-{v}.zip"), package_zip(name, v, ""));
        up.set_published(name, v, Some(&crate::support::hours_ago(hours)));
        up.set_licence(name, v, licence);
    }
    let reg = Reg::proxy("composer", "packagist", &up.url)
        .open_read()
        .rule("type = \"release_age\"\nmin_age = \"72h\"")
        .rule("type = \"licence\"\ndeny = [\"GPL-3.0-only\"]");
    let s = TestServer::with(&[reg], "").await;
    let runner = Runner::new(Duration::from_secs(300))
        .dirs(&["home", "project"])
        .env_path("HOME", "home")
        .env_path("COMPOSER_HOME", "home/composer")
        .env_path("COMPOSER_CACHE_DIR", "home/cache")
        .env("COMPOSER_NO_INTERACTION", "1")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env_remove("COMPOSER_AUTH");
    let project = runner.path("project");
    let manifest = serde_json::json!({
        "name": "acme/app",
        "repositories": [{"type": "composer", "url": s.reg("packagist")}, {"packagist.org": false}],
        "config": {"secure-http": false},
    });
    std::fs::write(project.join("composer.json"), serde_json::to_string_pretty(&manifest).expect("json"))
        .expect("composer.json");
    runner.ok(&composer, &["require", "upstream/aged", "--no-progress"], &project).await;
    let lock = std::fs::read_to_string(project.join("composer.lock")).expect("lock");
    assert_eq!(locked(&lock, name).as_deref(), Some("1.1.0"), "2.0.0 is an hour old, 1.2.0 is GPL: {lock}");
    let out = runner.run(&composer, &["require", "upstream/aged:^2.0", "--no-progress"], &project).await;
    assert!(!out.ok, "only a withheld version meets ^2.0: {}{}", out.stdout, out.stderr);
}
