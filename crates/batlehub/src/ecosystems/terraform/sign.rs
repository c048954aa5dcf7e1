//! The OpenPGP key that signs the `SHA256SUMS` of private providers, as
//! Terraform requires of every provider a registry serves: an Ed25519 key
//! generated on first use and kept in the catalog's settings (one key for
//! every replica, kept across restarts), its public half published in each
//! download's `signing_keys`.

use pgp::composed::{ArmorOptions, DetachedSignature, KeyType, SecretKeyParamsBuilder, SignedSecretKey};
use pgp::composed::Deserializable;
use pgp::crypto::hash::HashAlgorithm;
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password};

use crate::error::{AppError, AppResult};
use crate::serve::RequestCtx;

const SETTING: &str = "terraform-signing-key";

/// The signing key and what clients are told of it.
pub struct SigningKey {
    secret: SignedSecretKey,
}

fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("the provider signing key: {what}: {e}"))
}

fn generate() -> AppResult<String> {
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id("BatleHub provider signing key".into())
        .passphrase(None)
        .build()
        .map_err(|e| internal("parameters", e))?;
    let key = params.generate(rand08::thread_rng()).map_err(|e| internal("generate", e))?;
    key.to_armored_string(ArmorOptions::default()).map_err(|e| internal("armor", e))
}

/// Keys as parsed, by the armored text: a download is answered without
/// parsing the key again (a few entries at most: one per catalog).
static PARSED: std::sync::Mutex<Vec<(String, std::sync::Arc<SigningKey>)>> = std::sync::Mutex::new(Vec::new());

fn parsed(armored: &str) -> AppResult<std::sync::Arc<SigningKey>> {
    if let Ok(known) = PARSED.lock()
        && let Some((_, key)) = known.iter().find(|(a, _)| a == armored)
    {
        return Ok(std::sync::Arc::clone(key));
    }
    let key = std::sync::Arc::new(SigningKey::parse(armored)?);
    if let Ok(mut known) = PARSED.lock() {
        if known.len() >= 8 {
            known.remove(0);
        }
        known.push((armored.to_string(), std::sync::Arc::clone(&key)));
    }
    Ok(key)
}

impl SigningKey {
    /// The registry's key: the one kept in the settings, made the first time.
    pub async fn of(ctx: &RequestCtx) -> AppResult<std::sync::Arc<SigningKey>> {
        let catalog = &ctx.app.catalog;
        let armored = match catalog.get_setting(SETTING).await? {
            Some(k) => k,
            None => {
                let fresh = crate::http::blocking(generate).await?;
                catalog.insert_setting_once(SETTING, &fresh).await?;
                // Another replica may have won the race: use what was kept.
                catalog.get_setting(SETTING).await?.ok_or_else(|| internal("kept", "missing"))?
            }
        };
        parsed(&armored)
    }

    pub fn parse(armored: &str) -> AppResult<SigningKey> {
        let (secret, _) = SignedSecretKey::from_string(armored).map_err(|e| internal("parse", e))?;
        Ok(SigningKey { secret })
    }

    /// The key id as `signing_keys` gives it (16 upper-case hex digits).
    pub fn key_id(&self) -> String {
        hex::encode_upper(self.secret.legacy_key_id())
    }

    /// The public key, ASCII-armored.
    pub fn public_armored(&self) -> AppResult<String> {
        self.secret.to_public_key().to_armored_string(ArmorOptions::default()).map_err(|e| internal("public key", e))
    }

    /// A binary detached signature of `data` (what `SHA256SUMS.sig` is).
    pub fn sign(&self, data: &[u8]) -> AppResult<Vec<u8>> {
        let sig = DetachedSignature::sign_binary_data(
            rand08::thread_rng(),
            &self.secret.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .map_err(|e| internal("sign", e))?;
        sig.to_bytes().map_err(|e| internal("signature", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_what_its_public_key_verifies() {
        let key = SigningKey::parse(&generate().expect("generate")).expect("parse");
        assert_eq!(key.key_id().len(), 16);
        let sig = key.sign(b"abc  terraform-provider-x_1.0.0_linux_amd64.zip\n").expect("sign");
        let (public, _) =
            pgp::composed::SignedPublicKey::from_string(&key.public_armored().expect("public")).expect("parse public");
        let parsed = DetachedSignature::from_bytes(&sig[..]).expect("parse signature");
        parsed.verify(&public.primary_key, &b"abc  terraform-provider-x_1.0.0_linux_amd64.zip\n"[..]).expect("verifies");
        assert!(parsed.verify(&public.primary_key, &b"other"[..]).is_err(), "another text does not verify");
    }
}
