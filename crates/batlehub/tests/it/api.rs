//! The JSON API: API tokens (self-service, admin, CLI), namespace claims,
//! the caller's namespaces and package visibility.

use base64::Engine;
use serde_json::{Value, json};

use crate::support::npm::publish;
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, config};

fn registries() -> String {
    config(
        r#"
[[registries]]
type = "npm"
name = "internal"
mode = "local"
[[registries.namespaces]]
prefix = "@frontend/"
group = "oidc:front end"

[[registries]]
type = "cargo"
name = "crates"
mode = "local"
"#,
    )
}

async fn api(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
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

#[tokio::test]
async fn token_lifecycle() {
    let s = TestServer::start(&registries()).await;
    let c = client();
    let tokens = format!("{}/api/v1/auth/tokens", s.url);
    use reqwest::Method;
    // Validation, each a JSON error.
    for (body, status) in [
        (json!({"name": "x", "expires_in_days": 0}), 400),
        (json!({"name": "x", "expires_in_days": 366}), 400),
        (json!({"name": "x".repeat(101)}), 400),
        (json!({"name": ""}), 400),
        (json!({"name": "x", "role": "admin"}), 403),
        (json!({"name": "x", "role": "root"}), 400),
        (json!({"nom": "x"}), 400),
    ] {
        let (st, err) = api(&c, Method::POST, tokens.clone(), Some(ALICE), Some(body.clone())).await;
        assert_eq!(st, status, "{body}");
        assert!(err["error"].is_string() && err["message"].is_string(), "{err}");
    }
    assert_eq!(api(&c, Method::POST, tokens.clone(), None, Some(json!({"name": "x"}))).await.0, 401);
    // Alice mints a token; it carries her groups.
    let (st, created) = api(
        &c,
        Method::POST,
        tokens.clone(),
        Some(ALICE),
        Some(json!({"name": "my-laptop", "expires_in_days": 90, "role": "user"})),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    let secret = created["token"].as_str().expect("token").to_string();
    assert!(secret.starts_with("bh_"));
    for k in ["id", "name", "role", "expires_at", "created_at"] {
        assert!(created[k].is_string(), "{k}: {created}");
    }
    assert_eq!(created["groups"], json!(["oidc:myorg"]));
    // It works in every credential form.
    let whoami = format!("{}/-/whoami", s.reg("internal"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("__token__:{secret}"));
    for (h, v) in [
        ("authorization", format!("Bearer {secret}")),
        ("authorization", format!("Basic {b64}")),
        ("authorization", secret.clone()),
    ] {
        let r = c.get(&whoami).header(h, &v).send().await.expect("get");
        assert_eq!(r.json::<Value>().await.expect("json")["username"], "alice", "{h}");
    }
    // Its groups work for namespaces: @myorg claimed by oidc:myorg.
    s.app.catalog.add_claim("internal", "@myorg/", "oidc:myorg", None).await.expect("claim");
    assert_eq!(publish(&c, &s.reg("internal"), &secret, "@myorg/from-token", "1.0.0").await.0, 201);
    // Listing never shows the secret, and shows the last use.
    s.app.flush().await;
    let (_, list) = api(&c, Method::GET, tokens.clone(), Some(ALICE), None).await;
    let listed = &list["tokens"][0];
    assert_eq!(listed["name"], "my-laptop");
    assert!(listed.get("token").is_none());
    assert!(!list.to_string().contains(&secret));
    assert!(listed["last_used_at"].is_string(), "{list}");
    // Bob cannot revoke Alice's token; Alice can.
    let id = created["id"].as_str().expect("id");
    assert_eq!(api(&c, Method::DELETE, format!("{tokens}/{id}"), Some(BOB), None).await.0, 404);
    assert_eq!(api(&c, Method::DELETE, format!("{tokens}/{id}"), Some(ALICE), None).await.0, 204);
    assert_eq!(c.get(&whoami).bearer_auth(&secret).send().await.expect("get").status(), 401);
    // A token cannot mint a token above its own role.
    let (_, t) = api(&c, Method::POST, tokens.clone(), Some(BOB), Some(json!({"name": "b"}))).await;
    let bob_token = t["token"].as_str().expect("token").to_string();
    assert_eq!(
        api(&c, Method::POST, tokens.clone(), Some(&bob_token), Some(json!({"name": "c", "role": "admin"}))).await.0,
        403
    );
    assert_eq!(api(&c, Method::POST, tokens.clone(), Some(&bob_token), Some(json!({"name": "c"}))).await.0, 201);
}

#[tokio::test]
async fn admins_mint_tokens_for_service_users() {
    let s = TestServer::start(&registries()).await;
    let c = client();
    use reqwest::Method;
    let url = format!("{}/api/v1/admin/tokens", s.url);
    let body = json!({"user_id": "ci-bot", "groups": ["github-actions/myorg-repo/main"], "role": "user", "name": "ci", "expires_in_days": 30});
    assert_eq!(api(&c, Method::POST, url.clone(), Some(BOB), Some(body.clone())).await.0, 403);
    assert_eq!(api(&c, Method::POST, url.clone(), None, Some(body.clone())).await.0, 401);
    let (st, created) = api(&c, Method::POST, url.clone(), Some(ADMIN), Some(body)).await;
    assert_eq!(st, 201, "{created}");
    let secret = created["token"].as_str().expect("token");
    let (_, me) = api(&c, Method::GET, format!("{}/api/v1/me", s.url), Some(secret), None).await;
    assert_eq!(me["user_id"], "ci-bot");
    assert_eq!(me["groups"], json!(["github-actions/myorg-repo/main"]));
    assert_eq!(api(&c, Method::POST, url, Some(ADMIN), Some(json!({"user_id": "", "name": "x"}))).await.0, 400);
}

#[tokio::test]
async fn the_cli_hands_out_tokens_offline() {
    let dir = tempfile::tempdir().expect("dir");
    // Exactly what the server below runs with (its catalog may be PostgreSQL).
    let text = crate::support::config_text(dir.path(), &registries()).await;
    let cfg = dir.path().join("batlehub.toml");
    std::fs::write(&cfg, &text).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
        .args(["token", "create", "--config"])
        .arg(&cfg)
        .args(["--user", "deploy", "--role", "user", "--group", "oidc:myorg", "--days", "7", "--name", "deploy-key"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(secret.starts_with("bh_"), "{secret}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only this once"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
        .args(["token", "create", "--config"])
        .arg(&cfg)
        .args(["--user", "x", "--days", "400"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    let s = TestServer::start_at(dir.path(), &registries()).await;
    let (_, me) = api(&client(), reqwest::Method::GET, format!("{}/api/v1/me", s.url), Some(&secret), None).await;
    assert_eq!(me["user_id"], "deploy");
    assert_eq!(me["groups"], json!(["oidc:myorg"]));
}

#[tokio::test]
async fn admins_list_and_revoke_any_users_tokens() {
    let s = TestServer::start(&registries()).await;
    let c = client();
    use reqwest::Method;
    let mine = format!("{}/api/v1/auth/tokens", s.url);
    let admin = format!("{}/api/v1/admin/tokens", s.url);
    let mut alices = Vec::new();
    for name in ["laptop", "ci"] {
        let (_, t) = api(&c, Method::POST, mine.clone(), Some(ALICE), Some(json!({"name": name}))).await;
        alices.push((t["id"].as_str().expect("id").to_string(), t["token"].as_str().expect("token").to_string()));
    }
    let (_, t) = api(&c, Method::POST, mine.clone(), Some(BOB), Some(json!({"name": "bobs"}))).await;
    let bobs = t["token"].as_str().expect("token").to_string();
    let (_, alices_child) =
        api(&c, Method::POST, mine.clone(), Some(&alices[0].1), Some(json!({"name": "child"}))).await;
    let alices_child = alices_child["token"].as_str().expect("token").to_string();
    let works = |token: String| {
        let c = c.clone();
        let url = format!("{}/api/v1/me", s.url);
        async move { api(&c, Method::GET, url, Some(&token), None).await.0 == 200 }
    };
    // Only admins: 401 without credentials, 403 for a user (and a user's token).
    let list_alice = format!("{admin}?user_id=alice");
    assert_eq!(api(&c, Method::GET, list_alice.clone(), None, None).await.0, 401);
    assert_eq!(api(&c, Method::GET, list_alice.clone(), Some(BOB), None).await.0, 403);
    assert_eq!(api(&c, Method::GET, list_alice.clone(), Some(&bobs), None).await.0, 403);
    let one = format!("{admin}/{}", alices[1].0);
    assert_eq!(api(&c, Method::DELETE, one.clone(), Some(BOB), None).await.0, 403);
    assert_eq!(api(&c, Method::DELETE, list_alice.clone(), Some(BOB), None).await.0, 403);
    assert!(works(alices[1].1.clone()).await, "a user revoked another user's token");
    // The admin lists Alice's tokens (no secrets), and everybody's.
    let (st, list) = api(&c, Method::GET, list_alice.clone(), Some(ADMIN), None).await;
    assert_eq!(st, 200, "{list}");
    let listed = list["tokens"].as_array().expect("tokens");
    assert_eq!(listed.len(), 3, "{list}");
    assert!(listed.iter().all(|t| t["user_id"] == "alice" && t.get("token").is_none()), "{list}");
    let (_, all) = api(&c, Method::GET, admin.clone(), Some(ADMIN), None).await;
    assert_eq!(all["tokens"].as_array().expect("tokens").len(), 4);
    // Bad input: 400 with the API's JSON error.
    for bad in [format!("{admin}?user_id="), format!("{admin}?bogus=1")] {
        let (st, err) = api(&c, Method::GET, bad.clone(), Some(ADMIN), None).await;
        assert_eq!(st, 400, "{bad}: {err}");
        assert!(err["error"].is_string() && err["message"].is_string(), "{err}");
    }
    let (st, err) = api(&c, Method::DELETE, admin.clone(), Some(ADMIN), None).await;
    assert_eq!(st, 400, "revoking by user needs user_id: {err}");
    assert!(err["message"].as_str().unwrap_or("").contains("user_id"), "{err}");
    // Revoke one token of Alice's.
    assert_eq!(api(&c, Method::DELETE, one.clone(), Some(ADMIN), None).await.0, 204);
    assert!(!works(alices[1].1.clone()).await);
    assert!(works(alices[0].1.clone()).await);
    assert_eq!(api(&c, Method::DELETE, one, Some(ADMIN), None).await.0, 404, "already revoked");
    assert_eq!(api(&c, Method::DELETE, format!("{admin}/nope"), Some(ADMIN), None).await.0, 404);
    // Revoke everything of Alice's: her other token and what was made with it.
    let (st, done) = api(&c, Method::DELETE, list_alice.clone(), Some(ADMIN), None).await;
    assert_eq!(st, 200, "{done}");
    assert_eq!(done["revoked_tokens"], 2, "{done}");
    assert!(!works(alices[0].1.clone()).await);
    assert!(!works(alices_child).await);
    assert!(works(bobs).await, "Bob's token went with Alice's");
    let (_, list) = api(&c, Method::GET, list_alice, Some(ADMIN), None).await;
    assert!(list["tokens"].as_array().expect("tokens").iter().all(|t| t["active"] == false), "{list}");
}

#[tokio::test]
async fn the_cli_lists_and_revokes_any_users_tokens() {
    let dir = tempfile::tempdir().expect("dir");
    let text = crate::support::config_text(dir.path(), &registries()).await;
    let cfg = dir.path().join("batlehub.toml");
    std::fs::write(&cfg, &text).expect("write");
    let s = TestServer::start_at(dir.path(), &registries()).await;
    let c = client();
    use reqwest::Method;
    let mine = format!("{}/api/v1/auth/tokens", s.url);
    let mut made = Vec::new();
    for (who, name) in [(ALICE, "alice-1"), (ALICE, "alice-2"), (BOB, "bob-1")] {
        let (_, t) = api(&c, Method::POST, mine.clone(), Some(who), Some(json!({"name": name}))).await;
        made.push((t["id"].as_str().expect("id").to_string(), t["token"].as_str().expect("token").to_string()));
    }
    let works = |token: &str| {
        let (c, url, token) = (c.clone(), format!("{}/api/v1/me", s.url), token.to_string());
        async move { api(&c, Method::GET, url, Some(&token), None).await.0 == 200 }
    };
    // A revocation by another process (the CLI) holds within CHANGE_BOUND
    // on a server that had the token in memory.
    let gone = |token: &str| {
        let token = token.to_string();
        let works = &works;
        async move {
            crate::support::within_change_bound("revocation", || async { !works(&token).await }).await;
            true
        }
    };
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
            .args(["token"])
            .args(&args[..1])
            .arg("--config")
            .arg(&cfg)
            .args(&args[1..])
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, listed, err) = cli(&["list", "--user", "alice"]);
    assert!(ok, "{err}");
    assert!(listed.contains(&made[0].0) && listed.contains(&made[1].0) && !listed.contains(&made[2].0), "{listed}");
    assert!(listed.contains("alice-1") && !listed.contains("bh_"), "{listed}");
    let (ok, everyone, _) = cli(&["list"]);
    assert!(ok && everyone.contains("bob-1"), "{everyone}");
    // One token by id, while the server runs (and has it in memory).
    assert!(works(&made[0].1).await);
    let (ok, _, err) = cli(&["revoke", "--id", &made[0].0]);
    assert!(ok, "{err}");
    assert!(gone(&made[0].1).await);
    assert!(works(&made[1].1).await);
    let (ok, listed, _) = cli(&["list", "--user", "alice"]);
    assert!(ok && listed.contains("revoked"), "{listed}");
    // Every token of a user.
    let (ok, said, err) = cli(&["revoke", "--user", "alice"]);
    assert!(ok, "{err}");
    assert!(said.contains("revoked 1 token"), "{said}");
    assert!(gone(&made[1].1).await);
    assert!(works(&made[2].1).await);
    // Mistakes exit non-zero with a message.
    let (ok, _, err) = cli(&["revoke", "--id", "no-such-id"]);
    assert!(!ok && err.contains("no active token"), "{err}");
    let (ok, _, _) = cli(&["revoke"]);
    assert!(!ok);
}

#[tokio::test]
async fn namespace_claims_and_the_callers_view() {
    let s = TestServer::start(&registries()).await;
    let c = client();
    use reqwest::Method;
    let claims = format!("{}/api/v1/admin/registries/internal/namespaces", s.url);
    // The config's claim is listed; only admins see or change claims.
    assert_eq!(api(&c, Method::GET, claims.clone(), Some(BOB), None).await.0, 403);
    let (_, list) = api(&c, Method::GET, claims.clone(), Some(ADMIN), None).await;
    assert_eq!(
        list["namespaces"][0],
        json!({"registry": "internal", "prefix": "@frontend/", "group": "oidc:frontend", "claimed_by": "config", "source": "config"})
    );
    let (st, made) =
        api(&c, Method::POST, claims.clone(), Some(ADMIN), Some(json!({"prefix": "@myorg/", "group": "oidc:my org"})))
            .await;
    assert_eq!(st, 201);
    assert_eq!(made["group"], "oidc:myorg");
    assert_eq!(
        api(&c, Method::POST, claims.clone(), Some(ADMIN), Some(json!({"prefix": "@myorg/", "group": "x"}))).await.0,
        409
    );
    assert_eq!(
        api(&c, Method::POST, claims.clone(), Some(ADMIN), Some(json!({"prefix": "", "group": "x"}))).await.0,
        400
    );
    assert_eq!(
        api(
            &c,
            Method::POST,
            format!("{}/api/v1/admin/registries/nosuch/namespaces", s.url),
            Some(ADMIN),
            Some(json!({"prefix": "a", "group": "b"}))
        )
        .await
        .0,
        404
    );
    // Another spelling of a claimed scope is the same claim.
    assert_eq!(
        api(&c, Method::POST, claims.clone(), Some(ADMIN), Some(json!({"prefix": "@MyOrg/", "group": "x"}))).await.0,
        409
    );
    // Cargo claims are prefixes of the normalised name, stored normalised;
    // what no crate name can start with is refused.
    let cargo_claims = format!("{}/api/v1/admin/registries/crates/namespaces", s.url);
    let (st, made) = api(
        &c,
        Method::POST,
        cargo_claims.clone(),
        Some(ADMIN),
        Some(json!({"prefix": "MyOrg_", "group": "oidc:myorg"})),
    )
    .await;
    assert_eq!(st, 201, "{made}");
    assert_eq!(made["prefix"], "myorg-");
    let (st, refused) =
        api(&c, Method::POST, cargo_claims, Some(ADMIN), Some(json!({"prefix": "my.org", "group": "oidc:myorg"})))
            .await;
    assert_eq!(st, 400);
    assert!(refused.to_string().contains("crate names are ASCII letters"), "{refused}");
    // Alice (oidc:myorg) publishes under her namespace; bob cannot.
    let reg = s.reg("internal");
    assert_eq!(publish(&c, &reg, ALICE, "@myorg/ui", "1.0.0").await.0, 201);
    assert_eq!(publish(&c, &reg, ALICE, "@myorg/ui", "1.1.0").await.0, 201);
    assert_eq!(publish(&c, &reg, BOB, "@myorg/evil", "1.0.0").await.0, 403);
    // Her view: every claim of her groups, with counts.
    let (_, mine) = api(&c, Method::GET, format!("{}/api/v1/me/namespaces", s.url), Some(ALICE), None).await;
    assert_eq!(
        mine,
        json!([
            {"registry": "crates", "prefix": "myorg-", "group": "oidc:myorg", "package_count": 0},
            {"registry": "internal", "prefix": "@myorg/", "group": "oidc:myorg", "package_count": 1}
        ])
    );
    let (_, none) = api(&c, Method::GET, format!("{}/api/v1/me/namespaces", s.url), Some(BOB), None).await;
    assert_eq!(none, json!([]));
    // The packages of a namespace; the prefix travels percent-encoded.
    let url = format!("{}/api/v1/me/namespaces/internal/%40myorg%2F/packages?page=1&per_page=50", s.url);
    let (st, page) = api(&c, Method::GET, url.clone(), Some(ALICE), None).await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["name"], "@myorg/ui");
    assert_eq!(page["items"][0]["version"], "1.1.0");
    assert_eq!(page["items"][0]["visibility"], "public");
    assert_eq!(page["items"][0]["published_by"], "alice");
    assert_eq!(api(&c, Method::GET, url, Some(BOB), None).await.0, 403);
    // Claims made through the API can be deleted; the config's cannot.
    assert_eq!(api(&c, Method::DELETE, format!("{claims}/%40myorg%2F"), Some(ADMIN), None).await.0, 204);
    assert_eq!(api(&c, Method::DELETE, format!("{claims}/%40frontend%2F"), Some(ADMIN), None).await.0, 409);
    assert_eq!(api(&c, Method::DELETE, format!("{claims}/nothing"), Some(ADMIN), None).await.0, 404);
}

#[tokio::test]
async fn visibility_is_changed_by_owners_members_and_admins() {
    let s = TestServer::start(&registries()).await;
    let c = client();
    use reqwest::Method;
    s.app.catalog.add_claim("internal", "@myorg/", "oidc:myorg", None).await.expect("claim");
    let reg = s.reg("internal");
    assert_eq!(publish(&c, &reg, ADMIN, "@myorg/lib", "1.0.0").await.0, 201);
    assert_eq!(publish(&c, &reg, BOB, "plain", "1.0.0").await.0, 201);
    let vis = |name: &str| format!("{}/api/v1/registries/internal/packages/{name}/visibility", s.url);
    // Alice is in the claiming group (not an owner): allowed.
    let (st, v) = api(&c, Method::PUT, vis("%40myorg%2Flib"), Some(ALICE), Some(json!({"visibility": "team"}))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!({"registry": "internal", "name": "@myorg/lib", "visibility": "team"}));
    // The change is enforced on the protocol surface at once.
    assert_eq!(c.get(format!("{reg}/@myorg%2flib")).bearer_auth(BOB).send().await.expect("get").status(), 404);
    assert_eq!(c.get(format!("{reg}/@myorg%2flib")).bearer_auth(ALICE).send().await.expect("get").status(), 200);
    // Bob sees nothing of it, not even through the API.
    assert_eq!(
        api(&c, Method::PUT, vis("%40myorg%2Flib"), Some(BOB), Some(json!({"visibility": "public"}))).await.0,
        404
    );
    assert_eq!(api(&c, Method::GET, vis("%40myorg%2Flib"), Some(BOB), None).await.0, 404);
    // Bob owns `plain`: he may make it internal, but not team (no claim).
    assert_eq!(api(&c, Method::PUT, vis("plain"), Some(BOB), Some(json!({"visibility": "internal"}))).await.0, 200);
    assert_eq!(api(&c, Method::PUT, vis("plain"), Some(BOB), Some(json!({"visibility": "team"}))).await.0, 409);
    assert_eq!(api(&c, Method::PUT, vis("plain"), Some(ALICE), Some(json!({"visibility": "public"}))).await.0, 403);
    assert_eq!(api(&c, Method::PUT, vis("plain"), Some(BOB), Some(json!({"visibility": "secret"}))).await.0, 400);
    assert_eq!(api(&c, Method::PUT, vis("plain"), None, Some(json!({"visibility": "public"}))).await.0, 401);
    assert_eq!(api(&c, Method::PUT, vis("nosuch"), Some(ADMIN), Some(json!({"visibility": "public"}))).await.0, 404);
    let (_, v) = api(&c, Method::GET, vis("plain"), Some(ALICE), None).await;
    assert_eq!(v["visibility"], "internal");
    assert_eq!(c.get(format!("{reg}/plain")).send().await.expect("get").status(), 401);
}
