//! A fake npm upstream on 127.0.0.1: serves packuments and tarballs for the
//! packages it is given, counts requests per path, and can fail, stall or
//! corrupt on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::npm::{integrity, shasum};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Every request answers 500.
    Fail,
    /// Tarballs are served with other bytes than the packument advertises.
    Corrupt,
    /// Tarballs send their first half, then wait for `release()`.
    Stall,
}

#[derive(Default)]
struct Inner {
    /// name → [(version, tarball)]
    packages: HashMap<String, Vec<(String, Vec<u8>)>>,
    hits: HashMap<String, usize>,
    no_store: bool,
    tarball_delay: Option<Duration>,
    audit_bodies: Vec<Vec<u8>>,
}

pub struct FakeNpm {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    behaviour: Arc<Mutex<Behaviour>>,
    release: Arc<Notify>,
    _handle: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct St {
    inner: Arc<Mutex<Inner>>,
    behaviour: Arc<Mutex<Behaviour>>,
    release: Arc<Notify>,
    url: String,
}

impl FakeNpm {
    pub async fn start() -> FakeNpm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        FakeNpm::start_on(listener, url).await
    }

    /// The same fake, over TLS with a certificate of `tls`.
    pub async fn start_tls(tls: &super::tls::TlsMaterial) -> FakeNpm {
        let listener = super::tls::TlsListener::bind(tls).await;
        let url = format!("https://{}", axum::serve::Listener::local_addr(&listener).expect("addr"));
        FakeNpm::start_on(listener, url).await
    }

    async fn start_on<L: axum::serve::Listener>(listener: L, url: String) -> FakeNpm
    where
        L::Addr: std::fmt::Debug,
    {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let behaviour = Arc::new(Mutex::new(Behaviour::Normal));
        let release = Arc::new(Notify::new());
        let st = St { inner: inner.clone(), behaviour: behaviour.clone(), release: release.clone(), url: url.clone() };
        let app = Router::new().fallback(handle).with_state(st);
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeNpm { url, inner, behaviour, release, _handle: handle }
    }

    pub fn add(&self, name: &str, version: &str, tarball: Vec<u8>) {
        let mut i = self.inner.lock().expect("lock");
        i.packages.entry(name.to_string()).or_default().push((version.to_string(), tarball));
    }

    /// Requests seen for a path (as sent, e.g. `/@scope%2fname`).
    pub fn hits(&self, path: &str) -> usize {
        self.inner.lock().expect("lock").hits.get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.inner.lock().expect("lock").hits.values().sum()
    }

    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().expect("lock") = b;
    }

    pub fn set_no_store(&self, on: bool) {
        self.inner.lock().expect("lock").no_store = on;
    }

    pub fn set_tarball_delay(&self, d: Option<Duration>) {
        self.inner.lock().expect("lock").tarball_delay = d;
    }

    /// Let stalled tarballs finish.
    pub fn release(&self) {
        self.release.notify_waiters();
    }

    pub fn audit_bodies(&self) -> Vec<Vec<u8>> {
        self.inner.lock().expect("lock").audit_bodies.clone()
    }
}

fn packument(url: &str, name: &str, versions: &[(String, Vec<u8>)]) -> Value {
    let bare = name.rsplit('/').next().unwrap_or(name);
    let mut vmap = Map::new();
    let mut time = Map::new();
    for (v, tgz) in versions {
        vmap.insert(
            v.clone(),
            json!({
                "name": name,
                "version": v,
                "description": format!("upstream {name}"),
                "dist": {
                    "tarball": format!("{url}/{name}/-/{bare}-{v}.tgz"),
                    "integrity": integrity(tgz),
                    "shasum": shasum(tgz),
                },
            }),
        );
        time.insert(v.clone(), json!("2024-01-01T00:00:00.000Z"));
    }
    let latest = versions.last().map(|(v, _)| v.clone()).unwrap_or_default();
    json!({"_id": name, "name": name, "dist-tags": {"latest": latest}, "versions": vmap, "time": time})
}

async fn handle(State(st): State<St>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    {
        let mut i = st.inner.lock().expect("lock");
        *i.hits.entry(path.clone()).or_default() += 1;
    }
    let behaviour = *st.behaviour.lock().expect("lock");
    if behaviour == Behaviour::Fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream down").into_response();
    }
    let method = req.method().clone();
    if path == "/-/npm/v1/security/advisories/bulk" && method == axum::http::Method::POST {
        let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
        st.inner.lock().expect("lock").audit_bodies.push(body.to_vec());
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response();
    }
    if path == "/-/v1/search" {
        let i = st.inner.lock().expect("lock");
        let objects: Vec<Value> = i
            .packages
            .keys()
            .map(|n| json!({"package": {"name": n, "version": "1.0.0", "maintainers": []}, "score": {"final": 0.5}}))
            .collect();
        return axum::Json(json!({"objects": objects, "total": objects.len()})).into_response();
    }
    let decoded = percent_encoding::percent_decode_str(&path).decode_utf8_lossy().into_owned();
    let trimmed = decoded.trim_start_matches('/');
    if let Some((name, file)) = trimmed.split_once("/-/") {
        let (tgz, delay) = {
            let i = st.inner.lock().expect("lock");
            let found = i.packages.get(name).and_then(|vs| {
                vs.iter()
                    .find(|(v, _)| file == format!("{}-{v}.tgz", name.rsplit('/').next().unwrap_or(name)))
                    .map(|(_, t)| t.clone())
            });
            (found, i.tarball_delay)
        };
        let Some(mut tgz) = tgz else {
            return (StatusCode::NOT_FOUND, "{}").into_response();
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if behaviour == Behaviour::Corrupt {
            let last = tgz.len() - 1;
            tgz[last] ^= 0xff;
        }
        if behaviour == Behaviour::Stall {
            let half = tgz.len() / 2;
            let first = Bytes::copy_from_slice(&tgz[..half]);
            let rest = Bytes::copy_from_slice(&tgz[half..]);
            let release = st.release.clone();
            let stream = futures_util::stream::unfold(0u8, move |state| {
                let (first, rest, release) = (first.clone(), rest.clone(), release.clone());
                async move {
                    match state {
                        0 => Some((Ok::<_, std::io::Error>(first), 1)),
                        1 => {
                            release.notified().await;
                            Some((Ok(rest), 2))
                        }
                        _ => None,
                    }
                }
            });
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(tgz.len()));
            return r;
        }
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], tgz).into_response();
    }
    if method != axum::http::Method::GET {
        return (StatusCode::METHOD_NOT_ALLOWED, "{}").into_response();
    }
    let (doc, no_store) = {
        let i = st.inner.lock().expect("lock");
        match i.packages.get(trimmed) {
            Some(vs) => (packument(&st.url, trimmed, vs), i.no_store),
            None => return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "not found"}))).into_response(),
        }
    };
    let body = serde_json::to_vec(&doc).expect("json");
    let etag = format!("\"{}\"", &shasum(&body)[..16]);
    let inm = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut r = if inm.as_deref() == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("etag"));
    if no_store {
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}
