//! Change counters: what lets every replica keep views of the catalog in
//! memory and still never serve them stale beyond a known bound.
//!
//! Each write that changes what a reader may see (a publish, a yank, a tag,
//! a visibility or owner change, a claim: scope = the registry's name; a
//! token revoked or a session ended: [`TOKENS_SCOPE`]) bumps its scope's
//! counter **inside its own transaction**, so the counter never runs ahead
//! of, nor behind, the rows it announces. The writer then records the new
//! value in this process at once (the next request here sees the change);
//! every process polls the counters every [`POLL_INTERVAL`].
//!
//! [`Catalog::generation`] answers only while the last successful poll
//! started less than [`CHANGE_BOUND`] ago: a view stamped with a scope's
//! generation is used only while that generation is current, so a change
//! made through another process (or `batlehub token revoke`) is seen within
//! [`CHANGE_BOUND`], and when the catalog cannot be polled nothing cached is
//! used at all.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Catalog, DbResult};

/// The scope of API tokens and browser sessions.
pub const TOKENS_SCOPE: &str = "@tokens";

/// How often every process reads the counters.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The longest a change made elsewhere goes unseen here.
pub const CHANGE_BOUND: Duration = Duration::from_secs(2);

/// This process's view of the counters.
pub(crate) struct Changes {
    seen: RwLock<HashMap<String, u64>>,
    /// When the last successful poll started: microseconds after `epoch`
    /// plus one (0: never).
    polled: AtomicU64,
    epoch: Instant,
}

impl Default for Changes {
    fn default() -> Self {
        Changes { seen: RwLock::default(), polled: AtomicU64::new(0), epoch: Instant::now() }
    }
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Bump `scope`'s counter in `tx`; the new value.
pub(crate) async fn bump(tx: &mut Tx, scope: &str) -> DbResult<u64> {
    let (g,): (i64,) = sqlx::query_as(
        "INSERT INTO change_counters (scope, generation) VALUES ($1, 1)
         ON CONFLICT (scope) DO UPDATE SET generation = change_counters.generation + 1
         RETURNING generation",
    )
    .bind(scope)
    .fetch_one(&mut **tx)
    .await?;
    Ok(g.max(0) as u64)
}

/// Bump the counter of the registry that holds package `package_id`.
pub(crate) async fn bump_package(tx: &mut Tx, package_id: &str) -> DbResult<Option<(String, u64)>> {
    let registry: Option<(String,)> = sqlx::query_as("SELECT registry FROM packages WHERE id = $1")
        .bind(package_id)
        .fetch_optional(&mut **tx)
        .await?;
    match registry {
        Some((r,)) => {
            let g = bump(tx, &r).await?;
            Ok(Some((r, g)))
        }
        None => Ok(None),
    }
}

/// Bump the counter of the registry that holds version `version_id`.
pub(crate) async fn bump_version(tx: &mut Tx, version_id: &str) -> DbResult<Option<(String, u64)>> {
    let package: Option<(String,)> = sqlx::query_as("SELECT package_id FROM versions WHERE id = $1")
        .bind(version_id)
        .fetch_optional(&mut **tx)
        .await?;
    match package {
        Some((p,)) => bump_package(tx, &p).await,
        None => Ok(None),
    }
}

impl Catalog {
    /// The current generation of `scope` as this process knows it, or
    /// `None` when it may be out of date by more than [`CHANGE_BOUND`]
    /// (then nothing cached under this scope may be used).
    pub fn generation(&self, scope: &str) -> Option<u64> {
        let polled = self.changes.polled.load(Ordering::Acquire);
        let now = self.changes.epoch.elapsed().as_micros() as u64 + 1;
        if polled == 0 || now.saturating_sub(polled) >= CHANGE_BOUND.as_micros() as u64 {
            return None;
        }
        Some(self.changes.seen.read().ok()?.get(scope).copied().unwrap_or(0))
    }

    /// Record that `scope` is at generation `g` (after this process's own
    /// committed write).
    pub(crate) fn observe(&self, scope: &str, g: u64) {
        if let Ok(mut seen) = self.changes.seen.write() {
            let e = seen.entry(scope.to_string()).or_insert(0);
            *e = (*e).max(g);
        }
    }

    pub(crate) fn observe_opt(&self, changed: Option<(String, u64)>) {
        if let Some((scope, g)) = changed {
            self.observe(&scope, g);
        }
    }

    /// Read every counter (one small query); on success, views stamped with
    /// the current generations may be used for [`CHANGE_BOUND`].
    pub async fn poll_changes(&self) -> DbResult<()> {
        let started = self.changes.epoch.elapsed().as_micros() as u64 + 1;
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT scope, generation FROM change_counters").fetch_all(self.pool()).await?;
        if let Ok(mut seen) = self.changes.seen.write() {
            for (scope, g) in rows {
                let e = seen.entry(scope).or_insert(0);
                *e = (*e).max(g.max(0) as u64);
            }
        }
        self.changes.polled.fetch_max(started, Ordering::AcqRel);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generations_are_known_only_while_polls_succeed() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}/catalog.db", dir.path().display());
        let catalog = Catalog::connect(&url, 2).await.expect("catalog");
        assert_eq!(catalog.generation("npm"), None, "never polled: nothing cached may be used");
        catalog.poll_changes().await.expect("poll");
        assert_eq!(catalog.generation("npm"), Some(0));
        // A write's bump, seen here at once and by another process's poll.
        let mut tx = catalog.begin_write().await.expect("tx");
        let g = bump(&mut tx, "npm").await.expect("bump");
        tx.commit().await.expect("commit");
        catalog.observe("npm", g);
        assert_eq!(catalog.generation("npm"), Some(1));
        let other = Catalog::connect(&url, 2).await.expect("catalog");
        other.poll_changes().await.expect("poll");
        assert_eq!(other.generation("npm"), Some(1));
        assert_eq!(other.generation(TOKENS_SCOPE), Some(0));
        // No successful poll for CHANGE_BOUND: unknown again.
        tokio::time::sleep(CHANGE_BOUND).await;
        assert_eq!(other.generation("npm"), None);
    }
}
