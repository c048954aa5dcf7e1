//! py-rattler (the library behind pixi and rattler-build) against BatleHub,
//! as a conda client: it solves from the user guide's layout (`my-conda`,
//! a proxy of another channel with `my-private-conda` as a member), with
//! the Setup Guide's `~/.netrc` for credentials, and installs into a
//! prefix; a package uploaded with the guide's `curl` form is solvable in
//! the very next run; without credentials the channel refuses it (401).
//! The upstream channel is a second BatleHub.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::builder::Reg;
use crate::support::conda::{conda_pkg, tar_bz2_pkg, upload};
use crate::support::runner::{Output, Runner};
use crate::support::{ALICE, TestServer, client, client_tool, config, public_upstream, snippet};

/// python3 with py-rattler importable, or `None` (skipped unless CI).
async fn rattler_python() -> Option<PathBuf> {
    let python = client_tool("python3")?;
    let ok = tokio::process::Command::new(&python)
        .args(["-c", "import rattler"])
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    if std::env::var("BATLEHUB_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("py-rattler is required (BATLEHUB_REQUIRE_CLIENTS=1): python3 -m pip install py-rattler");
    }
    eprintln!("SKIPPED: py-rattler is not installed");
    None
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conda/install.py")
}

struct Rattler {
    runner: Runner,
    python: PathBuf,
}

impl Rattler {
    async fn install(&self, channel: &str, prefix: &str, specs: &[&str]) -> Output {
        let script = script();
        let prefix = self.runner.path(prefix);
        let cache = self.runner.path("cache");
        let mut args = vec![
            script.to_str().expect("path"),
            channel,
            prefix.to_str().expect("path"),
            cache.to_str().expect("path"),
        ];
        args.extend_from_slice(specs);
        self.runner.run(&self.python, &args, self.runner.root()).await
    }

    async fn installed(&self, channel: &str, prefix: &str, specs: &[&str]) -> Vec<(String, String)> {
        let out = self.install(channel, prefix, specs).await;
        assert!(out.ok, "rattler install {specs:?} from {channel} failed:\n{}", out.text());
        let line = out.stdout.lines().last().unwrap_or("");
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {}", out.text()));
        let mut got: Vec<(String, String)> = v["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| (r["name"].as_str().unwrap_or("").to_string(), r["version"].as_str().unwrap_or("").to_string()))
            .collect();
        got.sort();
        got
    }
}

#[tokio::test]
async fn rattler_solves_and_installs_from_the_guide_layout() {
    let Some(python) = rattler_python().await else { return };
    let public = public_upstream("conda").await;
    // The upstream channel: a dependency, and a name the private channel
    // will also hold (its upstream builds must never be chosen).
    for (name, version) in [("libdep", "2.0"), ("libdep", "2.1")] {
        let r = upload(
            &client(),
            &public.reg("public"),
            "noarch",
            Some(ALICE),
            conda_pkg(name, version, "0", "noarch", &[]),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let s = TestServer::start(&config(&format!(
        "{}{}",
        Reg::local("conda", "my-private-conda").toml(),
        Reg::proxy("conda", "my-conda", &public.reg("public")).member("my-private-conda").toml()
    )))
    .await;
    let app = tar_bz2_pkg("my-app", "1.0.0", "h0_0", "linux-64", &["libdep >=2.0"]);
    let r = upload(&client(), &s.reg("my-private-conda"), "linux-64", Some(ALICE), app).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let netrc = snippet(&s, "my-conda", "conda-netrc", "alice", ALICE);
    let runner = Runner::new(Duration::from_secs(240))
        .dirs(&["home", "cache"])
        .env_path("HOME", "home")
        .env_remove("NETRC")
        .env_remove("RATTLER_AUTH_FILE")
        .file("home/.netrc", netrc);
    let r = Rattler { runner, python };
    let channel = s.reg("my-conda");
    let got = r.installed(&channel, "env1", &["my-app"]).await;
    assert_eq!(got, vec![("libdep".into(), "2.1".into()), ("my-app".into(), "1.0.0".into())]);
    for file in ["share/my-app/VERSION", "share/libdep/VERSION", "conda-meta"] {
        assert!(r.runner.path("env1").join(file).exists(), "{file} not installed");
    }
    // An upload is solvable in the very next run (rattler revalidates its
    // cached repodata and gets the new one).
    let newer = conda_pkg("my-app", "1.1.0", "h0_0", "linux-64", &["libdep 2.0.*"]);
    assert_eq!(upload(&client(), &s.reg("my-private-conda"), "linux-64", Some(ALICE), newer).await.status, 201);
    let got = r.installed(&channel, "env2", &["my-app"]).await;
    assert_eq!(got, vec![("libdep".into(), "2.0".into()), ("my-app".into(), "1.1.0".into())]);
    // Without credentials the channel refuses.
    std::fs::remove_file(r.runner.path("home/.netrc")).expect("rm netrc");
    let out = r.install(&channel, "env3", &["my-app"]).await;
    assert!(!out.ok, "installed without credentials:\n{}", out.text());
    assert!(out.text().contains("401"), "{}", out.text());
}
