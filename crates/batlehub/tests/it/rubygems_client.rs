//! The real gem and Bundler against BatleHub: gems built with `gem build`
//! and pushed with the Setup Guide's `gem push` (a repush refused), `bundle
//! install` through the compact index of a proxy registry that serves the
//! private gems first and the rest from its upstream (a second BatleHub),
//! `bundle update` after a new version, `gem install` from remote sources
//! (the legacy Marshal indexes), and `gem yank`.

use std::path::Path;
use std::time::Duration;

use crate::support::builder::Reg;
use crate::support::rubygems::{gem, push};
use crate::support::runner::Runner;
use crate::support::{ALICE, TestServer, client_tool, config, public_upstream, snippet};

fn gemspec(name: &str, version: &str) -> String {
    format!(
        "Gem::Specification.new do |s|\n  s.name = \"{name}\"\n  s.version = \"{version}\"\n  s.summary = \"the {name} gem\"\n  s.authors = [\"Alice\"]\n  s.license = \"MIT\"\n  s.files = [\"lib/acme_util.rb\"]\n  s.add_runtime_dependency \"upstream-dep\", \">= 1.0\"\nend\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gem_push_bundle_install_update_and_yank() {
    let (Some(gem_bin), Some(bundle)) = (client_tool("gem"), client_tool("bundle")) else { return };
    if client_tool("ruby").is_none() {
        return;
    }
    let public = public_upstream("rubygems").await;
    let web = reqwest::Client::new();
    let r = push(&web, &public.reg("public"), Some(ALICE), gem("upstream-dep", "1.0.0", &[])).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let rbac = "[registries.rbac]\nanonymous = []\nuser = [\"releases:read\", \"source:read\", \"releases:write\"]\n";
    let s = TestServer::start(&config(&format!(
        "{}{rbac}{}{rbac}",
        Reg::local("rubygems", "internal-gems").toml(),
        Reg::proxy("rubygems", "gems", &public.reg("public")).member("internal-gems").toml(),
    )))
    .await;
    let runner = Runner::new(Duration::from_secs(300))
        .dirs(&["home", "src", "app"])
        .env_path("HOME", "home")
        .env_path("GEM_HOME", "gem-home")
        .env_path("GEM_PATH", "gem-home")
        .env_path("GEM_SPEC_CACHE", "spec-cache")
        .env_path("BUNDLE_USER_HOME", "home/bundle")
        .env_path("BUNDLE_PATH", "bundle-path")
        .env("BUNDLE_FROZEN", "false")
        .env("GEM_HOST_API_KEY", ALICE)
        .env_remove("BUNDLE_GEMFILE")
        .env_remove("RUBYOPT");
    let src = runner.path("src");
    std::fs::create_dir_all(src.join("lib")).expect("lib");
    std::fs::write(src.join("lib/acme_util.rb"), "module AcmeUtil\n  def self.hi = \"hi\"\nend\n").expect("rb");

    // gem build and the Setup Guide's gem push, for two versions.
    let push_cmd = snippet(&s, "internal-gems", "gem-push", "alice", ALICE);
    for v in ["1.0.0", "1.1.0"] {
        std::fs::write(src.join("acme-util.gemspec"), gemspec("acme-util", v)).expect("gemspec");
        runner.ok(&gem_bin, &["build", "acme-util.gemspec"], &src).await;
        if v == "1.1.0" {
            break; // pushed later, after the first bundle install
        }
        let out = runner
            .ok(
                Path::new("/bin/sh"),
                &["-c", &push_cmd.replace("my-gem-1.0.0.gem", &format!("acme-util-{v}.gem"))],
                &src,
            )
            .await;
        assert!(out.contains("Successfully registered gem: acme-util (1.0.0)"), "{out}");
    }
    let again = runner
        .run(Path::new("/bin/sh"), &["-c", &push_cmd.replace("my-gem-1.0.0.gem", "acme-util-1.0.0.gem")], &src)
        .await;
    assert!(again.text().contains("Repushing"), "{}", again.text());

    // gem install from the private registry (credentials in the source URL,
    // as the Setup Guide's `gem sources` line has them) and the public one,
    // through the legacy Marshal indexes.
    let source = snippet(&s, "internal-gems", "gem-sources", "alice", ALICE);
    let private_url = source.trim().rsplit(' ').next().expect("url").to_string();
    let public_url = format!("{}/", public.reg("public"));
    let elsewhere = runner.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    runner
        .ok(
            &gem_bin,
            &[
                "install",
                "acme-util",
                "--clear-sources",
                "--source",
                &private_url,
                "--source",
                &public_url,
                "--no-document",
            ],
            &elsewhere,
        )
        .await;
    assert!(runner.path("gem-home/gems/acme-util-1.0.0/lib/acme_util.rb").is_file());
    assert!(runner.path("gem-home/gems/upstream-dep-1.0.0").is_dir());
    let out = runner.ok(Path::new("ruby"), &["-e", "require 'acme_util'; print AcmeUtil.hi"], &elsewhere).await;
    assert_eq!(out, "hi");

    // The dependency API, as Ruby loads it.
    let deps = web
        .get(format!("{}/api/v1/dependencies?gems=acme-util", s.reg("internal-gems")))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("dependencies")
        .bytes()
        .await
        .expect("body");
    let dump = runner.path("deps.marshal");
    std::fs::write(&dump, &deps).expect("write");
    let loaded = runner
        .ok(
            Path::new("ruby"),
            &["-e", &format!("p Marshal.load(File.binread({:?}))", dump.display().to_string())],
            &elsewhere,
        )
        .await;
    assert_eq!(
        loaded.trim(),
        r#"[{:name=>"acme-util", :number=>"1.0.0", :platform=>"ruby", :dependencies=>[["upstream-dep", ">= 1.0"]]}]"#
    );

    // Bundler through the compact index.
    let app = runner.path("app");
    std::fs::write(app.join("Gemfile"), format!("source \"{}/\"\n\ngem \"acme-util\"\n", s.reg("gems")))
        .expect("Gemfile");
    let creds = snippet(&s, "gems", "bundle-config", "alice", ALICE).replace("--global", "--local");
    runner.ok(Path::new("/bin/sh"), &["-c", &creds], &app).await;
    runner.ok(&bundle, &["install"], &app).await;
    let lock = std::fs::read_to_string(app.join("Gemfile.lock")).expect("lock");
    assert!(lock.contains("acme-util (1.0.0)") && lock.contains("upstream-dep (1.0.0)"), "{lock}");

    // A new version: Bundler updates its copy of the index and takes it.
    let out = runner
        .ok(Path::new("/bin/sh"), &["-c", &push_cmd.replace("my-gem-1.0.0.gem", "acme-util-1.1.0.gem")], &src)
        .await;
    assert!(out.contains("(1.1.0)"), "{out}");
    runner.ok(&bundle, &["update", "acme-util"], &app).await;
    let lock = std::fs::read_to_string(app.join("Gemfile.lock")).expect("lock");
    assert!(lock.contains("acme-util (1.1.0)"), "{lock}");

    // gem search and gem install through the group alone: the legacy
    // indexes of a registry with upstreams hold its member's gems beside the
    // upstream's.
    let group = snippet(&s, "gems", "gem-sources", "alice", ALICE);
    let group_url = group.trim().rsplit(' ').next().expect("url").to_string();
    for (query, found) in [("acme-util", "acme-util (1.1.0)"), ("upstream-dep", "upstream-dep (1.0.0)")] {
        let out = runner
            .ok(&gem_bin, &["search", "--remote", "--clear-sources", "--source", &group_url, query], &elsewhere)
            .await;
        assert!(out.contains(found), "gem search {query}: {out}");
    }
    let out = runner
        .ok(
            &gem_bin,
            &["search", "--remote", "--all", "--clear-sources", "--source", &group_url, "acme-util"],
            &elsewhere,
        )
        .await;
    assert!(out.contains("acme-util (1.1.0, 1.0.0)"), "gem search --all: {out}");
    let other_home = runner.path("group-gem-home").display().to_string();
    runner
        .ok_with(
            &gem_bin,
            &["install", "acme-util", "-v", "1.1.0", "--clear-sources", "--source", &group_url, "--no-document"],
            &elsewhere,
            &[("GEM_HOME", other_home.as_str()), ("GEM_PATH", other_home.as_str())],
        )
        .await;
    assert!(runner.path("group-gem-home/gems/acme-util-1.1.0/lib/acme_util.rb").is_file());
    assert!(runner.path("group-gem-home/gems/upstream-dep-1.0.0").is_dir());

    // gem yank (the Setup Guide's command): the version is gone, and a new
    // resolution takes the one before.
    let yank = snippet(&s, "internal-gems", "gem-yank", "alice", ALICE)
        .replace("my-gem", "acme-util")
        .replace("1.0.0", "1.1.0");
    let out = runner.ok(Path::new("/bin/sh"), &["-c", &yank], &src).await;
    assert!(out.contains("Successfully deleted gem"), "{out}");
    // (A project that has 1.1.0 installed keeps it, as Bundler does: a new
    // one resolves from the index.)
    let fresh = runner.path("fresh");
    std::fs::create_dir_all(&fresh).expect("mkdir");
    std::fs::copy(app.join("Gemfile"), fresh.join("Gemfile")).expect("Gemfile");
    runner.ok(Path::new("/bin/sh"), &["-c", &creds], &fresh).await;
    let other = runner.path("other-bundle-path").display().to_string();
    runner.ok_with(&bundle, &["lock"], &fresh, &[("BUNDLE_PATH", other.as_str())]).await;
    let lock = std::fs::read_to_string(fresh.join("Gemfile.lock")).expect("lock");
    assert!(lock.contains("acme-util (1.0.0)"), "{lock}");
}
