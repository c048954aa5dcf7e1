//! The real go command against BatleHub over HTTPS, following the user
//! guide: private modules built with `batlehub go-mod-zip` and published
//! with the Setup Guide's `curl` (one with a capital in its path, spelled
//! as `go.mod` spells it; one at `/v2` importing it), a proxy registry whose upstream is a
//! second BatleHub, credentials from `~/.netrc` (the Setup Guide's entry,
//! naming `host:port`), and a consumer built with `go build`, its `go.sum`
//! written from hashes that match the ones BatleHub computed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::go::publish_zip;
use crate::support::runner::{Output, Runner};
use crate::support::tls::pems;
use crate::support::{ALICE, TestServer, client_tool, config, public_upstream, snippet};

fn write_module(root: &Path, files: &[(&str, &str)]) -> PathBuf {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    root.to_path_buf()
}

/// A sandbox for the go command: its own home, GOPATH, module and build
/// caches, no go.env, the local toolchain only, no telemetry, `-mod=mod`,
/// and none of the caller's private-module settings.
fn go_runner(dirs: &[&str]) -> Runner {
    let mut all = vec!["home", "gopath"];
    all.extend_from_slice(dirs);
    Runner::new(Duration::from_secs(300))
        .dirs(&all)
        .env_path("HOME", "home")
        .env_path("GOPATH", "gopath")
        .env_path("GOMODCACHE", "gopath/pkg/mod")
        .env_path("GOCACHE", "gocache")
        .env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOTELEMETRY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env_remove("GOPRIVATE")
        .env_remove("GONOPROXY")
        .env_remove("GOINSECURE")
}

/// A module `example.com/consumer` in the sandbox's `consumer` folder whose
/// program prints the `Version` of package `pkg` of `module`.
fn consumer_of(home: &GoHome, module: &str, pkg: &str) -> PathBuf {
    let main = format!(
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"{module}\"\n)\n\nfunc main() {{ fmt.Println({pkg}.Version) }}\n"
    );
    write_module(
        &home.runner.path("consumer"),
        &[("go.mod", "module example.com/consumer\n\ngo 1.21\n"), ("main.go", &main)],
    )
}

struct GoHome {
    runner: Runner,
    go: PathBuf,
}

impl GoHome {
    async fn go(&self, args: &[&str], cwd: &Path, extra: &[(&str, &str)]) -> Output {
        self.runner.run_with(&self.go, args, cwd, extra).await
    }

    async fn ok(&self, args: &[&str], cwd: &Path, extra: &[(&str, &str)]) -> String {
        self.runner.ok_with(&self.go, args, cwd, extra).await
    }

    async fn sh(&self, script: &str, cwd: &Path) -> String {
        self.runner.ok(Path::new("/bin/sh"), &["-c", script], cwd).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_builds_private_and_proxied_modules_over_https() {
    let Some(go) = client_tool("go") else { return };
    // The Setup Guide publishes with curl.
    if client_tool("curl").is_none() {
        return;
    }

    // The "public" Go module proxy: a second BatleHub, plain HTTP.
    let public = public_upstream("goproxy").await;
    let web = reqwest::Client::new();
    let upstream_module = "example.com/Upstream/greet";
    let upstream_zip = crate::support::go::zip_of(
        upstream_module,
        "v1.0.0",
        &[
            ("go.mod", &format!("module {upstream_module}\n\ngo 1.21\n")),
            ("greet.go", "package greet\n\nfunc Word() string { return \"upstream\" }\n"),
        ],
    );
    let r = publish_zip(&web, &public.reg("public"), Some(ALICE), upstream_module, "v1.0.0", upstream_zip).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // BatleHub over HTTPS: a private registry and a proxy, both needing credentials.
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = pems();
    let (ca_path, cert_path, key_path) =
        (dir.path().join("ca.pem"), dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&ca_path, &ca).expect("ca");
    std::fs::write(&cert_path, &cert).expect("cert");
    std::fs::write(&key_path, &key).expect("key");
    let rbac = "[registries.rbac]\nanonymous = []\nuser = [\"releases:read\", \"source:read\", \"releases:write\"]\n";
    let registries = format!(
        "[[registries]]\ntype = \"goproxy\"\nname = \"internal-go\"\nmode = \"local\"\n{rbac}\
         [[registries]]\ntype = \"goproxy\"\nname = \"go\"\nmode = \"proxy\"\nupstreams = [\"{}\"]\n{rbac}",
        public.reg("public")
    );
    let tls = format!("port = 0\ntls_cert_file = {:?}\ntls_key_file = {:?}\n", cert_path.display(), key_path.display());
    let s = TestServer::start(&config(&registries).replacen("port = 0\n", &tls, 1)).await;
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_batlehub")).parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let runner = go_runner(&["work"])
        .env("GOPROXY", format!("{},{}", s.reg("internal-go"), s.reg("go")))
        .env("GONOSUMDB", "example.com")
        .env("GOSUMDB", "off")
        .env("SSL_CERT_FILE", &ca_path)
        .env("CURL_CA_BUNDLE", &ca_path)
        .env("PATH", path)
        .env_remove("GOPRIVATE")
        .env_remove("GONOPROXY")
        .env_remove("GOINSECURE");
    let home = GoHome { runner, go };
    // ~/.netrc from the Setup Guide: host:port, as the go command matches it.
    let netrc = snippet(&s, "internal-go", "go-netrc", "alice", ALICE);
    assert!(netrc.starts_with(&format!("machine {}\n", s.url.trim_start_matches("https://"))), "{netrc}");
    std::fs::write(home.runner.path("home/.netrc"), &netrc).expect("netrc");

    // Publish two private modules with the Setup Guide's commands.
    let publish = snippet(&s, "internal-go", "go-publish", "alice", ALICE);
    type Module<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);
    let modules: [Module; 2] = [
        (
            "example.com/myorg/Base",
            "v1.0.0",
            vec![
                ("go.mod", "module example.com/myorg/Base\n\ngo 1.21\n".to_string()),
                ("base.go", "package base\n\nfunc Greeting() string { return \"hello from base\" }\n".to_string()),
                (".git/HEAD", "ref: refs/heads/main\n".to_string()),
            ],
        ),
        (
            "example.com/myorg/app/v2",
            "v2.0.0",
            vec![
                (
                    "go.mod",
                    format!(
                        "module example.com/myorg/app/v2\n\ngo 1.21\n\nrequire (\n\texample.com/myorg/Base v1.0.0\n\t{upstream_module} v1.0.0\n)\n"
                    ),
                ),
                (
                    "app.go",
                    format!(
                        "package app\n\nimport (\n\t\"example.com/myorg/Base\"\n\t\"{upstream_module}\"\n)\n\nfunc Message() string {{ return base.Greeting() + \" and \" + greet.Word() }}\n"
                    ),
                ),
            ],
        ),
    ];
    for (i, (module, version, files)) in modules.iter().enumerate() {
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let src = write_module(&home.runner.path(&format!("work/src{i}")), &files);
        let zip = home.runner.path(&format!("work/mod{i}.zip"));
        let script = publish
            .replace("/tmp/mymod-v1.0.0.zip", &zip.display().to_string())
            .replace("example.com/myorg/mymod", module)
            .replace("v1.0.0", version);
        let out = home.sh(&script, &src).await;
        assert!(out.contains(&format!("published {module}@{version}")), "{out}");
    }

    // A consumer, built through both registries.
    let consumer = write_module(
        &home.runner.path("work/consumer"),
        &[
            ("go.mod", "module example.com/consumer\n\ngo 1.21\n"),
            (
                "main.go",
                "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/myorg/app/v2\"\n)\n\nfunc main() { fmt.Println(app.Message()) }\n",
            ),
        ],
    );
    home.ok(&["get", "example.com/myorg/app/v2@v2.0.0"], &consumer, &[]).await;
    home.ok(&["build", "-o", "consumer", "."], &consumer, &[]).await;
    let out = home.runner.ok(&consumer.join("consumer"), &[], &consumer).await;
    assert_eq!(out.trim(), "hello from base and upstream");
    let sums = std::fs::read_to_string(consumer.join("go.sum")).expect("go.sum");

    // The hashes the go command computed are the ones BatleHub stored.
    let json = home.ok(&["mod", "download", "-json", "example.com/myorg/Base@v1.0.0"], &consumer, &[]).await;
    let downloaded: serde_json::Value = serde_json::from_str(&json).expect("json");
    let package = s.app.catalog.get_package("internal-go", "example.com/myorg/Base").await.expect("db").expect("row");
    let versions = s.app.catalog.list_versions(&package.id).await.expect("db");
    let meta: serde_json::Value = serde_json::from_str(&versions[0].metadata).expect("meta");
    assert_eq!(downloaded["Sum"], meta["h1"], "the zip's h1");
    assert_eq!(downloaded["GoModSum"], meta["go_mod_h1"], "go.mod's h1");
    let h1 = meta["h1"].as_str().expect("h1");
    assert!(sums.contains(&format!("example.com/myorg/Base v1.0.0 {h1}")), "{sums}");
    // The VCS folder stayed out of the zip.
    let zip_path = downloaded["Zip"].as_str().expect("zip path");
    let listing = std::fs::read(zip_path).expect("zip");
    assert!(!listing.windows(5).any(|w| w == b".git/"), "the .git folder was zipped");

    // Without credentials: the registry's 401, as the go command reports it.
    let out = home
        .go(
            &["mod", "download", "-json", "example.com/myorg/Base@v1.0.0"],
            &consumer,
            &[("NETRC", "/dev/null"), ("GOMODCACHE", &home.runner.path("other-cache").display().to_string())],
        )
        .await;
    assert!(!out.ok, "{}", out.text());
    assert!(out.text().contains("401"), "{}", out.text());
}

/// `GOSUMDB` left on: the go command asks the checksum database through
/// BatleHub (`/sumdb/{name}/...` forwarded to the upstream proxy), verifies
/// the signed tree and the tiles, and accepts the module whose hashes the
/// log holds; a module whose zip does not match its log entry is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_checks_proxied_modules_against_a_checksum_database_through_batlehub() {
    use crate::support::go::{FakeGoproxy, FakeSumdb, module_zip};
    use batlehub::ecosystems::go::{modzip, names};
    let Some(go) = client_tool("go") else { return };
    let up = FakeGoproxy::start().await;
    let sumdb = FakeSumdb::new("sumdb.test");
    let (good, tampered) = ("example.com/Upstream/greet", "example.com/upstream/tampered");
    let mut entries = Vec::new();
    for m in [good, tampered] {
        let zip = module_zip(m, "v1.0.0");
        let checked = modzip::check(
            &names::ModulePath::parse(m).expect("path"),
            &names::Version::parse("v1.0.0").expect("version"),
            std::io::Cursor::new(&zip),
            zip.len() as u64,
        )
        .expect("valid zip");
        up.add_module(m, "v1.0.0", zip);
        entries.push((m, checked.h1, checked.go_mod_h1));
    }
    // The log holds another zip hash for the tampered module.
    entries[1].1 = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let log: Vec<(&str, &str, &str, &str)> =
        entries.iter().map(|(m, h1, mod_h1)| (*m, "v1.0.0", h1.as_str(), mod_h1.as_str())).collect();
    sumdb.serve(&up, &log);
    let s = TestServer::with(&[crate::support::builder::Reg::proxy("goproxy", "go", &up.url).open_read()], "").await;

    let runner = go_runner(&["consumer"])
        .env("GOPROXY", s.reg("go"))
        // The key alone (a URL after it would bypass the proxies): the
        // database's own host (`https://sumdb.test`) does not exist, so
        // only BatleHub can serve it.
        .env("GOSUMDB", sumdb.verifier_key())
        .env_remove("GONOSUMDB")
        .env_remove("GONOSUMCHECK")
        .env_remove("GOPRIVATE")
        .env_remove("GONOPROXY")
        .env_remove("GOINSECURE");
    let home = GoHome { runner, go };
    let consumer = consumer_of(&home, good, "greet");
    home.ok(&["get", &format!("{good}@v1.0.0")], &consumer, &[]).await;
    home.ok(&["build", "-o", "consumer", "."], &consumer, &[]).await;
    assert_eq!(home.runner.ok(&consumer.join("consumer"), &[], &consumer).await.trim(), "v1.0.0");
    let sums = std::fs::read_to_string(consumer.join("go.sum")).expect("go.sum");
    assert!(sums.contains(&format!("{good} v1.0.0 {}", entries[0].1)), "{sums}");
    assert!(up.hits("/sumdb/sumdb.test/lookup/example.com/!upstream/greet@v1.0.0") >= 1, "looked up through BatleHub");
    assert!(up.hits("/sumdb/sumdb.test/supported") >= 1);

    let out = home.go(&["get", &format!("{tampered}@v1.0.0")], &consumer, &[]).await;
    assert!(!out.ok, "a module that does not match the log was accepted:\n{}", out.text());
    assert!(out.text().contains("SECURITY ERROR") || out.text().contains("checksum mismatch"), "{}", out.text());
}

/// `[[registries.rules]]` through the real go command: `go get
/// module@latest` resolves to the newest version old enough for
/// `release_age` (the module's `Version` says which), and asking for a
/// version too young fails with the rule's reason in the server response
/// go prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_resolves_to_the_newest_version_old_enough() {
    use crate::support::go::{FakeGoproxy, module_zip};
    let Some(go) = client_tool("go") else { return };
    let up = FakeGoproxy::start().await;
    let module = "example.com/upstream/aged";
    for (v, hours) in [("v1.0.0", 24 * 400), ("v1.1.0", 24 * 10), ("v1.2.0", 1)] {
        up.add_module(module, v, module_zip(module, v));
        up.set_published(module, v, Some(&crate::support::hours_ago(hours)));
    }
    let reg = crate::support::builder::Reg::proxy("goproxy", "go", &up.url)
        .open_read()
        .rule("type = \"release_age\"\nmin_age = \"72h\"");
    let s = TestServer::with(&[reg], "").await;
    let runner = go_runner(&["consumer"]).env("GOPROXY", s.reg("go")).env("GOSUMDB", "off").env_remove("GONOSUMDB");
    let home = GoHome { runner, go };
    let consumer = consumer_of(&home, module, "aged");
    home.ok(&["get", &format!("{module}@latest")], &consumer, &[]).await;
    home.ok(&["build", "-o", "consumer", "."], &consumer, &[]).await;
    assert_eq!(
        home.runner.ok(&consumer.join("consumer"), &[], &consumer).await.trim(),
        "v1.1.0",
        "v1.2.0 is an hour old"
    );
    let out = home.go(&["get", &format!("{module}@v1.2.0")], &consumer, &[]).await;
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(!out.ok, "a version too young: {said}");
    assert!(said.contains("403") && said.contains("release_age rule until"), "go prints why: {said}");
}
