//! API tokens: stored only as the SHA-256 of the secret.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Catalog, DbResult, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub role: String,
    pub groups: Vec<String>,
    pub provider: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const TOKEN_COLS: &str = "id, name, user_id, role, groups, provider, created_at, expires_at, revoked_at, last_used_at";

impl ApiTokenRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let groups: String = row.try_get("groups")?;
        Ok(ApiTokenRow {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            user_id: row.try_get("user_id")?,
            role: row.try_get("role")?,
            groups: serde_json::from_str(&groups).unwrap_or_default(),
            provider: row.try_get("provider")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            last_used_at: row.try_get("last_used_at")?,
        })
    }

    /// Usable now: neither revoked nor expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub token_hash: &'a str,
    pub name: &'a str,
    pub user_id: &'a str,
    pub role: &'a str,
    pub groups: &'a [String],
    pub provider: &'a str,
    pub expires_at: Option<i64>,
}

impl Catalog {
    pub async fn insert_api_token(&self, t: &NewApiToken<'_>) -> DbResult<ApiTokenRow> {
        let id = super::new_id();
        let now = now_ms();
        let groups = serde_json::to_string(t.groups).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, name, user_id, role, groups, provider, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(t.token_hash)
        .bind(t.name)
        .bind(t.user_id)
        .bind(t.role)
        .bind(&groups)
        .bind(t.provider)
        .bind(now)
        .bind(t.expires_at)
        .execute(self.pool())
        .await?;
        Ok(ApiTokenRow {
            id,
            name: t.name.to_string(),
            user_id: t.user_id.to_string(),
            role: t.role.to_string(),
            groups: t.groups.to_vec(),
            provider: t.provider.to_string(),
            created_at: now,
            expires_at: t.expires_at,
            revoked_at: None,
            last_used_at: None,
        })
    }

    pub async fn find_api_token(&self, token_hash: &str) -> DbResult<Option<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(token_hash).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| ApiTokenRow::from_row(&r)).transpose()?)
    }

    pub async fn list_api_tokens(&self, user_id: &str) -> DbResult<Vec<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(user_id).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(ApiTokenRow::from_row).collect::<Result<_, _>>()?)
    }

    /// Revoke a token of `user_id`; returns whether one was revoked.
    pub async fn revoke_api_token(&self, id: &str, user_id: &str) -> DbResult<bool> {
        let res =
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .bind(user_id)
                .execute(self.pool())
                .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Record last-used times, batched by the caller.
    pub async fn touch_api_tokens(&self, used: &[(String, i64)]) -> DbResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (id, at) in used {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(*at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
