//! The error contract.
//!
//! - Code that runs outside a request (start-up, CLI, background jobs) returns
//!   `anyhow::Result` with `.context(..)`; messages have no trailing period.
//! - Library-like modules with one narrow failure mode own a small `thiserror`
//!   enum (`catalog::DbError`, `blobs::BlobError`, `upstream::UpstreamError`)
//!   that keeps its source.
//! - Everything a client must see is an [`AppError`]. Its status code is fixed
//!   here; each ecosystem renders the body in the dialect its client prints
//!   (npm reads `{"error": ".."}`, cargo `{"errors":[{"detail":".."}]}`, ...).
//!   Internal errors are logged once, where they are rendered, and answered
//!   with a generic message so nothing internal leaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub type AppResult<T> = Result<T, AppError>;

/// Why a request failed, in full (internal errors with their chain): what
/// the access log writes beside an error status.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

/// The realm every 401 challenge names, so clients that only send
/// credentials after a challenge (pip, Maven, NuGet, Composer) do so.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"batlehub\"";

/// What a 503 asks clients to wait before they try again (`Retry-After`).
pub const UNAVAILABLE_RETRY_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    /// No credentials were sent for something anonymous may not do.
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials were sent but are not valid (unknown, expired, revoked).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A token was recognised but refused, for the reason given.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("payload exceeds the limit of {0} bytes")]
    PayloadTooLarge(u64),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many attempts (failed authentications from one address, say).
    #[error("{0}")]
    TooManyRequests(String),
    /// A request over a registry's rate limit; `retry_after` in seconds
    /// (sent as `Retry-After`).
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn not_found(msg: impl Into<String>) -> Self {
        AppError::NotFound(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        AppError::Forbidden(msg.into())
    }
    pub fn bad_request(msg: impl Into<String>) -> Self {
        AppError::BadRequest(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        AppError::Conflict(msg.into())
    }
    pub fn upstream(msg: impl Into<String>) -> Self {
        AppError::Upstream(msg.into())
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        AppError::Internal(anyhow::anyhow!(msg.into()))
    }

    /// The message written when a registry only proxies (the user guide's wording).
    pub fn not_local_mode() -> Self {
        AppError::Forbidden("registry is not in local or hybrid mode".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Unauthenticated | AppError::InvalidCredentials | AppError::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests(_) | AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds the client should wait before it retries, if it should.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after, .. } => Some(*retry_after),
            AppError::TooManyRequests(_) => Some(60),
            // Storage, the catalog or an identity provider out for now, a
            // disk almost full: worth trying again soon.
            AppError::Unavailable(_) => Some(UNAVAILABLE_RETRY_SECS),
            _ => None,
        }
    }

    /// The message shown to the client. Internal errors are logged here, once,
    /// and replaced by a generic text.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "internal server error".to_string()
            }
            AppError::Unauthenticated => {
                "authentication required: send a token (Authorization: Bearer <token>)".to_string()
            }
            AppError::InvalidCredentials => "invalid token: unknown, expired or revoked".to_string(),
            other => other.to_string(),
        }
    }

    /// Render with a JSON body built by `body(message)`; adds the challenge
    /// header to every 401. The whole cause rides along in the response's
    /// extensions ([`ErrorCause`]) for the access log, never in the body.
    pub fn render_with(&self, content_type: &'static str, body: impl FnOnce(&str) -> Vec<u8>) -> Response {
        let status = self.status();
        let message = self.public_message();
        let mut response = (status, body(&message)).into_response();
        let cause = match self {
            AppError::Internal(err) => format!("{err:#}"),
            other => other.to_string(),
        };
        response.extensions_mut().insert(ErrorCause(cause));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(WWW_AUTHENTICATE));
        }
        if let Some(secs) = self.retry_after()
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// The default rendering, used by the JSON API and the operational endpoints:
/// `{"error": "<reason phrase>", "message": "<what went wrong>"}`.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let reason = self.status().canonical_reason().unwrap_or("Error");
        self.render_with("application/json", |msg| {
            serde_json::to_vec(&serde_json::json!({ "error": reason, "message": msg })).unwrap_or_default()
        })
    }
}

impl From<crate::catalog::DbError> for AppError {
    fn from(err: crate::catalog::DbError) -> Self {
        match err {
            crate::catalog::DbError::NotFound => AppError::NotFound("not found".into()),
            crate::catalog::DbError::Conflict(msg) => AppError::Conflict(msg),
            crate::catalog::DbError::Denied(msg) => AppError::Forbidden(msg),
            crate::catalog::DbError::Other(e) => AppError::Unavailable(format!("catalog unavailable: {e}")),
        }
    }
}

impl From<crate::blobs::BlobError> for AppError {
    fn from(err: crate::blobs::BlobError) -> Self {
        match err {
            crate::blobs::BlobError::NotFound => AppError::NotFound("not found".into()),
            crate::blobs::BlobError::TooLarge(limit) => AppError::PayloadTooLarge(limit),
            crate::blobs::BlobError::Io(e) => AppError::Unavailable(format!("storage unavailable: {e}")),
            crate::blobs::BlobError::Catalog(e) => AppError::Unavailable(format!("catalog unavailable: {e}")),
            crate::blobs::BlobError::Body(e) => AppError::BadRequest(format!("could not read the request body: {e}")),
        }
    }
}
