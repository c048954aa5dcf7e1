//! The real VS Code extension tools against BatleHub: `vsce package` builds
//! a VSIX (universal and `--target linux-x64`) from an extension project,
//! `ovsx publish` publishes it (its token in the query, the VSIX chunked),
//! `ovsx get` downloads it back (latest, a version range, a target
//! platform, its metadata) with Basic credentials, and fails without them;
//! the user guide's `curl` PUT and GET move a VSIX the same way. vsce and
//! ovsx are pinned by tests/vsx's package-lock.json (`.ci/run` installs
//! them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::builder::Reg;
use crate::support::runner::Runner;
use crate::support::{ALICE, TestServer, client, client_tool};

/// `tests/vsx/node_modules/.bin/{tool}`, or `None` (skipped unless CI).
fn tool(name: &str) -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vsx/node_modules/.bin").join(name);
    if bin.is_file() {
        return Some(bin);
    }
    if std::env::var("BATLEHUB_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("{name} is required (BATLEHUB_REQUIRE_CLIENTS=1): cd crates/batlehub/tests/vsx && npm ci");
    }
    eprintln!("SKIPPED: {name} is not installed (cd crates/batlehub/tests/vsx && npm ci)");
    None
}

/// An extension project as `yo code` makes one, at `version`.
fn project(runner: Runner, dir: &str, version: &str) -> Runner {
    let package = json!({
        "name": "my-extension", "publisher": "my-org", "displayName": "My Extension",
        "description": "A private extension", "version": version, "license": "MIT",
        "engines": {"vscode": "^1.80.0"}, "categories": ["Other"], "main": "./extension.js",
        "repository": {"type": "git", "url": "https://git.example/my-org/my-extension.git"},
        "activationEvents": [], "contributes": {"commands": [{"command": "my-extension.hello", "title": "Hello"}]},
    });
    runner
        .dirs(&[dir])
        .file(&format!("{dir}/package.json"), serde_json::to_vec_pretty(&package).expect("json"))
        .file(&format!("{dir}/README.md"), format!("# My Extension\n\nVersion {version}.\n"))
        .file(&format!("{dir}/CHANGELOG.md"), format!("## {version}\n- Built by the test\n"))
        .file(&format!("{dir}/LICENSE"), "MIT License\n")
        .file(&format!("{dir}/extension.js"), "exports.activate = () => {};\nexports.deactivate = () => {};\n")
}

#[tokio::test]
async fn vsce_packages_and_ovsx_publishes_and_gets() {
    let (Some(vsce), Some(ovsx)) = (tool("vsce"), tool("ovsx")) else { return };
    let s = TestServer::with(&[Reg::local("openvsx", "internal-ext")], "").await;
    let reg = s.reg("internal-ext");
    let runner = Runner::new(Duration::from_secs(180)).dirs(&["home", "out"]).env_path("HOME", "home");
    let runner = project(runner, "ext1", "0.0.1");
    let runner = project(runner, "ext2", "0.0.2");
    let p1 = runner.path("ext1");
    let p2 = runner.path("ext2");
    // vsce package: universal 0.0.1, universal 0.0.2 and a linux-x64 0.0.2.
    runner.ok(&vsce, &["package", "--no-dependencies", "-o", "../out/a.vsix"], &p1).await;
    runner.ok(&vsce, &["package", "--no-dependencies", "-o", "../out/b.vsix"], &p2).await;
    runner.ok(&vsce, &["package", "--no-dependencies", "--target", "linux-x64", "-o", "../out/c.vsix"], &p2).await;
    let out = runner.path("out");
    let publish = |file: &'static str| {
        let (runner, ovsx, reg, out) = (&runner, &ovsx, reg.clone(), out.clone());
        async move { runner.run(ovsx, &["publish", file, "-r", &reg, "-p", ALICE], &out).await }
    };
    let first = publish("a.vsix").await;
    assert!(first.ok, "ovsx publish failed:\n{}", first.text());
    assert!(first.text().contains("Published my-org.my-extension"), "{}", first.text());
    let second = publish("b.vsix").await;
    assert!(second.ok, "{}", second.text());
    let linux = publish("c.vsix").await;
    assert!(linux.ok, "{}", linux.text());
    assert!(linux.text().contains("@linux-x64"), "ovsx names the platform: {}", linux.text());
    let again = publish("a.vsix").await;
    assert!(!again.ok, "the same VSIX twice: {}", again.text());
    assert!(again.text().contains("already published"), "ovsx prints the registry's message: {}", again.text());

    // ovsx get with Basic credentials: the newest, a range, a platform, the metadata.
    let creds = [("OVSX_USERNAME", "alice"), ("OVSX_PASSWORD", ALICE)];
    let got = |args: Vec<String>| {
        let (runner, ovsx, out) = (&runner, &ovsx, out.clone());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            runner.run_with(ovsx, &args, &out, &creds).await
        }
    };
    let get_args = |extra: &[&str]| {
        let mut a: Vec<String> = vec!["get".into(), "my-org.my-extension".into(), "-r".into(), reg.clone()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let r = got(get_args(&["-o", "latest.vsix"])).await;
    assert!(r.ok, "ovsx get failed:\n{}", r.text());
    let b = std::fs::read(out.join("b.vsix")).expect("b");
    assert!(std::fs::read(out.join("latest.vsix")).expect("latest") == b, "the newest universal VSIX");
    let r = got(get_args(&["--versionRange", "<0.0.2", "-o", "old.vsix"])).await;
    assert!(r.ok, "ovsx get a range:\n{}", r.text());
    assert!(std::fs::read(out.join("old.vsix")).expect("old") == std::fs::read(out.join("a.vsix")).expect("a"));
    let r = got(get_args(&["--target", "linux-x64", "-o", "linux.vsix"])).await;
    assert!(r.ok, "ovsx get --target:\n{}", r.text());
    assert!(std::fs::read(out.join("linux.vsix")).expect("linux") == std::fs::read(out.join("c.vsix")).expect("c"));
    let r = got(get_args(&["--metadata"])).await;
    assert!(r.ok, "{}", r.text());
    let meta: Value = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert_eq!((meta["version"].as_str(), meta["displayName"].as_str()), (Some("0.0.2"), Some("My Extension")));
    // Without credentials the registry refuses, and ovsx fails.
    let r = runner.run(&ovsx, &["get", "my-org.my-extension", "-r", &reg, "-o", "anon.vsix"], &out).await;
    assert!(!r.ok && !out.join("anon.vsix").is_file(), "{}", r.text());
}

/// The user guide's `curl` PUT and GET, with a VSIX `vsce` built.
#[tokio::test]
async fn the_guide_curl_put_and_get() {
    let (Some(vsce), Some(curl)) = (tool("vsce"), client_tool("curl")) else { return };
    let s = TestServer::with(&[Reg::local("vscode-marketplace", "internal-ext")], "").await;
    let reg = s.reg("internal-ext");
    let runner =
        project(Runner::new(Duration::from_secs(180)).dirs(&["home"]).env_path("HOME", "home"), "ext", "1.0.0");
    let dir = runner.path("ext");
    runner.ok(&vsce, &["package", "--no-dependencies", "-o", "../my-org.my-extension-1.0.0.vsix"], &dir).await;
    let root = runner.root().to_path_buf();
    let auth = format!("Authorization: Bearer {ALICE}");
    let url = format!("{reg}/my-org.my-extension/1.0.0/vsix");
    let put = runner
        .ok(
            &curl,
            &[
                "--fail-with-body",
                "-sS",
                "-X",
                "PUT",
                "-H",
                &auth,
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
                "@my-org.my-extension-1.0.0.vsix",
                &url,
            ],
            &root,
        )
        .await;
    let doc: Value = serde_json::from_str(&put).unwrap_or_else(|e| panic!("{e}: {put}"));
    assert_eq!(doc["version"], "1.0.0");
    runner.ok(&curl, &["--fail-with-body", "-sS", "-H", &auth, &url, "-o", "back.vsix"], &root).await;
    assert!(
        std::fs::read(root.join("back.vsix")).expect("back")
            == std::fs::read(root.join("my-org.my-extension-1.0.0.vsix")).expect("vsix")
    );
    // The same upload again is refused with the registry's message.
    let again = runner
        .run(
            &curl,
            &[
                "--fail-with-body",
                "-sS",
                "-X",
                "PUT",
                "-H",
                &auth,
                "--data-binary",
                "@my-org.my-extension-1.0.0.vsix",
                &url,
            ],
            &root,
        )
        .await;
    assert!(!again.ok && again.text().contains("already published"), "{}", again.text());
    assert_eq!(client().get(&url).send().await.expect("get").status(), 401);
}
