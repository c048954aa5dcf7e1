//! HTTP helpers every ecosystem and surface uses: JSON and document bodies
//! with ETag / 304, the cache-state header, streamed artifacts, the derived
//! documents cache, bounded request bodies (small ones read whole, large
//! ones handed to a parser on the blocking pool as a limited reader), and
//! the public base URL.
//!
//! Architecture invariant: no protocol knowledge; a response body is either
//! small or a stream.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio_util::io::ReaderStream;

use std::io::BufReader;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::blobs::{CHUNK, Readable};
use crate::config::ServerConfig;
use crate::error::{AppError, AppResult};
use crate::upstream::artifacts::Artifact;
use crate::upstream::documents::CacheState;

/// A rendered document and its validator.
#[derive(Clone)]
pub struct Rendered {
    pub body: Bytes,
    pub etag: String,
    /// `etag` as a header value, made once.
    etag_header: Option<HeaderValue>,
}

/// What a derived document is rendered from: the upstream body's generation
/// (unique per body in the process), the rendering's variant (its format),
/// and the public base URL when the rendering contains URLs.
pub type RenderKey = (u64, &'static str, String);

/// Documents derived from upstream bodies (rewritten packuments, simple
/// pages, index validators), rendered once per input. Bounded in bytes.
pub struct RenderedCache {
    cache: moka::future::Cache<RenderKey, Rendered>,
}

impl RenderedCache {
    pub fn new(max_bytes: u64) -> RenderedCache {
        RenderedCache {
            cache: moka::future::Cache::builder()
                .weigher(|_k: &RenderKey, v: &Rendered| v.body.len().clamp(1, u32::MAX as usize) as u32)
                .max_capacity(max_bytes)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    /// The rendering of `key`, made by `render` on the blocking pool once
    /// (concurrent first requests share it).
    pub async fn get_or_render<F>(&self, key: RenderKey, render: F) -> AppResult<Rendered>
    where
        F: FnOnce() -> AppResult<Vec<u8>> + Send + 'static,
    {
        // A hit is a plain lookup; only a miss goes through the single flight.
        if let Some(hit) = self.cache.get(&key).await {
            return Ok(hit);
        }
        let made =
            self.cache.try_get_with(key, async move { blocking(move || render().map(rendered)).await }).await.map_err(
                |e: Arc<AppError>| match &*e {
                    AppError::Upstream(m) => AppError::Upstream(m.clone()),
                    other => AppError::internal(other.to_string()),
                },
            )?;
        if made.body.len() >= crate::upstream::LARGE_CACHE_ENTRY {
            self.cache.run_pending_tasks().await;
        }
        Ok(made)
    }
}

/// Run CPU-bound work (parsing, rendering) on the blocking pool.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> AppResult<T> + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| AppError::internal(format!("a blocking task failed: {e}")))?
}

/// Header telling how a document was served: `hit`, `miss`, `revalidated`, `stale`.
pub const CACHE_HEADER: &str = "x-batlehub-cache";

/// RFC 3339 / ISO 8601 UTC time of epoch milliseconds.
/// An HTTP date (`Last-Modified`) as epoch ms, `None` if it is not one.
pub fn http_date_ms(text: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(text).ok()?;
    i64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()
}

pub fn iso8601(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

pub fn etag_of(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&d[..16]))
}

pub fn rendered(body: Vec<u8>) -> Rendered {
    let etag = etag_of(&body);
    let etag_header = HeaderValue::from_str(&etag).ok();
    Rendered { body: Bytes::from(body), etag, etag_header }
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// `value` as a JSON response with `status` (the JSON API's form).
pub fn json_status(status: StatusCode, value: serde_json::Value) -> Response {
    json(status, &value)
}

/// `value` as a 200 JSON response.
pub fn ok_json(value: serde_json::Value) -> Response {
    json(StatusCode::OK, &value)
}

/// A document with its validator: 304 when the client already has it.
pub fn document(
    request_headers: &HeaderMap,
    doc: &Rendered,
    content_type: &'static str,
    state: Option<CacheState>,
) -> Response {
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == doc.etag || t.trim() == "*"));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, doc.body.clone()).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = &doc.etag_header {
        h.insert(header::ETAG, v.clone());
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept, Authorization"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Some(state) = state {
        mark_cache_state(&mut response, state);
    }
    response
}

/// Say how a response built from an upstream document was served
/// (`x-batlehub-cache`), with a `Warning` when it is stale (the upstream
/// could not be asked).
pub fn mark_cache_state(response: &mut Response, state: CacheState) {
    let h = response.headers_mut();
    h.insert(CACHE_HEADER, HeaderValue::from_static(state.as_str()));
    if state == CacheState::Stale {
        h.insert(header::WARNING, HeaderValue::from_static("110 batlehub \"Response is Stale\""));
    }
}

/// Stream an artifact, counting the bytes served on `counter`.
pub fn artifact(counter: &metrics::Counter, artifact: Artifact, content_type_override: Option<&str>) -> Response {
    let counter = counter.clone();
    let (body, size, content_type) = match artifact {
        Artifact::Stored { file: Readable::Memory(bytes), size, content_type } => {
            counter.increment(bytes.len() as u64);
            (Body::from(bytes), Some(size), content_type)
        }
        Artifact::Stored { file: Readable::Stream(body), size, content_type } => {
            let stream = body.map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.increment(c.len() as u64);
                }
                chunk
            });
            (Body::from_stream(stream), Some(size), content_type)
        }
        Artifact::Stored { file: Readable::File(file), size, content_type } => {
            let stream = ReaderStream::with_capacity(file, CHUNK).map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.increment(c.len() as u64);
                }
                chunk
            });
            (Body::from_stream(stream), Some(size), content_type)
        }
        Artifact::Streaming { body, size, content_type } => {
            let stream = body.map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.increment(c.len() as u64);
                }
                chunk
            });
            (Body::from_stream(stream), size, content_type)
        }
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    let ct = content_type_override.map(str::to_string).unwrap_or(content_type);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ct).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(size) = size {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    response
}

/// Read a small request body (JSON commands, audit reports) with a limit.
pub async fn read_small_body(body: Body, limit: usize) -> Result<Bytes, AppError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if e.to_string().contains("length limit") {
            AppError::PayloadTooLarge(limit as u64)
        } else {
            AppError::bad_request(format!("could not read the request body: {e}"))
        }
    })
}

/// Refuse a request whose declared `Content-Length` exceeds `limit` before
/// reading it (413, naming `reported` as the limit).
pub fn check_content_length(headers: &HeaderMap, limit: u64, reported: u64) -> AppResult<()> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit => Err(AppError::PayloadTooLarge(reported)),
        _ => Ok(()),
    }
}

/// A large request body (a publish) read by `parse` on the blocking pool,
/// as a buffered blocking reader that fails with `FileTooLarge` once more
/// than `limit` bytes arrived. A declared length over `limit` is refused
/// before reading, and any failure after the limit was crossed is a 413
/// naming `reported` (the artifact limit the user configured).
pub async fn parse_body<T, F>(headers: &HeaderMap, body: Body, limit: u64, reported: u64, parse: F) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn std::io::BufRead) -> AppResult<T> + Send + 'static,
{
    check_content_length(headers, limit, reported)?;
    let exceeded = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&exceeded);
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "request body too large"));
        }
        Ok(chunk)
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let result = blocking(move || {
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        parse(&mut reader)
    })
    .await;
    match result {
        Err(_) if exceeded.load(Ordering::Relaxed) => Err(AppError::PayloadTooLarge(reported)),
        other => other,
    }
}

/// Whether a file starts with the gzip magic (`.tgz`, `.crate`, `.tar.gz`).
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// The public base URL: `public_url` when configured, else the request's
/// `Host` (and `X-Forwarded-Host` / `X-Forwarded-Proto`, believed only from
/// `trusted_proxies`).
pub fn public_base(server: &ServerConfig, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    if let Some(url) = &server.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let trusted = peer.is_some_and(|p| server.trusted_proxies.iter().any(|net| net.contains(&p.ip())));
    let header = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.split(',').next().unwrap_or("").trim().to_string())
    };
    let host = trusted
        .then(|| header("x-forwarded-host"))
        .flatten()
        .or_else(|| header("host"))
        .filter(|h| valid_host(h))
        .unwrap_or_else(|| format!("{}:{}", server.host, server.port));
    let scheme = trusted
        .then(|| header("x-forwarded-proto"))
        .flatten()
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| if server.tls_cert_file.is_some() { "https" } else { "http" }.to_string());
    format!("{scheme}://{host}")
}

/// The address of the client: the peer, or, when the peer is a trusted
/// proxy, the `X-Forwarded-For` address that the trusted proxies saw: read
/// from the right (each proxy appends the address it was reached from), the
/// first that is not a trusted proxy. Entries further left were written by
/// the client itself and could be anything, so they are never believed.
pub fn client_addr(server: &ServerConfig, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<std::net::IpAddr> {
    let peer = peer?.ip();
    let trusted = |ip: &std::net::IpAddr| server.trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let forwarded =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let mut client = peer;
    for entry in forwarded.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<std::net::IpAddr>() else { break };
        client = ip;
        if !trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// A `Host` value safe to write into documents.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// What the access log says of a request beyond its method, path and
/// status: who made it and to which registry (set in the response's
/// extensions by whoever knows).
#[derive(Debug, Clone, Default)]
pub struct RequestNote {
    pub user: Option<String>,
    pub registry: Option<String>,
}

/// A response body that counts the bytes sent and calls `done` once with
/// their number when it ends or is dropped (a client that hangs up): what
/// lets the access log give the bytes and the whole duration of streamed
/// artifacts. Its size hint is the inner body's, so `Content-Length` stays.
pub struct CountedBody<F: FnOnce(u64, bool) + Send + 'static> {
    inner: Body,
    sent: u64,
    done: Option<F>,
}

impl<F: FnOnce(u64, bool) + Send + 'static> CountedBody<F> {
    pub fn new(inner: Body, done: F) -> Self {
        CountedBody { inner, sent: 0, done: Some(done) }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(done) = self.done.take() {
            done(self.sent, complete);
        }
    }
}

impl<F: FnOnce(u64, bool) + Send + Unpin + 'static> http_body::Body for CountedBody<F> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
            }
            std::task::Poll::Ready(None) => self.finish(true),
            std::task::Poll::Ready(Some(Err(_))) => self.finish(false),
            std::task::Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<F: FnOnce(u64, bool) + Send + 'static> Drop for CountedBody<F> {
    fn drop(&mut self) {
        let complete = http_body::Body::is_end_stream(&self.inner);
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_only_as_far_as_trusted_proxies_wrote_them() {
        let server =
            ServerConfig { trusted_proxies: vec!["10.0.0.0/8".parse().expect("net")], ..ServerConfig::default() };
        let with = |xff: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", xff.parse().expect("header"));
            h
        };
        let proxy: SocketAddr = "10.0.0.5:4000".parse().expect("addr");
        let outsider: SocketAddr = "198.51.100.7:4000".parse().expect("addr");
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().expect("ip"));
        // The client's own entry (left) is not believed; the proxy's is.
        assert_eq!(client_addr(&server, &with("1.2.3.4, 203.0.113.9"), Some(proxy)), ip("203.0.113.9"));
        // Through two trusted proxies.
        assert_eq!(client_addr(&server, &with("203.0.113.9, 10.0.0.7"), Some(proxy)), ip("203.0.113.9"));
        // An untrusted peer's header is ignored.
        assert_eq!(client_addr(&server, &with("1.2.3.4"), Some(outsider)), ip("198.51.100.7"));
        // No header, or garbage: the proxy itself.
        assert_eq!(client_addr(&server, &HeaderMap::new(), Some(proxy)), ip("10.0.0.5"));
        assert_eq!(client_addr(&server, &with("not-an-ip"), Some(proxy)), ip("10.0.0.5"));
    }
}
