//! Response helpers every ecosystem uses: JSON and document bodies with
//! ETag / 304, the cache-state header, and streamed artifacts.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio_util::io::ReaderStream;

use crate::blobs::{CHUNK, Readable};

use crate::app::Rendered;
use crate::upstream::artifacts::Artifact;
use crate::upstream::documents::CacheState;

/// Header telling how a document was served: `hit`, `miss`, `revalidated`, `stale`.
pub const CACHE_HEADER: &str = "x-batlehub-cache";

/// RFC 3339 / ISO 8601 UTC time of epoch milliseconds.
pub fn iso8601(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

pub fn etag_of(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&d[..16]))
}

pub fn rendered(body: Vec<u8>) -> Rendered {
    let etag = etag_of(&body);
    Rendered { body: Bytes::from(body), etag }
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// A document with its validator: 304 when the client already has it.
pub fn document(
    request_headers: &HeaderMap,
    doc: &Rendered,
    content_type: &'static str,
    state: Option<CacheState>,
) -> Response {
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == doc.etag || t.trim() == "*"));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, doc.body.clone()).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&doc.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept, Authorization"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Some(state) = state {
        h.insert(CACHE_HEADER, HeaderValue::from_static(state.as_str()));
        if state == CacheState::Stale {
            h.insert(header::WARNING, HeaderValue::from_static("110 batlehub \"Response is Stale\""));
        }
    }
    response
}

/// Stream an artifact, counting the bytes served.
pub fn artifact(
    registry: &crate::registry::Registry,
    artifact: Artifact,
    content_type_override: Option<&str>,
) -> Response {
    let counter = registry.metrics.bytes.clone();
    let (body, size, content_type) = match artifact {
        Artifact::Stored { file: Readable::Memory(bytes), size, content_type } => {
            counter.increment(bytes.len() as u64);
            (Body::from(bytes), Some(size), content_type)
        }
        Artifact::Stored { file: Readable::Stream(body), size, content_type } => {
            let stream = body.map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.increment(c.len() as u64);
                }
                chunk
            });
            (Body::from_stream(stream), Some(size), content_type)
        }
        Artifact::Stored { file: Readable::File(file), size, content_type } => {
            let stream = ReaderStream::with_capacity(file, CHUNK).map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.increment(c.len() as u64);
                }
                chunk
            });
            (Body::from_stream(stream), Some(size), content_type)
        }
        Artifact::Streaming { body, size, content_type } => {
            let stream = body.map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.increment(c.len() as u64);
                }
                chunk
            });
            (Body::from_stream(stream), size, content_type)
        }
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    let ct = content_type_override.map(str::to_string).unwrap_or(content_type);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ct).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(size) = size {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    response
}

/// Read a small request body (JSON commands, audit reports) with a limit.
pub async fn read_small_body(body: Body, limit: usize) -> Result<Bytes, crate::error::AppError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if e.to_string().contains("length limit") {
            crate::error::AppError::PayloadTooLarge(limit as u64)
        } else {
            crate::error::AppError::bad_request(format!("could not read the request body: {e}"))
        }
    })
}
