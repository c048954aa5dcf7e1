//! Committed blobs in an S3-compatible object store (`[storage] type =
//! "s3"`), through `object_store`: the same content addresses as the
//! filesystem (`{prefix}blobs/sha256/ab/cd/<sha256>`), uploaded from the
//! local temporary file with a streaming multipart upload, read back as a
//! stream. Temporary files and cached upstream documents stay on the
//! replica's local disk: they are per-replica by design.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::{BlobError, BlobResult, CHUNK, Readable};
use crate::config::StorageConfig;

/// Multipart upload part size (S3 wants at least 5 MiB but for the last).
const PART: usize = 8 * 1024 * 1024;

pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

fn s3_error(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Io(std::io::Error::other(other.to_string())),
    }
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl S3Blobs {
    pub fn describe(&self) -> String {
        format!("{} ({}blobs/)", self.store, self.prefix)
    }

    pub fn new(c: &StorageConfig) -> anyhow::Result<S3Blobs> {
        let bucket = c.bucket.as_deref().ok_or_else(|| anyhow::anyhow!("[storage] type = \"s3\" needs `bucket`"))?;
        // object_store's HTTP client uses the process's rustls provider.
        crate::tls::install_crypto_provider();
        // The standard AWS environment (AWS_ACCESS_KEY_ID, AWS_REGION, web
        // identity, instance metadata...), then what the file says.
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(region) = &c.region {
            b = b.with_region(region);
        }
        if let Some(endpoint) = &c.endpoint_url {
            b = b.with_endpoint(endpoint.trim_end_matches('/'));
        }
        b = b.with_virtual_hosted_style_request(!c.force_path_style);
        // An unreachable store must fail requests (and /healthz) within
        // seconds, not after minutes of retries.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(30),
            ..Default::default()
        };
        let client = object_store::ClientOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_timeout(std::time::Duration::from_secs(300))
            .with_allow_http(c.endpoint_url.as_deref().is_some_and(|e| e.starts_with("http://")));
        b = b.with_retry(retry).with_client_options(client);
        if let (Some(id), Some(secret)) = (&c.access_key_id, &c.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = b.build()?;
        let prefix = c.prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(S3Blobs { store: Arc::new(store), prefix })
    }

    fn key(&self, sha256: &str) -> ObjectPath {
        ObjectPath::from(format!("{}blobs/sha256/{}/{}/{sha256}", self.prefix, &sha256[..2], &sha256[2..4]))
    }

    pub async fn exists(&self, sha256: &str) -> BlobResult<bool> {
        match self.store.head(&self.key(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3_error(e)),
        }
    }

    /// Upload the local file `src` under `sha256`'s address, unless it is
    /// there already; returns whether it was uploaded. Content addressing
    /// makes a concurrent upload of the same address write the same bytes.
    pub async fn upload(&self, sha256: &str, src: &std::path::Path) -> BlobResult<bool> {
        if self.exists(sha256).await? {
            return Ok(false);
        }
        let key = self.key(sha256);
        let upload = self.store.put_multipart(&key).await.map_err(s3_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut file = tokio::fs::File::open(src).await?;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e.into());
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(4).await {
                let _ = writer.abort().await;
                return Err(s3_error(e));
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(s3_error)?;
        Ok(true)
    }

    /// A blob to serve: small ones read whole, the rest as a stream.
    pub async fn open(&self, sha256: &str) -> BlobResult<Option<(Readable, u64)>> {
        let got = match self.store.get(&self.key(sha256)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(s3_error(e)),
        };
        let size = got.meta.size;
        if size <= CHUNK as u64 {
            let bytes = got.bytes().await.map_err(s3_error)?;
            return Ok(Some((Readable::Memory(bytes), size)));
        }
        let stream = got.into_stream().map_err(|e| std::io::Error::other(e.to_string())).boxed();
        Ok(Some((Readable::Stream(stream), size)))
    }

    pub async fn delete(&self, sha256: &str) -> BlobResult<()> {
        match self.store.delete(&self.key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    /// Every stored blob's SHA-256.
    pub async fn list(&self) -> BlobResult<Vec<String>> {
        let prefix = ObjectPath::from(format!("{}blobs/sha256", self.prefix));
        let mut out = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(s3_error)?;
            if let Some(name) = meta.location.filename()
                && super::is_sha256_hex(name)
            {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    /// The bucket answers and takes writes.
    pub async fn health(&self) -> BlobResult<()> {
        let probe = ObjectPath::from(format!("{}health/{}", self.prefix, crate::catalog::new_id()));
        self.store.put(&probe, Bytes::from_static(b"ok").into()).await.map_err(s3_error)?;
        self.store.delete(&probe).await.map_err(s3_error)?;
        Ok(())
    }
}
