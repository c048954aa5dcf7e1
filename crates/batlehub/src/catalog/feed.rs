//! The file feed: per registry, an ordered record of every change to which
//! files are served (a file published, a version yanked or restored, a file
//! withdrawn through its metadata, files deleted), written **inside the
//! transaction of the change** so that it never runs ahead of, nor behind,
//! the rows. Protocols whose indexes are append-only logs (RubyGems'
//! `/versions`) render them from it: a new event only ever adds lines at
//! the end, so clients that fetch the tail stay correct.
//!
//! An event's `seq` is the registry's change generation of its write (the
//! counter serialises writes to one registry, so `seq` grows in commit
//! order) and `ord` its place within that write. Files that existed before
//! the feed were recorded once by the migration that created it (`seq` 0,
//! in publish order).

use sqlx::Row;

use super::changes::Tx;
use super::{Catalog, DbResult, now_ms};

/// One change of a file's served state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEvent {
    pub registry: String,
    pub seq: i64,
    pub ord: i64,
    /// The package's catalog key.
    pub package: String,
    pub filename: String,
    /// Whether the file is served after this change.
    pub served: bool,
    pub at: i64,
}

impl FileEvent {
    pub fn weight(&self) -> usize {
        self.registry.len() + self.package.len() + self.filename.len() + 64
    }
}

/// Record `changes` (`(package key, filename, served)`) as write `seq` of
/// `registry`, in `tx`.
pub(crate) async fn record(tx: &mut Tx, registry: &str, seq: u64, changes: &[(String, String, bool)]) -> DbResult<()> {
    let at = now_ms();
    for (ord, (package, filename, served)) in changes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO file_events (registry, seq, ord, package, filename, served, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(registry)
        .bind(seq as i64)
        .bind(ord as i64)
        .bind(package)
        .bind(filename)
        .bind(if *served { 1i64 } else { 0i64 })
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The (package key, filename) of every file of version `version_id`.
pub(crate) async fn files_of_version(tx: &mut Tx, version_id: &str) -> DbResult<Vec<(String, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.name, f.filename FROM files f JOIN packages p ON p.id = f.package_id
         WHERE f.version_id = $1 ORDER BY f.created_at, f.filename",
    )
    .bind(version_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows)
}

/// The catalog key of package `package_id`.
pub(crate) async fn package_key(tx: &mut Tx, package_id: &str) -> DbResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT name FROM packages WHERE id = $1").bind(package_id).fetch_optional(&mut **tx).await?;
    Ok(row.map(|(n,)| n))
}

impl Catalog {
    /// Every event of `registry`'s feed, in order.
    pub async fn file_events(&self, registry: &str) -> DbResult<Vec<FileEvent>> {
        let rows = sqlx::query(
            "SELECT registry, seq, ord, package, filename, served, at FROM file_events
             WHERE registry = $1 ORDER BY seq, ord",
        )
        .bind(registry)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let served: i64 = r.try_get("served")?;
            out.push(FileEvent {
                registry: r.try_get("registry")?,
                seq: r.try_get("seq")?,
                ord: r.try_get("ord")?,
                package: r.try_get("package")?,
                filename: r.try_get("filename")?,
                served: served != 0,
                at: r.try_get("at")?,
            });
        }
        Ok(out)
    }
}
