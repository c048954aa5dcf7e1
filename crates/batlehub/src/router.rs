//! The one list of mounts: `/proxy/{registry}/...` for every ecosystem, the
//! JSON API, and the operational endpoints; and the layers every request
//! passes (request id, tracing, security headers).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::App;
use crate::error::AppError;
use crate::{api, ecosystems, identity, ops, ui};

pub fn router(app: App) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let app_for_log = app.clone();
    Router::new()
        .route("/livez", get(ops::livez))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .nest("/api/v1", api::router().layer(middleware::from_fn(csrf_guard)).layer(middleware::from_fn(json_writes)))
        .route("/proxy/{*path}", any(proxy).layer(middleware::from_fn(csrf_guard)))
        .route("/.well-known/{*path}", any(well_known).layer(middleware::from_fn(csrf_guard)))
        .merge(ui::router())
        .fallback(|| async { AppError::not_found("no such endpoint").into_response() })
        .layer(middleware::from_fn_with_state(app.clone(), browser_guard))
        .layer(middleware::from_fn_with_state(app.clone(), client_scope))
        .with_state(app)
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(middleware::from_fn_with_state(app_for_log, access_log))
        .layer(SetRequestIdLayer::new(request_id, RequestIds::default()))
}

/// Where a request went, for the metrics of requests that name no registry.
fn surface(path: &str) -> &'static str {
    if path.starts_with("/proxy/") {
        "proxy"
    } else if path.starts_with("/api/") {
        "api"
    } else if matches!(path, "/livez" | "/healthz" | "/metrics") {
        "ops"
    } else {
        "ui"
    }
}

/// The path as logs may show it: never the query; under `/proxy/` as the
/// registry's ecosystem allows (credentials some clients put in the path
/// taken out).
fn log_path(app: &App, path: &str) -> String {
    let Some(after) = path.strip_prefix("/proxy/") else { return path.to_string() };
    let (name, rest) = after.split_at(after.find('/').unwrap_or(after.len()));
    match app.registries.get(name) {
        Some(r) => format!("/proxy/{name}{}", ecosystems::log_path(r.kind, rest)),
        None => path.to_string(),
    }
}

/// Every request in a `request` span (its id, method and path), counted by
/// surface, and logged once when its response body has been sent (or the
/// client left): method, path, status, bytes, duration, user, registry,
/// and the cause of an error status.
async fn access_log(State(app): State<App>, req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let method = req.method().clone();
    let path = log_path(&app, req.uri().path());
    let surface = surface(req.uri().path());
    let span = tracing::info_span!("request", id = %id, method = %method, path = %path);
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    metrics::counter!("batlehub_http_requests_total", "surface" => surface, "status" => status.to_string())
        .increment(1);
    if surface != "proxy" {
        // Registry requests have their own histogram, by registry.
        metrics::histogram!("batlehub_http_request_seconds", "surface" => surface)
            .record(started.elapsed().as_secs_f64());
    }
    if !app.config.log.access {
        return response;
    }
    let (parts, body) = response.into_parts();
    let note = parts.extensions.get::<crate::http::RequestNote>().cloned().unwrap_or_default();
    let cause = parts.extensions.get::<crate::error::ErrorCause>().map(|c| c.0.clone());
    let body = crate::http::CountedBody::new(body, move |bytes, complete| {
        let ms = (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
        let user = note.user.as_deref().unwrap_or("-");
        let registry = note.registry.as_deref().unwrap_or("-");
        let _entered = span.enter();
        if status >= 500 {
            let error = cause.as_deref().unwrap_or("-");
            tracing::warn!(target: "batlehub::access", status, bytes, ms, user = %user, registry = %registry, complete, error = %error, "{method} {path} {status}");
        } else if let Some(error) = cause.as_deref().filter(|_| status >= 400) {
            tracing::info!(target: "batlehub::access", status, bytes, ms, user = %user, registry = %registry, complete, error = %error, "{method} {path} {status}");
        } else {
            tracing::info!(target: "batlehub::access", status, bytes, ms, user = %user, registry = %registry, complete, "{method} {path} {status}");
        }
    });
    Response::from_parts(parts, axum::body::Body::new(body))
}

/// Request ids: a random prefix per process and a counter, so that making
/// one costs no system call (a UUID per request asks the kernel for
/// randomness every time).
#[derive(Clone)]
struct RequestIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds {
            prefix: identity::random_string(12).into(),
            next: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix)).ok().map(RequestId::new)
    }
}

/// Serve the request as coming from its client's address: failed
/// authentications in it count against that address.
async fn client_scope(State(app): State<App>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = crate::http::client_addr(&app.config.server, req.headers(), peer);
    identity::with_client(client, next.run(req)).await
}

/// `/proxy/{registry}/{rest}`: find the registry, hand the raw path to its
/// ecosystem.
async fn proxy(State(app): State<App>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let after = path.strip_prefix("/proxy/").unwrap_or("");
    let (name, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    serve_registry(app, name, rest, req).await
}

/// `/.well-known/{rest}` at the host root: served by the registry
/// `[server] well_known_registry` names, as its own `/.well-known/{rest}`
/// (Terraform looks for its service discovery only there).
async fn well_known(State(app): State<App>, req: Request) -> Response {
    let Some(name) = app.config.server.well_known_registry.clone() else {
        return AppError::not_found("no such endpoint").into_response();
    };
    let path = req.uri().path().to_string();
    serve_registry(app, &name, &path, req).await
}

async fn serve_registry(app: App, name: &str, rest: &str, req: Request) -> Response {
    let Some(registry) = app.registries.get(name).cloned() else {
        return AppError::not_found(format!("no registry named {name}")).into_response();
    };
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let started = std::time::Instant::now();
    let mut response = ecosystems::dispatch(app, registry.clone(), rest, req, peer).await;
    // Package files share the UI's origin: never let one run as a page.
    response
        .headers_mut()
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; sandbox"));
    registry.metrics.request(response.status().as_u16());
    registry.metrics.seconds.record(started.elapsed().as_secs_f64());
    let note = response.extensions_mut().get_or_insert_default::<crate::http::RequestNote>();
    note.registry = Some(registry.name.clone());
    response
}

/// What a browser may not do, whatever credential it carries (a session
/// cookie, or Basic credentials it cached after a challenge):
///
/// - send a state-changing request from another site: refused (403) when
///   `Sec-Fetch-Site` is `cross-site` or `same-site`, or when `Origin` is
///   `null` or names another origin than this server's (its public URL or
///   the `Host` the request was sent to). Package clients send neither
///   header.
/// - be challenged for Basic credentials: a 401 to a request a browser made
///   (it sends `Sec-Fetch-Mode`) carries no `WWW-Authenticate`, so browsers
///   never cache credentials that another site's requests would then carry.
async fn browser_guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Some(why) = foreign_write(&app, &req) {
        tracing::warn!(method = %req.method(), path = %req.uri().path(), why, "cross-site write refused");
        return AppError::forbidden(format!("cross-site request refused: {why}")).into_response();
    }
    let from_browser = req.headers().contains_key("sec-fetch-mode");
    let mut response = next.run(req).await;
    if from_browser && response.status() == axum::http::StatusCode::UNAUTHORIZED {
        response.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    response
}

/// Why a state-changing request comes from another site, if it does.
fn foreign_write(app: &App, req: &Request) -> Option<&'static str> {
    let headers = req.headers();
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}").trim().to_ascii_lowercase());
    if let Some(site) = text("sec-fetch-site")
        && (site == "cross-site" || site == "same-site")
    {
        return Some("Sec-Fetch-Site says another site sent it");
    }
    let origin = text("origin")?;
    if origin == "null" {
        return Some("its Origin is null");
    }
    let Some(origin) = authority(&origin) else {
        return Some("its Origin is not a URL");
    };
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let ours = authority(&crate::http::public_base(&app.config.server, headers, peer));
    let host = text("host");
    let same = ours.as_deref() == Some(origin.as_str()) || host.is_some_and(|h| h == origin);
    if same { None } else { Some("its Origin is another site") }
}

/// `host[:port]` of a URL, the port left out when it is the scheme's
/// default; lowercase.
fn authority(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// A JSON API write that carries a body must say it is JSON: a browser
/// sends `text/plain`, form and multipart bodies to another site without
/// asking first, `application/json` never (415 otherwise).
async fn json_writes(req: Request, next: Next) -> Response {
    let writes_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
        && (req.headers().contains_key(header::CONTENT_TYPE)
            || req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|n| n.trim() != "0"));
    if writes_body {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")));
        if !json {
            return AppError::UnsupportedMediaType(
                "the body of a JSON API write must be sent as application/json".into(),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// A write authenticated only by the browser session cookie must carry the
/// session's anti-CSRF token in `X-CSRF-Token` (the web UI's forms carry it
/// as a field and are checked by the UI itself). Requests with their own
/// credentials (tokens) are not cookie-authenticated and pass.
async fn csrf_guard(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Some(secret) = identity::session_secret(req.headers()) {
        let presented = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !identity::csrf_matches(&secret, presented) {
            return AppError::forbidden("a write made with the session cookie needs the session's X-CSRF-Token header")
                .into_response();
        }
    }
    next.run(req).await
}

/// Serve until `shutdown` resolves, then let connections in progress finish
/// (at most 30 s).
///
/// Every connection is bounded: at most `[server] max_connections` are
/// served at once (more wait in the listen backlog), and a client that takes
/// longer than `header_read_timeout_secs` to send a request's headers, or
/// leaves a keep-alive connection idle that long, is disconnected, so slow
/// or idle connections cannot exhaust the process's file descriptors.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    let router = router(app.clone());
    let header_timeout = Duration::from_secs(app.config.server.header_read_timeout_secs);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(header_timeout))
        .keep_alive_timeout(Duration::from_secs(20));
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(app.config.server.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTPS when a certificate is configured: the handshake runs in the
    // connection's task, within the header-read timeout.
    let (tls, reloader) = match (&app.config.server.tls_cert_file, &app.config.server.tls_key_file) {
        (Some(cert), Some(key)) => {
            let cert = crate::tls::ServerCert::load(cert, key)?;
            let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cert.server_config()?));
            (Some(acceptor), Some(spawn_cert_reloader(cert)))
        }
        _ => (None, None),
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |req: axum::http::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            // HTTP/2 carries the host in the URI's authority, not in a Host
            // header: give every request one, as URLs are built from it.
            if !req.headers().contains_key(header::HOST)
                && let Some(v) = req.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                req.headers_mut().insert(header::HOST, v);
            }
            req
        });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            use tokio_util::either::Either;
            let io = match tls {
                None => Either::Left(stream),
                Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
                    Ok(Ok(s)) => Either::Right(s),
                    Ok(Err(e)) => return tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                },
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if let Some(r) = reloader {
        r.abort();
    }
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after 30 s; stopping anyway");
    }
    app.flush().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), app.catalog.close()).await;
    Ok(())
}

/// Reload the server certificate on SIGHUP, and when its files change.
fn spawn_cert_reloader(cert: std::sync::Arc<crate::tls::ServerCert>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            let hangup = async {
                match hangups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = hangup => cert.reload(),
                _ = tokio::time::sleep(crate::tls::RELOAD_CHECK) => cert.reload_if_changed(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_cheap() {
        let mut ids = RequestIds::default();
        let req = axum::http::Request::new(());
        let a = ids.make_request_id(&req).expect("id");
        let b = ids.clone().make_request_id(&req).expect("id");
        assert_ne!(a.header_value(), b.header_value(), "clones share the counter");
        let a = a.header_value().to_str().expect("ascii").to_string();
        assert_eq!(a.len(), 14);
        assert!(a.starts_with(&b.header_value().to_str().expect("ascii")[..13]));
        assert_ne!(RequestIds::default().prefix, ids.prefix, "each process starts with a new prefix");
    }
}
