//! Blob leases and references: what the garbage collector and the
//! consistency check ask of the catalog.
//!
//! Every commit of a blob first records a lease (`lease_blob`), before the
//! bytes are stored and before any row names them. The collector deletes a
//! blob only inside a write transaction that removes its expired lease and
//! finds no row referencing it (`collect_blob`); a writer that leases the
//! blob meanwhile waits for that transaction (SQLite's write lock,
//! PostgreSQL's row lock on the lease) and then finds the blob gone, so it
//! stores it again. A blob is therefore never deleted while a row, or a
//! publish or fetch younger than the grace period, refers to it.

use super::{Catalog, DbError, DbResult, now_ms};

/// What the collector decided about one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    /// A row references it: kept.
    Referenced,
    /// Leased within the grace period: kept.
    Young,
    /// No lease yet (stored before leases existed, or by a copy): its grace
    /// period starts now.
    Leased,
    /// Unreferenced, its lease expired: deleted.
    Deleted,
}

/// A failure of [`Catalog::collect_blob`]: the catalog's, or the deletion's
/// (the transaction is then rolled back and the lease kept).
#[derive(Debug, thiserror::Error)]
pub enum CollectError<E: std::fmt::Display + std::fmt::Debug> {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Delete(E),
}

impl Catalog {
    /// Record that `sha256` is being committed now (before its bytes are
    /// stored and before rows name it), so the collector leaves it alone for
    /// the grace period.
    pub async fn lease_blob(&self, sha256: &str) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO blob_leases (sha256, leased_at) VALUES ($1, $2)
             ON CONFLICT (sha256) DO UPDATE SET leased_at = excluded.leased_at",
        )
        .bind(sha256)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Decide about the stored blob `sha256`, in one write transaction: a
    /// blob without a lease gets one (its grace period starts); a blob
    /// whose lease is at or before `cutoff_ms` (epoch milliseconds) and that
    /// no row references is deleted by `delete`, called inside the
    /// transaction, and its lease removed. A failed `delete` rolls back.
    pub async fn collect_blob<F, Fut, E>(
        &self,
        sha256: &str,
        cutoff_ms: i64,
        delete: F,
    ) -> Result<Collected, CollectError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
        E: std::fmt::Display + std::fmt::Debug,
    {
        let mut tx = self.begin_write().await?;
        // Removing the expired lease first takes its row lock on PostgreSQL:
        // a concurrent `lease_blob` waits for this transaction.
        let expired = sqlx::query("DELETE FROM blob_leases WHERE sha256 = $1 AND leased_at <= $2")
            .bind(sha256)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await
            .map_err(DbError::from)?
            .rows_affected()
            > 0;
        if !expired {
            let lease: Option<(i64,)> = sqlx::query_as("SELECT leased_at FROM blob_leases WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::from)?;
            if lease.is_some() {
                tx.rollback().await.map_err(DbError::from)?;
                return Ok(Collected::Young);
            }
            sqlx::query("INSERT INTO blob_leases (sha256, leased_at) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING")
                .bind(sha256)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(DbError::from)?;
            tx.commit().await.map_err(DbError::from)?;
            return Ok(Collected::Leased);
        }
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM files WHERE sha256 = $1) + (SELECT COUNT(*) FROM cached_artifacts WHERE sha256 = $1)",
        )
        .bind(sha256)
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::from)?;
        if n > 0 {
            // Referenced: keep the blob and its lease.
            tx.rollback().await.map_err(DbError::from)?;
            return Ok(Collected::Referenced);
        }
        if let Err(e) = delete().await {
            let _ = tx.rollback().await;
            return Err(CollectError::Delete(e));
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(Collected::Deleted)
    }

    /// Every blob a row references, with the size the row records (the
    /// largest, should two rows disagree), by SHA-256.
    pub async fn referenced_blobs(&self) -> DbResult<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT sha256, MAX(size) FROM (SELECT sha256, size FROM files UNION ALL SELECT sha256, size FROM cached_artifacts) refs
             GROUP BY sha256 ORDER BY sha256",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }
}
