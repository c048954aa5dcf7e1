//! The cross-ecosystem conformance table: what every registry type must do,
//! whatever its protocol, run on every ecosystem through its
//! [`Fixture`](crate::support::fixture::Fixture).
//!
//! - a proxy refuses writes with the user guide's 403 message;
//! - a missing or bad credential is a 401 with a challenge;
//! - an invisible package answers 404 (401 to the anonymous caller);
//! - a locally claimed name never goes upstream;
//! - a cache hit never calls the upstream, and is counted;
//! - an upstream digest mismatch is a 502 and nothing is kept;
//! - bad names and traversal are 4xx in the client's error shape;
//! - an upstream's URL and credentials never reach a client in an error;
//! - two first publishes of one name by different users: one wins, the other
//!   is refused (ownership is checked again inside the write transaction);
//! - the garbage collector keeps every blob a row references;
//! - an artifact URL or a redirect off the upstream's origin (an internal
//!   service on another port) is refused unless configured, and nothing is
//!   fetched from it or kept; a listed host that resolves to a non-public
//!   address is refused unless `allow_private_addresses`;
//! - an artifact whose document gives no digest is refused.

use crate::support::builder::Reg;
use crate::support::fake::FakeUpstream;
use crate::support::fixture::{Fixture, Reply, json_of, segment};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, hours_ago, stored_blobs};

async fn get(c: &reqwest::Client, url: String, token: Option<&str>) -> Reply {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    Reply::of(r.send().await.expect("get")).await
}

/// The client's error shape, with the message.
fn message<F: Fixture>(what: &str, reply: &Reply) -> String {
    F::error_message(reply).unwrap_or_else(|| {
        panic!("{}: {what}: not {}'s error shape ({}): {}", F::TYPE, F::TYPE, reply.status, reply.body)
    })
}

fn challenged<F: Fixture>(what: &str, reply: &Reply) {
    assert_eq!(reply.status, 401, "{}: {what}: {}", F::TYPE, reply.body);
    assert_eq!(
        reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"batlehub\""),
        "{}: {what}",
        F::TYPE
    );
    message::<F>(what, reply);
}

pub async fn proxy_refuses_writes<F: Fixture>() {
    let up = F::upstream().await;
    let s = TestServer::with(&[Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&up))], "").await;
    let reply = F::publish(&client(), &s.reg("mirror"), Some(ADMIN), &F::name("w", false), "1.0.0").await;
    assert_eq!(reply.status, 403, "{}: {}", F::TYPE, reply.body);
    assert!(
        message::<F>("publish to a proxy", &reply).contains("registry is not in local or hybrid mode"),
        "{}: {}",
        F::TYPE,
        reply.body
    );
    assert_eq!(up.total_hits(), 0, "{}: a refused write reaches no upstream", F::TYPE);
}

pub async fn missing_or_bad_credentials_are_challenged<F: Fixture>() {
    let s = TestServer::with(&[Reg::local(F::TYPE, "private")], "").await;
    let c = client();
    let reg = s.reg("private");
    let name = F::name("c", false);
    assert!((200..300).contains(&F::publish(&c, &reg, Some(ALICE), &name, "1.0.0").await.status));
    for path in [F::listing(&name), F::artifact(&name, "1.0.0")] {
        challenged::<F>(&format!("anonymous {path}"), &get(&c, format!("{reg}{path}"), None).await);
        challenged::<F>(&format!("bad token {path}"), &get(&c, format!("{reg}{path}"), Some("not-a-token")).await);
        assert_eq!(get(&c, format!("{reg}{path}"), Some(BOB)).await.status, 200, "{}: {path}", F::TYPE);
    }
    challenged::<F>("anonymous publish", &F::publish(&c, &reg, None, &F::name("d", false), "1.0.0").await);
    challenged::<F>(
        "publish with a bad token",
        &F::publish(&c, &reg, Some("nope"), &F::name("d", false), "1.0.0").await,
    );
}

pub async fn invisible_packages_are_hidden<F: Fixture>() {
    let s = TestServer::with(&[Reg::local(F::TYPE, "vis").open_read()], "").await;
    s.app.catalog.add_claim("vis", F::CLAIM, "oidc:myorg", None).await.expect("claim");
    let c = client();
    let reg = s.reg("vis");
    let internal = F::name("internal", false);
    let team = F::name("team", true);
    for name in [&internal, &team] {
        let reply = F::publish(&c, &reg, Some(ALICE), name, "1.0.0").await;
        assert!((200..300).contains(&reply.status), "{}: {name}: {}", F::TYPE, reply.body);
    }
    for (name, visibility) in [(&internal, "internal"), (&team, "team")] {
        let url = format!("{}/api/v1/registries/vis/packages/{}/visibility", s.url, segment(name));
        let r = c.put(url).bearer_auth(ALICE).json(&serde_json::json!({ "visibility": visibility })).send().await;
        assert_eq!(r.expect("put").status(), 200, "{}: {name}", F::TYPE);
    }
    // (who, name, expected) for the listing and the artifact alike.
    let cases = [
        (None, &internal, 401),
        (Some(BOB), &internal, 200),
        (None, &team, 401),
        (Some(BOB), &team, 404),
        (Some(ALICE), &team, 200),
        (Some(ADMIN), &team, 200),
    ];
    for (who, name, expected) in cases {
        for path in [F::listing(name), F::artifact(name, "1.0.0")] {
            let reply = get(&c, format!("{reg}{path}"), who).await;
            assert_eq!(reply.status, expected, "{}: {who:?} {path}: {}", F::TYPE, reply.body);
            if expected != 200 {
                let msg = message::<F>(&path, &reply);
                assert!(expected == 401 || !msg.contains("visib"), "{}: a 404 does not say why: {msg}", F::TYPE);
            }
        }
    }
    // The search (or project list) shows each caller what it may see.
    if !F::SEARCH {
        return;
    }
    let mut everyone = F::search(&c, &reg, Some(ADMIN)).await;
    everyone.sort();
    assert_eq!(everyone.len(), 2, "{}: {everyone:?}", F::TYPE);
    assert!(F::search(&c, &reg, None).await.is_empty(), "{}", F::TYPE);
    assert_eq!(F::search(&c, &reg, Some(BOB)).await, vec![internal.clone()], "{}", F::TYPE);
}

pub async fn claimed_names_never_go_upstream<F: Fixture>() {
    let up = F::upstream().await;
    let ghost = F::name("ghost", true);
    let shared = F::name("shared", false);
    F::seed(&up, &ghost, "1.0.0");
    F::seed(&up, &shared, "9.0.0");
    // `shared` is published here by an admin's leave.
    let hyb = Reg::hybrid(F::TYPE, "hyb", &F::upstream_url(&up)).open_read().allow_upstream_name(&shared);
    let s = TestServer::with(&[hyb], "").await;
    s.app.catalog.add_claim("hyb", F::CLAIM, "oidc:myorg", None).await.expect("claim");
    let c = client();
    let reg = s.reg("hyb");
    // A claimed name only the upstream has: not found, never asked upstream.
    for path in [F::listing(&ghost), F::artifact(&ghost, "1.0.0")] {
        for who in [None, Some(BOB), Some(ALICE)] {
            let reply = get(&c, format!("{reg}{path}"), who).await;
            assert_eq!(reply.status, 404, "{}: {who:?} {path}: {}", F::TYPE, reply.body);
        }
    }
    // A name that exists locally is served locally, even if the upstream has it.
    assert!((200..300).contains(&F::publish(&c, &reg, Some(ALICE), &shared, "1.0.0").await.status));
    assert_eq!(get(&c, format!("{reg}{}", F::listing(&shared)), None).await.status, 200);
    assert_eq!(get(&c, format!("{reg}{}", F::artifact(&shared, "1.0.0")), None).await.status, 200);
    assert_eq!(get(&c, format!("{reg}{}", F::artifact(&shared, "9.0.0")), None).await.status, 404);
    assert_eq!(up.total_hits(), 0, "{}: the upstream was asked for a local or claimed name", F::TYPE);
}

/// Claims on a proxy registry, spelled in any of the ecosystem's spellings
/// of the prefix, keep every spelling of a claimed name off the upstream.
pub async fn claims_in_any_spelling_keep_names_off_the_upstream<F: Fixture>() {
    let up = F::upstream().await;
    let ghost = F::name("ghost", true);
    F::seed(&up, &ghost, "1.0.0");
    let url = F::upstream_url(&up);
    let mut regs = vec![Reg::proxy(F::TYPE, "control", &url).open_read()];
    for (i, spelling) in std::iter::once(&F::CLAIM).chain(F::CLAIM_SPELLINGS).enumerate() {
        regs.push(Reg::proxy(F::TYPE, &format!("claimed{i}"), &url).open_read().namespace(spelling, "myorg"));
    }
    let s = TestServer::with(&regs, "").await;
    let c = client();
    // Without a claim the upstream serves the name.
    let control = get(&c, format!("{}{}", s.reg("control"), F::listing(&ghost)), None).await;
    assert_eq!(control.status, 200, "{}: {}", F::TYPE, control.body);
    let asked = up.total_hits();
    for i in 0..=F::CLAIM_SPELLINGS.len() {
        let reg = s.reg(&format!("claimed{i}"));
        for name in [ghost.clone(), ghost.to_ascii_uppercase()] {
            for path in [F::listing(&name), F::artifact(&name, "1.0.0")] {
                let reply = get(&c, format!("{reg}{path}"), Some(ALICE)).await;
                assert!((400..500).contains(&reply.status), "{}: claimed{i} {path}: {}", F::TYPE, reply.status);
            }
        }
    }
    assert_eq!(up.total_hits(), asked, "{}: a claimed name was fetched from the upstream", F::TYPE);
}

/// Nobody takes over a name an upstream serves by publishing it first: not
/// to a hybrid registry, not to a member of a group registry with
/// upstreams; a namespace claim of the publisher's group or an admin's
/// allowance (configuration or API) lets it through.
pub async fn upstream_names_cannot_be_taken_over<F: Fixture>() {
    let up = F::upstream().await;
    let popular = F::name("popular", false);
    let allowed = F::name("allowed", false);
    let ours = F::name("ourpop", true);
    for name in [&popular, &allowed, &ours] {
        F::seed(&up, name, "9.0.0");
    }
    let url = F::upstream_url(&up);
    let s = TestServer::with(
        &[
            Reg::hybrid(F::TYPE, "hyb", &url).open_read().allow_upstream_name(&allowed),
            Reg::local(F::TYPE, "priv").open_read(),
            Reg::proxy(F::TYPE, "group", &url).member("priv").open_read(),
        ],
        "",
    )
    .await;
    s.app.catalog.add_claim("hyb", F::CLAIM, "oidc:myorg", None).await.expect("claim");
    let c = client();
    let (hyb, private) = (s.reg("hyb"), s.reg("priv"));
    for reg in [&hyb, &private] {
        let reply = F::publish(&c, reg, Some(BOB), &popular, "1.0.0").await;
        assert_eq!(reply.status, 409, "{}: {reg}: {}", F::TYPE, reply.body);
        let msg = F::error_message(&reply).unwrap_or_default();
        assert!(msg.contains("served by the upstream"), "{}: not in the client's dialect: {}", F::TYPE, reply.body);
    }
    // Everyone still gets the upstream's package.
    let listing = get(&c, format!("{hyb}{}", F::listing(&popular)), None).await;
    assert_eq!(listing.status, 200);
    assert!(listing.body.contains("9.0.0") && !listing.body.contains("1.0.0"), "{}: {}", F::TYPE, listing.body);
    // A name nobody serves is free; a claimed one is its group's; an
    // allowed one is published.
    let fresh = F::name("unheardof", false);
    assert!((200..300).contains(&F::publish(&c, &hyb, Some(BOB), &fresh, "1.0.0").await.status));
    assert!((200..300).contains(&F::publish(&c, &hyb, Some(ALICE), &ours, "1.0.0").await.status));
    assert!((200..300).contains(&F::publish(&c, &hyb, Some(BOB), &allowed, "1.0.0").await.status));
    // An admin allows a name through the API.
    let names = format!("{}/api/v1/admin/registries/priv/upstream-names", s.url);
    let by = |token: &str| c.post(&names).bearer_auth(token).json(&serde_json::json!({ "name": popular }));
    assert_eq!(by(BOB).send().await.expect("allow").status(), 403);
    assert_eq!(by(ADMIN).send().await.expect("allow").status(), 201);
    assert_eq!(by(ADMIN).send().await.expect("allow").status(), 409);
    let listed = c.get(&names).bearer_auth(ADMIN).send().await.expect("list");
    let listed: serde_json::Value = listed.json().await.expect("json");
    assert_eq!(listed["names"][0]["source"], "api", "{listed}");
    assert!((200..300).contains(&F::publish(&c, &private, Some(BOB), &popular, "1.0.0").await.status));
}

/// A browser holding credentials (cached Basic ones, say) cannot be made to
/// publish by another site: a publish whose `Origin` is foreign or `null`,
/// or that `Sec-Fetch-Site` says another site sent, is refused and leaves
/// nothing; the same publish from this server's own origin goes through.
pub async fn cross_site_publishes_are_refused<F: Fixture>() {
    let s = TestServer::with(&[Reg::local(F::TYPE, "loc").open_read()], "").await;
    let reg = s.reg("loc");
    let from = |pairs: &[(&'static str, &str)]| {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(*k, v.parse().expect("header"));
        }
        reqwest::Client::builder().default_headers(headers).build().expect("client")
    };
    let name = F::name("csrf", false);
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site"), ("origin", "https://sub.evil.example")],
    ] {
        let reply = F::publish(&from(&headers), &reg, Some(ALICE), &name, "1.0.0").await;
        assert_eq!(reply.status, 403, "{}: {headers:?}: {}", F::TYPE, reply.body);
    }
    assert_eq!(get(&client(), format!("{reg}{}", F::listing(&name)), Some(ALICE)).await.status, 404);
    let own = s.url.clone();
    let same = from(&[("origin", own.as_str()), ("sec-fetch-site", "same-origin")]);
    let reply = F::publish(&same, &reg, Some(ALICE), &name, "1.0.0").await;
    assert!((200..300).contains(&reply.status), "{}: {}", F::TYPE, reply.body);
}

/// `batlehub_cache_total{registry, kind="artifact", result="hit"}` now.
fn artifact_hits(registry: &str) -> u64 {
    let text = batlehub::app::prometheus().render();
    text.lines()
        .filter(|l| l.starts_with("batlehub_cache_total{"))
        .filter(|l| {
            l.contains(&format!("registry=\"{registry}\""))
                && l.contains("kind=\"artifact\"")
                && l.contains("result=\"hit\"")
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()))
        .map(|n| n as u64)
        .sum()
}

pub async fn cache_hits_never_call_the_upstream<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("hit", false);
    let bytes = F::seed(&up, &name, "1.0.0");
    // The metrics recorder is process-wide: a registry name of its own.
    let registry = format!("hits-{}", F::TYPE);
    let s = TestServer::with(&[Reg::proxy(F::TYPE, &registry, &F::upstream_url(&up)).open_read()], "").await;
    let c = client();
    let url = format!("{}{}", s.reg(&registry), F::artifact(&name, "1.0.0"));
    let first = c.get(&url).send().await.expect("get");
    assert_eq!(first.status(), 200, "{}", F::TYPE);
    assert_eq!(first.bytes().await.expect("body").as_ref(), &bytes[..], "{}", F::TYPE);
    let asked = up.total_hits();
    assert!(asked >= 1, "{}", F::TYPE);
    let hits_before = artifact_hits(&registry);
    for _ in 0..3 {
        let again = c.get(&url).send().await.expect("get");
        assert_eq!(again.status(), 200, "{}", F::TYPE);
        assert_eq!(again.bytes().await.expect("body").as_ref(), &bytes[..], "{}", F::TYPE);
    }
    assert_eq!(up.total_hits(), asked, "{}: a cache hit called the upstream", F::TYPE);
    assert_eq!(artifact_hits(&registry), hits_before + 3, "{}: every cache hit is counted", F::TYPE);
}

/// `[registries.cache] keep_latest_versions`: of a package's cached
/// versions only the newest stay cached, newest in the type's version order
/// (1.10.0 after 1.9.0, whatever order they were fetched in); an evicted
/// version is fetched again on demand, a kept one is not.
pub async fn only_the_latest_cached_versions_are_kept<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("keep", false);
    let versions = ["1.10.0", "1.0.0", "1.9.0"];
    let bytes: Vec<Vec<u8>> = versions.iter().map(|v| F::seed(&up, &name, v)).collect();
    let registry = format!("keep-{}", F::TYPE);
    let reg = Reg::proxy(F::TYPE, &registry, &F::upstream_url(&up)).open_read().cache("keep_latest_versions = 2");
    let s = TestServer::with(&[reg], "").await;
    let c = client();
    let url = |v: &str| format!("{}{}", s.reg(&registry), F::artifact(&name, v));
    for (v, b) in versions.iter().zip(&bytes) {
        let (reply, body) = fetch(&c, &url(v)).await;
        assert_eq!(reply.status, 200, "{} {v}: {}", F::TYPE, reply.body);
        assert_eq!(body.as_deref(), Some(&b[..]), "{} {v}", F::TYPE);
    }
    let evicted = s.app.evict_caches().await;
    assert!(evicted.artifacts >= 1, "{}: the oldest version's artifact is evicted", F::TYPE);
    assert_eq!(evicted.documents, 0, "{}: documents have no versions to keep", F::TYPE);
    let asked = up.total_hits();
    for v in ["1.10.0", "1.9.0"] {
        assert_eq!(fetch(&c, &url(v)).await.0.status, 200, "{} {v}", F::TYPE);
    }
    assert_eq!(up.total_hits(), asked, "{}: the two newest versions stay cached", F::TYPE);
    let (reply, body) = fetch(&c, &url("1.0.0")).await;
    assert_eq!(reply.status, 200, "{}", F::TYPE);
    assert_eq!(body.as_deref(), Some(&bytes[1][..]), "{}", F::TYPE);
    assert!(up.total_hits() > asked, "{}: the evicted version is fetched again", F::TYPE);
    assert_eq!(s.app.evict_caches().await.artifacts, 1, "{}: and evicted again (it is still the oldest)", F::TYPE);
}

/// `[registries.cache] max_bytes` weighs the documents a registry keeps on
/// disk together with its cached artifacts, least recently used first:
/// capped at the artifact's own size, the documents fetched before it go
/// and the artifact stays (served again without the upstream); capped
/// below it, the artifact goes too.
pub async fn documents_share_the_cache_cap<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("capped", false);
    let bytes = F::seed(&up, &name, "1.0.0");
    let registry = format!("cap-{}", F::TYPE);
    let reg = Reg::proxy(F::TYPE, &registry, &F::upstream_url(&up)).open_read();
    let s = TestServer::with(&[reg], "").await;
    let c = client();
    let (reply, _) = fetch(&c, &format!("{}{}", s.reg(&registry), F::listing(&name))).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let url = format!("{}{}", s.reg(&registry), F::artifact(&name, "1.0.0"));
    let (reply, body) = fetch(&c, &url).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    assert_eq!(body.as_deref(), Some(&bytes[..]), "{}", F::TYPE);
    s.app.flush().await;
    let (docs, doc_bytes) = s.app.blobs.doc_usage(&registry).await.expect("documents");
    assert!(docs >= 1 && doc_bytes > 0, "{}: the listing is kept on disk", F::TYPE);
    let (artifacts, artifact_bytes) = s.app.catalog.cache_usage(&registry).await.expect("usage");
    assert_eq!(artifacts, 1, "{}", F::TYPE);
    let mut config = s.app.config.registries.iter().find(|r| r.name == registry).cloned().expect("registry");
    config.cache.max_bytes = Some(artifact_bytes);
    let evicted = s.app.evict_cache(&config).await.expect("evict");
    assert_eq!(evicted.documents as u64, docs, "{}: every document is older than the artifact", F::TYPE);
    assert_eq!(evicted.artifacts, 0, "{}: the artifact fits the cap", F::TYPE);
    assert_eq!(s.app.blobs.doc_usage(&registry).await.expect("documents"), (0, 0), "{}", F::TYPE);
    let asked = up.total_hits();
    let (reply, body) = fetch(&c, &url).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    assert_eq!(body.as_deref(), Some(&bytes[..]), "{}", F::TYPE);
    assert_eq!(up.total_hits(), asked, "{}: the artifact is still cached", F::TYPE);
    s.app.flush().await;
    config.cache.max_bytes = Some(artifact_bytes - 1);
    let evicted = s.app.evict_cache(&config).await.expect("evict");
    assert_eq!(evicted.artifacts, 1, "{}: below its size the artifact goes too", F::TYPE);
    assert_eq!(s.app.catalog.cache_usage(&registry).await.expect("usage").0, 0, "{}", F::TYPE);
}

pub async fn digest_mismatch_is_502_and_nothing_kept<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("bad", false);
    let bytes = F::seed(&up, &name, "1.0.0");
    let s = TestServer::with(&[Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&up)).open_read()], "").await;
    let c = client();
    let url = format!("{}{}", s.reg("mirror"), F::artifact(&name, "1.0.0"));
    up.set_corrupt(true);
    // With a Content-Length and chunked alike: a body of unknown length is
    // verified (up to verify_before_serve) before any header is sent.
    for chunked in [false, true] {
        up.set_chunked(chunked);
        let reply = get(&c, url.clone(), None).await;
        assert_eq!(reply.status, 502, "{} (chunked: {chunked}): {}", F::TYPE, reply.body);
        message::<F>("digest mismatch", &reply);
        assert!(stored_blobs(&s).await.is_empty(), "{}: a corrupt artifact was kept", F::TYPE);
    }
    up.set_corrupt(false);
    let r = c.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 200, "{}", F::TYPE);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &bytes[..], "{}", F::TYPE);
    assert_eq!(stored_blobs(&s).await.len(), 1, "{}", F::TYPE);
}

fn upstream_errors(registry: &str) -> u64 {
    let text = batlehub::app::prometheus().render();
    text.lines()
        .filter(|l| l.starts_with("batlehub_upstream_errors_total{") && l.contains(&format!("registry=\"{registry}\"")))
        .filter_map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()))
        .map(|n| n as u64)
        .sum()
}

/// An artifact request: the reply (its body as text, for error messages)
/// and the bytes when the whole body arrived.
async fn fetch(c: &reqwest::Client, url: &str) -> (Reply, Option<Vec<u8>>) {
    let r = c.get(url).send().await.expect("get");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let bytes = r.bytes().await.ok().map(|b| b.to_vec());
    let body = bytes.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    (Reply { status, headers, body }, bytes)
}

/// Fault injection on the proxy path: an upstream that breaks off mid-body
/// (its `Content-Length` a lie), answers 5xx or stalls past the deadline
/// never gets bad bytes kept; every waiter of one shared fetch gets a clear
/// error in the client's shape; what is cached keeps being served, stale
/// metadata marked with a `Warning`; each failure is counted, and logged
/// once (not once per waiter) with its cause.
pub async fn upstream_faults_are_contained<F: Fixture>() {
    use crate::support::fake::Behaviour;
    let logs = crate::support::logs::capture();
    let up = F::upstream().await;
    let (cached, cold) = (F::name("cached", false), F::name("cold", false));
    let cached_bytes = F::seed(&up, &cached, "1.0.0");
    let cold_bytes = F::seed(&up, &cold, "1.0.0");
    let registry = format!("faults-{}", F::TYPE);
    let s = TestServer::with(
        &[Reg::proxy(F::TYPE, &registry, &F::upstream_url(&up)).open_read().metadata_ttl(0)],
        "[limits]\nupstream_artifact_timeout_secs = 2\nupstream_document_timeout_secs = 2\n",
    )
    .await;
    let c = client();
    let base = s.reg(&registry);
    let listing = format!("{base}{}", F::listing(&cached));
    let cached_url = format!("{base}{}", F::artifact(&cached, "1.0.0"));
    let cold_url = format!("{base}{}", F::artifact(&cold, "1.0.0"));
    assert_eq!(get(&c, listing.clone(), None).await.status, 200, "{}", F::TYPE);
    let (warm, bytes) = fetch(&c, &cached_url).await;
    assert_eq!((warm.status, bytes), (200, Some(cached_bytes.clone())), "{}", F::TYPE);
    let kept = stored_blobs(&s).await.len();

    // Broken off mid-body, eight clients at once: each gets an error in
    // its client's shape, nothing is kept, and the failure is counted.
    let errors = upstream_errors(&registry);
    up.set(Behaviour::Truncate);
    let replies = futures_util::future::join_all((0..8).map(|_| fetch(&c, &cold_url))).await;
    for (r, bytes) in &replies {
        assert!(r.status >= 500 || bytes.is_none(), "{}: a broken fetch was served whole: {}", F::TYPE, r.status);
        if r.status >= 500 {
            message::<F>("an upstream that broke off", r);
        }
    }
    assert_eq!(stored_blobs(&s).await.len(), kept, "{}: a truncated artifact was kept", F::TYPE);
    assert!(upstream_errors(&registry) > errors, "{}: the failure was not counted", F::TYPE);

    // Down (503): the cached artifact is still served, the listing from
    // the cache marked stale, the cold artifact a clear 502.
    logs.take();
    up.set(Behaviour::Fail);
    let (r, bytes) = fetch(&c, &cached_url).await;
    assert_eq!((r.status, bytes), (200, Some(cached_bytes.clone())), "{}", F::TYPE);
    let r = get(&c, listing.clone(), None).await;
    assert_eq!(r.status, 200, "{}: stale metadata is served while the upstream is down: {}", F::TYPE, r.body);
    let warning = r.headers.get("warning").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(warning.starts_with("110 "), "{}: stale metadata carries a Warning: {:?}", F::TYPE, r.headers);
    let (r, _) = fetch(&c, &cold_url).await;
    assert!(r.status >= 500, "{}: {}", F::TYPE, r.status);
    message::<F>("an upstream that is down", &r);
    // Each failed document is logged once (the stale copy then serves
    // without asking again for a while), with the upstream's answer.
    let lines = logs.take();
    let mut failed_docs = std::collections::HashSet::new();
    for l in lines.iter().filter(|l| l.contains("serving a stale document") || l.contains("document fetch failed")) {
        assert!(l.contains("503"), "{}: the cause is logged: {l}", F::TYPE);
        let key = l.split(" key=").nth(1).and_then(|k| k.split(' ').next()).unwrap_or("");
        assert!(failed_docs.insert(key.to_string()), "{}: {key} logged twice: {lines:#?}", F::TYPE);
    }
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains("artifact fetch failed")).collect();
    assert_eq!(failed.len(), 1, "{}: the cold artifact's failure: {lines:#?}", F::TYPE);
    assert!(failed[0].contains("503"), "{}: with its cause: {}", F::TYPE, failed[0]);
    // A document never fetched before: a clear error, and one line (where
    // listings come from one channel-wide index, as Conda's, the stale
    // index answers instead: that the name is not in it).
    let never = format!("{base}{}", F::listing(&F::name("never-seen", false)));
    let r = get(&c, never, None).await;
    let lines = logs.take();
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains("document fetch failed")).collect();
    if r.status == 404 {
        assert!(failed.is_empty(), "{}: answered from the stale index: {lines:#?}", F::TYPE);
    } else {
        assert!(r.status >= 500, "{}: {}", F::TYPE, r.status);
        assert_eq!(failed.len(), 1, "{}: {lines:#?}", F::TYPE);
        assert!(failed[0].contains("503"), "{}: with its cause: {}", F::TYPE, failed[0]);
    }

    // Stalled past the deadline: every waiter is released with an error;
    // they shared one fetch, so the failure is logged once.
    up.set(Behaviour::Stall);
    let replies = futures_util::future::join_all((0..4).map(|_| fetch(&c, &cold_url))).await;
    for (r, bytes) in &replies {
        assert!(r.status >= 500 || bytes.is_none(), "{}: a stalled fetch was served whole: {}", F::TYPE, r.status);
    }
    up.release();
    let lines = logs.take();
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains("artifact fetch failed")).collect();
    assert_eq!(failed.len(), 1, "{}: four waiters, one fetch, one line: {lines:#?}", F::TYPE);
    assert!(failed[0].contains("timed out"), "{}: with its cause: {}", F::TYPE, failed[0]);
    assert_eq!(stored_blobs(&s).await.len(), kept, "{}: a stalled artifact was kept", F::TYPE);

    // Back up: the cold artifact arrives whole.
    up.set(Behaviour::Normal);
    let (r, bytes) = fetch(&c, &cold_url).await;
    assert_eq!((r.status, bytes), (200, Some(cold_bytes)), "{}", F::TYPE);
}

pub async fn bad_names_and_traversal_are_4xx<F: Fixture>() {
    let s = TestServer::with(&[Reg::local(F::TYPE, "internal")], "").await;
    let addr = s.url.trim_start_matches("http://").to_string();
    for (path, status) in F::bad_paths() {
        // Sent raw: HTTP client libraries normalise dot segments away.
        let reply = raw_get(&addr, &format!("/proxy/internal{path}"), ALICE).await;
        assert_eq!(reply.status, status, "{}: {path}: {}", F::TYPE, reply.body);
        message::<F>(path, &reply);
    }
}

pub async fn concurrent_first_publishes_leave_one_owner<F: Fixture>() {
    let s = TestServer::with(&[Reg::local(F::TYPE, "race")], "").await;
    let c = client();
    let reg = s.reg("race");
    let mut both = 0;
    for i in 0..12 {
        let name = F::name(&format!("race{i}"), false);
        let (a, b) = tokio::join!(
            F::publish(&c, &reg, Some(ALICE), &name, "1.0.0"),
            F::publish(&c, &reg, Some(BOB), &name, "1.0.1")
        );
        let ok = |r: &Reply| (200..300).contains(&r.status);
        if ok(&a) && ok(&b) {
            both += 1;
        }
        assert!(ok(&a) || ok(&b), "{}: {name}: {} / {}", F::TYPE, a.body, b.body);
        for r in [&a, &b].into_iter().filter(|r| !ok(r)) {
            assert_eq!(r.status, 403, "{}: {name}: the loser is refused: {}", F::TYPE, r.body);
        }
    }
    assert_eq!(both, 0, "{}: two users both published the first version of one name", F::TYPE);
}

pub async fn upstream_credentials_never_reach_clients<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("cred", false);
    F::seed(&up, &name, "1.0.0");
    up.set_fail(true);
    // The upstream's URL carries credentials, in its userinfo and its query.
    let url = F::upstream_url(&up).replacen("http://", "http://mirror-user:s3cret-pw@", 1);
    let url = if url.contains('?') { format!("{url}&token=s3cret-tok") } else { format!("{url}?token=s3cret-tok") };
    let s = TestServer::with(&[Reg::proxy(F::TYPE, "mirror", &url).open_read()], "").await;
    let c = client();
    for path in [F::listing(&name), F::artifact(&name, "1.0.0")] {
        let reply = get(&c, format!("{}{path}", s.reg("mirror")), None).await;
        assert_eq!(reply.status, 502, "{}: {path}: {}", F::TYPE, reply.body);
        message::<F>(&path, &reply);
        for secret in ["s3cret", "mirror-user", "127.0.0.1"] {
            assert!(!reply.body.contains(secret), "{}: {path}: {secret} in {}", F::TYPE, reply.body);
        }
    }
    assert!(up.total_hits() > 0, "{}: the upstream was asked", F::TYPE);
}

pub async fn gc_keeps_what_rows_reference<F: Fixture>() {
    let up = F::upstream().await;
    let cached = F::name("gc-up", false);
    let bytes = F::seed(&up, &cached, "1.0.0");
    let s = TestServer::with(&[Reg::hybrid(F::TYPE, "hyb", &F::upstream_url(&up)).open_read()], "").await;
    let c = client();
    let reg = s.reg("hyb");
    let local = F::name("gc-local", false);
    assert!((200..300).contains(&F::publish(&c, &reg, Some(ALICE), &local, "1.0.0").await.status));
    let cached_url = format!("{reg}{}", F::artifact(&cached, "1.0.0"));
    assert_eq!(get(&c, cached_url.clone(), None).await.status, 200, "{}", F::TYPE);
    let kept = stored_blobs(&s).await;
    let n = kept.len() as u64;
    assert!(n >= 2, "{}: {kept:?}", F::TYPE);
    let orphan = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"orphan"))]);
    let orphan = s.app.blobs.put_stream(orphan, 1024).await.expect("put");
    s.app.blobs.commit(orphan).await.expect("commit");
    // No grace period at all: only the orphan goes.
    let report =
        batlehub::blobs::collect_garbage(&s.app.blobs, &s.app.catalog, std::time::Duration::ZERO).await.expect("gc");
    assert_eq!((report.examined, report.deleted, report.referenced), (n + 1, 1, n), "{}: {report:?}", F::TYPE);
    assert_eq!(stored_blobs(&s).await, kept, "{}", F::TYPE);
    let hits = up.total_hits();
    let r = c.get(&cached_url).send().await.expect("get");
    assert_eq!(r.status(), 200, "{}", F::TYPE);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &bytes[..], "{}", F::TYPE);
    assert_eq!(up.total_hits(), hits, "{}: still a cache hit", F::TYPE);
    assert_eq!(get(&c, format!("{reg}{}", F::artifact(&local, "1.0.0")), None).await.status, 200, "{}", F::TYPE);
}

/// Two fakes of the ecosystem holding the same files: the hostile upstream
/// and an "internal service" on another port of 127.0.0.1.
async fn hostile_and_internal<F: Fixture>(
    stem: &str,
) -> (FakeUpstream<F::Proto>, FakeUpstream<F::Proto>, String, Vec<u8>) {
    let hostile = F::upstream().await;
    let internal = F::upstream().await;
    let name = F::name(stem, false);
    let bytes = F::seed(&hostile, &name, "1.0.0");
    assert_eq!(F::seed(&internal, &name, "1.0.0"), bytes, "{}: the fixture's bytes are deterministic", F::TYPE);
    (hostile, internal, name, bytes)
}

/// The artifact of `name` through a fresh proxy `reg` named `mirror`.
async fn through<F: Fixture>(reg: Reg, name: &str) -> (TestServer, Reply) {
    let s = TestServer::with(&[reg.open_read()], "").await;
    let reply = get(&client(), format!("{}{}", s.reg("mirror"), F::artifact(name, "1.0.0")), None).await;
    (s, reply)
}

/// Refused in the client's dialect, without the internal address, nothing kept.
async fn refused<F: Fixture>(what: &str, s: &TestServer, reply: &Reply) {
    assert_eq!(reply.status, 502, "{}: {what}: {}", F::TYPE, reply.body);
    message::<F>(what, reply);
    assert!(!reply.body.contains("127.0.0.1") && !reply.body.contains("localhost"), "{}: {}", F::TYPE, reply.body);
    assert!(stored_blobs(s).await.is_empty(), "{}: {what}: something was kept", F::TYPE);
}

pub async fn artifact_urls_off_the_upstream_origin_are_refused<F: Fixture>() {
    let (hostile, internal, name, bytes) = hostile_and_internal::<F>("ssrf").await;
    let proxy = || Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&hostile));
    if F::LINKED_ARTIFACTS {
        // The documents point the artifact at the internal service.
        hostile.set_artifact_base(Some(&internal.url));
        let (s, reply) = through::<F>(proxy(), &name).await;
        refused::<F>("artifact URL on another origin", &s, &reply).await;
        let again = get(&client(), format!("{}{}", s.reg("mirror"), F::artifact(&name, "1.0.0")), None).await;
        refused::<F>("asked again", &s, &again).await;
    }
    // The artifact URL is the upstream's own, but it redirects there.
    hostile.set_artifact_base(None);
    hostile.set_redirect(Some(&internal.url));
    let (s, reply) = through::<F>(proxy(), &name).await;
    refused::<F>("redirect to another origin", &s, &reply).await;
    assert_eq!(internal.total_hits(), 0, "{}: the internal service was asked", F::TYPE);
    // Configured as an artifact host, both are followed.
    let (_s, reply) = through::<F>(proxy().artifact_host(&internal.url), &name).await;
    assert_eq!(reply.status, 200, "{}: allowed redirect: {}", F::TYPE, reply.body);
    hostile.set_redirect(None);
    if !F::LINKED_ARTIFACTS {
        assert!(internal.total_hits() >= 1, "{}", F::TYPE);
        return;
    }
    hostile.set_artifact_base(Some(&internal.url));
    let (s, _) = through::<F>(proxy().artifact_host(&internal.url), &name).await;
    let r = client().get(format!("{}{}", s.reg("mirror"), F::artifact(&name, "1.0.0"))).send().await.expect("get");
    assert_eq!(r.status(), 200, "{}: allowed artifact host", F::TYPE);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &bytes[..], "{}", F::TYPE);
    assert!(internal.total_hits() >= 2, "{}", F::TYPE);
}

pub async fn non_public_addresses_are_refused_after_resolution<F: Fixture>() {
    let (hostile, internal, name, _) = hostile_and_internal::<F>("dns").await;
    // Another host name than the configured upstream's, resolving to loopback:
    // where the documents name it, or (for protocols whose documents name no
    // artifact) where the upstream redirects.
    let port = internal.url.rsplit(':').next().expect("port").to_string();
    let by_name = format!("http://localhost:{port}");
    if F::LINKED_ARTIFACTS {
        hostile.set_artifact_base(Some(&by_name));
    } else {
        hostile.set_redirect(Some(&by_name));
    }
    let proxy = || Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&hostile)).artifact_host(&by_name);
    let (s, reply) = through::<F>(proxy(), &name).await;
    refused::<F>("a listed host resolving to loopback", &s, &reply).await;
    assert_eq!(internal.total_hits(), 0, "{}: the internal service was asked", F::TYPE);
    let (_s, reply) = through::<F>(proxy().allow_private_addresses(), &name).await;
    assert_eq!(reply.status, 200, "{}: allow_private_addresses: {}", F::TYPE, reply.body);
}

pub async fn artifacts_without_a_digest_are_refused<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("nodigest", false);
    F::seed(&up, &name, "1.0.0");
    if !F::DIGESTS {
        // No digest to check: the ecosystem's content check stands in, and a
        // body that breaks it is refused and not kept.
        up.set_corrupt(true);
        let (s, reply) = through::<F>(Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&up)), &name).await;
        refused::<F>("content that fails its check", &s, &reply).await;
        up.set_corrupt(false);
        let (_s, reply) = through::<F>(Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&up)), &name).await;
        assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
        return;
    }
    up.set_no_digests(true);
    let (s, reply) = through::<F>(Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&up)), &name).await;
    refused::<F>("no digest", &s, &reply).await;
    up.set_no_digests(false);
    let (_s, reply) = through::<F>(Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&up)), &name).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
}

/// A GET with the path exactly as given.
pub async fn raw_get(addr: &str, path: &str, token: &str) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut headers = reqwest::header::HeaderMap::new();
    for line in head.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(v.trim()),
            )
        {
            headers.insert(k, v);
        }
    }
    Reply { status, headers, body: body.to_string() }
}

/// `[[registries.rules]]` hold back what they deny on every type: a
/// version rule denying one version leaves it out of the package's listing
/// and refuses its artifact, saying why in the client's dialect, before
/// the upstream is asked for it; the version allowed is served.
pub async fn rules_withhold_denied_versions<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("ruled", false);
    let kept = F::seed(&up, &name, "1.0.0");
    F::seed(&up, &name, "2.0.0");
    let registry = format!("ruled-{}", F::TYPE);
    let denied = format!("{name}@{}", F::exact_range("2.0.0"));
    let reg = Reg::proxy(F::TYPE, &registry, &F::upstream_url(&up))
        .open_read()
        .rule(&format!("type = \"version\"\ndeny = [{denied:?}]"));
    let s = TestServer::with(&[reg], "").await;
    let c = client();
    let (reply, _) = fetch(&c, &format!("{}{}", s.reg(&registry), F::listing(&name))).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    assert!(reply.body.contains("1.0.0"), "{}: the allowed version is listed: {}", F::TYPE, reply.body);
    assert!(!reply.body.contains("2.0.0"), "{}: the denied version is not: {}", F::TYPE, reply.body);
    let asked = up.total_hits();
    let (reply, _) = fetch(&c, &format!("{}{}", s.reg(&registry), F::artifact(&name, "2.0.0"))).await;
    assert_eq!(reply.status, 403, "{}: {}", F::TYPE, reply.body);
    let why = message::<F>("a denied version", &reply);
    assert!(why.contains("version rule"), "{}: {why}", F::TYPE);
    let (reply, body) = fetch(&c, &format!("{}{}", s.reg(&registry), F::artifact(&name, "1.0.0"))).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    assert_eq!(body.as_deref(), Some(&kept[..]), "{}", F::TYPE);
    assert!(up.total_hits() > asked, "{}: the allowed artifact came from the upstream", F::TYPE);
}

/// Every rule reads what each type's upstream documents say of a version:
/// its publish time (`release_age`), its declared licence (`licence`,
/// where the type declares one) and whether OSV names it (`advisories`,
/// where OSV covers the type). Each withheld version leaves the listing
/// and its artifact is refused with that rule's reason; an old, licensed,
/// unnamed version is served. A type whose protocol gives no times has
/// every version judged by `missing_timestamp`.
pub async fn rules_read_each_types_metadata<F: Fixture>() {
    let up = F::upstream().await;
    let name = F::name("judged", false);
    let kept = F::seed(&up, &name, "1.0.0");
    for v in ["2.0.0", "3.0.0", "4.0.0"] {
        F::seed(&up, &name, v);
    }
    let listed = |v: &str| F::listed_version(v);
    let registry = format!("judged-{}", F::TYPE);
    let mut reg = Reg::proxy(F::TYPE, &registry, &F::upstream_url(&up)).open_read();
    let mut denied: Vec<(&str, &str)> = Vec::new();
    if !F::PUBLISH_TIMES {
        // Nothing has a time: withheld unless `missing_timestamp = "allow"`.
        let strict = reg.clone().rule("type = \"release_age\"\nmin_age = \"72h\"");
        let s = TestServer::with(&[strict], "").await;
        let (reply, _) = fetch(&client(), &format!("{}{}", s.reg(&registry), F::listing(&name))).await;
        assert_eq!(reply.status, 403, "{}: {}", F::TYPE, reply.body);
        assert!(message::<F>("no times", &reply).contains("no publish time"), "{}: {}", F::TYPE, reply.body);
        reg = reg.rule("type = \"release_age\"\nmin_age = \"72h\"\nmissing_timestamp = \"allow\"");
    } else {
        for v in ["1.0.0", "3.0.0", "4.0.0"] {
            up.set_published(&name, &listed(v), Some(&hours_ago(24 * 400)));
        }
        up.set_published(&name, &listed("2.0.0"), Some(&hours_ago(1)));
        reg = reg.rule("type = \"release_age\"\nmin_age = \"72h\"");
        denied.push(("2.0.0", "release_age"));
    }
    if F::LICENCES {
        for v in ["1.0.0", "2.0.0", "4.0.0"] {
            up.set_licence(&name, &listed(v), "MIT");
        }
        up.set_licence(&name, &listed("3.0.0"), "GPL-3.0-only");
        reg = reg.rule("type = \"licence\"\ndeny = [\"GPL-3.0-only\"]");
        denied.push(("3.0.0", "licence"));
    }
    let osv = tempfile::tempdir().expect("osv folder");
    if let Some(ecosystem) = F::OSV_ECOSYSTEM {
        let record = serde_json::json!({
            "id": "GHSA-conf-0000-0004",
            "affected": [{"package": {"ecosystem": ecosystem, "name": F::osv_name(&name)}, "versions": [listed("4.0.0")]}],
            "database_specific": {"severity": "HIGH"},
        });
        std::fs::write(osv.path().join("GHSA-conf-0000-0004.json"), record.to_string()).expect("record");
        reg = reg.rule(&format!("type = \"advisories\"\nsource = {:?}", osv.path().display().to_string()));
        denied.push(("4.0.0", "GHSA-conf-0000-0004"));
    }
    let s = TestServer::with(&[reg], "").await;
    let c = client();
    let (reply, _) = fetch(&c, &format!("{}{}", s.reg(&registry), F::listing(&name))).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    assert!(reply.body.contains("1.0.0"), "{}: {}", F::TYPE, reply.body);
    // Judged once: the next read of the listing answers the same.
    let (again, _) = fetch(&c, &format!("{}{}", s.reg(&registry), F::listing(&name))).await;
    assert_eq!((again.status, &again.body), (200, &reply.body), "{}", F::TYPE);
    for (v, why) in &denied {
        assert!(!reply.body.contains(v), "{}: {v} ({why}) is listed: {}", F::TYPE, reply.body);
        let (refused, _) = fetch(&c, &format!("{}{}", s.reg(&registry), F::artifact(&name, v))).await;
        assert_eq!(refused.status, 403, "{} {v}: {}", F::TYPE, refused.body);
        let message = message::<F>("a withheld version", &refused);
        assert!(message.contains(why), "{} {v}: {message}", F::TYPE);
    }
    let (reply, body) = fetch(&c, &format!("{}{}", s.reg(&registry), F::artifact(&name, "1.0.0"))).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    assert_eq!(body.as_deref(), Some(&kept[..]), "{}", F::TYPE);
    // The simulator reads the same times, licences and names.
    let sim = |v: &str| {
        format!(
            "{}/api/v1/registries/{registry}/packages/{}/versions/{}/rules",
            s.url,
            segment(&name),
            segment(&listed(v))
        )
    };
    let (reply, _) = fetch(&c, &sim("1.0.0")).await;
    assert_eq!(reply.status, 200, "{}: {}", F::TYPE, reply.body);
    assert_eq!(json_of(&reply)["allowed"], true, "{}: {}", F::TYPE, reply.body);
    for (v, why) in &denied {
        let (reply, _) = fetch(&c, &sim(v)).await;
        assert_eq!(reply.status, 200, "{} {v}: {}", F::TYPE, reply.body);
        let answer = json_of(&reply);
        assert_eq!(answer["allowed"], false, "{} {v}: {answer}", F::TYPE);
        assert!(answer["rules"].to_string().contains(why), "{} {v}: {answer}", F::TYPE);
    }
}

/// Every suite of this file on every ecosystem: one line per ecosystem.
macro_rules! conformance {
    ($($eco:ident => $fixture:ty;)*) => {
        $(
            mod $eco {
                type F = $fixture;

                #[tokio::test]
                async fn proxy_refuses_writes() {
                    super::proxy_refuses_writes::<F>().await;
                }
                #[tokio::test]
                async fn missing_or_bad_credentials_are_challenged() {
                    super::missing_or_bad_credentials_are_challenged::<F>().await;
                }
                #[tokio::test]
                async fn invisible_packages_are_hidden() {
                    super::invisible_packages_are_hidden::<F>().await;
                }
                #[tokio::test]
                async fn claimed_names_never_go_upstream() {
                    super::claimed_names_never_go_upstream::<F>().await;
                }
                #[tokio::test]
                async fn claims_in_any_spelling_keep_names_off_the_upstream() {
                    super::claims_in_any_spelling_keep_names_off_the_upstream::<F>().await;
                }
                #[tokio::test]
                async fn upstream_names_cannot_be_taken_over() {
                    super::upstream_names_cannot_be_taken_over::<F>().await;
                }
                #[tokio::test]
                async fn cross_site_publishes_are_refused() {
                    super::cross_site_publishes_are_refused::<F>().await;
                }
                #[tokio::test]
                async fn cache_hits_never_call_the_upstream() {
                    super::cache_hits_never_call_the_upstream::<F>().await;
                }
                #[tokio::test]
                async fn only_the_latest_cached_versions_are_kept() {
                    super::only_the_latest_cached_versions_are_kept::<F>().await;
                }
                #[tokio::test]
                async fn rules_read_each_types_metadata() {
                    super::rules_read_each_types_metadata::<F>().await;
                }
                #[tokio::test]
                async fn rules_withhold_denied_versions() {
                    super::rules_withhold_denied_versions::<F>().await;
                }
                #[tokio::test]
                async fn documents_share_the_cache_cap() {
                    super::documents_share_the_cache_cap::<F>().await;
                }
                #[tokio::test]
                async fn digest_mismatch_is_502_and_nothing_kept() {
                    super::digest_mismatch_is_502_and_nothing_kept::<F>().await;
                }
                #[tokio::test]
                async fn concurrent_first_publishes_leave_one_owner() {
                    super::concurrent_first_publishes_leave_one_owner::<F>().await;
                }
                #[tokio::test]
                async fn upstream_credentials_never_reach_clients() {
                    super::upstream_credentials_never_reach_clients::<F>().await;
                }
                #[tokio::test]
                async fn gc_keeps_what_rows_reference() {
                    super::gc_keeps_what_rows_reference::<F>().await;
                }
                #[tokio::test]
                async fn artifact_urls_off_the_upstream_origin_are_refused() {
                    super::artifact_urls_off_the_upstream_origin_are_refused::<F>().await;
                }
                #[tokio::test]
                async fn non_public_addresses_are_refused_after_resolution() {
                    super::non_public_addresses_are_refused_after_resolution::<F>().await;
                }
                #[tokio::test]
                async fn artifacts_without_a_digest_are_refused() {
                    super::artifacts_without_a_digest_are_refused::<F>().await;
                }
                #[tokio::test]
                async fn bad_names_and_traversal_are_4xx() {
                    super::bad_names_and_traversal_are_4xx::<F>().await;
                }
                #[tokio::test]
                async fn upstream_faults_are_contained() {
                    super::upstream_faults_are_contained::<F>().await;
                }
            }
        )*
        /// Every registry type this build serves has its line above.
        #[test]
        fn every_kind_runs_the_table() {
            let covered = [$(<$fixture as Fixture>::TYPE),*];
            for k in batlehub::kinds::Kind::ALL {
                assert!(covered.contains(&k.as_str()), "{k} has no conformance fixture");
            }
        }
    };
}

conformance! {
    npm => crate::support::npm::NpmFixture;
    cargo => crate::support::cargo::CargoFixture;
    pypi => crate::support::pypi::PypiFixture;
    go => crate::support::go::GoFixture;
    maven => crate::support::maven::MavenFixture;
    composer => crate::support::composer::ComposerFixture;
    rubygems => crate::support::rubygems::RubygemsFixture;
    nuget => crate::support::nuget::NugetFixture;
    conda => crate::support::conda::CondaFixture;
    openvsx => crate::support::vsx::OpenVsxFixture;
    marketplace => crate::support::vsx::MarketplaceFixture;
    terraform => crate::support::terraform::TerraformFixture;
}
