//! The real cargo against BatleHub, following the user guide: a private
//! registry (`internal`) to publish, yank and depend on, and crates-io
//! replaced by a BatleHub mirror whose upstream is a second BatleHub in local
//! mode. Both registries require authentication.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::runner::{Output, Runner};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client_tool, config, snippet};

/// cargo with its own CARGO_HOME (holding `config.toml`) and target folder.
struct CargoHome {
    runner: Runner,
    cargo: PathBuf,
}

impl CargoHome {
    fn new(cargo: PathBuf) -> CargoHome {
        let runner = Runner::new(Duration::from_secs(300))
            .dirs(&["home"])
            .env_path("CARGO_HOME", "home")
            .env_path("CARGO_TARGET_DIR", "target")
            .env("CARGO_NET_RETRY", "0")
            .env("CARGO_HTTP_TIMEOUT", "60")
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CARGO_REGISTRIES_CRATES_IO_PROTOCOL");
        CargoHome { runner, cargo }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.runner.path(p)
    }

    fn krate(&self, name: &str, version: &str, deps: &str, lib: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\ndescription = \"the {name} crate\"\nlicense = \"MIT\"\n\n[dependencies]\n{deps}"
            ),
        )
        .expect("toml");
        std::fs::write(dir.join("src/lib.rs"), lib).expect("lib");
        dir
    }

    async fn run(&self, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
        self.runner.run_with(&self.cargo, args, cwd, envs).await
    }

    async fn ok(&self, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> String {
        self.runner.ok_with(&self.cargo, args, cwd, envs).await
    }
}

/// `CARGO_REGISTRIES_X_TOKEN` from the token snippet's `export X=$BATLEHUB_TOKEN`.
fn token_variable(snippet: &str) -> String {
    let line = snippet.trim().strip_prefix("export ").unwrap_or_else(|| panic!("not an export line: {snippet}"));
    line.split_once('=').map(|(k, _)| k.to_string()).unwrap_or_else(|| panic!("no variable in {snippet}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_publishes_yanks_and_builds_through_the_mirror() {
    let Some(cargo) = client_tool("cargo") else { return };
    // "crates-io": a second BatleHub in local mode.
    let upstream = crate::support::public_upstream("cargo").await;
    let up_index = format!("sparse+{}/registry/", upstream.reg("public"));
    let hub = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "cargo"
name = "internal"
mode = "local"

[[registries]]
type = "cargo"
name = "cargo"
mode = "proxy"
upstreams = ["{up_index}"]
"#
    )))
    .await;
    let home = CargoHome::new(cargo);
    // The Setup Guide's snippets, as pasted: the private registry, the
    // crates-io mirror, and the stand-in crates-io itself (a BatleHub, named
    // `public`) to seed it; each token from the variable its snippet names.
    let config = [
        snippet(&hub, "internal", "cargo-registry", "", ""),
        snippet(&hub, "cargo", "cargo-mirror", "", ""),
        snippet(&upstream, "public", "cargo-registry", "", ""),
    ]
    .join("\n");
    assert!(config.contains(&format!("index = \"{up_index}\"")), "{config}");
    std::fs::write(home.path("home/config.toml"), config).expect("config");
    let tokens = [("internal", &hub, ALICE), ("cargo", &hub, BOB), ("public", &upstream, ADMIN)]
        .map(|(name, server, token)| (token_variable(&snippet(server, name, "cargo-token", "", "")), token));
    let tokens: Vec<(&str, &str)> = tokens.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let tokens = tokens.as_slice();

    // Seed "crates-io" with the real cargo.
    let pubdep = home.krate("pubdep", "1.0.0", "", "pub fn answer() -> u32 { 42 }\n");
    home.ok(&["publish", "--registry", "public", "--no-verify", "--allow-dirty"], &pubdep, tokens).await;

    // Two private crates, one depending on the other and on crates-io.
    let core = home.krate("priv-core", "0.1.0", "", "pub fn core() -> u32 { 1 }\n");
    home.ok(&["publish", "--registry", "internal", "--allow-dirty"], &core, tokens).await;
    let app_lib = home.krate(
        "priv-app-lib",
        "0.1.0",
        "priv-core = { version = \"0.1\", registry = \"internal\" }\npubdep = \"1\"\n",
        "pub fn total() -> u32 { priv_core::core() + pubdep::answer() }\n",
    );
    home.ok(&["publish", "--registry", "internal", "--allow-dirty"], &app_lib, tokens).await;
    // Republishing: cargo sees the version in the index and refuses (the
    // server's own 409 is covered by the in-process tests).
    let out = home.run(&["publish", "--registry", "internal", "--allow-dirty", "--no-verify"], &core, tokens).await;
    assert!(!out.ok);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);

    // yank / yank --undo, as the user guide shows them.
    home.ok(&["yank", "--registry", "internal", "priv-core@0.1.0"], &core, tokens).await;
    let idx = reqwest::Client::new()
        .get(format!("{}/registry/pr/iv/priv-core", hub.reg("internal")))
        .header("authorization", BOB)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(idx.contains("\"yanked\":true"), "{idx}");
    home.ok(&["yank", "--undo", "--registry", "internal", "priv-core@0.1.0"], &core, tokens).await;

    // Owners and search.
    home.ok(&["owner", "--add", "bob", "--registry", "internal", "priv-core"], &core, tokens).await;
    let out = home.ok(&["owner", "--list", "--registry", "internal", "priv-core"], &core, tokens).await;
    assert!(out.contains("alice") && out.contains("bob"), "{out}");
    let out = home.ok(&["search", "--registry", "internal", "priv"], &core, tokens).await;
    assert!(out.contains("priv-core = \"0.1.0\"") && out.contains("priv-app-lib = \"0.1.0\""), "{out}");

    // A consumer that builds with a private crate and a mirrored one.
    let consumer = home.krate(
        "consumer",
        "0.1.0",
        "priv-app-lib = { version = \"0.1\", registry = \"internal\" }\npubdep = \"1\"\n",
        "pub fn run() -> u32 { priv_app_lib::total() + pubdep::answer() }\n",
    );
    let out = home.run(&["build", "-v"], &consumer, tokens).await;
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    let lock = std::fs::read_to_string(consumer.join("Cargo.lock")).expect("lock");
    assert!(lock.contains("name = \"pubdep\"") && lock.contains("name = \"priv-core\""), "{lock}");

    // Without tokens the private registry refuses.
    let fresh = CargoHome::new(home.cargo.clone());
    std::fs::copy(home.path("home/config.toml"), fresh.path("home/config.toml")).expect("copy");
    let consumer2 =
        fresh.krate("consumer2", "0.1.0", "priv-core = { version = \"0.1\", registry = \"internal\" }\n", "");
    let out = fresh.run(&["generate-lockfile"], &consumer2, &[]).await;
    let err = out.stderr;
    assert!(!out.ok, "{err}");
    assert!(err.contains("token") || err.contains("401") || err.contains("authentication"), "{err}");
}

/// The user guide's own mirror snippet (`[source.batlehub] registry = ...`,
/// no token) works on a mirror that allows anonymous reads, which is the
/// snippet the Setup Guide then shows; on one that does not, cargo's own
/// refusal is explained by the Setup Guide's snippet title, and a refused
/// token gets a 401 whose message says how cargo must be set up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_mirror_snippets_and_messages() {
    let Some(cargo) = client_tool("cargo") else { return };
    let upstream = crate::support::public_upstream("cargo").await;
    let up_index = format!("sparse+{}/registry/", upstream.reg("public"));
    let hub = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "cargo"
name = "open-mirror"
mode = "proxy"
upstreams = ["{up_index}"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]

[[registries]]
type = "cargo"
name = "cargo"
mode = "proxy"
upstreams = ["{up_index}"]
"#
    )))
    .await;
    let seed = CargoHome::new(cargo.clone());
    std::fs::write(seed.path("home/config.toml"), snippet(&upstream, "public", "cargo-registry", "", ""))
        .expect("config");
    let token = token_variable(&snippet(&upstream, "public", "cargo-token", "", ""));
    let pubdep = seed.krate("pubdep", "1.0.0", "", "pub fn answer() -> u32 { 42 }\n");
    seed.ok(&["publish", "--registry", "public", "--no-verify", "--allow-dirty"], &pubdep, &[(&token, ADMIN)]).await;

    // Anonymous reads: the guide's [source] form, as the Setup Guide shows it.
    let open = snippet(&hub, "open-mirror", "cargo-mirror", "", "");
    assert!(
        open.contains("[source.open-mirror]\nregistry = \"sparse+") && !open.contains("credential-provider"),
        "{open}"
    );
    let anon = CargoHome::new(cargo.clone());
    std::fs::write(anon.path("home/config.toml"), &open).expect("config");
    let app = anon.krate("anon-app", "0.1.0", "pubdep = \"1\"\n", "pub fn f() -> u32 { pubdep::answer() }\n");
    anon.ok(&["build"], &app, &[]).await;

    // Authentication required: the same [source] form fails in cargo itself,
    // which is why the Setup Guide declares a registry (and says why).
    let strict = snippets_titled(&hub, "cargo", "cargo-mirror");
    assert!(strict.contains("credential-provider"), "{strict}");
    let guide_form = open.replace("open-mirror", "cargo");
    let bare = CargoHome::new(cargo.clone());
    std::fs::write(bare.path("home/config.toml"), &guide_form).expect("config");
    let app = bare.krate("bare-app", "0.1.0", "pubdep = \"1\"\n", "");
    let out = bare.run(&["generate-lockfile"], &app, &[]).await;
    assert!(!out.ok);
    assert!(out.stderr.contains("credential-provider"), "{}", out.stderr);

    // The Setup Guide's form with a token the server refuses: cargo shows
    // the server's message, which names the fix.
    let with_token = CargoHome::new(cargo);
    std::fs::write(with_token.path("home/config.toml"), snippet(&hub, "cargo", "cargo-mirror", "", ""))
        .expect("config");
    let var = token_variable(&snippet(&hub, "cargo", "cargo-token", "", ""));
    let app = with_token.krate("token-app", "0.1.0", "pubdep = \"1\"\n", "");
    let out = with_token.run(&["generate-lockfile"], &app, &[(&var, "bh_not_a_real_token")]).await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("the token was refused") && out.stderr.contains("CARGO_REGISTRIES_NAME_TOKEN"),
        "{}",
        out.stderr
    );
    // With the right token it works.
    with_token.ok(&["generate-lockfile"], &app, &[(&var, BOB)]).await;
}

/// The title and body of a Setup Guide snippet.
fn snippets_titled(server: &TestServer, registry: &str, id: &str) -> String {
    let all = crate::support::snippets(server, registry);
    let s = batlehub::setup::find(&all, id).unwrap_or_else(|| panic!("{registry} has no snippet {id}"));
    format!("{}\n{}", s.title, s.body)
}

/// `[[registries.rules]]` through the real cargo: the lockfile picks the
/// newest version old enough for `release_age` (the index line's
/// `pubtime`), and a crate with no version old enough fails, cargo printing
/// the rule's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_resolves_to_the_newest_version_old_enough() {
    let Some(cargo) = client_tool("cargo") else { return };
    let up = crate::support::cargo::FakeIndex::start(true).await;
    for (v, hours) in [("1.0.0", 24 * 400), ("1.1.0", 24 * 10), ("1.2.0", 1)] {
        up.add("aged-crate", v);
        up.set_published("aged-crate", v, Some(&crate::support::hours_ago(hours)));
    }
    up.add("fresh-crate", "1.0.0");
    up.set_published("fresh-crate", "1.0.0", Some(&crate::support::hours_ago(1)));
    let hub = TestServer::start(&config(&format!(
        "{}[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\n",
        crate::support::builder::Reg::proxy("cargo", "open-mirror", &up.index()).open_read().toml()
    )))
    .await;
    let home = CargoHome::new(cargo);
    std::fs::write(home.path("home/config.toml"), snippet(&hub, "open-mirror", "cargo-mirror", "", ""))
        .expect("config");
    let app = home.krate("aged-app", "0.1.0", "aged-crate = \"1\"\n", "");
    home.ok(&["fetch"], &app, &[]).await;
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).expect("lockfile");
    assert!(lock.contains("name = \"aged-crate\"\nversion = \"1.1.0\""), "1.2.0 is an hour old: {lock}");
    let fresh = home.krate("fresh-app", "0.1.0", "fresh-crate = \"1\"\n", "");
    let out = home.run(&["generate-lockfile"], &fresh, &[]).await;
    assert!(!out.ok && out.stderr.contains("release_age"), "cargo with nothing old enough: {}", out.stderr);
}
