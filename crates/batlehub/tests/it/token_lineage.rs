//! What a credential makes dies with it and never outlives it: sessions and
//! tokens made with a token are revoked with it and end no later; tokens
//! made by a provider's bearer token are short-lived; what was made in the
//! name of a static identity stops working once the configuration drops it
//! (or its role) and the server restarts. And user ids are scoped by their
//! provider: an OIDC subject named like a static user is not that user.

use reqwest::redirect::Policy;
use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::support::idp::{FakeIssuer, now};
use crate::support::npm::publish;
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, config, epoch_ms};

const NPM: &str = r#"
[[registries]]
type = "npm"
name = "internal"
mode = "local"
"#;

async fn call(c: &Client, method: Method, url: String, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut r = c.request(method, url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Mint a token with `credential`; returns (secret, id, expires_at in ms).
async fn mint(s: &TestServer, credential: &str, body: Value) -> (String, String, i64) {
    let (status, made) =
        call(&client(), Method::POST, format!("{}/api/v1/auth/tokens", s.url), Some(credential), Some(body)).await;
    assert_eq!(status, 201, "{made}");
    (
        made["token"].as_str().expect("token").to_string(),
        made["id"].as_str().expect("id").to_string(),
        epoch_ms(made["expires_at"].as_str().expect("expires_at")),
    )
}

/// A browser signed in to the web UI with `token`; returns it and the
/// session's CSRF token.
async fn browser_signed_in(s: &TestServer, token: &str) -> (Client, String) {
    let b = Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
    let r =
        b.post(format!("{}/login", s.url)).form(&[("token", token), ("return_to", "/")]).send().await.expect("login");
    assert_eq!(r.status(), 303);
    let me: Value = b.get(format!("{}/api/v1/me", s.url)).send().await.expect("me").json().await.expect("json");
    let csrf = me["csrf_token"].as_str().expect("a signed-in session").to_string();
    (b, csrf)
}

async fn browser_user(s: &TestServer, b: &Client) -> Value {
    let me: Value = b.get(format!("{}/api/v1/me", s.url)).send().await.expect("me").json().await.expect("json");
    me["user_id"].clone()
}

async fn whoami(s: &TestServer, token: &str) -> (u16, Value) {
    call(&client(), Method::GET, format!("{}/api/v1/me", s.url), Some(token), None).await
}

#[tokio::test]
async fn sessions_and_tokens_made_with_a_token_die_with_it() {
    let s = TestServer::start(&config(NPM)).await;
    let (parent, parent_id, _) = mint(&s, ALICE, json!({"name": "laptop"})).await;
    // A browser signs in with the token; the session is Alice's.
    let (browser, csrf) = browser_signed_in(&s, &parent).await;
    assert_eq!(browser_user(&s, &browser).await, "alice");
    // A child token made with the token, and a grandchild made through the
    // session that came from it.
    let (child, _, _) = mint(&s, &parent, json!({"name": "child"})).await;
    let r = browser
        .post(format!("{}/api/v1/auth/tokens", s.url))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "from-session"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let grandchild = r.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_string();
    let (_, gc) = whoami(&s, &grandchild).await;
    assert_eq!(gc["user_id"], "alice");
    // A token made by a static identity has no parent: revoking Bob's own
    // token touches nothing of Alice's.
    let (bobs, bobs_id, _) = mint(&s, BOB, json!({"name": "bob"})).await;
    let (st, _) =
        call(&client(), Method::DELETE, format!("{}/api/v1/auth/tokens/{bobs_id}", s.url), Some(BOB), None).await;
    assert_eq!(st, 204);
    assert_eq!(whoami(&s, &bobs).await.0, 401);
    assert_eq!(whoami(&s, &child).await.0, 200);

    // Alice revokes the token: the session and every token made with it stop.
    let (st, _) =
        call(&client(), Method::DELETE, format!("{}/api/v1/auth/tokens/{parent_id}", s.url), Some(ALICE), None).await;
    assert_eq!(st, 204);
    assert_eq!(whoami(&s, &parent).await.0, 401);
    assert_eq!(browser_user(&s, &browser).await, Value::Null, "the session made from the token outlived it");
    assert_eq!(whoami(&s, &child).await.0, 401, "a child token outlived its parent");
    assert_eq!(whoami(&s, &grandchild).await.0, 401, "a token made through the session outlived the token");
    // The listing says so: the revocation cascaded to the rows.
    let (_, list) = call(&client(), Method::GET, format!("{}/api/v1/auth/tokens", s.url), Some(ALICE), None).await;
    let tokens = list["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(|t| t["revoked"] == true), "{list}");
    // A revoked token cannot sign in again either.
    let b = Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
    let r = b.post(format!("{}/login", s.url)).form(&[("token", parent.as_str())]).send().await.expect("login");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_token_never_outlives_the_token_it_was_made_with() {
    let s = TestServer::start(&config(NPM)).await;
    let (parent, _, parent_end) = mint(&s, ALICE, json!({"name": "short", "expires_in_days": 1})).await;
    let (child, child_id, child_end) = mint(&s, &parent, json!({"name": "long", "expires_in_days": 365})).await;
    assert!(child_end <= parent_end, "child {child_end} outlives parent {parent_end}");
    assert_eq!(whoami(&s, &child).await.0, 200);
    // Through a browser session made from the short token: capped too, and
    // the session itself ends with the token.
    let (browser, csrf) = browser_signed_in(&s, &parent).await;
    let r = browser
        .post(format!("{}/api/v1/auth/tokens", s.url))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "via-session", "expires_in_days": 365}))
        .send()
        .await
        .expect("post");
    let made: Value = r.json().await.expect("json");
    assert!(epoch_ms(made["expires_at"].as_str().expect("expires")) <= parent_end, "{made}");
    let row = s.app.catalog.get_api_token(&child_id).await.expect("db").expect("row");
    assert!(row.parent_id.is_some() && row.origin.as_deref() == Some("token"), "{row:?}");
    // Revoking the short token ends the long one at once, not in a year.
    let (st, _) = call(
        &client(),
        Method::DELETE,
        format!("{}/api/v1/auth/tokens/{}", s.url, row.parent_id.as_deref().unwrap_or("")),
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(st, 204);
    assert_eq!(whoami(&s, &child).await.0, 401);
}

#[tokio::test]
async fn tokens_made_by_a_jwt_are_short_lived() {
    let idp = FakeIssuer::start().await;
    let s = TestServer::start(&config(&format!(
        "[[auth]]\ntype = \"oidc\"\nname = \"corp\"\nissuer_url = \"{}\"\nclient_id = \"batlehub\"\n{NPM}",
        idp.url
    )))
    .await;
    // A 5-minute JWT asking for a year gets no more than the JWT's life.
    let short = idp.token("batlehub", json!({"sub": "dana", "exp": now() + 300}));
    let (minted, _, end) = mint(&s, &short, json!({"name": "year", "expires_in_days": 365})).await;
    assert!(end <= (now() + 300) * 1000, "a token outlives the JWT that made it");
    assert_eq!(whoami(&s, &minted).await.1["user_id"], "oidc:corp:dana");
    // A JWT that lives a month still mints tokens of at most an hour.
    let long = idp.token("batlehub", json!({"sub": "dana", "exp": now() + 30 * 86_400}));
    let (minted, _, end) = mint(&s, &long, json!({"name": "year", "expires_in_days": 365})).await;
    assert!(end <= (now() + 3600) * 1000 + 5000, "a token made by a JWT lives more than an hour");
    // ...and what that token makes is capped by it in turn.
    let (_, _, grandchild_end) = mint(&s, &minted, json!({"name": "again", "expires_in_days": 365})).await;
    assert!(grandchild_end <= end);
    // The web UI's token sign-in with the JWT: the session lasts no longer.
    let b = Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
    let r = b.post(format!("{}/login", s.url)).form(&[("token", short.as_str())]).send().await.expect("login");
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie").to_string();
    let max_age: i64 = cookie
        .split(';')
        .find_map(|p| p.trim().strip_prefix("Max-Age="))
        .and_then(|v| v.parse().ok())
        .expect("Max-Age");
    assert!(max_age <= 300, "{cookie}");
}

#[tokio::test]
async fn a_static_identity_dropped_from_the_configuration_loses_its_tokens_at_restart() {
    let extra = |ops_role: &str, with_root: bool| {
        let root = if with_root {
            "[[auth.tokens]]\nvalue = \"second-admin-token\"\nrole = \"admin\"\nuser_id = \"root2\"\n"
        } else {
            ""
        };
        format!(
            "[[auth]]\ntype = \"token\"\nname = \"more\"\n{root}[[auth.tokens]]\nvalue = \"ops-token\"\nrole = \"{ops_role}\"\nuser_id = \"ops\"\n{NPM}"
        )
    };
    let s = TestServer::start(&config(&extra("admin", true))).await;
    let (root_token, _, _) = mint(&s, "second-admin-token", json!({"name": "t", "role": "admin"})).await;
    let (root_child, _, _) = mint(&s, &root_token, json!({"name": "child", "role": "admin"})).await;
    let (root_browser, _) = browser_signed_in(&s, "second-admin-token").await;
    // Tokens an admin hands to others stand on that admin too.
    let (st, handed) = call(
        &client(),
        Method::POST,
        format!("{}/api/v1/admin/tokens", s.url),
        Some("second-admin-token"),
        Some(json!({"user_id": "deploy-bot", "name": "handed"})),
    )
    .await;
    assert_eq!(st, 201);
    let handed = handed["token"].as_str().expect("token").to_string();
    let (ops_admin, _, _) = mint(&s, "ops-token", json!({"name": "a", "role": "admin"})).await;
    let (ops_user, _, _) = mint(&s, "ops-token", json!({"name": "u", "role": "user"})).await;
    let (alices, _, _) = mint(&s, ALICE, json!({"name": "kept"})).await;
    for t in [&root_token, &root_child, &handed, &ops_admin, &ops_user, &alices] {
        assert_eq!(whoami(&s, t).await.0, 200);
    }
    assert_eq!(browser_user(&s, &root_browser).await, "root2");
    // The same catalog, a configuration without root2 and with ops demoted.
    let data = s.data.clone();
    let guard = s.stop().await;
    let s = TestServer::start_at(&data, &config(&extra("user", false))).await;
    assert_eq!(whoami(&s, &root_token).await.0, 401, "a removed admin's token still works");
    assert_eq!(whoami(&s, &root_child).await.0, 401);
    assert_eq!(whoami(&s, &handed).await.0, 401, "a token a removed admin handed out still works");
    assert_eq!(browser_user(&s, &root_browser).await, Value::Null, "a removed admin's session still works");
    assert_eq!(whoami(&s, &ops_admin).await.0, 401, "an admin token of a demoted identity still works");
    let (st, who) = whoami(&s, &ops_user).await;
    assert_eq!((st, who["role"].clone()), (200, json!("user")), "a token within the identity's role was kept");
    assert_eq!(whoami(&s, &alices).await.0, 200);
    assert_eq!(whoami(&s, ADMIN).await.0, 200);
    drop(guard);
}

#[tokio::test]
async fn tokens_from_before_lineage_tracking_are_sorted_out_at_start_up() {
    let s = TestServer::start(&config(NPM)).await;
    let id = &s.app.identity;
    use batlehub::access::Role;
    // As an earlier version stored them: no origin; the provider column
    // names who minted it.
    let (from_static, a) = id.create_api_token("a", "alice", Role::User, &[], "token", None).await.expect("token");
    let (from_oidc, b) = id.create_api_token("b", "alice", Role::User, &[], "oidc", None).await.expect("token");
    let (from_token, c) = id.create_api_token("c", "bob", Role::User, &[], "api-token", None).await.expect("token");
    let (from_cli, d) = id.create_api_token("d", "deploy", Role::User, &[], "cli", None).await.expect("token");
    let (gone_static, e) = id.create_api_token("e", "mallory", Role::Admin, &[], "token", None).await.expect("token");
    let url = s.app.config.database.url.clone();
    let data = s.data.clone();
    let guard = s.stop().await;
    {
        sqlx::any::install_default_drivers();
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
        for row in [&a, &b, &c, &d, &e] {
            sqlx::query("UPDATE api_tokens SET origin = NULL WHERE id = $1")
                .bind(&row.id)
                .execute(&mut conn)
                .await
                .expect("update");
        }
        conn.close().await.expect("close");
    }
    let s = TestServer::start_at(&data, &config(NPM)).await;
    assert_eq!(whoami(&s, &from_static).await.1["user_id"], "alice", "a static identity's token was revoked");
    assert_eq!(whoami(&s, &from_cli).await.0, 200, "a token from `batlehub token create` was revoked");
    assert_eq!(whoami(&s, &from_oidc).await.0, 401, "a provider's token with an unscoped user id still works");
    assert_eq!(whoami(&s, &from_token).await.0, 401, "a token made by a token, of unknown parent, still works");
    assert_eq!(whoami(&s, &gone_static).await.0, 401, "a token of a static identity not configured still works");
    drop(guard);
}

#[tokio::test]
async fn a_provider_subject_named_like_a_static_user_is_not_that_user() {
    let idp = FakeIssuer::start().await;
    let s = TestServer::start(&config(&format!(
        "[[auth]]\ntype = \"oidc\"\nname = \"corp\"\nissuer_url = \"{}\"\nclient_id = \"batlehub\"\n{NPM}",
        idp.url
    )))
    .await;
    let c = client();
    let reg = s.reg("internal");
    // Static Alice publishes a package and keeps a token.
    assert_eq!(publish(&c, &reg, ALICE, "alices-lib", "1.0.0").await.0, 201);
    let (_, alices_token_id, _) = mint(&s, ALICE, json!({"name": "alices"})).await;
    // Someone at the IdP whose subject is "alice".
    let jwt = idp.token("batlehub", json!({"sub": "alice"}));
    let (_, who) = whoami(&s, &jwt).await;
    assert_eq!(who["user_id"], "oidc:corp:alice");
    assert_eq!(
        publish(&c, &reg, &jwt, "alices-lib", "1.0.1").await.0,
        403,
        "the OIDC subject owns static alice's package"
    );
    let (_, list) = call(&c, Method::GET, format!("{}/api/v1/auth/tokens", s.url), Some(&jwt), None).await;
    assert_eq!(list["tokens"], json!([]), "the OIDC subject lists static alice's tokens");
    let (st, _) =
        call(&c, Method::DELETE, format!("{}/api/v1/auth/tokens/{alices_token_id}", s.url), Some(&jwt), None).await;
    assert_eq!(st, 404, "the OIDC subject revokes static alice's token");
    // The same through the browser: a session of the subject is not Alice's.
    let (browser, _) = browser_signed_in(&s, &jwt).await;
    assert_eq!(browser_user(&s, &browser).await, "oidc:corp:alice");
    // Tokens the subject mints are its own, under its scoped id.
    let (minted, _, _) = mint(&s, &jwt, json!({"name": "mine"})).await;
    assert_eq!(publish(&c, &reg, &minted, "alices-lib", "1.0.1").await.0, 403);
    assert_eq!(s.app.catalog.list_api_tokens("alice").await.expect("db").len(), 1);
    assert_eq!(s.app.catalog.list_api_tokens("oidc:corp:alice").await.expect("db").len(), 1);
    // Mapping one person across providers is explicit: an owner adds the
    // scoped id (here through the catalog, as `cargo owner --add` does).
    let pkg = s.app.catalog.get_package("internal", "alices-lib").await.expect("db").expect("package");
    s.app.catalog.add_owner(&pkg.id, false, "oidc:corp:alice", batlehub::catalog::ANY_WRITER).await.expect("owner");
    assert_eq!(publish(&c, &reg, &jwt, "alices-lib", "1.0.1").await.0, 201);
}
