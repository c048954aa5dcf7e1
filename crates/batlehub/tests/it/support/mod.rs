//! Test support: a BatleHub on 127.0.0.1 over a temporary SQLite file and
//! blob folder (`TestServer`, built from typed registries in `builder`), one
//! fake upstream skeleton (`fake`) with a protocol per ecosystem, each
//! ecosystem's packages, publish bodies and conformance `Fixture`
//! (`npm`, `cargo`, `pypi`), and one runner for the real clients (`runner`).

pub mod builder;
pub mod cargo;
pub mod composer;
pub mod conda;
pub mod fake;
pub mod fake_npm;
pub mod fixture;
pub mod go;
pub mod idp;
pub mod logs;
pub mod maven;
pub mod npm;
pub mod nuget;
pub mod pypi;
pub mod rubygems;
pub mod runner;
pub mod s3;
pub mod terraform;
pub mod tls;
pub mod vsx;

use std::path::{Path, PathBuf};
use std::time::Duration;

use batlehub::app::{App, AppState};
use tokio::sync::oneshot;

pub const ADMIN: &str = "admin-token";
pub const ALICE: &str = "alice-token";
pub const BOB: &str = "bob-token";

/// The static identities every test server knows: admin; alice (user, group
/// oidc:myorg); bob (user, no group).
pub fn config(registries: &str) -> String {
    format!(
        r#"
[server]
host = "127.0.0.1"
port = 0

[database]
url = "sqlite://{{DATA}}/catalog.db"

[storage]
type = "filesystem"
path = "{{DATA}}/storage"

[[auth]]
type = "token"
[[auth.tokens]]
value = "{ADMIN}"
role = "admin"
user_id = "admin"
[[auth.tokens]]
value = "{ALICE}"
role = "user"
user_id = "alice"
groups = ["oidc:my org"]
[[auth.tokens]]
value = "{BOB}"
role = "user"
user_id = "bob"

{registries}
"#
    )
}

pub struct TestServer {
    pub url: String,
    pub app: App,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Start a server whose configuration is `toml` with `{DATA}` replaced
    /// by a fresh temporary folder.
    pub async fn start(toml: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_path_buf();
        let mut s = TestServer::start_at(&data, toml).await;
        s._dir = Some(dir);
        s
    }

    /// Start a server on an existing data folder (a restart).
    pub async fn start_at(data: &Path, toml: &str) -> TestServer {
        let text = config_text(data, toml).await;
        let config =
            batlehub::ecosystems::parse_config(&text).unwrap_or_else(|e| panic!("test config invalid:\n{e}\n{text}"));
        let app = AppState::build(config).await.expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let serve_app = app.clone();
        let handle = tokio::spawn(async move {
            let _ = batlehub::router::serve(serve_app, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        let scheme = if app.config.server.tls_cert_file.is_some() { "https" } else { "http" };
        TestServer {
            url: format!("{scheme}://{addr}"),
            app,
            data: data.to_path_buf(),
            _dir: None,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// `{url}/proxy/{registry}`
    pub fn reg(&self, registry: &str) -> String {
        format!("{}/proxy/{registry}", self.url)
    }

    /// Stop the server, keeping its data folder; returns the folder's guard.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
        self._dir.take()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn client() -> reqwest::Client {
    // Tests that build a client before any server (which installs it).
    batlehub::tls::install_crypto_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Epoch milliseconds of a time as the API writes it (RFC 3339).
pub fn epoch_ms(iso: &str) -> i64 {
    let t = time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{iso}: {e}"));
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Epoch milliseconds of an RFC 3339 time, `None` if it is not one.
pub fn epoch_ms_opt(iso: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({status}): {e}: {text}"))
}

/// The configuration a test server on `data` runs with: `{DATA}` replaced,
/// on the PostgreSQL pass (BATLEHUB_TEST_PG) the catalog moved there, and
/// with BATLEHUB_TEST_S3=<endpoint> the blobs moved to a bucket of their own.
pub async fn config_text(data: &Path, toml: &str) -> String {
    let mut text = toml.replace("{DATA}", &data.display().to_string());
    if let Ok(endpoint) = std::env::var("BATLEHUB_TEST_S3") {
        let fs = format!("[storage]\ntype = \"filesystem\"\npath = \"{}/storage\"\n", data.display());
        if text.contains(&fs) {
            let marker = data.join("s3-bucket");
            let bucket = match std::fs::read_to_string(&marker) {
                Ok(b) => b,
                Err(_) => {
                    let b = s3::create_bucket(&endpoint).await;
                    std::fs::write(&marker, &b).expect("marker");
                    b
                }
            };
            text = text.replace(&fs, &s3::storage_section(data, &endpoint, &bucket));
        }
    }
    if let Ok(admin_url) = std::env::var("BATLEHUB_TEST_PG") {
        // The same suite on PostgreSQL: one database per data folder.
        let db = pg_database_for(&admin_url, data).await;
        let sqlite = format!("url = \"sqlite://{}/catalog.db\"", data.display());
        text = text.replace(&sqlite, &format!("url = \"{db}\""));
    }
    text
}

/// A PostgreSQL database dedicated to `data` (created on first use), when the
/// suite runs with BATLEHUB_TEST_PG=postgres://user@host:port/postgres.
async fn pg_database_for(admin_url: &str, data: &Path) -> String {
    use sqlx::Connection;
    let marker = data.join("pg-database");
    let name = match std::fs::read_to_string(&marker) {
        Ok(n) => n,
        Err(_) => {
            let n = format!("t{}", uuid::Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(admin_url).await.expect("connect to BATLEHUB_TEST_PG");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {n}")))
                .execute(&mut conn)
                .await
                .expect("create database");
            std::fs::write(&marker, &n).expect("marker");
            n
        }
    };
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
    format!("{base}/{name}")
}

/// A real client's path, or `None` when it is missing: the test then reports
/// itself skipped, unless BATLEHUB_REQUIRE_CLIENTS=1 (CI), where it fails.
pub fn client_tool(name: &str) -> Option<PathBuf> {
    let from_env =
        (name == "cargo").then(|| std::env::var_os("CARGO").map(PathBuf::from)).flatten().filter(|p| p.is_file());
    let found = from_env.or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
    });
    if found.is_none() {
        if std::env::var("BATLEHUB_REQUIRE_CLIENTS").as_deref() == Ok("1") {
            panic!("{name} is required (BATLEHUB_REQUIRE_CLIENTS=1) but not installed");
        }
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}

/// A second BatleHub playing a public registry: one local registry of `kind`
/// named `public`, readable anonymously, writable by users.
pub async fn public_upstream(kind: &str) -> TestServer {
    TestServer::start(&config(&format!(
        "[[registries]]\ntype = \"{kind}\"\nname = \"public\"\nmode = \"local\"\n[registries.rbac]\nanonymous = [\"releases:read\", \"source:read\"]\nuser = [\"releases:read\", \"source:read\", \"releases:write\"]\n"
    )))
    .await
}

/// The Setup Guide's snippets for `registry` of `server`: the one source the
/// web UI renders and the real-client tests write to disk.
pub fn snippets(server: &TestServer, registry: &str) -> Vec<batlehub::setup::Snippet> {
    let r = server
        .app
        .config
        .registries
        .iter()
        .find(|r| r.name == registry)
        .unwrap_or_else(|| panic!("no registry {registry}"));
    let target = batlehub::setup::Target::of(&server.url, r, &server.app.config.registries);
    batlehub::ecosystems::setup_snippets(r.kind, &target)
}

/// One snippet's body with the user id and token filled in, as a user pastes it.
pub fn snippet(server: &TestServer, registry: &str, id: &str, user: &str, token: &str) -> String {
    let all = snippets(server, registry);
    batlehub::setup::find(&all, id).unwrap_or_else(|| panic!("{registry} has no snippet {id}")).fill(user, token)
}

/// A snippet for the BatleHub registry at `registry_url`
/// (`{base}/proxy/{name}/`), filled in.
pub fn snippet_at(kind: batlehub::kinds::Kind, registry_url: &str, id: &str, user: &str, token: &str) -> String {
    let (base, name) = registry_url
        .trim_end_matches('/')
        .split_once("/proxy/")
        .unwrap_or_else(|| panic!("not a registry URL: {registry_url}"));
    let target = batlehub::setup::Target::local(base, name);
    let all = batlehub::ecosystems::setup_snippets(kind, &target);
    batlehub::setup::find(&all, id).unwrap_or_else(|| panic!("{registry_url} has no snippet {id}")).fill(user, token)
}

/// The SHA-256 of every blob `server` has committed, wherever its store is
/// (a folder, or a bucket on the S3 pass).
pub async fn stored_blobs(server: &TestServer) -> Vec<String> {
    server.app.blobs.list().await.expect("list blobs")
}

/// Poll `probe` until it says `true`; fail naming `what` if that takes longer
/// than a change made through another process may go unseen
/// (`CHANGE_BOUND`, plus scheduling slack).
pub async fn within_change_bound<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + batlehub::catalog::CHANGE_BOUND + Duration::from_millis(1500);
    while !probe().await {
        assert!(std::time::Instant::now() < deadline, "{what}: not seen within CHANGE_BOUND");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publish through the web UI's Upload card as a browser signed in with
/// `token` does (the session, its CSRF field, the multipart form); the
/// status and the page's text.
pub async fn upload_card(
    server: &TestServer,
    token: &str,
    registry: &str,
    filename: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = browser
        .post(format!("{}/login", server.url))
        .form(&[("token", token), ("return_to", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "signed in");
    let page =
        browser.get(format!("{}/my-namespace", server.url)).send().await.expect("page").text().await.expect("body");
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{40})""#).expect("re");
    let csrf = re.captures(&page).map(|c| c[1].to_string()).expect("csrf field");
    let mut form = reqwest::multipart::Form::new().text("csrf", csrf).text("registry", registry.to_string());
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(filename.to_string())
        .mime_str("application/octet-stream")
        .expect("mime");
    let r = browser
        .post(format!("{}/my-namespace/upload", server.url))
        .multipart(form.part("file", part))
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    if status != 303 {
        return (status, r.text().await.unwrap_or_default());
    }
    // A publish redirects (post, redirect, get): the page it leads to.
    let to = r.headers().get("location").and_then(|l| l.to_str().ok()).expect("location").to_string();
    assert!(to.starts_with("/my-namespace?"), "{to}");
    let page = browser.get(format!("{}{to}", server.url)).send().await.expect("page").text().await.expect("body");
    (status, page)
}

/// The time `hours` ago, as RFC 3339 to the second (upstream publish times
/// in fakes; real cargo refuses an index `pubtime` with fractions).
pub fn hours_ago(hours: i64) -> String {
    let at = time::OffsetDateTime::now_utc() - time::Duration::hours(hours);
    let at = at.replace_nanosecond(0).expect("whole second");
    at.format(&time::format_description::well_known::Rfc3339).expect("time")
}
