//! Streaming `multipart/form-data` uploads: small text fields are kept in
//! memory (bounded), the one file part is streamed to a temporary blob as it
//! arrives. PyPI's legacy upload API (`content` part) and the web UI's
//! Upload card (`file` part) both read their bodies here.

use std::collections::HashMap;

use axum::body::Body;

use crate::blobs::{BlobError, BlobStore, PendingBlob};
use crate::error::AppError;

/// Fields other than `content` are small; refuse anything bigger.
const MAX_FIELD: usize = 4 * 1024 * 1024;
const MAX_FIELDS_TOTAL: usize = 16 * 1024 * 1024;

pub struct Upload {
    /// Every form field but the file, repeated fields in order.
    pub fields: HashMap<String, Vec<String>>,
    pub filename: String,
    pub pending: PendingBlob,
}

impl Upload {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(|v| v.first()).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

fn multipart_error(e: multer::Error) -> AppError {
    match e {
        multer::Error::StreamSizeExceeded { limit } | multer::Error::FieldSizeExceeded { limit, .. } => {
            AppError::PayloadTooLarge(limit)
        }
        multer::Error::StreamReadFailed(inner) if inner.to_string().contains("too large") => {
            AppError::PayloadTooLarge(0)
        }
        other => AppError::bad_request(format!("malformed multipart body: {other}")),
    }
}

/// Read an upload body whose part `file_part` (at most `limit` bytes) is the file.
pub async fn read_upload(
    body: Body,
    content_type: Option<&str>,
    blobs: &BlobStore,
    limit: u64,
    file_part: &str,
) -> Result<Upload, AppError> {
    let content_type = content_type.ok_or_else(|| AppError::bad_request("expected a multipart/form-data upload"))?;
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| AppError::bad_request("expected a multipart/form-data upload"))?;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limit.saturating_add(MAX_FIELDS_TOTAL as u64 + 64 * 1024))
            .per_field(limit),
    );
    let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut fields: HashMap<String, Vec<String>> = HashMap::new();
    let mut total = 0usize;
    let mut content: Option<(String, PendingBlob)> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if name == file_part {
            if content.is_some() {
                return Err(AppError::bad_request(format!("more than one `{file_part}` part")));
            }
            let filename = field.file_name().unwrap_or("").to_string();
            let mut temp = blobs.temp(limit).await?;
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                temp.write(&chunk).await.map_err(|e| match e {
                    BlobError::TooLarge(n) => AppError::PayloadTooLarge(n),
                    other => AppError::from(other),
                })?;
            }
            content = Some((filename, temp.finish().await?));
            continue;
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            value.extend_from_slice(&chunk);
            total += chunk.len();
            if value.len() > MAX_FIELD || total > MAX_FIELDS_TOTAL {
                return Err(AppError::PayloadTooLarge(MAX_FIELD as u64));
            }
        }
        let value =
            String::from_utf8(value).map_err(|_| AppError::bad_request(format!("field `{name}` is not UTF-8")))?;
        fields.entry(name).or_default().push(value);
    }
    let (filename, pending) =
        content.ok_or_else(|| AppError::bad_request(format!("the upload has no `{file_part}` part")))?;
    Ok(Upload { fields, filename, pending })
}
