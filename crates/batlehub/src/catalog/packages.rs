//! Local packages, versions, files, tags, owners, claims, cached artifacts
//! and the audit trail.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Catalog, DbError, DbResult, is_unique_violation, new_id, now_ms};
use crate::access::Visibility;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRow {
    pub id: String,
    pub registry: String,
    /// The normalised name, the unique key within a registry.
    pub name: String,
    /// The name as first published.
    pub display_name: String,
    pub visibility: Visibility,
    pub metadata: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const PACKAGE_COLS: &str = "id, registry, name, display_name, visibility, metadata, created_by, created_at, updated_at";

impl PackageRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let vis: String = row.try_get("visibility")?;
        Ok(PackageRow {
            id: row.try_get("id")?,
            registry: row.try_get("registry")?,
            name: row.try_get("name")?,
            display_name: row.try_get("display_name")?,
            visibility: Visibility::parse(&vis).unwrap_or(Visibility::Team),
            metadata: row.try_get("metadata")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub id: String,
    pub package_id: String,
    pub version: String,
    /// The ecosystem's version document.
    pub metadata: String,
    pub published_by: Option<String>,
    pub published_at: i64,
    pub yanked: bool,
    pub yanked_reason: Option<String>,
}

const VERSION_COLS: &str = "id, package_id, version, metadata, published_by, published_at, yanked, yanked_reason";

impl VersionRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let yanked: i64 = row.try_get("yanked")?;
        Ok(VersionRow {
            id: row.try_get("id")?,
            package_id: row.try_get("package_id")?,
            version: row.try_get("version")?,
            metadata: row.try_get("metadata")?,
            published_by: row.try_get("published_by")?,
            published_at: row.try_get("published_at")?,
            yanked: yanked != 0,
            yanked_reason: row.try_get("yanked_reason")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub id: String,
    pub version_id: String,
    pub package_id: String,
    pub filename: String,
    pub sha256: String,
    pub sha1: String,
    pub sha512: String,
    pub md5: String,
    pub size: i64,
    pub content_type: String,
    pub metadata: String,
    pub created_at: i64,
}

const FILE_COLS: &str =
    "id, version_id, package_id, filename, sha256, sha1, sha512, md5, size, content_type, metadata, created_at";

impl FileRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(FileRow {
            id: row.try_get("id")?,
            version_id: row.try_get("version_id")?,
            package_id: row.try_get("package_id")?,
            filename: row.try_get("filename")?,
            sha256: row.try_get("sha256")?,
            sha1: row.try_get("sha1")?,
            sha512: row.try_get("sha512")?,
            md5: row.try_get("md5")?,
            size: row.try_get("size")?,
            content_type: row.try_get("content_type")?,
            metadata: row.try_get("metadata")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A stored blob's identity and digests (hex), as the blob store reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobDigests {
    pub sha256: String,
    pub sha1: String,
    pub sha512: String,
    pub md5: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct NewFile {
    pub filename: String,
    pub blob: BlobDigests,
    pub content_type: String,
    pub metadata: String,
}

#[derive(Debug, Clone)]
pub struct NewVersion {
    pub registry: String,
    pub name: String,
    pub display_name: String,
    pub version: String,
    pub metadata: String,
    pub files: Vec<NewFile>,
    pub published_by: Option<String>,
    /// Tags to point at this version (npm dist-tags).
    pub tags: Vec<String>,
    /// Visibility of the package if this publish creates it.
    pub visibility: Visibility,
    /// Add the files to the version if it exists already (PyPI uploads one
    /// file per request: an sdist and several wheels make one version).
    pub append: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    pub package_id: String,
    pub created_package: bool,
    pub version_id: String,
}

/// Every row of one registry's packages (see [`Catalog::registry_rows`]).
#[derive(Debug, Clone, Default)]
pub struct RegistryRows {
    pub packages: Vec<PackageRow>,
    pub versions: Vec<VersionRow>,
    pub files: Vec<FileRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRow {
    pub principal_type: String,
    pub principal_id: String,
    pub role: String,
}

impl OwnerRow {
    pub fn is_group(&self) -> bool {
        self.principal_type == "group"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow {
    pub registry: String,
    pub prefix: String,
    pub group_id: String,
    pub claimed_by: Option<String>,
    /// Where it was made: `config`, `api` or `ui`.
    pub claimed_via: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedArtifactRow {
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub source_url: String,
    pub fetched_at: i64,
}

/// A registry's cache limits, as [`Catalog::evict_cached`] applies them.
#[derive(Clone, Copy)]
pub struct EvictionLimits {
    /// Keep the cached artifacts within this many bytes.
    pub max_bytes: Option<u64>,
    /// Forget those not served since this time (epoch ms).
    pub unused_since: Option<i64>,
    /// Keep only this many of each package's newest cached versions.
    pub keep_latest: Option<u64>,
    /// The registry type's version order (oldest first).
    pub order: fn(&str, &str) -> std::cmp::Ordering,
}

impl EvictionLimits {
    /// No limit at all: nothing to do.
    pub fn is_none(&self) -> bool {
        self.max_bytes.is_none() && self.unused_since.is_none() && self.keep_latest.is_none()
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    pub at: i64,
    pub registry: Option<String>,
    pub action: String,
    pub package: Option<String>,
    pub version: Option<String>,
    pub principal: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// A publish quota, checked inside the publish's transaction once its rows
/// are written: over it, the publish is `DbError::Denied` and nothing stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// How a refusal names whose quota it is (`alice`, `group oidc:team`).
    pub holder: String,
    pub scope: QuotaScope,
    pub versions: Option<u64>,
    pub bytes: Option<u64>,
}

/// What a quota counts, in the publish's registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaScope {
    /// The versions a user published (and their files).
    Publisher(String),
    /// The versions of packages whose names start with one of these.
    Prefixes(Vec<String>),
}

/// Versions and file bytes in `registry` that `scope` counts, read in `tx`.
async fn quota_usage(tx: &mut super::changes::Tx, registry: &str, scope: &QuotaScope) -> DbResult<(u64, u64)> {
    let (filter, binds): (String, Vec<&str>) = match scope {
        QuotaScope::Publisher(user) => ("v.published_by = $2".to_string(), vec![user.as_str()]),
        QuotaScope::Prefixes(prefixes) if prefixes.is_empty() => return Ok((0, 0)),
        QuotaScope::Prefixes(prefixes) => {
            let terms: Vec<String> = (0..prefixes.len())
                .map(|i| format!("substr(p.name, 1, length(CAST(${} AS TEXT))) = ${}", 2 + 2 * i, 3 + 2 * i))
                .collect();
            (format!("({})", terms.join(" OR ")), prefixes.iter().flat_map(|p| [p.as_str(), p.as_str()]).collect())
        }
    };
    let versions_sql = format!(
        "SELECT COUNT(*) FROM versions v JOIN packages p ON p.id = v.package_id WHERE p.registry = $1 AND {filter}"
    );
    let bytes_sql = format!(
        "SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM files f JOIN versions v ON v.id = f.version_id
         JOIN packages p ON p.id = v.package_id WHERE p.registry = $1 AND {filter}"
    );
    let mut q = sqlx::query_as::<_, (i64,)>(AssertSqlSafe(versions_sql)).bind(registry);
    for b in &binds {
        q = q.bind(*b);
    }
    let (versions,) = q.fetch_one(&mut **tx).await?;
    let mut q = sqlx::query_as::<_, (i64,)>(AssertSqlSafe(bytes_sql)).bind(registry);
    for b in &binds {
        q = q.bind(*b);
    }
    let (bytes,) = q.fetch_one(&mut **tx).await?;
    Ok((versions.max(0) as u64, bytes.max(0) as u64))
}

/// Decides whether a publisher may write a package with these owners
/// (`(is_group, id)`): the write check, re-run inside a transaction.
pub type OwnerCheck<'a> = dyn Fn(&[(bool, String)]) -> bool + Sync + 'a;

/// The check for writes made by the server itself or an admin tool, and by
/// tests that set a row up: it allows every writer. Never for a request's
/// write, whose check is the caller's (`serve::Writable::check`).
pub static ANY_WRITER: &OwnerCheck<'static> = &|_| true;

/// A package's owners as `(is_group, id)`, read inside `tx`.
async fn owners_in(tx: &mut super::changes::Tx, package_id: &str) -> DbResult<Vec<(bool, String)>> {
    let owners: Vec<(String, String)> =
        sqlx::query_as("SELECT principal_type, principal_id FROM package_owners WHERE package_id = $1")
            .bind(package_id)
            .fetch_all(&mut **tx)
            .await?;
    Ok(owners.into_iter().map(|(t, id)| (t == "group", id)).collect())
}

impl Catalog {
    /// Begin a write to one package: the write lock taken (SQLite's
    /// `BEGIN IMMEDIATE`; on PostgreSQL the package's row, locked `FOR
    /// UPDATE`, which every write to the package takes first), then
    /// `may_write` asked, inside the transaction, with the owners as they are
    /// now: an owner removed after the caller's check can no longer write. A
    /// refusal is `DbError::Denied` and nothing is written.
    pub(crate) async fn begin_package_write(
        &self,
        package_id: &str,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<super::changes::Tx> {
        let mut tx = self.begin_write().await?;
        if self.dialect() == super::Dialect::Postgres {
            sqlx::query("SELECT id FROM packages WHERE id = $1 FOR UPDATE")
                .bind(package_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        if !may_write(&owners_in(&mut tx, package_id).await?) {
            return Err(DbError::Denied("you no longer may write this package (its owners changed)".into()));
        }
        Ok(tx)
    }

    async fn package_of_version(&self, version_id: &str) -> DbResult<String> {
        let row: Option<(String,)> = sqlx::query_as("SELECT package_id FROM versions WHERE id = $1")
            .bind(version_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|(p,)| p).ok_or(DbError::NotFound)
    }

    pub async fn get_package(&self, registry: &str, name: &str) -> DbResult<Option<PackageRow>> {
        let sql = format!("SELECT {PACKAGE_COLS} FROM packages WHERE registry = $1 AND name = $2");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(registry).bind(name).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| PackageRow::from_row(&r)).transpose()?)
    }

    /// Publish one version with its files, atomically: the package row is
    /// created if needed, a duplicate version or file name is a
    /// [`DbError::Conflict`], and tags, the first owner and the audit row are
    /// written in the same transaction.
    /// Write a published version and its files in one transaction. When the
    /// package already exists, `may_write(owners)` decides, inside the
    /// transaction, whether this publisher may add to it (two first
    /// publishes of one name race: the second finds the first's package and
    /// must own it); a refusal is `DbError::Denied` and nothing is written.
    pub async fn publish_version(
        &self,
        v: &NewVersion,
        first_owner: Option<&str>,
        may_write: &OwnerCheck<'_>,
        quotas: &[Quota],
    ) -> DbResult<PublishOutcome> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO packages (id, registry, name, display_name, visibility, metadata, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, '{}', $6, $7, $7)
             ON CONFLICT (registry, name) DO NOTHING",
        )
        .bind(new_id())
        .bind(&v.registry)
        .bind(&v.name)
        .bind(&v.display_name)
        .bind(v.visibility.as_str())
        .bind(&v.published_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let created_package = inserted.rows_affected() == 1;
        let (package_id,): (String,) = sqlx::query_as("SELECT id FROM packages WHERE registry = $1 AND name = $2")
            .bind(&v.registry)
            .bind(&v.name)
            .fetch_one(&mut *tx)
            .await?;
        if !created_package {
            if self.dialect() == super::Dialect::Postgres {
                sqlx::query("SELECT id FROM packages WHERE id = $1 FOR UPDATE")
                    .bind(&package_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            }
            if !may_write(&owners_in(&mut tx, &package_id).await?) {
                return Err(DbError::Denied(format!("you do not own {}", v.display_name)));
            }
        }
        let buried: Option<(String,)> =
            sqlx::query_as("SELECT version FROM version_tombstones WHERE registry = $1 AND name = $2 AND version = $3")
                .bind(&v.registry)
                .bind(&v.name)
                .bind(&v.version)
                .fetch_optional(&mut *tx)
                .await?;
        if buried.is_some() {
            return Err(DbError::Conflict(format!(
                "{} {} was deleted; a version number is never used twice",
                v.display_name, v.version
            )));
        }
        let mut version_id = new_id();
        let sql = if v.append {
            "INSERT INTO versions (id, package_id, version, metadata, published_by, published_at, yanked)
             VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (package_id, version) DO NOTHING"
        } else {
            "INSERT INTO versions (id, package_id, version, metadata, published_by, published_at, yanked)
             VALUES ($1, $2, $3, $4, $5, $6, 0)"
        };
        let res = sqlx::query(sql)
            .bind(&version_id)
            .bind(&package_id)
            .bind(&v.version)
            .bind(&v.metadata)
            .bind(&v.published_by)
            .bind(now)
            .execute(&mut *tx)
            .await;
        match res {
            Err(e) => {
                return Err(if is_unique_violation(&e) {
                    DbError::Conflict(format!("version {} of {} already exists", v.version, v.display_name))
                } else {
                    e.into()
                });
            }
            Ok(r) if r.rows_affected() == 0 => {
                let (id,): (String,) = sqlx::query_as("SELECT id FROM versions WHERE package_id = $1 AND version = $2")
                    .bind(&package_id)
                    .bind(&v.version)
                    .fetch_one(&mut *tx)
                    .await?;
                version_id = id;
            }
            Ok(_) => {}
        }
        for f in &v.files {
            let res = sqlx::query(
                "INSERT INTO files (id, version_id, package_id, filename, sha256, sha1, sha512, md5, size, content_type, metadata, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(new_id())
            .bind(&version_id)
            .bind(&package_id)
            .bind(&f.filename)
            .bind(&f.blob.sha256)
            .bind(&f.blob.sha1)
            .bind(&f.blob.sha512)
            .bind(&f.blob.md5)
            .bind(f.blob.size as i64)
            .bind(&f.content_type)
            .bind(&f.metadata)
            .bind(now)
            .execute(&mut *tx)
            .await;
            if let Err(e) = res {
                return Err(if is_unique_violation(&e) {
                    DbError::Conflict(format!("file {} of {} already exists", f.filename, v.display_name))
                } else {
                    e.into()
                });
            }
        }
        for quota in quotas {
            let (versions, bytes) = quota_usage(&mut tx, &v.registry, &quota.scope).await?;
            let over = |used: u64, limit: Option<u64>, what: &str| {
                limit.filter(|l| used > *l).map(|l| {
                    DbError::Denied(format!(
                        "publish quota of registry {} reached: {} would have {used} {what} (the quota is {l}); \
                         delete old versions or ask an admin for more",
                        v.registry, quota.holder
                    ))
                })
            };
            if let Some(refusal) =
                over(versions, quota.versions, "versions").or_else(|| over(bytes, quota.bytes, "bytes"))
            {
                return Err(refusal);
            }
        }
        for tag in &v.tags {
            upsert_tag(&mut tx, &package_id, tag, &v.version).await?;
        }
        if created_package && let Some(owner) = first_owner {
            sqlx::query(
                "INSERT INTO package_owners (package_id, principal_type, principal_id, role, created_at)
                 VALUES ($1, 'user', $2, 'owner', $3) ON CONFLICT DO NOTHING",
            )
            .bind(&package_id)
            .bind(owner)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE packages SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&package_id)
            .execute(&mut *tx)
            .await?;
        insert_audit(
            &mut tx,
            &AuditEvent {
                at: now,
                registry: Some(v.registry.clone()),
                action: "publish".into(),
                package: Some(v.display_name.clone()),
                version: Some(v.version.clone()),
                principal: v.published_by.clone(),
                outcome: "ok".into(),
                detail: None,
            },
        )
        .await?;
        let g = super::changes::bump(&mut tx, &v.registry).await?;
        let (yanked,): (i64,) =
            sqlx::query_as("SELECT yanked FROM versions WHERE id = $1").bind(&version_id).fetch_one(&mut *tx).await?;
        let events: Vec<(String, String, bool)> =
            v.files.iter().map(|f| (v.name.clone(), f.filename.clone(), yanked == 0)).collect();
        super::feed::record(&mut tx, &v.registry, g, &events).await?;
        tx.commit().await?;
        self.observe(&v.registry, g);
        Ok(PublishOutcome { package_id, created_package, version_id })
    }

    /// Every package, version and file of `registry` (what registry-wide
    /// documents are rendered from), packages by name, versions and files in
    /// publish order.
    pub async fn registry_rows(&self, registry: &str) -> DbResult<RegistryRows> {
        let sql = format!("SELECT {PACKAGE_COLS} FROM packages WHERE registry = $1 ORDER BY name");
        let packages = sqlx::query(AssertSqlSafe(sql)).bind(registry).fetch_all(self.pool()).await?;
        let qualified =
            |cols: &str, t: &str| cols.split(", ").map(|c| format!("{t}.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {} FROM versions v JOIN packages p ON p.id = v.package_id WHERE p.registry = $1
             ORDER BY v.published_at, v.version",
            qualified(VERSION_COLS, "v")
        );
        let versions = sqlx::query(AssertSqlSafe(sql)).bind(registry).fetch_all(self.pool()).await?;
        let sql = format!(
            "SELECT {} FROM files f JOIN packages p ON p.id = f.package_id WHERE p.registry = $1
             ORDER BY f.created_at, f.filename",
            qualified(FILE_COLS, "f")
        );
        let files = sqlx::query(AssertSqlSafe(sql)).bind(registry).fetch_all(self.pool()).await?;
        Ok(RegistryRows {
            packages: packages.iter().map(PackageRow::from_row).collect::<Result<_, _>>()?,
            versions: versions.iter().map(VersionRow::from_row).collect::<Result<_, _>>()?,
            files: files.iter().map(FileRow::from_row).collect::<Result<_, _>>()?,
        })
    }

    pub async fn list_versions(&self, package_id: &str) -> DbResult<Vec<VersionRow>> {
        let sql = format!("SELECT {VERSION_COLS} FROM versions WHERE package_id = $1 ORDER BY published_at, version");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(package_id).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(VersionRow::from_row).collect::<Result<_, _>>()?)
    }

    pub async fn get_version(&self, package_id: &str, version: &str) -> DbResult<Option<VersionRow>> {
        let sql = format!("SELECT {VERSION_COLS} FROM versions WHERE package_id = $1 AND version = $2");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(package_id).bind(version).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| VersionRow::from_row(&r)).transpose()?)
    }

    pub async fn list_files(&self, package_id: &str) -> DbResult<Vec<FileRow>> {
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE package_id = $1 ORDER BY created_at, filename");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(package_id).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(FileRow::from_row).collect::<Result<_, _>>()?)
    }

    pub async fn get_file(&self, package_id: &str, filename: &str) -> DbResult<Option<FileRow>> {
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE package_id = $1 AND filename = $2");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(package_id).bind(filename).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| FileRow::from_row(&r)).transpose()?)
    }

    /// Replace a version's metadata document (npm deprecate).
    pub async fn update_version_metadata(
        &self,
        version_id: &str,
        metadata: &str,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<()> {
        let package_id = self.package_of_version(version_id).await?;
        let mut tx = self.begin_package_write(&package_id, may_write).await?;
        sqlx::query("UPDATE versions SET metadata = $1 WHERE id = $2")
            .bind(metadata)
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
        let changed = super::changes::bump_version(&mut tx, version_id).await?;
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(())
    }

    /// Replace a file's metadata document (a yank of one platform's gem),
    /// which changes what its package's documents say; `served` tells the
    /// file feed whether the ecosystem serves the file after the change (it
    /// is recorded as withdrawn anyway while its version is yanked).
    pub async fn update_file_metadata(
        &self,
        file_id: &str,
        metadata: &str,
        served: bool,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<()> {
        let (owner_of,): (String,) = sqlx::query_as("SELECT package_id FROM files WHERE id = $1")
            .bind(file_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(DbError::NotFound)?;
        let mut tx = self.begin_package_write(&owner_of, may_write).await?;
        let (package_id, filename, yanked): (String, String, i64) = sqlx::query_as(
            "SELECT f.package_id, f.filename, v.yanked FROM files f JOIN versions v ON v.id = f.version_id WHERE f.id = $1",
        )
        .bind(file_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DbError::NotFound)?;
        sqlx::query("UPDATE files SET metadata = $1 WHERE id = $2")
            .bind(metadata)
            .bind(file_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE packages SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(&package_id)
            .execute(&mut *tx)
            .await?;
        let changed = super::changes::bump_package(&mut tx, &package_id).await?;
        if let Some((registry, g)) = &changed
            && let Some(key) = super::feed::package_key(&mut tx, &package_id).await?
        {
            super::feed::record(&mut tx, registry, *g, &[(key, filename, served && yanked == 0)]).await?;
        }
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(())
    }

    pub async fn set_yanked(
        &self,
        version_id: &str,
        yanked: bool,
        reason: Option<&str>,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<()> {
        let package_id = self.package_of_version(version_id).await?;
        let mut tx = self.begin_package_write(&package_id, may_write).await?;
        sqlx::query("UPDATE versions SET yanked = $1, yanked_reason = $2 WHERE id = $3")
            .bind(if yanked { 1i64 } else { 0i64 })
            .bind(reason)
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
        // A yank changes what the package's documents say.
        sqlx::query("UPDATE packages SET updated_at = $1 WHERE id = (SELECT package_id FROM versions WHERE id = $2)")
            .bind(now_ms())
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
        let changed = super::changes::bump_version(&mut tx, version_id).await?;
        if let Some((registry, g)) = &changed {
            let events: Vec<(String, String, bool)> = super::feed::files_of_version(&mut tx, version_id)
                .await?
                .into_iter()
                .map(|(p, f)| (p, f, !yanked))
                .collect();
            super::feed::record(&mut tx, registry, *g, &events).await?;
        }
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(())
    }

    /// Delete some files of one version (old SNAPSHOT builds); their blobs
    /// are left to the garbage collector.
    pub async fn delete_files(
        &self,
        package_id: &str,
        version_id: &str,
        filenames: &[String],
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<u64> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        let mut deleted = 0;
        let key = super::feed::package_key(&mut tx, package_id).await?;
        let mut events = Vec::new();
        for f in filenames {
            let res = sqlx::query("DELETE FROM files WHERE package_id = $1 AND version_id = $2 AND filename = $3")
                .bind(package_id)
                .bind(version_id)
                .bind(f)
                .execute(&mut *tx)
                .await?;
            deleted += res.rows_affected();
            if res.rows_affected() > 0
                && let Some(k) = &key
            {
                events.push((k.clone(), f.clone(), false));
            }
        }
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        if let Some((registry, g)) = &changed {
            super::feed::record(&mut tx, registry, *g, &events).await?;
        }
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(deleted)
    }

    /// Delete one version; returns its files so their blobs can be released.
    /// Tags that pointed at it are removed. The package row stays even when
    /// this was its last version, so that its owners keep the name.
    pub async fn delete_version(
        &self,
        package_id: &str,
        version: &str,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<Vec<FileRow>> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        let sql = format!(
            "SELECT {FILE_COLS} FROM files WHERE version_id IN (SELECT id FROM versions WHERE package_id = $1 AND version = $2)"
        );
        let files = sqlx::query(AssertSqlSafe(sql)).bind(package_id).bind(version).fetch_all(&mut *tx).await?;
        let files = files.iter().map(FileRow::from_row).collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            "DELETE FROM files WHERE version_id IN (SELECT id FROM versions WHERE package_id = $1 AND version = $2)",
        )
        .bind(package_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        let res = sqlx::query("DELETE FROM versions WHERE package_id = $1 AND version = $2")
            .bind(package_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        sqlx::query(
            "INSERT INTO version_tombstones (registry, name, version, deleted_at)
             SELECT registry, name, $2, $3 FROM packages WHERE id = $1
             ON CONFLICT DO NOTHING",
        )
        .bind(package_id)
        .bind(version)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM package_tags WHERE package_id = $1 AND version = $2")
            .bind(package_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE packages SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(package_id)
            .execute(&mut *tx)
            .await?;
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        if let Some((registry, g)) = &changed
            && let Some(key) = super::feed::package_key(&mut tx, package_id).await?
        {
            let events: Vec<(String, String, bool)> =
                files.iter().map(|f| (key.clone(), f.filename.clone(), false)).collect();
            super::feed::record(&mut tx, registry, *g, &events).await?;
        }
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(files)
    }

    /// Delete a package with every version, file, tag and owner; returns the
    /// files so their blobs can be released.
    pub async fn delete_package(&self, package_id: &str, may_write: &OwnerCheck<'_>) -> DbResult<Vec<FileRow>> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE package_id = $1");
        let files = sqlx::query(AssertSqlSafe(sql)).bind(package_id).fetch_all(&mut *tx).await?;
        let files = files.iter().map(FileRow::from_row).collect::<Result<Vec<_>, _>>()?;
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        if let Some((registry, g)) = &changed
            && let Some(key) = super::feed::package_key(&mut tx, package_id).await?
        {
            let events: Vec<(String, String, bool)> =
                files.iter().map(|f| (key.clone(), f.filename.clone(), false)).collect();
            super::feed::record(&mut tx, registry, *g, &events).await?;
        }
        sqlx::query(
            "INSERT INTO version_tombstones (registry, name, version, deleted_at)
             SELECT p.registry, p.name, v.version, $2 FROM versions v JOIN packages p ON p.id = v.package_id
             WHERE v.package_id = $1
             ON CONFLICT DO NOTHING",
        )
        .bind(package_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        for table in ["files", "package_tags", "package_owners", "versions"] {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE package_id = $1")))
                .bind(package_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM packages WHERE id = $1").bind(package_id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(files)
    }

    pub async fn set_visibility(
        &self,
        package_id: &str,
        visibility: Visibility,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<()> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        sqlx::query("UPDATE packages SET visibility = $1 WHERE id = $2")
            .bind(visibility.as_str())
            .bind(package_id)
            .execute(&mut *tx)
            .await?;
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(())
    }

    pub async fn list_tags(&self, package_id: &str) -> DbResult<Vec<(String, String)>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT tag, version FROM package_tags WHERE package_id = $1 ORDER BY tag")
                .bind(package_id)
                .fetch_all(self.pool())
                .await?;
        Ok(rows)
    }

    pub async fn set_tag(
        &self,
        package_id: &str,
        tag: &str,
        version: &str,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<()> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        upsert_tag(&mut tx, package_id, tag, version).await?;
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(())
    }

    /// Returns whether the tag existed.
    pub async fn delete_tag(&self, package_id: &str, tag: &str, may_write: &OwnerCheck<'_>) -> DbResult<bool> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        let res = sqlx::query("DELETE FROM package_tags WHERE package_id = $1 AND tag = $2")
            .bind(package_id)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(res.rows_affected() > 0)
    }

    pub async fn list_owners(&self, package_id: &str) -> DbResult<Vec<OwnerRow>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT principal_type, principal_id, role FROM package_owners WHERE package_id = $1 ORDER BY created_at, principal_id",
        )
        .bind(package_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(principal_type, principal_id, role)| OwnerRow { principal_type, principal_id, role })
            .collect())
    }

    pub async fn add_owner(
        &self,
        package_id: &str,
        is_group: bool,
        principal_id: &str,
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<()> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        sqlx::query(
            "INSERT INTO package_owners (package_id, principal_type, principal_id, role, created_at)
             VALUES ($1, $2, $3, 'owner', $4) ON CONFLICT DO NOTHING",
        )
        .bind(package_id)
        .bind(if is_group { "group" } else { "user" })
        .bind(principal_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(())
    }

    /// Remove `owners` (`(is_group, id)`) of a package in one transaction,
    /// unless that would leave it without any owner: then nothing is removed
    /// and the answer is `false`.
    pub async fn remove_owners(
        &self,
        package_id: &str,
        owners: &[(bool, String)],
        may_write: &OwnerCheck<'_>,
    ) -> DbResult<bool> {
        let mut tx = self.begin_package_write(package_id, may_write).await?;
        for (is_group, principal_id) in owners {
            sqlx::query(
                "DELETE FROM package_owners WHERE package_id = $1 AND principal_type = $2 AND principal_id = $3",
            )
            .bind(package_id)
            .bind(if *is_group { "group" } else { "user" })
            .bind(principal_id)
            .execute(&mut *tx)
            .await?;
        }
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM package_owners WHERE package_id = $1")
            .bind(package_id)
            .fetch_one(&mut *tx)
            .await?;
        if left == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let changed = super::changes::bump_package(&mut tx, package_id).await?;
        tx.commit().await?;
        self.observe_opt(changed);
        Ok(true)
    }

    /// Packages of `registries` whose name contains `text` (case-insensitive),
    /// most recently updated first.
    pub async fn search_packages(&self, registries: &[String], text: &str, limit: i64) -> DbResult<Vec<PackageRow>> {
        if registries.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..registries.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {PACKAGE_COLS} FROM packages WHERE LOWER(name) LIKE $1 AND registry IN ({}) ORDER BY updated_at DESC LIMIT {}",
            placeholders.join(", "),
            limit.clamp(1, 1000)
        );
        let pattern = format!("%{}%", text.to_lowercase().replace(['%', '_'], ""));
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(pattern);
        for r in registries {
            q = q.bind(r);
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(PackageRow::from_row).collect::<Result<_, _>>()?)
    }

    /// Every package name of `registries`.
    pub async fn list_package_names(&self, registries: &[String]) -> DbResult<Vec<String>> {
        if registries.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..registries.len()).map(|i| format!("${}", i + 1)).collect();
        let sql = format!("SELECT name FROM packages WHERE registry IN ({})", placeholders.join(", "));
        let mut q = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql));
        for r in registries {
            q = q.bind(r);
        }
        Ok(q.fetch_all(self.pool()).await?.into_iter().map(|(n,)| n).collect())
    }

    pub async fn list_claims(&self, registry: &str) -> DbResult<Vec<ClaimRow>> {
        let rows: Vec<(String, String, String, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT registry, prefix, group_id, claimed_by, claimed_via, created_at FROM namespace_claims WHERE registry = $1 ORDER BY prefix",
        )
        .bind(registry)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(registry, prefix, group_id, claimed_by, claimed_via, created_at)| ClaimRow {
                registry,
                prefix,
                group_id,
                claimed_by,
                claimed_via,
                created_at,
            })
            .collect())
    }

    pub async fn add_claim(
        &self,
        registry: &str,
        prefix: &str,
        group_id: &str,
        claimed_by: Option<&str>,
    ) -> DbResult<()> {
        self.add_claim_via(registry, prefix, group_id, claimed_by, "api").await
    }

    /// A claim, recording where it was made (`api` or `ui`).
    pub async fn add_claim_via(
        &self,
        registry: &str,
        prefix: &str,
        group_id: &str,
        claimed_by: Option<&str>,
        via: &str,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "INSERT INTO namespace_claims (registry, prefix, group_id, claimed_by, claimed_via, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(registry)
        .bind(prefix)
        .bind(crate::access::normalize_group(group_id))
        .bind(claimed_by)
        .bind(via)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {
                let g = super::changes::bump(&mut tx, registry).await?;
                tx.commit().await?;
                self.observe(registry, g);
                Ok(())
            }
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict(format!("prefix {prefix} is already claimed"))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_claim(&self, registry: &str, prefix: &str) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("DELETE FROM namespace_claims WHERE registry = $1 AND prefix = $2")
            .bind(registry)
            .bind(prefix)
            .execute(&mut *tx)
            .await?;
        let g = super::changes::bump(&mut tx, registry).await?;
        tx.commit().await?;
        self.observe(registry, g);
        Ok(res.rows_affected() > 0)
    }

    /// Allow `name` (a package key) to be published to `registry` although
    /// an upstream serves it; `false` if it already was.
    pub async fn allow_upstream_name(&self, registry: &str, name: &str, allowed_by: Option<&str>) -> DbResult<bool> {
        let res = sqlx::query(
            "INSERT INTO upstream_name_allowances (registry, name, allowed_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(registry)
        .bind(name)
        .bind(allowed_by)
        .bind(now_ms())
        .execute(self.pool())
        .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn disallow_upstream_name(&self, registry: &str, name: &str) -> DbResult<bool> {
        let res = sqlx::query("DELETE FROM upstream_name_allowances WHERE registry = $1 AND name = $2")
            .bind(registry)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(res.rows_affected() > 0)
    }

    pub async fn upstream_name_allowed(&self, registry: &str, name: &str) -> DbResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT name FROM upstream_name_allowances WHERE registry = $1 AND name = $2")
                .bind(registry)
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }

    /// The allowed names of `registry`: `(name, allowed_by, created_at)`.
    pub async fn list_upstream_names(&self, registry: &str) -> DbResult<Vec<(String, Option<String>, i64)>> {
        Ok(sqlx::query_as(
            "SELECT name, allowed_by, created_at FROM upstream_name_allowances WHERE registry = $1 ORDER BY name",
        )
        .bind(registry)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn get_cached_artifact(&self, registry: &str, key: &str) -> DbResult<Option<CachedArtifactRow>> {
        let row: Option<(String, i64, String, String, i64)> = sqlx::query_as(
            "SELECT sha256, size, content_type, source_url, fetched_at FROM cached_artifacts WHERE registry = $1 AND cache_key = $2",
        )
        .bind(registry)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(sha256, size, content_type, source_url, fetched_at)| CachedArtifactRow {
            sha256,
            size,
            content_type,
            source_url,
            fetched_at,
        }))
    }

    /// Record a cached artifact; `release` is the package and version it
    /// belongs to, when its ecosystem says (for `keep_latest_versions`).
    pub async fn put_cached_artifact(
        &self,
        registry: &str,
        key: &str,
        row: &CachedArtifactRow,
        release: Option<(&str, &str)>,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO cached_artifacts (registry, cache_key, sha256, size, content_type, source_url, fetched_at, accessed_at, package, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)
             ON CONFLICT (registry, cache_key) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
               content_type = excluded.content_type, source_url = excluded.source_url, fetched_at = excluded.fetched_at,
               accessed_at = excluded.accessed_at, package = excluded.package, version = excluded.version",
        )
        .bind(registry)
        .bind(key)
        .bind(&row.sha256)
        .bind(row.size)
        .bind(&row.content_type)
        .bind(&row.source_url)
        .bind(row.fetched_at)
        .bind(release.map(|r| r.0))
        .bind(release.map(|r| r.1))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Record when cached artifacts were last served: `(registry, key,
    /// epoch ms)`, one transaction for the batch (never a write per hit).
    pub async fn touch_cached_artifacts(&self, touched: &[(String, String, i64)]) -> DbResult<()> {
        if touched.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (registry, key, at) in touched {
            sqlx::query(
                "UPDATE cached_artifacts SET accessed_at = $3 WHERE registry = $1 AND cache_key = $2 AND accessed_at < $3",
            )
            .bind(registry)
            .bind(key)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The cached artifacts of a registry: how many, and their bytes.
    pub async fn cache_usage(&self, registry: &str) -> DbResult<(u64, u64)> {
        let (n, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM cached_artifacts WHERE registry = $1",
        )
        .bind(registry)
        .fetch_one(self.pool())
        .await?;
        Ok((n.max(0) as u64, bytes.max(0) as u64))
    }

    /// Forget cached artifacts of `registry` beyond `limits`: those not
    /// served since `unused_since` (epoch ms); those of a package's versions
    /// older than its `keep_latest` newest cached ones (in `limits.order`);
    /// then the least recently served until the rest fits in `max_bytes`.
    /// `others` are further cached entries sharing that budget (the
    /// registry's documents, which live outside the catalog), as `(last
    /// used, bytes)`, least recently used first: they are weighed in the
    /// same order, and how many of them must go (a prefix) is returned
    /// beside the artifact keys forgotten. Only cache rows go: a blob a
    /// published file or another row references stays, and one nothing
    /// references is left to the garbage collector (after its grace period,
    /// so a response still streaming it never breaks off).
    pub async fn evict_cached(
        &self,
        registry: &str,
        limits: &EvictionLimits,
        others: &[(i64, u64)],
    ) -> DbResult<(Vec<String>, usize)> {
        let mut evicted = Vec::new();
        let mut others_gone = 0usize;
        if let Some(cutoff) = limits.unused_since {
            let old: Vec<(String,)> =
                sqlx::query_as("SELECT cache_key FROM cached_artifacts WHERE registry = $1 AND accessed_at < $2")
                    .bind(registry)
                    .bind(cutoff)
                    .fetch_all(self.pool())
                    .await?;
            let keys: Vec<String> = old.into_iter().map(|(k,)| k).collect();
            self.delete_cached_artifacts(registry, &keys).await?;
            evicted.extend(keys);
        }
        if let Some(keep) = limits.keep_latest {
            let keep = i64::try_from(keep).unwrap_or(i64::MAX);
            // Only packages with more versions cached than kept.
            let crowded: Vec<(String,)> = sqlx::query_as(
                "SELECT package FROM cached_artifacts WHERE registry = $1 AND package IS NOT NULL
                 GROUP BY package HAVING COUNT(DISTINCT version) > $2",
            )
            .bind(registry)
            .bind(keep)
            .fetch_all(self.pool())
            .await?;
            for (package,) in crowded {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT cache_key, version FROM cached_artifacts WHERE registry = $1 AND package = $2 AND version IS NOT NULL",
                )
                .bind(registry)
                .bind(&package)
                .fetch_all(self.pool())
                .await?;
                let mut versions: Vec<&str> = rows.iter().map(|(_, v)| v.as_str()).collect();
                versions.sort_by(|a, b| (limits.order)(b, a));
                versions.dedup();
                let kept: std::collections::HashSet<&str> =
                    versions.into_iter().take(usize::try_from(keep).unwrap_or(usize::MAX)).collect();
                let gone: Vec<String> =
                    rows.iter().filter(|(_, v)| !kept.contains(v.as_str())).map(|(k, _)| k.clone()).collect();
                self.delete_cached_artifacts(registry, &gone).await?;
                evicted.extend(gone);
            }
        }
        if let Some(max) = limits.max_bytes {
            let (_, artifacts) = self.cache_usage(registry).await?;
            let mut used = others.iter().fold(artifacts, |sum, (_, bytes)| sum.saturating_add(*bytes));
            // Drop the others used no later than `until` while over the cap.
            let mut drop_others = |used: &mut u64, until: i64| {
                while *used > max && others.get(others_gone).is_some_and(|(at, _)| *at <= until) {
                    *used = used.saturating_sub(others[others_gone].1);
                    others_gone += 1;
                }
            };
            'pages: while used > max {
                let oldest: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT cache_key, size, accessed_at FROM cached_artifacts WHERE registry = $1
                     ORDER BY accessed_at, cache_key LIMIT 100",
                )
                .bind(registry)
                .fetch_all(self.pool())
                .await?;
                if oldest.is_empty() {
                    drop_others(&mut used, i64::MAX);
                    break;
                }
                let mut page = Vec::new();
                let mut full = false;
                for (key, size, accessed_at) in oldest {
                    drop_others(&mut used, accessed_at);
                    if used <= max {
                        full = true;
                        break;
                    }
                    used = used.saturating_sub(size.max(0) as u64);
                    page.push(key);
                }
                // One transaction a page, before the next page is read.
                self.delete_cached_artifacts(registry, &page).await?;
                evicted.extend(page);
                if full {
                    break 'pages;
                }
            }
        }
        Ok((evicted, others_gone))
    }

    /// Forget `keys` of `registry`'s cache, in one write transaction.
    pub async fn delete_cached_artifacts(&self, registry: &str, keys: &[String]) -> DbResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query("DELETE FROM cached_artifacts WHERE registry = $1 AND cache_key = $2")
                .bind(registry)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_cached_artifact(&self, registry: &str, key: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM cached_artifacts WHERE registry = $1 AND cache_key = $2")
            .bind(registry)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> DbResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for e in events {
            insert_audit(&mut tx, e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn recent_audit_events(&self, limit: i64) -> DbResult<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT at, registry, action, package, version, principal, outcome, detail FROM audit_events ORDER BY at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    at: r.try_get("at")?,
                    registry: r.try_get("registry")?,
                    action: r.try_get("action")?,
                    package: r.try_get("package")?,
                    version: r.try_get("version")?,
                    principal: r.try_get("principal")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }
}

async fn upsert_tag(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    package_id: &str,
    tag: &str,
    version: &str,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO package_tags (package_id, tag, version) VALUES ($1, $2, $3)
         ON CONFLICT (package_id, tag) DO UPDATE SET version = excluded.version",
    )
    .bind(package_id)
    .bind(tag)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_audit(tx: &mut sqlx::Transaction<'static, sqlx::Any>, e: &AuditEvent) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, at, registry, action, package, version, principal, outcome, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(e.at)
    .bind(&e.registry)
    .bind(&e.action)
    .bind(&e.package)
    .bind(&e.version)
    .bind(&e.principal)
    .bind(&e.outcome)
    .bind(&e.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
