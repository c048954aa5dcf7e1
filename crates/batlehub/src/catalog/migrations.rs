//! Schema migrations: one list of portable statements for SQLite and
//! PostgreSQL, applied in order and recorded in `schema_migrations`. On
//! PostgreSQL an advisory lock makes replicas that start together take turns.

use sqlx::Executor;

use super::{Catalog, Dialect, now_ms};

/// `(version, statements)`. Never edit an applied migration: append a new one.
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE packages (
            id TEXT PRIMARY KEY,
            registry TEXT NOT NULL,
            name TEXT NOT NULL,
            display_name TEXT NOT NULL,
            visibility TEXT NOT NULL DEFAULT 'public',
            metadata TEXT NOT NULL DEFAULT '{}',
            created_by TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            UNIQUE (registry, name)
        )",
            "CREATE TABLE versions (
            id TEXT PRIMARY KEY,
            package_id TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
            version TEXT NOT NULL,
            metadata TEXT NOT NULL,
            published_by TEXT,
            published_at BIGINT NOT NULL,
            yanked BIGINT NOT NULL DEFAULT 0,
            yanked_reason TEXT,
            UNIQUE (package_id, version)
        )",
            "CREATE TABLE files (
            id TEXT PRIMARY KEY,
            version_id TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            package_id TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
            filename TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            sha1 TEXT NOT NULL,
            sha512 TEXT NOT NULL,
            md5 TEXT NOT NULL,
            size BIGINT NOT NULL,
            content_type TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at BIGINT NOT NULL,
            UNIQUE (package_id, filename)
        )",
            "CREATE INDEX files_sha256 ON files (sha256)",
            "CREATE INDEX files_version ON files (version_id)",
            "CREATE TABLE package_tags (
            package_id TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            version TEXT NOT NULL,
            PRIMARY KEY (package_id, tag)
        )",
            "CREATE TABLE package_owners (
            package_id TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
            principal_type TEXT NOT NULL,
            principal_id TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (package_id, principal_type, principal_id)
        )",
            "CREATE TABLE namespace_claims (
            registry TEXT NOT NULL,
            prefix TEXT NOT NULL,
            group_id TEXT NOT NULL,
            claimed_by TEXT,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (registry, prefix)
        )",
            "CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,
            groups TEXT NOT NULL DEFAULT '[]',
            provider TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            revoked_at BIGINT,
            last_used_at BIGINT
        )",
            "CREATE INDEX api_tokens_user ON api_tokens (user_id)",
            "CREATE TABLE audit_events (
            id TEXT PRIMARY KEY,
            at BIGINT NOT NULL,
            registry TEXT,
            action TEXT NOT NULL,
            package TEXT,
            version TEXT,
            principal TEXT,
            outcome TEXT NOT NULL,
            detail TEXT
        )",
            "CREATE INDEX audit_events_at ON audit_events (at)",
            "CREATE TABLE cached_artifacts (
            registry TEXT NOT NULL,
            cache_key TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size BIGINT NOT NULL,
            content_type TEXT NOT NULL,
            source_url TEXT NOT NULL,
            fetched_at BIGINT NOT NULL,
            PRIMARY KEY (registry, cache_key)
        )",
            "CREATE INDEX cached_artifacts_sha256 ON cached_artifacts (sha256)",
        ],
    ),
    (
        2,
        &[
            "CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,
            groups TEXT NOT NULL,
            provider TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )",
            "CREATE TABLE oidc_logins (
            state TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            nonce TEXT NOT NULL,
            verifier TEXT NOT NULL,
            return_to TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )",
        ],
    ),
    (
        3,
        &[
            // Names an upstream serves that an admin allowed to be published
            // here (they shadow the upstream's package from then on).
            "CREATE TABLE upstream_name_allowances (
            registry TEXT NOT NULL,
            name TEXT NOT NULL,
            allowed_by TEXT,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (registry, name)
        )",
        ],
    ),
    (
        4,
        &[
            // Versions that were deleted: their numbers are never reused, so
            // name@version always means the same bytes.
            "CREATE TABLE version_tombstones (
            registry TEXT NOT NULL,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            deleted_at BIGINT NOT NULL,
            PRIMARY KEY (registry, name, version)
        )",
        ],
    ),
    (
        5,
        // When a blob was last committed (or first seen by the collector):
        // the garbage collector deletes an unreferenced blob only once its
        // lease is older than the grace period (see `catalog/blobs.rs`).
        &["CREATE TABLE blob_leases (sha256 TEXT PRIMARY KEY, leased_at BIGINT NOT NULL)"],
    ),
    (
        // Lineage: a token or session records the token it was made with
        // (and dies with it), how it was made, and the static identity it
        // was made in the name of (checked at start-up). Sessions of earlier
        // versions carry user ids not scoped by provider and no lineage:
        // they end (browsers sign in again). Older tokens keep `origin`
        // NULL and are sorted out at start-up (`Identity::reconcile`).
        6,
        &[
            "ALTER TABLE api_tokens ADD COLUMN parent_id TEXT",
            "ALTER TABLE api_tokens ADD COLUMN origin TEXT",
            "ALTER TABLE api_tokens ADD COLUMN authority_provider TEXT",
            "ALTER TABLE api_tokens ADD COLUMN authority_user TEXT",
            "ALTER TABLE api_tokens ADD COLUMN authority_role TEXT",
            "CREATE INDEX api_tokens_parent ON api_tokens (parent_id)",
            "DELETE FROM sessions",
            "ALTER TABLE sessions ADD COLUMN parent_id TEXT",
            "ALTER TABLE sessions ADD COLUMN federated BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE sessions ADD COLUMN lineage_expires_at BIGINT",
            "ALTER TABLE sessions ADD COLUMN authority_provider TEXT",
            "ALTER TABLE sessions ADD COLUMN authority_user TEXT",
            "ALTER TABLE sessions ADD COLUMN authority_role TEXT",
            "CREATE INDEX sessions_parent ON sessions (parent_id)",
            "CREATE INDEX sessions_user ON sessions (user_id)",
        ],
    ),
    (
        // A counter per scope (a registry, or `@tokens`), bumped inside every
        // transaction that changes what a reader may see: every process
        // polls them to know when its in-memory views are out of date
        // (see `catalog/changes.rs`).
        7,
        &["CREATE TABLE change_counters (scope TEXT PRIMARY KEY, generation BIGINT NOT NULL)"],
    ),
    (
        // The file feed (see `catalog/feed.rs`): every change to which files
        // a registry serves, in commit order. The files already there are
        // recorded once, in publish order, as write 0.
        8,
        &[
            "CREATE TABLE file_events (
            registry TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ord BIGINT NOT NULL,
            package TEXT NOT NULL,
            filename TEXT NOT NULL,
            served BIGINT NOT NULL,
            at BIGINT NOT NULL,
            PRIMARY KEY (registry, seq, ord)
        )",
            "INSERT INTO file_events (registry, seq, ord, package, filename, served, at)
             SELECT p.registry, 0,
                    ROW_NUMBER() OVER (PARTITION BY p.registry ORDER BY f.created_at, p.name, f.filename),
                    p.name, f.filename, CASE WHEN v.yanked = 0 THEN 1 ELSE 0 END, f.created_at
             FROM files f JOIN versions v ON v.id = f.version_id JOIN packages p ON p.id = f.package_id",
        ],
    ),
    (
        // Where a claim was made: `api` or `ui` (claims made before this
        // were made through the API, the only way then).
        9,
        &["ALTER TABLE namespace_claims ADD COLUMN claimed_via TEXT NOT NULL DEFAULT 'api'"],
    ),
    (
        // When each cached artifact was last served (written in batches),
        // for least-recently-used eviction.
        10,
        &[
            "ALTER TABLE cached_artifacts ADD COLUMN accessed_at BIGINT NOT NULL DEFAULT 0",
            "UPDATE cached_artifacts SET accessed_at = fetched_at",
            "CREATE INDEX cached_artifacts_lru ON cached_artifacts (registry, accessed_at)",
        ],
    ),
    (
        // The package and version a cached artifact belongs to (when its
        // ecosystem says), for keeping only the latest versions cached.
        11,
        &[
            "ALTER TABLE cached_artifacts ADD COLUMN package TEXT",
            "ALTER TABLE cached_artifacts ADD COLUMN version TEXT",
            "CREATE INDEX cached_artifacts_release ON cached_artifacts (registry, package)",
        ],
    ),
];

/// An arbitrary constant naming BatleHub's migration lock.
const PG_LOCK_KEY: i64 = 0x6261_746c_6568_7562;

pub(super) async fn run(catalog: &Catalog) -> anyhow::Result<()> {
    let mut conn = catalog.pool().acquire().await?;
    if catalog.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)").bind(PG_LOCK_KEY).execute(&mut *conn).await?;
    }
    let result = apply(&mut conn, catalog.dialect()).await;
    if catalog.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_LOCK_KEY).execute(&mut *conn).await?;
    }
    result
}

/// Apply what is missing, one migration per transaction. Each transaction
/// checks again, under the write lock, whether its migration is applied:
/// on SQLite `BEGIN IMMEDIATE` takes the database's write lock (processes
/// starting together on one file wait for each other, within the busy
/// timeout); on PostgreSQL the advisory lock already serialises them.
async fn apply(conn: &mut sqlx::AnyConnection, dialect: Dialect) -> anyhow::Result<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let begin = if dialect == Dialect::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
    for (version, statements) in MIGRATIONS {
        conn.execute(begin).await?;
        match apply_one(conn, *version, statements).await {
            Ok(applied) => {
                conn.execute("COMMIT").await?;
                if applied {
                    tracing::info!(version, "applied catalog migration");
                }
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Inside a transaction: apply `version` unless it is there; whether it was applied.
async fn apply_one(conn: &mut sqlx::AnyConnection, version: i64, statements: &[&'static str]) -> anyhow::Result<bool> {
    let done: Option<(i64,)> = sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?;
    if done.is_some() {
        return Ok(false);
    }
    for stmt in statements {
        conn.execute(*stmt).await.map_err(|e| anyhow::anyhow!("migration {version}: {e}"))?;
    }
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
        .bind(version)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
    Ok(true)
}
