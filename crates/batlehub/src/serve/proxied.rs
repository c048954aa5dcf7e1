//! The steps every ecosystem shares for what comes from upstreams: fetching
//! a metadata document through the document cache, parsing it once per body
//! on the blocking pool, rendering derived documents once per input, and
//! serving an artifact from the cache or fetching it once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;

use super::RequestCtx;
use crate::error::{AppError, AppResult};
use crate::http::{RenderKey, Rendered};
use crate::upstream::CacheKey;
use crate::upstream::artifacts::{ArtifactFetch, ContentCheck, ExpectedDigest};
use crate::upstream::documents::{CacheState, DocFetch, Document, Served};

/// Where an upstream artifact is, and the digest it must have.
pub struct Located {
    pub url: String,
    /// Further places, tried in order when one answers 404 or 410.
    pub also: Vec<String>,
    pub expected: Option<ExpectedDigest>,
    /// Refuse it when `expected` is `None` but an upstream has it.
    pub require_digest: bool,
    /// What the content must pass before it is kept.
    pub check: Option<ContentCheck>,
    /// The package (its catalog key) and version the artifact belongs to:
    /// what `[registries.cache] keep_latest_versions` counts. Artifacts
    /// without one (a checksum tile, an index) are never counted as a
    /// version.
    pub release: Option<(String, String)>,
}

impl Located {
    /// An artifact of a protocol that gives digests (npm `dist.integrity` /
    /// `shasum`, PyPI hashes, the cargo index `cksum`): one without a usable
    /// digest is refused (502), never fetched.
    pub fn verified(url: String, expected: Option<ExpectedDigest>) -> AppResult<Located> {
        match expected {
            Some(d) => Ok(Located {
                url,
                also: Vec::new(),
                expected: Some(d),
                require_digest: true,
                check: None,
                release: None,
            }),
            None => {
                Err(crate::upstream::UpstreamError::Refused(format!("{url}: the upstream gives no usable digest"))
                    .into())
            }
        }
    }

    /// An artifact of a protocol that gives no digest at all: fetched as is.
    pub fn unverified(url: String) -> Located {
        Located { url, also: Vec::new(), expected: None, require_digest: false, check: None, release: None }
    }

    /// The same path on each upstream of a protocol whose upstreams all
    /// lay out their files alike: the first, then the others in order when
    /// one answers 404 or 410.
    pub fn on_upstreams(upstreams: &[String], path: &str) -> AppResult<Located> {
        let mut urls = upstreams.iter().map(|u| crate::upstream::join_url(u, path));
        let url = urls.next().ok_or_else(|| AppError::not_found("this registry has no upstream"))?;
        Ok(Located { url, also: urls.collect(), expected: None, require_digest: false, check: None, release: None })
    }

    /// An artifact of a protocol whose digests sit beside the files (a
    /// `.sha1` file next to it): `expected` is what was found there. Without one, the
    /// artifact is still asked for, so that an absent file stays a 404,
    /// but one that exists is refused (502), never kept.
    pub fn digest_required(url: String, expected: Option<ExpectedDigest>) -> Located {
        Located { url, also: Vec::new(), expected, require_digest: true, check: None, release: None }
    }

    /// Refuse the artifact if an upstream has it (no digest was found for
    /// it): the fetch then only tells "absent" (404) from "refused" (502).
    pub fn require_digest(mut self) -> Located {
        self.require_digest = true;
        self
    }

    /// Keep the artifact only if its content passes `check` (run on the
    /// blocking pool over the complete download).
    pub fn checked_by(
        mut self,
        check: impl Fn(&std::path::Path) -> Result<(), String> + Send + Sync + 'static,
    ) -> Located {
        self.check = Some(std::sync::Arc::new(check));
        self
    }

    /// The artifact is (a file of) version `version` of the package whose
    /// catalog key is `package`.
    pub fn of_release(mut self, package: &str, version: &str) -> Located {
        self.release = Some((package.to_string(), version.to_string()));
        self
    }
}

impl RequestCtx {
    /// A fetch of the document `path` (relative to each of this registry's
    /// upstreams, tried in order), cached under `key`.
    pub fn doc_fetch(&self, key: CacheKey, path: String, accept: &str) -> DocFetch {
        DocFetch {
            registry: self.registry.name.clone(),
            key,
            upstreams: self.registry.upstreams.clone(),
            path,
            accept: accept.to_string(),
            ttl: Duration::from_secs(self.registry.cache.metadata_ttl_secs),
            deadline: Duration::from_secs(self.app.config.limits.upstream_document_timeout_secs),
            client: self.app.upstream.client_for(&self.registry.name).clone(),
            force_refresh: false,
            negative_ttl: Duration::from_secs(self.registry.cache.negative_ttl_secs.unwrap_or(0)),
            post_json: None,
            keep_header: None,
            track_access: self.registry.cache.tracks_access(),
        }
    }

    /// Whether an upstream-supplied `url` (a location read from an
    /// upstream's document) may be asked: the registry's URL policy (an
    /// upstream's origin or an `artifact_hosts` entry, a public address),
    /// else `UpstreamError::Refused` (502).
    pub fn check_upstream_url(&self, url: &str) -> AppResult<url::Url> {
        let parsed =
            url::Url::parse(url).map_err(|_| crate::upstream::UpstreamError::Refused(format!("{url}: not a URL")))?;
        self.app
            .upstream
            .policy_for(&self.registry.name)
            .check(&parsed)
            .map_err(|r| crate::upstream::UpstreamError::Refused(r.0))?;
        Ok(parsed)
    }

    /// A fetch of the document at `url` itself, cached under `key`: for
    /// protocols whose documents say where the others are (NuGet's service
    /// index). An upstream-supplied URL must pass [`Self::check_upstream_url`].
    pub fn doc_fetch_at(&self, key: CacheKey, url: &str, accept: &str) -> AppResult<DocFetch> {
        let parsed = self.check_upstream_url(url)?;
        let text = parsed.as_str();
        let (before_query, query) = match text.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (text, None),
        };
        // The path always has its leading slash after the origin.
        let cut = before_query.rfind('/').ok_or_else(|| AppError::internal("a URL without a path"))?;
        let mut path = before_query[cut + 1..].to_string();
        if let Some(q) = query {
            path = format!("{path}?{q}");
        }
        let mut fetch = self.doc_fetch(key, path, accept);
        fetch.upstreams = vec![before_query[..cut].to_string()];
        Ok(fetch)
    }

    /// A document through the cache (fresh, revalidated, fetched or stale).
    pub async fn document(&self, fetch: DocFetch) -> AppResult<Served> {
        Ok(self.app.documents.get(fetch).await?)
    }

    /// A document through the cache, `None` when no upstream has it (or
    /// the registry has no upstream).
    pub async fn document_if_any(&self, fetch: DocFetch) -> AppResult<Option<Served>> {
        if fetch.upstreams.is_empty() {
            return Ok(None);
        }
        match self.document(fetch).await {
            Ok(served) => Ok(Some(served)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A JSON document through the cache, parsed once per body (shared, not
    /// copied), `None` when no upstream has it; one that is not JSON is 502.
    pub async fn json_document(&self, fetch: DocFetch) -> AppResult<Option<(Arc<serde_json::Value>, CacheState)>> {
        let Some(served) = self.document_if_any(fetch).await? else { return Ok(None) };
        let parsed = self
            .parsed(&served.doc, |d| {
                serde_json::from_slice::<serde_json::Value>(&d.body)
                    .map_err(|e| format!("the upstream answered an invalid document: not JSON: {e}"))
            })
            .await?;
        Ok(Some((parsed, served.state)))
    }

    /// `doc` parsed once per fetched body, on the blocking pool. A document
    /// that does not parse is the upstream's fault (502).
    pub async fn parsed<T, F>(&self, doc: &Arc<Document>, parse: F) -> AppResult<Arc<T>>
    where
        T: std::any::Any + Send + Sync,
        F: FnOnce(&Document) -> Result<T, String> + Send + 'static,
    {
        self.app.parsed.get_or_parse(doc, parse).await.map_err(AppError::Upstream)
    }

    /// A document derived from an upstream body, rendered once per `key`
    /// on the blocking pool.
    pub async fn rendered<F>(&self, key: RenderKey, render: F) -> AppResult<Rendered>
    where
        F: FnOnce() -> AppResult<Vec<u8>> + Send + 'static,
    {
        self.app.rendered.get_or_render(key, render).await
    }

    /// An upstream artifact: from the cache when stored (counted as a hit,
    /// no upstream contacted, nothing written), else `locate`d and fetched
    /// once however many clients ask, verified and kept.
    pub async fn upstream_artifact<F, Fut>(
        &self,
        key: CacheKey,
        content_type: &'static str,
        locate: F,
    ) -> AppResult<Response>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Located>>,
    {
        let metrics = &self.registry.metrics;
        let track_access = self.registry.cache.tracks_access();
        if let Some(hit) = self.app.artifacts.cached(&self.registry.name, &key, track_access).await? {
            metrics.artifact_hits.increment(1);
            return Ok(crate::http::artifact(&metrics.bytes, hit, Some(content_type)));
        }
        // A fill needs disk: below the reserve, refuse it (the reserve is
        // kept for publishes) rather than fill the disk with cache.
        if let Ok(space) = self.app.blobs.disk_space().await
            && space.low()
        {
            metrics::counter!("batlehub_cache_fills_refused_total", "registry" => self.registry.name.clone())
                .increment(1);
            tracing::warn!(
                registry = %self.registry.name,
                free_bytes = space.free,
                min_free_bytes = space.min_free,
                "cache fill refused: free disk below [storage] min_free_bytes"
            );
            return Err(AppError::Unavailable(
                "the registry's disk is almost full: artifacts not yet cached cannot be fetched now".into(),
            ));
        }
        let Located { url, also, expected, require_digest, check, release } = locate().await?;
        let fetch = ArtifactFetch {
            registry: self.registry.name.clone(),
            key,
            url,
            also,
            expected,
            require_digest,
            check,
            client: self.app.upstream.artifact_client_for(&self.registry.name).clone(),
            policy: self.app.upstream.policy_for(&self.registry.name),
            limit: self.app.config.limits.max_artifact_size_bytes,
            verify_before_serve: self.registry.cache.verify_before_serve_bytes,
            default_content_type: content_type.to_string(),
            deadline: Duration::from_secs(self.app.config.limits.upstream_artifact_timeout_secs),
            release,
            track_access,
        };
        let artifact = self.app.artifacts.get(fetch).await?;
        Ok(crate::http::artifact(&metrics.bytes, artifact, Some(content_type)))
    }
}
