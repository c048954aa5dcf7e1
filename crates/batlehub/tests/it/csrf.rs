//! Cross-site request forgery through whatever a browser holds: Basic
//! credentials it cached after a challenge, or the session cookie. A page
//! on another site must not be able to write through it.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;

use crate::support::builder::Reg;
use crate::support::{ADMIN, ALICE, TestServer, client};

fn browser_from(origin: Option<&str>, site: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    if let Some(o) = origin {
        headers.insert("origin", HeaderValue::from_str(o).expect("origin"));
    }
    headers.insert("sec-fetch-site", HeaderValue::from_str(site).expect("site"));
    headers.insert("sec-fetch-mode", HeaderValue::from_static("no-cors"));
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_json_api_takes_writes_only_as_json_and_from_its_own_origin() {
    let s = TestServer::with(&[Reg::local("npm", "internal")], "").await;
    let claims = format!("{}/api/v1/admin/registries/internal/namespaces", s.url);
    let body = json!({"prefix": "@evil/", "group": "oidc:evil"}).to_string();
    // What a form or a no-cors fetch can send cross-site: text/plain, with
    // the admin's cached Basic credentials.
    let r = client()
        .post(&claims)
        .basic_auth("admin", Some(ADMIN))
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = client().post(&claims).basic_auth("admin", Some(ADMIN)).body(body.clone()).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "a body without a content type");
    // JSON from another site: refused by its Origin.
    let evil = browser_from(Some("https://evil.example"), "cross-site");
    let r = evil
        .post(&claims)
        .basic_auth("admin", Some(ADMIN))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = evil.delete(format!("{claims}/%40x%2F")).basic_auth("admin", Some(ADMIN)).send().await.expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let listed: serde_json::Value =
        client().get(&claims).bearer_auth(ADMIN).send().await.expect("list").json().await.expect("json");
    assert_eq!(listed["namespaces"], json!([]), "nothing was claimed");
    // The same write as JSON from a client (no Origin) or this origin works.
    let own = browser_from(Some(&s.url), "same-origin");
    let r = own
        .post(&claims)
        .basic_auth("admin", Some(ADMIN))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn browsers_are_never_challenged_for_basic_credentials() {
    let s = TestServer::with(&[Reg::local("pypi", "private")], "").await;
    let page = format!("{}/simple/", s.reg("private"));
    // A package client is challenged (pip answers with ~/.netrc).
    let r = client().get(&page).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"batlehub\"");
    // A browser opening the URL is not: it never caches Basic credentials
    // that another site's requests would then carry.
    let r = client()
        .get(&page)
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_none(), "{:?}", r.headers());
}

#[tokio::test]
async fn sign_in_forms_posted_from_elsewhere_are_refused() {
    let s = TestServer::with(&[Reg::local("npm", "internal")], "").await;
    let login = format!("{}/login", s.url);
    // A sandboxed iframe on another site posts the attacker's token: the
    // victim would be signed in as the attacker (login CSRF).
    for (origin, site) in
        [(Some("null"), "cross-site"), (Some("https://evil.example"), "cross-site"), (None, "cross-site")]
    {
        let r = browser_from(origin, site)
            .post(&login)
            .form(&[("token", ALICE), ("return_to", "/")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin:?} {site}");
        assert!(r.headers().get("set-cookie").is_none());
    }
    let r = browser_from(Some(&s.url), "same-origin")
        .post(&login)
        .form(&[("token", ALICE), ("return_to", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
