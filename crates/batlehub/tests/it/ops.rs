//! /livez, /healthz, /metrics, request ids, security headers, the JSON API basics.

use crate::support::{ALICE, TestServer, client, config, json};

#[tokio::test]
async fn health_metrics_and_headers() {
    let s = TestServer::start(&config("[[registries]]\ntype = \"npm\"\nname = \"internal\"\nmode = \"local\"\n")).await;
    let c = client();
    let r = c.get(format!("{}/livez", s.url)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = c.get(format!("{}/healthz", s.url)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["catalog"]["status"], "ok");
    // A request id sent by a proxy is kept.
    let r = c.get(format!("{}/livez", s.url)).header("x-request-id", "abc-123").send().await.expect("get");
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    // Some traffic, then metrics.
    let _ = c.get(format!("{}/nosuch", s.reg("internal"))).bearer_auth(ALICE).send().await.expect("get");
    let m = c.get(format!("{}/metrics", s.url)).send().await.expect("get").text().await.expect("text");
    assert!(m.contains("batlehub_requests_total{registry=\"internal\",status=\"404\"}"), "{m}");
    // /api/v1/me and /api/v1/registries.
    let me = json(c.get(format!("{}/api/v1/me", s.url)).bearer_auth(ALICE).send().await.expect("get")).await;
    assert_eq!(me["user_id"], "alice");
    assert_eq!(me["groups"][0], "oidc:myorg");
    let anon = json(c.get(format!("{}/api/v1/me", s.url)).send().await.expect("get")).await;
    assert_eq!(anon["role"], "anonymous");
    let regs = json(c.get(format!("{}/api/v1/registries", s.url)).send().await.expect("get")).await;
    assert_eq!(regs["registries"][0]["name"], "internal");
    // Storage gone: /healthz says so with a 503.
    std::fs::remove_dir_all(s.data.join("storage/tmp")).expect("break storage");
    let r = c.get(format!("{}/healthz", s.url)).send().await.expect("get");
    assert_eq!(r.status(), 503);
    assert_eq!(json(r).await["storage"]["status"], "error");
    // Liveness does no I/O.
    assert_eq!(c.get(format!("{}/livez", s.url)).send().await.expect("get").status(), 200);
}
