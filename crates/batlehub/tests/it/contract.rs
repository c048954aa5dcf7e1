//! The ecosystem contract and its generic driver, on a probe ecosystem
//! written here: the prologue every ecosystem gets from `serve::drive`
//! (an ecosystem's own credential form tried first, access classes checked
//! once before the operation runs, refusals audited under the operation's
//! stable name, errors rendered in the ecosystem's dialect), whatever the
//! ecosystem.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use batlehub::access::Permission;
use batlehub::error::{AppError, AppResult};
use batlehub::serve::{self, Access, Ecosystem, Head, Operation, RequestCtx};
use batlehub::setup::{Snippet, Target};
use batlehub::upstream::documents::DocFetch;

use crate::support::builder::Reg;
use crate::support::{ALICE, BOB, TestServer};

/// How many operations the probe served: a refused one must not run.
static SERVED: AtomicUsize = AtomicUsize::new(0);

struct Probe;

#[derive(Debug)]
enum ProbeOp {
    /// `GET /open`: answered even to credentials that match nothing.
    Open,
    /// `GET /who`: anyone; answers the caller's user id.
    Who,
    /// `GET /read/{name}`: `releases:read`.
    Read(String),
    /// `PUT /write/{name}`: a write.
    Write(String),
}

impl Operation for ProbeOp {
    fn audit_name(&self) -> &'static str {
        match self {
            ProbeOp::Open => "probe-open",
            ProbeOp::Who => "probe-who",
            ProbeOp::Read(_) => "probe-read",
            ProbeOp::Write(_) => "probe-write",
        }
    }

    fn access(&self) -> Access {
        match self {
            ProbeOp::Open => Access::Open,
            ProbeOp::Who => Access::Anyone,
            ProbeOp::Read(_) => Access::Read(Permission::ReleasesRead),
            ProbeOp::Write(_) => Access::Write,
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            ProbeOp::Read(n) | ProbeOp::Write(n) => Some(n.clone()),
            _ => None,
        }
    }
}

impl Ecosystem for Probe {
    type Op = ProbeOp;

    fn parse(head: &Head<'_>) -> AppResult<ProbeOp> {
        let segs: Vec<&str> = head.path.trim_start_matches('/').split('/').collect();
        match (head.method, segs.as_slice()) {
            (&Method::GET, ["open"]) => Ok(ProbeOp::Open),
            (&Method::GET, ["who"]) => Ok(ProbeOp::Who),
            (&Method::GET, ["read", n]) => Ok(ProbeOp::Read(n.to_string())),
            (&Method::PUT, ["write", n]) => Ok(ProbeOp::Write(n.to_string())),
            (_, ["open" | "who" | "read" | "write", ..]) => Err(AppError::MethodNotAllowed),
            _ => Err(AppError::not_found("no such probe endpoint")),
        }
    }

    async fn serve(ctx: &RequestCtx, op: &ProbeOp, _parts: &Parts, _body: Body) -> AppResult<Response> {
        SERVED.fetch_add(1, Ordering::SeqCst);
        let who = ctx.principal.user_id.clone().unwrap_or_else(|| "anonymous".into());
        Ok((StatusCode::OK, format!("{} by {who}", op.audit_name())).into_response())
    }

    fn render_error(err: &AppError) -> Response {
        err.render_with("text/x-probe", |msg| format!("PROBE-ERROR {msg}").into_bytes())
    }

    fn normalize_name(name: &str) -> Option<String> {
        Some(name.to_lowercase())
    }

    fn upstream_listings(_ctx: &RequestCtx, _name: &str) -> AppResult<Vec<DocFetch>> {
        Ok(Vec::new())
    }

    fn snippets(_target: &Target) -> Vec<Snippet> {
        Vec::new()
    }

    fn install_command(_target: &Target, package: &str) -> String {
        format!("probe get {package}")
    }

    /// The probe's clients send their token in `X-Probe-Key`.
    fn credential(head: &Head<'_>) -> Option<String> {
        head.headers.get("x-probe-key").and_then(|v| v.to_str().ok()).map(str::to_string)
    }
}

async fn call(
    s: &TestServer,
    registry: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = Request::builder().method(method).uri(format!("/proxy/{registry}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::empty()).expect("request");
    let reg = Arc::clone(s.app.registries.get(registry).expect("registry"));
    let r = serve::drive::<Probe>(s.app.clone(), reg, path, req, None).await;
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.expect("body");
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_driver_runs_the_same_prologue_for_any_ecosystem() {
    // The probe rides on registries of any configured type: the driver does
    // not care which.
    let s =
        TestServer::with(&[Reg::local("npm", "private"), Reg::proxy("npm", "mirror", "http://127.0.0.1:9")], "").await;
    let before = SERVED.load(Ordering::SeqCst);

    // The ecosystem's own credential form is tried first.
    let (status, _, body) = call(&s, "private", Method::GET, "/who", &[("x-probe-key", ALICE)]).await;
    assert_eq!((status, body.as_str()), (200, "probe-who by alice"));
    // The common forms still work, and no credentials is anonymous.
    let (_, _, body) = call(&s, "private", Method::GET, "/who", &[("authorization", &format!("Bearer {BOB}"))]).await;
    assert_eq!(body, "probe-who by bob");
    assert_eq!(call(&s, "private", Method::GET, "/who", &[]).await.2, "probe-who by anonymous");

    // Credentials that match nothing: a 401 with the challenge, in the
    // ecosystem's dialect; except for an Open operation, served anonymously.
    let (status, ct, body) = call(&s, "private", Method::GET, "/who", &[("x-probe-key", "nope")]).await;
    assert_eq!((status, ct.as_str()), (401, "text/x-probe"));
    assert!(body.starts_with("PROBE-ERROR invalid token"), "{body}");
    let (status, _, body) = call(&s, "private", Method::GET, "/open", &[("x-probe-key", "nope")]).await;
    assert_eq!((status, body.as_str()), (200, "probe-open by anonymous"));

    // Read access is checked before the operation runs: the anonymous
    // caller of a private registry gets 401, a user is served.
    let (status, _, body) = call(&s, "private", Method::GET, "/read/pkg", &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(call(&s, "private", Method::GET, "/read/pkg", &[("x-probe-key", BOB)]).await.0, 200);

    // A write to a proxy is the guide's 403, before the operation runs.
    let (status, _, body) = call(&s, "mirror", Method::PUT, "/write/pkg", &[("x-probe-key", ALICE)]).await;
    assert_eq!(status, 403);
    assert_eq!(body, "PROBE-ERROR registry is not in local or hybrid mode");
    // An anonymous write is a 401; a write to a local registry is served.
    assert_eq!(call(&s, "private", Method::PUT, "/write/pkg", &[]).await.0, 401);
    assert_eq!(call(&s, "private", Method::PUT, "/write/pkg", &[("x-probe-key", ALICE)]).await.0, 200);

    // Parsing errors are the ecosystem's too.
    let (status, _, body) = call(&s, "private", Method::GET, "/nothing", &[]).await;
    assert_eq!((status, body.as_str()), (404, "PROBE-ERROR no such probe endpoint"));
    assert_eq!(call(&s, "private", Method::DELETE, "/read/x", &[]).await.0, 405);

    // Exactly the allowed operations ran: who ×3, open, read, write.
    assert_eq!(SERVED.load(Ordering::SeqCst) - before, 6);

    // Refused writes are audited under the operation's stable name, with its
    // package and the caller.
    s.app.flush().await;
    let events = s.app.catalog.recent_audit_events(50).await.expect("audit");
    let denied: Vec<_> = events.iter().filter(|e| e.outcome == "denied").collect();
    assert!(
        denied.iter().any(|e| e.action == "probe-write"
            && e.registry.as_deref() == Some("mirror")
            && e.package.as_deref() == Some("pkg")
            && e.principal.as_deref().is_some_and(|p| p.contains("alice"))),
        "{denied:?}"
    );
    assert!(denied.iter().any(|e| e.action == "probe-write" && e.registry.as_deref() == Some("private")), "{denied:?}");
    // A refused read is not a write: only forbidden reads are audited.
    assert!(!denied.iter().any(|e| e.action == "probe-read"), "{denied:?}");
}
