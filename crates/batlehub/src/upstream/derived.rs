//! Upstream documents parsed once per fetched body.
//!
//! Every body the [`DocumentCache`](super::documents::DocumentCache) holds
//! has a generation, unique in the process for its (registry, key, body):
//! a refetch that changes the body gets a new one, a revalidation keeps it.
//! [`ParsedCache`] keeps what an ecosystem parsed out of a body under that
//! generation and the parsed type, so a hot packument or project page is
//! parsed once, however many requests read it. Parsing runs on the blocking
//! pool, never on an async runtime thread, and concurrent first readers of
//! one body share one parse.
//!
//! Memory is bounded in bytes: an entry weighs what its source body weighs,
//! times [`PARSED_OVERHEAD`] for the parsed form's own structures.

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use super::documents::Document;

/// How much more than its source body a parsed document is counted as.
pub const PARSED_OVERHEAD: u64 = 4;

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    weight: u32,
}

/// Parsed upstream documents, keyed by (document generation, parsed type).
pub struct ParsedCache {
    cache: moka::future::Cache<(u64, TypeId), Entry>,
}

impl ParsedCache {
    pub fn new(max_bytes: u64) -> ParsedCache {
        ParsedCache {
            cache: moka::future::Cache::builder()
                .weigher(|_k: &(u64, TypeId), e: &Entry| e.weight)
                .max_capacity(max_bytes)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    /// `doc` parsed by `parse` (on the blocking pool), once per body.
    pub async fn get_or_parse<T, F>(&self, doc: &Arc<Document>, parse: F) -> Result<Arc<T>, String>
    where
        T: Any + Send + Sync,
        F: FnOnce(&Document) -> Result<T, String> + Send + 'static,
    {
        let key = (doc.generation, TypeId::of::<T>());
        let source = Arc::clone(doc);
        let weight = (doc.body.len() as u64).saturating_mul(PARSED_OVERHEAD).clamp(1, u64::from(u32::MAX)) as u32;
        let entry = self
            .cache
            .try_get_with(key, async move {
                let value = tokio::task::spawn_blocking(move || parse(&source))
                    .await
                    .map_err(|e| format!("the parser failed: {e}"))??;
                Ok::<Entry, String>(Entry { value: Arc::new(value), weight })
            })
            .await
            .map_err(|e: Arc<String>| e.to_string())?;
        if weight as usize >= crate::upstream::LARGE_CACHE_ENTRY {
            // Evict down to the budget now, not at the cache's next batch
            // of operations (see `crate::upstream::LARGE_CACHE_ENTRY`).
            self.cache.run_pending_tasks().await;
        }
        entry.value.downcast::<T>().map_err(|_| "a parsed document of another type".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::DocHeader;

    fn doc(generation: u64, body: &str) -> Arc<Document> {
        Arc::new(Document::new(bytes::Bytes::from(body.to_string()), DocHeader::default(), generation))
    }

    #[tokio::test]
    async fn parses_once_per_generation_and_type() {
        let cache = ParsedCache::new(1 << 20);
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let parse = |calls: &Arc<std::sync::atomic::AtomicUsize>| {
            let calls = Arc::clone(calls);
            move |d: &Document| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<usize, String>(d.body.len())
            }
        };
        let a = doc(1, "four");
        assert_eq!(*cache.get_or_parse(&a, parse(&calls)).await.expect("parse"), 4);
        assert_eq!(*cache.get_or_parse(&a, parse(&calls)).await.expect("parse"), 4);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "one parse per body");
        // Another type of the same body is parsed on its own.
        let s = cache.get_or_parse(&a, |d: &Document| Ok(String::from_utf8_lossy(&d.body).into_owned())).await;
        assert_eq!(s.expect("parse").as_str(), "four");
        // A new generation is parsed anew.
        assert_eq!(*cache.get_or_parse(&doc(2, "sixsix"), parse(&calls)).await.expect("parse"), 6);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A failure is an error, not kept.
        let e = cache.get_or_parse(&doc(3, "x"), |_d: &Document| Err::<u8, String>("bad".into())).await;
        assert_eq!(e.expect_err("fails"), "bad");
    }

    #[tokio::test]
    async fn large_entries_are_evicted_down_to_the_budget_at_once() {
        // Room for two parsed documents of 256 KiB (weighed four times).
        let cache = ParsedCache::new(2 * 1024 * 1024 + 1024);
        let big = "x".repeat(256 * 1024);
        let mut kept = Vec::new();
        for generation in 0..20 {
            let d = doc(generation, &big);
            let parsed =
                cache.get_or_parse(&d, |d: &Document| Ok::<Vec<u8>, String>(d.body.to_vec())).await.expect("parse");
            kept.push(Arc::downgrade(&parsed));
            // What is still alive once this caller lets go is what the cache holds.
            drop(parsed);
            let alive = kept.iter().filter(|w| w.strong_count() > 0).count();
            assert!(alive <= 3, "after {generation}: {alive} parsed documents of 1 MiB held for a 2 MiB budget");
        }
    }
}
