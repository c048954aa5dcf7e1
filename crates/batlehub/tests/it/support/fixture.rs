//! What the shared suites (the conformance table, the access matrix, bad
//! input) need to know of one ecosystem: how its clients publish, where a
//! package's listing and artifact are, how its errors look, a fake upstream
//! of its protocol, and its bad inputs. Each ecosystem implements
//! [`Fixture`] beside its other test support (`support/npm.rs`, ...); the
//! suites are generic and run on every implementation.

use std::future::Future;

use serde_json::Value;

use super::fake::{FakeUpstream, Protocol};

/// A request that must be refused: what it is, the method, the path after
/// `/proxy/{registry}`, the body and the status.
pub struct BadRequest {
    pub what: &'static str,
    pub method: reqwest::Method,
    pub path: String,
    pub payload: Payload,
    pub status: u16,
}

pub enum Payload {
    Raw { content_type: &'static str, bytes: Vec<u8> },
    Form(reqwest::multipart::Form),
}

impl BadRequest {
    /// Send it to `registry_url` with `token` (as a bearer token, which every
    /// ecosystem accepts).
    pub async fn send(self, c: &reqwest::Client, registry_url: &str, token: &str) -> Reply {
        let r = c.request(self.method, format!("{registry_url}{}", self.path)).bearer_auth(token);
        let r = match self.payload {
            Payload::Raw { content_type, bytes } => r.header("content-type", content_type).body(bytes),
            Payload::Form(f) => r.multipart(f),
        };
        Reply::of(r.send().await.expect("send")).await
    }
}

/// A response's status, headers and body, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub async fn of(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap_or_default();
        Reply { status, headers, body }
    }
}

pub trait Fixture: Send + Sync + 'static {
    /// The registry type (`type = "..."`).
    const TYPE: &'static str;
    /// The namespace prefix claims use in the suites.
    const CLAIM: &'static str;
    /// Other spellings of [`Self::CLAIM`] that the ecosystem's name rules
    /// make the same prefix.
    const CLAIM_SPELLINGS: &'static [&'static str];
    type Proto: Protocol;
    /// Whether the protocol has a search (or project list) of local packages.
    const SEARCH: bool = true;
    /// Whether upstream documents name where artifacts are (npm tarball
    /// URLs, PyPI links); GOPROXY paths are fixed on the upstream itself.
    const LINKED_ARTIFACTS: bool = true;
    /// Whether upstream documents advertise artifact digests; where they do
    /// not, the ecosystem's own content checks stand in.
    const DIGESTS: bool = true;

    /// A package name for the suites: under [`Self::CLAIM`] or free.
    fn name(stem: &str, claimed: bool) -> String;

    /// Publish `name` `version` through the ecosystem's own publish API
    /// (anonymously when `token` is `None`).
    fn publish(
        c: &reqwest::Client,
        registry_url: &str,
        token: Option<&str>,
        name: &str,
        version: &str,
    ) -> impl Future<Output = Reply> + Send;

    /// The path (after `/proxy/{registry}`) of a package's metadata listing.
    fn listing(name: &str) -> String;

    /// The path of one version's artifact.
    fn artifact(name: &str, version: &str) -> String;

    /// The local packages a search (or project list) shows the caller.
    fn search(c: &reqwest::Client, registry_url: &str, token: Option<&str>)
    -> impl Future<Output = Vec<String>> + Send;

    /// The message of an error response in the client's dialect, or `None`
    /// if the response is not shaped as the client expects.
    fn error_message(reply: &Reply) -> Option<String>;

    /// A fake upstream of this protocol.
    fn upstream() -> impl Future<Output = FakeUpstream<Self::Proto>> + Send;

    /// The fake's URL as a registry's `upstreams` entry.
    fn upstream_url(fake: &FakeUpstream<Self::Proto>) -> String;

    /// Put `name` `version` into the fake; returns the artifact's bytes.
    fn seed(fake: &FakeUpstream<Self::Proto>, name: &str, version: &str) -> Vec<u8>;

    /// Whether an upstream request path is a search forwarded upstream (the
    /// only upstream request a hybrid registry makes for local names).
    fn is_upstream_search(path: &str) -> bool {
        let _ = path;
        false
    }

    /// Publishes that must be refused, leaving nothing, all for packages
    /// named from `stem`; the server's artifact limit is
    /// [`BAD_INPUT_LIMIT`] bytes, and an oversized publish is one of them.
    fn bad_publishes(stem: &str) -> Vec<BadRequest>;

    /// Paths (sent raw, as written) that must be refused, with the status.
    fn bad_paths() -> Vec<(&'static str, u16)>;

    /// A range of the type's syntax holding only `version` (a version
    /// rule's `name@range`).
    fn exact_range(version: &str) -> String {
        version.to_string()
    }

    /// `version` as the protocol spells it (the fake's and the listing's).
    fn listed_version(version: &str) -> String {
        version.to_string()
    }

    /// Whether the fake's documents give each version's publish time (as
    /// the protocol has one).
    const PUBLISH_TIMES: bool = true;

    /// Whether the fake's documents declare each version's licence.
    const LICENCES: bool = false;

    /// How OSV records name the ecosystem, where OSV covers it.
    const OSV_ECOSYSTEM: Option<&'static str> = None;

    /// The package name as OSV records write it.
    fn osv_name(name: &str) -> String {
        name.to_string()
    }
}

/// `[limits] max_artifact_size_bytes` of the bad-input suite's server.
pub const BAD_INPUT_LIMIT: u64 = 65_536;

/// `n` letters that hardly compress (xorshift): a payload that stays
/// larger than [`BAD_INPUT_LIMIT`] inside a compressed archive.
pub fn noise(n: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// The escaped form of a name in a URL path segment (`@s/p` → `@s%2Fp`).
pub fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The JSON body of a reply, or `Null`.
pub fn json_of(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}
