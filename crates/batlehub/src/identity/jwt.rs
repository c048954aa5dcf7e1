//! JWT bearer tokens from OpenID Connect providers (`type = "oidc"`) and from
//! CI job issuers (`type = "actions-oidc"`, GitHub and Forgejo Actions).
//!
//! A JWT goes to the provider whose `issuer_url` equals its `iss`, and any
//! failure there is final (401), never a silent anonymous. Keys come from the
//! issuer's discovery document and JWKS, cached and refetched on an unknown
//! `kid` at most once a minute. `iss`, `aud`, `exp` and `nbf` are checked;
//! only asymmetric algorithms are accepted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::access::{Lineage, Principal, Role, glob_match, normalize_group, scoped_user_id};
use crate::config::{ActionsOidcConfig, MatchMode, OidcConfig};
use crate::error::AppError;
use crate::upstream;

const REFETCH_EVERY: Duration = Duration::from_secs(60);
const MAX_TOKEN: usize = 16 * 1024;

/// The `iss` of something shaped like a JWT, read without verification to
/// pick the provider that will verify it.
pub fn peek_issuer(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_h, payload, _s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

enum Mapping {
    Oidc(OidcConfig),
    Actions { config: ActionsOidcConfig, regexes: Vec<Vec<Option<regex::Regex>>> },
}

struct Keys {
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

pub struct JwtProvider {
    pub name: String,
    pub issuer: String,
    audience: String,
    user_id_claim: String,
    mapping: Mapping,
    client: reqwest::Client,
    /// The signing keys as last fetched (never held across an await).
    keys: std::sync::Mutex<Keys>,
    /// Held while the JWKS is fetched: one fetch at a time, and tokens
    /// signed with a known key never wait for it.
    refresh: tokio::sync::Mutex<()>,
    /// The discovery document, once fetched (never held across an await).
    discovery: std::sync::Mutex<Option<Value>>,
}

fn claim_str(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn claim_values(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `{claim}` placeholders: `{name}` is the provider name, `{ref_name}` the
/// `ref` claim without `refs/heads/` or `refs/tags/`; a `/` inside a
/// substituted value becomes `-`. A missing claim makes the template fail.
pub fn expand_template(template: &str, provider: &str, claims: &Map<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let key = &rest[start + 1..end];
        let value = match key {
            "name" => provider.to_string(),
            "ref_name" => {
                let r = claim_str(claims, "ref")?;
                r.strip_prefix("refs/heads/").or_else(|| r.strip_prefix("refs/tags/")).unwrap_or(&r).to_string()
            }
            other => claim_str(claims, other)?,
        };
        out.push_str(&value.replace('/', "-"));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

impl JwtProvider {
    pub fn oidc(config: &OidcConfig, client: reqwest::Client) -> JwtProvider {
        JwtProvider {
            name: config.name.clone(),
            issuer: config.issuer_url.trim_end_matches('/').to_string(),
            audience: config.audience.clone().unwrap_or_else(|| config.client_id.clone()),
            user_id_claim: config.user_id_claim.clone(),
            mapping: Mapping::Oidc(config.clone()),
            client,
            keys: std::sync::Mutex::new(Keys { set: None, fetched_at: None }),
            refresh: tokio::sync::Mutex::new(()),
            discovery: std::sync::Mutex::new(None),
        }
    }

    pub fn actions(config: &ActionsOidcConfig, client: reqwest::Client) -> JwtProvider {
        let regexes = config
            .rules
            .iter()
            .map(|r| {
                r.conditions
                    .iter()
                    .map(|c| {
                        (c.pattern.starts_with('^') && c.pattern.ends_with('$'))
                            .then(|| regex::Regex::new(&c.pattern).ok())
                            .flatten()
                    })
                    .collect()
            })
            .collect();
        JwtProvider {
            name: config.name.clone(),
            issuer: config.issuer_url.trim_end_matches('/').to_string(),
            audience: config.audience.clone(),
            user_id_claim: config.user_id_claim.clone(),
            mapping: Mapping::Actions { config: config.clone(), regexes },
            client,
            keys: std::sync::Mutex::new(Keys { set: None, fetched_at: None }),
            refresh: tokio::sync::Mutex::new(()),
            discovery: std::sync::Mutex::new(None),
        }
    }

    pub fn accepts(&self, iss: &str) -> bool {
        iss.trim_end_matches('/') == self.issuer
    }

    async fn fetch_json(&self, url: &str) -> Result<Value, AppError> {
        let f = upstream::forward(
            &self.client,
            reqwest::Method::GET,
            url,
            &[("accept", "application/json".into())],
            None,
            1024 * 1024,
        )
        .await
        .map_err(|e| AppError::Unavailable(format!("identity provider {} unreachable: {e}", self.name)))?;
        if !f.status.is_success() {
            return Err(AppError::Unavailable(format!("identity provider {}: {url} answered {}", self.name, f.status)));
        }
        serde_json::from_slice(&f.body)
            .map_err(|e| AppError::Unavailable(format!("identity provider {}: {url} is not JSON: {e}", self.name)))
    }

    /// The OIDC client settings, for browser sign-in (OIDC providers only).
    pub fn oidc_config(&self) -> Option<&OidcConfig> {
        match &self.mapping {
            Mapping::Oidc(c) => Some(c),
            Mapping::Actions { .. } => None,
        }
    }

    /// The issuer's discovery document (cached).
    pub async fn discovery(&self) -> Result<Value, AppError> {
        let cached = self.discovery.lock().ok().and_then(|d| d.clone());
        if let Some(d) = cached {
            return Ok(d);
        }
        let d = self.fetch_json(&format!("{}/.well-known/openid-configuration", self.issuer)).await?;
        if let Ok(mut slot) = self.discovery.lock() {
            *slot = Some(d.clone());
        }
        Ok(d)
    }

    /// Verify an ID token from the authorization-code flow: audience is the
    /// client id, and the nonce must be the one this sign-in sent.
    pub async fn authenticate_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<Principal, AppError> {
        self.verify(token, client_id, Some(nonce)).await
    }

    async fn fetch_keys(&self) -> Result<JwkSet, AppError> {
        let discovery = self.discovery().await?;
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(|u| u.as_str())
            .ok_or_else(|| AppError::Unavailable(format!("identity provider {}: no jwks_uri", self.name)))?
            .to_string();
        let jwks = self.fetch_json(&jwks_uri).await?;
        serde_json::from_value(jwks)
            .map_err(|e| AppError::Unavailable(format!("identity provider {}: bad JWKS: {e}", self.name)))
    }

    /// The decoding key for `kid`, refreshing the JWKS when it is unknown
    /// (at most once per [`REFETCH_EVERY`], one fetch at a time; callers
    /// whose key is known never wait for a fetch).
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, AppError> {
        let find = |set: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(k) => set.find(k),
                // No kid: the only key, or the first whose algorithm matches.
                None => set
                    .keys
                    .iter()
                    .find(|j| j.common.key_algorithm.is_some_and(|a| format!("{a:?}") == format!("{alg:?}")))
                    .or(set.keys.first()),
            }?;
            DecodingKey::from_jwk(jwk).ok()
        };
        // What the cache says: the key, or whether a fetch is due.
        let cached = |keys: &std::sync::Mutex<Keys>| -> Result<Option<DecodingKey>, AppError> {
            let keys = keys.lock().map_err(|_| AppError::internal("JWKS cache poisoned"))?;
            if let Some(k) = keys.set.as_ref().and_then(find) {
                return Ok(Some(k));
            }
            if keys.fetched_at.is_some_and(|t| t.elapsed() < REFETCH_EVERY) {
                return Err(AppError::InvalidToken("unknown signing key".into()));
            }
            Ok(None)
        };
        if let Some(k) = cached(&self.keys)? {
            return Ok(k);
        }
        let _fetching = self.refresh.lock().await;
        // Whoever fetched while this caller waited may have brought the key.
        if let Some(k) = cached(&self.keys)? {
            return Ok(k);
        }
        let fetched = self.fetch_keys().await;
        let mut keys = self.keys.lock().map_err(|_| AppError::internal("JWKS cache poisoned"))?;
        keys.fetched_at = Some(Instant::now());
        match fetched {
            Ok(set) => {
                let k = find(&set);
                keys.set = Some(set);
                k.ok_or_else(|| AppError::InvalidToken("unknown signing key".into()))
            }
            Err(e) if keys.set.is_none() => Err(e),
            Err(_) => Err(AppError::InvalidToken("unknown signing key".into())),
        }
    }

    /// Verify `token` and map it to a principal.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AppError> {
        self.verify(token, &self.audience, None).await
    }

    async fn verify(&self, token: &str, audience: &str, nonce: Option<&str>) -> Result<Principal, AppError> {
        if token.len() > MAX_TOKEN {
            return Err(AppError::InvalidToken("token too large".into()));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AppError::InvalidToken(format!("malformed JWT: {e}")))?;
        let asymmetric = matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        );
        if !asymmetric {
            return Err(AppError::InvalidToken(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let key = self.key(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.as_str(), &format!("{}/", self.issuer)]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AppError::InvalidToken(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired".into(),
                ErrorKind::ImmatureSignature => "token not valid yet".into(),
                ErrorKind::InvalidAudience => format!("token is not for audience {audience}"),
                ErrorKind::InvalidIssuer => "wrong issuer".into(),
                ErrorKind::InvalidSignature => "bad signature".into(),
                other => format!("{other:?}"),
            })
        })?;
        let claims = data.claims;
        if let Some(n) = nonce
            && claim_str(&claims, "nonce").as_deref() != Some(n)
        {
            return Err(AppError::InvalidToken("the ID token's nonce does not match this sign-in".into()));
        }
        let user_id = claim_str(&claims, &self.user_id_claim)
            .ok_or_else(|| AppError::InvalidToken(format!("token has no `{}` claim", self.user_id_claim)))?;
        let (role, groups) = match &self.mapping {
            Mapping::Oidc(c) => {
                let values = claim_values(&claims, &c.groups_claim);
                let groups: Vec<String> =
                    values.iter().map(|v| normalize_group(&format!("{}:{v}", self.name))).collect();
                let role_values = match &c.role_claim {
                    Some(rc) => claim_values(&claims, rc),
                    None => values.clone(),
                };
                let mut role = c.default_role.unwrap_or(Role::User);
                for v in &role_values {
                    if let Some(r) = c.role_mappings.get(v) {
                        role = role.max(*r);
                    }
                }
                (role, groups)
            }
            Mapping::Actions { config, regexes } => {
                let mut groups = Vec::new();
                let mut role: Option<Role> = None;
                for (rule, rx) in config.rules.iter().zip(regexes) {
                    let matches: Vec<bool> = rule
                        .conditions
                        .iter()
                        .zip(rx)
                        .map(|(cond, re)| {
                            claim_str(&claims, &cond.claim).is_some_and(|v| match re {
                                Some(re) => re.is_match(&v),
                                None => glob_match(cond.pattern.as_bytes(), v.as_bytes()),
                            })
                        })
                        .collect();
                    let ok = !matches.is_empty()
                        && match rule.match_mode {
                            MatchMode::All => matches.iter().all(|m| *m),
                            MatchMode::Any => matches.iter().any(|m| *m),
                        };
                    if !ok {
                        continue;
                    }
                    let group = match (&rule.group, &rule.group_template) {
                        (Some(g), _) => Some(g.clone()),
                        (None, Some(t)) => expand_template(t, &self.name, &claims),
                        (None, None) => None,
                    };
                    if let Some(g) = group {
                        groups.push(normalize_group(&g));
                        role = Some(role.map_or(rule.role, |r| r.max(rule.role)));
                    }
                }
                let role =
                    role.ok_or_else(|| AppError::InvalidToken(format!("no rule of {} admits this token", self.name)))?;
                (role, groups)
            }
        };
        let kind = match &self.mapping {
            Mapping::Oidc(_) => "oidc",
            Mapping::Actions { .. } => "actions",
        };
        // The token's own end: nothing made with it outlives it.
        let expires_at = claims.get("exp").and_then(Value::as_i64).map(|s| s.saturating_mul(1000));
        Ok(Principal {
            user_id: Some(scoped_user_id(kind, &self.name, &user_id)),
            role,
            groups,
            provider: self.name.clone(),
            lineage: Lineage { token_id: None, expires_at, federated: true, authority: None },
        })
    }
}

/// For tests: the claims of a template expansion.
pub fn claims_from(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let c = claims_from(&[("repository", "myorg/my-repo"), ("ref", "refs/heads/main"), ("actor", "alice")]);
        assert_eq!(
            expand_template("github-actions/{repository}/{ref_name}", "gh", &c).as_deref(),
            Some("github-actions/myorg-my-repo/main")
        );
        assert_eq!(expand_template("{name}/{actor}", "forgejo", &c).as_deref(), Some("forgejo/alice"));
        assert_eq!(expand_template("{missing}", "gh", &c), None);
        let t = claims_from(&[("ref", "refs/tags/v1.0")]);
        assert_eq!(expand_template("{ref_name}", "gh", &t).as_deref(), Some("v1.0"));
    }

    #[test]
    fn issuers() {
        let b = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let t = format!("{}.{}.sig", b(r#"{"alg":"RS256"}"#), b(r#"{"iss":"https://issuer.example"}"#));
        assert_eq!(peek_issuer(&t).as_deref(), Some("https://issuer.example"));
        assert_eq!(peek_issuer("bh_abc"), None);
        assert_eq!(peek_issuer("a.b"), None);
        assert_eq!(peek_issuer(&"a.".repeat(10_000)), None);
    }
}

#[cfg(test)]
mod refresh_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    /// While a JWKS refetch hangs on a slow identity provider, a token
    /// signed with a key already known is still verified.
    #[tokio::test]
    async fn a_slow_jwks_refetch_stalls_no_token_with_a_known_key() {
        let pem = include_bytes!("../../tests/it/fixtures/throwaway-rsa-test-key.pem");
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).expect("key");
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).expect("jwk");
        jwk.common.key_id = Some("k1".into());
        let set = json!({ "keys": [jwk] });
        let stall = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (u, st, h) = (url.clone(), stall.clone(), hits.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (u, st, h, set) = (u.clone(), st.clone(), h.clone(), set.clone());
            async move {
                if req.uri().path() == "/jwks" {
                    h.fetch_add(1, Ordering::SeqCst);
                    while st.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    axum::Json(set)
                } else {
                    axum::Json(json!({ "issuer": u, "jwks_uri": format!("{u}/jwks") }))
                }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let config: OidcConfig =
            toml::from_str(&format!("issuer_url = \"{url}\"\nclient_id = \"batlehub\"")).expect("config");
        crate::tls::install_crypto_provider();
        let provider = Arc::new(JwtProvider::oidc(&config, reqwest::Client::new()));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let claims = json!({ "iss": url, "aud": "batlehub", "exp": now + 600, "sub": "someone" });
        let token = |kid: &str| {
            let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
            header.kid = Some(kid.into());
            jsonwebtoken::encode(&header, &claims, &key).expect("sign")
        };
        provider.authenticate(&token("k1")).await.expect("known key");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // A refetch is due; the provider hangs on it.
        if let Ok(mut keys) = provider.keys.lock() {
            keys.fetched_at = Instant::now().checked_sub(REFETCH_EVERY + Duration::from_secs(1));
        }
        stall.store(true, Ordering::SeqCst);
        let p = provider.clone();
        let rotated = token("rotated");
        let unknown = tokio::spawn(async move { p.authenticate(&rotated).await });
        for _ in 0..1000 {
            if hits.load(Ordering::SeqCst) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2, "the refetch started");
        let known = tokio::time::timeout(Duration::from_secs(10), provider.authenticate(&token("k1"))).await;
        assert!(matches!(known, Ok(Ok(_))), "a token with a known key waited for the refetch");
        stall.store(false, Ordering::SeqCst);
        assert!(unknown.await.expect("join").is_err(), "the rotated key is still unknown");
    }
}
