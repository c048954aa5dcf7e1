//! Serving a registry request: the ecosystem contract, the generic driver
//! that runs every ecosystem's prologue, and the steps every ecosystem
//! shares for local packages ([`local`]) and upstream documents and
//! artifacts ([`proxied`]).
//!
//! Architecture invariants: this module knows no ecosystem and no wire
//! format; ecosystems reach the application only through [`RequestCtx`].
//! Every operation's access is checked here, once, before it does any I/O.

pub mod contract;
pub mod grant;
pub mod local;
pub mod proxied;
mod rules;
pub mod untrusted;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::BoxFuture;

pub use self::contract::{Access, BrowserUpload, Ecosystem, FileEntry, Head, Operation, Tool};
pub use self::local::{ListedRegistry, Local, LocalSet, Owned, Shadow, Writable};
pub use self::proxied::Located;
use crate::access::{Permission, Principal};
use crate::app::App;
use crate::catalog::{AuditEvent, now_ms};
pub use crate::config::natural_version_order;
use crate::error::{AppError, AppResult};
use crate::multipart::Upload;
pub use crate::registry::PackageView;
use crate::registry::{self, Registry};
use crate::upstream::documents::DocFetch;
pub use rules::{Mask, Withheld};

/// Everything an ecosystem's handler needs about the request it serves.
#[derive(Clone)]
pub struct RequestCtx {
    pub app: App,
    pub registry: Arc<Registry>,
    pub principal: Principal,
    /// The public base URL of the server, without a trailing slash.
    pub base: String,
    /// The ecosystem's [`Ecosystem::find_upstream_listings`].
    listings: ListingFetches,
    /// The ecosystem's [`Ecosystem::local_licence`].
    pub(crate) local_licence: fn(&crate::catalog::VersionRow) -> Option<String>,
}

/// Where the upstreams of a request's registry would list a package.
type ListingFetches = for<'a> fn(&'a RequestCtx, &'a str) -> BoxFuture<'a, AppResult<Vec<DocFetch>>>;

fn listings_of<'a, E: Ecosystem>(ctx: &'a RequestCtx, name: &'a str) -> BoxFuture<'a, AppResult<Vec<DocFetch>>> {
    Box::pin(E::find_upstream_listings(ctx, name))
}

impl RequestCtx {
    /// The context of a request to `registry`, served by ecosystem `E`.
    pub fn new<E: Ecosystem>(app: App, registry: Arc<Registry>, principal: Principal, base: String) -> RequestCtx {
        RequestCtx { app, registry, principal, base, listings: listings_of::<E>, local_licence: E::local_licence }
    }

    /// This request as if made to `registry` (of the same type).
    pub fn on(&self, registry: Arc<Registry>) -> RequestCtx {
        RequestCtx { registry, ..self.clone() }
    }

    /// The fetches of the documents in which this registry's upstreams
    /// would list the package `name`.
    pub async fn upstream_listings(&self, name: &str) -> AppResult<Vec<DocFetch>> {
        (self.listings)(self, name).await
    }

    /// `{base}/proxy/{registry}`: every URL this registry serves starts here.
    pub fn registry_base(&self) -> String {
        format!("{}/proxy/{}", self.base, self.registry.name)
    }

    /// The registry-level permission check.
    pub fn require(&self, wanted: Permission) -> AppResult<()> {
        registry::require_on(&self.principal, &self.registry, wanted)
    }

    /// Check an authorization class: the one place the rule is written.
    pub fn check(&self, access: Access) -> AppResult<()> {
        if access.is_write() && !self.registry.mode.has_local() {
            // A group: name where its packages are published.
            let local =
                self.registry.members.iter().filter_map(|m| self.app.registries.get(m)).find(|m| m.mode.has_local());
            return Err(match local {
                Some(m) => AppError::Forbidden(format!(
                    "registry is not in local or hybrid mode: publish new packages to {}, the local registry among its members",
                    m.name
                )),
                None => AppError::not_local_mode(),
            });
        }
        match access.permission() {
            Some(p) => self.require(p),
            None => Ok(()),
        }
    }

    /// Record a successful change in the audit trail (batched) and the log.
    pub fn audit_ok(&self, action: &str, package: &str, version: Option<&str>) {
        tracing::info!(
            target: "batlehub::change",
            registry = %self.registry.name,
            package,
            version = version.unwrap_or("-"),
            by = %self.principal.label(),
            "{action}"
        );
        self.app.audit.record(AuditEvent {
            at: now_ms(),
            registry: Some(self.registry.name.clone()),
            action: action.into(),
            package: Some(package.to_string()),
            version: version.map(str::to_string),
            principal: Some(self.principal.label()),
            outcome: "ok".into(),
            detail: None,
        });
    }

    /// Record a refused request in the audit trail (batched): forbidden
    /// requests, and writes attempted without credentials.
    pub fn audit_denied(&self, err: &AppError, is_write: bool, action: &str, package: impl FnOnce() -> Option<String>) {
        if matches!(err, AppError::Forbidden(_)) || (is_write && matches!(err, AppError::Unauthenticated)) {
            self.app.audit.record(AuditEvent {
                at: now_ms(),
                registry: Some(self.registry.name.clone()),
                action: action.to_string(),
                package: package(),
                version: None,
                principal: Some(self.principal.label()),
                outcome: "denied".into(),
                detail: Some(err.to_string()),
            });
        }
    }
}

/// Serve `rest` (the raw path after `/proxy/{registry}`) for `registry`
/// with ecosystem `E`: parse the operation, resolve the caller, check the
/// operation's access once, serve, and render any error in `E`'s dialect.
pub async fn drive<E: Ecosystem>(
    app: App,
    registry: Arc<Registry>,
    rest: &str,
    req: Request,
    peer: Option<SocketAddr>,
) -> Response {
    let (parts, body) = req.into_parts();
    let head = Head { method: &parts.method, path: rest, query: parts.uri.query(), headers: &parts.headers };
    let op = match E::parse(&head) {
        Ok(op) => op,
        Err(e) => return E::render_error(&e),
    };
    let access = op.access();
    let principal = match app.identity.resolve_with(&parts.headers, E::credential(&head)).await {
        Ok(p) => p,
        Err(_) if access == Access::Open => Principal::anonymous(),
        Err(e) => return refusal::<E>(&e),
    };
    if let Some(rate) = &registry.rate
        && let Err(limited) = rate.take(&principal, crate::identity::current_client(), &registry.name)
    {
        metrics::counter!("batlehub_rate_limited_total", "registry" => registry.name.clone()).increment(1);
        let e = AppError::RateLimited { message: limited.message, retry_after: limited.retry_after };
        let mut response = refusal::<E>(&e);
        let note = response.extensions_mut().get_or_insert_default::<crate::http::RequestNote>();
        note.user = Some(principal.label());
        return response;
    }
    let base = crate::http::public_base(&app.config.server, &parts.headers, peer);
    let ctx = RequestCtx::new::<E>(app, registry, principal, base);
    let ctx = match write_target::<E>(ctx, &op, access).await {
        Ok(ctx) => ctx,
        Err(e) => return E::render_error(&e),
    };
    let served = match ctx.check(access) {
        Ok(()) => E::serve(&ctx, &op, &parts, body).await,
        Err(e) => Err(e),
    };
    let mut response = match served {
        Ok(response) => response,
        Err(e) => {
            ctx.audit_denied(&e, access.is_write(), op.audit_name(), || op.package());
            refusal::<E>(&e)
        }
    };
    let note = response.extensions_mut().get_or_insert_default::<crate::http::RequestNote>();
    note.user = Some(ctx.principal.label());
    response
}

/// An error in the ecosystem's dialect, with `Retry-After` when the client
/// should wait.
fn refusal<E: Ecosystem>(e: &AppError) -> Response {
    let mut response = E::render_error(e);
    if let Some(secs) = e.retry_after()
        && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    response
}

/// Where a write goes: a group registry (one that holds no packages, with
/// members) passes a change of a package one of its local members holds to
/// that member, which then decides with its own permissions (clients
/// configured with the group can deprecate, tag, yank or unpublish what they
/// published to the member). Anything else stays with the registry asked.
async fn write_target<E: Ecosystem>(ctx: RequestCtx, op: &E::Op, access: Access) -> AppResult<RequestCtx> {
    if !access.is_write() || ctx.registry.mode.has_local() || ctx.registry.members.is_empty() {
        return Ok(ctx);
    }
    let Some(key) = op.package().and_then(|p| E::normalize_name(&p)) else { return Ok(ctx) };
    for name in &ctx.registry.members {
        let Some(member) = ctx.app.registries.get(name).filter(|m| m.mode.has_local()) else { continue };
        if ctx.app.catalog.get_package(&member.name, &key).await?.is_some() {
            let member = Arc::clone(member);
            return Ok(ctx.on(member));
        }
    }
    Ok(ctx)
}

/// A browser upload (the web UI's Upload card) published with ecosystem
/// `E`, after the same write check as a client's publish.
pub async fn publish_upload<E: Ecosystem>(ctx: &RequestCtx, upload: Upload) -> AppResult<String> {
    let result = match (E::BROWSER_UPLOAD, ctx.check(Access::Write)) {
        (None, _) => {
            Err(AppError::bad_request(format!("{} does not take uploads from the browser", ctx.registry.name)))
        }
        (Some(_), Err(e)) => Err(e),
        (Some(_), Ok(())) => E::publish_upload(ctx, upload).await,
    };
    if let Err(e) = &result {
        ctx.audit_denied(e, true, "upload", || None);
    }
    result
}
