//! Capability URLs: a link the server signs for one path of one registry,
//! valid for [`GRANT_SECS`], for clients that fetch what a document points
//! at without sending their credentials (Terraform downloads provider and
//! module archives so). The document itself was served to a caller whose
//! read access was checked; the link carries that decision, for that path
//! only, and for a while only. The key is a server secret kept in the
//! catalog's settings (one for every replica).

use hmac::{KeyInit, Mac};

use super::RequestCtx;
use crate::error::{AppError, AppResult};
use crate::registry::{self, Source};
use crate::serve::Local;

/// How long a signed link works.
pub const GRANT_SECS: i64 = 3600;

const SETTING: &str = "url-grant-secret";

/// The query parameter a signed link carries: `{expiry}.{hex mac}`.
pub const PARAM: &str = "grant";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl RequestCtx {
    async fn grant_secret(&self) -> AppResult<Vec<u8>> {
        let catalog = &self.app.catalog;
        if let Some(s) = catalog.get_setting(SETTING).await? {
            return hex::decode(s).map_err(|e| AppError::internal(format!("the URL grant secret: {e}")));
        }
        let fresh: [u8; 32] = rand::random();
        catalog.insert_setting_once(SETTING, &hex::encode(fresh)).await?;
        // Another replica may have won the race: read what was kept.
        let kept = catalog.get_setting(SETTING).await?.ok_or_else(|| AppError::internal("the URL grant secret"))?;
        hex::decode(kept).map_err(|e| AppError::internal(format!("the URL grant secret: {e}")))
    }

    fn mac(&self, secret: &[u8], path: &str, expiry: i64) -> AppResult<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(secret).map_err(|e| AppError::internal(e.to_string()))?;
        mac.update(format!("{}\n{path}\n{expiry}", self.registry.name).as_bytes());
        Ok(mac)
    }

    /// `{registry base}{path}?grant=...`: a link to `path` (after
    /// `/proxy/{registry}`, with its leading `/`) that works without
    /// credentials for [`GRANT_SECS`].
    pub async fn granted_url(&self, path: &str) -> AppResult<String> {
        let expiry = crate::catalog::now_ms() / 1000 + GRANT_SECS;
        let secret = self.grant_secret().await?;
        let tag = hex::encode(self.mac(&secret, path, expiry)?.finalize().into_bytes());
        Ok(format!("{}{path}?{PARAM}={expiry}.{tag}", self.registry_base()))
    }

    /// Whether `query` holds a valid, unexpired grant for `path`.
    pub async fn has_grant(&self, path: &str, query: Option<&str>) -> AppResult<bool> {
        let Some(value) = query.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == PARAM).map(|(_, v)| v.into_owned())
        }) else {
            return Ok(false);
        };
        let Some((expiry, tag)) = value.split_once('.') else { return Ok(false) };
        let (Ok(expiry), Ok(tag)) = (expiry.parse::<i64>(), hex::decode(tag)) else { return Ok(false) };
        if expiry < crate::catalog::now_ms() / 1000 {
            return Err(AppError::Forbidden("this download link has expired: ask for the download again".into()));
        }
        let secret = self.grant_secret().await?;
        Ok(self.mac(&secret, path, expiry)?.verify_slice(&tag).is_ok())
    }

    /// The local package `key` as a granted link reads it: where it is
    /// held, without the caller's checks (the grant stands for them).
    /// Call only after [`Self::has_grant`] said yes for the path asked.
    pub async fn granted_local(&self, key: &str) -> AppResult<Option<Local>> {
        let app = &self.app;
        match registry::resolve_source(&app.catalog, &app.views, &app.registries, &self.registry, key).await? {
            Source::Upstream => Ok(None),
            Source::Local { registry, view, .. } => {
                let package = view.package.clone().ok_or_else(|| AppError::not_found(format!("{key} not found")))?;
                Ok(Some(Local { registry, package, view, hidden: None }))
            }
        }
    }
}
