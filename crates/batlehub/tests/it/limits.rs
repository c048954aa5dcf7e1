//! Bounded waits: slow and idle client connections are closed, connections
//! are capped, and upstream requests have a total deadline.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::fake::Behaviour;
use crate::support::fake_npm::FakeNpm;
use crate::support::npm::tarball;
use crate::support::{ALICE, TestServer, config};

/// Wait (boundedly) until the server closes `conn`: reading ends or fails.
async fn closed_by_server(conn: &mut tokio::net::TcpStream) -> bool {
    let mut buf = vec![0u8; 4096];
    let read_until_closed = async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read_until_closed).await.unwrap_or(false)
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_capped() {
    let toml = config("[[registries]]\ntype = \"npm\"\nname = \"internal\"\nmode = \"local\"\n")
        .replace("[server]\n", "[server]\nheader_read_timeout_secs = 1\nmax_connections = 4\n");
    let s = TestServer::start(&toml).await;
    let addr = s.url.trim_start_matches("http://").to_string();
    // Four clients that never finish their headers take every connection slot.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        conn.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
        slow.push(conn);
    }
    // A well-behaved client is still served: the slow ones are cut off after
    // the header timeout, which frees their slots. (Without the timeout this
    // request would wait forever and fail on the client's own timeout.)
    let c = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let r = c.get(format!("{}/livez", s.url)).send().await.expect("served despite slow clients");
    assert_eq!(r.status(), 200);
    for conn in &mut slow {
        assert!(closed_by_server(conn).await, "a client that never finished its headers was kept");
    }
    // A keep-alive connection left idle after a request is closed as well.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut first = vec![0u8; 1024];
    let n = idle.read(&mut first).await.expect("response");
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    assert!(closed_by_server(&mut idle).await, "an idle keep-alive connection was kept");
}

#[tokio::test]
async fn upstream_requests_have_a_deadline() {
    let up = FakeNpm::start().await;
    up.add("slow", "1.0.0", tarball("slow", "1.0.0", &[]));
    let s = TestServer::start(&config(&format!(
        "[limits]\nupstream_document_timeout_secs = 1\nupstream_artifact_timeout_secs = 1\n\n[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"proxy\"\nupstreams = [\"{}\"]\n",
        up.url
    )))
    .await;
    let c = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let reg = s.reg("npm");
    // An upstream that never answers: a 502, not a hang.
    up.set(Behaviour::Hang);
    let r = c.get(format!("{reg}/slow")).bearer_auth(ALICE).send().await.expect("answered despite a silent upstream");
    assert_eq!(r.status(), 502);
    // An artifact that stops halfway: a 502 (it is small enough to be
    // verified before serving), nothing kept.
    up.set(Behaviour::Normal);
    assert_eq!(c.get(format!("{reg}/slow")).bearer_auth(ALICE).send().await.expect("get").status(), 200);
    up.set(Behaviour::Stall);
    let r = c.get(format!("{reg}/slow/-/slow-1.0.0.tgz")).bearer_auth(ALICE).send().await.expect("answered");
    assert_eq!(r.status(), 502);
    assert!(crate::support::stored_blobs(&s).await.is_empty());
    up.release();
}

/// `[registries.limits]`: a minute's worth of requests per signed-in
/// identity and per anonymous address, then 429 with `Retry-After`, in the
/// registry's client dialect; other callers and other registries go on.
#[tokio::test]
async fn request_rate_limits_per_identity_and_per_address() {
    let limited = |kind: &str, name: &str| {
        format!(
            "[[registries]]\ntype = \"{kind}\"\nname = \"{name}\"\nmode = \"local\"\n\
             [registries.rbac]\nanonymous = [\"releases:read\", \"source:read\"]\nuser = [\"releases:read\", \"source:read\"]\n\
             [registries.limits]\nrequests_per_minute = 3\nanonymous_requests_per_minute = 2\n"
        )
    };
    let toml = config(&format!(
        "{}{}[[registries]]\ntype = \"npm\"\nname = \"free\"\nmode = \"local\"\n",
        limited("npm", "npm-lim"),
        limited("pypi", "pypi-lim")
    ));
    let s = TestServer::start(&toml).await;
    let c = crate::support::client();
    let get = |url: String, token: Option<&'static str>| {
        let mut r = c.get(url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.expect("get") }
    };
    let npm = s.reg("npm-lim");
    for i in 0..3 {
        let r = get(format!("{npm}/left-pad"), Some(ALICE)).await;
        assert_eq!(r.status(), 404, "request {i} is within the limit");
    }
    let r = get(format!("{npm}/left-pad"), Some(ALICE)).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = r.json().await.expect("npm's JSON error");
    let message = body["error"].as_str().unwrap_or("");
    assert!(message.contains("rate limit") && message.contains("alice"), "{body}");
    // Bob has his own budget; anonymous callers count by address.
    assert_eq!(get(format!("{npm}/left-pad"), Some(crate::support::BOB)).await.status(), 404);
    for _ in 0..2 {
        assert_eq!(get(format!("{npm}/left-pad"), None).await.status(), 404);
    }
    assert_eq!(get(format!("{npm}/left-pad"), None).await.status(), 429);
    // PyPI's dialect: plain text.
    let pypi = s.reg("pypi-lim");
    for _ in 0..3 {
        assert_eq!(get(format!("{pypi}/simple/nothing/"), Some(ALICE)).await.status(), 404);
    }
    let r = get(format!("{pypi}/simple/nothing/"), Some(ALICE)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.expect("text").contains("rate limit of registry pypi-lim"));
    // A registry without limits.
    for _ in 0..10 {
        assert_eq!(get(format!("{}/left-pad", s.reg("free")), Some(ALICE)).await.status(), 404);
    }
    let metrics = get(format!("{}/metrics", s.url), None).await.text().await.expect("metrics");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("batlehub_rate_limited_total") && l.contains("registry=\"npm-lim\""))
        .unwrap_or_else(|| panic!("no rate-limit series: {metrics}"));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(metrics.contains("batlehub_rate_limited_total{registry=\"free\"} 0"), "present from start-up");
}

/// Publish quotas (`[registries.limits]`): versions per user, bytes under a
/// group's namespaces; the publish over a quota is refused in the client's
/// dialect and leaves nothing; admins have none.
#[tokio::test]
async fn publish_quotas_per_user_and_per_group() {
    use crate::support::npm::{publish, tarball};
    let one = tarball("@team/one", "1.0.0", &[]).len() as u64;
    let toml = config(&format!(
        r#"
[[registries]]
type = "npm"
name = "per-user"
mode = "local"
[registries.limits]
user_quota = {{ versions = 2 }}

[[registries]]
type = "npm"
name = "per-team"
mode = "local"
namespaces = [{{ prefix = "@team/", group = "oidc:my org" }}]
[registries.limits.group_quotas]
"oidc:my org" = {{ bytes = {} }}
"#,
        one * 5 / 2
    ));
    let s = TestServer::start(&toml).await;
    let c = crate::support::client();
    let reg = s.reg("per-user");
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(publish(&c, &reg, crate::support::BOB, "bobs-lib", v).await.0, 201);
    }
    let (status, body) = publish(&c, &reg, crate::support::BOB, "bobs-other", "1.0.0").await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"].as_str().unwrap_or("");
    assert!(
        message.contains("publish quota of registry per-user reached: bob would have 3 versions (the quota is 2)"),
        "{body}"
    );
    let r = c.get(format!("{reg}/bobs-other")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 404, "nothing of the refused publish stays");
    // Another user has a quota of their own; admins have none.
    assert_eq!(publish(&c, &reg, ALICE, "alices-lib", "1.0.0").await.0, 201);
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        assert_eq!(publish(&c, &reg, crate::support::ADMIN, "admins-lib", v).await.0, 201);
    }
    // The group's quota counts every package under its prefixes.
    let team = s.reg("per-team");
    assert_eq!(publish(&c, &team, ALICE, "@team/one", "1.0.0").await.0, 201);
    assert_eq!(publish(&c, &team, ALICE, "@team/two", "1.0.0").await.0, 201);
    let (status, body) = publish(&c, &team, ALICE, "@team/one", "1.1.0").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap_or("").contains("group oidc:my org would have"), "{body}");
    // Outside the namespace, the group's quota does not apply.
    assert_eq!(publish(&c, &team, ALICE, "free-lib", "1.0.0").await.0, 201);
    let doc: serde_json::Value =
        c.get(format!("{team}/@team%2fone")).bearer_auth(ALICE).send().await.expect("get").json().await.expect("json");
    assert!(doc["versions"].get("1.1.0").is_none(), "{doc}");
}
