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

    // Upload a wheel through the Upload card, install it back with pip.
    let wheel_path = tmp.join(crate::support::pypi::wheel_name("acme-widget", "1.0.0"));
    std::fs::write(&wheel_path, crate::support::pypi::wheel("acme-widget", "1.0.0")).expect("wheel");
    let out = run("upload", env(&[("REGISTRY", "private".into()), ("WHEEL", wheel_path.display().to_string())])).await;
    assert!(out["notice"].as_str().unwrap_or("").contains("Published acme-widget 1.0.0 to private"), "{out}");
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
    assert_eq!(client().get(&simple).send().await.expect("anon").status(), 401);
    let alice = client().get(&simple).bearer_auth(ALICE).send().await.expect("alice");
    assert_eq!(alice.status(), 200);

    // The package browser.
    let out = run("browse", env(&[("PACKAGE", "acme-widget".into())])).await;
    assert!(out["results"][0].as_str().unwrap_or("").contains("acme-widget"), "{out}");
    assert_eq!(out["install"], format!("pip install --index-url {base}/proxy/private/simple/ acme-widget"));
    assert!(out["versions"][0].as_str().unwrap_or("").contains("1.0.0"), "{out}");
    assert_eq!(out["theme"], "dark");
}
