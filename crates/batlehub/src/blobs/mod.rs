//! The blob store: artifacts, content-addressed by SHA-256 and written once;
//! and cached upstream documents, keyed and replaceable.
//!
//! Architecture invariants:
//! - Bytes arrive as a stream and are written to a temporary file while every
//!   digest is computed; the file is fsynced and renamed into place. A blob is
//!   therefore either whole under its final name or absent.
//! - No artifact is ever held whole in memory, but for those no bigger than
//!   one read chunk ([`CHUNK`]): they are read in one go to be served, and
//!   the most recently served stay in a hot cache bounded by
//!   [`HOT_CACHE_BYTES`] (blobs are immutable, so it is never stale).
//! - Paths are built only here, from a validated hex digest or a hashed key:
//!   no name from a request ever becomes a path.
//! - Nothing on a request path deletes a committed blob. Every commit is
//!   leased in the catalog first (when the store has one, [`BlobStore::with_leases`]);
//!   the garbage collector ([`collect_garbage`]) deletes only blobs that no
//!   row references and whose lease is older than the grace period, deciding
//!   inside a catalog transaction.

mod documents;
mod gc;
mod s3;

pub use documents::DocEntry;

pub use gc::{FsckReport, GcReport, collect_garbage, fsck};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::AsyncWriteExt;

use crate::catalog::BlobDigests;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("storage i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Body(String),
    #[error("catalog: {0}")]
    Catalog(String),
}

pub type BlobResult<T> = Result<T, BlobError>;

/// Every digest a registry protocol may advertise, computed in one pass.
pub struct Hasher {
    sha256: Sha256,
    sha1: Sha1,
    sha512: Sha512,
    md5: Md5,
    size: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher { sha256: Sha256::new(), sha1: Sha1::new(), sha512: Sha512::new(), md5: Md5::new(), size: 0 }
    }
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.sha1.update(data);
        self.sha512.update(data);
        self.md5.update(data);
        self.size += data.len() as u64;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> BlobDigests {
        BlobDigests {
            sha256: hex::encode(self.sha256.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
            md5: hex::encode(self.md5.finalize()),
            size: self.size,
        }
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    /// Temporary files, cached documents and (without a remote store) the
    /// committed blobs.
    root: PathBuf,
    /// Where committed blobs live when `[storage] type = "s3"`.
    remote: Option<Arc<s3::S3Blobs>>,
    /// Small blobs (at most one [`CHUNK`]) recently served, by SHA-256.
    /// Blobs never change, so an entry is never stale; bounded by bytes.
    hot: moka::sync::Cache<String, Bytes>,
    /// The catalog every commit is leased in (see [`BlobStore::with_leases`]).
    leases: Option<crate::catalog::Catalog>,
    /// Free bytes under `root` below which the cache stops filling
    /// (`[storage] min_free_bytes`): the reserve left for publishes.
    min_free: u64,
}

/// Free space on the filesystem holding a store's local files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    /// The reserve (`[storage] min_free_bytes`).
    pub min_free: u64,
}

impl DiskSpace {
    /// Below the reserve: no new cache fills.
    pub fn low(&self) -> bool {
        self.free < self.min_free
    }
}

/// How many bytes of small blobs the hot cache keeps.
pub const HOT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How many bytes a stored artifact is read (and sent) at a time.
pub const CHUNK: usize = 256 * 1024;

/// A blob ready to serve: small ones already read (they fit in one chunk),
/// the rest a file to stream chunk by chunk.
pub enum Readable {
    Memory(Bytes),
    File(tokio::fs::File),
    /// A body arriving from the object store.
    Stream(futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>),
}

/// A blob being written: bytes go to a temporary file as they arrive.
/// Dropping it without [`TempBlob::finish`] removes the file.
pub struct TempBlob {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Hasher,
    limit: u64,
    head: Vec<u8>,
}

/// A fully written, fsynced temporary file with its digests, waiting to be
/// committed under its content address. Dropping it removes the file.
pub struct PendingBlob {
    path: Option<PathBuf>,
    pub digests: BlobDigests,
    /// The first bytes, for format sniffing (gzip magic, zip magic...).
    pub head: Vec<u8>,
}

const HEAD_LEN: usize = 16;

/// The blocking twin of [`TempBlob`], for parsers that run on the blocking
/// pool and write through `std::io::Write`.
pub struct SyncTempBlob {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    hasher: Hasher,
    limit: u64,
    head: Vec<u8>,
}

impl Drop for SyncTempBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl std::io::Write for SyncTempBlob {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.hasher.size() + buf.len() as u64 > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("exceeds the limit of {} bytes", self.limit),
            ));
        }
        let Some(f) = self.file.as_mut() else {
            return Err(std::io::Error::other("write after finish"));
        };
        f.write_all(buf)?;
        self.hasher.update(buf);
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(buf.len());
            self.head.extend_from_slice(&buf[..take]);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl SyncTempBlob {
    pub fn finish(mut self) -> std::io::Result<PendingBlob> {
        if let Some(f) = self.file.take() {
            let f = f.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
        }
        let hasher = std::mem::take(&mut self.hasher);
        let head = std::mem::take(&mut self.head);
        let path = std::mem::take(&mut self.path);
        Ok(PendingBlob { path: Some(path), digests: hasher.finish(), head })
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl PendingBlob {
    /// The temporary file, for validating the bytes before they are committed.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl TempBlob {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn written(&self) -> u64 {
        self.hasher.size()
    }

    pub async fn write(&mut self, chunk: &[u8]) -> BlobResult<()> {
        if self.hasher.size() + chunk.len() as u64 > self.limit {
            return Err(BlobError::TooLarge(self.limit));
        }
        self.hasher.update(chunk);
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        match self.file.as_mut() {
            Some(f) => f.write_all(chunk).await?,
            None => return Err(BlobError::Body("write after finish".into())),
        }
        Ok(())
    }

    /// Flush the written bytes so readers of the temporary file see them.
    pub async fn flush(&mut self) -> BlobResult<()> {
        if let Some(f) = self.file.as_mut() {
            f.flush().await?;
        }
        Ok(())
    }

    pub async fn finish(mut self) -> BlobResult<PendingBlob> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
            f.sync_all().await?;
        }
        let hasher = std::mem::take(&mut self.hasher);
        let head = std::mem::take(&mut self.head);
        let path = std::mem::take(&mut self.path);
        Ok(PendingBlob { path: Some(path), digests: hasher.finish(), head })
    }
}

/// The outcome of committing a blob.
#[derive(Debug, Clone)]
pub struct Committed {
    pub digests: BlobDigests,
    /// False when identical bytes were already stored.
    pub newly_stored: bool,
}

/// A cached document: its body and the validators it was served with.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DocHeader {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_type: Option<String>,
    /// Epoch milliseconds of the last successful fetch or revalidation.
    pub fetched_at: i64,
    /// Which upstream answered.
    pub source: String,
    /// The response header the fetch asked to keep (`DocFetch::keep_header`).
    #[serde(default)]
    pub kept: Option<String>,
}

impl BlobStore {
    /// Open the filesystem store under `root` as its owner: temporary files
    /// of a previous run are cleared.
    pub async fn open_filesystem(root: &Path) -> anyhow::Result<BlobStore> {
        BlobStore::open_filesystem_with(root, true).await
    }

    async fn open_filesystem_with(root: &Path, clear_tmp: bool) -> anyhow::Result<BlobStore> {
        for dir in ["blobs/sha256", "tmp", documents::DOCUMENTS] {
            tokio::fs::create_dir_all(root.join(dir)).await?;
        }
        // Temporary files of a previous run are never committed: clear them.
        if clear_tmp && let Ok(mut rd) = tokio::fs::read_dir(root.join("tmp")).await {
            while let Ok(Some(entry)) = rd.next_entry().await {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        let hot = moka::sync::Cache::builder()
            .max_capacity(HOT_CACHE_BYTES)
            .weigher(|_k: &String, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
            .build();
        Ok(BlobStore { root: root.to_path_buf(), remote: None, hot, leases: None, min_free: 0 })
    }

    /// The same store, leasing every commit in `catalog` before the bytes
    /// are stored, so the garbage collector never deletes a blob that a
    /// publish or a fetch is about to reference. The server's store always
    /// has one.
    pub fn with_leases(mut self, catalog: crate::catalog::Catalog) -> BlobStore {
        self.leases = Some(catalog);
        self
    }

    /// The same store with a hot cache of `bytes` (what `[limits]
    /// blob_cache_bytes` says).
    pub fn with_hot_cache_bytes(mut self, bytes: u64) -> BlobStore {
        self.hot = moka::sync::Cache::builder()
            .max_capacity(bytes)
            .weigher(|_k: &String, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
            .build();
        self
    }

    /// The store `[storage]` describes: the filesystem under `path`, or an
    /// S3-compatible bucket with `path` holding only local scratch files.
    pub async fn open(c: &crate::config::StorageConfig) -> anyhow::Result<BlobStore> {
        BlobStore::open_with(c, true).await
    }

    /// The store `[storage]` describes, for a tool that runs beside the
    /// server (`batlehub gc`, `batlehub fsck`): the server's writes in
    /// progress (`tmp/`) are left alone.
    pub async fn attach(c: &crate::config::StorageConfig) -> anyhow::Result<BlobStore> {
        BlobStore::open_with(c, false).await
    }

    async fn open_with(c: &crate::config::StorageConfig, clear_tmp: bool) -> anyhow::Result<BlobStore> {
        let mut store = BlobStore::open_filesystem_with(&c.path, clear_tmp).await?;
        store.min_free = c.min_free_bytes;
        if c.kind == crate::config::StorageKind::S3 {
            store.remote = Some(Arc::new(s3::S3Blobs::new(c)?));
        }
        Ok(store)
    }

    /// Where committed blobs live, for messages.
    pub fn describe(&self) -> String {
        match &self.remote {
            Some(r) => r.describe(),
            None => self.root.join("blobs").display().to_string(),
        }
    }

    fn blob_path(&self, sha256: &str) -> BlobResult<PathBuf> {
        if !is_sha256_hex(sha256) {
            return Err(BlobError::NotFound);
        }
        Ok(self.root.join("blobs/sha256").join(&sha256[..2]).join(&sha256[2..4]).join(sha256))
    }

    /// Start writing a blob of at most `limit` bytes.
    pub async fn temp(&self, limit: u64) -> BlobResult<TempBlob> {
        let path = self.root.join("tmp").join(crate::catalog::new_id());
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        Ok(TempBlob { path, file: Some(file), hasher: Hasher::default(), limit, head: Vec::new() })
    }

    /// Start writing a blob from blocking code.
    pub fn temp_sync(&self, limit: u64) -> std::io::Result<SyncTempBlob> {
        let path = self.root.join("tmp").join(crate::catalog::new_id());
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok(SyncTempBlob {
            path,
            file: Some(std::io::BufWriter::with_capacity(256 * 1024, file)),
            hasher: Hasher::default(),
            limit,
            head: Vec::new(),
        })
    }

    /// Stream `body` into a pending blob.
    pub async fn put_stream<S, E>(&self, mut body: S, limit: u64) -> BlobResult<PendingBlob>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut temp = self.temp(limit).await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            temp.write(&chunk).await?;
        }
        temp.finish().await
    }

    /// Move a pending blob under its content address (write-once: identical
    /// bytes already stored are kept and the new copy discarded). With a
    /// catalog, the blob is leased first, even when it is already stored: the
    /// garbage collector then leaves it alone for the grace period, so the
    /// rows the caller writes next never point at a collected blob.
    pub async fn commit(&self, mut pending: PendingBlob) -> BlobResult<Committed> {
        let digests = pending.digests.clone();
        let dest = self.blob_path(&digests.sha256)?;
        if let Some(catalog) = &self.leases {
            catalog.lease_blob(&digests.sha256).await.map_err(|e| BlobError::Catalog(e.to_string()))?;
        }
        let Some(src) = pending.path.take() else {
            return Err(BlobError::Body("blob already committed".into()));
        };
        if let Some(remote) = &self.remote {
            let uploaded = remote.upload(&digests.sha256, &src).await;
            let _ = tokio::fs::remove_file(&src).await;
            return Ok(Committed { digests, newly_stored: uploaded? });
        }
        if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
            let _ = tokio::fs::remove_file(&src).await;
            return Ok(Committed { digests, newly_stored: false });
        }
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        if let Err(e) = tokio::fs::rename(&src, &dest).await {
            let _ = tokio::fs::remove_file(&src).await;
            return Err(e.into());
        }
        if let Some(parent) = dest.parent()
            && let Ok(dir) = tokio::fs::File::open(parent).await
        {
            let _ = dir.sync_all().await;
        }
        Ok(Committed { digests, newly_stored: true })
    }

    /// Open a blob to serve it: one trip to the blocking pool opens it and,
    /// when it is no bigger than one read chunk ([`CHUNK`]), reads it whole;
    /// bigger blobs come back as a file to stream.
    pub async fn open_readable(&self, sha256: &str) -> BlobResult<Option<(Readable, u64)>> {
        if let Some(bytes) = self.hot.get(sha256) {
            let len = bytes.len() as u64;
            return Ok(Some((Readable::Memory(bytes), len)));
        }
        let path = self.blob_path(sha256)?;
        if let Some(remote) = &self.remote {
            let opened = remote.open(sha256).await?;
            if let Some((Readable::Memory(bytes), _)) = &opened {
                self.hot.insert(sha256.to_string(), bytes.clone());
            }
            return Ok(opened);
        }
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Option<(Readable, u64)>> {
            use std::io::Read;
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let len = f.metadata()?.len();
            if len <= CHUNK as u64 {
                let mut buf = Vec::with_capacity(len as usize);
                f.read_to_end(&mut buf)?;
                let len = buf.len() as u64;
                return Ok(Some((Readable::Memory(Bytes::from(buf)), len)));
            }
            Ok(Some((Readable::File(tokio::fs::File::from_std(f)), len)))
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
        if let Some((Readable::Memory(bytes), _)) = &opened {
            self.hot.insert(sha256.to_string(), bytes.clone());
        }
        Ok(opened)
    }

    pub async fn exists(&self, sha256: &str) -> BlobResult<bool> {
        let path = self.blob_path(sha256)?;
        match &self.remote {
            Some(remote) => remote.exists(sha256).await,
            None => Ok(tokio::fs::try_exists(path).await?),
        }
    }

    /// Every committed blob's SHA-256 (for moving a store).
    pub async fn list(&self) -> BlobResult<Vec<String>> {
        if let Some(remote) = &self.remote {
            return remote.list().await;
        }
        let root = self.root.join("blobs/sha256");
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut dirs = vec![root];
            while let Some(d) = dirs.pop() {
                let rd = match std::fs::read_dir(&d) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(BlobError::Io(e)),
                };
                for entry in rd.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
                        && is_sha256_hex(name)
                    {
                        out.push(name.to_string());
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }

    /// Delete a committed blob. Only the garbage collector calls this in the
    /// server (inside its catalog transaction), and tests.
    pub async fn delete(&self, sha256: &str) -> BlobResult<()> {
        let path = self.blob_path(sha256)?;
        self.hot.invalidate(sha256);
        if let Some(remote) = &self.remote {
            return remote.delete(sha256).await;
        }
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Free space where this store writes locally (temporary files of every
    /// write, cached documents, and the blobs themselves unless they live in
    /// S3), against the configured reserve.
    pub async fn disk_space(&self) -> BlobResult<DiskSpace> {
        let root = self.root.clone();
        let free = tokio::task::spawn_blocking(move || {
            rustix::fs::statvfs(&root).map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
        .map_err(|e| BlobError::Io(e.into()))?;
        Ok(DiskSpace { free, min_free: self.min_free })
    }

    /// The disk is below its reserve (an error reading it counts as not
    /// low: the write itself then reports what is wrong).
    pub async fn low_on_space(&self) -> bool {
        self.disk_space().await.is_ok_and(|d| d.low())
    }

    /// Storage is reachable and writable.
    pub async fn health(&self) -> BlobResult<()> {
        let probe = self.root.join("tmp").join(format!("health-{}", crate::catalog::new_id()));
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await?;
        if let Some(remote) = &self.remote {
            remote.health().await?;
        }
        Ok(())
    }
}

/// What [`copy_all`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyReport {
    pub copied: u64,
    pub skipped: u64,
    pub bytes: u64,
}

/// Copy every blob of `from` that `to` lacks, streaming each through a
/// temporary file of `to` whose SHA-256 must be the blob's name (a corrupt
/// source blob stops the copy). Each blob is committed whole or not at all,
/// so an interrupted copy resumes where it stopped.
pub async fn copy_all(
    from: &BlobStore,
    to: &BlobStore,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<CopyReport> {
    let all = from.list().await?;
    let total = all.len() as u64;
    let mut report = CopyReport::default();
    for (i, sha256) in all.iter().enumerate() {
        if to.exists(sha256).await? {
            report.skipped += 1;
        } else {
            let (readable, _) = from
                .open_readable(sha256)
                .await?
                .ok_or_else(|| anyhow::anyhow!("blob {sha256} vanished while copying"))?;
            let stream: futures_util::stream::BoxStream<'static, std::io::Result<Bytes>> = match readable {
                Readable::Memory(b) => futures_util::stream::iter([Ok(b)]).boxed(),
                Readable::File(f) => tokio_util::io::ReaderStream::with_capacity(f, CHUNK).boxed(),
                Readable::Stream(s) => s,
            };
            let pending = to.put_stream(stream, u64::MAX).await?;
            if pending.digests.sha256 != *sha256 {
                anyhow::bail!(
                    "blob {sha256} reads back with SHA-256 {}: the source is corrupt",
                    pending.digests.sha256
                );
            }
            report.bytes += pending.digests.size;
            to.commit(pending).await?;
            report.copied += 1;
        }
        progress(i as u64 + 1, total);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_once_content_addressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open_filesystem(dir.path()).await.expect("store");
        let chunks = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ]);
        let pending = store.put_stream(chunks, 1024).await.expect("put");
        assert_eq!(pending.digests.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(pending.digests.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        assert_eq!(pending.digests.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(pending.digests.size, 11);
        let c = store.commit(pending).await.expect("commit");
        assert!(c.newly_stored);
        let again = store
            .put_stream(
                futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"hello world"))]),
                1024,
            )
            .await
            .expect("put");
        assert!(!store.commit(again).await.expect("commit").newly_stored);
        let (_, len) = store.open_readable(&c.digests.sha256).await.expect("open").expect("present");
        assert_eq!(len, 11);
        // Nothing is left in tmp.
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).expect("tmp").count(), 0);
    }

    #[tokio::test]
    async fn small_blobs_are_served_from_memory_big_ones_streamed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open_filesystem(dir.path()).await.expect("store");
        let put = |n: usize, byte: u8| {
            let store = store.clone();
            async move {
                let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(vec![byte; n]))]);
                store
                    .commit(store.put_stream(chunks, 1 << 30).await.expect("put"))
                    .await
                    .expect("commit")
                    .digests
                    .sha256
            }
        };
        let small = put(CHUNK, 1).await;
        let big = put(CHUNK + 1, 2).await;
        match store.open_readable(&small).await.expect("open") {
            Some((Readable::Memory(b), len)) => assert_eq!((b.len(), len), (CHUNK, CHUNK as u64)),
            _ => panic!("a blob of one chunk is read whole"),
        }
        match store.open_readable(&big).await.expect("open") {
            Some((Readable::File(_), len)) => assert_eq!(len, CHUNK as u64 + 1),
            _ => panic!("a bigger blob is streamed"),
        }
        // Served again from the hot cache: no file access at all.
        std::fs::remove_file(store.blob_path(&small).expect("path")).expect("rm");
        assert!(matches!(store.open_readable(&small).await.expect("open"), Some((Readable::Memory(_), _))));
        // Deleting through the store forgets it.
        store.delete(&small).await.expect("delete");
        assert!(store.open_readable(&small).await.expect("open").is_none());
        assert!(store.open_readable(&"0".repeat(64)).await.expect("open").is_none());
    }

    #[tokio::test]
    async fn limit_and_drop_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open_filesystem(dir.path()).await.expect("store");
        let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 100]))]);
        assert!(matches!(store.put_stream(chunks, 99).await, Err(BlobError::TooLarge(99))));
        let pending = store
            .put_stream(futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]), 10)
            .await
            .expect("put");
        drop(pending);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).expect("tmp").count(), 0);
        assert!(store.open_readable("../../etc/passwd").await.is_err());
    }
}
