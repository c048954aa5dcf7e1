//! The binary: --version, config check, hash-token, and the embedded default
//! on a fresh folder (first start prints an admin token once).

use std::process::Command;
use std::time::Duration;

use crate::support::{ADMIN, ALICE};

fn batlehub() -> Command {
    Command::new(env!("CARGO_BIN_EXE_batlehub"))
}

#[test]
fn version_and_help() {
    let out = batlehub().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// `config check` reads an advisories rule's folder or zip as the server
/// would at start: what it holds, or why it cannot be read.
#[test]
fn config_check_reads_advisory_folders() {
    let dir = tempfile::tempdir().expect("dir");
    let osv = dir.path().join("osv");
    std::fs::create_dir(&osv).expect("osv");
    let record = r#"{"id": "MAL-2026-1", "affected": [{"package": {"ecosystem": "npm", "name": "evil"}, "versions": ["1.0.0"]}]}"#;
    std::fs::write(osv.join("MAL-2026-1.json"), record).expect("record");
    std::fs::write(osv.join("junk.json"), "{").expect("junk");
    let text = |source: &std::path::Path| {
        format!(
            "[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"proxy\"\nupstreams = [\"https://npm-upstream.example/\"]\n\
             [[registries.rules]]\ntype = \"advisories\"\nsource = {:?}\n",
            source.display().to_string()
        )
    };
    let good = dir.path().join("good.toml");
    std::fs::write(&good, text(&osv)).expect("write");
    let out = batlehub().args(["config", "check"]).arg(&good).output().expect("run");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("1 records of its ecosystem (1 files not OSV records)"), "{said}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, text(&dir.path().join("missing"))).expect("write");
    let out = batlehub().args(["config", "check"]).arg(&bad).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("missing") && err.contains("registry `npm`"), "{err}");
}

#[test]
fn config_check_reports_every_error_with_its_line() {
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n").expect("write");
    let out = batlehub().args(["config", "check"]).arg(&good).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nport = 8080\nbogus = true\n\n[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"proxy\"\n\n[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n",
    )
    .expect("write");
    let out = batlehub().args(["config", "check"]).arg(&bad).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:"), "{err}");
    assert!(err.contains("bogus"), "{err}");
    assert!(err.contains("no `upstreams`"), "{err}");
    assert!(err.contains("duplicate registry name `npm`"), "{err}");

    // Every bad key of a section, each at its own line; a registry that does
    // not parse is reported once (not again as an unknown member); a
    // misspelt member gets a suggestion.
    let worse = dir.path().join("worse.toml");
    std::fs::write(
        &worse,
        "[server]\nport = 8080\nbogus = true\nhots = \"x\"\nheader_read_timeout_secs = \"soon\"\n\n\
         [[registries]]\ntype = \"npm\"\nname = \"internal\"\nmode = \"locale\"\n\n\
         [[registries]]\ntype = \"npm\"\nname = \"group\"\nmode = \"proxy\"\nmembers = [\"internal\", \"privat\"]\n\n\
         [[registries]]\ntype = \"npm\"\nname = \"private\"\nmode = \"local\"\nupstreams = [\"https://npm-upstream.example/\"]\n",
    )
    .expect("write");
    let out = batlehub().args(["config", "check"]).arg(&worse).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("worse.toml:3:") && err.contains("bogus"), "{err}");
    assert!(err.contains("worse.toml:4:") && err.contains("hots"), "{err}");
    assert!(err.contains("worse.toml:5:") && err.contains("header_read_timeout_secs"), "{err}");
    assert!(err.contains("worse.toml:10:") && err.contains("locale"), "{err}");
    assert!(!err.contains("member `internal`"), "a broken registry is not reported again as a member: {err}");
    assert!(err.contains("member `privat` is not a configured registry (did you mean `private`?)"), "{err}");
    assert!(err.contains("worse.toml:16:"), "the member error points at `members`: {err}");
    assert!(err.contains("worse.toml:22:") && err.contains("remove its `upstreams`"), "at `upstreams`: {err}");
}

/// A port already taken: `serve` fails before it creates or migrates
/// anything.
#[test]
fn a_port_in_use_fails_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("dir");
    let out = batlehub()
        .args(["serve", "--port", &port])
        .current_dir(dir.path())
        .env_remove("BATLEHUB_CONFIG")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("binding"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("data").exists(), "nothing is created when the port cannot be bound");
}

#[test]
fn hash_token_makes_a_usable_phc_string() {
    let out = batlehub().args(["hash-token", "s3cret"]).output().expect("run");
    assert!(out.status.success());
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    use argon2::password_hash::PasswordVerifier;
    let parsed = argon2::password_hash::phc::PasswordHash::new(&hash).expect("phc");
    assert!(argon2::Argon2::default().verify_password(b"s3cret", &parsed).is_ok());
    assert!(argon2::Argon2::default().verify_password(b"other", &parsed).is_err());
}

/// `batlehub serve` with no config: the embedded default in ./data, an admin
/// token printed once, the .npmrc lines, a working local npm registry.
#[tokio::test]
async fn embedded_default_first_start() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("dir");
    let start = || {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_batlehub"));
        cmd.args(["serve", "--port", "0"])
            .current_dir(dir.path())
            .env_remove("BATLEHUB_CONFIG")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().expect("spawn")
    };
    let read_banner = |child: &mut tokio::process::Child| {
        let stdout = child.stdout.take().expect("stdout");
        async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            let mut text = String::new();
            let _ = tokio::time::timeout(Duration::from_secs(20), async {
                while let Ok(Some(line)) = lines.next_line().await {
                    text.push_str(&line);
                    text.push('\n');
                    if line.contains("_authToken=") || line.contains("Lost it?") {
                        break;
                    }
                }
            })
            .await;
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            text
        }
    };
    let mut child = start();
    let banner = read_banner(&mut child).await;
    let url = banner.lines().find_map(|l| l.split("listening on ").nth(1)).expect("listening line").trim().to_string();
    let token = banner.split_whitespace().find(|w| w.starts_with("bh_")).expect("a token is printed").to_string();
    assert!(banner.contains(&format!("registry={url}/proxy/npm/")), "{banner}");
    let host = url.trim_start_matches("http://");
    assert!(banner.contains(&format!("//{host}/proxy/npm/:_authToken={token}")), "{banner}");
    // The token is an admin on the default npm registry.
    let c = crate::support::client();
    let who: serde_json::Value = c
        .get(format!("{url}/proxy/npm/-/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(who["username"], "admin");
    let (status, _) = crate::support::npm::publish(&c, &format!("{url}/proxy/npm"), &token, "hello", "1.0.0").await;
    assert_eq!(status, 201);
    // Only the hash is kept: the secret appears nowhere under ./data.
    for f in crate::support::files_under(&dir.path().join("data")) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "{} holds the token", f.display());
    }
    let _ = child.kill().await;
    let _ = child.wait().await;
    // The banner names the client URL and the Setup Guide.
    assert!(banner.contains(&format!("{url}/proxy/npm/  (npm registry, local mode)")), "{banner}");
    assert!(banner.contains(&format!("Setup Guide (every client's configuration): {url}/setup")), "{banner}");
    // Second start: no new token, and how to make one if it was lost.
    let mut child = start();
    let banner = read_banner(&mut child).await;
    assert!(!banner.contains("bh_"), "{banner}");
    assert!(banner.contains("only its hash is kept"), "{banner}");
    let _ = child.kill().await;
    let _ = child.wait().await;
    assert!(banner.contains("batlehub token create --user admin --role admin"), "{banner}");
    // Which works on the embedded default, without --config.
    let out = batlehub()
        .args(["token", "create", "--user", "admin", "--role", "admin"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(again.starts_with("bh_"), "{again}");
    let mut child = start();
    let banner = read_banner(&mut child).await;
    let url = banner.lines().find_map(|l| l.split("listening on ").nth(1)).expect("listening line").trim().to_string();
    let who: serde_json::Value =
        c.get(format!("{url}/api/v1/me")).bearer_auth(&again).send().await.expect("get").json().await.expect("json");
    assert_eq!(who["role"], "admin", "{who}");
    let _ = child.kill().await;
    // Elsewhere, without --config, it says where to run it.
    let empty = tempfile::tempdir().expect("dir");
    let out = batlehub().args(["token", "create", "--user", "x"]).current_dir(empty.path()).output().expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no --config given"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fake upstream that answers 405 to everything.
async fn refusing_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(|| async { (axum::http::StatusCode::METHOD_NOT_ALLOWED, "no") });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// Run the real binary on `config` (stderr captured), wait for it to
/// listen, run `work` against its URL, stop it, and give back stderr.
async fn serve_and_log<F, Fut>(dir: &std::path::Path, config: &str, work: F) -> String
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let path = dir.join("batlehub.toml");
    std::fs::write(&path, config.replace("{DATA}", &dir.display().to_string())).expect("config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
        .args(["serve", "--config", &path.display().to_string()])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(u) = line.split("listening on ").nth(1) {
                return u.trim().to_string();
            }
        }
        panic!("the server never said where it listens");
    })
    .await
    .expect("listening in time");
    let mut stderr = child.stderr.take().expect("stderr");
    let collected = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    });
    work(url).await;
    // Let the last lines out, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    collected.await.expect("stderr")
}

/// One access-log line per request at the default level (method, path,
/// status, bytes, duration, user, registry, request id), the cause of a 5xx,
/// changes logged, no colour into a pipe, JSON on request; metrics are
/// histograms with help, present from start-up, for every surface.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_changes_and_metrics() {
    let upstream = refusing_upstream().await;
    let config = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n\n[database]\nurl = \"sqlite://{{DATA}}/catalog.db\"\n\n[storage]\ntype = \"filesystem\"\npath = \"{{DATA}}/storage\"\n\n\
         [[auth]]\ntype = \"token\"\n[[auth.tokens]]\nvalue = \"{ALICE}\"\nrole = \"user\"\nuser_id = \"alice\"\n[[auth.tokens]]\nvalue = \"{ADMIN}\"\nrole = \"admin\"\nuser_id = \"root\"\n\n\
         [[registries]]\ntype = \"npm\"\nname = \"internal\"\nmode = \"local\"\n\n\
         [[registries]]\ntype = \"npm\"\nname = \"mirror\"\nmode = \"proxy\"\nupstreams = [\"{upstream}\"]\n\n\
         [[registries]]\ntype = \"conda\"\nname = \"channel\"\nmode = \"local\"\n"
    );
    let dir = tempfile::tempdir().expect("dir");
    let c = crate::support::client();
    let metrics_text = std::sync::Arc::new(std::sync::Mutex::new((String::new(), String::new())));
    let seen = std::sync::Arc::clone(&metrics_text);
    let log = serve_and_log(dir.path(), &config, |url| {
        let c = c.clone();
        async move {
            let first = c.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
            let (status, _) =
                crate::support::npm::publish(&c, &format!("{url}/proxy/internal"), ALICE, "logged-lib", "1.0.0").await;
            assert_eq!(status, 201);
            let r = c
                .get(format!("{url}/proxy/internal/logged-lib"))
                .bearer_auth(ALICE)
                .header("x-request-id", "req-42")
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 200);
            let r = c
                .put(format!("{url}/proxy/internal/-/package/logged-lib/dist-tags/stable"))
                .bearer_auth(ALICE)
                .json(&"1.0.0")
                .send()
                .await
                .expect("dist-tag");
            assert!(r.status().is_success(), "{}", r.status());
            let r = c
                .put(format!("{url}/api/v1/registries/internal/packages/logged-lib/visibility"))
                .bearer_auth(ALICE)
                .json(&serde_json::json!({ "visibility": "internal" }))
                .send()
                .await
                .expect("visibility");
            assert_eq!(r.status(), 200);
            let r = c
                .post(format!("{url}/api/v1/admin/registries/internal/namespaces"))
                .bearer_auth(ADMIN)
                .json(&serde_json::json!({ "prefix": "@acme/", "group": "acme" }))
                .send()
                .await
                .expect("claim");
            assert!(r.status().is_success(), "{}", r.status());
            let r = c.get(format!("{url}/proxy/mirror/left-pad")).bearer_auth(ALICE).send().await.expect("get");
            assert_eq!(r.status(), 502);
            let _ =
                c.get(format!("{url}/api/v1/me?token=secret-in-query")).bearer_auth(ALICE).send().await.expect("me");
            let r = c.get(format!("{url}/proxy/channel/t/{ALICE}/noarch/repodata.json")).send().await.expect("conda");
            assert_eq!(r.status(), 200, "a token in the path authenticates");
            let _ = c.get(format!("{url}/login")).send().await.expect("login");
            let last = c.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text");
            *seen.lock().expect("lock") = (first, last);
        }
    })
    .await;
    assert!(!log.contains('\u{1b}'), "no ANSI colour into a pipe:\n{log}");
    let line = |needle: &str| -> String {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no log line with {needle:?}:\n{log}"))
            .to_string()
    };
    let get = line("GET /proxy/internal/logged-lib 200");
    for part in ["batlehub::access", "status=200", "bytes=", "ms=", "user=alice", "registry=internal", "id=req-42"] {
        assert!(get.contains(part), "{part} missing in {get}");
    }
    let failed = line("GET /proxy/mirror/left-pad 502");
    assert!(failed.contains("WARN") && failed.contains("405"), "the cause of a 5xx: {failed}");
    let me = line("GET /api/v1/me 200");
    assert!(!me.contains("secret-in-query"), "{me}");
    assert!(!log.contains("secret-in-query"), "queries are never logged");
    line("GET /proxy/channel/t/<token>/noarch/repodata.json 200");
    assert!(!log.contains(ALICE), "a token in a path is never logged");
    line("GET /login 200");
    for change in ["dist-tag-add", "visibility", "claim"] {
        let l = line(change);
        assert!(l.contains("batlehub::change"), "{l}");
    }
    assert!(line("visibility").contains("by=alice"));

    let (first, last) = metrics_text.lock().expect("lock").clone();
    // Present from start-up, with help.
    assert!(first.contains("batlehub_upstream_errors_total{registry=\"mirror\"} 0"), "{first}");
    assert!(first.contains("# HELP batlehub_upstream_errors_total"), "{first}");
    assert!(first.contains("batlehub_cache_total{registry=\"mirror\",kind=\"artifact\",result=\"hit\"} 0"), "{first}");
    // Histograms, not summaries; every series with help; other surfaces too.
    assert!(last.contains("# TYPE batlehub_request_seconds histogram"), "{last}");
    assert!(last.contains("batlehub_request_seconds_bucket{registry=\"internal\",le=\"0.005\"}"), "{last}");
    assert!(!last.contains("quantile="), "{last}");
    assert!(last.contains("batlehub_http_requests_total{surface=\"api\",status=\"200\"}"), "{last}");
    assert!(last.contains("batlehub_http_requests_total{surface=\"ui\",status=\"200\"}"), "{last}");
    assert!(last.contains("batlehub_http_request_seconds_bucket{surface=\"ui\""), "{last}");
    for series in last.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap_or("")) {
        assert!(last.contains(&format!("# HELP {series} ")), "{series} has no help:\n{last}");
    }
    assert!(last.contains("batlehub_upstream_errors_total{registry=\"mirror\"} 1"), "{last}");

    // JSON logs.
    let dir = tempfile::tempdir().expect("dir");
    let json_config = format!("{config}\n[log]\nformat = \"json\"\n");
    let log = serve_and_log(dir.path(), &json_config, |url| {
        let c = c.clone();
        async move {
            let _ = c.get(format!("{url}/livez")).send().await.expect("livez");
        }
    })
    .await;
    let access: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["target"] == "batlehub::access")
        .unwrap_or_else(|| panic!("no JSON access line:\n{log}"));
    assert_eq!(access["fields"]["status"], 200, "{access}");
    assert_eq!(access["span"]["path"], "/livez", "{access}");
}
