//! Credentials in every form clients send, 401 vs 403 vs 404, API tokens,
//! Argon2 hashed static tokens, group grants.

use base64::Engine;

use crate::support::npm::publish;
use crate::support::{ALICE, BOB, TestServer, client, config, json};

fn registries() -> &'static str {
    r#"
[[registries]]
type = "npm"
name = "internal"
mode = "local"

[[registries]]
type = "npm"
name = "locked"
mode = "local"
[registries.rbac]
user = []
[registries.rbac.groups]
"oidc:my*" = ["releases:read"]
"#
}

#[tokio::test]
async fn every_credential_form_is_accepted() {
    let hashed = batlehub::identity::hash_token("carol-secret").expect("hash");
    let extra = format!(
        "[[auth]]\ntype = \"token\"\nname = \"hashed\"\n[[auth.tokens]]\nvalue = \"{hashed}\"\nrole = \"user\"\nuser_id = \"carol\"\n{}",
        registries()
    );
    let s = TestServer::start(&config(&extra)).await;
    let c = client();
    let whoami = format!("{}/-/whoami", s.reg("internal"));
    let basic = |user: &str, pass: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
    };
    let forms: Vec<(&str, String, &str)> = vec![
        ("authorization", format!("Bearer {ALICE}"), "alice"),
        ("authorization", basic("__token__", ALICE), "alice"),
        ("authorization", basic("anyone", BOB), "bob"),
        ("authorization", ALICE.to_string(), "alice"),
        ("authorization", "Bearer carol-secret".to_string(), "carol"),
        ("authorization", "Bearer carol-secret".to_string(), "carol"), // cached verification
    ];
    for (header, value, user) in forms {
        let r = c.get(&whoami).header(header, &value).send().await.expect("get");
        assert_eq!(r.status(), 200, "{header}: {value}");
        assert_eq!(json(r).await["username"], user);
    }
    // Unknown, malformed: 401 (never silently anonymous).
    for value in ["Bearer nope", "Basic !!!", "Bearer carol-secreT"] {
        let r = c.get(&whoami).header("authorization", value).send().await.expect("get");
        assert_eq!(r.status(), 401, "{value}");
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"batlehub\"");
    }
    // A form only one ecosystem's clients send is that ecosystem's: npm
    // does not read NuGet's API key header (the caller stays anonymous).
    let r = c.get(&whoami).header("x-nuget-apikey", BOB).send().await.expect("get");
    assert_eq!(r.status(), 401);
    // No credentials: whoami is 401 with the challenge.
    let r = c.get(&whoami).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"batlehub\"");
    // Ping needs nobody.
    assert_eq!(c.get(format!("{}/-/ping", s.reg("internal"))).send().await.expect("get").status(), 200);
}

#[tokio::test]
async fn unauthenticated_forbidden_and_hidden_are_distinct() {
    let s = TestServer::start(&config(registries())).await;
    let c = client();
    assert_eq!(publish(&c, &s.reg("internal"), ALICE, "pkg", "1.0.0").await.0, 201);
    let locked = s.reg("locked");
    // locked: users have nothing, but the oidc:my* group may read.
    let r = c.get(format!("{locked}/anything")).send().await.expect("get");
    assert_eq!(r.status(), 401);
    let r = c.get(format!("{locked}/anything")).bearer_auth(BOB).send().await.expect("get");
    assert_eq!(r.status(), 403);
    assert!(json(r).await["error"].as_str().unwrap_or("").contains("releases:read"));
    let r = c.get(format!("{locked}/anything")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 404);
    // The group grants reads only: a tarball needs source:read.
    let r = c.get(format!("{locked}/anything/-/anything-1.0.0.tgz")).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn api_tokens_work_until_revoked_or_expired() {
    let s = TestServer::start(&config(registries())).await;
    let c = client();
    let whoami = format!("{}/-/whoami", s.reg("internal"));
    let (secret, row) = s
        .app
        .identity
        .create_api_token("ci", "dave", batlehub::access::Role::User, &["oidc:myorg".to_string()], "test", None)
        .await
        .expect("token");
    assert!(secret.starts_with("bh_"));
    // Only the hash is stored.
    assert!(s.app.catalog.find_api_token(&secret).await.expect("db").is_none());
    let r = c.get(&whoami).bearer_auth(&secret).send().await.expect("get");
    assert_eq!(json(r).await["username"], "dave");
    // Groups travel with the token: the locked registry's group grant applies.
    assert_eq!(c.get(format!("{}/x", s.reg("locked"))).bearer_auth(&secret).send().await.expect("get").status(), 404);
    // Basic auth with the API token as password works too.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("__token__:{secret}"));
    assert_eq!(
        c.get(&whoami).header("authorization", format!("Basic {basic}")).send().await.expect("get").status(),
        200
    );
    assert!(s.app.catalog.revoke_api_token(&row.id, "dave").await.expect("revoke"));
    assert_eq!(c.get(&whoami).bearer_auth(&secret).send().await.expect("get").status(), 401);
    let (expired, _) = s
        .app
        .identity
        .create_api_token(
            "old",
            "erin",
            batlehub::access::Role::User,
            &[],
            "test",
            Some(batlehub::catalog::now_ms() - 1000),
        )
        .await
        .expect("token");
    assert_eq!(c.get(&whoami).bearer_auth(&expired).send().await.expect("get").status(), 401);
    // Last use is recorded, batched.
    s.app.flush().await;
    let listed = s.app.catalog.list_api_tokens("dave").await.expect("list");
    assert!(listed[0].last_used_at.is_some());
}

/// A random-looking token of `len` hex characters, different for each `i`.
fn random_token(prefix: &str, i: usize) -> String {
    use sha2::Digest;
    format!("{prefix}{}", hex::encode(sha2::Sha256::digest(format!("guess-{prefix}-{i}").as_bytes())))
}

#[tokio::test]
async fn argon2_runs_only_for_what_can_only_be_a_static_token_and_is_bounded() {
    let hashed = batlehub::identity::hash_token("carol-secret").expect("hash");
    let extra = format!(
        "[limits]\nargon2_concurrency = 1\nauth_failures_per_minute = 1000\n\n[[auth]]\ntype = \"token\"\nname = \"hashed\"\n[[auth.tokens]]\nvalue = \"{hashed}\"\nrole = \"user\"\nuser_id = \"carol\"\n{}",
        registries()
    );
    let s = TestServer::start(&config(&extra)).await;
    let c = client();
    let whoami = format!("{}/-/whoami", s.reg("internal"));
    let stats = &s.app.identity.argon2;
    let verifications = || stats.verifications.load(std::sync::atomic::Ordering::SeqCst);
    // Unknown API tokens and JWT-shaped tokens can be nothing else: no Argon2.
    for i in 0..20 {
        for token in [random_token("bh_", i), format!("eyJhbGciOiJub25lIn0.{}.sig", random_token("", i))] {
            let r = c.get(&whoami).bearer_auth(&token).send().await.expect("get");
            assert_eq!(r.status(), 401, "{token}");
        }
    }
    assert_eq!(verifications(), 0, "Argon2 ran for a token that cannot be a static token");
    // The hashed static token: verified once, then served from the cache.
    for _ in 0..3 {
        let r = c.get(&whoami).bearer_auth("carol-secret").send().await.expect("get");
        assert_eq!(json(r).await["username"], "carol");
    }
    assert_eq!(verifications(), 1);
    // Many unknown tokens at once: never more verifications at a time than
    // the configured slots; the rest wait, or are told to retry (429).
    let attempts = (0..12).map(|i| {
        let c = c.clone();
        let whoami = whoami.clone();
        async move { c.get(&whoami).bearer_auth(random_token("plain-", i)).send().await.expect("get").status().as_u16() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert_eq!(
        stats.peak.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "more Argon2 verifications ran at once than allowed"
    );
}

#[tokio::test]
async fn failed_authentications_are_throttled_per_address() {
    let s = TestServer::start(&config(&format!("[limits]\nauth_failures_per_minute = 5\n{}", registries()))).await;
    let c = client();
    let whoami = format!("{}/-/whoami", s.reg("internal"));
    // Alice's token was accepted before the guessing started.
    assert_eq!(c.get(&whoami).bearer_auth(ALICE).send().await.expect("get").status(), 200);
    for i in 0..5 {
        let r = c.get(&whoami).bearer_auth(random_token("guess-", i)).send().await.expect("get");
        assert_eq!(r.status(), 401);
    }
    // Over the budget: guesses are refused without being checked.
    let r = c.get(&whoami).bearer_auth(random_token("guess-", 99)).send().await.expect("get");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    let err = json(r).await;
    assert!(err["error"].as_str().unwrap_or("").contains("too many failed authentications"), "{err}");
    // So is a valid token this address has not used yet...
    assert_eq!(c.get(&whoami).bearer_auth(BOB).send().await.expect("get").status(), 429);
    // ...while a token it used successfully keeps working.
    assert_eq!(c.get(&whoami).bearer_auth(ALICE).send().await.expect("get").status(), 200);
}
