//! `/admin/tokens`: any user's API tokens (admins only): look a user up,
//! revoke one token (and what was made with it), or every token and browser
//! session of the user. The same catalog calls as the admin token API.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Form, Nav, Viewer, date, notice, see_other};
use crate::api::tokens::{admin_tokens, check_user_id};
use crate::app::App;
use crate::catalog::now_ms;

#[derive(Debug, Deserialize)]
pub struct AdminTokensQuery {
    pub user_id: Option<String>,
    pub revoked: Option<u64>,
    pub sessions: Option<u64>,
}

/// Where the page for `user` is.
fn page_for(user: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("user_id", user).finish();
    format!("/admin/tokens?{q}")
}

async fn render(app: &App, v: &Viewer, user: Option<&str>, message: Option<Markup>) -> Response {
    if !v.principal.is_admin() {
        return v.error(StatusCode::FORBIDDEN, "This page is for administrators.");
    }
    let user = user.map(str::trim).filter(|u| !u.is_empty());
    let tokens = match admin_tokens(app, user).await {
        Ok(t) => t,
        Err(e) => return v.error(e.status(), &e.public_message()),
    };
    let now = now_ms();
    let body = html! {
        h1 { "Admin · Tokens" }
        p.lead { a href="/admin/namespaces" { "Namespace claims" } " · " strong { "Tokens" } }
        @if let Some(m) = message { (m) }
        section.card {
            h2 { "Find a user's tokens" }
            form.row method="get" action="/admin/tokens" {
                label { "User id" input type="text" name="user_id" value=(user.unwrap_or("")) placeholder="alice or oidc:corp:alice"; }
                button type="submit" { "Show" }
            }
            p.muted { "Static users keep the id of the configuration; other identities are " code { "oidc:<provider>:<sub>" } ", " code { "actions:<provider>:<sub>" } " or " code { "kubernetes:<provider>:<user>" } "." }
        }
        section.card {
            @if let Some(u) = user {
                h2 { "Tokens of " (u) }
                form.inline method="post" action="/admin/tokens/revoke-user"
                    data-confirm={ "Revoke every token and end every session of " (u) "?" } {
                    (v.csrf_field())
                    input type="hidden" name="user_id" value=(u);
                    button.danger type="submit" { "Revoke every token and session of " (u) }
                }
            } @else {
                h2 { "Newest tokens" }
            }
            @if tokens.is_empty() {
                p.empty { "No tokens." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "User" } th { "Name" } th { "Role" } th { "Origin" } th { "Created" } th { "Expires" } th { "Last used" } th { "Status" } th { span.muted { "Actions" } } } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { a href=(page_for(&t.user_id)) { (t.user_id) } }
                                td { (t.name) }
                                td { (t.role) }
                                td { (t.origin.as_deref().unwrap_or("?")) @if t.parent_id.is_some() { span.muted { " (made with a token)" } } }
                                td { (date(t.created_at)) }
                                td { @if let Some(e) = t.expires_at { (date(e)) } @else { "never" } }
                                td { @if let Some(u) = t.last_used_at { (date(u)) } @else { span.muted { "never" } } }
                                td {
                                    @if t.revoked_at.is_some() { span.badge { "revoked" } }
                                    @else if !t.is_active(now) { span.badge { "expired" } }
                                    @else { span.badge.vis-public { "active" } }
                                }
                                td {
                                    @if t.revoked_at.is_none() {
                                        form.inline method="post" action={ "/admin/tokens/" (t.id) "/revoke" }
                                            data-confirm={ "Revoke the token " (t.name) " of " (t.user_id) "? Whatever uses it stops working at once." } {
                                            (v.csrf_field())
                                            input type="hidden" name="user_id" value=(user.unwrap_or(""));
                                            button.danger type="submit" aria-label={ "Revoke " (t.name) " of " (t.user_id) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    super::page(v, "Admin", Nav::Admin, body)
}

pub async fn page(State(app): State<App>, v: Viewer, Query(q): Query<AdminTokensQuery>) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    let msg = match (q.revoked, q.sessions) {
        (Some(t), Some(s)) => Some(notice("ok", &format!("Revoked {t} token(s) and ended {s} session(s)."))),
        (Some(t), None) => Some(notice("ok", &format!("Revoked {t} token(s)."))),
        _ => None,
    };
    render(&app, &v, q.user_id.as_deref(), msg).await
}

/// An admin's form: signed in, same origin, CSRF token, admin role.
fn check(v: &Viewer, form: &Form) -> Result<(), Response> {
    v.require_signed_in()?;
    v.check_form(form)?;
    if !v.principal.is_admin() {
        return Err(v.error(StatusCode::FORBIDDEN, "This page is for administrators."));
    }
    Ok(())
}

pub async fn revoke(State(app): State<App>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = check(&v, &form) {
        return r;
    }
    let back = Some(form.get("user_id")).filter(|u| !u.is_empty());
    match app.catalog.revoke_api_token_by_id(&id).await {
        Ok(true) => {
            tracing::info!(admin = %v.principal.label(), token = %id, "an admin revoked a token");
            match back {
                Some(u) => see_other(&format!("{}&revoked=1", page_for(u))),
                None => see_other("/admin/tokens?revoked=1"),
            }
        }
        Ok(false) => {
            let mut r = render(&app, &v, back, Some(notice("bad", "No such active token."))).await;
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        Err(e) => v.app_error(&e.into()),
    }
}

pub async fn revoke_user(State(app): State<App>, v: Viewer, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = check(&v, &form) {
        return r;
    }
    let user = match check_user_id(form.get("user_id")) {
        Ok(u) => u.to_string(),
        Err(e) => {
            let mut r = render(&app, &v, None, Some(notice("bad", &e.public_message()))).await;
            *r.status_mut() = e.status();
            return r;
        }
    };
    match app.catalog.revoke_user_tokens(&user).await {
        Ok(done) => {
            tracing::info!(admin = %v.principal.label(), user, tokens = done.tokens, sessions = done.sessions, "an admin revoked a user's tokens");
            see_other(&format!("{}&revoked={}&sessions={}", page_for(&user), done.tokens, done.sessions))
        }
        Err(e) => v.app_error(&e.into()),
    }
}
