//! npm in proxy mode against a fake upstream: rewriting, caching,
//! single-flight, stale metadata, revalidation, integrity, streaming,
//! fall-through between upstreams, no-store, and TLS trust.

use std::time::Duration;

use crate::support::fake_npm::{Behaviour, FakeNpm};
use crate::support::npm::tarball;
use crate::support::{ALICE, TestServer, client, config, files_under, json, stored_blobs};

fn proxy(upstreams: &[&str], ttl: u64, verify_before_serve: u64) -> String {
    let list: Vec<String> = upstreams.iter().map(|u| format!("\"{u}\"")).collect();
    config(&format!(
        r#"
[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = [{}]
[registries.cache]
metadata_ttl_secs = {ttl}
verify_before_serve_bytes = {verify_before_serve}
"#,
        list.join(", ")
    ))
}

#[tokio::test]
async fn packuments_are_rewritten_and_tarballs_cached() {
    let up = FakeNpm::start().await;
    let tgz = tarball("@up/lib", "1.0.0", &[]);
    up.add("@up/lib", "1.0.0", tgz.clone());
    let s = TestServer::start(&proxy(&[&up.url], 300, 1 << 20)).await;
    let c = client();
    let reg = s.reg("npm");
    let r = c.get(format!("{reg}/@up%2flib")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.headers()["x-batlehub-cache"], "miss");
    let doc = json(r).await;
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["tarball"], format!("{reg}/@up/lib/-/lib-1.0.0.tgz"));
    // Second read: served from the cache.
    let r = c.get(format!("{reg}/@up%2flib")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.headers()["x-batlehub-cache"], "hit");
    assert_eq!(up.hits("/@up%2flib"), 1);
    // Abbreviated form of the same cached document.
    let r = c
        .get(format!("{reg}/@up%2flib"))
        .header("accept", "application/vnd.npm.install-v1+json")
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["content-type"], "application/vnd.npm.install-v1+json");
    assert_eq!(json(r).await["versions"]["1.0.0"]["dist"]["tarball"], format!("{reg}/@up/lib/-/lib-1.0.0.tgz"));
    assert_eq!(up.hits("/@up%2flib"), 1);
    // Version document from the cached packument.
    let v = json(c.get(format!("{reg}/@up/lib/latest")).bearer_auth(ALICE).send().await.expect("get")).await;
    assert_eq!(v["version"], "1.0.0");
    // Tarball: fetched once, then from the blob store.
    for _ in 0..3 {
        let r = c.get(format!("{reg}/@up/lib/-/lib-1.0.0.tgz")).bearer_auth(ALICE).send().await.expect("get");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.expect("bytes").to_vec(), tgz);
    }
    assert_eq!(up.hits("/@up/lib/-/lib-1.0.0.tgz"), 1);
    // Unknown names are the upstream's 404.
    assert_eq!(c.get(format!("{reg}/nosuch")).bearer_auth(ALICE).send().await.expect("get").status(), 404);
    // Metrics saw the hits and misses.
    let metrics = c.get(format!("{}/metrics", s.url)).send().await.expect("get").text().await.expect("text");
    assert!(metrics.contains("batlehub_cache_total"), "{metrics}");
    assert!(metrics.contains("batlehub_requests_total"), "{metrics}");
}

#[tokio::test]
async fn fifty_concurrent_misses_make_one_upstream_request() {
    let up = FakeNpm::start().await;
    let tgz = tarball("lib", "1.0.0", &[]);
    up.add("lib", "1.0.0", tgz.clone());
    up.set_tarball_delay(Some(Duration::from_millis(300)));
    let s = TestServer::start(&proxy(&[&up.url], 300, 1 << 20)).await;
    let c = client();
    let reg = s.reg("npm");
    // Warm the packument so that only the tarball is in flight.
    assert_eq!(c.get(format!("{reg}/lib")).bearer_auth(ALICE).send().await.expect("get").status(), 200);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = c.clone();
        let url = format!("{reg}/lib/-/lib-1.0.0.tgz");
        tasks.push(tokio::spawn(async move {
            c.get(url).bearer_auth(ALICE).send().await.expect("get").bytes().await.expect("bytes")
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").to_vec(), tgz);
    }
    assert_eq!(up.hits("/lib/-/lib-1.0.0.tgz"), 1);
    assert_eq!(up.hits("/lib"), 1);
}

#[tokio::test]
async fn stale_metadata_is_served_when_the_upstream_is_down() {
    let up = FakeNpm::start().await;
    up.add("lib", "1.0.0", tarball("lib", "1.0.0", &[]));
    let s = TestServer::start(&proxy(&[&up.url], 0, 1 << 20)).await;
    let c = client();
    let reg = s.reg("npm");
    assert_eq!(c.get(format!("{reg}/lib")).bearer_auth(ALICE).send().await.expect("get").status(), 200);
    // TTL 0: the next read revalidates with If-None-Match and gets a 304.
    let r = c.get(format!("{reg}/lib")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.headers()["x-batlehub-cache"], "revalidated");
    assert_eq!(up.hits("/lib"), 2);
    up.set(Behaviour::Fail);
    let r = c.get(format!("{reg}/lib")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-batlehub-cache"], "stale");
    assert!(r.headers().contains_key("warning"));
    assert_eq!(json(r).await["name"], "lib");
    // A name never fetched has nothing stale to offer.
    assert_eq!(c.get(format!("{reg}/other")).bearer_auth(ALICE).send().await.expect("get").status(), 502);
    // The stale copy survives a restart too.
    let data = s.data.clone();
    let toml = proxy(&[&up.url], 0, 1 << 20);
    let guard = s.stop().await;
    let s2 = TestServer::start_at(&data, &toml).await;
    let r = c.get(format!("{}/lib", s2.reg("npm"))).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-batlehub-cache"], "stale");
    drop(guard);
}

#[tokio::test]
async fn corrupted_tarballs_are_502_and_never_kept() {
    let up = FakeNpm::start().await;
    let tgz = tarball("lib", "1.0.0", &[]);
    up.add("lib", "1.0.0", tgz.clone());
    let s = TestServer::start(&proxy(&[&up.url], 300, 1 << 20)).await;
    let c = client();
    let reg = s.reg("npm");
    up.set(Behaviour::Corrupt);
    let r = c.get(format!("{reg}/lib/-/lib-1.0.0.tgz")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 502);
    assert!(json(r).await["error"].as_str().unwrap_or("").contains("integrity"));
    assert!(stored_blobs(&s).await.is_empty());
    assert!(files_under(&s.data.join("storage/tmp")).is_empty());
    // Not cached: once the upstream is fixed, the right bytes come through.
    up.set(Behaviour::Normal);
    let r = c.get(format!("{reg}/lib/-/lib-1.0.0.tgz")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), tgz);
    assert_eq!(up.hits("/lib/-/lib-1.0.0.tgz"), 2);
}

#[tokio::test]
async fn large_artifacts_stream_before_the_download_ends() {
    let up = FakeNpm::start().await;
    let tgz = tarball("lib", "1.0.0", &[]);
    up.add("lib", "1.0.0", tgz.clone());
    // verify_before_serve_bytes = 0: every artifact streams as it arrives.
    let s = TestServer::start(&proxy(&[&up.url], 300, 0)).await;
    let c = client();
    let reg = s.reg("npm");
    assert_eq!(c.get(format!("{reg}/lib")).bearer_auth(ALICE).send().await.expect("get").status(), 200);
    up.set(Behaviour::Stall);
    let mut r = c.get(format!("{reg}/lib/-/lib-1.0.0.tgz")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 200);
    // The first half arrives while the upstream still holds the rest.
    let mut got = Vec::new();
    while got.len() < tgz.len() / 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), r.chunk())
            .await
            .expect("first bytes in time")
            .expect("chunk")
            .expect("some");
        got.extend_from_slice(&chunk);
    }
    assert_eq!(&got[..], &tgz[..got.len()]);
    // A second client joins the same download.
    let c2 = c.clone();
    let url = format!("{reg}/lib/-/lib-1.0.0.tgz");
    let late =
        tokio::spawn(
            async move { c2.get(url).bearer_auth(ALICE).send().await.expect("get").bytes().await.expect("bytes") },
        );
    tokio::time::sleep(Duration::from_millis(200)).await;
    up.release();
    while let Some(chunk) = r.chunk().await.expect("chunk") {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, tgz);
    assert_eq!(late.await.expect("join").to_vec(), tgz);
    assert_eq!(up.hits("/lib/-/lib-1.0.0.tgz"), 1);
}

#[tokio::test]
async fn upstreams_are_tried_in_order_and_no_store_is_respected() {
    let first = FakeNpm::start().await;
    let second = FakeNpm::start().await;
    first.add("only-first", "1.0.0", tarball("only-first", "1.0.0", &[]));
    let tgz = tarball("only-second", "2.0.0", &[]);
    second.add("only-second", "2.0.0", tgz.clone());
    let s = TestServer::start(&proxy(&[&first.url, &second.url], 300, 1 << 20)).await;
    let c = client();
    let reg = s.reg("npm");
    let doc = json(c.get(format!("{reg}/only-second")).bearer_auth(ALICE).send().await.expect("get")).await;
    assert_eq!(doc["dist-tags"]["latest"], "2.0.0");
    assert_eq!(first.hits("/only-second"), 1);
    let r = c.get(format!("{reg}/only-second/-/only-second-2.0.0.tgz")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), tgz);
    assert_eq!(
        json(c.get(format!("{reg}/only-first")).bearer_auth(ALICE).send().await.expect("get")).await["name"],
        "only-first"
    );
    // Cache-Control: no-store answers are served but never kept.
    second.set_no_store(true);
    let doc2 = FakeNpm::start().await;
    doc2.add("fresh", "1.0.0", tarball("fresh", "1.0.0", &[]));
    doc2.set_no_store(true);
    let s2 = TestServer::start(&proxy(&[&doc2.url], 300, 1 << 20)).await;
    for _ in 0..2 {
        let r = c.get(format!("{}/fresh", s2.reg("npm"))).bearer_auth(ALICE).send().await.expect("get");
        assert_eq!(r.headers()["x-batlehub-cache"], "miss");
    }
    assert_eq!(doc2.hits("/fresh"), 2);
}

#[tokio::test]
async fn a_per_registry_ca_file_is_trusted() {
    let tls = crate::support::tls::material();
    let up = FakeNpm::start_tls(&tls).await;
    let tgz = tarball("secure", "1.0.0", &[]);
    up.add("secure", "1.0.0", tgz.clone());
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &tls.ca_pem).expect("write ca");
    let s = TestServer::start(&config(&format!(
        r#"
[[registries]]
type = "npm"
name = "trusting"
mode = "proxy"
upstreams = ["{0}"]
[registries.tls]
ca_file = "{1}"

[[registries]]
type = "npm"
name = "default"
mode = "proxy"
upstreams = ["{0}"]
"#,
        up.url,
        ca.display()
    )))
    .await;
    let c = client();
    let r =
        c.get(format!("{}/secure/-/secure-1.0.0.tgz", s.reg("trusting"))).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), tgz);
    // Without the CA the upstream's certificate is refused.
    let r = c.get(format!("{}/secure", s.reg("default"))).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 502);
}

/// Spawn the real binary with `envs`; returns it and its base URL.
pub async fn spawn_binary(
    config_text: &str,
    dir: &std::path::Path,
    envs: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let cfg = dir.join("batlehub.toml");
    std::fs::write(&cfg, config_text.replace("{DATA}", &dir.display().to_string())).expect("write config");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_batlehub"));
    cmd.arg("serve").arg("--config").arg(&cfg).current_dir(dir).stdout(std::process::Stdio::piped()).kill_on_drop(true);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn batlehub");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("batlehub exited before listening");
    })
    .await
    .expect("batlehub starts");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test]
async fn ssl_cert_file_is_honoured() {
    let tls = crate::support::tls::material();
    let up = FakeNpm::start_tls(&tls).await;
    let tgz = tarball("secure", "1.0.0", &[]);
    up.add("secure", "1.0.0", tgz.clone());
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &tls.ca_pem).expect("write ca");
    let text = proxy(&[&up.url], 300, 1 << 20);
    let c = client();
    // Trusted only through SSL_CERT_FILE.
    let (mut child, url) = spawn_binary(&text, dir.path(), &[("SSL_CERT_FILE", ca.to_str().expect("utf8"))]).await;
    let r = c.get(format!("{url}/proxy/npm/secure/-/secure-1.0.0.tgz")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), tgz);
    let _ = child.kill().await;
    // Without it, the throwaway CA is not trusted.
    let dir2 = tempfile::tempdir().expect("dir");
    let (mut child, url) = spawn_binary(&text, dir2.path(), &[]).await;
    let r = c.get(format!("{url}/proxy/npm/secure")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 502);
    let _ = child.kill().await;
}
