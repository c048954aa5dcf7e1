//! `/my-namespace`: the Team Namespace dashboard. Your groups, the
//! namespaces claimed for them, the packages under one (with inline
//! visibility editing), and the Upload package card.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Form, Nav, Viewer, copyable, date, notice, see_other, visibility_badge};
use crate::access::Visibility;
use crate::api::namespaces::{change_visibility, namespace_items, namespaces_of};
use crate::app::App;
use crate::ecosystems;
use crate::setup::Target;

pub const PER_PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct NsQuery {
    pub registry: Option<String>,
    pub prefix: Option<String>,
    pub page: Option<usize>,
    pub changed: Option<String>,
    /// What an upload published, and where (the page it redirects to).
    pub published: Option<String>,
    pub to: Option<String>,
}

fn ns_link(registry: &str, prefix: &str, page: usize) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("registry", registry)
        .append_pair("prefix", prefix)
        .append_pair("page", &page.to_string())
        .finish();
    format!("/my-namespace?{q}#packages")
}

async fn packages_card(app: &App, v: &Viewer, reg: &str, prefix: &str, page: usize) -> Markup {
    let items = match namespace_items(app, &v.principal, reg, prefix).await {
        Ok(items) => items,
        Err(e) => {
            return html! { section.card id="packages" { h2 { "Packages" } (notice("bad", &e.public_message())) } };
        }
    };
    let total = items.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let shown: Vec<_> = items.into_iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).collect();
    html! {
        section.card id="packages" data-registry=(reg) data-prefix=(prefix) {
            h2 { "Packages" span.muted { " · " (reg) " · " code { (prefix) } } }
            @if shown.is_empty() {
                p.empty { "Nothing is published under " code { (prefix) } " yet. Upload a package below or publish one with your tools." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Version" } th { "Visibility" } th { "Publisher" } th { "Published" } } }
                    tbody {
                        @for i in &shown {
                            tr data-package=(i.name) {
                                td {
                                    a href={ "/packages/" (reg) "/" (i.name) } { (i.name) }
                                    @if i.owned { span.tag title="You own this package" { "yours" } }
                                }
                                td { (i.version) @if i.yanked { " " span.badge { "yanked" } } }
                                td {
                                    details.vis {
                                        summary aria-label={ "Edit visibility of " (i.name) } { (visibility_badge(i.visibility)) span.edit { "Edit visibility" } }
                                        form method="post" action="/my-namespace/visibility" {
                                            (v.csrf_field())
                                            input type="hidden" name="registry" value=(reg);
                                            input type="hidden" name="prefix" value=(prefix);
                                            input type="hidden" name="page" value=(page);
                                            input type="hidden" name="name" value=(i.name);
                                            select name="visibility" aria-label="Visibility" {
                                                @for level in [Visibility::Public, Visibility::Internal, Visibility::Team] {
                                                    option value=(level.as_str()) selected[level == i.visibility] { (level.as_str()) }
                                                }
                                            }
                                            button type="submit" { "Save" }
                                        }
                                    }
                                }
                                td { (i.published_by.as_deref().unwrap_or("—")) }
                                td { (date(i.published_at)) }
                            }
                        }
                    }
                } }
                nav.pager aria-label="Pages" {
                    @if page > 1 { a.button.secondary.small href=(ns_link(reg, prefix, page - 1)) rel="prev" { "Previous" } }
                    span.muted { "Page " (page) " of " (pages) " · " (total) " versions" }
                    @if page < pages { a.button.secondary.small href=(ns_link(reg, prefix, page + 1)) rel="next" { "Next" } }
                }
            }
        }
    }
}

fn upload_card(app: &App, v: &Viewer) -> Markup {
    let locals = super::local_registries(app);
    let uploadable: Vec<_> = locals.iter().filter_map(|r| ecosystems::browser_upload(r.kind).map(|u| (r, u))).collect();
    let cli: Vec<_> = locals.iter().filter(|r| ecosystems::cli_instructions(r.kind)).collect();
    html! {
        section.card id="upload" {
            h2 { "Upload package" }
            @if locals.is_empty() {
                p.empty { "No registry here is in local or hybrid mode, so nothing can be published." }
            } @else {
                div.tabs role="tablist" aria-label="How to publish" hidden {
                    button type="button" role="tab" id="tab-file" aria-controls="panel-file" hidden { "File upload" }
                    button type="button" role="tab" id="tab-cli" aria-controls="panel-cli" hidden { "CLI instructions" }
                }
                div id="panel-file" role="tabpanel" aria-labelledby="tab-file" {
                    @if uploadable.is_empty() {
                        p.empty { "None of the local registries takes a file from the browser; see the CLI instructions." }
                    } @else {
                        form.stack method="post" action="/my-namespace/upload" enctype="multipart/form-data" {
                            (v.csrf_field())
                            label { "Registry"
                                select name="registry" id="upload-registry" required {
                                    @for (r, u) in &uploadable {
                                        option value=(r.name) data-kind=(r.kind.as_str()) data-accept=(u.accept) data-hint=(u.hint) { (r.name) " (" (r.kind.as_str()) ", " (r.mode.as_str()) ")" }
                                    }
                                }
                            }
                            @for (r, u) in &uploadable {
                                @for (field, label) in u.fields {
                                    div data-upload-kind=(r.kind.as_str()) { label { (label) input type="text" name=(field); } }
                                }
                            }
                            p.muted id="upload-hint" { (uploadable.first().map(|(_, u)| u.hint).unwrap_or("")) }
                            label { "File" input type="file" name="file" id="upload-file" required accept=(uploadable.first().map(|(_, u)| u.accept).unwrap_or("")); }
                            div { button type="submit" { "Upload" } }
                        }
                    }
                }
                div id="panel-cli" role="tabpanel" aria-labelledby="tab-cli" {
                    @if cli.is_empty() {
                        p.empty { "Every local registry here takes uploads from the browser." }
                    }
                    @for r in &cli {
                        @let target = Target::named(&v.base, &r.name, &app.config.registries);
                        h3 { (r.name) " " span.badge { (r.kind.as_str()) } }
                        @for s in ecosystems::setup_snippets(r.kind, &target).iter().filter(|s| s.publish) {
                            span.snippet-title { (super::inline_code(s.title)) } @if let Some(f) = s.file { span.snippet-file { (f) } }
                            (copyable(&format!("cli-{}-{}", r.name, s.id), &v.fill_user(&s.body)))
                        }
                    }
                    p.muted { "The full configuration for each registry is in the " a href="/setup" { "Setup Guide" } "." }
                }
            }
        }
    }
}

async fn render(app: &App, v: &Viewer, q: &NsQuery, message: Option<Markup>) -> Response {
    let namespaces = match namespaces_of(app, &v.principal).await {
        Ok(n) => n,
        Err(e) => return v.app_error(&e),
    };
    let selected = q.registry.as_deref().zip(q.prefix.as_deref());
    let packages = match selected {
        Some((reg, prefix)) => Some(packages_card(app, v, reg, prefix, q.page.unwrap_or(1)).await),
        None => None,
    };
    let body = html! {
        h1 { "My namespace" }
        @if let Some(m) = message { (m) }
        @if let Some(name) = &q.changed { (notice("ok", &format!("Visibility of {name} saved."))) }
        @if let (Some(what), Some(to)) = (&q.published, &q.to) { (notice("ok", &format!("Published {what} to {to}."))) }
        div.grid {
            section.card id="groups" {
                h2 { "Your groups" }
                @if v.principal.groups.is_empty() {
                    p.empty { "You belong to no groups. Namespace claims are made for groups; ask your administrator." }
                } @else {
                    ul.chips { @for g in &v.principal.groups { li { (g.replace(' ', "")) } } }
                }
            }
            section.card id="namespaces" {
                h2 { "My namespaces" }
                @if namespaces.is_empty() {
                    p.empty { "No namespace is claimed for your groups yet." }
                } @else {
                    div.table-wrap { table {
                        thead { tr { th { "Registry" } th { "Prefix" } th { "Group" } th { "Packages" } } }
                        tbody {
                            @for n in &namespaces {
                                @let link = ns_link(&n.registry, &n.prefix, 1);
                                @let current = selected == Some((n.registry.as_str(), n.prefix.as_str()));
                                tr data-href=(link) class=[current.then_some("selected")] {
                                    td { a href=(link) { (n.registry) } }
                                    td { code { (n.prefix) } }
                                    td { (n.group) }
                                    td { (n.package_count) }
                                }
                            }
                        }
                    } }
                }
            }
        }
        @if let Some(card) = packages { (card) }
        (upload_card(app, v))
    };
    super::page(v, "My namespace", Nav::Namespace, body)
}

pub async fn page(State(app): State<App>, v: Viewer, Query(q): Query<NsQuery>) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    render(&app, &v, &q, None).await
}

pub async fn visibility(State(app): State<App>, v: Viewer, body: Bytes) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    let form = Form::parse(&body);
    if let Err(r) = v.check_form(&form) {
        return r;
    }
    let (reg, prefix, name) = (form.get("registry"), form.get("prefix"), form.get("name"));
    let page = form.get("page").parse::<usize>().unwrap_or(1);
    match change_visibility(&app, &v.principal, reg, name, form.get("visibility")).await {
        Ok((display, _)) => {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("registry", reg)
                .append_pair("prefix", prefix)
                .append_pair("page", &page.to_string())
                .append_pair("changed", &display)
                .finish();
            see_other(&format!("/my-namespace?{q}#packages"))
        }
        Err(e) => {
            let q = NsQuery {
                registry: Some(reg.into()),
                prefix: Some(prefix.into()),
                page: Some(page),
                ..Default::default()
            };
            let mut r = render(&app, &v, &q, Some(notice("bad", &e.public_message()))).await;
            *r.status_mut() = e.status();
            r
        }
    }
}

pub async fn upload(State(app): State<App>, v: Viewer, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = v.require_signed_in() {
        return r;
    }
    // The origin is checked before the body is read, the CSRF field after.
    if !v.same_origin {
        return v.error(StatusCode::FORBIDDEN, "This form was sent from another site.");
    }
    let limit = app.config.limits.max_artifact_size_bytes;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let up = match crate::multipart::read_upload(body, ct, &app.blobs, limit, "file").await {
        Ok(up) => up,
        Err(e) => return fail(&app, &v, e.status(), format!("Upload failed: {}", e.public_message())).await,
    };
    if !v.csrf_ok(up.field("csrf").unwrap_or("")) {
        return v.csrf_refused();
    }
    let Some(registry) = up.field("registry").and_then(|r| app.registries.get(r)).cloned() else {
        return fail(&app, &v, StatusCode::BAD_REQUEST, "Choose a registry.".into()).await;
    };
    if !registry.mode.has_local() || ecosystems::browser_upload(registry.kind).is_none() {
        return fail(
            &app,
            &v,
            StatusCode::BAD_REQUEST,
            format!("{} does not take uploads from the browser.", registry.name),
        )
        .await;
    }
    let ctx = ecosystems::request_ctx(app.clone(), registry.clone(), v.principal.clone(), v.base.clone());
    match ecosystems::publish_browser_upload(&ctx, up).await {
        // Post, redirect, get: a refresh of the page shows it again and
        // posts nothing.
        Ok(what) => {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("published", &what)
                .append_pair("to", &registry.name)
                .finish();
            super::see_other(&format!("/my-namespace?{q}"))
        }
        Err(e) => {
            fail(&app, &v, e.status(), format!("Upload to {} failed: {}", registry.name, e.public_message())).await
        }
    }
}

async fn fail(app: &App, v: &Viewer, status: StatusCode, msg: String) -> Response {
    let mut r = render(app, v, &NsQuery::default(), Some(notice("bad", &msg))).await;
    *r.status_mut() = status;
    r
}
