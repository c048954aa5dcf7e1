//! The configuration's sections as typed structs, with their defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use crate::access::{Grants, Permission, Role};
use crate::kinds::Kind;

/// The configuration used when `serve` is started without `--config`.
pub const EMBEDDED_DEFAULT: &str = r#"# BatleHub's embedded default: everything under ./data, no other service.
[server]
host = "127.0.0.1"
port = 8080

[database]
url = "sqlite://data/batlehub.db"

[storage]
type = "filesystem"
path = "data/storage"

# A private npm registry. Publish to it and install from it with the token
# printed at first start.
[[registries]]
type = "npm"
name = "npm"
mode = "local"
"#;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub auth: Vec<AuthConfig>,
    pub registries: Vec<RegistryConfig>,
    pub limits: LimitsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// The external base URL (`https://batlehub.example.com`); generated URLs
    /// use it instead of the request's `Host`.
    pub public_url: Option<String>,
    /// Peers whose `X-Forwarded-Host` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// How long a client may take to send a request's headers, and how long
    /// a keep-alive connection may stay idle: then it is closed.
    pub header_read_timeout_secs: u64,
    /// Connections served at once; more wait to be accepted. Keep it below
    /// the process's file descriptor limit.
    pub max_connections: usize,
    /// Serve HTTPS with this certificate chain (PEM), reloaded on SIGHUP
    /// or when the file changes.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The private key of `tls_cert_file` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<std::path::PathBuf>,
    /// The registry that answers `/.well-known/...` at the host root (where
    /// some clients look for service discovery: Terraform's
    /// `terraform.json`).
    pub well_known_registry: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            public_url: None,
            trusted_proxies: Vec::new(),
            header_read_timeout_secs: 30,
            max_connections: 1000,
            tls_cert_file: None,
            tls_key_file: None,
            well_known_registry: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (relative to the working directory), `sqlite:///abs/path.db`.
    pub url: String,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: "sqlite://data/batlehub.db".into(), max_connections: 8 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    #[serde(rename = "type")]
    pub kind: StorageKind,
    /// The blobs (filesystem), or the replica's local scratch space:
    /// temporary files and cached upstream documents (s3).
    pub path: PathBuf,
    /// s3: the bucket.
    pub bucket: Option<String>,
    /// s3: the region (else from the AWS environment).
    pub region: Option<String>,
    /// s3: an S3-compatible endpoint (MinIO, Ceph, R2...).
    pub endpoint_url: Option<String>,
    /// s3: `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    pub force_path_style: bool,
    /// s3: a key prefix inside the bucket (`team-a/`), empty by default.
    pub prefix: String,
    /// s3: explicit credentials (else the standard AWS environment chain).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// The garbage collector deletes an unreferenced blob only once it was
    /// last committed longer ago than this (at least 60 seconds).
    pub gc_grace_secs: u64,
    /// How often the server collects garbage (0: never; run `batlehub gc`).
    pub gc_interval_secs: u64,
    /// Below this many free bytes on the filesystem under `path`, upstream
    /// artifacts are no longer fetched into the cache (503) and documents
    /// are no longer persisted, so publishes keep this reserve; `/healthz`
    /// reports the disk "low".
    pub min_free_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            kind: StorageKind::Filesystem,
            path: PathBuf::from("data/storage"),
            bucket: None,
            region: None,
            endpoint_url: None,
            force_path_style: false,
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            gc_grace_secs: 86_400,
            gc_interval_secs: 3_600,
            min_free_bytes: 1 << 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Filesystem,
    S3,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The largest artifact accepted from a client or an upstream.
    pub max_artifact_size_bytes: u64,
    /// The largest metadata document (packument, index file) read from an upstream.
    pub max_document_size_bytes: u64,
    /// The whole of one upstream document request (connect, headers, body).
    pub upstream_document_timeout_secs: u64,
    /// The whole of one upstream artifact download.
    pub upstream_artifact_timeout_secs: u64,
    /// Memory for upstream documents as fetched.
    pub document_cache_bytes: u64,
    /// Memory for upstream documents parsed (weighed as their source bodies
    /// times four).
    pub parsed_cache_bytes: u64,
    /// Memory for documents rendered from upstream ones.
    pub rendered_cache_bytes: u64,
    /// Memory for small artifacts served from memory.
    pub blob_cache_bytes: u64,
    /// Memory for the index of cached upstream artifacts.
    pub artifact_index_bytes: u64,
    /// Memory for views of local packages (their rows, kept while nothing
    /// changes).
    pub local_view_bytes: u64,
    /// Failed authentications one client address may make in a minute;
    /// beyond, its requests with credentials not recently accepted are
    /// answered 429 without being checked.
    pub auth_failures_per_minute: u32,
    /// Argon2 verifications of static tokens run at once (each takes about
    /// 19 MiB and tens of milliseconds); more wait briefly, then get 429.
    pub argon2_concurrency: usize,
    /// Browser sign-ins pending at once (anyone may start one; each lives
    /// 15 minutes at most); beyond, `/api/v1/auth/oidc/login` answers 429.
    pub pending_sign_ins: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_artifact_size_bytes: 2 * 1024 * MIB,
            max_document_size_bytes: 256 * MIB,
            upstream_document_timeout_secs: 60,
            upstream_artifact_timeout_secs: 3600,
            document_cache_bytes: 512 * MIB,
            parsed_cache_bytes: 256 * MIB,
            rendered_cache_bytes: 256 * MIB,
            blob_cache_bytes: 64 * MIB,
            artifact_index_bytes: 32 * MIB,
            local_view_bytes: 64 * MIB,
            auth_failures_per_minute: 30,
            argon2_concurrency: 2,
            pending_sign_ins: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter (`info`, `batlehub=debug,info`); `RUST_LOG` wins.
    pub level: String,
    /// One line per request (target `batlehub::access`, level `info`).
    pub access: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into(), access: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AuthConfig {
    Token(TokenAuthConfig),
    Oidc(OidcConfig),
    ActionsOidc(ActionsOidcConfig),
    Kubernetes(KubernetesConfig),
}

/// An OpenID Connect provider whose JWTs are accepted as bearer tokens.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    #[serde(default = "default_oidc_name")]
    pub name: String,
    pub issuer_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Defaults to `client_id`.
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_sub")]
    pub user_id_claim: String,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Defaults to `groups_claim`.
    #[serde(default)]
    pub role_claim: Option<String>,
    #[serde(default)]
    pub default_role: Option<Role>,
    #[serde(default)]
    pub role_mappings: BTreeMap<String, Role>,
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("name", &self.name)
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn default_oidc_name() -> String {
    "oidc".into()
}
fn default_actions_name() -> String {
    "github-actions".into()
}
fn default_kubernetes_name() -> String {
    "kubernetes".into()
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into(), "groups".into()]
}
fn default_sub() -> String {
    "sub".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}

/// GitHub / Forgejo Actions job tokens, mapped to groups by rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsOidcConfig {
    #[serde(default = "default_actions_name")]
    pub name: String,
    pub issuer_url: String,
    /// Required: a token minted for another audience is refused.
    pub audience: String,
    #[serde(default = "default_sub")]
    pub user_id_claim: String,
    #[serde(default)]
    pub rules: Vec<ActionsRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsRule {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub group_template: Option<String>,
    #[serde(default = "default_user_role")]
    pub role: Role,
    #[serde(default, rename = "match")]
    pub match_mode: MatchMode,
    #[serde(default)]
    pub conditions: Vec<ActionsCondition>,
}

fn default_user_role() -> Role {
    Role::User
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    #[default]
    All,
    Any,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsCondition {
    pub claim: String,
    /// A glob (`*`), or a regular expression when written `^...$`.
    pub pattern: String,
}

/// Kubernetes service account tokens, checked with a TokenReview.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    #[serde(default = "default_kubernetes_name")]
    pub name: String,
    #[serde(default = "default_api_server")]
    pub api_server: String,
    #[serde(default = "default_ca_path")]
    pub ca_cert_path: PathBuf,
    #[serde(default = "default_token_path")]
    pub token_path: PathBuf,
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
    #[serde(default = "default_review_ttl")]
    pub cache_ttl_secs: u64,
    #[serde(default)]
    pub role_mappings: BTreeMap<String, Role>,
}

fn default_api_server() -> String {
    "https://kubernetes.default.svc".into()
}
fn default_ca_path() -> PathBuf {
    PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
}
fn default_token_path() -> PathBuf {
    PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token")
}
fn default_audiences() -> Vec<String> {
    vec!["batlehub".into()]
}
fn default_review_ttl() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAuthConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tokens: Vec<StaticToken>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticToken {
    /// The token itself, or an Argon2id PHC string (`$argon2id$...`).
    pub value: String,
    pub role: Role,
    pub user_id: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("value", &"<redacted>")
            .field("role", &self.role)
            .field("user_id", &self.user_id)
            .field("groups", &self.groups)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A caching proxy in front of upstreams.
    #[default]
    Proxy,
    /// An authoritative private registry.
    Local,
    /// Local packages first, upstream for the rest.
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Proxy => "proxy",
            Mode::Local => "local",
            Mode::Hybrid => "hybrid",
        }
    }
    pub fn has_local(self) -> bool {
        matches!(self, Mode::Local | Mode::Hybrid)
    }
    pub fn has_upstream(self) -> bool {
        matches!(self, Mode::Proxy | Mode::Hybrid)
    }
}

fn default_version_order() -> super::VersionOrder {
    super::natural_version_order
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The type's version order (set from the ecosystems' rules when the
    /// configuration is parsed).
    #[serde(skip, default = "default_version_order")]
    pub version_order: super::VersionOrder,
    pub name: String,
    #[serde(default)]
    pub mode: Mode,
    /// Tried in order; a 404 falls through to the next.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Local registries of the same type whose packages this one serves first.
    #[serde(default)]
    pub members: Vec<String>,
    /// Origins (`https://files.example`, scheme, host and optional port)
    /// besides the upstreams' own that upstream-supplied artifact URLs and
    /// redirects may lead to.
    #[serde(default)]
    pub artifact_hosts: Vec<String>,
    /// Let upstream-supplied URLs reach loopback, private and link-local
    /// addresses (the configured upstreams' own hosts always may).
    #[serde(default)]
    pub allow_private_addresses: bool,
    #[serde(default)]
    pub rbac: Option<RbacConfig>,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Team namespaces: a package name starting with `prefix` belongs to `group`.
    #[serde(default)]
    pub namespaces: Vec<NamespaceConfig>,
    /// Names an upstream serves that may nevertheless be published here
    /// (the local package then shadows the upstream's). Kept as catalog
    /// keys.
    #[serde(default)]
    pub allow_upstream_names: Vec<String>,
    /// Settings only the registry's type reads (`[registries.options]`),
    /// checked by its ecosystem.
    #[serde(default)]
    pub options: toml::Table,
    /// Request rate limits (`[registries.limits]`).
    #[serde(default)]
    pub limits: LimitsConfigOfRegistry,
    /// Supply-chain rules (`[[registries.rules]]`) as written; checked and
    /// parsed into `rule_set` when the configuration is read.
    #[serde(default)]
    pub rules: Vec<toml::Table>,
    #[serde(skip)]
    pub rule_set: std::sync::Arc<crate::rules::RuleSet>,
}

/// `[registries.limits]`: requests per minute, per signed-in identity and
/// per anonymous client address; unset means unlimited.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfigOfRegistry {
    pub requests_per_minute: Option<u32>,
    pub anonymous_requests_per_minute: Option<u32>,
    /// What each user may have published to this registry.
    pub user_quota: Option<QuotaConfig>,
    /// What may be published under the namespaces each group claims here.
    #[serde(default)]
    pub group_quotas: BTreeMap<String, QuotaConfig>,
}

/// A publish quota: versions and bytes (of their files); unset is unlimited.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub versions: Option<u64>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    pub prefix: String,
    pub group: String,
}

impl RegistryConfig {
    /// The grants this registry's configuration resolves to.
    pub fn grants(&self) -> Grants {
        // Users publish by default only where nothing comes from upstream: on
        // a hybrid registry a published name shadows the upstream's.
        let writable = self.mode == Mode::Local;
        match &self.rbac {
            None => Grants::defaults(writable),
            Some(rbac) => Grants {
                anonymous: rbac.anonymous.clone().unwrap_or_default(),
                user: rbac.user.clone().unwrap_or_default(),
                admin: rbac.admin.clone().unwrap_or_else(|| vec![Permission::All]),
                groups: rbac.groups.iter().map(|(g, p)| (g.clone(), p.clone())).collect(),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RbacConfig {
    pub anonymous: Option<Vec<Permission>>,
    pub user: Option<Vec<Permission>>,
    pub admin: Option<Vec<Permission>>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<Permission>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How long an upstream metadata document is served without revalidation.
    pub metadata_ttl_secs: u64,
    /// Cold artifacts up to this size are verified against the advertised
    /// digest before the first byte is sent (a mismatch answers 502); larger
    /// ones stream as they arrive and a mismatch aborts the response.
    pub verify_before_serve_bytes: u64,
    /// How long an upstream's "not found" is remembered before the upstream
    /// is asked again. Unset: the registry type's default (not remembered,
    /// unless the type's clients probe paths that do not exist).
    pub negative_ttl_secs: Option<u64>,
    /// Cached upstream artifacts and the documents kept on disk are kept
    /// within this many bytes together, the least recently served forgotten
    /// first. Unset: no cap.
    pub max_bytes: Option<u64>,
    /// Cached upstream artifacts and documents not served for this many
    /// days are forgotten. Unset: kept however old.
    pub evict_after_days: Option<u64>,
    /// Of each package, only the artifacts of this many newest cached
    /// versions (in the registry type's version order) are kept. Unset:
    /// every version.
    pub keep_latest_versions: Option<u64>,
}

impl CacheConfig {
    /// Whether eviction needs to know when each cached entry was last
    /// served (a size cap or an age limit): only then is every hit
    /// remembered for the batched access-time writes.
    pub fn tracks_access(&self) -> bool {
        self.max_bytes.is_some() || self.evict_after_days.is_some()
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            metadata_ttl_secs: 300,
            verify_before_serve_bytes: 4 * 1024 * 1024,
            negative_ttl_secs: None,
            max_bytes: None,
            evict_after_days: None,
            keep_latest_versions: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// An extra CA (PEM) trusted for this registry's upstreams.
    pub ca_file: PathBuf,
}
