//! The web UI's routes over HTTP: every page's status and key content, the
//! token sign-in and session cookie, CSRF rejection (forms and the JSON
//! API), escaping of hostile input, visibility and upload forms, pagination
//! and what the package browser hides.

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

use crate::support::pypi::{upload, wheel, wheel_name};
use crate::support::{ADMIN, ALICE, BOB, TestServer, config};

/// The registries of the web UI tests (the browser test uses them too).
pub const REGISTRIES: &str = r#"
[[registries]]
type = "pypi"
name = "private"
mode = "local"
namespaces = [{ prefix = "acme-", group = "oidc:my org" }]
[registries.rbac]
anonymous = ["releases:read", "source:read"]
user = ["releases:read", "source:read", "releases:write"]

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["http://127.0.0.1:9/"]
members = ["npm-local"]

[[registries]]
type = "cargo"
name = "internal"
mode = "local"

[[registries]]
type = "npm"
name = "npm-local"
mode = "local"
namespaces = [{ prefix = "@acme/", group = "oidc:my org" }]

[[registries]]
type = "pypi"
name = "pypi"
mode = "proxy"
members = ["private"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]
user = ["releases:read", "source:read"]
"#;

async fn server() -> TestServer {
    TestServer::start(&config(REGISTRIES)).await
}

fn browser() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client")
}

async fn text(c: &Client, url: &str) -> (StatusCode, String) {
    let r = c.get(url).send().await.expect("get");
    (r.status(), r.text().await.expect("body"))
}

/// A browser signed in with `token`; returns it and the session's CSRF token.
async fn signed_in(s: &TestServer, token: &str) -> (Client, String) {
    let c = browser();
    let r =
        c.post(format!("{}/login", s.url)).form(&[("token", token), ("return_to", "/")]).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(
        cookie.starts_with("batlehub_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let (status, body) = text(&c, &format!("{}/settings/tokens", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    (c, csrf_of(&body))
}

fn csrf_of(body: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{40})""#).expect("re");
    re.captures(body).map(|c| c[1].to_string()).unwrap_or_else(|| panic!("no csrf field in {body}"))
}

#[tokio::test]
async fn every_page_renders_with_security_headers() {
    let s = server().await;
    let anon = browser();
    let r = anon.get(format!("{}/", s.url)).send().await.expect("home");
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(h.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    assert_eq!(h.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    assert!(h.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/html"));
    let home = r.text().await.expect("body");
    for want in ["private", "internal", "Packages", "Setup Guide", "My namespace", "Settings", "Sign in"] {
        assert!(home.contains(want), "home lacks {want}");
    }
    assert!(!home.contains("Admin"));

    let (status, login) = text(&anon, &format!("{}/login", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        login.contains(r#"type="password""#)
            && login.contains(r#"name="token""#)
            && login.contains(">Sign in</button>"),
        "{login}"
    );

    let (status, setup) = text(&anon, &format!("{}/setup", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(setup.contains(&format!("{}/proxy/private/simple/", s.url)));
    assert!(setup.contains(&format!("sparse+{}/proxy/internal/registry/", s.url)));
    assert!(setup.contains(&format!("registry={}/proxy/npm/", s.url)));
    assert!(setup.contains("twine upload"), "publish instructions for the local PyPI registry");

    let (status, _) = text(&anon, &format!("{}/packages", s.url)).await;
    assert_eq!(status, StatusCode::OK);

    // Pages that need a user send the browser to sign in, and back.
    for path in ["/my-namespace", "/settings/tokens", "/admin/namespaces"] {
        let r = anon.get(format!("{}{path}", s.url)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(to.starts_with("/login?return_to=%2F"), "{path} → {to}");
    }
    let css = anon.get(format!("{}/ui/app-{}.css", s.url, env!("CARGO_PKG_VERSION"))).send().await.expect("css");
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["content-type"].to_str().unwrap_or("").starts_with("text/css"));
    assert_eq!(anon.get(format!("{}/ui/other.js", s.url)).send().await.expect("js").status(), StatusCode::NOT_FOUND);

    // Signed in: the user's pages; admin pages for admins only.
    let (alice, _) = signed_in(&s, ALICE).await;
    let (status, ns) = text(&alice, &format!("{}/my-namespace", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ns.contains("oidc:myorg")
            && ns.contains("acme-")
            && ns.contains("Upload package")
            && ns.contains("CLI instructions"),
        "{ns}"
    );
    assert!(ns.contains("cargo publish --registry internal"), "CLI instructions for cargo");
    let (status, _) = text(&alice, &format!("{}/admin/namespaces", s.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (admin, _) = signed_in(&s, ADMIN).await;
    let (status, page) = text(&admin, &format!("{}/admin/namespaces", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("acme-") && page.contains("configuration file"));
}

/// The claim page says where each claim was made (the configuration file,
/// the API or the web UI) and offers only registries that take publishes.
#[tokio::test]
async fn claims_say_where_they_were_made_and_the_form_offers_publishing_registries() {
    let s = server().await;
    let (admin, csrf) = signed_in(&s, ADMIN).await;
    let r = admin
        .post(format!("{}/admin/namespaces", s.url))
        .form(&[("registry", "internal"), ("prefix", "webteam-"), ("group", "oidc:web"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("claim");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = Client::new()
        .post(format!("{}/api/v1/admin/registries/internal/namespaces", s.url))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "prefix": "apiteam-", "group": "oidc:api" }))
        .send()
        .await
        .expect("api claim");
    assert!(r.status().is_success(), "{}", r.status());
    let (_, page) = text(&admin, &format!("{}/admin/namespaces", s.url)).await;
    let row = |prefix: &str| {
        let doc = scraper::Html::parse_document(&page);
        let sel = scraper::Selector::parse("tbody tr").expect("selector");
        doc.select(&sel)
            .map(|tr| tr.text().collect::<Vec<_>>().join("|"))
            .find(|t| t.contains(prefix))
            .unwrap_or_else(|| panic!("no row for {prefix}: {page}"))
    };
    assert!(row("webteam-").contains("web UI · "), "{}", row("webteam-"));
    assert!(row("apiteam-").contains("API · "), "{}", row("apiteam-"));
    assert!(row("acme-").contains("configuration file"), "{}", row("acme-"));
    let api: serde_json::Value = Client::new()
        .get(format!("{}/api/v1/admin/registries/internal/namespaces", s.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let sources: Vec<(&str, &str)> = api["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|c| (c["prefix"].as_str().unwrap_or(""), c["source"].as_str().unwrap_or("")))
        .collect();
    assert!(sources.contains(&("webteam-", "ui")) && sources.contains(&("apiteam-", "api")), "{api}");
    // The form's registry choices: local and hybrid registries only.
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse(r#"select[name="registry"] option"#).expect("selector");
    let options: Vec<String> = doc.select(&sel).filter_map(|o| o.value().attr("value").map(str::to_string)).collect();
    assert_eq!(options, ["private", "internal", "npm-local"], "{page}");
}

#[tokio::test]
async fn token_sign_in_tokens_page_and_csrf() {
    let s = server().await;
    let anon = browser();
    let r = anon.post(format!("{}/login", s.url)).form(&[("token", "wrong-token")]).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.expect("body").contains("not accepted"));
    // A sign-in posted from another origin is refused.
    let r = anon
        .post(format!("{}/login", s.url))
        .header("origin", "http://evil.example")
        .form(&[("token", ALICE)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (alice, csrf) = signed_in(&s, ALICE).await;
    let tokens = format!("{}/settings/tokens", s.url);
    // Without the CSRF field, or with another's: 403, nothing created.
    let r = alice.post(&tokens).form(&[("name", "x")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = alice.post(&tokens).form(&[("name", "x"), ("csrf", &"0".repeat(40))]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = alice
        .post(&tokens)
        .header("origin", "http://evil.example")
        .form(&[("name", "x"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.app.catalog.list_api_tokens("alice").await.expect("db").len(), 0);

    // A role above one's own is refused; the defaults make a user token for 90 days.
    let r = alice
        .post(&tokens)
        .form(&[("name", "x"), ("role", "admin"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = alice
        .post(&tokens)
        .header("origin", s.url.as_str())
        .form(&[("name", "laptop"), ("expires_in_days", "90"), ("role", "user"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = r.text().await.expect("body");
    let secret = regex::Regex::new(r"bh_[A-Za-z0-9]{40}")
        .expect("re")
        .find(&body)
        .map(|m| m.as_str().to_string())
        .expect("token shown");
    assert!(body.contains(&format!("export BATLEHUB_TOKEN={secret}")));
    let rows = s.app.catalog.list_api_tokens("alice").await.expect("db");
    assert_eq!(rows.len(), 1);
    // The expiry is reckoned from the request's clock, the creation time from
    // the insert's, a millisecond or so later: round to whole days.
    let days = (rows[0].expires_at.unwrap_or(0) - rows[0].created_at + 43_200_000) / 86_400_000;
    assert_eq!(days, 90);
    assert_eq!(rows[0].role, "user");
    // Listed, never shown again.
    let (_, list) = text(&alice, &tokens).await;
    assert!(list.contains("laptop") && !list.contains(&secret));
    // The session may mint tokens through the JSON API too, with the CSRF header.
    let api = format!("{}/api/v1/auth/tokens", s.url);
    let r = alice.post(&api).json(&serde_json::json!({"name": "via-api"})).send().await.expect("api");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a cookie-authenticated API write without X-CSRF-Token");
    let r = alice
        .post(&api)
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"name": "via-api"}))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::CREATED);
    // Bearer tokens are not cookies: no CSRF token needed.
    let r = Client::new()
        .post(&api)
        .bearer_auth(&secret)
        .json(&serde_json::json!({"name": "from-ci"}))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::CREATED);

    // Revoke through the form.
    let id = rows[0].id.clone();
    let r = alice.post(format!("{tokens}/{id}/revoke")).form(&[("csrf", "nope")]).send().await.expect("revoke");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = alice.post(format!("{tokens}/{id}/revoke")).form(&[("csrf", csrf.as_str())]).send().await.expect("revoke");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = Client::new().get(format!("{}/api/v1/me", s.url)).bearer_auth(&secret).send().await.expect("me");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Sign out: CSRF-checked, then the session is gone.
    let r = alice.post(format!("{}/logout", s.url)).form(&[("csrf", "nope")]).send().await.expect("logout");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = alice.post(format!("{}/logout", s.url)).form(&[("csrf", csrf.as_str())]).send().await.expect("logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(alice.get(&tokens).send().await.expect("get").status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn admins_list_and_revoke_a_users_tokens_in_the_ui() {
    let s = server().await;
    let api = format!("{}/api/v1/auth/tokens", s.url);
    let mint = |name: &'static str| {
        let api = api.clone();
        async move {
            let r = Client::new().post(&api).bearer_auth(ALICE).json(&serde_json::json!({"name": name})).send().await;
            let v: serde_json::Value = r.expect("post").json().await.expect("json");
            (v["id"].as_str().expect("id").to_string(), v["token"].as_str().expect("token").to_string())
        }
    };
    let (first_id, first) = mint("alices-laptop").await;
    let (_, second) = mint("alices-ci").await;
    let works = |token: String| {
        let url = format!("{}/api/v1/me", s.url);
        async move { Client::new().get(url).bearer_auth(token).send().await.expect("me").status() == StatusCode::OK }
    };
    let page = format!("{}/admin/tokens?user_id=alice", s.url);
    // Not for users; anonymous browsers are sent to sign in.
    let (alice, alice_csrf) = signed_in(&s, ALICE).await;
    assert_eq!(text(&alice, &page).await.0, StatusCode::FORBIDDEN);
    let r = alice
        .post(format!("{}/admin/tokens/{first_id}/revoke", s.url))
        .form(&[("csrf", alice_csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(works(first.clone()).await);
    assert_eq!(browser().get(&page).send().await.expect("get").status(), StatusCode::SEE_OTHER);
    // The admin finds Alice's tokens; the admin pages link to each other.
    let (admin, csrf) = signed_in(&s, ADMIN).await;
    let (status, body) = text(&admin, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("alices-laptop") && body.contains("alices-ci") && !body.contains(&first), "{body}");
    assert!(body.contains(&format!("/admin/tokens/{first_id}/revoke")) && body.contains("/admin/tokens/revoke-user"));
    assert!(text(&admin, &format!("{}/admin/namespaces", s.url)).await.1.contains(r#"href="/admin/tokens""#));
    // Revoke one: CSRF-checked, same origin only.
    let revoke = format!("{}/admin/tokens/{first_id}/revoke", s.url);
    let r = admin.post(&revoke).form(&[("user_id", "alice")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin
        .post(&revoke)
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str()), ("user_id", "alice")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(works(first.clone()).await);
    let r = admin.post(&revoke).form(&[("csrf", csrf.as_str()), ("user_id", "alice")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/admin/tokens?user_id=alice&revoked=1");
    assert!(!works(first).await);
    assert!(works(second.clone()).await);
    let (_, body) = text(&admin, &format!("{page}&revoked=1")).await;
    assert!(body.contains("Revoked 1 token") && body.contains("revoked"), "{body}");
    // Revoke everything of Alice's: her tokens and her browser session.
    let all = format!("{}/admin/tokens/revoke-user", s.url);
    let r = admin.post(&all).form(&[("user_id", "alice")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin.post(&all).form(&[("csrf", csrf.as_str()), ("user_id", "")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = admin.post(&all).form(&[("csrf", csrf.as_str()), ("user_id", "alice")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!works(second).await);
    assert_eq!(
        alice.get(format!("{}/settings/tokens", s.url)).send().await.expect("get").status(),
        StatusCode::SEE_OTHER,
        "Alice's browser session survived"
    );
    // The admin's own session is untouched.
    assert_eq!(text(&admin, &page).await.0, StatusCode::OK);
}

#[tokio::test]
async fn hostile_input_is_escaped() {
    let hostile = r#"<script>alert("x")</script>"#;
    let s = TestServer::start(&config(REGISTRIES).replace(
        r#"groups = ["oidc:my org"]"#,
        &format!(r#"groups = ["oidc:my org", "{}"]"#, hostile.replace('"', "\\\"")),
    ))
    .await;
    let (alice, csrf) = signed_in(&s, ALICE).await;
    let (admin, admin_csrf) = signed_in(&s, ADMIN).await;
    let tokens = format!("{}/settings/tokens", s.url);
    let r = alice.post(&tokens).form(&[("name", hostile), ("csrf", csrf.as_str())]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    // A claim whose prefix and group are markup, made by an admin (npm
    // scopes may hold such characters; PyPI names may not).
    let r = admin
        .post(format!("{}/admin/namespaces", s.url))
        .form(&[("registry", "npm"), ("prefix", "<img/src=x>"), ("group", hostile), ("csrf", admin_csrf.as_str())])
        .send()
        .await
        .expect("claim");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pages = [
        text(&alice, &tokens).await.1,
        text(&alice, &format!("{}/my-namespace", s.url)).await.1,
        text(&admin, &format!("{}/admin/namespaces", s.url)).await.1,
        text(&alice, &format!("{}/packages?q=%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E", s.url)).await.1,
        text(&alice, &format!("{}/packages/private/%3Cscript%3Ealert(1)%3C%2Fscript%3E", s.url)).await.1,
        text(&alice, &format!("{}/login?return_to=%22%3E%3Cscript%3E", s.url)).await.1,
    ];
    for (i, page) in pages.iter().enumerate() {
        assert!(
            !page.contains("<script>alert") && !page.contains("<img/src=x>") && !page.contains("\"><script>"),
            "page {i} renders input raw:\n{page}"
        );
    }
    assert!(pages[0].contains("&lt;script&gt;alert"), "the token name is shown, escaped");
    assert!(pages[2].contains("&lt;img/src=x&gt;"), "the prefix is shown, escaped");
    assert!(pages[3].contains("&lt;script&gt;"), "the query is shown, escaped");
}

/// A multipart upload as the Upload card's form sends it.
fn upload_form(csrf: &str, registry: &str, filename: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().text("csrf", csrf.to_string()).text("registry", registry.to_string()).part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str("application/octet-stream")
            .expect("mime"),
    )
}

#[tokio::test]
async fn namespace_dashboard_upload_visibility_and_paging() {
    let s = server().await;
    let (alice, csrf) = signed_in(&s, ALICE).await;
    let up = format!("{}/my-namespace/upload", s.url);
    // Without the CSRF field: 403, nothing published.
    let r = alice
        .post(&up)
        .multipart(upload_form("", "private", &wheel_name("acme-widget", "1.0.0"), wheel("acme-widget", "1.0.0")))
        .send()
        .await
        .expect("up");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(s.app.catalog.get_package("private", "acme-widget").await.expect("db").is_none());
    // To a registry that is not local: refused.
    let r = alice.post(&up).multipart(upload_form(&csrf, "npm", "x.tgz", b"x".to_vec())).send().await.expect("up");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A file that is not what its name says: the ecosystem's own check.
    let r = alice
        .post(&up)
        .multipart(upload_form(&csrf, "private", &wheel_name("acme-widget", "1.0.0"), b"not a zip".to_vec()))
        .send()
        .await
        .expect("up");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("is not a valid bdist_wheel"), "{body}");
    // A real wheel: published under alice's namespace, owned by her.
    let r = alice
        .post(&up)
        .multipart(upload_form(&csrf, "private", &wheel_name("acme-widget", "1.0.0"), wheel("acme-widget", "1.0.0")))
        .send()
        .await
        .expect("up");
    // Post, redirect, get: the page shows what was published; reloading it
    // posts nothing again.
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().expect("location").to_string();
    assert!(to.starts_with("/my-namespace?"), "{to}");
    let (status, page) = text(&alice, &format!("{}{to}", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Published acme-widget 1.0.0 to private"), "{page}");
    let simple = format!("{}/simple/acme-widget/", s.reg("private"));
    assert_eq!(Client::new().get(&simple).send().await.expect("anon").status(), StatusCode::OK);
    // Package files share the UI's origin but can never run as a page there.
    let file = Client::new()
        .get(format!("{}/packages/acme-widget/{}", s.reg("private"), wheel_name("acme-widget", "1.0.0")))
        .send()
        .await
        .expect("file");
    assert_eq!(file.status(), StatusCode::OK);
    let csp = file.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(file.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    // The same file again: the ecosystem's conflict.
    let r = alice
        .post(&up)
        .multipart(upload_form(&csrf, "private", &wheel_name("acme-widget", "1.0.0"), wheel("acme-widget", "1.0.0")))
        .send()
        .await
        .expect("up");
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Visibility: CSRF-checked; then team hides it from the anonymous.
    let vis = format!("{}/my-namespace/visibility", s.url);
    let fields = |csrf: &str, level: &str| {
        vec![
            ("registry", "private".to_string()),
            ("prefix", "acme-".into()),
            ("name", "acme-widget".into()),
            ("visibility", level.into()),
            ("csrf", csrf.into()),
        ]
    };
    assert_eq!(alice.post(&vis).form(&fields("", "team")).send().await.expect("vis").status(), StatusCode::FORBIDDEN);
    assert_eq!(
        alice.post(&vis).form(&fields(&csrf, "secret")).send().await.expect("vis").status(),
        StatusCode::BAD_REQUEST
    );
    let r = alice.post(&vis).form(&fields(&csrf, "team")).send().await.expect("vis");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Anonymous: 401, so that pip asks for credentials.
    assert_eq!(Client::new().get(&simple).send().await.expect("anon").status(), StatusCode::UNAUTHORIZED);
    // bob (no group) may not change it, and does not see it in the browser.
    let (bob, bob_csrf) = signed_in(&s, BOB).await;
    assert_eq!(
        bob.post(&vis).form(&fields(&bob_csrf, "public")).send().await.expect("vis").status(),
        StatusCode::NOT_FOUND
    );
    let (_, found) = text(&bob, &format!("{}/packages?q=acme", s.url)).await;
    assert!(!found.contains("acme-widget"), "{found}");
    let (status, _) = text(&bob, &format!("{}/packages/private/acme-widget", s.url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, found) = text(&alice, &format!("{}/packages?q=acme", s.url)).await;
    assert!(found.contains("acme-widget"));
    let (status, pkg) = text(&alice, &format!("{}/packages/private/acme-widget", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        pkg.contains("acme_widget-1.0.0-py3-none-any.whl") && pkg.contains("team") && pkg.contains("alice"),
        "{pkg}"
    );
    // Installed through the group users configure, which serves `private`.
    assert!(pkg.contains(&format!("pip install --index-url {}/proxy/pypi/simple/ acme-widget", s.url)), "{pkg}");

    // The Packages card: 50 per page, Previous / Next, owned rows marked.
    let c = Client::new();
    for i in 1..=50 {
        let v = format!("1.0.{i}");
        let (status, body) = upload(
            &c,
            &s.reg("private"),
            ALICE,
            "acme-widget",
            &v,
            &wheel_name("acme-widget", &v),
            &wheel("acme-widget", &v),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let link = |page: u32| format!("{}/my-namespace?registry=private&prefix=acme-&page={page}", s.url);
    let (status, p1) = text(&alice, &link(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p1.matches("<tr data-package=").count(), 50);
    assert!(p1.contains(">Next<") && !p1.contains(">Previous<") && p1.contains("Page 1 of 2"));
    assert!(p1.contains(">yours<"));
    let (_, p2) = text(&alice, &link(2)).await;
    assert_eq!(p2.matches("<tr data-package=").count(), 1);
    assert!(p2.contains(">Previous<") && !p2.contains(">Next<"));
    // A namespace of another group is not alice's to browse.
    let (_, other) = text(&bob, &link(1)).await;
    assert!(other.contains("you are not a member of"), "{other}");
}
