//! `/admin/namespaces`: namespace claims across registries (admins only),
//! through the same checks as the admin claim API.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Form, Nav, Viewer, notice, see_other};
use crate::api::namespaces::{create_claim, remove_claim};
use crate::app::App;

async fn render(app: &App, v: &Viewer, message: Option<Markup>) -> Response {
    if !v.principal.is_admin() {
        return v.error(StatusCode::FORBIDDEN, "This page is for administrators.");
    }
    let mut rows = Vec::new();
    for r in &app.config.registries {
        match app.claims(&r.name).await {
            Ok(claims) => rows.extend(claims.into_iter().map(|c| (r.name.clone(), c))),
            Err(e) => return v.app_error(&e),
        }
    }
    let body = html! {
        h1 { "Admin · Namespace claims" }
        p.lead { strong { "Namespace claims" } " · " a href="/admin/tokens" { "Tokens" } }
        @if let Some(m) = message { (m) }
        section.card {
            h2 { "New claim" }
            p.muted { "A claim gives a group the right to publish under a prefix in a local or hybrid registry (and keeps the prefix from its upstreams). Proxy registries take claims in the configuration file or through the API." }
            form.row method="post" action="/admin/namespaces" {
                (v.csrf_field())
                label { "Registry"
                    select name="registry" required {
                        @for r in app.config.registries.iter().filter(|r| r.mode.has_local()) { option value=(r.name) { (r.name) " (" (r.kind.as_str()) ")" } }
                    }
                }
                label { "Prefix" input type="text" name="prefix" required placeholder="@myorg/"; }
                label { "Group" input type="text" name="group" required placeholder="oidc:my-team"; }
                button type="submit" { "Claim" }
            }
        }
        section.card {
            h2 { "Claims" }
            @if rows.is_empty() { p.empty { "No namespace is claimed yet." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Registry" } th { "Prefix" } th { "Group" } th { "Source" } th { span.muted { "Actions" } } } }
                    tbody {
                        @for (reg, c) in &rows {
                            @let from_config = c.claimed_via == "config";
                            @let via = if c.claimed_via == "ui" { "web UI" } else { "API" };
                            tr {
                                td { (reg) }
                                td { code { (c.prefix) } }
                                td { (c.group_id) }
                                td { @if from_config { "configuration file" } @else { (via) " · " (c.claimed_by.as_deref().unwrap_or("?")) } }
                                td {
                                    @if !from_config {
                                        form.inline method="post" action="/admin/namespaces/delete" {
                                            (v.csrf_field())
                                            input type="hidden" name="registry" value=(reg);
                                            input type="hidden" name="prefix" value=(c.prefix);
                                            button.danger type="submit" { "Remove" }
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

pub async fn page(State(app): State<App>, v: Viewer) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    render(&app, &v, None).await
}

async fn act(app: &App, v: &Viewer, body: &Bytes, delete: bool) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    let form = Form::parse(body);
    if let Err(r) = v.check_form(&form) {
        return r;
    }
    let (reg, prefix) = (form.get("registry"), form.get("prefix"));
    let result = if delete {
        remove_claim(app, &v.principal, reg, prefix).await
    } else {
        create_claim(app, &v.principal, reg, prefix, form.get("group"), "ui").await.map(|_| ())
    };
    match result {
        Ok(()) => see_other("/admin/namespaces"),
        Err(e) => {
            let mut r = render(app, v, Some(notice("bad", &e.public_message()))).await;
            if r.status() == StatusCode::OK {
                *r.status_mut() = e.status();
            }
            r
        }
    }
}

pub async fn add(State(app): State<App>, v: Viewer, body: Bytes) -> Response {
    act(&app, &v, &body, false).await
}

pub async fn delete(State(app): State<App>, v: Viewer, body: Bytes) -> Response {
    act(&app, &v, &body, true).await
}
