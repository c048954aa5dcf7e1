//! `/settings/tokens`: the caller's API tokens: list, create (the secret is
//! shown once), revoke. The same rules as `POST /api/v1/auth/tokens`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Form, Nav, Viewer, copyable, date, notice, see_other};
use crate::access::Role;
use crate::api::tokens::{DEFAULT_DAYS, check_request};
use crate::app::App;
use crate::catalog::now_ms;

#[derive(Debug, Deserialize)]
pub struct TokensQuery {
    pub revoked: Option<String>,
}

const LIFETIMES: &[i64] = &[7, 30, 90, 180, 365];

struct Created {
    secret: String,
    name: String,
}

async fn render(app: &App, v: &Viewer, created: Option<Created>, message: Option<Markup>) -> Response {
    let user = v.principal.user_id.clone().unwrap_or_default();
    let tokens = match app.catalog.list_api_tokens(&user).await {
        Ok(t) => t,
        Err(e) => return v.app_error(&e.into()),
    };
    let now = now_ms();
    let body = html! {
        h1 { "Settings → Tokens" }
        p.lead { "API tokens authenticate your tools and CI: send one as " code { "Authorization: Bearer <token>" } " or configure it as the Setup Guide shows." }
        @if let Some(m) = message { (m) }
        @if let Some(c) = &created {
            section.card.secret aria-live="polite" {
                h2 { "Token “" (c.name) "” created" }
                p { strong { "Copy it now: it is shown only once." } " BatleHub keeps only its hash." }
                (copyable("new-token", &c.secret))
                (copyable("new-token-export", &format!("export BATLEHUB_TOKEN={}", c.secret)))
            }
        }
        section.card {
            h2 { "New token" }
            form.row method="post" action="/settings/tokens" {
                (v.csrf_field())
                label { "Name" input type="text" name="name" required maxlength="100" placeholder="my-laptop"; }
                label { "Lifetime"
                    select name="expires_in_days" {
                        @for d in LIFETIMES {
                            option value=(d) selected[*d == DEFAULT_DAYS] { (d) " days" }
                        }
                    }
                }
                label { "Role"
                    select name="role" {
                        option value="user" selected { "user" }
                        @if v.principal.role >= Role::Admin { option value="admin" { "admin" } }
                    }
                }
                button type="submit" { "Create" }
            }
        }
        section.card {
            h2 { "Your tokens" }
            @if tokens.is_empty() {
                p.empty { "You have no API tokens yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Role" } th { "Created" } th { "Expires" } th { "Last used" } th { "Status" } th { span.muted { "Actions" } } } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { (t.name) }
                                td { (t.role) }
                                td { (date(t.created_at)) }
                                td { @if let Some(e) = t.expires_at { (date(e)) } @else { "never" } }
                                td { @if let Some(u) = t.last_used_at { (date(u)) } @else { span.muted { "never" } } }
                                td {
                                    @if t.revoked_at.is_some() { span.badge { "revoked" } }
                                    @else if !t.is_active(now) { span.badge { "expired" } }
                                    @else { span.badge.vis-public { "active" } }
                                }
                                td {
                                    @if t.is_active(now) {
                                        form.inline method="post" action={ "/settings/tokens/" (t.id) "/revoke" }
                                            data-confirm={ "Revoke the token " (t.name) "? Whatever uses it stops working at once." } {
                                            (v.csrf_field())
                                            button.danger type="submit" aria-label={ "Revoke " (t.name) } { "Revoke" }
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
    super::page(v, "Tokens", Nav::Settings, body)
}

pub async fn page(State(app): State<App>, v: Viewer, Query(q): Query<TokensQuery>) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    let msg = q.revoked.is_some().then(|| notice("ok", "The token was revoked."));
    render(&app, &v, None, msg).await
}

pub async fn create(State(app): State<App>, v: Viewer, body: Bytes) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    let form = Form::parse(&body);
    if let Err(r) = v.check_form(&form) {
        return r;
    }
    let days = match form.get("expires_in_days") {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(d) => Some(d),
            Err(_) => {
                return render_error(&app, &v, StatusCode::BAD_REQUEST, "The lifetime must be a number of days.").await;
            }
        },
    };
    let role = Some(form.get("role")).filter(|r| !r.is_empty());
    let p = &v.principal;
    let (role, expires_at) = match check_request(form.get("name"), days, role, p.role) {
        Ok(x) => x,
        Err(e) => return render_error(&app, &v, e.status(), &e.public_message()).await,
    };
    let name = form.get("name").trim().to_string();
    match app.identity.mint_for(p, &name, role, expires_at, None).await {
        Ok((secret, _)) => {
            let mut r = render(&app, &v, Some(Created { secret, name }), None).await;
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Err(e) => v.app_error(&e),
    }
}

async fn render_error(app: &App, v: &Viewer, status: StatusCode, msg: &str) -> Response {
    let mut r = render(app, v, None, Some(notice("bad", msg))).await;
    *r.status_mut() = status;
    r
}

pub async fn revoke(State(app): State<App>, v: Viewer, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    if let Err(r) = v.check_form(&Form::parse(&body)) {
        return r;
    }
    let user = v.principal.user_id.clone().unwrap_or_default();
    match app.catalog.revoke_api_token(&id, &user).await {
        Ok(true) => see_other("/settings/tokens?revoked=1"),
        Ok(false) => v.error(StatusCode::NOT_FOUND, "No such token."),
        Err(e) => v.app_error(&e.into()),
    }
}
