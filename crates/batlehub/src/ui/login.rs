//! `/login`: a button per OIDC provider and a token form; `/logout`.
//!
//! The token form accepts every credential the server accepts (static
//! tokens, API tokens, provider JWTs) and turns it into the same HttpOnly
//! session an OIDC sign-in makes; the token itself is not kept.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Form, Nav, Viewer, notice, see_other};
use crate::api::oidc::{end_session, safe_return, start_session};
use crate::app::App;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub return_to: Option<String>,
}

fn render(app: &App, v: &Viewer, return_to: &str, error: Option<&str>) -> Response {
    let providers = app.identity.oidc_providers();
    let body = html! {
        section.card.narrow {
            h1 { "Sign in" }
            @if let Some(e) = error { (notice("bad", e)) }
            @if v.signed_in() {
                (notice("ok", &format!("You are signed in as {}.", v.principal.user_id.as_deref().unwrap_or("?"))))
            }
            @if !providers.is_empty() {
                div.stack {
                    @for p in &providers {
                        @let href = format!("/api/v1/auth/oidc/login?{}", url::form_urlencoded::Serializer::new(String::new())
                            .append_pair("provider", p).append_pair("return_to", return_to).finish());
                        p { a.button href=(href) { "Sign in with " (p) } }
                    }
                }
                p.muted { "Or sign in with a token:" }
            }
            form.stack method="post" action="/login" {
                input type="hidden" name="return_to" value=(return_to);
                label for="token" { "Token" }
                input type="password" id="token" name="token" autocomplete="current-password" required;
                p.muted { "An API token (" code { "bh_…" } "), a token from your administrator, or a token of a configured identity provider." }
                div { button type="submit" { "Sign in" } }
            }
        }
    };
    super::page(v, "Sign in", Nav::None, body)
}

pub async fn page(State(app): State<App>, v: Viewer, Query(q): Query<LoginQuery>) -> Response {
    render(&app, &v, &safe_return(q.return_to.as_deref()), None)
}

pub async fn submit(State(app): State<App>, v: Viewer, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = v.check_form(&form) {
        return r;
    }
    let return_to = safe_return(Some(form.get("return_to")));
    let token = form.get("token").trim();
    let refused = |status: StatusCode, msg: &str| {
        let mut r = render(&app, &v, &return_to, Some(msg));
        *r.status_mut() = status;
        r
    };
    if token.is_empty() {
        return refused(StatusCode::BAD_REQUEST, "Enter a token.");
    }
    let principal = match app.identity.resolve_token(token).await {
        Ok(Some(p)) if !p.is_anonymous() && p.user_id.is_some() => p,
        Ok(_) => return refused(StatusCode::UNAUTHORIZED, "That token was not accepted."),
        Err(e) => return refused(e.status(), &format!("That token was not accepted: {}", e.public_message())),
    };
    tracing::info!(user = %principal.label(), "signed in to the web UI with a token");
    match start_session(&app, &principal, &v.base, &return_to).await {
        Ok(r) => r,
        Err(e) => v.app_error(&e),
    }
}

pub async fn logout(State(app): State<App>, v: Viewer, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = v.check_form(&Form::parse(&body)) {
        return r;
    }
    let mut r = see_other("/");
    if let Err(e) = end_session(&app, &headers, &mut r).await {
        return v.app_error(&e);
    }
    r
}
