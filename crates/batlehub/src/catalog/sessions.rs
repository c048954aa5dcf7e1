//! Browser sessions (stored by the hash of the cookie's secret) and pending
//! OIDC sign-ins (state, nonce, PKCE verifier), shared by every replica.

use super::{Catalog, DbResult, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user_id: String,
    pub role: String,
    pub groups: Vec<String>,
    pub provider: String,
    pub expires_at: i64,
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
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, role, groups, provider, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id_hash)
        .bind(&s.user_id)
        .bind(&s.role)
        .bind(serde_json::to_string(&s.groups).unwrap_or_else(|_| "[]".into()))
        .bind(&s.provider)
        .bind(now_ms())
        .bind(s.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A live session (expired ones are not returned).
    pub async fn find_session(&self, id_hash: &str) -> DbResult<Option<SessionRow>> {
        let row: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT user_id, role, groups, provider, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(user_id, role, groups, provider, expires_at)| SessionRow {
            user_id,
            role,
            groups: serde_json::from_str(&groups).unwrap_or_default(),
            provider,
            expires_at,
        }))
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
