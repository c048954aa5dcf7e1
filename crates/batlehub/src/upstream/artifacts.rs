//! Immutable artifacts: cached for good, fetched once however many clients
//! ask at the same moment.
//!
//! A miss registers an in-flight fetch and opens its temporary file for
//! reading before the upstream is even asked; the fetch runs in its own task
//! (a client that hangs up does not cancel it) and writes the body to the
//! temporary file while computing its digests, announcing progress on a watch
//! channel. Every client, the first and the late ones alike, streams from the
//! temporary file by position up to the announced length, so the first byte
//! reaches clients before the download ends and memory use does not grow with
//! the artifact or the number of clients. When the body is complete the
//! advertised digest is checked: a match commits the blob under its content
//! address and records the cache row before the fetch is unregistered; a
//! mismatch keeps nothing and fails every reader (502 for those still waiting
//! for headers, an aborted body for those already streaming).
//!
//! Artifacts no larger than `verify_before_serve` are verified before the
//! first byte is sent, so a corrupt upstream answers a clean 502; a body of
//! unknown length (chunked) is held back the same way until more than
//! `verify_before_serve` bytes have arrived.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::StatusCode;
use tokio::sync::watch;

use super::policy::UrlPolicy;
use super::{CacheKey, UpstreamError};
use crate::blobs::{BlobError, BlobStore, PendingBlob, TempBlob};
use crate::catalog::{BlobDigests, CachedArtifactRow, Catalog, EvictionLimits, now_ms};

const READ_CHUNK: u64 = 256 * 1024;

/// A digest an upstream document advertises for an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedDigest {
    Sha512(Vec<u8>),
    Sha256(Vec<u8>),
    Sha1(Vec<u8>),
}

impl ExpectedDigest {
    /// The strongest supported entry of a Subresource Integrity string
    /// (`sha512-<base64> sha1-<base64>`).
    pub fn from_sri(sri: &str) -> Option<Self> {
        let mut best: Option<ExpectedDigest> = None;
        for part in sri.split_whitespace() {
            let Some((alg, rest)) = part.split_once('-') else { continue };
            let b64 = rest.split('?').next().unwrap_or(rest);
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else { continue };
            let candidate = match (alg, bytes.len()) {
                ("sha512", 64) => ExpectedDigest::Sha512(bytes),
                ("sha256", 32) => ExpectedDigest::Sha256(bytes),
                ("sha1", 20) => ExpectedDigest::Sha1(bytes),
                _ => continue,
            };
            if best.as_ref().is_none_or(|b| candidate.strength() > b.strength()) {
                best = Some(candidate);
            }
        }
        best
    }

    /// A bare hex digest; the algorithm follows from its length.
    pub fn from_hex(hex_str: &str) -> Option<Self> {
        let bytes = hex::decode(hex_str.trim()).ok()?;
        Some(match bytes.len() {
            64 => ExpectedDigest::Sha512(bytes),
            32 => ExpectedDigest::Sha256(bytes),
            20 => ExpectedDigest::Sha1(bytes),
            _ => return None,
        })
    }

    fn strength(&self) -> u8 {
        match self {
            ExpectedDigest::Sha512(_) => 3,
            ExpectedDigest::Sha256(_) => 2,
            ExpectedDigest::Sha1(_) => 1,
        }
    }

    pub fn matches(&self, d: &BlobDigests) -> bool {
        let (want, got) = match self {
            ExpectedDigest::Sha512(w) => (w, &d.sha512),
            ExpectedDigest::Sha256(w) => (w, &d.sha256),
            ExpectedDigest::Sha1(w) => (w, &d.sha1),
        };
        hex::encode(want) == *got
    }
}

pub struct ArtifactFetch {
    pub registry: String,
    /// Unique within the registry.
    pub key: CacheKey,
    /// Where the upstream says the artifact is: checked against `policy`
    /// before it is fetched, and every redirect by the client's own policy.
    pub url: String,
    /// Where else it may be, tried in order when `url` answers 404 or 410
    /// (the next upstream of a protocol whose paths are the same on every
    /// upstream).
    pub also: Vec<String>,
    pub expected: Option<ExpectedDigest>,
    /// Refuse the artifact when `expected` is `None` and an upstream has it
    /// (a protocol whose digests sit beside the files: only the artifact's
    /// own answer tells "absent" (404) from "present without a digest").
    pub require_digest: bool,
    /// What the complete body must also pass before it is kept (a module
    /// zip's rules): run on the blocking pool after the digest check; a
    /// failure keeps nothing and is the upstream's fault (502).
    pub check: Option<ContentCheck>,
    /// The registry's client (`Upstream::artifact_client_for`), whose
    /// redirects and name resolution follow the same policy.
    pub client: reqwest::Client,
    pub policy: Arc<UrlPolicy>,
    pub limit: u64,
    pub verify_before_serve: u64,
    pub default_content_type: String,
    /// The whole download, from connecting to the last byte.
    pub deadline: std::time::Duration,
    /// The package (catalog key) and version the artifact belongs to, when
    /// its ecosystem says: what `keep_latest_versions` counts.
    pub release: Option<(String, String)>,
    /// Remember when the cached copy is served, for eviction by use (the
    /// registry has a size cap or an age limit).
    pub track_access: bool,
}

/// A check of a downloaded artifact's content, given its temporary file.
pub type ContentCheck = Arc<dyn Fn(&std::path::Path) -> Result<(), String> + Send + Sync>;

pub enum Artifact {
    /// Served from the blob store.
    Stored { file: crate::blobs::Readable, size: u64, content_type: String },
    /// Streamed while it is fetched.
    Streaming { body: BoxStream<'static, std::io::Result<Bytes>>, size: Option<u64>, content_type: String },
}

#[derive(Debug, Clone)]
enum Phase {
    Connecting,
    Streaming { len: Option<u64>, content_type: String },
    Done,
    Failed(UpstreamError),
}

#[derive(Debug, Clone)]
struct Progress {
    written: u64,
    phase: Phase,
}

struct Inflight {
    reader: Arc<std::fs::File>,
    progress: watch::Receiver<Progress>,
}

/// Access times remembered between flushes, at most (beyond, new keys wait
/// for the next flush; their fetch time stands in).
const MAX_TOUCHED: usize = 100_000;

/// What one application of a registry's cache limits removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    pub artifacts: usize,
    pub documents: usize,
}

impl std::ops::AddAssign for Evicted {
    fn add_assign(&mut self, other: Evicted) {
        self.artifacts += other.artifacts;
        self.documents += other.documents;
    }
}

pub struct ArtifactCache {
    blobs: BlobStore,
    catalog: Catalog,
    index: moka::future::Cache<String, CachedArtifactRow>,
    inflight: tokio::sync::Mutex<HashMap<String, Arc<Inflight>>>,
    /// `registry\0key` → when last served, not yet written.
    touched: std::sync::Mutex<HashMap<String, i64>>,
}

impl ArtifactCache {
    /// An artifact cache whose in-memory index holds at most `index_bytes`.
    pub fn new(blobs: BlobStore, catalog: Catalog, index_bytes: u64) -> Self {
        ArtifactCache {
            blobs,
            catalog,
            index: moka::future::Cache::builder()
                .weigher(|k: &String, r: &CachedArtifactRow| {
                    let strings = k.len() + r.sha256.len() + r.content_type.len() + r.source_url.len();
                    let size = strings + std::mem::size_of::<CachedArtifactRow>();
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
                .max_capacity(index_bytes)
                .build(),
            inflight: tokio::sync::Mutex::new(HashMap::new()),
            touched: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Remember that a cached artifact was served now (for eviction); the
    /// catalog is written in batches by [`ArtifactCache::flush_access`].
    /// `map_key` is `registry\0key`; one already remembered since the last
    /// flush costs no allocation.
    fn touch(&self, map_key: &str) {
        let now = now_ms();
        if let Ok(mut t) = self.touched.lock() {
            if let Some(at) = t.get_mut(map_key) {
                *at = now;
            } else if t.len() < MAX_TOUCHED {
                t.insert(map_key.to_string(), now);
            }
        }
    }

    /// Write the batched access times (one transaction).
    pub async fn flush_access(&self) {
        let batch: Vec<(String, String, i64)> = match self.touched.lock() {
            Ok(mut t) => t
                .drain()
                .filter_map(|(map_key, at)| map_key.split_once('\0').map(|(r, k)| (r.to_string(), k.to_string(), at)))
                .collect(),
            Err(_) => return,
        };
        if let Err(e) = self.catalog.touch_cached_artifacts(&batch).await {
            tracing::warn!(error = %e, count = batch.len(), "could not record cached artifacts' access times");
        }
    }

    /// Apply `registry`'s cache limits (see `Catalog::evict_cached`) to its
    /// cached artifacts and to the documents stored on this node's disk:
    /// documents not used since `unused_since` go, and `max_bytes` weighs
    /// artifacts and documents together, least recently used first. A
    /// document that goes is fetched again when next asked for (its copy in
    /// memory, if any, still serves meanwhile).
    pub async fn evict(&self, registry: &str, limits: &EvictionLimits) -> Result<Evicted, UpstreamError> {
        let storage = |e: &dyn std::fmt::Display| UpstreamError::Storage(e.to_string());
        let mut docs = if limits.max_bytes.is_some() || limits.unused_since.is_some() {
            self.blobs.doc_entries(registry).await.map_err(|e| storage(&e))?
        } else {
            Vec::new()
        };
        let mut documents = 0;
        if let Some(cutoff) = limits.unused_since {
            let unused = docs.iter().take_while(|d| d.used_at < cutoff).count();
            documents += self.blobs.remove_docs(&docs[..unused]).await;
            docs.drain(..unused);
        }
        let others: Vec<(i64, u64)> = docs.iter().map(|d| (d.used_at, d.bytes)).collect();
        let (gone, docs_over) = self.catalog.evict_cached(registry, limits, &others).await.map_err(|e| storage(&e))?;
        documents += self.blobs.remove_docs(&docs[..docs_over.min(docs.len())]).await;
        for key in &gone {
            self.index.invalidate(&format!("{registry}\0{key}")).await;
        }
        if !gone.is_empty() {
            metrics::counter!("batlehub_cache_evictions_total", "registry" => registry.to_string())
                .increment(gone.len() as u64);
        }
        if documents > 0 {
            metrics::counter!("batlehub_cache_document_evictions_total", "registry" => registry.to_string())
                .increment(documents as u64);
        }
        if !gone.is_empty() || documents > 0 {
            tracing::info!(registry, evicted = gone.len(), documents, "cached artifacts and documents evicted");
        }
        if let Ok((_, bytes)) = self.catalog.cache_usage(registry).await {
            metrics::gauge!("batlehub_cache_bytes", "registry" => registry.to_string()).set(bytes as f64);
        }
        let doc_bytes: u64 = docs.iter().skip(docs_over).map(|d| d.bytes).sum();
        metrics::gauge!("batlehub_cache_document_bytes", "registry" => registry.to_string()).set(doc_bytes as f64);
        Ok(Evicted { artifacts: gone.len(), documents })
    }

    /// The cached artifact, if stored. Reads the catalog only when the
    /// in-memory index misses; writes nothing (with `track_access`, the
    /// access time is remembered for the next batch).
    pub async fn cached(
        &self,
        registry: &str,
        key: &CacheKey,
        track_access: bool,
    ) -> Result<Option<Artifact>, UpstreamError> {
        let map_key = format!("{registry}\0{key}");
        let row = match self.index.get(&map_key).await {
            Some(r) => Some(r),
            None => {
                let r = self
                    .catalog
                    .get_cached_artifact(registry, key)
                    .await
                    .map_err(|e| UpstreamError::Storage(e.to_string()))?;
                if let Some(r) = &r {
                    self.index.insert(map_key.clone(), r.clone()).await;
                }
                r
            }
        };
        let Some(row) = row else { return Ok(None) };
        match self.blobs.open_readable(&row.sha256).await {
            Ok(Some((file, size))) => {
                if track_access {
                    self.touch(&map_key);
                }
                Ok(Some(Artifact::Stored { file, size, content_type: row.content_type }))
            }
            Ok(None) | Err(BlobError::NotFound) => {
                // The row outlived its blob: forget it and fetch again.
                tracing::warn!(registry, key = %key, sha256 = %row.sha256, "cached artifact row without its blob; refetching");
                self.index.invalidate(&map_key).await;
                let _ = self.catalog.delete_cached_artifact(registry, key).await;
                Ok(None)
            }
            Err(e) => Err(UpstreamError::Storage(e.to_string())),
        }
    }

    /// Serve from the cache, or fetch once and stream.
    pub async fn get(self: &Arc<Self>, fetch: ArtifactFetch) -> Result<Artifact, UpstreamError> {
        if let Some(a) = self.cached(&fetch.registry, &fetch.key, fetch.track_access).await? {
            count(&fetch.registry, "hit");
            return Ok(a);
        }
        count(&fetch.registry, "miss");
        let verify_before_serve = fetch.verify_before_serve;
        let inflight = self.join_or_start(fetch).await?;
        let mut rx = inflight.progress.clone();
        let p = rx
            .wait_for(|p| !matches!(p.phase, Phase::Connecting))
            .await
            .map_err(|_| UpstreamError::Failed("fetch task ended".into()))?
            .clone();
        let (len, content_type) = match p.phase {
            Phase::Failed(e) => return Err(e),
            Phase::Streaming { len, content_type } => (len, content_type),
            Phase::Done | Phase::Connecting => (Some(p.written), String::new()),
        };
        let content_type = if content_type.is_empty() { "application/octet-stream".to_string() } else { content_type };
        let mut len = len;
        let small = len.is_some_and(|l| l <= verify_before_serve);
        if small || len.is_none() {
            // A small artifact is verified before the first byte is sent; so
            // is one of unknown length (chunked) until it proves larger than
            // that, so a corrupt small body never goes out under a 200.
            let p = rx
                .wait_for(|p| {
                    matches!(p.phase, Phase::Done | Phase::Failed(_)) || (!small && p.written > verify_before_serve)
                })
                .await
                .map_err(|_| UpstreamError::Failed("fetch task ended".into()))?
                .clone();
            match p.phase {
                Phase::Failed(e) => return Err(e),
                Phase::Done => len = Some(p.written),
                Phase::Connecting | Phase::Streaming { .. } => {}
            }
        }
        let body = follow(Arc::clone(&inflight.reader), rx);
        Ok(Artifact::Streaming { body, size: len, content_type })
    }

    async fn join_or_start(self: &Arc<Self>, fetch: ArtifactFetch) -> Result<Arc<Inflight>, UpstreamError> {
        let map_key = format!("{}\0{}", fetch.registry, fetch.key);
        let mut inflight = self.inflight.lock().await;
        if let Some(existing) = inflight.get(&map_key) {
            return Ok(Arc::clone(existing));
        }
        let temp = self.blobs.temp(fetch.limit).await.map_err(|e| UpstreamError::Storage(e.to_string()))?;
        let reader = std::fs::File::open(temp.path()).map_err(|e| UpstreamError::Storage(e.to_string()))?;
        let (tx, rx) = watch::channel(Progress { written: 0, phase: Phase::Connecting });
        let entry = Arc::new(Inflight { reader: Arc::new(reader), progress: rx });
        inflight.insert(map_key.clone(), Arc::clone(&entry));
        drop(inflight);
        let me = Arc::clone(self);
        tokio::spawn(async move { me.run_fetch(fetch, temp, tx, map_key).await });
        Ok(entry)
    }

    async fn run_fetch(
        self: Arc<Self>,
        fetch: ArtifactFetch,
        temp: TempBlob,
        tx: watch::Sender<Progress>,
        map_key: String,
    ) {
        let started = Instant::now();
        let result = download(&fetch, temp, &tx).await;
        metrics::histogram!("batlehub_upstream_request_seconds", "registry" => fetch.registry.clone(), "kind" => "artifact")
            .record(started.elapsed().as_secs_f64());
        let outcome = match result {
            Ok(pending) => self.keep(&fetch, pending).await,
            Err(e) => Err(e),
        };
        // Unregister only once the cache row is visible, so a late request
        // either joins this fetch or finds the stored blob.
        self.inflight.lock().await.remove(&map_key);
        match outcome {
            Ok(()) => tx.send_modify(|p| p.phase = Phase::Done),
            Err(e) => {
                metrics::counter!("batlehub_upstream_errors_total", "registry" => fetch.registry.clone()).increment(1);
                tracing::warn!(registry = %fetch.registry, url = %super::redact(&fetch.url), error = %e, "artifact fetch failed");
                tx.send_modify(|p| p.phase = Phase::Failed(e));
            }
        }
    }

    async fn keep(&self, fetch: &ArtifactFetch, pending: PendingBlob) -> Result<(), UpstreamError> {
        let committed = self.blobs.commit(pending).await.map_err(|e| UpstreamError::Storage(e.to_string()))?;
        let row = CachedArtifactRow {
            sha256: committed.digests.sha256.clone(),
            size: committed.digests.size as i64,
            content_type: fetch.default_content_type.clone(),
            source_url: fetch.url.clone(),
            fetched_at: now_ms(),
        };
        self.catalog
            .put_cached_artifact(
                &fetch.registry,
                &fetch.key,
                &row,
                fetch.release.as_ref().map(|(p, v)| (p.as_str(), v.as_str())),
            )
            .await
            .map_err(|e| UpstreamError::Storage(e.to_string()))?;
        self.index.insert(format!("{}\0{}", fetch.registry, fetch.key), row).await;
        Ok(())
    }
}

async fn download(
    fetch: &ArtifactFetch,
    mut temp: TempBlob,
    tx: &watch::Sender<Progress>,
) -> Result<PendingBlob, UpstreamError> {
    let mut found = None;
    for candidate in std::iter::once(&fetch.url).chain(&fetch.also) {
        match request(fetch, candidate).await? {
            Some(resp) => {
                found = Some((resp, candidate));
                break;
            }
            None => continue,
        }
    }
    let Some((resp, source)) = found else { return Err(UpstreamError::NotFound) };
    if fetch.require_digest && fetch.expected.is_none() {
        return Err(UpstreamError::Refused(format!("{source}: the upstream gives no usable digest")));
    }
    let len = resp.content_length();
    if len.is_some_and(|l| l > fetch.limit) {
        return Err(UpstreamError::TooLarge(fetch.limit));
    }
    tx.send_modify(|p| p.phase = Phase::Streaming { len, content_type: fetch.default_content_type.clone() });
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| UpstreamError::Failed(format!("{}: {}", source, super::with_causes(&e))))?;
        temp.write(&chunk).await.map_err(|e| match e {
            BlobError::TooLarge(n) => UpstreamError::TooLarge(n),
            other => UpstreamError::Storage(other.to_string()),
        })?;
        temp.flush().await.map_err(|e| UpstreamError::Storage(e.to_string()))?;
        let written = temp.written();
        tx.send_modify(|p| p.written = written);
    }
    if let Some(l) = len
        && temp.written() != l
    {
        return Err(UpstreamError::Failed(format!("{}: body ended after {} of {l} bytes", source, temp.written())));
    }
    let pending = temp.finish().await.map_err(|e| UpstreamError::Storage(e.to_string()))?;
    if let Some(expected) = &fetch.expected
        && !expected.matches(&pending.digests)
    {
        return Err(UpstreamError::Integrity(format!("{} does not match the advertised digest", source)));
    }
    if let Some(check) = &fetch.check {
        let (check, path) = (Arc::clone(check), pending.path().map(|p| p.to_path_buf()));
        let Some(path) = path else { return Err(UpstreamError::Storage("downloaded artifact has no file".into())) };
        tokio::task::spawn_blocking(move || check(&path))
            .await
            .map_err(|e| UpstreamError::Storage(e.to_string()))?
            // Logged once, with the fetch's other failures, by `run_fetch`.
            .map_err(UpstreamError::Rejected)?;
    }
    Ok(pending)
}

/// One GET of `url` for `fetch`: `None` when it answers 404 or 410.
async fn request(fetch: &ArtifactFetch, url: &str) -> Result<Option<reqwest::Response>, UpstreamError> {
    let parsed = url::Url::parse(url).map_err(|e| UpstreamError::Refused(format!("{url}: not a URL: {e}")))?;
    fetch.policy.check(&parsed).map_err(|r| UpstreamError::Refused(format!("{url}: {r}")))?;
    let resp =
        fetch.client.get(parsed).timeout(fetch.deadline).send().await.map_err(|e| {
            match super::policy::refusal(&e) {
                Some(r) => UpstreamError::Refused(format!("{url}: {r}")),
                None => UpstreamError::Unreachable(format!("{url}: {}", super::with_causes(&e))),
            }
        })?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(UpstreamError::Answered(url.to_string(), status.as_u16()));
    }
    Ok(Some(resp))
}

/// Stream the temporary file up to the announced length, following the
/// fetch until it is done; a failed fetch ends the stream with an error.
fn follow(reader: Arc<std::fs::File>, rx: watch::Receiver<Progress>) -> BoxStream<'static, std::io::Result<Bytes>> {
    struct State {
        reader: Arc<std::fs::File>,
        rx: watch::Receiver<Progress>,
        offset: u64,
        finished: bool,
    }
    let state = State { reader, rx, offset: 0, finished: false };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            let p = st.rx.borrow_and_update().clone();
            if st.offset < p.written {
                let n = (p.written - st.offset).min(READ_CHUNK) as usize;
                let reader = Arc::clone(&st.reader);
                let offset = st.offset;
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; n];
                    reader.read_exact_at(&mut buf, offset).map(|()| buf)
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
                return match read {
                    Ok(buf) => {
                        st.offset += n as u64;
                        Some((Ok(Bytes::from(buf)), st))
                    }
                    Err(e) => {
                        st.finished = true;
                        Some((Err(e), st))
                    }
                };
            }
            match p.phase {
                Phase::Done => return None,
                Phase::Failed(e) => {
                    st.finished = true;
                    return Some((Err(std::io::Error::other(e.to_string())), st));
                }
                Phase::Connecting | Phase::Streaming { .. } => {
                    if st.rx.changed().await.is_err() {
                        st.finished = true;
                        return Some((Err(std::io::Error::other("artifact fetch ended unexpectedly")), st));
                    }
                }
            }
        }
    })
    .boxed()
}

fn count(registry: &str, result: &'static str) {
    metrics::counter!("batlehub_cache_total", "registry" => registry.to_string(), "kind" => "artifact", "result" => result)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri_picks_the_strongest() {
        let sha1 = base64::engine::general_purpose::STANDARD.encode([1u8; 20]);
        let sha512 = base64::engine::general_purpose::STANDARD.encode([2u8; 64]);
        let d = ExpectedDigest::from_sri(&format!("sha1-{sha1} sha512-{sha512}")).expect("parsed");
        assert_eq!(d, ExpectedDigest::Sha512(vec![2u8; 64]));
        assert_eq!(ExpectedDigest::from_sri("md5-AAAA"), None);
        assert_eq!(ExpectedDigest::from_hex(&"ab".repeat(20)), Some(ExpectedDigest::Sha1(vec![0xab; 20])));
        assert_eq!(ExpectedDigest::from_hex("zz"), None);
    }
}
