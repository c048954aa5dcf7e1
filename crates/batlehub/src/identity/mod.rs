//! Who is calling: credentials → [`Principal`].
//!
//! Credentials are accepted in every form clients send: `Authorization:
//! Bearer T`, `Authorization: Basic base64(anyuser:T)`, a raw
//! `Authorization: T` (cargo, gem), and the forms only one ecosystem's
//! clients send, which that ecosystem extracts itself
//! (`serve::Ecosystem::credential`) and passes to [`Identity::resolve_with`].
//! No credentials
//! make the anonymous principal; credentials that match nothing are an error
//! (401), never silently anonymous.
//!
//! Order: a JWT goes to the provider whose `issuer_url` is its `iss` (and a
//! failure there is final); other tokens go to the static tokens, the API
//! tokens (`bh_`), the Argon2 static tokens, then to Kubernetes TokenReview
//! (never for a `bh_` token).

pub mod jwt;
pub mod kubernetes;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use axum::http::HeaderMap;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::{Authority, Lineage, Principal, Role, normalize_group};
use crate::catalog::{ApiTokenRow, Catalog, NewApiToken, now_ms};
use crate::config::{AuthConfig, Config};
use crate::error::AppError;

/// Prefix of every API token.
pub const API_TOKEN_PREFIX: &str = "bh_";

/// The longest a token made by a provider's bearer token (a JWT, a
/// Kubernetes token) may live, whatever it asks: such a caller is a job or a
/// script holding a short-lived credential, not a person who signed in.
pub const FEDERATED_TOKEN_MAX_MS: i64 = 3600 * 1000;

/// Origins of tokens made without a parent and without a static authority,
/// kept as they are when found from before lineage tracking.
const ROOT_ORIGINS: &[&str] = &["admin", "cli", "bootstrap"];

/// When a token `caller` asks to end at `requested` really ends: never after
/// what the caller's credential descends from, and within
/// [`FEDERATED_TOKEN_MAX_MS`] for a provider's bearer token.
pub fn capped_expiry(caller: &Lineage, requested: i64, now: i64) -> i64 {
    let mut end = requested;
    if let Some(parent) = caller.expires_at {
        end = end.min(parent);
    }
    if caller.federated {
        end = end.min(now + FEDERATED_TOKEN_MAX_MS);
    }
    end
}

/// How a token made by `caller` is recorded: `token` (made with an API
/// token), `federated` (a provider's bearer token), `static` (a static
/// token) or `sign-in` (a browser that signed in with an OIDC provider).
pub fn origin_of(caller: &Lineage) -> &'static str {
    if caller.token_id.is_some() {
        "token"
    } else if caller.federated {
        "federated"
    } else if caller.authority.is_some() {
        "static"
    } else {
        "sign-in"
    }
}

/// How long an accepted token skips the failed-authentication throttle.
const KNOWN_GOOD_TTL: Duration = Duration::from_secs(600);
/// How long an Argon2 verification waits for a free slot before a 429.
const ARGON2_WAIT: Duration = Duration::from_secs(2);

tokio::task_local! {
    /// The address of the client whose request is being served (set by the
    /// router for every request).
    static CLIENT: Option<IpAddr>;
}

/// Run `fut` as serving a request from `client`: failed authentications in
/// it count against that address.
pub async fn with_client<F: std::future::Future>(client: Option<IpAddr>, fut: F) -> F::Output {
    CLIENT.scope(client, fut).await
}

/// The client address of the request being served (as the router saw it,
/// forwarded addresses from trusted proxies included).
pub fn current_client() -> Option<IpAddr> {
    CLIENT.try_with(|c| *c).ok().flatten()
}

/// Whether `token` has the shape of a JWT (three base64url parts).
fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=')))
}

/// Counts of Argon2 verifications, for operators and tests.
#[derive(Debug, Default)]
pub struct Argon2Stats {
    pub verifications: std::sync::atomic::AtomicU64,
    pub in_flight: std::sync::atomic::AtomicUsize,
    /// The most verifications ever seen running at once.
    pub peak: std::sync::atomic::AtomicUsize,
}

enum Secret {
    Plain(Vec<u8>),
    Argon2(String),
}

struct StaticEntry {
    secret: Secret,
    principal: Principal,
}

/// What [`Identity::reconcile`] invalidated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Tokens revoked, descendants included.
    pub tokens: u64,
    /// Of which tokens from before lineage tracking that could not be kept.
    pub legacy_tokens: u64,
    /// Browser sessions ended.
    pub sessions: u64,
}

pub struct Identity {
    statics: Vec<StaticEntry>,
    jwt: Vec<jwt::JwtProvider>,
    kube: Vec<kubernetes::KubeProvider>,
    catalog: Catalog,
    /// sha256(presented token) → index of the matching Argon2 entry (or none),
    /// so a hot CI token is not re-hashed on every request; concurrent
    /// requests with one token share one verification.
    argon_cache: moka::future::Cache<[u8; 32], Option<usize>>,
    /// Verifications running at once are bounded: Argon2 costs memory.
    argon_permits: tokio::sync::Semaphore,
    /// The threads that run them: as many as permits, so the memory their
    /// allocator keeps for Argon2 is bounded too (the blocking pool would
    /// leave up to 19 MiB behind on each of its hundreds of threads).
    argon_threads: ArgonThreads,
    pub argon2: Argon2Stats,
    /// Failed authentications per client address in the current minute.
    failures: moka::sync::Cache<IpAddr, Arc<std::sync::atomic::AtomicU32>>,
    failure_budget: u32,
    /// sha256 of tokens accepted recently: they skip the throttle (a CI
    /// token keeps working from an address someone else is guessing from).
    known_good: moka::sync::Cache<[u8; 32], ()>,
    /// API tokens as last read, by digest, with the generation of the
    /// catalog's tokens scope they were read at: used only while no token
    /// was revoked anywhere (a revocation through another process is seen
    /// within `CHANGE_BOUND`).
    api_tokens: moka::sync::Cache<[u8; 32], Arc<CachedToken>>,
    /// API token ids used since the last flush, with when.
    touched: Mutex<HashMap<String, i64>>,
}

/// The token a request carries, if any.
pub fn extract_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some((scheme, rest)) = v.split_once(' ') {
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
                return (!rest.is_empty()).then(|| rest.to_string());
            }
            if scheme.eq_ignore_ascii_case("basic") {
                let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
                let decoded = String::from_utf8(decoded).ok()?;
                let (user, pass) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
                let token = if pass.is_empty() { user } else { pass };
                return (!token.is_empty()).then(|| token.to_string());
            }
            return None;
        }
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    None
}

/// The name of the browser session cookie.
pub const SESSION_COOKIE: &str = "batlehub_session";

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The secret of the browser session a request is authenticated by: set
/// only when the request carries no other credentials, since those win.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    if has_credentials(headers) { None } else { session_cookie(headers) }
}

/// The anti-CSRF token of a browser session: derived from the session's
/// secret (which lives only in the HttpOnly cookie), so another origin can
/// neither read nor compute it. Cookie-authenticated writes must echo it, as
/// the `csrf` form field or the `X-CSRF-Token` header.
pub fn csrf_token(session_secret: &str) -> String {
    let digest = Sha256::digest(format!("batlehub-csrf\0{session_secret}").as_bytes());
    hex::encode(&digest[..20])
}

/// Whether `presented` is the CSRF token of `session_secret` (constant time).
pub fn csrf_matches(session_secret: &str, presented: &str) -> bool {
    bool::from(csrf_token(session_secret).as_bytes().ct_eq(presented.trim().as_bytes()))
}

/// A random alphanumeric string of `len` characters.
pub fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    rand::fill(&mut bytes[..]);
    bytes.iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect()
}

/// Whether the request carries something that looks like a credential
/// (used to tell "invalid credentials" from "none").
pub fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(axum::http::header::AUTHORIZATION)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A fresh API token secret: `bh_` and 40 base62 characters (~238 bits).
pub fn generate_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_string(40))
}

/// What a new API token is and descends from.
#[derive(Debug, Clone)]
pub struct Mint<'a> {
    pub name: &'a str,
    pub user_id: &'a str,
    pub role: Role,
    pub groups: &'a [String],
    pub provider: &'a str,
    pub expires_at: Option<i64>,
    pub parent_id: Option<&'a str>,
    pub origin: &'a str,
    pub authority: Option<&'a Authority>,
}

/// Mint an API token: the secret (to show once) and its row (holding only
/// the hash). Groups are stored normalised; they travel with the token.
pub async fn mint(catalog: &Catalog, m: &Mint<'_>) -> Result<(String, ApiTokenRow), crate::catalog::DbError> {
    let secret = generate_api_token();
    let hash = sha256_hex(&secret);
    let groups: Vec<String> = m.groups.iter().map(|g| normalize_group(g)).collect();
    let row = catalog
        .insert_api_token(&NewApiToken {
            token_hash: &hash,
            name: m.name,
            user_id: m.user_id,
            role: m.role.as_str(),
            groups: &groups,
            provider: m.provider,
            expires_at: m.expires_at,
            parent_id: m.parent_id,
            origin: m.origin,
            authority: m.authority,
        })
        .await?;
    Ok((secret, row))
}

/// Mint a token with no parent and no static authority (`batlehub token
/// create`, the bootstrap token): its origin is `provider`.
pub async fn mint_api_token(
    catalog: &Catalog,
    name: &str,
    user_id: &str,
    role: Role,
    groups: &[String],
    provider: &str,
    expires_at: Option<i64>,
) -> Result<(String, ApiTokenRow), crate::catalog::DbError> {
    mint(
        catalog,
        &Mint { name, user_id, role, groups, provider, expires_at, parent_id: None, origin: provider, authority: None },
    )
    .await
}

/// Argon2id PHC string for `token` (what `batlehub hash-token` prints).
pub fn hash_token(token: &str) -> anyhow::Result<String> {
    use argon2::password_hash::PasswordHasher;
    let hash = argon2::Argon2::default()
        .hash_password(token.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    Ok(hash.to_string())
}

impl Identity {
    pub fn new(config: &Config, catalog: Catalog) -> anyhow::Result<Identity> {
        let mut statics = Vec::new();
        let mut jwt = Vec::new();
        let mut kube = Vec::new();
        for auth in &config.auth {
            match auth {
                AuthConfig::Oidc(o) => jwt.push(jwt::JwtProvider::oidc(o, crate::upstream::control_client(None)?)),
                AuthConfig::ActionsOidc(a) => {
                    jwt.push(jwt::JwtProvider::actions(a, crate::upstream::control_client(None)?))
                }
                AuthConfig::Kubernetes(k) => {
                    kube.push(kubernetes::KubeProvider::new(k, crate::upstream::control_client(Some(&k.ca_cert_path))?))
                }
                AuthConfig::Token(t) => {
                    let provider = t.name.clone().unwrap_or_else(|| "token".into());
                    for tok in &t.tokens {
                        let secret = if tok.value.starts_with("$argon2") {
                            Secret::Argon2(tok.value.clone())
                        } else {
                            Secret::Plain(tok.value.as_bytes().to_vec())
                        };
                        let authority =
                            Authority { provider: provider.clone(), user_id: tok.user_id.clone(), role: tok.role };
                        statics.push(StaticEntry {
                            secret,
                            principal: Principal {
                                user_id: Some(tok.user_id.clone()),
                                role: tok.role,
                                groups: tok.groups.iter().map(|g| normalize_group(g)).collect(),
                                provider: provider.clone(),
                                lineage: Lineage { authority: Some(authority), ..Lineage::default() },
                            },
                        });
                    }
                }
            }
        }
        Ok(Identity {
            statics,
            jwt,
            kube,
            catalog,
            argon_cache: moka::future::Cache::builder()
                .weigher(|_k: &[u8; 32], _v: &Option<usize>| 64)
                .max_capacity(4 * 1024 * 1024)
                .time_to_live(Duration::from_secs(300))
                .build(),
            argon_permits: tokio::sync::Semaphore::new(config.limits.argon2_concurrency.max(1)),
            argon_threads: ArgonThreads::start(config.limits.argon2_concurrency.max(1)),
            argon2: Argon2Stats::default(),
            failures: moka::sync::Cache::builder()
                .weigher(|_k: &IpAddr, _v: &Arc<std::sync::atomic::AtomicU32>| 64)
                .max_capacity(8 * 1024 * 1024)
                .time_to_live(Duration::from_secs(60))
                .build(),
            failure_budget: config.limits.auth_failures_per_minute.max(1),
            known_good: moka::sync::Cache::builder()
                .weigher(|_k: &[u8; 32], _v: &()| 64)
                .max_capacity(8 * 1024 * 1024)
                .time_to_live(KNOWN_GOOD_TTL)
                .build(),
            api_tokens: moka::sync::Cache::builder()
                .weigher(|_k: &[u8; 32], v: &Arc<CachedToken>| v.weight())
                .max_capacity(16 * 1024 * 1024)
                .build(),
            touched: Mutex::new(HashMap::new()),
        })
    }

    /// Resolve the request's credentials.
    pub async fn resolve(self: &Arc<Self>, headers: &HeaderMap) -> Result<Principal, AppError> {
        self.resolve_with(headers, None).await
    }

    /// Resolve the request's credentials, trying `credential` (one an
    /// ecosystem extracted from a form only its clients send) first.
    pub async fn resolve_with(
        self: &Arc<Self>,
        headers: &HeaderMap,
        credential: Option<String>,
    ) -> Result<Principal, AppError> {
        match credential.or_else(|| extract_token(headers)) {
            None if has_credentials(headers) => Err(AppError::InvalidCredentials),
            None => match session_cookie(headers) {
                // A stale cookie is not an error: the browser is signed out.
                Some(secret) => Ok(self.resolve_session(&secret).await?.unwrap_or_else(Principal::anonymous)),
                None => Ok(Principal::anonymous()),
            },
            Some(token) => self.resolve_token(&token).await?.ok_or(AppError::InvalidCredentials),
        }
    }

    async fn resolve_session(&self, secret: &str) -> Result<Option<Principal>, AppError> {
        let Some(s) = self.catalog.find_session(&sha256_hex(secret)).await? else { return Ok(None) };
        Ok(Some(Principal {
            user_id: Some(s.user_id),
            role: Role::parse(&s.role).unwrap_or(Role::Anonymous),
            groups: s.groups,
            provider: s.provider,
            lineage: s.lineage,
        }))
    }

    /// The OIDC provider called `name` (the first one when `None`).
    pub fn oidc_provider(&self, name: Option<&str>) -> Option<&jwt::JwtProvider> {
        self.jwt.iter().filter(|p| p.oidc_config().is_some()).find(|p| name.is_none_or(|n| p.name == n))
    }

    pub fn oidc_providers(&self) -> Vec<String> {
        self.jwt.iter().filter(|p| p.oidc_config().is_some()).map(|p| p.name.clone()).collect()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The principal a token stands for, or `None` if it matches nothing.
    ///
    /// A client address that failed to authenticate too often in the last
    /// minute gets a 429 for any token not accepted recently, before the
    /// token is even checked (guessing stops; known tokens keep working).
    pub async fn resolve_token(self: &Arc<Self>, token: &str) -> Result<Option<Principal>, AppError> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let client = current_client();
        if let Some(ip) = client
            && !self.known_good.contains_key(&hash)
            && self
                .failures
                .get(&ip)
                .is_some_and(|n| n.load(std::sync::atomic::Ordering::Relaxed) >= self.failure_budget)
        {
            return Err(AppError::TooManyRequests(
                "too many failed authentications from this address: retry in a minute".into(),
            ));
        }
        let result = self.check_token(token, &hash).await;
        match &result {
            Ok(Some(_)) => self.known_good.insert(hash, ()),
            Ok(None) | Err(AppError::InvalidToken(_)) | Err(AppError::InvalidCredentials) => {
                if let Some(ip) = client {
                    let counter = self.failures.get_with(ip, || Arc::new(std::sync::atomic::AtomicU32::new(0)));
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Err(_) => {}
        }
        result
    }

    async fn check_token(self: &Arc<Self>, token: &str, hash: &[u8; 32]) -> Result<Option<Principal>, AppError> {
        // A JWT of a configured issuer: that provider decides, finally.
        if let Some(iss) = jwt::peek_issuer(token)
            && let Some(p) = self.jwt.iter().find(|p| p.accepts(&iss))
        {
            return p.authenticate(token).await.map(Some);
        }
        // Plain static tokens: constant-time compare against every entry.
        let mut found = None;
        for entry in &self.statics {
            if let Secret::Plain(v) = &entry.secret
                && bool::from(v.as_slice().ct_eq(token.as_bytes()))
            {
                found = Some(entry.principal.clone());
            }
        }
        if found.is_some() {
            return Ok(found);
        }
        if token.starts_with(API_TOKEN_PREFIX)
            && let Some(p) = self.resolve_api_token(hash).await?
        {
            return Ok(Some(p));
        }
        if let Some(p) = self.resolve_argon(token, hash).await? {
            return Ok(Some(p));
        }
        if !token.starts_with(API_TOKEN_PREFIX) {
            for k in &self.kube {
                if let Some(p) = k.review(token).await? {
                    return Ok(Some(p));
                }
            }
        }
        Ok(None)
    }

    /// The API token whose SHA-256 is `digest`.
    async fn resolve_api_token(&self, digest: &[u8; 32]) -> Result<Option<Principal>, AppError> {
        let now = now_ms();
        let stamp = self.catalog.generation(crate::catalog::TOKENS_SCOPE);
        let cached = stamp.and_then(|g| self.api_tokens.get(digest).filter(|c| c.stamp == g));
        let cached = match cached {
            Some(c) => c,
            None => {
                let Some(row) = self.catalog.find_api_token(&hex::encode(digest)).await? else {
                    return Ok(None);
                };
                if !row.is_active(now) {
                    return Ok(None);
                }
                // A token made with another works only while its ancestors do.
                if row.parent_id.is_some() && !self.catalog.api_token_chain_active(&row.id).await? {
                    return Ok(None);
                }
                let principal = Principal {
                    user_id: Some(row.user_id),
                    role: Role::parse(&row.role).unwrap_or(Role::Anonymous),
                    groups: row.groups.iter().map(|g| normalize_group(g)).collect(),
                    provider: "api-token".into(),
                    lineage: Lineage {
                        token_id: Some(row.id.clone()),
                        expires_at: row.expires_at,
                        federated: false,
                        authority: None,
                    },
                };
                let c = Arc::new(CachedToken {
                    stamp: stamp.unwrap_or(0),
                    id: row.id,
                    principal,
                    touched_at: std::sync::atomic::AtomicI64::new(0),
                });
                if stamp.is_some() {
                    self.api_tokens.insert(*digest, Arc::clone(&c));
                }
                c
            }
        };
        // Expiry is checked on every use, cached or not.
        if cached.principal.lineage.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        // Last use is recorded at most every TOUCH_EVERY_MS per token.
        let last = cached.touched_at.load(std::sync::atomic::Ordering::Relaxed);
        if now - last >= TOUCH_EVERY_MS
            && cached
                .touched_at
                .compare_exchange(last, now, std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed)
                .is_ok()
            && let Ok(mut touched) = self.touched.lock()
        {
            touched.insert(cached.id.clone(), now);
        }
        Ok(Some(cached.principal.clone()))
    }

    /// Argon2-hashed static tokens, tried only for credentials that can be
    /// nothing else (never an API token or a JWT), once per token for five
    /// minutes, and never more than `argon2_concurrency` at once.
    async fn resolve_argon(self: &Arc<Self>, token: &str, hash: &[u8; 32]) -> Result<Option<Principal>, AppError> {
        if !self.statics.iter().any(|e| matches!(e.secret, Secret::Argon2(_)))
            || token.starts_with(API_TOKEN_PREFIX)
            || looks_like_jwt(token)
        {
            return Ok(None);
        }
        let me = Arc::clone(self);
        let token = token.to_string();
        let idx = self
            .argon_cache
            .try_get_with(*hash, async move {
                let _permit = tokio::time::timeout(ARGON2_WAIT, me.argon_permits.acquire())
                    .await
                    .map_err(|_| AppError::TooManyRequests("token verification is busy: retry shortly".into()))?
                    .map_err(|_| AppError::internal("the token verification slots are closed"))?;
                let stats = &me.argon2;
                let running = stats.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                stats.peak.fetch_max(running, std::sync::atomic::Ordering::SeqCst);
                stats.verifications.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                metrics::counter!("batlehub_argon2_verifications_total").increment(1);
                // Argon2 is deliberately slow: verify on its own threads.
                let verifier = Arc::clone(&me);
                let found = me
                    .argon_threads
                    .run(move || {
                        verifier.statics.iter().position(|e| match &e.secret {
                            Secret::Argon2(phc) => verify_argon2(phc, token.as_bytes()),
                            Secret::Plain(_) => false,
                        })
                    })
                    .await;
                stats.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                found
            })
            .await
            .map_err(|e: Arc<AppError>| match &*e {
                AppError::TooManyRequests(m) => AppError::TooManyRequests(m.clone()),
                other => AppError::internal(other.to_string()),
            })?;
        Ok(idx.map(|i| self.statics[i].principal.clone()))
    }

    /// Mint a root API token for `user_id` (no parent, no static
    /// authority; its origin is `provider`) and store only its hash; returns
    /// the secret (shown once) and the row.
    pub async fn create_api_token(
        &self,
        name: &str,
        user_id: &str,
        role: Role,
        groups: &[String],
        provider: &str,
        expires_at: Option<i64>,
    ) -> Result<(String, ApiTokenRow), AppError> {
        Ok(mint_api_token(&self.catalog, name, user_id, role, groups, provider, expires_at).await?)
    }

    /// Mint a token `caller` asks for, for itself or (`for_user`, admins
    /// only: checked by the caller) for someone else: its parent is the
    /// token the caller's credential descends from, its end is capped by
    /// [`capped_expiry`], and a static caller is recorded as its authority
    /// (with the role it must keep: the token's, or admin when minted for
    /// someone else).
    pub async fn mint_for(
        &self,
        caller: &Principal,
        name: &str,
        role: Role,
        requested_expiry: i64,
        for_user: Option<(&str, &[String])>,
    ) -> Result<(String, ApiTokenRow), AppError> {
        let me = caller.user_id.as_deref().ok_or(AppError::Unauthenticated)?;
        let lineage = &caller.lineage;
        let expires_at = capped_expiry(lineage, requested_expiry, now_ms());
        let (user_id, groups, origin, provider, authority_role) = match for_user {
            Some((user, groups)) => (user, groups, "admin", "admin", Role::Admin),
            None => (me, caller.groups.as_slice(), origin_of(lineage), caller.provider.as_str(), role),
        };
        let authority = lineage.authority.as_ref().map(|a| Authority { role: authority_role, ..a.clone() });
        let m = Mint {
            name,
            user_id,
            role,
            groups,
            provider,
            expires_at: Some(expires_at),
            parent_id: lineage.token_id.as_deref(),
            origin,
            authority: authority.as_ref(),
        };
        match mint(&self.catalog, &m).await {
            Ok(made) => Ok(made),
            // The caller's token was revoked while this request ran.
            Err(crate::catalog::DbError::Denied(_)) => Err(AppError::InvalidCredentials),
            Err(e) => Err(e.into()),
        }
    }

    /// The start-up check of what was made in the name of static identities
    /// and before lineage tracking: tokens and sessions whose static
    /// identity is gone from the configuration, or lost the role they need,
    /// are revoked (their descendants with them). Tokens from before
    /// lineage tracking are adopted (a static provider's, and root tokens
    /// from `admin`, `cli` and `bootstrap`) or revoked (a provider's
    /// subject's, whose user id was not scoped by provider, and tokens made
    /// with tokens, whose parent was not recorded).
    pub async fn reconcile(&self) -> Result<Reconciled, crate::catalog::DbError> {
        let mut holds: HashMap<(&str, &str), Role> = HashMap::new();
        for e in &self.statics {
            if let (Some(user), Some(a)) = (&e.principal.user_id, &e.principal.lineage.authority) {
                let role = holds.entry((a.provider.as_str(), user.as_str())).or_insert(e.principal.role);
                *role = (*role).max(e.principal.role);
            }
        }
        let still_holds =
            |a: &Authority| holds.get(&(a.provider.as_str(), a.user_id.as_str())).is_some_and(|r| *r >= a.role);
        let static_providers: Vec<&str> = self
            .statics
            .iter()
            .filter_map(|e| e.principal.lineage.authority.as_ref())
            .map(|a| a.provider.as_str())
            .collect();
        let mut revoke = Vec::new();
        let mut out = Reconciled::default();
        for row in self.catalog.tokens_to_reconcile().await? {
            let authority = match (&row.origin, row.authority.clone()) {
                (Some(_), authority) => authority,
                (None, _) if static_providers.contains(&row.provider.as_str()) => {
                    let role = Role::parse(&row.role).unwrap_or(Role::Admin);
                    let a = Authority { provider: row.provider.clone(), user_id: row.user_id.clone(), role };
                    self.catalog.adopt_legacy_token(&row.id, "static", Some(&a)).await?;
                    Some(a)
                }
                (None, _) if ROOT_ORIGINS.contains(&row.provider.as_str()) => {
                    self.catalog.adopt_legacy_token(&row.id, &row.provider, None).await?;
                    None
                }
                (None, _) => {
                    self.catalog.adopt_legacy_token(&row.id, "legacy", None).await?;
                    out.legacy_tokens += 1;
                    revoke.push(row.id.clone());
                    continue;
                }
            };
            if let Some(a) = authority
                && !still_holds(&a)
            {
                revoke.push(row.id.clone());
            }
        }
        out.tokens = self.catalog.revoke_api_tokens(&revoke).await?;
        let gone: Vec<String> = self
            .catalog
            .sessions_with_authority()
            .await?
            .into_iter()
            .filter(|s| !still_holds(&s.authority))
            .map(|s| s.id_hash)
            .collect();
        out.sessions = self.catalog.delete_sessions(&gone).await?;
        Ok(out)
    }

    /// Write batched last-used times.
    pub async fn flush_touched(&self) {
        let batch: Vec<(String, i64)> = match self.touched.lock() {
            Ok(mut t) => t.drain().collect(),
            Err(_) => return,
        };
        if let Err(e) = self.catalog.touch_api_tokens(&batch).await {
            tracing::warn!(error = %e, "could not record token use");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn every_credential_form() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases: Vec<(HeaderMap, Option<&str>)> = vec![
            (headers(&[("authorization", "Bearer abc")]), Some("abc")),
            (headers(&[("authorization", "bearer abc")]), Some("abc")),
            (headers(&[("authorization", &format!("Basic {}", b64("__token__:abc")))]), Some("abc")),
            (headers(&[("authorization", &format!("Basic {}", b64("abc:")))]), Some("abc")),
            (headers(&[("authorization", "abc")]), Some("abc")),
            // Forms of one ecosystem's clients are that ecosystem's to extract.
            (headers(&[("x-nuget-apikey", "abc")]), None),
            (headers(&[("authorization", "Digest xyz")]), None),
            (headers(&[("authorization", "Basic !!notbase64")]), None),
            (headers(&[]), None),
        ];
        for (h, expected) in cases {
            assert_eq!(extract_token(&h).as_deref(), expected, "{h:?}");
        }
    }

    #[test]
    fn argon2_verification_reuses_memory_and_matches_only_the_token() {
        let phc = hash_token("s3cret-static").unwrap();
        assert!(verify_argon2(&phc, b"s3cret-static"));
        // Twice on one thread: the kept memory is reused, not stale.
        assert!(verify_argon2(&phc, b"s3cret-static"));
        assert!(!verify_argon2(&phc, b"s3cret-statid"));
        assert!(!verify_argon2("not a phc string", b"s3cret-static"));
        let kept = ARGON_MEMORY.with(|m| m.borrow().len());
        assert!(kept > 0, "the working memory stays with the thread");
    }

    #[test]
    fn what_a_credential_makes_never_outlives_it() {
        let now = 1_000_000;
        let year = now + 365 * 86_400_000;
        // A static identity or a browser that signed in: as asked.
        assert_eq!(capped_expiry(&Lineage::default(), year, now), year);
        // Made with a token: no later than that token.
        let child = Lineage { token_id: Some("t".into()), expires_at: Some(now + 5_000), ..Lineage::default() };
        assert_eq!(capped_expiry(&child, year, now), now + 5_000);
        assert_eq!(capped_expiry(&child, now + 1_000, now), now + 1_000);
        // A provider's bearer token: its own end, and an hour at most.
        let jwt = Lineage { federated: true, expires_at: Some(now + 300_000), ..Lineage::default() };
        assert_eq!(capped_expiry(&jwt, year, now), now + 300_000);
        let long_jwt = Lineage { federated: true, expires_at: Some(year), ..Lineage::default() };
        assert_eq!(capped_expiry(&long_jwt, year, now), now + FEDERATED_TOKEN_MAX_MS);
        let kube = Lineage { federated: true, ..Lineage::default() };
        assert_eq!(capped_expiry(&kube, year, now), now + FEDERATED_TOKEN_MAX_MS);
        assert_eq!(origin_of(&child), "token");
        assert_eq!(origin_of(&kube), "federated");
        assert_eq!(origin_of(&Lineage::default()), "sign-in");
    }

    #[test]
    fn api_tokens_look_right() {
        let t = generate_api_token();
        assert!(t.starts_with("bh_"));
        assert_eq!(t.len(), 43);
        assert_ne!(t, generate_api_token());
    }
}

/// How often a token's last use is recorded (its `last_used_at` is that
/// precise).
const TOUCH_EVERY_MS: i64 = 10_000;

/// An API token as last read from the catalog.
struct CachedToken {
    /// The tokens scope's generation it was read at.
    stamp: u64,
    id: String,
    principal: Principal,
    /// When its use was last recorded (ms).
    touched_at: std::sync::atomic::AtomicI64,
}

impl CachedToken {
    fn weight(&self) -> u32 {
        let p = &self.principal;
        let strings = self.id.len()
            + p.user_id.as_ref().map_or(0, String::len)
            + p.groups.iter().map(|g| g.len() + 24).sum::<usize>()
            + p.provider.len();
        u32::try_from(strings + 256).unwrap_or(u32::MAX)
    }
}

type ArgonJob = Box<dyn FnOnce() + Send>;

/// A fixed set of threads for Argon2 verifications.
struct ArgonThreads {
    jobs: std::sync::mpsc::SyncSender<ArgonJob>,
}

impl ArgonThreads {
    fn start(threads: usize) -> ArgonThreads {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<ArgonJob>(threads * 4);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an Argon2 thread");
            }
        }
        ArgonThreads { jobs }
    }

    /// Run `f` on one of the threads and wait for its result.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: ArgonJob = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs
            .try_send(job)
            .map_err(|_| AppError::TooManyRequests("token verification is busy: retry shortly".into()))?;
        rx.await.map_err(|_| AppError::internal("token verification failed"))
    }
}

thread_local! {
    /// Argon2's working memory, kept by each Argon2 thread and reused: a
    /// fresh 19 MiB per verification is what the allocator fails to give
    /// back.
    static ARGON_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `token` matches the Argon2 PHC string `phc`, computed in this
/// thread's reusable memory and compared in constant time.
fn verify_argon2(phc: &str, token: &[u8]) -> bool {
    let check = || -> Option<bool> {
        let hash = PasswordHash::new(phc).ok()?;
        let params = argon2::Params::try_from(&hash).ok()?;
        let algorithm = argon2::Algorithm::new(hash.algorithm.as_str()).ok()?;
        let version = match hash.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::default(),
        };
        let (salt, expected) = (hash.salt.as_ref()?, hash.hash.as_ref()?);
        let argon = argon2::Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        ARGON_MEMORY.with(|memory| {
            let mut memory = memory.try_borrow_mut().ok()?;
            memory.resize(params.block_count(), argon2::Block::default());
            argon.hash_password_into_with_memory(token, salt, &mut out, &mut memory[..]).ok()
        })?;
        Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
    };
    check().unwrap_or(false)
}
