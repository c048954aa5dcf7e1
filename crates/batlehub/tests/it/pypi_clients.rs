//! The real pip, uv, twine and poetry against BatleHub. A second BatleHub in
//! local mode plays PyPI; every client runs with its own HOME (holding the
//! ~/.netrc the user guide describes), caches and no user configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::runner::{Output, Runner};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client_tool, config, snippet};

/// pip, uv, twine and poetry with their own HOME, caches and no user
/// configuration.
struct Py {
    runner: Runner,
}

impl Py {
    fn new() -> Py {
        let runner = Runner::new(Duration::from_secs(300))
            .dirs(&["home"])
            .env_path("HOME", "home")
            .env("PIP_FIND_LINKS", "")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_NO_CACHE_DIR", "1")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env_remove("PIP_INDEX_URL")
            .env_remove("PIP_EXTRA_INDEX_URL")
            .env_path("UV_CACHE_DIR", "uv-cache")
            .env("UV_NO_CONFIG", "1")
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env_remove("UV_INDEX_URL")
            .env_remove("UV_DEFAULT_INDEX")
            .env_path("POETRY_CACHE_DIR", "poetry-cache")
            .env_path("POETRY_CONFIG_DIR", "poetry-config")
            .env("POETRY_VIRTUALENVS_CREATE", "false")
            .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring");
        Py { runner }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.runner.path(p)
    }

    /// A setuptools project; returns its folder.
    fn project(&self, name: &str, version: &str, deps: &[&str]) -> PathBuf {
        let dir = self.path(&format!("src-{name}"));
        let module = name.replace('-', "_");
        std::fs::create_dir_all(dir.join(&module)).expect("mkdir");
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        std::fs::write(
            dir.join("pyproject.toml"),
            format!(
                "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"the {name} project\"\nrequires-python = \">=3.8\"\ndependencies = [{}]\n\n[tool.setuptools]\npackages = [\"{module}\"]\n",
                deps.join(", ")
            ),
        )
        .expect("pyproject");
        std::fs::write(dir.join(&module).join("__init__.py"), format!("NAME = {name:?}\n")).expect("init");
        dir
    }

    async fn run(&self, program: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
        self.runner.run_with(program, args, cwd, envs).await
    }

    async fn ok(&self, program: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> String {
        self.runner.ok_with(program, args, cwd, envs).await
    }

    /// `python -m build --no-isolation`: no index is contacted.
    async fn build(&self, python: &Path, project: &Path) -> Vec<PathBuf> {
        self.ok(python, &["-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", "dist"], project, &[])
            .await;
        let mut out: Vec<PathBuf> =
            std::fs::read_dir(project.join("dist")).expect("dist").flatten().map(|e| e.path()).collect();
        out.sort();
        assert_eq!(out.len(), 2, "{out:?}");
        out
    }

    fn installed(&self, target: &str, module: &str) -> bool {
        self.path(target).join(module).join("__init__.py").is_file()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_uv_twine_and_poetry() {
    let (Some(python), Some(twine), Some(uv), Some(poetry)) =
        (client_tool("python3"), client_tool("twine"), client_tool("uv"), client_tool("poetry"))
    else {
        return;
    };
    // "PyPI": a second BatleHub in local mode with anonymous reads.
    let upstream = crate::support::public_upstream("pypi").await;
    let up_simple = format!("{}/simple/", upstream.reg("public"));
    let hub = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "pypi"
name = "private"
mode = "local"

[[registries]]
type = "pypi"
name = "my-pypi"
mode = "proxy"
upstreams = ["{up_simple}"]
members = ["private"]

[[registries]]
type = "pypi"
name = "hybrid"
mode = "hybrid"
upstreams = ["{up_simple}"]
[registries.rbac]
user = ["releases:read", "source:read", "releases:write"]
"#
    )))
    .await;
    let py = Py::new();
    // ~/.netrc from the Setup Guide.
    let netrc = snippet(&hub, "my-pypi", "netrc", "bob", BOB);
    assert_eq!(netrc, format!("machine 127.0.0.1\nlogin bob\npassword {BOB}\n"));
    std::fs::write(py.path("home/.netrc"), &netrc).expect("netrc");
    let home = py.path("home");

    // Seed "PyPI" with twine.
    let pubdep = py.project("pubdep", "1.0.0", &[]);
    let dists = py.build(&python, &pubdep).await;
    let up_legacy = format!("{}/legacy/", upstream.reg("public"));
    let mut args = vec![
        "upload",
        "--non-interactive",
        "--repository-url",
        &up_legacy,
        "--username",
        "__token__",
        "--password",
        ADMIN,
    ];
    let files: Vec<String> = dists.iter().map(|p| p.display().to_string()).collect();
    args.extend(files.iter().map(String::as_str));
    py.ok(&twine, &args, &pubdep, &[]).await;

    // twine upload to the private index: the Setup Guide's command, run by
    // the shell with BATLEHUB_TOKEN set.
    let sh = Path::new("/bin/sh");
    let tools_path = format!(
        "{}:{}",
        twine.parent().map(|p| p.display().to_string()).unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    );
    let twine_upload = snippet(&hub, "private", "twine-upload", "", "");
    let twine_upload = twine_upload.lines().find(|l| l.starts_with("twine upload")).expect("twine line").to_string();
    let acme = py.project("acme-private", "1.0.0", &["pubdep>=1"]);
    py.build(&python, &acme).await;
    let as_alice = [("BATLEHUB_TOKEN", ALICE), ("PATH", tools_path.as_str())];
    py.ok(sh, &["-c", &twine_upload], &acme, &as_alice).await;
    // Again: 409, which twine reports.
    let out = py.run(sh, &["-c", &twine_upload], &acme, &as_alice).await;
    assert!(!out.ok && out.text().contains("409"), "{}", out.text());

    // uv publish, the Setup Guide's command.
    let uv_publish = snippet(&hub, "private", "uv-publish", "", "");
    let acme_uv = py.project("acme-uv", "0.1.0", &[]);
    py.build(&python, &acme_uv).await;
    let uv_path = format!("{}:{tools_path}", uv.parent().map(|p| p.display().to_string()).unwrap_or_default());
    py.ok(sh, &["-c", uv_publish.trim()], &acme_uv, &[("BATLEHUB_TOKEN", ALICE), ("PATH", uv_path.as_str())]).await;

    // pip install through the aggregate index configured by the Setup
    // Guide's pip.conf, credentials from ~/.netrc after a 401.
    let index = format!("{}/simple/", hub.reg("my-pypi"));
    let pip_conf = py.path("pip.conf");
    std::fs::write(&pip_conf, snippet(&hub, "my-pypi", "pip-conf", "", "")).expect("pip.conf");
    let pip_conf = pip_conf.display().to_string();
    py.ok(
        &python,
        &["-m", "pip", "install", "--target", &py.path("t-pip").display().to_string(), "acme-private", "acme-uv"],
        &home,
        &[("PIP_CONFIG_FILE", &pip_conf)],
    )
    .await;
    assert!(
        py.installed("t-pip", "acme_private") && py.installed("t-pip", "pubdep") && py.installed("t-pip", "acme_uv")
    );
    // uv pip install, same index, same netrc.
    py.ok(
        &uv,
        &[
            "pip",
            "install",
            "--target",
            &py.path("t-uv").display().to_string(),
            "--python",
            &python.display().to_string(),
            "--index-url",
            &index,
            "acme-private",
        ],
        &home,
        &[],
    )
    .await;
    assert!(py.installed("t-uv", "acme_private") && py.installed("t-uv", "pubdep"));
    // Credentials embedded in the URL, the guide's alternative.
    let url_conf = py.path("pip-url.conf");
    std::fs::write(&url_conf, snippet(&hub, "my-pypi", "pip-url-credentials", "bob", BOB)).expect("pip.conf");
    let url_conf = url_conf.display().to_string();
    std::fs::remove_file(py.path("home/.netrc")).expect("rm netrc");
    py.ok(
        &python,
        &["-m", "pip", "install", "--target", &py.path("t-url").display().to_string(), "acme-uv"],
        &home,
        &[("PIP_CONFIG_FILE", &url_conf)],
    )
    .await;
    assert!(py.installed("t-url", "acme_uv"));
    // Without credentials pip gets the 401 and fails.
    let out = py
        .run(
            &python,
            &[
                "-m",
                "pip",
                "install",
                "--target",
                &py.path("t-anon").display().to_string(),
                "--index-url",
                &index,
                "acme-uv",
            ],
            &home,
            &[],
        )
        .await;
    assert!(!out.ok && out.text().contains("401"), "{}", out.text());
    std::fs::write(py.path("home/.netrc"), &netrc).expect("netrc");

    // poetry resolves from the private source (PyPI disabled by the primary source).
    let consumer = py.path("consumer");
    std::fs::create_dir_all(&consumer).expect("mkdir");
    std::fs::write(
        consumer.join("pyproject.toml"),
        format!(
            "[project]\nname = \"consumer\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"acme-private>=1.0\"]\n\n[tool.poetry]\npackage-mode = false\n\n{}",
            snippet(&hub, "my-pypi", "poetry-source", "", "")
        ),
    )
    .expect("pyproject");
    // The Setup Guide's poetry credentials, as exported variables.
    let exports = |id: &str, token: &str| -> Vec<(String, String)> {
        snippet(&hub, "my-pypi", id, "", "")
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("$BATLEHUB_TOKEN", token)))
            .collect()
    };
    let bob_env = exports("poetry-credentials", BOB);
    assert_eq!(bob_env.len(), 2, "{bob_env:?}");
    let bob_env: Vec<(&str, &str)> = bob_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    py.ok(&poetry, &["lock", "--no-interaction"], &consumer, &bob_env).await;
    let lock = std::fs::read_to_string(consumer.join("poetry.lock")).expect("poetry.lock");
    assert!(lock.contains("name = \"acme-private\"") && lock.contains("name = \"pubdep\""), "{lock}");

    // poetry publish with the Setup Guide's commands for the group: the
    // upload goes to its member.
    let made = py.path("poetry-made");
    std::fs::create_dir_all(made.join("poetry_made")).expect("mkdir");
    std::fs::write(made.join("poetry_made/__init__.py"), "VALUE = 7\n").expect("init");
    std::fs::write(made.join("README.md"), "poetry made\n").expect("readme");
    std::fs::write(
        made.join("pyproject.toml"),
        "[tool.poetry]\nname = \"poetry-made\"\nversion = \"0.3.0\"\ndescription = \"made by poetry\"\nauthors = [\"Alice <alice@example.com>\"]\nreadme = \"README.md\"\npackages = [{ include = \"poetry_made\" }]\n\n[tool.poetry.dependencies]\npython = \">=3.8\"\n\n[build-system]\nrequires = [\"poetry-core\"]\nbuild-backend = \"poetry.core.masonry.api\"\n",
    )
    .expect("pyproject");
    let alice_env = exports("poetry-credentials", ALICE);
    let alice_env: Vec<(&str, &str)> = alice_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let publish = snippet(&hub, "my-pypi", "poetry-publish", "", "");
    assert!(publish.contains(&format!("{}/legacy/", hub.reg("private"))), "{publish}");
    for line in publish.lines() {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        py.ok(&poetry, &args, &made, &alice_env).await;
    }
    let page = reqwest::Client::new()
        .get(format!("{}/simple/poetry-made/", hub.reg("private")))
        .header("authorization", format!("Bearer {BOB}"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(page.contains("poetry_made-0.3.0-py3-none-any.whl") && page.contains("poetry_made-0.3.0.tar.gz"), "{page}");

    // Hybrid: publish to it with the Setup Guide's ~/.pypirc and
    // `twine upload --repository batlehub`, install a mix of private and
    // upstream projects.
    std::fs::write(py.path("home/.pypirc"), snippet(&hub, "hybrid", "pypirc", "alice", ALICE)).expect("pypirc");
    let house = py.project("house-tool", "2.0.0", &["pubdep>=1"]);
    let dists = py.build(&python, &house).await;
    let files: Vec<String> = dists.iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["upload", "--non-interactive", "--repository", "batlehub"];
    args.extend(files.iter().map(String::as_str));
    py.ok(&twine, &args, &house, &[]).await;
    let hindex = format!("{}/simple/", hub.reg("hybrid"));
    py.ok(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--target",
            &py.path("t-hybrid").display().to_string(),
            "--index-url",
            &hindex,
            "house-tool",
        ],
        &home,
        &[],
    )
    .await;
    assert!(py.installed("t-hybrid", "house_tool") && py.installed("t-hybrid", "pubdep"));
}

/// `[[registries.rules]]` through the real pip: `pip install demo` resolves
/// to the newest version old enough for `release_age` (the wheel's module
/// says which), a pin on a version too young fails, and a project with no
/// version old enough fails with the rule's reason (pip shows an index's
/// HTTP reason phrase with `-vv`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_resolves_to_the_newest_version_old_enough() {
    use crate::support::pypi::{FakeSimple, wheel, wheel_name};
    let Some(python) = client_tool("python3") else { return };
    let up = FakeSimple::start(true).await;
    for (v, hours) in [("1.0", 24 * 400), ("1.1", 24 * 10), ("2.0", 1)] {
        up.add("demo-aged", &wheel_name("demo-aged", v), wheel("demo-aged", v));
        up.set_published("demo-aged", v, Some(&crate::support::hours_ago(hours)));
    }
    up.add("demo-fresh", &wheel_name("demo-fresh", "1.0"), wheel("demo-fresh", "1.0"));
    up.set_published("demo-fresh", "1.0", Some(&crate::support::hours_ago(2)));
    let hub = TestServer::start(&config(&format!(
        "{}[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\n",
        crate::support::builder::Reg::proxy("pypi", "pypi", &up.simple()).open_read().toml()
    )))
    .await;
    let py = Py::new();
    let index = format!("{}/simple/", hub.reg("pypi"));
    let home = py.path("home");
    let target = py.path("t-aged").display().to_string();
    py.ok(&python, &["-m", "pip", "install", "--index-url", &index, "--target", &target, "demo-aged"], &home, &[])
        .await;
    let init = std::fs::read_to_string(py.path("t-aged").join("demo_aged/__init__.py")).expect("installed");
    assert!(init.contains("VERSION = \"1.1\""), "2.0 is an hour old: {init}");
    let target = py.path("t-young").display().to_string();
    let out = py
        .run(
            &python,
            &["-m", "pip", "install", "--index-url", &index, "--target", &target, "demo-aged==2.0"],
            &home,
            &[],
        )
        .await;
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(!out.ok && said.contains("demo-aged==2.0"), "pip install of a withheld version: {said}");
    let target = py.path("t-fresh").display().to_string();
    let out = py
        .run(
            &python,
            &["-m", "pip", "install", "-vv", "--index-url", &index, "--target", &target, "demo-fresh"],
            &home,
            &[],
        )
        .await;
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(!out.ok, "nothing old enough: {said}");
    assert!(
        said.contains("403") && said.contains("demo-fresh@1.0") && said.contains("release_age rule until"),
        "pip shows why: {said}"
    );
}
