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
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{Catalog, DbResult};

/// The scope of API tokens and browser sessions.
pub const TOKENS_SCOPE: &str = "@tokens";

/// How often every process reads the counters.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The longest a change made elsewhere goes unseen here.
pub const CHANGE_BOUND: Duration = Duration::from_secs(2);

/// This process's view of the counters.
#[derive(Default)]
pub(crate) struct Changes {
    seen: RwLock<HashMap<String, u64>>,
    /// When the last successful poll started.
    polled: Mutex<Option<Instant>>,
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
        let fresh = self.changes.polled.lock().ok()?.is_some_and(|at| at.elapsed() < CHANGE_BOUND);
        if !fresh {
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
        let started = Instant::now();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT scope, generation FROM change_counters").fetch_all(self.pool()).await?;
        if let Ok(mut seen) = self.changes.seen.write() {
            for (scope, g) in rows {
                let e = seen.entry(scope).or_insert(0);
                *e = (*e).max(g.max(0) as u64);
            }
        }
        if let Ok(mut polled) = self.changes.polled.lock() {
            *polled = Some(polled.map_or(started, |p| p.max(started)));
        }
        Ok(())
    }
}
