//! Browser sessions (stored by the hash of the cookie's secret) and pending
//! OIDC sign-ins (state, nonce, PKCE verifier), shared by every replica.
//!
//! A session made from an API token records it (`parent_id`) and works only
//! while that token and its ancestors do; revoking one of them deletes it.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Catalog, DbResult, now_ms};
use crate::access::{Authority, Lineage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user_id: String,
    pub role: String,
    pub groups: Vec<String>,
    pub provider: String,
    pub expires_at: i64,
    /// What the session descends from (its parent token, the cap of what it
    /// makes, whether it came from a provider's bearer token, the static
    /// identity it stands on).
    pub lineage: Lineage,
}

/// A session to check at start-up: its key and the static identity it
/// stands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuthority {
    pub id_hash: String,
    pub authority: Authority,
}

const SESSION_COLS: &str = "user_id, role, groups, provider, expires_at, parent_id, federated, lineage_expires_at, \
                            authority_provider, authority_user, authority_role";

fn session_from(row: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    let groups: String = row.try_get("groups")?;
    let federated: i64 = row.try_get("federated")?;
    Ok(SessionRow {
        user_id: row.try_get("user_id")?,
        role: row.try_get("role")?,
        groups: serde_json::from_str(&groups).unwrap_or_default(),
        provider: row.try_get("provider")?,
        expires_at: row.try_get("expires_at")?,
        lineage: Lineage {
            token_id: row.try_get("parent_id")?,
            expires_at: row.try_get("lineage_expires_at")?,
            federated: federated != 0,
            authority: super::tokens::authority_from(row)?,
        },
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub provider: String,
    pub nonce: String,
    pub verifier: String,
    pub return_to: String,
    pub created_at: i64,
}

impl Catalog {
    pub async fn insert_session(&self, id_hash: &str, s: &SessionRow) -> DbResult<()> {
        let l = &s.lineage;
        let a = l.authority.as_ref();
        let mut tx = self.begin_write().await?;
        // A session made from a token that was revoked meanwhile is refused
        // here, in the transaction that would store it.
        if let Some(parent) = &l.token_id
            && !super::tokens::chain_active(&mut *tx, parent, now_ms()).await?
        {
            return Err(super::DbError::Denied("the token this sign-in used is no longer valid".into()));
        }
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, role, groups, provider, created_at, expires_at,
                                   parent_id, federated, lineage_expires_at, authority_provider, authority_user, authority_role)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(id_hash)
        .bind(&s.user_id)
        .bind(&s.role)
        .bind(serde_json::to_string(&s.groups).unwrap_or_else(|_| "[]".into()))
        .bind(&s.provider)
        .bind(now_ms())
        .bind(s.expires_at)
        .bind(l.token_id.as_deref())
        .bind(i64::from(l.federated))
        .bind(l.expires_at)
        .bind(a.map(|a| a.provider.as_str()))
        .bind(a.map(|a| a.user_id.as_str()))
        .bind(a.map(|a| a.role.as_str()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A live session: not expired, and, when made from a token, that token
    /// and its ancestors still active.
    pub async fn find_session(&self, id_hash: &str) -> DbResult<Option<SessionRow>> {
        let now = now_ms();
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id_hash = $1 AND expires_at > $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id_hash).bind(now).fetch_optional(self.pool()).await?;
        let Some(session) = row.map(|r| session_from(&r)).transpose()? else { return Ok(None) };
        if let Some(parent) = &session.lineage.token_id
            && !super::tokens::chain_active(self.pool(), parent, now).await?
        {
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Live sessions made in the name of a static identity (checked at start-up).
    pub async fn sessions_with_authority(&self) -> DbResult<Vec<SessionAuthority>> {
        let rows = sqlx::query(
            "SELECT id_hash, authority_provider, authority_user, authority_role FROM sessions
             WHERE authority_provider IS NOT NULL AND expires_at > $1",
        )
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            if let Some(authority) = super::tokens::authority_from(r)? {
                out.push(SessionAuthority { id_hash: r.try_get("id_hash")?, authority });
            }
        }
        Ok(out)
    }

    /// End these sessions; returns how many there were.
    pub async fn delete_sessions(&self, id_hashes: &[String]) -> DbResult<u64> {
        let mut n = 0;
        let mut tx = self.begin_write().await?;
        for h in id_hashes {
            n +=
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(h).execute(&mut *tx).await?.rows_affected();
        }
        let g = super::changes::bump(&mut tx, super::TOKENS_SCOPE).await?;
        tx.commit().await?;
        self.observe(super::TOKENS_SCOPE, g);
        Ok(n)
    }

    pub async fn delete_session(&self, id_hash: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(self.pool()).await?;
        Ok(())
    }

    /// Record a pending sign-in; `false` (nothing written) when `max` are
    /// already pending: anyone may start a sign-in, so their number is
    /// bounded.
    pub async fn insert_login(&self, state: &str, l: &PendingLogin, max: u64) -> DbResult<bool> {
        // Old, abandoned sign-ins are swept here.
        sqlx::query("DELETE FROM oidc_logins WHERE created_at < $1")
            .bind(now_ms() - 15 * 60 * 1000)
            .execute(self.pool())
            .await?;
        let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oidc_logins").fetch_one(self.pool()).await?;
        if pending >= i64::try_from(max).unwrap_or(i64::MAX) {
            return Ok(false);
        }
        sqlx::query("INSERT INTO oidc_logins (state, provider, nonce, verifier, return_to, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(state)
            .bind(&l.provider)
            .bind(&l.nonce)
            .bind(&l.verifier)
            .bind(&l.return_to)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(true)
    }

    /// Take a pending sign-in (it can be used once).
    pub async fn take_login(&self, state: &str) -> DbResult<Option<PendingLogin>> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String, String, String, String, i64)> =
            sqlx::query_as("SELECT provider, nonce, verifier, return_to, created_at FROM oidc_logins WHERE state = $1")
                .bind(state)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM oidc_logins WHERE state = $1").bind(state).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(row.map(|(provider, nonce, verifier, return_to, created_at)| PendingLogin {
            provider,
            nonce,
            verifier,
            return_to,
            created_at,
        }))
    }
}
