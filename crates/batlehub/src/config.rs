//! The typed configuration: one TOML file.
//!
//! Parsing collects every error it can, each with its line: syntax errors,
//! unknown keys and bad values (per section and per `[[registries]]` entry),
//! unset `${ENV}` variables, and the cross-checks (duplicate names, a proxy
//! without upstreams, members that do not exist...). `batlehub config check`
//! prints them all.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::access::{Grants, Permission, Role};
use crate::ecosystems::Kind;

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { host: "127.0.0.1".into(), port: 8080, public_url: None, trusted_proxies: Vec::new() }
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
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { max_artifact_size_bytes: 2 * 1024 * 1024 * 1024, max_document_size_bytes: 256 * 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter (`info`, `batlehub=debug,info`); `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into() }
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub name: String,
    #[serde(default)]
    pub mode: Mode,
    /// Tried in order; a 404 falls through to the next.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Local registries of the same type whose packages this one serves first.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub rbac: Option<RbacConfig>,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Team namespaces: a package name starting with `prefix` belongs to `group`.
    #[serde(default)]
    pub namespaces: Vec<NamespaceConfig>,
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
        let writable = self.mode.has_local();
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
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { metadata_ttl_secs: 300, verify_before_serve_bytes: 4 * 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// An extra CA (PEM) trusted for this registry's upstreams.
    pub ca_file: PathBuf,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

struct Collector<'a> {
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Collector<'_> {
    fn push(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.map(|s| s.start).unwrap_or(0));
        self.errors.push(ConfigError { line, column, message: message.into() });
    }

    fn de_error(&mut self, context: &str, err: toml::de::Error) {
        let message = err.message().trim().to_string();
        let message = if context.is_empty() { message } else { format!("{context}: {message}") };
        self.push(err.span(), message);
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, column)
}

impl Config {
    /// The embedded default configuration.
    pub fn embedded_default() -> Result<Config, ConfigErrors> {
        Config::parse(EMBEDDED_DEFAULT)
    }

    /// Parse and validate `text`, reading `${VAR}` from the process environment.
    pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse_with_env(text, &|name| std::env::var(name).ok())
    }

    pub fn parse_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let mut c = Collector { text, errors: Vec::new() };
        let (mut root, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            for e in syntax {
                c.de_error("", e);
            }
            return Err(ConfigErrors(c.errors));
        }
        root.get_mut().make_owned();
        interpolate_table(root.get_mut(), env, &mut c);

        let mut server = ServerConfig::default();
        let mut database = DatabaseConfig::default();
        let mut storage = StorageConfig::default();
        let mut limits = LimitsConfig::default();
        let mut log = LogConfig::default();
        let mut auth = Vec::new();
        let mut registries: Vec<(Range<usize>, RegistryConfig)> = Vec::new();

        for (key, value) in root.into_inner() {
            let key_span = key.span();
            let key_name = key.into_inner().into_owned();
            match key_name.as_str() {
                "server" => section(&mut c, "[server]", value, &mut server),
                "database" => section(&mut c, "[database]", value, &mut database),
                "storage" => section(&mut c, "[storage]", value, &mut storage),
                "limits" => section(&mut c, "[limits]", value, &mut limits),
                "log" => section(&mut c, "[log]", value, &mut log),
                "auth" => {
                    for (span, entry) in array_items(&mut c, "[[auth]]", value) {
                        match AuthConfig::deserialize(ValueDeserializer::from(entry)) {
                            Ok(a) => auth.push(a),
                            Err(mut e) => {
                                if e.span().is_none() {
                                    c.push(Some(span), format!("[[auth]]: {}", e.message().trim()));
                                } else {
                                    e.set_input(None);
                                    c.de_error("[[auth]]", e);
                                }
                            }
                        }
                    }
                }
                "registries" => {
                    for (span, entry) in array_items(&mut c, "[[registries]]", value) {
                        match RegistryConfig::deserialize(ValueDeserializer::from(entry)) {
                            Ok(r) => registries.push((span, r)),
                            Err(e) => c.de_error("[[registries]]", e),
                        }
                    }
                }
                other => c.push(
                    Some(key_span),
                    format!(
                        "unknown key `{other}`, expected one of `server`, `database`, `storage`, `auth`, `registries`, `limits`, `log`"
                    ),
                ),
            }
        }

        validate(&mut c, &server, &storage, &database, &auth, &registries);
        if !c.errors.is_empty() {
            c.errors.sort_by_key(|e| (e.line, e.column));
            return Err(ConfigErrors(c.errors));
        }
        Ok(Config {
            server,
            database,
            storage,
            auth,
            registries: registries.into_iter().map(|(_, r)| r).collect(),
            limits,
            log,
        })
    }

    pub fn registry(&self, name: &str) -> Option<&RegistryConfig> {
        self.registries.iter().find(|r| r.name == name)
    }
}

fn section<T: for<'de> Deserialize<'de>>(c: &mut Collector<'_>, name: &str, value: Spanned<DeValue<'_>>, out: &mut T) {
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => *out = v,
        Err(e) => c.de_error(name, e),
    }
}

fn array_items<'i>(
    c: &mut Collector<'_>,
    name: &str,
    value: Spanned<DeValue<'i>>,
) -> Vec<(Range<usize>, Spanned<DeValue<'i>>)> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => items.iter().map(|v| (v.span(), v.clone())).collect(),
        _ => {
            c.push(Some(span), format!("{name} must be an array of tables"));
            Vec::new()
        }
    }
}

fn interpolate_table(table: &mut DeTable<'_>, env: &dyn Fn(&str) -> Option<String>, c: &mut Collector<'_>) {
    for (_, value) in table.iter_mut() {
        interpolate_value(value, env, c);
    }
}

fn interpolate_value(value: &mut Spanned<DeValue<'_>>, env: &dyn Fn(&str) -> Option<String>, c: &mut Collector<'_>) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains("${") => match interpolate(s, env) {
            Ok(new) => *s = new.into(),
            Err(msg) => c.push(Some(span), msg),
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                interpolate_value(item, env, c);
            }
        }
        DeValue::Table(t) => interpolate_table(t, env, c),
        _ => {}
    }
}

/// Replace `${NAME}` and `${NAME:-default}`; `$${` writes a literal `${`.
pub fn interpolate(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = stripped;
            continue;
        }
        let Some(body) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!("unterminated `${{` in `{s}`"));
        };
        let expr = &body[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && !name.starts_with(|ch: char| ch.is_ascii_digit());
        if !valid {
            return Err(format!("invalid environment variable name `{name}`"));
        }
        match (env(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Registry names appear in URLs: keep them to a safe alphabet.
pub fn valid_registry_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
        && !name.starts_with('.')
}

fn validate(
    c: &mut Collector<'_>,
    server: &ServerConfig,
    storage: &StorageConfig,
    database: &DatabaseConfig,
    auth: &[AuthConfig],
    registries: &[(Range<usize>, RegistryConfig)],
) {
    let section_span = |key: &str| -> Option<Range<usize>> { c.text.find(key).map(|i| i..i + key.len()) };
    if let Some(url) = &server.public_url {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                let span = section_span("public_url");
                c.push(span, format!("[server] public_url `{url}` must be an absolute http(s) URL"));
            }
        }
    }
    if !(database.url.starts_with("sqlite:")
        || database.url.starts_with("postgres://")
        || database.url.starts_with("postgresql://"))
    {
        let span = section_span("[database]");
        c.push(span, format!("[database] url `{}` must start with `sqlite://` or `postgres://`", database.url));
    }
    if storage.kind == StorageKind::S3 {
        let span = section_span("[storage]");
        if storage.bucket.as_deref().is_none_or(str::is_empty) {
            c.push(span.clone(), "[storage] type = \"s3\" needs `bucket`");
        }
        if let Some(e) = &storage.endpoint_url
            && url::Url::parse(e).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true)
        {
            c.push(span.clone(), format!("[storage] endpoint_url `{e}` must be an absolute http(s) URL"));
        }
        if storage.access_key_id.is_some() != storage.secret_access_key.is_some() {
            c.push(span, "[storage] access_key_id and secret_access_key go together");
        }
    } else if storage.bucket.is_some() || storage.endpoint_url.is_some() {
        let span = section_span("[storage]");
        c.push(span, "[storage] bucket and endpoint_url need type = \"s3\"");
    }
    if database.max_connections == 0 {
        let span = section_span("max_connections");
        c.push(span, "[database] max_connections must be at least 1");
    }
    for a in auth {
        match a {
            AuthConfig::Oidc(o) => {
                if url::Url::parse(&o.issuer_url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                    c.push(
                        section_span(&o.issuer_url),
                        format!("[[auth]] {}: issuer_url must be an http(s) URL", o.name),
                    );
                }
            }
            AuthConfig::ActionsOidc(a) => {
                if url::Url::parse(&a.issuer_url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                    c.push(
                        section_span(&a.issuer_url),
                        format!("[[auth]] {}: issuer_url must be an http(s) URL", a.name),
                    );
                }
                if a.audience.trim().is_empty() {
                    c.push(section_span("actions-oidc"), format!("[[auth]] {}: audience is required", a.name));
                }
                if a.rules.is_empty() {
                    c.push(
                        section_span("actions-oidc"),
                        format!("[[auth]] {}: at least one [[auth.rules]] is needed", a.name),
                    );
                }
                for r in &a.rules {
                    if r.conditions.is_empty() {
                        c.push(
                            section_span("[[auth.rules]]"),
                            format!(
                                "[[auth]] {}: a rule without conditions would admit every repository of the issuer",
                                a.name
                            ),
                        );
                    }
                    if r.group.is_none() == r.group_template.is_none() {
                        c.push(
                            section_span("[[auth.rules]]"),
                            format!("[[auth]] {}: a rule needs exactly one of group and group_template", a.name),
                        );
                    }
                    for cond in &r.conditions {
                        if cond.pattern.starts_with('^')
                            && cond.pattern.ends_with('$')
                            && regex::Regex::new(&cond.pattern).is_err()
                        {
                            c.push(
                                section_span(&cond.pattern),
                                format!("[[auth]] {}: invalid regular expression `{}`", a.name, cond.pattern),
                            );
                        }
                    }
                }
            }
            AuthConfig::Kubernetes(k) => {
                if url::Url::parse(&k.api_server).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                    c.push(
                        section_span(&k.api_server),
                        format!("[[auth]] {}: api_server must be an http(s) URL", k.name),
                    );
                }
            }
            AuthConfig::Token(t) => {
                for tok in &t.tokens {
                    if tok.value.is_empty() {
                        c.push(
                            section_span("[[auth.tokens]]"),
                            format!("token for `{}` has an empty value", tok.user_id),
                        );
                    }
                    if tok.value.starts_with("$argon2")
                        && argon2::password_hash::phc::PasswordHash::new(&tok.value).is_err()
                    {
                        c.push(
                            section_span(&tok.value),
                            format!("token for `{}` is not a valid Argon2 PHC string", tok.user_id),
                        );
                    }
                }
            }
        }
    }
    let mut seen = HashSet::new();
    for (span, r) in registries {
        let span = Some(span.clone());
        if !valid_registry_name(&r.name) {
            c.push(
                span.clone(),
                format!("registry name `{}` may only contain letters, digits, `-`, `_` and `.`", r.name),
            );
        }
        if !seen.insert(r.name.as_str()) {
            c.push(span.clone(), format!("duplicate registry name `{}`", r.name));
        }
        let served_by_members = r.mode == Mode::Proxy && !r.members.is_empty();
        if r.mode.has_upstream() && r.upstreams.is_empty() && !served_by_members {
            c.push(
                span.clone(),
                format!("registry `{}` is in {} mode but has no `upstreams`", r.name, r.mode.as_str()),
            );
        }
        if r.mode == Mode::Local && !r.upstreams.is_empty() {
            c.push(
                span.clone(),
                format!("registry `{}` is in local mode: remove its `upstreams` or use mode = \"hybrid\"", r.name),
            );
        }
        for u in &r.upstreams {
            // `sparse+https://...` is how cargo names a sparse index.
            let plain = u.strip_prefix("sparse+").unwrap_or(u);
            match url::Url::parse(plain) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                _ => c.push(
                    span.clone(),
                    format!("registry `{}`: upstream `{u}` must be an absolute http(s) URL", r.name),
                ),
            }
        }
        for m in &r.members {
            match registries.iter().find(|(_, o)| &o.name == m) {
                None => {
                    c.push(span.clone(), format!("registry `{}`: member `{m}` is not a configured registry", r.name))
                }
                Some((_, o)) if o.name == r.name => {
                    c.push(span.clone(), format!("registry `{}` cannot be its own member", r.name))
                }
                Some((_, o)) if o.kind != r.kind => c.push(
                    span.clone(),
                    format!("registry `{}`: member `{m}` is of type `{}`, not `{}`", r.name, o.kind, r.kind),
                ),
                Some((_, o)) if !o.mode.has_local() => {
                    c.push(span.clone(), format!("registry `{}`: member `{m}` must be in local or hybrid mode", r.name))
                }
                Some((_, o)) if !o.members.is_empty() => c.push(
                    span.clone(),
                    format!("registry `{}`: member `{m}` has members of its own; nesting is not supported", r.name),
                ),
                Some(_) => {}
            }
        }
        for ns in &r.namespaces {
            if ns.prefix.is_empty() || ns.prefix.len() > 200 || ns.prefix.chars().any(char::is_control) {
                c.push(
                    span.clone(),
                    format!(
                        "registry `{}`: namespace prefix `{}` must be 1 to 200 printable characters",
                        r.name, ns.prefix
                    ),
                );
            }
            if ns.group.trim().is_empty() {
                c.push(span.clone(), format!("registry `{}`: namespace `{}` needs a group", r.name, ns.prefix));
            }
        }
        if let Some(tls) = &r.tls
            && !tls.ca_file.exists()
        {
            c.push(
                span.clone(),
                format!("registry `{}`: tls.ca_file `{}` does not exist", r.name, tls.ca_file.display()),
            );
        }
    }
}

#[cfg(test)]
mod tests;
