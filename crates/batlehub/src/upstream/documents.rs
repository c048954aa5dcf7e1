//! Metadata documents (packuments, index files, simple pages) cached per
//! registry and key.
//!
//! A fresh copy in memory is served without any I/O. An expired or missing
//! one is refreshed by one request per key (single-flight): the persisted copy
//! is revalidated with `If-None-Match` / `If-Modified-Since`; upstreams are
//! tried in order and a 404 falls through to the next; when every upstream
//! fails, the stale copy is served and marked so (and upstreams are not
//! retried for a short back-off). `Cache-Control: no-store` answers are
//! served but never kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

use super::{CacheKey, UpstreamError, join_url};
use crate::blobs::{BlobStore, DocHeader};
use crate::catalog::now_ms;

/// How long a stale copy is served before upstreams are tried again.
const STALE_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Document {
    pub body: Bytes,
    pub header: DocHeader,
    /// Unique per body held by this process: keys derived renderings.
    pub generation: u64,
    /// Set when every upstream failed: serve stale until then.
    stale_until: Option<Instant>,
}

impl Document {
    /// A document held outside the cache (tests of what parses documents).
    #[cfg(test)]
    pub fn new(body: Bytes, header: DocHeader, generation: u64) -> Document {
        Document { body, header, generation, stale_until: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    /// Fresh in the cache: no upstream request.
    Hit,
    /// Fetched from an upstream.
    Miss,
    /// Expired, and the upstream confirmed it unchanged (304).
    Revalidated,
    /// Expired, and every upstream failed: served anyway.
    Stale,
}

impl CacheState {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheState::Hit => "hit",
            CacheState::Miss => "miss",
            CacheState::Revalidated => "revalidated",
            CacheState::Stale => "stale",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Served {
    pub doc: Arc<Document>,
    pub state: CacheState,
}

/// What to fetch: `path` relative to each upstream base, tried in order.
#[derive(Clone)]
pub struct DocFetch {
    pub registry: String,
    pub key: CacheKey,
    pub upstreams: Vec<String>,
    pub path: String,
    pub accept: String,
    pub ttl: Duration,
    /// The whole of one upstream request (connect, headers and body).
    pub deadline: Duration,
    pub client: reqwest::Client,
    /// Ignore the TTL: the caller knows the cached copy lacks something.
    pub force_refresh: bool,
    /// How long an answer that no upstream has the document is remembered
    /// (zero: not at all), so that clients probing paths that do not exist
    /// cost one upstream round trip per path and period.
    pub negative_ttl: Duration,
    /// Ask with `POST` and this JSON body instead of `GET` (protocols whose
    /// reads are queries, such as the VS Code gallery's `extensionquery`).
    /// The body must be part of `key`.
    pub post_json: Option<Bytes>,
    /// A response header kept with the body (`DocHeader::kept`), for
    /// protocols that answer in a header (Terraform's `X-Terraform-Get`).
    pub keep_header: Option<&'static str>,
    /// Remember when a stored copy is served, for eviction by use (the
    /// registry has a size cap or an age limit).
    pub track_access: bool,
}

impl DocFetch {
    /// The same fetch, asked with `POST` and `body` as JSON.
    pub fn posting(mut self, body: Bytes) -> DocFetch {
        self.post_json = Some(body);
        self
    }

    /// The same fetch, keeping the response header `name` with the body.
    pub fn keeping_header(mut self, name: &'static str) -> DocFetch {
        self.keep_header = Some(name);
        self
    }
}

type Flight = (u64, Shared<BoxFuture<'static, Result<Served, UpstreamError>>>);

pub struct DocumentCache {
    memory: moka::future::Cache<String, Arc<Document>>,
    /// Documents no upstream had, until when that answer stands (bounded in
    /// bytes of keys).
    misses: moka::future::Cache<String, Instant>,
    inflight: Mutex<HashMap<String, Flight>>,
    blobs: BlobStore,
    generation: AtomicU64,
    max_size: u64,
    /// `(registry, key)` of documents served since the last flush: their
    /// files are touched in one batch ([`DocumentCache::flush_access`]),
    /// so eviction sees when each was last used.
    touched: Mutex<HashMap<String, i64>>,
}

/// Documents remembered as served between flushes, at most (beyond, the
/// time of their last write stands in).
const MAX_TOUCHED: usize = 100_000;

fn is_fresh(doc: &Document, ttl: Duration) -> bool {
    now_ms() - doc.header.fetched_at < ttl.as_millis() as i64
}

impl DocumentCache {
    /// Keep `doc` in memory. A large one makes the cache evict at once down
    /// to its budget: otherwise evictions wait for the cache's next batch of
    /// operations, and up to its whole write log of large documents would
    /// stay in memory beyond the budget meanwhile.
    async fn remember(&self, mem_key: String, doc: &Arc<Document>) {
        self.memory.insert(mem_key, Arc::clone(doc)).await;
        if doc.body.len() >= crate::upstream::LARGE_CACHE_ENTRY {
            self.memory.run_pending_tasks().await;
        }
    }

    pub fn new(blobs: BlobStore, max_size: u64, memory_bytes: u64) -> Self {
        DocumentCache {
            memory: moka::future::Cache::builder()
                .weigher(|_k: &String, v: &Arc<Document>| v.body.len().min(u32::MAX as usize) as u32)
                .max_capacity(memory_bytes)
                .build(),
            misses: moka::future::Cache::builder()
                .weigher(|k: &String, _: &Instant| (k.len() + 32).min(u32::MAX as usize) as u32)
                .max_capacity((memory_bytes / 16).max(1 << 20))
                .build(),
            inflight: Mutex::new(HashMap::new()),
            blobs,
            generation: AtomicU64::new(1),
            max_size,
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// Remember that a document was served from a stored copy now;
    /// `mem_key` is `registry\0key` (one already remembered since the last
    /// flush costs no allocation).
    fn touch(&self, mem_key: &str) {
        let now = now_ms();
        if let Ok(mut t) = self.touched.lock() {
            if let Some(at) = t.get_mut(mem_key) {
                *at = now;
            } else if t.len() < MAX_TOUCHED {
                t.insert(mem_key.to_string(), now);
            }
        }
    }

    /// Mark the documents served since the last call as used when they
    /// were (one blocking task touches their files).
    pub async fn flush_access(&self) {
        let batch: Vec<(String, String, i64)> = match self.touched.lock() {
            Ok(mut t) => t
                .drain()
                .filter_map(|(mem_key, at)| mem_key.split_once('\0').map(|(r, k)| (r.to_string(), k.to_string(), at)))
                .collect(),
            Err(_) => return,
        };
        self.blobs.touch_docs(batch).await;
    }

    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed)
    }

    pub async fn get(self: &Arc<Self>, fetch: DocFetch) -> Result<Served, UpstreamError> {
        let mem_key = format!("{}\0{}", fetch.registry, fetch.key);
        if let Some(doc) = self.memory.get(&mem_key).await {
            if !fetch.force_refresh && is_fresh(&doc, fetch.ttl) {
                count(&fetch.registry, CacheState::Hit);
                if fetch.track_access {
                    self.touch(&mem_key);
                }
                return Ok(Served { doc, state: CacheState::Hit });
            }
            if !fetch.force_refresh && doc.stale_until.is_some_and(|t| Instant::now() < t) {
                count(&fetch.registry, CacheState::Stale);
                if fetch.track_access {
                    self.touch(&mem_key);
                }
                return Ok(Served { doc, state: CacheState::Stale });
            }
        }
        if !fetch.negative_ttl.is_zero() && !fetch.force_refresh {
            match self.misses.get(&mem_key).await {
                Some(until) if Instant::now() < until => {
                    metrics::counter!("batlehub_upstream_negative_hits_total", "registry" => fetch.registry.clone())
                        .increment(1);
                    return Err(UpstreamError::NotFound);
                }
                Some(_) => self.misses.invalidate(&mem_key).await,
                None => {}
            }
        }
        let negative_ttl = fetch.negative_ttl;
        let flight = {
            let mut inflight = match self.inflight.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if let Some(f) = inflight.get(&mem_key) {
                f.clone()
            } else {
                let me = Arc::clone(self);
                let f = (self.next_generation(), me.refresh(fetch.clone(), mem_key.clone()).boxed().shared());
                inflight.insert(mem_key.clone(), f.clone());
                f
            }
        };
        let (flight_id, flight) = flight;
        let result = flight.await;
        if let Ok(mut inflight) = self.inflight.lock() {
            // Only the flight this request joined: a newer one may have started.
            if inflight.get(&mem_key).is_some_and(|(id, _)| *id == flight_id) {
                inflight.remove(&mem_key);
            }
        }
        match &result {
            Ok(s) => count(&fetch.registry, s.state),
            Err(UpstreamError::NotFound) if !negative_ttl.is_zero() => {
                self.misses.insert(mem_key, Instant::now() + negative_ttl).await;
            }
            Err(_) => {}
        }
        result
    }

    /// Drop a document from memory and disk (after a local publish shadows it, say).
    pub async fn invalidate(&self, registry: &str, key: &CacheKey) {
        self.memory.invalidate(&format!("{registry}\0{key}")).await;
        let _ = self.blobs.delete_doc(registry, key).await;
    }

    async fn refresh(self: Arc<Self>, fetch: DocFetch, mem_key: String) -> Result<Served, UpstreamError> {
        let mut prior = self.memory.get(&mem_key).await;
        if prior.is_none()
            && let Ok(Some((header, body))) = self.blobs.read_doc(&fetch.registry, &fetch.key).await
        {
            let doc = Arc::new(Document { body, header, generation: self.next_generation(), stale_until: None });
            if !fetch.force_refresh && is_fresh(&doc, fetch.ttl) {
                if fetch.track_access {
                    self.touch(&mem_key);
                }
                self.remember(mem_key, &doc).await;
                return Ok(Served { doc, state: CacheState::Hit });
            }
            prior = Some(doc);
        }

        let mut saw_not_found = false;
        let mut last_error: Option<UpstreamError> = None;
        for base in &fetch.upstreams {
            let url = join_url(base, &fetch.path);
            let mut req = match &fetch.post_json {
                Some(body) => fetch.client.post(&url).header(CONTENT_TYPE, "application/json").body(body.clone()),
                None => fetch.client.get(&url),
            };
            req = req.header(ACCEPT, &fetch.accept).timeout(fetch.deadline);
            if let Some(p) = prior.as_ref().filter(|p| &p.header.source == base && fetch.post_json.is_none()) {
                if let Some(etag) = &p.header.etag {
                    req = req.header(IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &p.header.last_modified {
                    req = req.header(IF_MODIFIED_SINCE, lm);
                }
            }
            let started = Instant::now();
            let resp = req.send().await;
            metrics::histogram!("batlehub_upstream_request_seconds", "registry" => fetch.registry.clone(), "kind" => "document")
                .record(started.elapsed().as_secs_f64());
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    upstream_error(&fetch.registry);
                    // Logged once, below, when every upstream has failed.
                    tracing::debug!(registry = %fetch.registry, url = %super::redact(&url), error = %super::redact(&e.to_string()), "upstream request failed");
                    last_error = Some(UpstreamError::Unreachable(format!("{url}: {}", super::with_causes(&e))));
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::NOT_MODIFIED
                && let Some(p) = &prior
            {
                let mut header = p.header.clone();
                header.fetched_at = now_ms();
                if let Err(e) = self.blobs.write_doc(&fetch.registry, &fetch.key, &header, &p.body).await {
                    tracing::warn!(error = %e, "could not persist a revalidated document");
                }
                let doc =
                    Arc::new(Document { body: p.body.clone(), header, generation: p.generation, stale_until: None });
                self.remember(mem_key, &doc).await;
                return Ok(Served { doc, state: CacheState::Revalidated });
            }
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                saw_not_found = true;
                continue;
            }
            if !status.is_success() {
                upstream_error(&fetch.registry);
                last_error = Some(UpstreamError::Answered(url.clone(), status.as_u16()));
                continue;
            }
            let no_store = resp
                .headers()
                .get(CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("no-store"));
            let header_str = |name| {
                resp.headers()
                    .get(name)
                    .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                    .map(str::to_string)
            };
            let header = DocHeader {
                etag: header_str(ETAG),
                last_modified: header_str(LAST_MODIFIED),
                content_type: header_str(CONTENT_TYPE),
                fetched_at: now_ms(),
                source: base.clone(),
                kept: fetch
                    .keep_header
                    .and_then(|n| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string)),
            };
            let body = match read_limited(resp, self.max_size).await {
                Ok(b) => b,
                Err(e) => {
                    upstream_error(&fetch.registry);
                    last_error = Some(UpstreamError::Failed(format!("{url}: {e}")));
                    continue;
                }
            };
            let doc = Arc::new(Document { body, header, generation: self.next_generation(), stale_until: None });
            if !no_store {
                if let Err(e) = self.blobs.write_doc(&fetch.registry, &fetch.key, &doc.header, &doc.body).await {
                    tracing::warn!(error = %e, "could not persist a document");
                }
                self.remember(mem_key, &doc).await;
            }
            return Ok(Served { doc, state: CacheState::Miss });
        }

        match (prior, last_error) {
            (Some(p), Some(err)) => {
                tracing::warn!(registry = %fetch.registry, key = %fetch.key, error = %err, "serving a stale document");
                let doc = Arc::new(Document {
                    body: p.body.clone(),
                    header: p.header.clone(),
                    generation: p.generation,
                    stale_until: Some(Instant::now() + STALE_RETRY),
                });
                self.remember(mem_key, &doc).await;
                Ok(Served { doc, state: CacheState::Stale })
            }
            (_, None) if saw_not_found => {
                self.memory.invalidate(&mem_key).await;
                Err(UpstreamError::NotFound)
            }
            (_, None) => Err(UpstreamError::Failed("no upstream configured".into())),
            (None, Some(err)) => {
                tracing::warn!(registry = %fetch.registry, key = %fetch.key, error = %err, "upstream document fetch failed");
                Err(err)
            }
        }
    }
}

async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<Bytes, String> {
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(format!("document exceeds the limit of {limit} bytes"));
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| super::with_causes(&e))? {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(format!("document exceeds the limit of {limit} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn count(registry: &str, state: CacheState) {
    metrics::counter!("batlehub_cache_total", "registry" => registry.to_string(), "kind" => "document", "result" => state.as_str())
        .increment(1);
}

fn upstream_error(registry: &str) {
    metrics::counter!("batlehub_upstream_errors_total", "registry" => registry.to_string()).increment(1);
}
