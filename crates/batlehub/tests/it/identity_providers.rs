//! OIDC bearer tokens, GitHub/Forgejo Actions job tokens and Kubernetes
//! service accounts, against fake issuers and a fake TokenReview API.

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::support::idp::{FakeIssuer, FakeKube, now};
use crate::support::npm::publish;
use crate::support::{BOB, TestServer, client, config, epoch_ms};

async fn me(c: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = c.get(format!("{url}/api/v1/me")).bearer_auth(token).send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn oidc_bearer_tokens_and_every_way_they_fail() {
    let idp = FakeIssuer::start().await;
    let s = TestServer::start(&config(&format!(
        r#"
[[auth]]
type = "oidc"
name = "oidc"
issuer_url = "{}"
client_id = "batlehub"
[auth.role_mappings]
"platform admins" = "admin"

[[registries]]
type = "npm"
name = "internal"
mode = "local"
"#,
        idp.url
    )))
    .await;
    let c = client();
    // A valid RSA token: groups prefixed with the provider, spaces stripped; role mapped.
    let t = idp.token("batlehub", json!({"sub": "carol", "groups": ["my team", "platform admins"]}));
    let (status, who) = me(&c, &s.url, &t).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(
        who,
        json!({"user_id": "oidc:oidc:carol", "role": "admin", "groups": ["oidc:myteam", "oidc:platformadmins"], "provider": "oidc"}),
        "user ids of a provider are scoped by it: oidc:<provider>:<sub>"
    );
    // EC keys work too; no mapping: role user.
    let t = idp.sign(Algorithm::ES256, "ec1", "batlehub", json!({"sub": "dave", "groups": ["devs"]}));
    let (_, who) = me(&c, &s.url, &t).await;
    assert_eq!(who["role"], "user");
    assert_eq!(who["groups"], json!(["oidc:devs"]));
    // An OIDC bearer token may mint an API token, but one that lives no
    // longer than the JWT itself (and never more than an hour), whatever
    // it asks for: a leaked short-lived JWT cannot become a year's access.
    let r = c
        .post(format!("{}/api/v1/auth/tokens", s.url))
        .bearer_auth(&t)
        .json(&json!({"name": "my-laptop", "expires_in_days": 90, "role": "user"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let minted: Value = r.json().await.expect("json");
    let expires = epoch_ms(minted["expires_at"].as_str().expect("expires_at"));
    assert!(expires <= (now() + 600) * 1000, "capped by the JWT's exp: {minted}");
    let (_, who) = me(&c, &s.url, minted["token"].as_str().expect("token")).await;
    assert_eq!(who["user_id"], "oidc:oidc:dave");
    assert_eq!(who["groups"], json!(["oidc:devs"]));
    assert_eq!(idp.jwks_hits(), 1, "the JWKS is cached");

    // Every failure is a 401 with a JSON reason.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let good_claims = json!({"iss": idp.url, "aud": "batlehub", "sub": "x", "exp": now() + 600});
    let forged_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&good_claims));
    let forged_hs = {
        let key = jsonwebtoken::EncodingKey::from_secret(b"public key bytes");
        jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), &good_claims, &key).expect("hs256")
    };
    // Corrupt a character well inside the signature (the last one may only
    // hold padding bits, which decoders ignore).
    let wrong_sig = {
        let t = idp.token("batlehub", json!({"sub": "x"}));
        let at = t.len() - 20;
        let c = t.as_bytes()[at];
        let replacement = if c == b'A' { 'B' } else { 'A' };
        format!("{}{replacement}{}", &t[..at], &t[at + 1..])
    };
    let cases: Vec<(&str, String)> = vec![
        ("expired", idp.token("batlehub", json!({"sub": "x", "exp": now() - 3600}))),
        ("not yet valid", idp.token("batlehub", json!({"sub": "x", "nbf": now() + 3600}))),
        ("wrong audience", idp.token("another-app", json!({"sub": "x"}))),
        ("unknown kid", idp.sign(Algorithm::RS256, "rotated-away", "batlehub", json!({"sub": "x"}))),
        ("alg none", forged_none),
        ("HMAC", forged_hs),
        ("wrong signature", wrong_sig),
        ("no sub", idp.token("batlehub", json!({}))),
        ("malformed", format!("{}.!!!.x", b64(&json!({"alg": "RS256"})))),
        ("huge", format!("{}.{}.x", b64(&json!({"alg": "RS256", "pad": "x".repeat(20_000)})), b64(&good_claims))),
    ];
    for (what, token) in cases {
        let (status, err) = me(&c, &s.url, &token).await;
        assert_eq!(status, 401, "{what}: {err}");
        assert!(err["message"].is_string() && err["error"].is_string(), "{what}: {err}");
    }
    // An unknown kid does not make BatleHub hammer the issuer: at most once a minute.
    assert!(idp.jwks_hits() <= 2, "{}", idp.jwks_hits());
    // A JWT from an issuer nobody configured is simply not a credential.
    let other = FakeIssuer::start().await;
    assert_eq!(me(&c, &s.url, &other.token("batlehub", json!({"sub": "x"}))).await.0, 401);
    // Static tokens still work beside it.
    assert_eq!(me(&c, &s.url, BOB).await.0, 200);
}

#[tokio::test]
async fn actions_tokens_map_to_groups_that_grant_publishing() {
    let idp = FakeIssuer::start().await;
    let s = TestServer::start(&config(&format!(
        r#"
[[auth]]
type = "actions-oidc"
name = "github-actions"
issuer_url = "{}"
audience = "batlehub"
[[auth.rules]]
group_template = "github-actions/{{repository}}/{{ref_name}}"
[[auth.rules.conditions]]
claim = "repository_owner"
pattern = "myorg"
[[auth.rules]]
group = "release-engineers"
role = "user"
match = "any"
[[auth.rules.conditions]]
claim = "actor"
pattern = "^(alice|bob)$"

[[registries]]
type = "npm"
name = "internal"
mode = "local"
[registries.rbac]
user = ["releases:read", "source:read"]
[registries.rbac.groups]
"github-actions/myorg-*/main" = ["releases:write"]
"#,
        idp.url
    )))
    .await;
    let c = client();
    let reg = s.reg("internal");
    let job = |repo: &str, r#ref: &str, actor: &str, aud: &str| {
        let owner = repo.split('/').next().unwrap_or("");
        idp.token(aud, json!({"sub": format!("repo:{repo}:ref:{}", r#ref), "repository": repo, "repository_owner": owner, "ref": r#ref, "actor": actor}))
    };
    let main = job("myorg/my-repo", "refs/heads/main", "carol", "batlehub");
    let (_, who) = me(&c, &s.url, &main).await;
    assert_eq!(who["groups"], json!(["github-actions/myorg-my-repo/main"]));
    assert_eq!(who["provider"], "github-actions");
    assert_eq!(publish(&c, &reg, &main, "ci-built", "1.0.0").await.0, 201);
    // Another branch: a different group, which may not write.
    let feature = job("myorg/my-repo", "refs/heads/feature", "carol", "batlehub");
    assert_eq!(publish(&c, &reg, &feature, "ci-built", "1.1.0").await.0, 403);
    // Both rules can match.
    let (_, who) = me(&c, &s.url, &job("myorg/tools", "refs/tags/v1.0", "alice", "batlehub")).await;
    assert_eq!(who["groups"], json!(["github-actions/myorg-tools/v1.0", "release-engineers"]));
    // Another organisation matches no rule: refused, not anonymous.
    let (status, err) = me(&c, &s.url, &job("evil/repo", "refs/heads/main", "mallory", "batlehub")).await;
    assert_eq!(status, 401);
    assert!(err["message"].as_str().unwrap_or("").contains("no rule"), "{err}");
    // A token minted for another audience.
    assert_eq!(me(&c, &s.url, &job("myorg/my-repo", "refs/heads/main", "carol", "sigstore")).await.0, 401);
}

#[tokio::test]
async fn kubernetes_service_accounts_via_token_review() {
    let kube = FakeKube::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let own = dir.path().join("token");
    std::fs::write(&own, &kube.own_token).expect("token");
    let s = TestServer::start(&config(&format!(
        r#"
[[auth]]
type = "kubernetes"
api_server = "{}"
token_path = "{}"
ca_cert_path = "/nonexistent/ca.crt"
[auth.role_mappings]
"system:serviceaccount:ops:admin" = "admin"

[[registries]]
type = "npm"
name = "internal"
mode = "local"
[registries.rbac]
user = []
[registries.rbac.groups]
"kubernetes:system:serviceaccounts:ci" = ["releases:read", "source:read", "releases:write"]
"#,
        kube.url,
        own.display()
    )))
    .await;
    let c = client();
    let reg = s.reg("internal");
    let (_, who) = me(&c, &s.url, "sa-ci-deployer").await;
    assert_eq!(who["user_id"], "kubernetes:kubernetes:system:serviceaccount:ci:deployer");
    assert!(
        who["groups"].as_array().expect("groups").contains(&json!("kubernetes:system:serviceaccounts:ci")),
        "{who}"
    );
    // The namespace's group grants write: the user guide's "permissions to
    // Kubernetes service account namespaces".
    assert_eq!(publish(&c, &reg, "sa-ci-deployer", "from-ci", "1.0.0").await.0, 201);
    assert_eq!(publish(&c, &reg, "sa-dev-builder", "from-dev", "1.0.0").await.0, 403);
    let (_, admin) = me(&c, &s.url, "sa-ops-admin").await;
    assert_eq!(admin["role"], "admin");
    // Cached: many requests, one review.
    for _ in 0..10 {
        assert_eq!(me(&c, &s.url, "sa-ci-deployer").await.0, 200);
    }
    assert_eq!(kube.reviews("sa-ci-deployer"), 1);
    // Not a service account: 401. A bh_ token never reaches the API server.
    assert_eq!(me(&c, &s.url, "random-string").await.0, 401);
    let before = kube.total_reviews();
    assert_eq!(me(&c, &s.url, "bh_notarealtoken0000000000000000000000000").await.0, 401);
    assert_eq!(kube.total_reviews(), before);
    // The API server down: 503 for that request, never a silent anonymous.
    kube.set_down(true);
    let (status, err) = me(&c, &s.url, "sa-ci-other").await;
    assert_eq!(status, 503, "{err}");
    // Cached answers still work.
    assert_eq!(me(&c, &s.url, "sa-ci-deployer").await.0, 200);
}

/// `extra` TOML, then an OIDC provider the web UI signs in with.
fn browser_sign_in(issuer: &str, extra: &str) -> String {
    format!(
        r#"
{extra}
[[auth]]
type = "oidc"
name = "oidc"
issuer_url = "{issuer}"
client_id = "batlehub-ui"
client_secret = "s3cret"
"#
    )
}

#[tokio::test]
async fn browser_sign_in_with_pkce_ends_in_a_session_cookie() {
    let idp = FakeIssuer::start().await;
    let s = TestServer::start(&config(&browser_sign_in(&idp.url, ""))).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let providers: Value = browser
        .get(format!("{}/api/v1/auth/oidc/providers", s.url))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(providers["providers"], json!(["oidc"]));
    // The web UI's sign-in page has a button for the provider.
    let page = browser
        .get(format!("{}/login?return_to=/my-namespace", s.url))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(r#"href="/api/v1/auth/oidc/login?provider=oidc&amp;return_to=%2Fmy-namespace""#)
            && page.contains("Sign in with oidc"),
        "{page}"
    );
    // 1. login: a redirect to the provider with PKCE, state and nonce.
    let r = browser.get(format!("{}/api/v1/auth/oidc/login?return_to=/api/v1/me", s.url)).send().await.expect("login");
    assert_eq!(r.status(), 302);
    let to = r.headers()["location"].to_str().expect("location").to_string();
    assert!(to.starts_with(&format!("{}/authorize?", idp.url)), "{to}");
    for part in ["code_challenge=", "code_challenge_method=S256", "state=", "nonce=", "client_id=batlehub-ui"] {
        assert!(to.contains(part), "{to}");
    }
    let login_cookie = r.headers()["set-cookie"].to_str().expect("cookie").to_string();
    assert!(login_cookie.contains("HttpOnly"), "{login_cookie}");
    // 2. the provider sends the browser back with a code.
    let r = browser.get(&to).send().await.expect("authorize");
    let back = r.headers()["location"].to_str().expect("location").to_string();
    assert!(back.starts_with(&format!("{}/api/v1/auth/oidc/callback?code=", s.url)), "{back}");
    // 3. the callback: a session cookie, a redirect to where we came from, no token in any URL.
    let r = browser.get(&back).send().await.expect("callback");
    assert_eq!(r.status(), 303, "{}", r.headers().get("location").map(|v| v.to_str().unwrap_or("")).unwrap_or(""));
    assert_eq!(r.headers()["location"], "/api/v1/me");
    let cookies: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap_or("").to_string()).collect();
    let session = cookies.iter().find(|c| c.starts_with("batlehub_session=")).expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    assert_eq!(idp.flow().token_requests, 1);
    // 4. the browser is signed in.
    let me: Value = browser.get(format!("{}/api/v1/me", s.url)).send().await.expect("me").json().await.expect("json");
    assert_eq!(me["user_id"], "oidc:oidc:erin");
    assert_eq!(me["groups"], json!(["oidc:staff"]));
    // A session may mint API tokens like any identity, with its CSRF token.
    let csrf = me["csrf_token"].as_str().expect("a session learns its CSRF token").to_string();
    let r = browser
        .post(format!("{}/api/v1/auth/tokens", s.url))
        .json(&json!({"name": "from-ui"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403, "a cookie-authenticated write without X-CSRF-Token");
    let r = browser
        .post(format!("{}/api/v1/auth/tokens", s.url))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "from-ui"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    // 5. the same callback again: refused (the state is single use).
    assert_eq!(browser.get(&back).send().await.expect("replay").status(), 400);
    // A callback that did not start in this browser: refused.
    let r = browser.get(format!("{}/api/v1/auth/oidc/login", s.url)).send().await.expect("login");
    let to = r.headers()["location"].to_str().expect("location").to_string();
    let back = browser.get(&to).send().await.expect("authorize").headers()["location"].to_str().expect("l").to_string();
    let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    assert_eq!(stranger.get(&back).send().await.expect("callback").status(), 400);
    // 6. logout.
    assert_eq!(
        browser.post(format!("{}/api/v1/auth/logout", s.url)).send().await.expect("logout").status(),
        403,
        "CSRF-checked"
    );
    assert_eq!(
        browser
            .post(format!("{}/api/v1/auth/logout", s.url))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("logout")
            .status(),
        204
    );
    let me: Value = browser.get(format!("{}/api/v1/me", s.url)).send().await.expect("me").json().await.expect("json");
    assert_eq!(me["role"], "anonymous");
    // An ID token whose nonce is not this sign-in's is refused.
    idp.flow().wrong_nonce = true;
    let r = browser.get(format!("{}/api/v1/auth/oidc/login", s.url)).send().await.expect("login");
    let to = r.headers()["location"].to_str().expect("location").to_string();
    let back = browser.get(&to).send().await.expect("authorize").headers()["location"].to_str().expect("l").to_string();
    let r = browser.get(&back).send().await.expect("callback");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap_or("").starts_with("batlehub_session="))
    );
    // An open redirect is not possible: return_to must be a path here.
    let r = browser
        .get(format!("{}/api/v1/auth/oidc/login?return_to=//evil.example/x", s.url))
        .send()
        .await
        .expect("login");
    idp.flow().wrong_nonce = false;
    let to = r.headers()["location"].to_str().expect("location").to_string();
    let back = browser.get(&to).send().await.expect("authorize").headers()["location"].to_str().expect("l").to_string();
    let r = browser.get(&back).send().await.expect("callback");
    assert_eq!(r.headers()["location"], "/");
}

/// Anyone may start a browser sign-in, so the sign-ins pending at once are
/// bounded ([limits] pending_sign_ins): beyond, 429 and nothing stored.
#[tokio::test]
async fn pending_sign_ins_are_bounded() {
    let idp = FakeIssuer::start().await;
    let s = TestServer::start(&config(&browser_sign_in(&idp.url, "[limits]\npending_sign_ins = 3\n"))).await;
    let anon = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let start = || anon.get(format!("{}/api/v1/auth/oidc/login?provider=oidc", s.url)).send();
    for _ in 0..3 {
        assert_eq!(start().await.expect("login").status(), 302);
    }
    let r = start().await.expect("login");
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}
