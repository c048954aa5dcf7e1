//! The web UI: server-rendered HTML pages (maud: every interpolation is
//! escaped), one stylesheet and one small script embedded in the binary.
//! JavaScript only enhances (copy buttons, tabs, theme, clickable rows);
//! every page reads and every form works without it.
//!
//! | Path | Page |
//! |---|---|
//! | `/` | home: the registries this server serves |
//! | `/login`, `/logout` | sign-in (OIDC buttons, token form), sign-out |
//! | `/settings/tokens` | API tokens: list, create (shown once), revoke |
//! | `/setup` | the Setup Guide: snippets per registry (`crate::setup`) |
//! | `/my-namespace` | team namespaces, their packages, visibility, upload |
//! | `/packages`, `/packages/{registry}/{name}` | the package browser |
//! | `/admin/namespaces` | namespace claims (admins) |
//! | `/admin/tokens` | any user's API tokens: list, revoke one or all (admins) |
//!
//! Security: every page is sent with a strict Content-Security-Policy (no
//! inline script or style), `no-store`, and the router's nosniff/DENY
//! headers. Every state-changing form carries the session's CSRF token
//! (`identity::csrf_token`) and must come from this origin.

// A rejected form or a missing sign-in *is* the response (a page or a
// redirect), built only on that path: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod admin;
mod admin_tokens;
mod assets;
mod home;
mod login;
mod namespace;
mod packages;
mod setup;
mod tokens;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::access::Principal;
use crate::app::App;
use crate::error::AppError;
use crate::identity;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<App> {
    Router::new()
        .route("/", get(home::page))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/settings", get(|| async { see_other("/settings/tokens") }))
        .route("/settings/tokens", get(tokens::page).post(tokens::create))
        .route("/settings/tokens/{id}/revoke", post(tokens::revoke))
        .route("/setup", get(setup::page))
        .route("/my-namespace", get(namespace::page))
        .route("/my-namespace/visibility", post(namespace::visibility))
        .route("/my-namespace/upload", post(namespace::upload))
        .route("/packages", get(packages::search))
        .route("/packages/{registry}/{*name}", get(packages::package))
        .route("/admin/namespaces", get(admin::page).post(admin::add))
        .route("/admin/namespaces/delete", post(admin::delete))
        .route("/admin/tokens", get(admin_tokens::page))
        .route("/admin/tokens/revoke-user", post(admin_tokens::revoke_user))
        .route("/admin/tokens/{id}/revoke", post(admin_tokens::revoke))
        .route("/ui/{file}", get(assets::serve))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        // Browsers then send `Origin` on this site's own form posts (with
        // `no-referrer` they send `Origin: null`), and nothing to others.
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
}

/// Who is looking at a page, and what their forms must carry.
pub struct Viewer {
    pub principal: Principal,
    /// The session's CSRF token, when signed in with the session cookie.
    pub csrf: Option<String>,
    /// The server's public base URL.
    pub base: String,
    /// The request came from this origin (or named none): forms may act.
    pub same_origin: bool,
    /// The path and query of the page, for "sign in and come back".
    pub here: String,
}

impl Viewer {
    pub fn signed_in(&self) -> bool {
        !self.principal.is_anonymous()
    }

    /// A snippet's body with the viewer's user id in place of the
    /// placeholder (the token stays a placeholder: it is never shown again).
    pub fn fill_user(&self, body: &str) -> String {
        match &self.principal.user_id {
            Some(u) => body.replace(crate::setup::USER, u),
            None => body.to_string(),
        }
    }

    /// Signed in, or a redirect to the sign-in page that comes back here.
    pub fn require_signed_in(&self) -> Result<(), Response> {
        if self.signed_in() {
            Ok(())
        } else {
            let back =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", &self.here).finish();
            Err(see_other(&format!("/login?{back}")))
        }
    }

    /// A state-changing form must come from this origin and, when the
    /// session cookie authenticates it, carry the session's CSRF token.
    pub fn check_form(&self, form: &Form) -> Result<(), Response> {
        if !self.same_origin {
            return Err(self.error(StatusCode::FORBIDDEN, "This form was sent from another site."));
        }
        if !self.csrf_ok(form.get("csrf")) {
            return Err(self.csrf_refused());
        }
        Ok(())
    }

    /// Whether `presented` is this session's CSRF token (always true when
    /// the request is not authenticated by the session cookie).
    pub fn csrf_ok(&self, presented: &str) -> bool {
        match &self.csrf {
            Some(expected) => bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), presented.as_bytes())),
            None => true,
        }
    }

    pub fn csrf_refused(&self) -> Response {
        self.error(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site (CSRF check failed). Reload the page and try again.",
        )
    }

    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf.as_deref().unwrap_or("")); }
    }

    /// An error page in the site's layout.
    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        let body = html! {
            section.card.error-page {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
                p.notice.bad role="alert" { (message) }
                p { a href="/" { "Back to the home page" } }
            }
        };
        let mut r = page(self, status.canonical_reason().unwrap_or("Error"), Nav::None, body);
        *r.status_mut() = status;
        r
    }

    /// An [`AppError`] as an error page.
    pub fn app_error(&self, e: &AppError) -> Response {
        if matches!(e, AppError::Unauthenticated) {
            return self
                .require_signed_in()
                .err()
                .unwrap_or_else(|| self.error(StatusCode::UNAUTHORIZED, "Sign in first."));
        }
        self.error(e.status(), &e.public_message())
    }
}

impl FromRequestParts<App> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let base = crate::http::public_base(&app.config.server, &parts.headers, peer);
        let here = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        // An `Origin` naming another site is refused; none (or "null", from
        // privacy settings) leaves the decision to the CSRF token.
        let same_origin = match parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None | Some("null") => true,
            Some(origin) => origin.trim_end_matches('/') == base,
        };
        let principal = match app.identity.resolve(&parts.headers).await {
            Ok(p) => p,
            Err(e) => {
                let anonymous = Viewer { principal: Principal::anonymous(), csrf: None, base, same_origin, here };
                return Err(anonymous.app_error(&e));
            }
        };
        let csrf = if principal.is_anonymous() {
            None
        } else {
            identity::session_secret(&parts.headers).map(|s| identity::csrf_token(&s))
        };
        Ok(Viewer { principal, csrf, base, same_origin, here })
    }
}

/// A submitted `application/x-www-form-urlencoded` form.
pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// A field's value, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

/// The local and hybrid registries, in configuration order.
pub fn local_registries(app: &App) -> Vec<std::sync::Arc<crate::registry::Registry>> {
    app.config
        .registries
        .iter()
        .filter(|r| r.mode.has_local())
        .filter_map(|r| app.registries.get(&r.name).cloned())
        .collect()
}

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Home,
    Packages,
    Setup,
    Namespace,
    Settings,
    Admin,
}

fn nav_link(current: Nav, this: Nav, href: &str, label: &str) -> Markup {
    html! {
        @if current == this { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
    }
}

/// A whole page: the layout around `content`.
pub fn page(v: &Viewer, title: &str, current: Nav, content: Markup) -> Response {
    let p = &v.principal;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · BatleHub" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(assets::CSS_PATH);
                script src=(assets::JS_PATH) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.topbar {
                    nav.nav aria-label="Main" {
                        a.brand href="/" { span.logo aria-hidden="true" { "◆" } "BatleHub" }
                        (nav_link(current, Nav::Packages, "/packages", "Packages"))
                        (nav_link(current, Nav::Setup, "/setup", "Setup Guide"))
                        (nav_link(current, Nav::Namespace, "/my-namespace", "My namespace"))
                        (nav_link(current, Nav::Settings, "/settings/tokens", "Settings"))
                        @if p.is_admin() { (nav_link(current, Nav::Admin, "/admin/namespaces", "Admin")) }
                    }
                    div.who {
                        @if v.signed_in() {
                            span.user title="Signed in" {
                                strong { (p.user_id.as_deref().unwrap_or("?")) }
                                " · " span.role { (p.role.as_str()) }
                                @if !p.groups.is_empty() { " · " span.groups { (p.groups.join(", ")) } }
                            }
                            form.inline method="post" action="/logout" {
                                (v.csrf_field())
                                button.link type="submit" { "Sign out" }
                            }
                        } @else {
                            a.button.small href="/login" { "Sign in" }
                        }
                        button.theme type="button" id="theme-toggle" aria-label="Toggle dark theme" hidden { "◐" }
                    }
                }
                main id="main" { (content) }
                footer.footer { "BatleHub " (env!("CARGO_PKG_VERSION")) " · " a href="/setup" { "Setup Guide" } }
            }
        }
    };
    html_response(markup.into_string())
}

fn html_response(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A notice line: `kind` is "ok" or "bad".
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class={ "notice " (kind) } role=(if kind == "bad" { "alert" } else { "status" }) { (text) } }
}

/// A `<pre>` with a copy button.
pub fn copyable(id: &str, text: &str) -> Markup {
    html! {
        div.copyable {
            pre id=(id) { code { (text) } }
            button.copy type="button" data-copy=(id) { "Copy" }
        }
    }
}

/// Text whose `backticked` parts are code (snippet titles).
pub fn inline_code(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

pub fn visibility_badge(v: crate::access::Visibility) -> Markup {
    html! { span class={ "badge vis-" (v.as_str()) } { (v.as_str()) } }
}

pub fn mode_badge(mode: crate::config::Mode) -> Markup {
    html! { span class={ "badge mode-" (mode.as_str()) } { (mode.as_str()) } }
}

/// `2026-11-26 14:03` (UTC) for tables.
pub fn date(ms: i64) -> String {
    let iso = crate::http::iso8601(ms);
    iso.get(..16).map(|s| s.replace('T', " ")).unwrap_or(iso)
}

/// Bytes for humans.
pub fn size(n: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_dates() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(size(5 * 1024 * 1024 + 1), "5.0 MiB");
        assert_eq!(date(0), "1970-01-01 00:00");
    }

    #[test]
    fn forms_decode() {
        let f = Form::parse(b"a=1&b=x+y%26z&csrf=");
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.get("b"), "x y&z");
        assert_eq!(f.get("csrf"), "");
        assert_eq!(f.get("missing"), "");
    }
}
