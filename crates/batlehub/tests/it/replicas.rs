//! Several replicas serving as one: a BatleHub binary and an in-process
//! server on the same catalog and blob store (on the PostgreSQL + S3 pass of
//! `.ci/run`, PostgreSQL and an S3 bucket; otherwise one SQLite file and one
//! folder). What one replica acknowledges, the other serves at once;
//! same-version publishes race to one winner; a replica killed mid-publish
//! leaves nothing half-published.

use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::npm_proxy::spawn_binary;
use crate::support::npm::{escaped, publish, publish_body, tarball};
use crate::support::runner::Runner;
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, client_tool, config, config_text, snippet_at};

const REGISTRIES: &str = "[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n";

async fn put(c: &reqwest::Client, reg: &str, name: &str, version: &str, tgz: &[u8]) -> u16 {
    let body = publish_body(name, version, tgz, reg);
    c.put(format!("{reg}/{}", escaped(name)))
        .bearer_auth(ALICE)
        .json(&body)
        .send()
        .await
        .expect("publish")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_as_one() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_path_buf();
    let toml = config(REGISTRIES);
    // Replica A: the binary, in its own process; replica B: in this one.
    let text = config_text(&data, &toml).await;
    let (mut a, url_a) = spawn_binary(&text, &data, &[]).await;
    let b = TestServer::start_at(&data, &toml).await;
    let (reg_a, reg_b) = (format!("{url_a}/proxy/npm"), b.reg("npm"));
    let c = client();

    // Published through A: listed and downloadable through B at once.
    let (status, body) = publish(&c, &reg_a, ALICE, "shared-lib", "1.0.0").await;
    assert_eq!(status, 201, "{body}");
    let doc: serde_json::Value =
        c.get(format!("{reg_b}/shared-lib")).bearer_auth(BOB).send().await.expect("get").json().await.expect("json");
    assert!(doc["versions"]["1.0.0"].is_object(), "{doc}");
    let from_b =
        c.get(format!("{reg_b}/shared-lib/-/shared-lib-1.0.0.tgz")).bearer_auth(BOB).send().await.expect("get");
    assert_eq!(from_b.status(), 200);
    let digest = hex::encode(Sha256::digest(from_b.bytes().await.expect("bytes")));
    assert_eq!(digest, hex::encode(Sha256::digest(tarball("shared-lib", "1.0.0", &[]))));

    // The real npm client installs it through B.
    if let Some(npm) = client_tool("npm") {
        let npmrc = snippet_at(batlehub::kinds::Kind::Npm, &format!("{reg_b}/"), "npmrc", "", BOB);
        let sb = Runner::new(Duration::from_secs(180))
            .dirs(&["home", "cache", "app"])
            .file(
                "app/package.json",
                r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"shared-lib":"^1.0.0"}}"#,
            )
            .file("app/.npmrc", npmrc)
            .env_path("HOME", "home")
            .env_path("npm_config_cache", "cache")
            .env("npm_config_update_notifier", "false");
        let app = sb.path("app");
        sb.ok(&npm, &["install", "--no-audit", "--no-fund"], &app).await;
        let installed = std::fs::read_to_string(app.join("node_modules/shared-lib/package.json")).expect("installed");
        assert!(installed.contains("\"1.0.0\""), "{installed}");
    }

    // Tokens and claims made through one replica hold on the other at once.
    let made: serde_json::Value = c
        .post(format!("{url_a}/api/v1/auth/tokens"))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({"name": "replica"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = made["token"].as_str().expect("token").to_string();
    assert_eq!(c.get(format!("{}/api/v1/me", b.url)).bearer_auth(&token).send().await.expect("me").status(), 200);
    let id = made["id"].as_str().expect("id");
    assert_eq!(
        c.delete(format!("{}/api/v1/auth/tokens/{id}", b.url))
            .bearer_auth(ALICE)
            .send()
            .await
            .expect("revoke")
            .status(),
        204
    );
    assert_eq!(c.get(format!("{url_a}/api/v1/me")).bearer_auth(&token).send().await.expect("me").status(), 401);
    let r = c
        .post(format!("{}/api/v1/admin/registries/npm/namespaces", b.url))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"prefix": "@team/", "group": "oidc:someone-else"}))
        .send()
        .await
        .expect("claim");
    assert_eq!(r.status(), 201);
    // A sees a claim made on another replica within CHANGE_BOUND.
    let mut i = 0;
    crate::support::within_change_bound("a claim made on B, on A", || {
        i += 1;
        let (c, reg_a) = (c.clone(), reg_a.clone());
        async move { publish(&c, &reg_a, ALICE, &format!("@team/lib{i}"), "1.0.0").await.0 == 403 }
    })
    .await;

    // The same version through both at once: exactly one wins.
    for i in 0..4 {
        let name = format!("race-{i}");
        let (x, y) = (tarball(&name, "1.0.0", &[("x", "1")]), tarball(&name, "1.0.0", &[("y", "2")]));
        let (sa, sb) = tokio::join!(put(&c, &reg_a, &name, "1.0.0", &x), put(&c, &reg_b, &name, "1.0.0", &y));
        let mut got = [sa, sb];
        got.sort();
        assert_eq!(got, [201, 409], "{name}");
        // Both replicas serve the winner's bytes.
        let a_bytes = c
            .get(format!("{reg_a}/{name}/-/{name}-1.0.0.tgz"))
            .bearer_auth(BOB)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("b");
        let b_bytes = c
            .get(format!("{reg_b}/{name}/-/{name}-1.0.0.tgz"))
            .bearer_auth(BOB)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("b");
        assert_eq!(a_bytes, b_bytes);
        assert!(a_bytes == x || a_bytes == y);
    }

    // A killed mid-publish (SIGKILL): nothing half-published on B.
    let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let body = serde_json::to_vec(&publish_body("killed-lib", "1.0.0", &big, &reg_a)).expect("body");
    let half = body.len() / 2;
    let chunks: Vec<Vec<u8>> = body.chunks(256 * 1024).map(<[u8]>::to_vec).collect();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let upload = {
        let c = c.clone();
        let url = format!("{reg_a}/killed-lib");
        let len = body.len();
        tokio::spawn(async move {
            let stream = tokio_stream_from(rx);
            c.put(url)
                .bearer_auth(ALICE)
                .header("content-type", "application/json")
                .header("content-length", len)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
        })
    };
    let mut sent = 0;
    for chunk in chunks {
        if sent >= half {
            break;
        }
        sent += chunk.len();
        tx.send(Ok(chunk)).await.expect("send");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.start_kill().expect("kill");
    let _ = a.wait().await;
    drop(tx);
    let outcome = upload.await.expect("task");
    assert!(outcome.map(|r| !r.status().is_success()).unwrap_or(true), "an interrupted publish is never acknowledged");
    assert_eq!(c.get(format!("{reg_b}/killed-lib")).bearer_auth(BOB).send().await.expect("get").status(), 404);
    // Everything acknowledged is intact.
    let again = c
        .get(format!("{reg_b}/shared-lib/-/shared-lib-1.0.0.tgz"))
        .bearer_auth(BOB)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(hex::encode(Sha256::digest(again)), digest);
    // And publishing it again through B works: no leftover blocks it.
    assert_eq!(publish(&c, &reg_b, ALICE, "killed-lib", "1.0.0").await.0, 201);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_may_start_at_once() {
    // Three servers start together on a fresh catalog: the migrations run
    // once, under the lock, and every replica serves.
    let dir = tempfile::tempdir().expect("dir");
    let toml = config(REGISTRIES);
    let _ = config_text(dir.path(), &toml).await; // the database and bucket, made once
    let (x, y, z) = tokio::join!(
        TestServer::start_at(dir.path(), &toml),
        TestServer::start_at(dir.path(), &toml),
        TestServer::start_at(dir.path(), &toml)
    );
    let c = client();
    let (status, body) = publish(&c, &x.reg("npm"), ALICE, "early-lib", "1.0.0").await;
    assert_eq!(status, 201, "{body}");
    for s in [&y, &z] {
        assert_eq!(
            c.get(format!("{}/early-lib", s.reg("npm"))).bearer_auth(BOB).send().await.expect("get").status(),
            200
        );
        assert_eq!(c.get(format!("{}/healthz", s.url)).send().await.expect("get").status(), 200);
    }
}
