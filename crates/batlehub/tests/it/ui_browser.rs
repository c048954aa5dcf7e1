//! The web UI in headless Chromium (playwright-core driving Debian's
//! chromium; `tests/browser/ui.js` holds the steps): sign in with a token,
//! create a token and see it once, read the Setup Guide, upload a wheel
//! through the Upload card and install it back with the real pip, change its
//! visibility and watch an anonymous client lose it, browse packages.
//! Screenshots of each page land in `target/ui-screenshots/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::runner::Runner;
use crate::support::{ALICE, TestServer, client, client_tool, config, snippet};

/// node running `tests/browser/ui.js` steps against Chromium; the browser
/// state kept between steps (`STATE`) lives in the runner's folder.
struct Browser {
    runner: Runner,
    node: PathBuf,
    dir: PathBuf,
}

impl Browser {
    /// Node, Chromium and playwright-core, or `None` (skipped) when one is
    /// missing outside CI.
    fn find() -> Option<Browser> {
        let node = client_tool("node")?;
        let chromium = client_tool("chromium")?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        if !dir.join("node_modules/playwright-core").is_dir() {
            if std::env::var("BATLEHUB_REQUIRE_CLIENTS").as_deref() == Ok("1") {
                panic!("playwright-core is required: npm ci in {}", dir.display());
            }
            eprintln!("SKIPPED: playwright-core is not installed in {}", dir.display());
            return None;
        }
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        let runner = Runner::new(Duration::from_secs(120))
            .env("CHROMIUM", &chromium)
            .env_path("STATE", "state.json")
            .env("SHOTS", &shots);
        Some(Browser { runner, node, dir })
    }

    async fn step(&self, step: &str, env: &[(&str, &str)]) -> Value {
        let out = self.runner.run_with(&self.node, &["ui.js", step], &self.dir, env).await;
        assert!(out.ok, "browser step {step} failed:\n{}", out.text());
        let stdout = out.stdout;
        let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{step}: {e}: {stdout}"));
        assert_eq!(v["errors"], serde_json::json!([]), "{step}: the page logged errors (a CSP violation?)");
        v
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_in_chromium() {
    let Some(browser) = Browser::find() else { return };
    let Some(python) = client_tool("python3") else { return };
    // pip with the sandbox as HOME; the wheel, pip.conf and install target live there too.
    let pip = Runner::new(Duration::from_secs(300));
    let tmp_home = pip.root().to_path_buf();
    let pip = pip.env("HOME", tmp_home).env("PIP_FIND_LINKS", "").env_remove("PIP_INDEX_URL");
    let tmp = pip.root();
    let hub = TestServer::start(&config(crate::ui::REGISTRIES)).await;
    let base = hub.url.clone();
    let env = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut v = vec![("BASE", base.clone()), ("TOKEN", ALICE.to_string())];
        v.extend(extra.iter().cloned());
        v
    };
    let run = |step: &'static str, vars: Vec<(&'static str, String)>| {
        let browser = &browser;
        async move {
            let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.step(step, &refs).await
        }
    };

    // Sign in with a token (a static configuration token).
    let out = run("signin", env(&[])).await;
    assert!(out["who"].as_str().unwrap_or("").contains("alice"), "{out}");
    assert_eq!(out["httpOnly"], true, "{out}");
    assert_eq!(out["sameSite"], "Lax", "{out}");

    // Create a token: shown once, then it works against the API.
    let out = run("token", env(&[])).await;
    let token = out["token"].as_str().unwrap_or("").to_string();
    assert!(token.starts_with("bh_"), "{out}");
    assert_eq!(out["exportLine"], format!("export BATLEHUB_TOKEN={token}"));
    assert_eq!(out["lifetime"], "90");
    assert_eq!(out["role"], "user");
    assert_eq!(out["shownAgain"], false, "the secret must not be shown twice: {out}");
    assert_eq!(out["listed"], 1);
    let me = client().get(format!("{base}/api/v1/me")).bearer_auth(&token).send().await.expect("me");
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["user_id"], "alice");

    // Revoking asks first: dismissed, the token stays; accepted, it goes.
    let out = run("revoke", env(&[])).await;
    let dialogs = out["dialogs"].as_array().expect("dialogs");
    assert_eq!(dialogs.len(), 2, "{out}");
    assert!(dialogs[0].as_str().unwrap_or("").contains("to-revoke"), "{out}");
    assert_eq!(out["afterDismiss"], "active", "{out}");
    assert_eq!(out["afterAccept"], "revoked", "{out}");

    // The Setup Guide: every snippet names this server; they are the
    // snippets the client tests use.
    let out = run("setup", env(&[])).await;
    let snippets = out["snippets"].as_object().expect("snippets");
    let per_registry: Vec<&String> = snippets.keys().filter(|k| *k != "snip-token").collect();
    assert!(per_registry.len() >= 8, "{out}");
    for id in &per_registry {
        let text = snippets[*id].as_str().unwrap_or("");
        let host = base.trim_start_matches("http://");
        let host_only = host.split(':').next().unwrap_or("");
        assert!(
            text.contains(host)
                || text.contains(&format!("machine {host_only}"))
                || !text.contains("://") && !text.contains("machine"),
            "{id} does not name this server: {text}"
        );
    }
    assert_eq!(snippets["snip-private-pip-conf"], snippet(&hub, "private", "pip-conf", "alice", "<your-token>"));
    assert_eq!(snippets["snip-npm-npmrc"], snippet(&hub, "npm", "npmrc", "alice", "${BATLEHUB_TOKEN}"));
    assert!(
        snippets["snip-internal-cargo-registry"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("sparse+{base}/proxy/internal/registry/"))
    );
    assert!(out["copyButtons"].as_u64().unwrap_or(0) >= per_registry.len() as u64);
    // The signed-in viewer's user id is in the snippets, titles show code
    // as code (no literal backticks), and no command is cut off or hidden
    // under its Copy button.
    let netrc = snippets["snip-private-netrc"].as_str().unwrap_or("");
    assert!(netrc.contains("login alice") && !netrc.contains("<your-user-id>"), "{netrc}");
    for title in out["titles"].as_array().expect("titles") {
        assert!(!title.as_str().unwrap_or("").contains('`'), "a title shows backticks: {title}");
    }
    let layout = out["layout"].as_array().expect("layout");
    assert!(layout.len() >= per_registry.len(), "{out}");
    for block in layout {
        assert_eq!((&block["cut"], &block["under"]), (&Value::Bool(false), &Value::Bool(false)), "{block}");
    }

    // Upload a wheel through the Upload card, install it back with pip.
    let wheel_path = tmp.join(crate::support::pypi::wheel_name("acme-widget", "1.0.0"));
    std::fs::write(&wheel_path, crate::support::pypi::wheel("acme-widget", "1.0.0")).expect("wheel");
    let out = run("upload", env(&[("REGISTRY", "private".into()), ("WHEEL", wheel_path.display().to_string())])).await;
    assert!(out["notice"].as_str().unwrap_or("").contains("Published acme-widget 1.0.0 to private"), "{out}");
    // The upload is answered with a redirect: reloading the page after it
    // sends no form again and says the same.
    assert!(out["url"].as_str().unwrap_or("").starts_with(&format!("{base}/my-namespace?")), "{out}");
    assert!(!out["reloadMethods"].as_array().expect("methods").iter().any(|m| m != "GET"), "{out}");
    assert!(out["reloadNotice"].as_str().unwrap_or("").contains("Published acme-widget 1.0.0 to private"), "{out}");
    let pip_conf = tmp.join("pip.conf");
    std::fs::write(&pip_conf, snippet(&hub, "private", "pip-conf", "", "")).expect("pip.conf");
    let target = tmp.join("site");
    let target_arg = target.display().to_string();
    let pip_conf = pip_conf.display().to_string();
    let args = ["-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--target", &target_arg];
    let cwd = std::env::current_dir().expect("cwd");
    pip.ok_with(&python, &[&args[..], &["acme-widget==1.0.0"]].concat(), &cwd, &[("PIP_CONFIG_FILE", &pip_conf)]).await;
    assert!(target.join("acme_widget/__init__.py").is_file());
    let simple = format!("{}/simple/acme-widget/", hub.reg("private"));
    assert_eq!(client().get(&simple).send().await.expect("anon").status(), 200);

    // Team visibility on /my-namespace: the anonymous client loses access.
    let out = run("visibility", env(&[("PREFIX", "acme-".into()), ("PACKAGE", "acme-widget".into())])).await;
    assert_eq!(out["groups"], serde_json::json!(["oidc:myorg"]), "{out}");
    assert_eq!(out["before"], "public");
    assert_eq!(out["after"], "team", "{out}");
    let colours = &out["colours"];
    assert_ne!(colours["team"][0], colours["bad"][0], "the team badge has an error's colour: {out}");
    assert_ne!(colours["team"][1], colours["bad"][1], "the team badge has an error's background: {out}");
    assert_eq!(client().get(&simple).send().await.expect("anon").status(), 401);
    let alice = client().get(&simple).bearer_auth(ALICE).send().await.expect("alice");
    assert_eq!(alice.status(), 200);

    // The package browser.
    let out = run("browse", env(&[("PACKAGE", "acme-widget".into())])).await;
    assert!(out["results"][0].as_str().unwrap_or("").contains("acme-widget"), "{out}");
    assert_eq!(out["install"], format!("pip install --index-url {base}/proxy/pypi/simple/ acme-widget"));
    assert!(out["versions"][0].as_str().unwrap_or("").contains("1.0.0"), "{out}");
    assert_eq!(out["theme"], "dark");

    // The package page of the wheel: installed through the group `pypi`
    // (which serves `private`), the command whole and clear of its Copy
    // button at a narrow width; the wheel a download link, its PEP 658
    // sidecar not listed.
    let out = run("package", env(&[("REGISTRY", "private".into()), ("PACKAGE", "acme-widget".into())])).await;
    assert_eq!(out["install"], format!("pip install --index-url {base}/proxy/pypi/simple/ acme-widget"));
    assert_eq!(
        (&out["layout"][0]["cut"], &out["layout"][0]["under"]),
        (&Value::Bool(false), &Value::Bool(false)),
        "{out}"
    );
    let files = out["rows"][0]["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "only the wheel, never its .metadata: {out}");
    assert_eq!(files[0]["name"], crate::support::pypi::wheel_name("acme-widget", "1.0.0"));
    assert_eq!(files[0]["status"], 200, "{out}");
    assert_eq!(files[0]["bytes"], crate::support::pypi::wheel("acme-widget", "1.0.0").len(), "{out}");

    // npm: dist-tags and a deprecation on the page; installed through the
    // group `npm` whose member holds the package.
    let c = client();
    let npm_local = hub.reg("npm-local");
    for v in ["1.0.0", "2.0.0"] {
        let (status, body) = crate::support::npm::publish(&c, &npm_local, ALICE, "@acme/web-lib", v).await;
        assert_eq!(status, 201, "{body}");
    }
    let r = c
        .put(format!("{npm_local}/-/package/@acme%2fweb-lib/dist-tags/stable"))
        .bearer_auth(ALICE)
        .json(&"1.0.0")
        .send()
        .await
        .expect("tag");
    assert_eq!(r.status(), 201);
    let mut doc: Value = c
        .get(format!("{npm_local}/@acme%2fweb-lib?write=true"))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("packument")
        .json()
        .await
        .expect("json");
    doc["versions"]["1.0.0"]["deprecated"] = Value::from("use web-lib 2");
    let r =
        c.put(format!("{npm_local}/@acme%2fweb-lib")).bearer_auth(ALICE).json(&doc).send().await.expect("deprecate");
    assert_eq!(r.status(), 200);
    let out = run("package", env(&[("REGISTRY", "npm-local".into()), ("PACKAGE", "@acme/web-lib".into())])).await;
    assert_eq!(out["install"], format!("npm install @acme/web-lib --registry {base}/proxy/npm/"), "{out}");
    let row = |v: &str| {
        out["rows"].as_array().and_then(|r| r.iter().find(|r| r["version"] == v)).cloned().unwrap_or_default()
    };
    assert_eq!(row("2.0.0")["tags"], serde_json::json!(["latest"]), "{out}");
    assert_eq!(row("1.0.0")["tags"], serde_json::json!(["stable"]), "{out}");
    assert!(row("1.0.0")["deprecated"].as_str().unwrap_or("").contains("use web-lib 2"), "{out}");
    assert_eq!(row("2.0.0")["deprecated"], "", "{out}");
    let tgz = &row("2.0.0")["files"][0];
    assert_eq!(tgz["status"], 200, "{out}");
    assert_eq!(tgz["bytes"], crate::support::npm::tarball("@acme/web-lib", "2.0.0", &[]).len(), "{out}");

    // cargo: a yanked version is marked.
    let internal = hub.reg("internal");
    for v in ["1.0.0", "1.1.0"] {
        let (status, body) =
            crate::support::cargo::publish(&c, &internal, ALICE, "web-crate", v, serde_json::json!([])).await;
        assert_eq!(status, 200, "{body}");
    }
    let r = c
        .delete(format!("{internal}/api/v1/crates/web-crate/1.0.0/yank"))
        .header("authorization", ALICE)
        .send()
        .await
        .expect("yank");
    assert_eq!(r.status(), 200);
    let out = run("package", env(&[("REGISTRY", "internal".into()), ("PACKAGE", "web-crate".into())])).await;
    let row = |v: &str| {
        out["rows"].as_array().and_then(|r| r.iter().find(|r| r["version"] == v)).cloned().unwrap_or_default()
    };
    assert_eq!(row("1.0.0")["yanked"], true, "{out}");
    assert_eq!(row("1.1.0")["yanked"], false, "{out}");
    assert_eq!(row("1.1.0")["files"][0]["status"], 200, "{out}");
}
