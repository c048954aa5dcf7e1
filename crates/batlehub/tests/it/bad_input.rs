//! Bad input: every case answers a 4xx in npm's error shape and leaves
//! nothing half-written.

use serde_json::json;

use crate::support::npm::{publish_body, tarball};
use crate::support::{ALICE, TestServer, client, config, files_under, stored_blobs};

#[tokio::test]
async fn bad_publishes_are_4xx_and_leave_nothing() {
    let s = TestServer::start(&config("[[registries]]\ntype = \"npm\"\nname = \"internal\"\nmode = \"local\"\n")).await;
    let c = client();
    let reg = s.reg("internal");
    let tgz = tarball("pkg", "1.0.0", &[]);
    let good = publish_body("pkg", "1.0.0", &tgz, &reg);
    let mut mismatched_name = good.clone();
    mismatched_name["name"] = json!("other");
    let mut no_attachment = good.clone();
    no_attachment["_attachments"] = json!({"unrelated.tgz": {"data": "aGVsbG8="}});
    let mut bad_base64 = good.clone();
    bad_base64["_attachments"]["pkg-1.0.0.tgz"]["data"] = json!("!!!!not base64!!!!");
    let mut wrong_integrity = good.clone();
    wrong_integrity["versions"]["1.0.0"]["dist"]["integrity"] = json!(crate::support::npm::integrity(b"other bytes"));
    let mut wrong_length = good.clone();
    wrong_length["_attachments"]["pkg-1.0.0.tgz"]["length"] = json!(3);
    let mut not_gzip = good.clone();
    not_gzip["_attachments"]["pkg-1.0.0.tgz"]["data"] = json!("aGVsbG8gd29ybGQ=");
    not_gzip["versions"]["1.0.0"]["dist"] = json!({});
    not_gzip["_attachments"]["pkg-1.0.0.tgz"].as_object_mut().expect("obj").remove("length");
    let mut bad_version = publish_body("pkg", "1.0", &tgz, &reg);
    bad_version["_attachments"] = json!({"pkg-1.0.tgz": good["_attachments"]["pkg-1.0.0.tgz"].clone()});
    let mut two_versions = good.clone();
    two_versions["versions"]["2.0.0"] = json!({"name": "pkg", "version": "2.0.0"});
    let mut manifest_mismatch = good.clone();
    manifest_mismatch["versions"]["1.0.0"]["name"] = json!("evil");

    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed json", b"{\"name\": \"pkg\", ".to_vec(), 400),
        ("not an object", b"[1,2,3]".to_vec(), 400),
        ("name differs from URL", serde_json::to_vec(&mismatched_name).expect("json"), 400),
        ("missing attachment", serde_json::to_vec(&no_attachment).expect("json"), 400),
        ("corrupt base64", serde_json::to_vec(&bad_base64).expect("json"), 400),
        ("integrity mismatch", serde_json::to_vec(&wrong_integrity).expect("json"), 400),
        ("length mismatch", serde_json::to_vec(&wrong_length).expect("json"), 400),
        ("not a tarball", serde_json::to_vec(&not_gzip).expect("json"), 400),
        ("invalid version", serde_json::to_vec(&bad_version).expect("json"), 400),
        ("two versions", serde_json::to_vec(&two_versions).expect("json"), 400),
        ("manifest names another package", serde_json::to_vec(&manifest_mismatch).expect("json"), 400),
        (
            "metadata update of a missing package",
            serde_json::to_vec(&json!({"name": "pkg", "versions": {}})).expect("json"),
            404,
        ),
    ];
    for (what, body, status) in cases {
        let r = c
            .put(format!("{reg}/pkg"))
            .bearer_auth(ALICE)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("put");
        assert_eq!(r.status().as_u16(), status, "{what}");
        let err: serde_json::Value = r.json().await.expect("npm error shape");
        assert!(err["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {err}");
    }
    assert!(s.app.catalog.get_package("internal", "pkg").await.expect("db").is_none());
    assert!(stored_blobs(&s).await.is_empty(), "no blob without its row");
    assert!(files_under(&s.data.join("storage/tmp")).is_empty(), "no temporary file left");
}

#[tokio::test]
async fn bad_names_and_paths_are_4xx() {
    let s = TestServer::start(&config("[[registries]]\ntype = \"npm\"\nname = \"internal\"\nmode = \"local\"\n")).await;
    let c = client();
    let reg = s.reg("internal");
    let cases: Vec<(&str, u16)> = vec![
        ("/..", 400),
        ("/%2e%2e", 400),
        ("/%2E%2E", 400),
        ("/%2e%2e%2fetc%2fpasswd", 400),
        ("/a%5cb", 400),
        ("/a\\b", 400),
        ("/a%00b", 400),
        ("/@scope%2fa%2fb", 400),
        ("/@scope/a/b/c/d", 404),
        ("/.hidden", 400),
        ("/pkg/-/..%2f..%2fcatalog.db", 400),
        ("/pkg/-/%2e%2e", 400),
        ("/-/nosuch", 404),
    ];
    let addr = s.url.trim_start_matches("http://").to_string();
    for (path, status) in cases {
        // Sent raw: HTTP client libraries normalise dot segments away.
        let (got, body) = raw_get(&addr, &format!("/proxy/internal{path}"), ALICE).await;
        assert_eq!(got, status, "{path}: {body}");
        let err: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: npm error shape: {body}"));
        assert!(err["error"].is_string(), "{path}");
    }
    // Publishing a traversal name.
    let tgz = tarball("x", "1.0.0", &[]);
    let r = c
        .put(format!("{reg}/.hidden"))
        .bearer_auth(ALICE)
        .json(&publish_body(".hidden", "1.0.0", &tgz, &reg))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    // An unknown registry.
    let r = c.get(format!("{}/proxy/nosuch/pkg", s.url)).send().await.expect("get");
    assert_eq!(r.status(), 404);
    let err = r.json::<serde_json::Value>().await.expect("json");
    assert_eq!(err["error"], "Not Found");
    assert!(err["message"].as_str().unwrap_or("").contains("nosuch"), "{err}");
    // An encoded registry name is not another spelling of a registry.
    let r = c.get(format!("{}/proxy/intern%61l/pkg", s.url)).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 404);
}

/// A GET with the path exactly as given; returns the status and body.
async fn raw_get(addr: &str, path: &str, token: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}
