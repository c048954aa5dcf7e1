//! `/`: what this instance serves.

use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::{Nav, Viewer, mode_badge};
use crate::app::App;

async fn render(app: &App, v: &Viewer) -> Response {
    let body = html! {
        h1 { "BatleHub" }
        p.lead { "One registry server in front of your package ecosystems: a caching proxy, a private registry, or both." }
        div.grid {
            section.card {
                h2 { "Get started" }
                ol {
                    @if !v.signed_in() { li { a href="/login" { "Sign in" } " with your identity provider or a token." } }
                    li { "Create a token in " a href="/settings/tokens" { "Settings → Tokens" } "." }
                    li { "Paste your tools' configuration from the " a href="/setup" { "Setup Guide" } "." }
                }
            }
            section.card {
                h2 { "Find a package" }
                form.search method="get" action="/packages" role="search" {
                    input type="search" name="q" aria-label="Package name" placeholder="Package name";
                    button type="submit" { "Search" }
                }
            }
        }
        section.card {
            h2 { "Registries" }
            @if app.config.registries.is_empty() {
                p.empty { "No registries are configured yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Type" } th { "Mode" } th { "URL" } th { "Members" } } }
                    tbody {
                        @for r in &app.config.registries {
                            tr data-href={ "/setup#reg-" (r.name) } {
                                td { a href={ "/setup#reg-" (r.name) } { strong { (r.name) } } }
                                td { (r.kind.as_str()) }
                                td { (mode_badge(r.mode)) }
                                td { code { (v.base) "/proxy/" (r.name) "/" } }
                                td { @if r.members.is_empty() { span.muted { "—" } } @else { (r.members.join(", ")) } }
                            }
                        }
                    }
                } }
            }
        }
    };
    super::page(v, "Home", Nav::Home, body)
}

pub async fn page(State(app): State<App>, v: Viewer) -> Response {
    render(&app, &v).await
}
