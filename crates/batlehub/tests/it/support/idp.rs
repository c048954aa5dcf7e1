//! A fake OpenID issuer (discovery, JWKS with real RSA and EC keys) and a fake
//! Kubernetes TokenReview API, on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const RSA_PEM: &[u8] = include_bytes!("../fixtures/throwaway-rsa-test-key.pem");

pub struct FakeIssuer {
    pub url: String,
    rsa: EncodingKey,
    ec: EncodingKey,
    jwks_hits: Arc<Mutex<usize>>,
    flow: Arc<Mutex<Flow>>,
    _h: tokio::task::JoinHandle<()>,
}

/// The browser sign-in side of the fake: who logs in, pending codes.
#[derive(Default)]
pub struct Flow {
    pub user: (String, Vec<String>),
    /// code → (nonce, code_challenge, redirect_uri, client_id)
    codes: HashMap<String, (String, String, String, String)>,
    pub wrong_nonce: bool,
    pub token_requests: usize,
}

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut j = Jwk::from_encoding_key(key, alg).expect("jwk");
    j.common.key_id = Some(kid.to_string());
    j
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

impl FakeIssuer {
    pub async fn start() -> FakeIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let rsa = EncodingKey::from_rsa_pem(RSA_PEM).expect("rsa key");
        let ec_pair = rcgen::KeyPair::generate().expect("ec key");
        let ec = EncodingKey::from_ec_pem(ec_pair.serialize_pem().as_bytes()).expect("ec key");
        let set = JwkSet { keys: vec![jwk(&rsa, Algorithm::RS256, "rsa1"), jwk(&ec, Algorithm::ES256, "ec1")] };
        let jwks_hits = Arc::new(Mutex::new(0usize));
        let flow = Arc::new(Mutex::new(Flow { user: ("erin".into(), vec!["staff".into()]), ..Default::default() }));
        let state = IssuerState {
            url: url.clone(),
            jwks: serde_json::to_value(&set).expect("jwks"),
            hits: jwks_hits.clone(),
            flow: flow.clone(),
            key: EncodingKey::from_rsa_pem(RSA_PEM).expect("rsa key"),
        };
        let app = Router::new().fallback(serve_issuer).with_state(Arc::new(state));
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeIssuer { url, rsa, ec, jwks_hits, flow, _h: h }
    }

    pub fn flow(&self) -> std::sync::MutexGuard<'_, Flow> {
        self.flow.lock().expect("lock")
    }

    pub fn jwks_hits(&self) -> usize {
        *self.jwks_hits.lock().expect("lock")
    }

    /// A token with `claims` over the standard ones (iss, aud, exp, iat).
    pub fn token(&self, aud: &str, claims: Value) -> String {
        self.sign(Algorithm::RS256, "rsa1", aud, claims)
    }

    pub fn sign(&self, alg: Algorithm, kid: &str, aud: &str, claims: Value) -> String {
        let mut all = json!({"iss": self.url, "aud": aud, "exp": now() + 600, "iat": now(), "nbf": now() - 5});
        for (k, v) in claims.as_object().cloned().unwrap_or_default() {
            all[k] = v;
        }
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_string());
        let key = if alg == Algorithm::ES256 { &self.ec } else { &self.rsa };
        jsonwebtoken::encode(&header, &all, key).expect("sign")
    }
}

struct IssuerState {
    url: String,
    jwks: Value,
    hits: Arc<Mutex<usize>>,
    flow: Arc<Mutex<Flow>>,
    key: EncodingKey,
}

fn query_map(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

async fn serve_issuer(State(st): State<Arc<IssuerState>>, req: Request) -> Response {
    let url = &st.url;
    match req.uri().path() {
        "/.well-known/openid-configuration" => axum::Json(json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
        }))
        .into_response(),
        "/jwks" => {
            *st.hits.lock().expect("lock") += 1;
            axum::Json(st.jwks.clone()).into_response()
        }
        // The user "signs in" at once and is sent back with a code.
        "/authorize" => {
            let q = query_map(req.uri().query().unwrap_or(""));
            let ok = q.get("response_type").map(String::as_str) == Some("code")
                && q.get("code_challenge_method").map(String::as_str) == Some("S256");
            if !ok {
                return (StatusCode::BAD_REQUEST, "PKCE S256 and response_type=code are required").into_response();
            }
            let code = format!("code-{}", q.get("state").cloned().unwrap_or_default());
            let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
            st.flow.lock().expect("lock").codes.insert(
                code.clone(),
                (
                    q.get("nonce").cloned().unwrap_or_default(),
                    q.get("code_challenge").cloned().unwrap_or_default(),
                    redirect.clone(),
                    q.get("client_id").cloned().unwrap_or_default(),
                ),
            );
            let location = format!("{redirect}?code={code}&state={}", q.get("state").cloned().unwrap_or_default());
            (StatusCode::FOUND, [(axum::http::header::LOCATION, location)]).into_response()
        }
        "/token" => {
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
            let form = query_map(&String::from_utf8_lossy(&body));
            let mut flow = st.flow.lock().expect("lock");
            flow.token_requests += 1;
            let Some((nonce, challenge, redirect, client_id)) = form.get("code").and_then(|c| flow.codes.remove(c))
            else {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
            };
            use base64::Engine;
            use sha2::Digest;
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let s256 =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
            if s256 != challenge
                || form.get("redirect_uri") != Some(&redirect)
                || form.get("client_secret").map(String::as_str) != Some("s3cret")
            {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
            }
            let (sub, groups) = flow.user.clone();
            let nonce = if flow.wrong_nonce { "not-the-nonce".to_string() } else { nonce };
            let claims = json!({"iss": url, "aud": client_id, "sub": sub, "groups": groups, "nonce": nonce, "exp": now() + 600, "iat": now()});
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("rsa1".into());
            let id_token = jsonwebtoken::encode(&header, &claims, &st.key).expect("sign");
            axum::Json(json!({"access_token": "opaque-access", "token_type": "Bearer", "id_token": id_token}))
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A fake TokenReview API: `sa-*` tokens are service accounts
/// (`sa-NS-NAME` → `system:serviceaccount:NS:NAME`); anything else is not
/// authenticated. It demands BatleHub's own token.
pub struct FakeKube {
    pub url: String,
    pub own_token: String,
    reviews: Arc<Mutex<HashMap<String, usize>>>,
    down: Arc<Mutex<bool>>,
    _h: tokio::task::JoinHandle<()>,
}

impl FakeKube {
    pub async fn start() -> FakeKube {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let reviews = Arc::new(Mutex::new(HashMap::new()));
        let down = Arc::new(Mutex::new(false));
        let own_token = "batlehub-own-sa-token".to_string();
        let state = (reviews.clone(), down.clone(), own_token.clone());
        let app = Router::new().fallback(serve_kube).with_state(state);
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeKube { url, own_token, reviews, down, _h: h }
    }

    pub fn reviews(&self, token: &str) -> usize {
        self.reviews.lock().expect("lock").get(token).copied().unwrap_or(0)
    }

    pub fn total_reviews(&self) -> usize {
        self.reviews.lock().expect("lock").values().sum()
    }

    pub fn set_down(&self, d: bool) {
        *self.down.lock().expect("lock") = d;
    }
}

type KubeState = (Arc<Mutex<HashMap<String, usize>>>, Arc<Mutex<bool>>, String);

async fn serve_kube(State((reviews, down, own)): State<KubeState>, req: Request) -> Response {
    if *down.lock().expect("lock") {
        return (StatusCode::SERVICE_UNAVAILABLE, "etcd is down").into_response();
    }
    if req.uri().path() != "/apis/authentication.k8s.io/v1/tokenreviews" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if auth != format!("Bearer {own}") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = v["spec"]["token"].as_str().unwrap_or("").to_string();
    *reviews.lock().expect("lock").entry(token.clone()).or_default() += 1;
    let status = match token.strip_prefix("sa-").and_then(|r| r.split_once('-')) {
        Some((ns, name)) => {
            json!({"authenticated": true, "user": {"username": format!("system:serviceaccount:{ns}:{name}"),
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"]}})
        }
        None => json!({"authenticated": false}),
    };
    axum::Json(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}))
        .into_response()
}
