//! The real NuGet.exe 5.8 (on Mono) against BatleHub, configured with the
//! Setup Guide's snippets: packages made in the test with `nuget pack`,
//! pushed (a second push of a version is a 409), installed from the private
//! registry with the `nuget.config` snippet, unlisted with `nuget delete`,
//! and installed through a proxy registry whose upstream is a second
//! BatleHub (its private packages first, the upstream's for the rest,
//! dependencies included).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::builder::Reg;
use crate::support::nuget::{nupkg, push};
use crate::support::runner::{Output, Runner};
use crate::support::{ALICE, TestServer, client_tool, config, public_upstream, snippet};

/// NuGet.exe as `.ci/run` installs it (`npm ci` in `tests/nuget`).
fn nuget_exe() -> Option<PathBuf> {
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nuget/node_modules/nuget-exe/nuget-5.8.0.exe");
    if exe.is_file() {
        return Some(exe);
    }
    if std::env::var("BATLEHUB_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("NuGet.exe is required (BATLEHUB_REQUIRE_CLIENTS=1): run `npm ci` in crates/batlehub/tests/nuget");
    }
    eprintln!("SKIPPED: NuGet.exe is not installed (npm ci in crates/batlehub/tests/nuget)");
    None
}

fn spec(id: &str, version: &str, deps: &[(&str, &str)]) -> String {
    let deps: String = deps.iter().map(|(d, v)| format!("<dependency id=\"{d}\" version=\"{v}\" />")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<package>\n  <metadata>\n    <id>{id}</id>\n    <version>{version}</version>\n    <authors>tests</authors>\n    <description>{id} made by the test</description>\n    <dependencies>{deps}</dependencies>\n  </metadata>\n  <files><file src=\"{id}.txt\" target=\"content/{id}.txt\" /></files>\n</package>\n"
    )
}

struct Nuget {
    runner: Runner,
    mono: PathBuf,
    exe: PathBuf,
}

impl Nuget {
    async fn run(&self, args: &[&str], cwd: &Path) -> Output {
        let mut all: Vec<&str> = vec![self.exe.to_str().expect("path")];
        all.extend_from_slice(args);
        self.runner.run(&self.mono, &all, cwd).await
    }

    async fn ok(&self, args: &[&str], cwd: &Path) -> String {
        let out = self.run(args, cwd).await;
        assert!(out.ok, "nuget {args:?} failed:\n{}", out.text());
        out.stdout
    }

    /// A Setup Guide shell snippet, with `nuget` being NuGet.exe on Mono.
    async fn script(&self, body: &str) -> Output {
        let script = format!("nuget() {{ \"{}\" \"{}\" \"$@\"; }}\n{body}", self.mono.display(), self.exe.display());
        self.runner.run(Path::new("/bin/sh"), &["-c", &script], self.runner.path("packages").as_path()).await
    }

    /// Pack `id` `version` in the sandbox; the package's path.
    async fn pack(&self, id: &str, version: &str, deps: &[(&str, &str)]) -> PathBuf {
        let dir = self.runner.path("src");
        std::fs::write(dir.join(format!("{id}.txt")), format!("{id} {version}\n")).expect("content");
        let nuspec = dir.join(format!("{id}.nuspec"));
        std::fs::write(&nuspec, spec(id, version, deps)).expect("nuspec");
        let out_dir = self.runner.path("packages");
        let args = [
            "pack",
            nuspec.to_str().expect("path"),
            "-NoDefaultExcludes",
            "-NonInteractive",
            "-OutputDirectory",
            out_dir.to_str().expect("path"),
        ];
        self.ok(&args, &dir).await;
        let pkg = out_dir.join(format!("{id}.{version}.nupkg"));
        assert!(pkg.is_file(), "nuget pack made no {}", pkg.display());
        pkg
    }

    /// Install into a fresh folder with the caches cleared.
    async fn install(&self, project: &Path, args: &[&str]) -> Output {
        self.ok(&["locals", "all", "-clear"], project).await;
        let _ = std::fs::remove_dir_all(project.join("out"));
        let mut all = vec!["install"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-OutputDirectory", "out", "-ConfigFile", "nuget.config", "-NonInteractive"]);
        self.run(&all, project).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nuget_exe_pushes_installs_unlists_and_installs_through_a_proxy() {
    let Some(mono) = client_tool("mono") else { return };
    let Some(exe) = nuget_exe() else { return };
    // The "public" feed: a second BatleHub with a package of its own.
    let public = public_upstream("nuget").await;
    let web = reqwest::Client::new();
    let r = push(&web, &public.reg("public"), Some(ALICE), nupkg("Upstream.Greeter", "1.0.0", "")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let upstream_index = format!("{}/nuget/v3/index.json", public.reg("public"));

    let rbac = "[registries.rbac]\nanonymous = []\nuser = [\"releases:read\", \"source:read\", \"releases:write\"]\n";
    let s = TestServer::start(&config(&format!(
        "{}{rbac}{}{rbac}",
        Reg::local("nuget", "internal-nuget").toml(),
        Reg::proxy("nuget", "nuget", &upstream_index).member("internal-nuget").toml(),
    )))
    .await;
    let runner = Runner::new(Duration::from_secs(300))
        .dirs(&["home", "src", "packages", "private", "proxied", "home/.local/share", "home/.config"])
        .env_path("HOME", "home")
        .env_path("XDG_CONFIG_HOME", "home/.config")
        .env_path("XDG_DATA_HOME", "home/.local/share")
        .env_path("NUGET_PACKAGES", "home/nuget-packages")
        .env_path("NUGET_HTTP_CACHE_PATH", "home/nuget-http-cache")
        .env_path("NUGET_PLUGINS_CACHE_PATH", "home/nuget-plugins-cache")
        .env_remove("NUGET_CREDENTIALPROVIDERS_PATH");
    let nuget = Nuget { runner, mono, exe };

    // Pack and push with the Setup Guide's NuGet.exe command.
    let push_snippet = snippet(&s, "internal-nuget", "nuget-exe-push", "alice", ALICE);
    for v in ["1.0.0", "1.1.0"] {
        let pkg = nuget.pack("Acme.Util", v, &[]).await;
        let out = nuget.script(&push_snippet.replace("MyLib.1.0.0.nupkg", pkg.to_str().expect("path"))).await;
        assert!(out.ok && out.text().contains("Your package was pushed"), "push {v}:\n{}", out.text());
    }
    let app = nuget.pack("Acme.App", "1.0.0", &[("Acme.Util", "[1.0.0]"), ("Upstream.Greeter", "1.0.0")]).await;
    let out = nuget.script(&push_snippet.replace("MyLib.1.0.0.nupkg", app.to_str().expect("path"))).await;
    assert!(out.ok, "push Acme.App:\n{}", out.text());
    // The same version again: refused, and NuGet.exe says why.
    let again = nuget.script(&push_snippet.replace("MyLib.1.0.0.nupkg", app.to_str().expect("path"))).await;
    assert!(!again.ok, "a second push of a version succeeded:\n{}", again.text());
    assert!(again.text().contains("409") && again.text().contains("already exists"), "{}", again.text());

    // Install from the private registry with the nuget.config snippet.
    let private = nuget.runner.path("private");
    std::fs::write(private.join("nuget.config"), snippet(&s, "internal-nuget", "nuget-config", "alice", ALICE))
        .expect("config");
    let out = nuget.install(&private, &["Acme.Util", "-Version", "1.0.0"]).await;
    assert!(out.ok, "install from the private registry:\n{}", out.text());
    let content = private.join("out/Acme.Util.1.0.0/content/Acme.Util.txt");
    assert_eq!(std::fs::read_to_string(&content).expect("installed content").trim(), "Acme.Util 1.0.0");

    // Unlist 1.1.0 with the Setup Guide's `nuget delete`: hidden from search
    // and `listed: false`, still in the flat container (exact restores work).
    let delete =
        snippet(&s, "internal-nuget", "nuget-exe-delete", "alice", ALICE).replace("MyLib 1.0.0", "Acme.Util 1.1.0");
    let out = nuget.script(&delete).await;
    assert!(out.ok && out.text().contains("deleted successfully"), "delete:\n{}", out.text());
    let reg = s.reg("internal-nuget");
    let search: serde_json::Value = web
        .get(format!("{reg}/nuget/v3/query?q=acme.util"))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(search["data"][0]["version"], "1.0.0", "{search}");
    assert_eq!(search["data"][0]["versions"].as_array().map(Vec::len), Some(1), "{search}");
    let registration: serde_json::Value = web
        .get(format!("{reg}/nuget/v3/registration/acme.util/index.json"))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("registration")
        .json()
        .await
        .expect("json");
    let listed: Vec<(String, bool)> = registration["items"][0]["items"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|l| (l["catalogEntry"]["version"].as_str().unwrap_or("").to_string(), l["catalogEntry"]["listed"] == true))
        .collect();
    assert_eq!(listed, vec![("1.0.0".into(), true), ("1.1.0".into(), false)]);
    let out = nuget.install(&private, &["Acme.Util", "-Version", "1.1.0"]).await;
    assert!(out.ok, "an unlisted version stays installable by its exact version:\n{}", out.text());

    // Through the proxy registry: the private packages (its member) and the
    // upstream's dependency, resolved by NuGet.exe.
    let proxied = nuget.runner.path("proxied");
    std::fs::write(proxied.join("nuget.config"), snippet(&s, "nuget", "nuget-config", "alice", ALICE)).expect("config");
    let out = nuget.install(&proxied, &["Acme.App", "-Version", "1.0.0"]).await;
    assert!(out.ok, "install through the proxy:\n{}", out.text());
    for (dir, file, text) in [
        ("Acme.App.1.0.0", "Acme.App.txt", "Acme.App 1.0.0"),
        ("Acme.Util.1.0.0", "Acme.Util.txt", "Acme.Util 1.0.0"),
        ("Upstream.Greeter.1.0.0", "Upstream.Greeter.txt", "Upstream.Greeter 1.0.0"),
    ] {
        let got = std::fs::read_to_string(proxied.join("out").join(dir).join("content").join(file));
        assert_eq!(got.map(|t| t.trim().to_string()).ok().as_deref(), Some(text), "{dir}:\n{}", out.text());
    }
    // The proxied package was fetched once and is now served from the cache.
    let again = nuget.install(&proxied, &["Upstream.Greeter", "-Version", "1.0.0"]).await;
    assert!(again.ok, "{}", again.text());
}
