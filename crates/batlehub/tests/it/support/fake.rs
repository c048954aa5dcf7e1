//! One fake upstream registry skeleton for every ecosystem, on 127.0.0.1.
//!
//! The skeleton serves what a [`Protocol`] says (an ecosystem's documents
//! and artifacts for the files it holds), and does the rest the same way for
//! every ecosystem: it counts requests per path (as sent), keeps request
//! bodies, fails every request, corrupts artifacts, stalls them halfway until
//! released, delays them, and gives documents an ETag (answering
//! `If-None-Match` with 304) or `Cache-Control: no-store`. A hostile
//! upstream points its artifact URLs at another server
//! (`set_artifact_base`), redirects artifact requests there
//! (`set_redirect`), or leaves digests out of its documents
//! (`set_no_digests`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Every request answers 503.
    Fail,
    /// Artifacts are served with other bytes than the documents advertise.
    Corrupt,
    /// Artifacts send their first half, then wait for `release()`.
    Stall,
    /// Nothing is answered at all (not even headers) until `release()`.
    Hang,
    /// Artifacts announce their whole length, send half, then break off
    /// (the connection is dropped mid-body).
    Truncate,
}

/// One file the fake upstream holds.
#[derive(Debug, Clone)]
pub struct File {
    pub package: String,
    pub version: String,
    pub filename: String,
    pub bytes: Vec<u8>,
    /// When documents say the version was published (RFC 3339); `None`
    /// for the protocol's fixed default.
    pub published: Option<String>,
    /// Where documents say the artifact is: `None` for the fake itself
    /// (protocols then use `base`, or relative links).
    pub artifact_base: Option<String>,
    /// Whether documents advertise the artifact's digest.
    pub advertise_digest: bool,
    /// The licence documents declare for the version (where the protocol
    /// has one); `None`: none declared.
    pub licence: Option<String>,
}

impl File {
    /// The publish time documents give (RFC 3339): `default` unless a test
    /// set one, `None` when a test set none.
    pub fn published_or(&self, default: &str) -> Option<String> {
        match self.published.as_deref() {
            None => Some(default.to_string()),
            Some("") => None,
            Some(t) => Some(t.to_string()),
        }
    }
}

/// What a protocol answers.
pub enum Answer {
    /// A metadata document (ETag, 304, no-store apply).
    Document {
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// An artifact (corruption, stalls and delays apply).
    Artifact(Vec<u8>),
    /// Any other response, as is.
    Other(Response),
    NotFound,
}

/// An ecosystem's side of a fake upstream.
pub trait Protocol: Send + Sync + 'static {
    /// Answer `method path` (the path percent-decoded) from `files`;
    /// `base` is the fake's own URL.
    fn answer(&self, files: &[File], base: &str, method: &Method, path: &str, body: &[u8]) -> Answer;
}

#[derive(Default)]
struct Inner {
    files: Vec<File>,
    hits: HashMap<String, usize>,
    bodies: HashMap<String, Vec<Vec<u8>>>,
    no_store: bool,
    delay: Option<Duration>,
    artifact_base: Option<String>,
    redirect: Option<String>,
    no_digests: bool,
    chunked: bool,
}

struct Shared<P> {
    protocol: P,
    url: String,
    inner: Mutex<Inner>,
    behaviour: Mutex<Behaviour>,
    release: Notify,
}

pub struct FakeUpstream<P: Protocol> {
    pub url: String,
    shared: Arc<Shared<P>>,
    _handle: tokio::task::JoinHandle<()>,
}

impl<P: Protocol> FakeUpstream<P> {
    pub async fn serve(protocol: P) -> FakeUpstream<P> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        FakeUpstream::start_on(listener, url, protocol).await
    }

    /// The same fake, over TLS with a certificate of `tls`.
    pub async fn serve_tls(tls: &super::tls::TlsMaterial, protocol: P) -> FakeUpstream<P> {
        let listener = super::tls::TlsListener::bind(tls).await;
        let url = format!("https://{}", axum::serve::Listener::local_addr(&listener).expect("addr"));
        FakeUpstream::start_on(listener, url, protocol).await
    }

    async fn start_on<L: axum::serve::Listener>(listener: L, url: String, protocol: P) -> FakeUpstream<P>
    where
        L::Addr: std::fmt::Debug,
    {
        let shared = Arc::new(Shared {
            protocol,
            url: url.clone(),
            inner: Mutex::new(Inner::default()),
            behaviour: Mutex::new(Behaviour::Normal),
            release: Notify::new(),
        });
        let app = Router::new().fallback(handle::<P>).with_state(Arc::clone(&shared));
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeUpstream { url, shared, _handle: handle }
    }

    /// Hold `bytes` as `filename`, version `version` of `package`.
    pub fn add_file(&self, package: &str, version: &str, filename: &str, bytes: Vec<u8>) {
        self.shared.inner.lock().expect("lock").files.push(File {
            package: package.to_string(),
            version: version.to_string(),
            filename: filename.to_string(),
            bytes,
            published: None,
            artifact_base: None,
            advertise_digest: true,
            licence: None,
        });
    }

    /// Say that `package` `version` was published at `rfc3339` (or, with
    /// `None`, give no publish time at all where the protocol allows).
    /// The licence documents declare for `package` `version`.
    pub fn set_licence(&self, package: &str, version: &str, licence: &str) {
        for f in self.shared.inner.lock().expect("lock").files.iter_mut() {
            if f.package == package && f.version == version {
                f.licence = Some(licence.to_string());
            }
        }
    }

    pub fn set_published(&self, package: &str, version: &str, rfc3339: Option<&str>) {
        for f in self.shared.inner.lock().expect("lock").files.iter_mut() {
            if f.package == package && f.version == version {
                f.published = Some(rfc3339.unwrap_or("").to_string());
            }
        }
    }

    /// Requests seen for a path (as sent, e.g. `/@scope%2fname`).
    pub fn hits(&self, path: &str) -> usize {
        self.shared.inner.lock().expect("lock").hits.get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.shared.inner.lock().expect("lock").hits.values().sum()
    }

    /// Every path requested so far (as sent).
    pub fn paths(&self) -> Vec<String> {
        self.shared.inner.lock().expect("lock").hits.keys().cloned().collect()
    }

    /// The bodies of the requests sent to `path`.
    pub fn bodies(&self, path: &str) -> Vec<Vec<u8>> {
        self.shared.inner.lock().expect("lock").bodies.get(path).cloned().unwrap_or_default()
    }

    pub fn set(&self, b: Behaviour) {
        *self.shared.behaviour.lock().expect("lock") = b;
    }

    pub fn set_fail(&self, on: bool) {
        self.set(if on { Behaviour::Fail } else { Behaviour::Normal });
    }

    pub fn set_corrupt(&self, on: bool) {
        self.set(if on { Behaviour::Corrupt } else { Behaviour::Normal });
    }

    pub fn set_no_store(&self, on: bool) {
        self.shared.inner.lock().expect("lock").no_store = on;
    }

    /// Wait this long before answering with an artifact.
    pub fn set_artifact_delay(&self, d: Option<Duration>) {
        self.shared.inner.lock().expect("lock").delay = d;
    }

    /// Documents point artifacts at `base` (another server) instead of here.
    pub fn set_artifact_base(&self, base: Option<&str>) {
        self.shared.inner.lock().expect("lock").artifact_base = base.map(str::to_string);
    }

    /// Artifact requests answer `302 Location: {base}{path}`.
    pub fn set_redirect(&self, base: Option<&str>) {
        self.shared.inner.lock().expect("lock").redirect = base.map(str::to_string);
    }

    /// Documents leave the artifacts' digests out.
    pub fn set_no_digests(&self, on: bool) {
        self.shared.inner.lock().expect("lock").no_digests = on;
    }

    /// Artifacts are sent chunked, with no Content-Length.
    pub fn set_chunked(&self, on: bool) {
        self.shared.inner.lock().expect("lock").chunked = on;
    }

    /// Let stalled artifacts finish.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(body))[..16])
}

async fn handle<P: Protocol>(State(st): State<Arc<Shared<P>>>, req: Request) -> Response {
    let raw_path = req.uri().path().to_string();
    let method = req.method().clone();
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = axum::body::to_bytes(req.into_body(), 1 << 24).await.unwrap_or_default();
    let (files, no_store, delay, base, redirect, chunked) = {
        let mut i = st.inner.lock().expect("lock");
        *i.hits.entry(raw_path.clone()).or_default() += 1;
        if !body.is_empty() {
            i.bodies.entry(raw_path.clone()).or_default().push(body.to_vec());
        }
        let mut files = i.files.clone();
        for f in &mut files {
            f.artifact_base = i.artifact_base.clone();
            f.advertise_digest = !i.no_digests;
        }
        let base = i.artifact_base.clone().unwrap_or_else(|| st.url.clone());
        (files, i.no_store, i.delay, base, i.redirect.clone(), i.chunked)
    };
    let behaviour = *st.behaviour.lock().expect("lock");
    if behaviour == Behaviour::Hang {
        st.release.notified().await;
    }
    if behaviour == Behaviour::Fail {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream down").into_response();
    }
    let path = percent_encoding::percent_decode_str(&raw_path).decode_utf8_lossy().into_owned();
    match st.protocol.answer(&files, &base, &method, &path, &body) {
        Answer::NotFound => (StatusCode::NOT_FOUND, "not found").into_response(),
        Answer::Other(r) => r,
        Answer::Document { content_type, body } => {
            let etag = etag_of(&body);
            let mut r = if if_none_match.as_deref() == Some(etag.as_str()) {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
            };
            r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("etag"));
            if no_store {
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            r
        }
        Answer::Artifact(_) if redirect.is_some() => {
            let to = format!("{}{raw_path}", redirect.unwrap_or_default());
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        Answer::Artifact(mut bytes) => {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            if behaviour == Behaviour::Corrupt
                && let Some(last) = bytes.last_mut()
            {
                *last ^= 0xff;
            }
            if behaviour == Behaviour::Stall {
                return stalled(bytes, st);
            }
            if behaviour == Behaviour::Truncate {
                return truncated(bytes);
            }
            if chunked {
                let half = bytes.len() / 2;
                let parts = [Bytes::copy_from_slice(&bytes[..half]), Bytes::copy_from_slice(&bytes[half..])];
                let stream = futures_util::stream::iter(parts.map(Ok::<_, std::io::Error>));
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    Body::from_stream(stream),
                )
                    .into_response();
            }
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
    }
}

/// A `Content-Length` of all of `bytes`, the first half, then a broken body.
fn truncated(bytes: Vec<u8>) -> Response {
    let len = bytes.len();
    let first = Bytes::copy_from_slice(&bytes[..len / 2]);
    let parts: Vec<Result<Bytes, std::io::Error>> =
        vec![Ok(first), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "the upstream broke off"))];
    let mut r = Response::new(Body::from_stream(futures_util::stream::iter(parts)));
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// The first half of `bytes` at once, the rest once released.
fn stalled<P: Protocol>(bytes: Vec<u8>, st: Arc<Shared<P>>) -> Response {
    let half = bytes.len() / 2;
    let len = bytes.len();
    let first = Bytes::copy_from_slice(&bytes[..half]);
    let rest = Bytes::copy_from_slice(&bytes[half..]);
    let stream = futures_util::stream::unfold(0u8, move |state| {
        let (first, rest, st) = (first.clone(), rest.clone(), Arc::clone(&st));
        async move {
            match state {
                0 => Some((Ok::<_, std::io::Error>(first), 1)),
                1 => {
                    st.release.notified().await;
                    Some((Ok(rest), 2))
                }
                _ => None,
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}
