//! API tokens: stored only as the SHA-256 of the secret.
//!
//! A token made by a caller who authenticated with another API token (or
//! with a browser session made from one) records that token as its
//! `parent_id`: it works only while every ancestor does, and revoking a token
//! revokes its descendants and ends the sessions made from any of them, in
//! one transaction. A token made in the name of a static identity of the
//! configuration records it as its `authority`, checked at every start-up
//! (`Identity::reconcile`).

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Catalog, DbError, DbResult, now_ms};
use crate::access::{Authority, Role};

/// How deep a chain of tokens is followed (tokens made by tokens made by...).
const MAX_DEPTH: i64 = 64;

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
    /// The token this one was made with, if any.
    pub parent_id: Option<String>,
    /// How it was made: `static`, `token`, `federated`, `sign-in`, `admin`,
    /// `cli`, `bootstrap`; `None` for rows older than lineage tracking.
    pub origin: Option<String>,
    /// The static identity it was made in the name of, if any.
    pub authority: Option<Authority>,
}

const TOKEN_COLS: &str = "id, name, user_id, role, groups, provider, created_at, expires_at, revoked_at, last_used_at, \
                          parent_id, origin, authority_provider, authority_user, authority_role";

pub(super) fn authority_from(row: &AnyRow) -> Result<Option<Authority>, sqlx::Error> {
    let provider: Option<String> = row.try_get("authority_provider")?;
    let user: Option<String> = row.try_get("authority_user")?;
    let role: Option<String> = row.try_get("authority_role")?;
    Ok(match (provider, user, role) {
        (Some(provider), Some(user_id), Some(role)) => {
            // An unknown role is treated as the highest: the check then
            // demands the most of the static identity (fails closed).
            Some(Authority { provider, user_id, role: Role::parse(&role).unwrap_or(Role::Admin) })
        }
        _ => None,
    })
}

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
            parent_id: row.try_get("parent_id")?,
            origin: row.try_get("origin")?,
            authority: authority_from(row)?,
        })
    }

    /// Usable now: neither revoked nor expired (its ancestors are checked
    /// by [`Catalog::find_api_token`]).
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
    /// The token the caller authenticated with (or descends from): the new
    /// token is revoked with it.
    pub parent_id: Option<&'a str>,
    /// How it is made (see [`ApiTokenRow::origin`]).
    pub origin: &'a str,
    /// The static identity it is made in the name of.
    pub authority: Option<&'a Authority>,
}

/// Whether the token `id` and every ancestor exist and are neither revoked
/// nor expired at `now`.
pub(super) async fn chain_active<'e, E>(ex: E, id: &str, now: i64) -> DbResult<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let (total, bad, roots): (i64, i64, i64) = sqlx::query_as(
        "WITH RECURSIVE chain (id, parent_id, revoked_at, expires_at, depth) AS (
             SELECT id, parent_id, revoked_at, expires_at, 0 FROM api_tokens WHERE id = $1
             UNION ALL
             SELECT t.id, t.parent_id, t.revoked_at, t.expires_at, c.depth + 1
             FROM api_tokens t JOIN chain c ON t.id = c.parent_id
             WHERE c.depth < $3
         )
         SELECT COUNT(*),
                COUNT(CASE WHEN revoked_at IS NOT NULL OR (expires_at IS NOT NULL AND expires_at <= $2) THEN 1 END),
                COUNT(CASE WHEN parent_id IS NULL THEN 1 END)
         FROM chain",
    )
    .bind(id)
    .bind(now)
    .bind(MAX_DEPTH)
    .fetch_one(ex)
    .await?;
    // A chain that does not end in a root (a missing ancestor, or deeper
    // than MAX_DEPTH) is not trusted.
    Ok(total > 0 && bad == 0 && roots == 1)
}

/// Inside a transaction: revoke every active descendant of `ids` (already
/// revoked themselves) and end every session made from any of them; returns
/// how many descendants were revoked.
async fn revoke_descendants(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ids: Vec<String>,
    now: i64,
) -> DbResult<u64> {
    let mut frontier = ids;
    let mut revoked = 0u64;
    let mut depth = 0;
    while !frontier.is_empty() && depth <= MAX_DEPTH {
        let mut next = Vec::new();
        for id in &frontier {
            let children: Vec<(String,)> =
                sqlx::query_as("SELECT id FROM api_tokens WHERE parent_id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .fetch_all(&mut **tx)
                    .await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE parent_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE parent_id = $1").bind(id).execute(&mut **tx).await?;
            revoked += children.len() as u64;
            next.extend(children.into_iter().map(|(c,)| c));
        }
        frontier = next;
        depth += 1;
    }
    Ok(revoked)
}

/// What revoking a user's credentials did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revoked {
    /// Tokens revoked, their descendants included.
    pub tokens: u64,
    /// Browser sessions ended.
    pub sessions: u64,
}

impl Catalog {
    /// Store a new token. With a parent, the parent's whole chain must still
    /// be active, checked in the same transaction ([`DbError::Denied`]
    /// otherwise).
    pub async fn insert_api_token(&self, t: &NewApiToken<'_>) -> DbResult<ApiTokenRow> {
        let id = super::new_id();
        let now = now_ms();
        let groups = serde_json::to_string(t.groups).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin_write().await?;
        if let Some(parent) = t.parent_id
            && !chain_active(&mut *tx, parent, now).await?
        {
            return Err(DbError::Denied("the token this request was authenticated with is no longer valid".into()));
        }
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, name, user_id, role, groups, provider, created_at, expires_at,
                                     parent_id, origin, authority_provider, authority_user, authority_role)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
        .bind(t.parent_id)
        .bind(t.origin)
        .bind(t.authority.map(|a| a.provider.as_str()))
        .bind(t.authority.map(|a| a.user_id.as_str()))
        .bind(t.authority.map(|a| a.role.as_str()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
            parent_id: t.parent_id.map(str::to_string),
            origin: Some(t.origin.to_string()),
            authority: t.authority.cloned(),
        })
    }

    /// The token with this hash, as stored (revoked and expired ones too).
    pub async fn find_api_token(&self, token_hash: &str) -> DbResult<Option<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(token_hash).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| ApiTokenRow::from_row(&r)).transpose()?)
    }

    /// Whether the token `id` and all its ancestors are usable now.
    pub async fn api_token_chain_active(&self, id: &str) -> DbResult<bool> {
        chain_active(self.pool(), id, now_ms()).await
    }

    pub async fn get_api_token(&self, id: &str) -> DbResult<Option<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| ApiTokenRow::from_row(&r)).transpose()?)
    }

    pub async fn list_api_tokens(&self, user_id: &str) -> DbResult<Vec<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(user_id).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(ApiTokenRow::from_row).collect::<Result<_, _>>()?)
    }

    /// Every user's tokens, newest first, at most `limit`.
    pub async fn list_all_api_tokens(&self, limit: i64) -> DbResult<Vec<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC LIMIT $1");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(limit).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(ApiTokenRow::from_row).collect::<Result<_, _>>()?)
    }

    /// Revoke a token of `user_id` (and its descendants); returns whether
    /// it was revoked.
    pub async fn revoke_api_token(&self, id: &str, user_id: &str) -> DbResult<bool> {
        self.revoke_where(id, Some(user_id)).await
    }

    /// Revoke any user's token (and its descendants): the admin's revoke.
    pub async fn revoke_api_token_by_id(&self, id: &str) -> DbResult<bool> {
        self.revoke_where(id, None).await
    }

    async fn revoke_where(&self, id: &str, user_id: Option<&str>) -> DbResult<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // The ownership check is part of the update itself.
        let res = match user_id {
            Some(user) => {
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .bind(user)
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        let revoked = res.rows_affected() > 0;
        if revoked {
            revoke_descendants(&mut tx, vec![id.to_string()], now).await?;
        }
        let g = super::changes::bump(&mut tx, super::TOKENS_SCOPE).await?;
        tx.commit().await?;
        self.observe(super::TOKENS_SCOPE, g);
        Ok(revoked)
    }

    /// Revoke every token of `user_id` (with their descendants, whoever
    /// holds them) and end every browser session of `user_id`.
    pub async fn revoke_user_tokens(&self, user_id: &str) -> DbResult<Revoked> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let mut out = Revoked { tokens: ids.len() as u64, sessions: 0 };
        out.tokens += revoke_descendants(&mut tx, ids.into_iter().map(|(i,)| i).collect(), now).await?;
        let res = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        out.sessions = res.rows_affected();
        let g = super::changes::bump(&mut tx, super::TOKENS_SCOPE).await?;
        tx.commit().await?;
        self.observe(super::TOKENS_SCOPE, g);
        Ok(out)
    }

    /// Revoke these tokens (and their descendants) in one transaction;
    /// returns how many were revoked.
    pub async fn revoke_api_tokens(&self, ids: &[String]) -> DbResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut revoked = Vec::new();
        for id in ids {
            let res = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if res.rows_affected() > 0 {
                revoked.push(id.clone());
            }
        }
        let mut count = revoked.len() as u64;
        count += revoke_descendants(&mut tx, revoked, now).await?;
        let g = super::changes::bump(&mut tx, super::TOKENS_SCOPE).await?;
        tx.commit().await?;
        self.observe(super::TOKENS_SCOPE, g);
        Ok(count)
    }

    /// Tokens not revoked that were made in the name of a static identity,
    /// or that are older than lineage tracking (`origin` unset).
    pub async fn tokens_to_reconcile(&self) -> DbResult<Vec<ApiTokenRow>> {
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM api_tokens
             WHERE revoked_at IS NULL AND (authority_provider IS NOT NULL OR origin IS NULL)"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(ApiTokenRow::from_row).collect::<Result<_, _>>()?)
    }

    /// Give a token made before lineage tracking its origin and authority.
    pub async fn adopt_legacy_token(&self, id: &str, origin: &str, authority: Option<&Authority>) -> DbResult<()> {
        sqlx::query(
            "UPDATE api_tokens SET origin = $1, authority_provider = $2, authority_user = $3, authority_role = $4
             WHERE id = $5 AND origin IS NULL",
        )
        .bind(origin)
        .bind(authority.map(|a| a.provider.as_str()))
        .bind(authority.map(|a| a.user_id.as_str()))
        .bind(authority.map(|a| a.role.as_str()))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
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
