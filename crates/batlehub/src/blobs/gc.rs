//! Garbage collection and the consistency check of committed blobs.
//!
//! Blobs are never deleted on a request path: a failed publish, an
//! unpublish or a replaced cache row leaves its blob behind, because a
//! concurrent publish or fetch of the same bytes may have just referenced
//! it. [`collect_garbage`] deletes a blob only when no row references it and
//! its lease (renewed by every commit of those bytes) is older than the grace
//! period, deciding inside a catalog transaction
//! (`Catalog::collect_blob`). [`fsck`] reads every referenced blob back
//! and checks its SHA-256 and size.

use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{BlobStore, CHUNK, Readable};
use crate::catalog::{Catalog, CollectError, Collected, now_ms};

/// What one garbage collection did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    /// Stored blobs looked at.
    pub examined: u64,
    /// Unreferenced blobs older than the grace period, deleted.
    pub deleted: u64,
    /// Kept: a row references them.
    pub referenced: u64,
    /// Kept: leased within the grace period.
    pub young: u64,
    /// Kept: seen without a lease, their grace period starts now.
    pub leased: u64,
}

/// Delete every stored blob that no row references and whose lease is older
/// than `grace`. Safe while servers run: a blob a writer leases meanwhile is
/// kept, or, if the deletion won the race, stored again by that writer.
pub async fn collect_garbage(store: &BlobStore, catalog: &Catalog, grace: Duration) -> anyhow::Result<GcReport> {
    let cutoff = now_ms().saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
    let mut report = GcReport::default();
    for sha256 in store.list().await? {
        report.examined += 1;
        let decided = catalog.collect_blob(&sha256, cutoff, || store.delete(&sha256)).await;
        match decided {
            Ok(Collected::Deleted) => {
                tracing::info!(%sha256, "garbage collected an unreferenced blob");
                report.deleted += 1;
            }
            Ok(Collected::Referenced) => report.referenced += 1,
            Ok(Collected::Young) => report.young += 1,
            Ok(Collected::Leased) => report.leased += 1,
            Err(CollectError::Db(e)) => return Err(anyhow::anyhow!("catalog: {e}")),
            Err(CollectError::Delete(e)) => return Err(anyhow::anyhow!("deleting blob {sha256}: {e}")),
        }
    }
    Ok(report)
}

/// What the consistency check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FsckReport {
    /// Referenced blobs read back.
    pub checked: u64,
    /// Referenced by a row, absent from the store.
    pub missing: Vec<String>,
    /// Stored with other bytes than their address (or another size than the
    /// row records): `(sha256, what was found)`.
    pub corrupt: Vec<(String, String)>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// Check that every blob a row references exists and that its bytes hash
/// to its address and have the size the row records. Blobs are streamed,
/// never held whole in memory.
pub async fn fsck(store: &BlobStore, catalog: &Catalog) -> anyhow::Result<FsckReport> {
    let mut report = FsckReport::default();
    for (sha256, size) in catalog.referenced_blobs().await? {
        report.checked += 1;
        let Some((readable, _)) = store.open_readable(&sha256).await? else {
            report.missing.push(sha256);
            continue;
        };
        let (got, len) = match hash(readable).await {
            Ok(h) => h,
            Err(e) => {
                report.corrupt.push((sha256, format!("unreadable: {e}")));
                continue;
            }
        };
        if got != sha256 {
            report.corrupt.push((sha256, format!("its bytes hash to {got}")));
        } else if i64::try_from(len).ok() != Some(size) {
            report.corrupt.push((sha256, format!("{len} bytes, the catalog says {size}")));
        }
    }
    Ok(report)
}

/// The SHA-256 (hex) and length of a blob, read chunk by chunk.
async fn hash(readable: Readable) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    match readable {
        Readable::Memory(b) => {
            hasher.update(&b);
            len = b.len() as u64;
        }
        Readable::File(mut f) => {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                len += n as u64;
            }
        }
        Readable::Stream(mut s) => {
            while let Some(chunk) = s.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                len += chunk.len() as u64;
            }
        }
    }
    Ok((hex::encode(hasher.finalize()), len))
}
