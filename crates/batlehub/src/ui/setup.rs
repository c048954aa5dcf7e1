//! `/setup`: the Setup Guide. Every snippet comes from `crate::setup` via
//! `ecosystems::setup_snippets`, the source the real-client tests use too.

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

use super::{Nav, Viewer, copyable, inline_code, mode_badge};
use crate::app::App;
use crate::config::RegistryConfig;
use crate::ecosystems;
use crate::setup::{Snippet, Target};

fn snippet(v: &Viewer, reg: &str, s: &Snippet) -> Markup {
    let body = v.fill_user(&s.body);
    html! {
        div.snippet data-snippet=(s.id) {
            span.snippet-title { (inline_code(s.title)) }
            @if let Some(f) = s.file { span.snippet-file { (f) } }
            (copyable(&format!("snip-{reg}-{}", s.id), &body))
        }
    }
}

fn registry_section(v: &Viewer, r: &RegistryConfig, all: &[RegistryConfig]) -> Markup {
    let target = Target::of(&v.base, r, all);
    let snippets = ecosystems::setup_snippets(r.kind, &target);
    html! {
        section.card id={ "reg-" (r.name) } data-registry=(r.name) {
            h2 { (r.name) " " span.badge { (r.kind.as_str()) } " " (mode_badge(r.mode)) }
            p.muted { code { (target.url()) "/" } }
            @for s in snippets.iter().filter(|s| !s.publish) { (snippet(v, &r.name, s)) }
            @match &target.publish_to {
                Some(to) if *to != r.name => {
                    h3 { "Publish" }
                    p.muted data-publish-to=(to) {
                        "Packages are published to " strong { (to) } ", the local registry among this group's members. "
                        "Changes to packages published there (deprecate, tags, yanks, unpublish, owners) also work through this registry."
                    }
                    @for s in snippets.iter().filter(|s| s.publish) { (snippet(v, &r.name, s)) }
                }
                Some(_) => {
                    h3 { "Publish" }
                    @for s in snippets.iter().filter(|s| s.publish) { (snippet(v, &r.name, s)) }
                }
                None => {
                    p.muted { "This registry is a caching proxy: publish to a local or hybrid registry." }
                }
            }
        }
    }
}

pub async fn page(State(app): State<App>, v: Viewer) -> Response {
    let body = html! {
        h1 { "Setup Guide" }
        p.lead { "Ready-to-paste configuration for every registry this server serves, pre-filled with its address " code { (v.base) } "." }
        section.card {
            h2 { "1. Get a token" }
            p { "Create one in " a href="/settings/tokens" { "Settings → Tokens" } ", then keep it in your environment; the snippets below read " code { "$BATLEHUB_TOKEN" } " or show " code { "<your-token>" } " where a file cannot." }
            (copyable("snip-token", "export BATLEHUB_TOKEN=bh_xxxxxxxxxxxxxxxxxxxx"))
        }
        @if app.config.registries.is_empty() {
            section.card { p.empty { "No registries are configured yet." } }
        } @else {
            nav.toc aria-label="Registries" {
                @for r in &app.config.registries { a.button.secondary.small href={ "#reg-" (r.name) } { (r.name) } }
            }
            @for r in &app.config.registries { (registry_section(&v, r, &app.config.registries)) }
        }
    };
    super::page(&v, "Setup Guide", Nav::Setup, body)
}
