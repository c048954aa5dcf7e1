//! Kubernetes service account tokens, checked with a TokenReview against the
//! API server (with BatleHub's own service account token), the answer cached
//! for a short TTL keyed by a hash of the token. The user
//! `system:serviceaccount:NS:NAME` is the user id
//! `kubernetes:<provider>:system:serviceaccount:NS:NAME`; it and its groups
//! become groups prefixed with the provider name
//! (`kubernetes:system:serviceaccounts:ci`). An API server
//! that cannot be asked is a 503 for that request, never a silent anonymous.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::access::{Lineage, Principal, Role, normalize_group, scoped_user_id};
use crate::config::KubernetesConfig;
use crate::error::AppError;
use crate::upstream;

pub struct KubeProvider {
    config: KubernetesConfig,
    client: reqwest::Client,
    cache: moka::future::Cache<[u8; 32], Option<Principal>>,
}

impl KubeProvider {
    pub fn new(config: &KubernetesConfig, client: reqwest::Client) -> KubeProvider {
        KubeProvider {
            config: config.clone(),
            client,
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(config.cache_ttl_secs.max(1)))
                .build(),
        }
    }

    /// The principal a token stands for, `None` if the API server says it is
    /// not authenticated.
    pub async fn review(&self, token: &str) -> Result<Option<Principal>, AppError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.cache.get(&key).await {
            return Ok(hit);
        }
        let own = tokio::fs::read_to_string(&self.config.token_path)
            .await
            .map_err(|e| AppError::Unavailable(format!("cannot read {}: {e}", self.config.token_path.display())))?;
        let body = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": { "token": token, "audiences": self.config.audiences },
        });
        let url =
            format!("{}/apis/authentication.k8s.io/v1/tokenreviews", self.config.api_server.trim_end_matches('/'));
        let answer = upstream::forward(
            &self.client,
            reqwest::Method::POST,
            &url,
            &[
                ("authorization", format!("Bearer {}", own.trim())),
                ("content-type", "application/json".into()),
                ("accept", "application/json".into()),
            ],
            Some(bytes::Bytes::from(body.to_string())),
            1024 * 1024,
        )
        .await
        .map_err(|e| AppError::Unavailable(format!("TokenReview unavailable: {e}")))?;
        if !answer.status.is_success() {
            return Err(AppError::Unavailable(format!("TokenReview answered {}", answer.status)));
        }
        let v: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| AppError::Unavailable(format!("TokenReview answer is not JSON: {e}")))?;
        let status = v.get("status").cloned().unwrap_or(Value::Null);
        let principal = if status.get("authenticated").and_then(|a| a.as_bool()) == Some(true) {
            let user = status.get("user").cloned().unwrap_or(Value::Null);
            let username = user.get("username").and_then(|u| u.as_str()).unwrap_or("").to_string();
            let raw_groups: Vec<String> = user
                .get("groups")
                .and_then(|g| g.as_array())
                .map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let mut role = Role::User;
            for k in std::iter::once(&username).chain(raw_groups.iter()) {
                if let Some(r) = self.config.role_mappings.get(k) {
                    role = role.max(*r);
                }
            }
            let name = &self.config.name;
            let mut groups: Vec<String> = vec![normalize_group(&format!("{name}:{username}"))];
            groups.extend(raw_groups.iter().map(|g| normalize_group(&format!("{name}:{g}"))));
            (!username.is_empty()).then(|| Principal {
                user_id: Some(scoped_user_id("kubernetes", name, &username)),
                role,
                groups,
                provider: name.clone(),
                lineage: Lineage { token_id: None, expires_at: None, federated: true, authority: None },
            })
        } else {
            None
        };
        self.cache.insert(key, principal.clone()).await;
        Ok(principal)
    }
}
