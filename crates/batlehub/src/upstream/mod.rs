//! The upstream engine: the only module that opens outbound connections.
//!
//! - [`Upstream::client_for`]: reqwest with connect/read timeouts, the
//!   operating system's certificate store (honouring `SSL_CERT_FILE` /
//!   `SSL_CERT_DIR`) plus an optional per-registry CA; each registry's
//!   clients follow redirects and resolve names only as its [`policy`]
//!   allows (SSRF protection: upstream-supplied URLs and redirects stay on
//!   the upstreams' origins or the registry's `artifact_hosts`, and never
//!   reach a non-public address the operator did not configure).
//! - [`documents`]: metadata documents cached per registry and key, with a
//!   TTL, ETag / Last-Modified revalidation, stale copies served when every
//!   upstream fails, and `Cache-Control: no-store` respected.
//! - [`artifacts`]: immutable artifacts cached for good; concurrent misses
//!   share one upstream fetch whose bytes stream to every waiting client while
//!   they are written to the blob store, and the advertised digest is
//!   verified before anything is kept.
//!
//! It knows no ecosystem: callers give it URLs, cache keys and digests.

pub mod advisories;
pub mod artifacts;
pub mod derived;
pub mod documents;
pub mod policy;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;

/// Entries at least this large make a byte-bounded cache evict down to its
/// budget as soon as they are inserted. The caches (moka) otherwise apply
/// evictions in batches, when their logs of operations fill up: in the
/// meantime up to a whole log (64 entries) of multi-megabyte documents would
/// stay in memory beyond the configured budget.
pub const LARGE_CACHE_ENTRY: usize = 64 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("not found upstream")]
    NotFound,
    #[error("upstream failed: {}", redact(.0))]
    Failed(String),
    /// The upstream answered an error status (not 404/410): `(url, status)`.
    #[error("upstream answered {status}: {url}", status = .1, url = redact(.0))]
    Answered(String, u16),
    /// The upstream could not be reached (connection refused, reset, timed
    /// out, TLS): the URL and the cause.
    #[error("upstream unreachable: {}", redact(.0))]
    Unreachable(String),
    #[error("integrity check failed: {}", redact(.0))]
    Integrity(String),
    /// An upstream-supplied location the registry's URL policy refuses
    /// (another origin, a non-public address), or an artifact whose
    /// protocol gives a digest that the upstream left out.
    #[error("refused: {}", redact(.0))]
    Refused(String),
    /// A complete artifact that fails its ecosystem's content check (a
    /// module zip breaking the zip rules): the reason names no URL.
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("upstream artifact exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("storage: {0}")]
    Storage(String),
}

impl From<UpstreamError> for crate::error::AppError {
    fn from(e: UpstreamError) -> Self {
        use crate::error::AppError;
        match e {
            UpstreamError::NotFound => AppError::NotFound("not found".into()),
            // Clients learn that the upstream failed, never how: details can
            // carry upstream URLs and their credentials. Logs get them redacted.
            UpstreamError::Failed(m) => {
                tracing::warn!(detail = %redact(&m), "upstream unavailable");
                AppError::Upstream("upstream unavailable: the transfer failed".into())
            }
            UpstreamError::Answered(url, status) => {
                tracing::warn!(url = %redact(&url), status, "upstream answered an error");
                let reason =
                    axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
                AppError::Upstream(
                    format!("upstream unavailable: it answered {status} {reason}").trim_end().to_string(),
                )
            }
            UpstreamError::Unreachable(m) => {
                tracing::warn!(detail = %redact(&m), "upstream unreachable");
                let timed_out = m.contains("timed out") || m.contains("timeout");
                AppError::Upstream(if timed_out {
                    "upstream unavailable: it did not answer in time".into()
                } else {
                    "upstream unavailable: it could not be reached".into()
                })
            }
            UpstreamError::Integrity(m) => {
                tracing::warn!(detail = %redact(&m), "upstream integrity check failed");
                AppError::Upstream(
                    "upstream integrity check failed: the file does not match its advertised digest".into(),
                )
            }
            UpstreamError::Refused(m) => {
                tracing::warn!(detail = %redact(&m), "upstream artifact refused");
                AppError::Upstream(
                    "upstream artifact refused: its location is not allowed (the upstream's origin or the registry's artifact_hosts) or it has no digest".into(),
                )
            }
            UpstreamError::Rejected(reason) => {
                tracing::warn!(%reason, "upstream artifact rejected");
                AppError::Upstream(format!("upstream artifact rejected: {reason}"))
            }
            UpstreamError::TooLarge(n) => {
                AppError::Upstream(format!("upstream artifact exceeds the limit of {n} bytes"))
            }
            UpstreamError::Storage(m) => AppError::Unavailable(format!("storage unavailable: {m}")),
        }
    }
}

/// The two clients of one registry: documents may be transfer-compressed;
/// artifacts never are decoded, so their bytes hash as the upstream advertised
/// (a `.tgz` served with `Content-Encoding: gzip` stays gzipped).
#[derive(Clone)]
pub struct Clients {
    pub documents: reqwest::Client,
    pub artifacts: reqwest::Client,
}

pub struct Upstream {
    default_clients: Clients,
    per_registry: HashMap<String, Clients>,
    policies: HashMap<String, Arc<policy::UrlPolicy>>,
}

pub const USER_AGENT: &str = concat!("batlehub/", env!("CARGO_PKG_VERSION"));

fn builder() -> reqwest::ClientBuilder {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if !matches!(attempt.url().scheme(), "http" | "https") {
            attempt.error("redirect to a non-http(s) URL")
        } else {
            attempt.follow()
        }
    });
    base_builder().redirect(policy)
}

/// A registry's client builder: every redirect hop must pass `policy`, and
/// names resolve only to the addresses it allows.
fn guarded_builder(policy: &Arc<policy::UrlPolicy>) -> reqwest::ClientBuilder {
    let for_redirects = Arc::clone(policy);
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        match for_redirects.check(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    });
    base_builder().redirect(redirects).dns_resolver(Arc::new(policy::GuardedResolver { policy: Arc::clone(policy) }))
}

fn base_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(60))
}

impl Upstream {
    pub fn new(config: &Config) -> anyhow::Result<Upstream> {
        crate::tls::install_crypto_provider();
        let default_clients = Clients {
            documents: builder().build().context("building the upstream HTTP client")?,
            artifacts: builder().no_gzip().build().context("building the upstream HTTP client")?,
        };
        let mut per_registry = HashMap::new();
        let mut policies = HashMap::new();
        for r in &config.registries {
            let policy = Arc::new(policy::UrlPolicy::new(&r.upstreams, &r.artifact_hosts, r.allow_private_addresses));
            let certs = match &r.tls {
                Some(tls) => {
                    let pem = std::fs::read(&tls.ca_file)
                        .with_context(|| format!("reading {} for registry {}", tls.ca_file.display(), r.name))?;
                    reqwest::Certificate::from_pem_bundle(&pem)
                        .with_context(|| format!("parsing {} for registry {}", tls.ca_file.display(), r.name))?
                }
                None => Vec::new(),
            };
            let with_ca = || {
                let mut b = guarded_builder(&policy);
                for c in &certs {
                    b = b.add_root_certificate(c.clone());
                }
                b
            };
            per_registry.insert(
                r.name.clone(),
                Clients {
                    documents: with_ca().build().context("building a registry HTTP client")?,
                    artifacts: with_ca().no_gzip().build().context("building a registry HTTP client")?,
                },
            );
            policies.insert(r.name.clone(), policy);
        }
        Ok(Upstream { default_clients, per_registry, policies })
    }

    /// Where URLs from this registry's upstreams may lead; a registry not
    /// configured may fetch nothing.
    pub fn policy_for(&self, registry: &str) -> Arc<policy::UrlPolicy> {
        self.policies.get(registry).cloned().unwrap_or_default()
    }

    /// The client for a registry's documents and small forwarded requests.
    pub fn client_for(&self, registry: &str) -> &reqwest::Client {
        &self.per_registry.get(registry).unwrap_or(&self.default_clients).documents
    }

    /// The client for a registry's artifacts (no transfer decoding).
    pub fn artifact_client_for(&self, registry: &str) -> &reqwest::Client {
        &self.per_registry.get(registry).unwrap_or(&self.default_clients).artifacts
    }
}

/// A client for identity providers and other control-plane calls, trusting
/// `ca_file` (PEM) in addition to the system store when given.
pub fn control_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    crate::tls::install_crypto_provider();
    let mut b = builder();
    if let Some(path) = ca_file
        && path.exists()
    {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for c in reqwest::Certificate::from_pem_bundle(&pem).with_context(|| format!("parsing {}", path.display()))? {
            b = b.add_root_certificate(c);
        }
    }
    b.build().context("building an HTTP client")
}

/// An error with its whole chain of causes, `outer: inner: innermost`, so a
/// log line says why (a body that "could not be decoded" because the
/// connection timed out, say). Only for logs: clients never see causes.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// `text` (a URL, or a message quoting URLs) without credentials: the
/// userinfo of every URL (`https://user:pw@host/`) and the values of query
/// parameters that carry secrets (`token`, `key`, `signature`, the
/// `X-Amz-*` of presigned URLs...). What is logged or shown about an upstream
/// goes through here.
pub fn redact(text: &str) -> String {
    static USERINFO: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#]*@").ok());
    static SECRETS: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)([?&;](?:[a-z0-9_\-]*(?:token|secret|password|passwd|pass|key|sig|signature|auth|credential)[a-z0-9_\-]*|x-amz-[a-z\-]+)=)[^&;\s#]*",
        )
        .ok()
    });
    let mut out = text.to_string();
    if let Some(re) = USERINFO.as_ref() {
        out = re.replace_all(&out, "${1}<redacted>@").into_owned();
    }
    if let Some(re) = SECRETS.as_ref() {
        out = re.replace_all(&out, "${1}<redacted>").into_owned();
    }
    out
}

/// A cache key of a document or an artifact, unique within its registry:
/// a kind and parts, written `kind|part|part`. Parts are escaped (`%`, `|`
/// and control characters as `%XX`), so two different part lists never make
/// the same key. Keys are persisted (the cached-artifact rows, the document
/// files), so their form is stable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// A key of `kind` (a fixed word of the ecosystem: `tarball`, `index`...).
    pub fn new(kind: &'static str) -> CacheKey {
        CacheKey(kind.to_string())
    }

    /// The key with one more part.
    pub fn part(mut self, part: &str) -> CacheKey {
        self.0.push('|');
        for c in part.chars() {
            if c == '%' || c == '|' || c.is_control() {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    self.0.push_str(&format!("%{b:02X}"));
                }
            } else {
                self.0.push(c);
            }
        }
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for CacheKey {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `base` joined with a relative `path` (the base is treated as a folder).
pub fn join_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    if path.is_empty() { format!("{base}/") } else { format!("{base}/{path}") }
}

/// The whole of a forwarded request, from connecting to the last byte.
pub const FORWARD_DEADLINE: Duration = Duration::from_secs(60);

/// An upstream's answer to a forwarded request, read whole (small bodies only).
pub struct Forwarded {
    pub status: reqwest::StatusCode,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub body: bytes::Bytes,
}

/// Send one request to an upstream and read its (small) answer: search
/// queries, audit reports. Never used for artifacts.
pub async fn forward(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, String)],
    body: Option<bytes::Bytes>,
    limit: u64,
) -> Result<Forwarded, UpstreamError> {
    let mut req = client.request(method, url).timeout(FORWARD_DEADLINE);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let mut resp = req.send().await.map_err(|e| UpstreamError::Unreachable(format!("{url}: {}", with_causes(&e))))?;
    let status = resp.status();
    let header = |name| {
        resp.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::to_string)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let content_encoding = header(reqwest::header::CONTENT_ENCODING);
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| UpstreamError::Failed(format!("{url}: {}", with_causes(&e))))?
    {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(UpstreamError::TooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Forwarded { status, content_type, content_encoding, body: buf.freeze() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let cases = [
            ("http://user:s3cret@mirror.example/simple/", "http://<redacted>@mirror.example/simple/"),
            (
                "error sending request for url (https://tok@h.example:8443/a?b=1)",
                "error sending request for url (https://<redacted>@h.example:8443/a?b=1)",
            ),
            ("https://h.example/f.tgz?token=abc&x=1", "https://h.example/f.tgz?token=<redacted>&x=1"),
            (
                "https://h.example/f?X-Amz-Signature=dead&X-Amz-Credential=k%2F1",
                "https://h.example/f?X-Amz-Signature=<redacted>&X-Amz-Credential=<redacted>",
            ),
            (
                "https://h.example/f?api_key=1;access_token=2",
                "https://h.example/f?api_key=<redacted>;access_token=<redacted>",
            ),
            ("plain text, no url: user@example", "plain text, no url: user@example"),
            ("https://h.example/@scope%2fname", "https://h.example/@scope%2fname"),
        ];
        for (raw, want) in cases {
            assert_eq!(redact(raw), want, "{raw}");
        }
    }

    #[test]
    fn cache_keys_are_stable_and_injective() {
        assert_eq!(CacheKey::new("tarball").part("@s/p").part("p-1.0.0.tgz").as_str(), "tarball|@s/p|p-1.0.0.tgz");
        assert_eq!(CacheKey::new("config.json").as_str(), "config.json");
        let a = CacheKey::new("k").part("a|b").part("c");
        let b = CacheKey::new("k").part("a").part("b|c");
        assert_ne!(a, b);
        assert_eq!(a.as_str(), "k|a%7Cb|c");
        assert_eq!(CacheKey::new("k").part("100%\0").as_str(), "k|100%25%00");
    }
}
