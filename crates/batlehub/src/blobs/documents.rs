//! Cached upstream documents on the local disk: one file per registry and
//! key (a header line, then the body), under `documents/<registry>/`, so
//! that a registry's documents can be sized and aged out on their own.
//!
//! A document's file time is when it was last written or served (served
//! ones are touched in batches, [`BlobStore::touch_docs`], with the time
//! they were served): the access time the cache limits evict by. Documents live on each node's own disk, also
//! when the blobs are in S3: every node sweeps its own.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{BlobError, BlobResult, BlobStore, DocHeader};

/// The folder of documents under the store's root.
pub(super) const DOCUMENTS: &str = "documents";
/// Where documents were kept before they were filed by registry
/// (`docs/<hh>/<sha256(registry\0key)>`): still read, and moved on read.
const LEGACY_DOCS: &str = "docs";

/// One stored document, as eviction sees it.
#[derive(Debug, Clone)]
pub struct DocEntry {
    pub path: PathBuf,
    pub bytes: u64,
    /// Last written or served, epoch milliseconds.
    pub used_at: i64,
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

impl BlobStore {
    /// The folder of `registry`'s documents. Registry names are validated
    /// by the configuration (letters, digits, `-`, `_`, `.`, not leading);
    /// any other name is hashed, so no name becomes a path of its own.
    fn registry_docs(&self, registry: &str) -> PathBuf {
        let dir = if crate::config::valid_registry_name(registry) {
            registry.to_string()
        } else {
            format!("_{}", &hex::encode(Sha256::digest(registry.as_bytes()))[..32])
        };
        self.root.join(DOCUMENTS).join(dir)
    }

    fn doc_path(&self, registry: &str, key: &str) -> PathBuf {
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        self.registry_docs(registry).join(&digest[..2]).join(digest)
    }

    fn legacy_doc_path(&self, registry: &str, key: &str) -> PathBuf {
        let digest = hex::encode(Sha256::digest(format!("{registry}\0{key}").as_bytes()));
        self.root.join(LEGACY_DOCS).join(&digest[..2]).join(digest)
    }

    /// Store a cached document (header line, then the body), replacing any
    /// previous copy atomically.
    pub async fn write_doc(&self, registry: &str, key: &str, header: &DocHeader, body: &[u8]) -> BlobResult<()> {
        if self.low_on_space().await {
            tracing::debug!(registry, "disk below its reserve: document served but not persisted");
            return Ok(());
        }
        let dest = self.doc_path(registry, key);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = self.root.join("tmp").join(crate::catalog::new_id());
        let mut line = serde_json::to_vec(header).map_err(|e| BlobError::Body(e.to_string()))?;
        line.push(b'\n');
        let result = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            f.write_all(&line).await?;
            f.write_all(body).await?;
            f.flush().await?;
            f.sync_data().await?;
            tokio::fs::rename(&tmp, &dest).await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(result?)
    }

    pub async fn read_doc(&self, registry: &str, key: &str) -> BlobResult<Option<(DocHeader, Bytes)>> {
        let path = self.doc_path(registry, key);
        let data = match tokio::fs::read(&path).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match self.adopt_legacy(registry, key, &path).await {
                Some(d) => d,
                None => return Ok(None),
            },
            Err(e) => return Err(e.into()),
        };
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let Ok(header) = serde_json::from_slice::<DocHeader>(&data[..nl]) else {
            return Ok(None);
        };
        let body = Bytes::from(data).slice(nl + 1..);
        Ok(Some((header, body)))
    }

    /// A document kept in the former layout, moved to `path` and read.
    async fn adopt_legacy(&self, registry: &str, key: &str, path: &PathBuf) -> Option<Vec<u8>> {
        let legacy = self.legacy_doc_path(registry, key);
        let data = tokio::fs::read(&legacy).await.ok()?;
        if let Some(parent) = path.parent()
            && tokio::fs::create_dir_all(parent).await.is_ok()
        {
            let _ = tokio::fs::rename(&legacy, path).await;
        }
        Some(data)
    }

    pub async fn delete_doc(&self, registry: &str, key: &str) -> BlobResult<()> {
        for path in [self.doc_path(registry, key), self.legacy_doc_path(registry, key)] {
            match tokio::fs::remove_file(path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Mark documents as served at the given times (epoch ms; their file
    /// time is their access time, and only moves forward); one blocking
    /// task for the whole batch. Missing files are skipped.
    pub async fn touch_docs(&self, docs: Vec<(String, String, i64)>) {
        if docs.is_empty() {
            return;
        }
        let paths: Vec<(PathBuf, i64)> = docs.iter().map(|(r, k, at)| (self.doc_path(r, k), *at)).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for (p, at) in paths {
                let when = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(at).unwrap_or(0));
                // Only forward: a write since (a revalidation) is newer.
                if let Ok(f) = std::fs::File::options().write(true).open(&p)
                    && f.metadata().and_then(|m| m.modified()).is_ok_and(|m| m < when)
                {
                    let _ = f.set_modified(when);
                }
            }
        })
        .await;
    }

    /// Every document of `registry` stored here, least recently used
    /// first. Only names, sizes and times are held, not bodies.
    pub async fn doc_entries(&self, registry: &str) -> BlobResult<Vec<DocEntry>> {
        let dir = self.registry_docs(registry);
        tokio::task::spawn_blocking(move || {
            let mut entries = Vec::new();
            let shards = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
                Err(e) => return Err(BlobError::Io(e)),
            };
            for shard in shards.flatten() {
                let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
                for file in files.flatten() {
                    let Ok(meta) = file.metadata() else { continue };
                    if !meta.is_file() {
                        continue;
                    }
                    let used_at = meta.modified().map(epoch_ms).unwrap_or(0);
                    entries.push(DocEntry { path: file.path(), bytes: meta.len(), used_at });
                }
            }
            entries.sort_by(|a, b| a.used_at.cmp(&b.used_at).then_with(|| a.path.cmp(&b.path)));
            Ok(entries)
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }

    /// How many documents of `registry` are stored here, and their bytes.
    pub async fn doc_usage(&self, registry: &str) -> BlobResult<(u64, u64)> {
        let entries = self.doc_entries(registry).await?;
        Ok((entries.len() as u64, entries.iter().map(|e| e.bytes).sum()))
    }

    /// Remove documents listed by [`BlobStore::doc_entries`] (only paths
    /// under the documents folder); a document written again meanwhile is
    /// removed too, and simply fetched again. How many went.
    pub async fn remove_docs(&self, entries: &[DocEntry]) -> usize {
        let base = self.root.join(DOCUMENTS);
        let inside = |p: &std::path::Path| {
            p.starts_with(&base) && !p.components().any(|c| matches!(c, std::path::Component::ParentDir))
        };
        let paths: Vec<PathBuf> = entries.iter().filter(|e| inside(&e.path)).map(|e| e.path.clone()).collect();
        tokio::task::spawn_blocking(move || paths.iter().filter(|p| std::fs::remove_file(p).is_ok()).count())
            .await
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> DocHeader {
        DocHeader {
            etag: Some("\"1\"".into()),
            last_modified: None,
            content_type: None,
            fetched_at: 5,
            source: "u".into(),
            kept: None,
        }
    }

    #[tokio::test]
    async fn documents_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open_filesystem(dir.path()).await.expect("store");
        store.write_doc("npm", "pkg/lodash", &header(), b"{\"a\":1}").await.expect("write");
        let (h2, body) = store.read_doc("npm", "pkg/lodash").await.expect("read").expect("present");
        assert_eq!(h2.etag.as_deref(), Some("\"1\""));
        assert_eq!(&body[..], b"{\"a\":1}");
        assert!(store.read_doc("npm", "other").await.expect("read").is_none());
        assert!(store.read_doc("pypi", "pkg/lodash").await.expect("read").is_none(), "per registry");
        assert!(dir.path().join("documents/npm").is_dir(), "filed under the registry's folder");
    }

    /// Listing sizes and ages a registry's documents only, least recently
    /// used first; a touch makes a document the most recently used.
    #[tokio::test]
    async fn a_registry_s_documents_are_listed_by_use_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open_filesystem(dir.path()).await.expect("store");
        for key in ["a", "b", "c"] {
            store.write_doc("npm", key, &header(), key.repeat(10).as_bytes()).await.expect("write");
        }
        store.write_doc("other", "a", &header(), b"x").await.expect("write");
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        for (key, age) in [("a", 3u64), ("b", 2), ("c", 1)] {
            let f = std::fs::File::options().write(true).open(store.doc_path("npm", key)).expect("open");
            f.set_modified(old - std::time::Duration::from_secs(age)).expect("time");
        }
        let order = |entries: &[DocEntry]| -> Vec<PathBuf> { entries.iter().map(|e| e.path.clone()).collect() };
        let entries = store.doc_entries("npm").await.expect("list");
        let paths: Vec<PathBuf> = ["a", "b", "c"].iter().map(|k| store.doc_path("npm", k)).collect();
        assert_eq!(order(&entries), paths);
        let (n, bytes) = store.doc_usage("npm").await.expect("usage");
        assert_eq!(n, 3);
        assert_eq!(bytes, entries.iter().map(|e| e.bytes).sum::<u64>());
        store.touch_docs(vec![("npm".into(), "a".into(), crate::catalog::now_ms())]).await;
        let entries = store.doc_entries("npm").await.expect("list");
        assert_eq!(order(&entries), vec![paths[1].clone(), paths[2].clone(), paths[0].clone()]);
        assert_eq!(store.remove_docs(&entries[..1]).await, 1);
        assert!(store.read_doc("npm", "b").await.expect("read").is_none());
        assert!(store.read_doc("npm", "a").await.expect("read").is_some());
        assert!(store.read_doc("other", "a").await.expect("read").is_some(), "other registries untouched");
        // Paths outside the documents folder are never removed.
        let outside = DocEntry { path: dir.path().join("tmp/keep"), bytes: 1, used_at: 0 };
        std::fs::write(&outside.path, b"k").expect("write");
        assert_eq!(store.remove_docs(std::slice::from_ref(&outside)).await, 0);
        assert!(outside.path.exists());
    }

    /// Documents of the former layout are still read, and moved.
    #[tokio::test]
    async fn documents_of_the_former_layout_are_adopted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open_filesystem(dir.path()).await.expect("store");
        let legacy = store.legacy_doc_path("npm", "pkg/left-pad");
        std::fs::create_dir_all(legacy.parent().expect("parent")).expect("mkdir");
        let mut data = serde_json::to_vec(&header()).expect("json");
        data.extend_from_slice(b"\n{}");
        std::fs::write(&legacy, &data).expect("write");
        let (h, body) = store.read_doc("npm", "pkg/left-pad").await.expect("read").expect("adopted");
        assert_eq!(h.etag.as_deref(), Some("\"1\""));
        assert_eq!(&body[..], b"{}");
        assert!(!legacy.exists(), "moved");
        assert!(store.doc_path("npm", "pkg/left-pad").exists());
    }
}
